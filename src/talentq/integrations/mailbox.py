"""Reading a manager's mailbox: the Gmail REST API over httpx (history, messages, OAuth refresh).

Knows nothing of jobs. ``MailboxUnavailable`` means "try later" (429, 5xx, network);
``MailboxRejected`` means retrying cannot help (the grant was revoked, the account is gone).
Tests drive it with httpx's ``MockTransport`` serving responses in Gmail's shapes.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import getaddresses
from typing import Any, Final

import httpx

from talentq.domain.mail.text import html_to_text
from talentq.errors import ConfigError, ServiceRefusedError
from talentq.settings import Settings

GMAIL_API: Final = "https://gmail.googleapis.com/gmail/v1/users/me"
TOKEN_URL: Final = "https://oauth2.googleapis.com/token"
#: A first sync (no cursor) looks back this far.
FIRST_SYNC_QUERY: Final = "in:inbox newer_than:7d"
#: Messages fetched per run at most; the cursor stops where the run stopped, so the next
#: run goes on from there (a long backlog never outlives the job's timeout).
MAX_MESSAGES_PER_RUN: Final = 200
#: Stored bodies are cut here: a 1 MB HTML newsletter is not worth a megabyte per row.
MAX_BODY_CHARS: Final = 100_000


class MailboxError(Exception):
    """The mailbox could not be read."""


class MailboxUnavailable(MailboxError):
    """Try later: rate limited, a server error, the network."""


class MailboxRejected(MailboxError, ServiceRefusedError):
    """Retrying cannot help: the refresh token was revoked, the mailbox is gone."""


@dataclass(frozen=True)
class FetchedMessage:
    provider_message_id: str
    thread_id: str | None
    sender: str
    recipients: list[str]
    subject: str
    body: str
    received_at: datetime


@dataclass
class FetchResult:
    messages: list[FetchedMessage] = field(default_factory=list)
    cursor: str | None = None


def missing_settings(client_id: object, client_secret: object) -> list[str]:
    """The GMAIL_* settings still to set (empty when mailboxes can be read)."""
    return [
        name
        for name, value in (("GMAIL_CLIENT_ID", client_id), ("GMAIL_CLIENT_SECRET", client_secret))
        if not value
    ]


class GmailClient:
    """The Gmail API for every connected mailbox: built once per worker with the OAuth client's
    credentials (``GMAIL_CLIENT_ID``, ``GMAIL_CLIENT_SECRET``); each fetch names its mailbox by the
    refresh token stored with its connection."""

    def __init__(self, http: httpx.AsyncClient, settings: Settings) -> None:
        self._http = http
        self._client_id = settings.gmail_client_id
        self._client_secret = settings.gmail_client_secret

    async def fetch_new(
        self, refresh_token: str, cursor: str | None, *, full_sync: bool = False
    ) -> FetchResult:
        """The mailbox's messages added since ``cursor`` (a Gmail historyId), and the cursor to store next.

        ``ConfigError`` naming the settings when Gmail is not configured.
        """
        if not self._client_id or not self._client_secret:
            missing = missing_settings(self._client_id, self._client_secret)
            raise ConfigError(f"Gmail is not configured: set {' and '.join(missing)}")
        mailbox = _Mailbox(self._http, self._client_id, self._client_secret.get_secret_value(), refresh_token)
        return await mailbox.fetch_new(cursor, full_sync=full_sync)


class _Mailbox:
    """One mailbox's reader for one fetch: refreshes its access token from the refresh token as needed."""

    def __init__(
        self, http: httpx.AsyncClient, client_id: str, client_secret: str, refresh_token: str
    ) -> None:
        self._http = http
        self._client_id = client_id
        self._client_secret = client_secret
        self._refresh_token = refresh_token
        self._access_token: str | None = None

    async def fetch_new(self, cursor: str | None, *, full_sync: bool = False) -> FetchResult:
        """Messages added since ``cursor`` (a Gmail historyId), and the cursor to store next."""
        ids: list[str] = []
        if cursor and not full_sync:
            try:
                ids, new_cursor = await self._history_since(cursor)
            except _HistoryExpired:
                cursor = None  # Gmail keeps about a week of history: resync from the window
        if not cursor or full_sync:
            profile = await self._get("/profile")
            new_cursor = str(profile["historyId"])
            ids = await self._recent_ids()
        messages = []
        for message_id in dict.fromkeys(ids):  # de-duplicated, order kept
            raw = await self._get(f"/messages/{message_id}", params={"format": "full"}, missing_ok=True)
            if raw is not None:  # deleted since it was listed
                messages.append(parse_message(raw))
        return FetchResult(messages=messages, cursor=new_cursor)

    async def _history_since(self, cursor: str) -> tuple[list[str], str]:
        ids: list[str] = []
        seen_tokens: set[str] = set()
        # INBOX only: a manager's drafts and sent mail are not offers to them.
        params: dict[str, str] = {
            "startHistoryId": cursor,
            "historyTypes": "messageAdded",
            "labelId": "INBOX",
        }
        while True:
            page = await self._get("/history", params=params, missing_ok=True)
            if page is None:
                raise _HistoryExpired
            for record in page.get("history", []):
                ids += [added["message"]["id"] for added in record.get("messagesAdded", [])]
                if len(ids) >= MAX_MESSAGES_PER_RUN and "id" in record:
                    return ids, str(record["id"])  # the rest next run, from this record on
            token = page.get("nextPageToken")
            if not token or token in seen_tokens:  # a repeated token would loop for ever
                return ids, str(page.get("historyId", cursor))
            seen_tokens.add(token)
            params["pageToken"] = token

    async def _recent_ids(self) -> list[str]:
        ids: list[str] = []
        params: dict[str, str] = {"q": FIRST_SYNC_QUERY, "maxResults": "100"}
        while True:
            page = await self._get("/messages", params=params)
            ids += [m["id"] for m in page.get("messages", [])]
            token = page.get("nextPageToken")
            if not token or len(ids) >= MAX_MESSAGES_PER_RUN or token == params.get("pageToken"):
                # Newest first from Gmail: a first sync keeps the most recent, oldest first.
                return list(reversed(ids[:MAX_MESSAGES_PER_RUN]))
            params["pageToken"] = token

    async def _refresh(self) -> str:
        try:
            response = await self._http.post(
                TOKEN_URL,
                data={
                    "grant_type": "refresh_token",
                    "refresh_token": self._refresh_token,
                    "client_id": self._client_id,
                    "client_secret": self._client_secret,
                },
            )
        except httpx.HTTPError as exc:
            raise MailboxUnavailable(f"token refresh failed: {exc!r}") from exc
        if response.status_code in (400, 401):
            raise MailboxRejected(
                f"the refresh token was refused ({response.text[:200]}): reconnect the mailbox"
            )
        if response.status_code >= 300:
            raise MailboxUnavailable(f"token refresh answered {response.status_code}")
        token: str = response.json()["access_token"]
        self._access_token = token
        return token

    async def _get(self, path: str, *, params: dict[str, str] | None = None, missing_ok: bool = False) -> Any:
        token = self._access_token or await self._refresh()
        for attempt in range(2):
            try:
                response = await self._http.get(
                    GMAIL_API + path, params=params, headers={"Authorization": f"Bearer {token}"}
                )
            except httpx.HTTPError as exc:
                raise MailboxUnavailable(f"Gmail {path}: {exc!r}") from exc
            if response.status_code == 401 and attempt == 0:
                token = await self._refresh()  # the access token expired: once, with a fresh one
                continue
            break
        if response.status_code == 404 and missing_ok:
            return None
        rate_limited = response.status_code == 403 and "ratelimitexceeded" in response.text.lower()
        if response.status_code == 429 or response.status_code >= 500 or rate_limited:
            raise MailboxUnavailable(f"Gmail {path} answered {response.status_code}")
        if response.status_code >= 400:
            raise MailboxRejected(f"Gmail {path} answered {response.status_code}: {response.text[:200]}")
        return response.json()


class _HistoryExpired(Exception):
    pass


def parse_message(raw: dict[str, Any]) -> FetchedMessage:
    """A Gmail ``format=full`` message as talentq stores it: headers, plain-text body, time."""
    payload = raw.get("payload", {})
    headers = {h["name"].lower(): h["value"] for h in payload.get("headers", [])}
    plain, markup = _bodies(payload)
    body = plain if plain.strip() else html_to_text(markup)
    received = datetime.fromtimestamp(int(raw.get("internalDate", "0")) / 1000, UTC)
    return FetchedMessage(
        provider_message_id=str(raw["id"])[:200],
        thread_id=clean(raw.get("threadId") or "")[:200] or None,
        sender=clean(headers.get("from", ""))[:320],
        recipients=[
            clean(address)[:320]
            for _, address in getaddresses([headers.get("to", ""), headers.get("cc", "")])
            if address
        ],
        subject=clean(headers.get("subject", ""))[:1000],
        body=clean(body)[:MAX_BODY_CHARS],
        received_at=received,
    )


def clean(text: str) -> str:
    """Text PostgreSQL accepts: NUL characters (a UTF-16 part read as UTF-8) removed."""
    return text.replace("\x00", "")


def _bodies(part: dict[str, Any]) -> tuple[str, str]:
    """The first text/plain and text/html bodies in a MIME tree."""
    mime = part.get("mimeType", "")
    data = part.get("body", {}).get("data")
    if data and mime.startswith("text/"):
        text = _decode(data, part)
        return (text, "") if mime == "text/plain" else ("", text)
    plain, markup = "", ""
    for child in part.get("parts", []) or []:
        child_plain, child_markup = _bodies(child)
        plain, markup = plain or child_plain, markup or child_markup
    return plain, markup


def _decode(data: str, part: dict[str, Any]) -> str:
    raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    content_type = next(
        (h["value"] for h in part.get("headers", []) if h["name"].lower() == "content-type"), ""
    )
    charset = re.search(r"charset=\"?([\w-]+)", content_type)
    try:
        # errors="replace": a part that lies about its charset still yields readable text.
        return raw.decode(charset.group(1) if charset else "utf-8", errors="replace")
    except LookupError:  # an unknown charset name: keep what decodes
        return raw.decode("utf-8", errors="replace")
