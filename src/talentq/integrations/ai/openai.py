"""The OpenAI-compatible provider: any chat-completions API, asked in JSON mode, answers validated.

``AI_BASE_URL``, ``AI_API_KEY`` and ``AI_MODEL`` name the API. Every capability is asked the
same way: its prompt as the system message, its request as the user message, temperature 0;
the answer must validate as the capability's answer model and pass its ``read`` check. When the
API is down or its answer does not validate, the rules engine answers the questions about mail
instead (``AI_FALLBACK``; ``Capability.falls_back``).
"""

from __future__ import annotations

from typing import Any, Final, TypeVar

import httpx
from loguru import logger
from pydantic import BaseModel, ValidationError

from talentq.errors import ConfigError
from talentq.integrations.ai.capability import Capability
from talentq.integrations.ai.protocol import AIProvider, AIRejected, AIUnavailable
from talentq.settings import Settings

Q = TypeVar("Q")
R = TypeVar("R")
M = TypeVar("M", bound=BaseModel)

#: The longest user message sent: a request past it is cut (a message body can be a megabyte).
REQUEST_CHARS: Final = 20_000


class OpenAICompatibleProvider(AIProvider):
    """Any chat-completions API (``AI_BASE_URL``, ``AI_API_KEY``, ``AI_MODEL``); answers validated."""

    def __init__(self, http: httpx.AsyncClient, settings: Settings) -> None:
        missing = [
            name
            for name, value in (
                ("AI_BASE_URL", settings.ai_base_url),
                ("AI_API_KEY", settings.ai_api_key),
                ("AI_MODEL", settings.ai_model),
            )
            if not value
        ]
        if missing or not settings.ai_base_url or not settings.ai_api_key or not settings.ai_model:
            raise ConfigError(f"AI_PROVIDER=openai needs {', '.join(missing)} to be set")
        self._http = http
        self._url = settings.ai_base_url.rstrip("/") + "/chat/completions"
        self._key = settings.ai_api_key.get_secret_value()
        self._model = settings.ai_model
        self._fallback = settings.ai_fallback

    async def ask(self, capability: Capability[Q, Any, R], question: Q) -> R:
        capability.check(question)  # a question no provider can answer is refused before any request
        try:
            return await self._answer(capability, question)
        except AIUnavailable as exc:
            if not (self._fallback and capability.falls_back):
                raise
            # Refused credentials or requests (AIRejected) are not covered: the rules would hide a
            # configuration a person must fix.
            logger.warning(
                "AI provider failed on {} ({}); the rules engine answered instead (AI_FALLBACK)",
                capability.name,
                exc,
            )
            return capability.noted(
                capability.rules(question), f"rules engine: the AI provider failed ({exc})"
            )

    async def _answer(self, capability: Capability[Q, Any, R], question: Q) -> R:
        answer = await self._ask(capability.prompt, capability.request(question), capability.answer)
        try:
            return capability.read(answer, question)
        except ValueError as exc:
            raise AIUnavailable(f"AI provider's {capability.what(question)} is unusable: {exc}") from exc

    async def _ask(self, system: str, user: str, model: type[M]) -> M:
        request = {
            "model": self._model,
            "temperature": 0,
            "response_format": {"type": "json_object"},
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": user[:REQUEST_CHARS]},
            ],
        }
        try:
            response = await self._http.post(
                self._url, json=request, headers={"Authorization": f"Bearer {self._key}"}
            )
        except httpx.HTTPError as exc:
            raise AIUnavailable(f"AI provider unreachable: {exc!r}") from exc
        if response.status_code in (401, 403):
            raise AIRejected(
                f"AI provider refused the credentials ({response.status_code}): check AI_API_KEY"
            )
        if response.status_code == 429 or response.status_code >= 500:
            raise AIUnavailable(f"AI provider answered {response.status_code}")
        if response.status_code >= 400:
            raise AIRejected(
                f"AI provider refused the request ({response.status_code}): {response.text[:200]}"
            )
        try:
            content = response.json()["choices"][0]["message"]["content"]
            return model.model_validate_json(content)
        except (ValueError, KeyError, IndexError, TypeError, ValidationError) as exc:
            # A model's malformed answer is usually not repeated: transient, so it is asked again.
            raise AIUnavailable(f"AI provider's answer did not validate as {model.__name__}: {exc}") from exc
