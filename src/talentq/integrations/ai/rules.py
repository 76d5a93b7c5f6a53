"""The default AI provider: talentq's own rules (``talentq.domain``), offline, deterministic, explained."""

from __future__ import annotations

from typing import Any, TypeVar

from talentq.integrations.ai.capability import Capability
from talentq.integrations.ai.protocol import AIProvider

Q = TypeVar("Q")
R = TypeVar("R")


class RulesProvider(AIProvider):
    """Answers every capability with its rules: no network, the same answer every time."""

    async def ask(self, capability: Capability[Q, Any, R], question: Q) -> R:
        return capability.rules(question)
