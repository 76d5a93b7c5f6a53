"""gmail-ingest on Gmail-shaped responses (httpx MockTransport), then inbox, triage and extraction.

The Gmail API cannot be reached from here; the mock serves the shapes the real one does:
profile, message list, history, ``format=full`` messages with base64url MIME parts.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from arq.connections import ArqRedis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from talentq.client import Producer
from talentq.cron import run_cron_job
from talentq.db.models import FailedJob
from talentq.db.tables import Deal, InboxMessage, MailConnection
from talentq.dev.sample_agency import seed
from talentq.domain.time import tick_ms
from talentq.processors import deal_extraction, gmail_ingest, inbox, inbox_triage
from talentq.queues import CATALOGUE, RetryPolicy
from talentq.registry import Binding
from talentq.settings import Settings

from ..conftest import MakeWorker, service_settings, shipped_cron

pytestmark = pytest.mark.integration

FAST = RetryPolicy(3, 0.05, 0.2)
GMAIL_SYNC = shipped_cron("gmail-sync")
QUEUES = {
    name: dataclasses.replace(CATALOGUE[name], retry=FAST)
    for name in ("gmail-ingest", "inbox", "inbox-triage", "deal-extraction")
}
BINDINGS: list[Binding] = [
    ("gmail-ingest", gmail_ingest.handle),
    ("inbox", inbox.handle),
    ("inbox-triage", inbox_triage.handle),
    ("deal-extraction", deal_extraction.handle),
]
OFFER = (
    "Hi Maya,\nGlossier would love to work with Priya on our summer launch.\n"
    "We're offering $6,500 for 2 Instagram Reels and 3 IG stories in June.\nBest, Nina Park\nGlossier"
)


def b64(text: str, charset: str = "utf-8") -> str:
    return base64.urlsafe_b64encode(text.encode(charset)).decode().rstrip("=")


def gmail_message(message_id: str, sender: str, subject: str, plain: str | None, html: str | None = None,
                  charset: str = "utf-8") -> dict[str, Any]:  # fmt: skip
    def part(subtype: str, text: str) -> dict[str, Any]:
        content_type = {"name": "Content-Type", "value": f"text/{subtype}; charset={charset}"}
        return {
            "mimeType": f"text/{subtype}",
            "headers": [content_type],
            "body": {"data": b64(text, charset)},
        }

    parts = [part(subtype, text) for subtype, text in (("plain", plain), ("html", html)) if text is not None]
    return {
        "id": message_id,
        "threadId": f"t-{message_id}",
        "internalDate": "1764316800000",
        "payload": {
            "mimeType": "multipart/alternative",
            "headers": [
                {"name": "From", "value": sender},
                {"name": "To", "value": "Maya Okafor <maya.okafor@northstar-talent.test>"},
                {"name": "Subject", "value": subject},
            ],
            "parts": parts,
        },
    }


MESSAGES = {
    "g1": gmail_message("g1", "Nina Park <nina@glossier.com>", "Glossier x Priya - summer launch", OFFER),
    "g2": gmail_message(
        "g2",
        "news@creatorweekly.test",
        "This week in creators",
        None,
        # A newsletter's opening as newsletters write it (the classifier reads the words, not one
        # keyword of the subject: "Top stories" alone reads as Instagram stories), then far more
        # markup than is stored.
        "<html><body><p>View in browser</p><p>Top stories this week</p><p>Brand X signed creator Y for"
        " its autumn line. Read the full issue online.</p>"
        + "<div>padding</div>" * 60_000
        + "<p>Unsubscribe</p></body></html>",
    ),
    "g3": gmail_message(
        "g3",
        "ap@oatly.com",
        "Remittance advice",
        "Payment sent for invoice NS-2026-0003.\nCaf\xe9",
        charset="iso-8859-1",
    ),
}


class FakeGmail:
    """Gmail's API as a MockTransport handler; counts calls and can fail on cue."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.history: list[str] = []  # ids the next history call reports as added
        self.fail_next: list[int] = []  # status codes to answer the next API calls with
        self.token_status = 200

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.calls.append(f"{request.method} {path}")
        if request.url.host == "oauth2.googleapis.com":
            if self.token_status != 200:
                return httpx.Response(self.token_status, json={"error": "invalid_grant"})
            return httpx.Response(200, json={"access_token": "at-1", "expires_in": 3599})
        if self.fail_next:
            return httpx.Response(self.fail_next.pop(0), json={"error": {"code": 0}})
        if path.endswith("/profile"):
            return httpx.Response(200, json={"emailAddress": "maya@x", "historyId": "1000"})
        if path.endswith("/history"):
            added = [{"messagesAdded": [{"message": {"id": i}}]} for i in self.history]
            return httpx.Response(200, json={"history": added, "historyId": "1005"})
        if path.endswith("/messages"):
            return httpx.Response(200, json={"messages": [{"id": "g2"}, {"id": "g1"}]})
        message_id = path.rsplit("/", 1)[-1]
        if message_id in MESSAGES:
            return httpx.Response(200, json=MESSAGES[message_id])
        return httpx.Response(404, json={"error": {"code": 404}})


def gmail_settings() -> Settings:
    return service_settings(gmail_client_id="client-1", gmail_client_secret="secret-1")


async def connect_maya(sessions: async_sessionmaker[AsyncSession]) -> int:
    """The sample agency, with Maya's mailbox connected (a refresh token, active)."""
    await seed(sessions)
    async with sessions.begin() as session:
        connection = (
            (await session.execute(select(MailConnection).order_by(col(MailConnection.id)))).scalars().first()
        )
        assert connection is not None
        connection.refresh_token = "rt-1"
        connection.active = True
        return connection.user_id


def worker_with(make_worker: MakeWorker, gmail: Callable[[httpx.Request], httpx.Response]) -> Any:
    http = httpx.AsyncClient(transport=httpx.MockTransport(gmail))
    return make_worker(BINDINGS, catalogue=QUEUES, settings_=gmail_settings(), ctx={"http": http})


async def test_recorded_mail_becomes_a_draft_deal(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Gmail -> gmail-ingest -> inbox -> inbox-triage + deal-extraction -> a draft deal, end to end."""
    # Given Maya's connected mailbox holding an offer and a 1 MB HTML newsletter
    user_id = await connect_maya(sessions)
    gmail = FakeGmail()

    # When gmail-ingest runs and the worker drains everything it causes
    await redis.enqueue_job("gmail-ingest", {"userId": user_id}, _job_id="sync-1")
    await worker_with(make_worker, gmail).async_run()

    # Then both messages are stored once, the newsletter as bounded text, the cursor stored
    async with sessions() as session:
        stored = {m.provider_message_id: m for m in (await session.execute(select(InboxMessage))).scalars()}
        connection = await session.scalar(
            select(MailConnection).where(col(MailConnection.refresh_token) == "rt-1")
        )
        deal = await session.scalar(select(Deal).where(col(Deal.source_message_id) == stored["g1"].id))
    assert {"g1", "g2"} <= set(stored)
    assert stored["g1"].sender == "Nina Park <nina@glossier.com>"
    assert stored["g2"].body.startswith("View in browser\nTop stories")
    assert len(stored["g2"].body) <= 100_000
    assert stored["g1"].category == "deal_offer"
    assert stored["g2"].category == "other"
    assert connection is not None
    assert connection.sync_cursor == "1000"
    # And the offer is a draft deal with its terms
    assert deal is not None
    assert (deal.stage, deal.fee_minor, deal.currency) == ("draft", 650_000, "USD")
    assert deal.deliverables == [
        {"platform": "instagram_reel", "count": 2},
        {"platform": "instagram_story", "count": 3},
    ]
    async with sessions() as session:
        assert list((await session.execute(select(FailedJob))).scalars()) == []


async def test_next_sync_reads_history_and_stores_only_what_is_new(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """From the stored cursor: history lists g1 again and g3; only g3 is new; a non-UTF-8 part reads."""
    user_id = await connect_maya(sessions)
    gmail = FakeGmail()
    await redis.enqueue_job("gmail-ingest", {"userId": user_id}, _job_id="sync-1")
    await worker_with(make_worker, gmail).async_run()

    gmail.history = ["g1", "g9", "g3"]  # g9 was deleted since: Gmail answers 404, it is skipped
    gmail.fail_next = [401]  # the access token expired: refreshed once, then fine
    await redis.enqueue_job("gmail-ingest", {"userId": user_id}, _job_id="sync-2")
    await worker_with(make_worker, gmail).async_run()

    async with sessions() as session:
        ids = list((await session.execute(select(col(InboxMessage.provider_message_id)))).scalars())
        g3 = await session.scalar(select(InboxMessage).where(col(InboxMessage.provider_message_id) == "g3"))
    assert sorted(i for i in ids if i.startswith("g")) == ["g1", "g2", "g3"]
    assert g3 is not None
    assert "Café" in g3.body
    assert g3.category == "invoice"
    assert "GET /gmail/v1/users/me/history" in gmail.calls
    assert gmail.calls.count("POST /token") == 3  # once per job, and once more after the 401


async def test_messages_stored_but_never_routed_are_routed_on_the_next_run(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """A crash between storing and enqueueing loses nothing: the next run enqueues the leftovers."""
    user_id = await connect_maya(sessions)
    async with sessions() as session:
        leftover = await session.scalar(
            select(col(InboxMessage.id)).where(col(InboxMessage.provider_message_id) == "sample-0001")
        )
    gmail = FakeGmail()

    await redis.enqueue_job("gmail-ingest", {"userId": user_id}, _job_id="sync-1")
    await worker_with(make_worker, gmail).async_run()

    async with sessions() as session:
        message = await session.get(InboxMessage, leftover)
    assert message is not None
    assert message.routed_at is not None
    assert message.category == "deal_offer"


async def test_rate_limits_retry_and_revoked_grants_are_permanent(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """429 is transient (retried, then fine); a refused refresh token dead-letters naming the connection."""
    user_id = await connect_maya(sessions)
    gmail = FakeGmail()
    gmail.fail_next = [429]
    await redis.enqueue_job("gmail-ingest", {"userId": user_id}, _job_id="limited")
    await worker_with(make_worker, gmail).async_run()
    async with sessions() as session:
        assert list((await session.execute(select(FailedJob))).scalars()) == []

    gmail.token_status = 400
    await redis.enqueue_job("gmail-ingest", {"userId": user_id}, _job_id="revoked")
    await redis.enqueue_job("gmail-ingest", {"userId": 999_999}, _job_id="nobody")
    await worker_with(make_worker, gmail).async_run()
    async with sessions() as session:
        letters = {f.job_id: f for f in (await session.execute(select(FailedJob))).scalars()}
    assert letters["revoked"].tries == 1
    assert "the refresh token was refused" in letters["revoked"].message
    assert letters["nobody"].message == "user 999999 has no active Gmail connection"


async def test_gmail_sync_fans_out_to_mailboxes_due_a_sync(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession], cron_now: datetime
) -> None:
    """gmail-sync enqueues one gmail-ingest per active mailbox not synced in 10 minutes, once per tick."""
    # Given three mailboxes at the tick: active and stale, active and just synced, inactive
    await seed(sessions, now=cron_now)
    async with sessions.begin() as session:
        connections = list(
            (await session.execute(select(MailConnection).order_by(col(MailConnection.id)))).scalars()
        )
        connections[0].active, connections[0].last_synced_at = True, None
        connections[1].active, connections[1].last_synced_at = True, cron_now - timedelta(minutes=9)
        stale_user = connections[0].user_id
    ctx: Any = {
        "job_id": f"gmail-sync:{tick_ms(cron_now)}",
        "sessions": sessions,
        "redis": redis,
        "producer": Producer(redis, catalogue=QUEUES),
    }

    # When the tick runs twice
    first = await run_cron_job(GMAIL_SYNC)(ctx)
    await run_cron_job(GMAIL_SYNC)(ctx)

    # Then one job, for the stale mailbox's user, is queued
    assert first["count"] == 1
    assert first["users"] == [stale_user]
    (job,) = await redis.queued_jobs()
    assert (job.function, list(job.args)) == ("gmail-ingest", [{"userId": stale_user}])
