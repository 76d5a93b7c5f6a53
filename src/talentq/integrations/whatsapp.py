"""Reading WhatsApp messages from the messaging provider's REST API, over httpx.

The provider (``WHATSAPP_API_URL``, bearer ``WHATSAPP_API_TOKEN``) serves, per connected
number, ``GET /numbers/{number}/messages?after={cursor}`` answering
``{"messages": [{"id", "from", "to", "text", "timestamp", "direction"}], "cursor": "...",
"next": "..."?}``; ``next`` pages through a long backlog. Knows nothing of jobs:
``WhatsAppUnavailable`` is "try later" (429, 5xx, network), ``WhatsAppRejected`` is not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from talentq.errors import ConfigError, ServiceRefusedError
from talentq.settings import Settings


class WhatsAppError(Exception):
    """Messages could not be read."""


class WhatsAppUnavailable(WhatsAppError):
    """Try later: rate limited, a server error, the network."""


class WhatsAppRejected(WhatsAppError, ServiceRefusedError):
    """Retrying cannot help: the token or the number was refused."""


@dataclass(frozen=True)
class WhatsAppItem:
    provider_message_id: str
    phone_from: str
    phone_to: str
    direction: str
    body: str
    received_at: datetime


def missing_settings(settings: Settings) -> list[str]:
    """The WHATSAPP_* settings still to set (empty when the client can run)."""
    return [
        name
        for name, value in (
            ("WHATSAPP_API_URL", settings.whatsapp_api_url),
            ("WHATSAPP_API_TOKEN", settings.whatsapp_api_token),
        )
        if not value
    ]


class WhatsAppClient:
    def __init__(self, http: httpx.AsyncClient, settings: Settings) -> None:
        if not settings.whatsapp_api_url or not settings.whatsapp_api_token:
            raise ConfigError(f"WhatsApp is not configured: set {' and '.join(missing_settings(settings))}")
        self._http = http
        self._base = settings.whatsapp_api_url.rstrip("/")
        self._token = settings.whatsapp_api_token.get_secret_value()

    async def messages_since(self, number: str, cursor: str | None) -> tuple[list[WhatsAppItem], str | None]:
        """Every message of ``number`` after ``cursor``, oldest first, and the cursor to store next."""
        items: list[WhatsAppItem] = []
        params = {"after": cursor} if cursor else {}
        url = f"{self._base}/numbers/{quote(number)}/messages"
        while True:
            page = await self._get(url, params)
            items += [_item(raw) for raw in page.get("messages", [])]
            cursor = page.get("cursor", cursor)
            if not page.get("next"):
                return items, cursor
            params = {"after": str(page["next"])}

    async def _get(self, url: str, params: dict[str, str]) -> Any:
        try:
            response = await self._http.get(
                url, params=params, headers={"Authorization": f"Bearer {self._token}"}
            )
        except httpx.HTTPError as exc:
            raise WhatsAppUnavailable(f"WhatsApp provider unreachable: {exc!r}") from exc
        if response.status_code == 429 or response.status_code >= 500:
            raise WhatsAppUnavailable(f"WhatsApp provider answered {response.status_code}")
        if response.status_code >= 400:
            raise WhatsAppRejected(
                f"WhatsApp provider refused {url} ({response.status_code}): {response.text[:200]}"
            )
        return response.json()


def _item(raw: dict[str, Any]) -> WhatsAppItem:
    return WhatsAppItem(
        provider_message_id=str(raw["id"])[:200],
        phone_from=str(raw["from"])[:32],
        phone_to=str(raw["to"])[:32],
        direction=str(raw.get("direction", "inbound"))[:10],
        body=str(raw.get("text", "")).replace("\x00", "")[:20_000],
        received_at=datetime.fromtimestamp(int(raw["timestamp"]), UTC),
    )
