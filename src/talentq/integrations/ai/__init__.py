"""The AI provider processors ask: the interface, the rules engine, and an OpenAI-compatible API.

``protocol`` is what processors call and how a provider fails; ``capability`` and ``prompts/``
define each question once (its rules in ``talentq.domain``, its prompt and answer model);
``rules`` and ``openai`` are the two providers; ``make_ai_provider`` picks one as ``AI_PROVIDER``
says.
"""

from __future__ import annotations

import httpx

from talentq.integrations.ai.openai import OpenAICompatibleProvider
from talentq.integrations.ai.protocol import AIProvider
from talentq.integrations.ai.rules import RulesProvider
from talentq.settings import Settings


def make_ai_provider(settings: Settings, http: httpx.AsyncClient) -> AIProvider:
    """The provider ``AI_PROVIDER`` names: ``rules`` (default) or ``openai``."""
    if settings.ai_provider == "openai":
        return OpenAICompatibleProvider(http, settings)
    return RulesProvider()
