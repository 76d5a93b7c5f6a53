"""email-send against a real SMTP server on loopback (aiosmtpd): sent once, retried on 4xx, refused on 5xx."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import threading
from collections.abc import Iterator
from email import message_from_bytes
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from arq.connections import ArqRedis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from talentq.db.models import FailedJob
from talentq.db.tables import OutboundEmail
from talentq.processors import email_send
from talentq.queues import CATALOGUE, RetryPolicy
from talentq.settings import Settings

from ..conftest import MakeWorker, clients, service_settings
from ..test_jobs import result_of

pytestmark = pytest.mark.integration

FAST = {
    "email-send": dataclasses.replace(CATALOGUE["email-send"], retry=RetryPolicy(3, 0.05, 0.2), timeout=10)
}
MAIL = {"to": "Rachel Kim <rachel@hellofresh.test>", "subject": "Ava x HelloFresh", "body": "Terms attached."}


class Recorder:
    """An SMTP handler that keeps what it accepts and can answer the first N messages with a code."""

    def __init__(self, *, refuse_first: int = 0, refusal: str = "451 4.3.0 try again later") -> None:
        self.received: list[Any] = []
        self.refuse_first = refuse_first
        self.refusal = refusal
        self.attempts = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.attempts += 1
        if self.attempts <= self.refuse_first:
            return self.refusal
        self.received.append(message_from_bytes(envelope.original_content or b""))
        return "250 2.0.0 OK queued"


@pytest.fixture
def smtp() -> Iterator[tuple[Recorder, int]]:
    recorder = Recorder()
    with socket.socket() as probe:  # a free port (aiosmtpd's start() checks its port answers)
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield recorder, port
    finally:
        controller.stop()


def smtp_settings(port: int, **extra: Any) -> Settings:
    return service_settings(
        mail_transport="smtp",
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_security="none",
        mail_from="Northstar Talent <agency@northstar-talent.test>",
        **extra,
    )


async def outbox(sessions: async_sessionmaker[AsyncSession]) -> list[OutboundEmail]:
    async with sessions() as session:
        return list((await session.execute(select(OutboundEmail))).scalars())


async def dead(sessions: async_sessionmaker[AsyncSession]) -> list[FailedJob]:
    async with sessions() as session:
        return list((await session.execute(select(FailedJob))).scalars())


async def run(make_worker: MakeWorker, settings: Settings) -> None:
    await make_worker([("email-send", email_send.handle)], catalogue=FAST, settings_=settings).async_run()


async def test_mail_is_sent_once_and_recorded(
    make_worker: MakeWorker,
    redis: ArqRedis,
    sessions: async_sessionmaker[AsyncSession],
    smtp: tuple[Recorder, int],
) -> None:
    """The server receives the message; the outbox row says sent, with the Message-ID."""
    recorder, port = smtp
    await redis.enqueue_job("email-send", MAIL, _job_id="mail-1")

    await run(make_worker, smtp_settings(port))

    (message,) = recorder.received
    assert message["Subject"] == "Ava x HelloFresh"
    assert message["To"] == "Rachel Kim <rachel@hellofresh.test>"
    assert message["Message-ID"] == "<mail-1@northstar-talent.test>"
    (row,) = await outbox(sessions)
    assert (row.job_id, row.status, row.provider_id) == ("mail-1", "sent", "<mail-1@northstar-talent.test>")
    assert row.sent_at is not None
    assert (await result_of(redis, "mail-1")).result["status"] == "sent"


async def test_a_4xx_is_retried_and_then_delivered(
    make_worker: MakeWorker,
    redis: ArqRedis,
    sessions: async_sessionmaker[AsyncSession],
    smtp: tuple[Recorder, int],
) -> None:
    """451 twice, then accepted: retried with backoff, delivered once, one outbox row."""
    recorder, port = smtp
    recorder.refuse_first = 2
    await redis.enqueue_job("email-send", MAIL, _job_id="mail-2")

    await run(make_worker, smtp_settings(port))

    assert recorder.attempts == 3
    assert len(recorder.received) == 1
    (row,) = await outbox(sessions)
    assert (row.status, row.error) == ("sent", None)
    assert await dead(sessions) == []


async def test_a_5xx_is_permanent(
    make_worker: MakeWorker,
    redis: ArqRedis,
    sessions: async_sessionmaker[AsyncSession],
    smtp: tuple[Recorder, int],
) -> None:
    """550: one try, the outbox row failed with the reason, a dead letter naming the recipient."""
    recorder, port = smtp
    recorder.refuse_first, recorder.refusal = 99, "550 5.1.1 mailbox unavailable"
    await redis.enqueue_job("email-send", MAIL, _job_id="mail-3")

    await run(make_worker, smtp_settings(port))

    assert recorder.attempts == 1
    (row,) = await outbox(sessions)
    assert row.status == "failed"
    assert "550" in (row.error or "")
    (letter,) = await dead(sessions)
    assert (letter.reason, letter.error_type) == ("permanent", "PermanentJobError")
    assert "rachel@hellofresh.test" in letter.message


async def test_a_malformed_address_never_reaches_the_server(
    make_worker: MakeWorker,
    redis: ArqRedis,
    sessions: async_sessionmaker[AsyncSession],
    smtp: tuple[Recorder, int],
) -> None:
    """A malformed recipient (from a raw producer: the client refuses it) fails the payload check for good."""
    recorder, port = smtp
    await redis.enqueue_job("email-send", {**MAIL, "to": "rachel at hellofresh"}, _job_id="mail-4")

    await run(make_worker, smtp_settings(port))

    assert recorder.attempts == 0
    (letter,) = await dead(sessions)
    assert letter.error_type == "InvalidPayloadError"
    assert "to: Value error, address 'rachel at hellofresh' is malformed" in letter.message


async def test_no_transport_configured_names_the_settings(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Without MAIL_TRANSPORT the job fails permanently, saying which settings to set."""
    await redis.enqueue_job("email-send", MAIL, _job_id="mail-5")

    await run(make_worker, service_settings())

    (letter,) = await dead(sessions)
    assert letter.message.startswith("no mail transport configured: set MAIL_TRANSPORT=smtp with SMTP_HOST")
    assert await outbox(sessions) == []


async def test_the_log_transport_records_and_sends_nothing(
    make_worker: MakeWorker,
    redis: ArqRedis,
    sessions: async_sessionmaker[AsyncSession],
    smtp: tuple[Recorder, int],
    records: list[dict[str, Any]],
) -> None:
    """MAIL_TRANSPORT=log (talentq dev): the outbox says sent, the log has it, no server is used."""
    recorder, _ = smtp
    await redis.enqueue_job("email-send", MAIL, _job_id="mail-6")

    await run(make_worker, service_settings(mail_transport="log"))

    assert recorder.attempts == 0
    (row,) = await outbox(sessions)
    assert row.status == "sent"
    assert (row.provider_id or "").startswith("log:")
    assert any("mail not sent (MAIL_TRANSPORT=log)" in r["message"] for r in records)


async def test_a_retry_after_sending_does_not_send_again(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession], smtp: tuple[Recorder, int]
) -> None:
    """The same job run twice (a retry after a crash past the send) sends once."""
    recorder, port = smtp
    ctx: Any = {
        "job_id": "mail-7",
        "job_try": 1,
        "redis": redis,
        "sessions": sessions,
        "settings": smtp_settings(port),
        **clients(smtp_settings(port)),
    }
    payload = CATALOGUE["email-send"].validate(MAIL)

    first = await email_send.handle(ctx, payload)
    second = await email_send.handle(ctx, payload)

    assert first["status"] == "sent"
    assert second == {
        "status": "already_sent",
        "outboxId": first["outboxId"],
        "providerId": first["providerId"],
    }
    assert len(recorder.received) == 1


async def test_a_handoff_cut_short_by_a_lost_worker_is_never_sent_twice(
    make_worker: MakeWorker,
    redis: ArqRedis,
    sessions: async_sessionmaker[AsyncSession],
    smtp: tuple[Recorder, int],
) -> None:
    """A row left 'sending' (its worker died mid-handoff): uncertain, dead-lettered saying so, not resent."""
    recorder, port = smtp
    # Given the outbox row of a job whose worker was killed while handing its email to the server
    async with sessions.begin() as session:
        session.add(
            OutboundEmail(
                job_id="mail-9",
                to_address=MAIL["to"],
                subject=MAIL["subject"],
                body=MAIL["body"],
                status="sending",
            )
        )
    # When the job runs again (a new worker took it over)
    await redis.enqueue_job("email-send", MAIL, _job_id="mail-9")
    await run(make_worker, smtp_settings(port))

    # Then nothing reaches the server, the row says it may have gone out, and a person is told
    assert recorder.attempts == 0
    (row,) = await outbox(sessions)
    assert row.status == "uncertain"
    (letter,) = await dead(sessions)
    assert letter.reason == "permanent"
    assert "was being handed to the mail server when the worker running it stopped" in letter.message
    assert "replay this dead letter to send it" in letter.message


async def test_the_row_says_sending_only_during_the_handoff(
    make_worker: MakeWorker,
    redis: ArqRedis,
    sessions: async_sessionmaker[AsyncSession],
    smtp: tuple[Recorder, int],
) -> None:
    """While the server holds the message the row is 'sending'; after, 'sent'."""
    recorder, port = smtp
    entered, release = threading.Event(), threading.Event()

    async def hold(server: SMTP, session: Session, envelope: Envelope) -> str:
        # aiosmtpd's own thread and loop: wait there until the test has looked at the row
        entered.set()
        await asyncio.get_running_loop().run_in_executor(None, release.wait, 10)
        return "250 2.0.0 OK queued"

    recorder.handle_DATA = hold  # type: ignore[method-assign]
    await redis.enqueue_job("email-send", MAIL, _job_id="mail-10")
    worker = asyncio.create_task(run(make_worker, smtp_settings(port)))
    for _ in range(500):
        if entered.is_set():
            break
        await asyncio.sleep(0.01)
    during = [row.status for row in await outbox(sessions)]
    release.set()
    await worker
    assert during == ["sending"]
    assert [row.status for row in await outbox(sessions)] == ["sent"]
