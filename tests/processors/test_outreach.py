"""outreach -> email-send over SMTP, ai-outreach drafts and brand-crm records, on the sample agency.

Real worker, Redis, PostgreSQL and an SMTP server on loopback (aiosmtpd).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from arq.connections import ArqRedis
from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from talentq import approvals
from talentq.client import Producer
from talentq.cron import run_cron_job
from talentq.db.models import FailedJob, pk, utcnow
from talentq.db.tables import (
    Approval,
    Brand,
    BrandCrmRecord,
    Deal,
    InboxMessage,
    OutboundEmail,
    OutreachAction,
    Talent,
    User,
)
from talentq.dev.sample_agency import seed
from talentq.errors import PermanentJobError
from talentq.integrations.ai.rules import RulesProvider
from talentq.jobs import JobContext
from talentq.processors import ai_outreach, brand_crm, email_send, outreach
from talentq.queues import CATALOGUE, ActionRef, QueueSpec, RetryPolicy, TalentRef
from talentq.registry import Binding
from talentq.settings import Settings

from ..conftest import MakeWorker, clients, service_settings, shipped_cron
from ..test_jobs import result_of
from .test_email_send import Recorder, smtp, smtp_settings  # noqa: F401  (smtp: a fixture)

pytestmark = pytest.mark.integration

FAST: dict[str, QueueSpec[Any]] = {
    name: dataclasses.replace(CATALOGUE[name], retry=RetryPolicy(3, 0.05, 0.2), timeout=20)
    for name in ("outreach", "email-send", "ai-outreach", "brand-crm")
}
BINDINGS: list[Binding] = [
    ("outreach", outreach.handle),
    ("email-send", email_send.handle),
    ("ai-outreach", ai_outreach.handle),
    ("brand-crm", brand_crm.handle),
]


async def run(make_worker: MakeWorker, settings: Settings, bindings: list[Binding] = BINDINGS) -> None:
    catalogue = {name: FAST[name] for name, _ in bindings}
    await make_worker(bindings, catalogue=catalogue, settings_=settings).async_run()


async def talent_id(sessions: async_sessionmaker[AsyncSession], handle: str) -> int:
    async with sessions() as session:
        found = await session.scalar(select(col(Talent.id)).where(col(Talent.handle) == handle))
    assert found is not None
    return int(found)


async def brand_id(sessions: async_sessionmaker[AsyncSession], name: str) -> int:
    async with sessions() as session:
        found = await session.scalar(select(col(Brand.id)).where(col(Brand.name) == name))
    assert found is not None
    return int(found)


async def user_id(sessions: async_sessionmaker[AsyncSession], email: str) -> int:
    async with sessions() as session:
        found = await session.scalar(select(col(User.id)).where(col(User.email) == email))
    assert found is not None
    return int(found)


async def all_rows(sessions: async_sessionmaker[AsyncSession], model: Any) -> list[Any]:
    async with sessions() as session:
        return list((await session.execute(select(model).order_by(model.id))).scalars())


async def action(sessions: async_sessionmaker[AsyncSession], handle: str, brand: str) -> OutreachAction:
    async with sessions() as session:
        return (
            await session.execute(
                select(OutreachAction)
                .join(Talent, col(Talent.id) == col(OutreachAction.talent_id))
                .join(Brand, col(Brand.id) == col(OutreachAction.brand_id))
                .where(col(Talent.handle) == handle, col(Brand.name) == brand)
            )
        ).scalar_one()


async def dead_messages(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
    return sorted(letter.message for letter in await all_rows(sessions, FailedJob))


def direct_ctx(
    sessions: async_sessionmaker[AsyncSession],
    redis: ArqRedis,
    settings: Settings,
    job_id: str,
    http: httpx.AsyncClient | None = None,
) -> Any:
    """A processor's ctx without a worker, for running two jobs at the same moment."""
    return {
        "job_id": job_id,
        "job_try": 1,
        "redis": redis,
        "sessions": sessions,
        "settings": settings,
        "producer": Producer(redis, catalogue=FAST),
        "http": http or httpx.AsyncClient(),
        **clients(settings, http or httpx.AsyncClient()),
    }


# --- outreach -----------------------------------------------------------------------------------


async def test_a_due_pitch_waits_for_its_approver_then_goes_once(
    make_worker: MakeWorker,
    redis: ArqRedis,
    sessions: async_sessionmaker[AsyncSession],
    smtp: tuple[Recorder, int],  # noqa: F811  (the fixture imported above)
) -> None:
    """Isabel's pitch to Gymshark waits for Sofia; approved, it reaches Gymshark once; the action is sent."""
    # Given the sample agency's pending action (no to_address: the brand's contact_email is used)
    recorder, port = smtp
    await seed(sessions)
    pending = await action(sessions, "isamoves", "Gymshark")
    assert (pending.status, pending.to_address, pending.approval_id) == ("pending", None, None)

    # When outreach runs for it, and then once more as a second job (a duplicate enqueue)
    await redis.enqueue_job("outreach", {"actionId": pending.id}, _job_id="outreach-1")
    await run(make_worker, smtp_settings(port))
    await redis.enqueue_job("outreach", {"actionId": pending.id}, _job_id="outreach-2")
    await run(make_worker, smtp_settings(port))

    # Then nothing reached the brand: one approval waits for Isabel's manager, Sofia, with the email
    assert recorder.received == []
    waiting = await action(sessions, "isamoves", "Gymshark")
    (asked,) = [a for a in await all_rows(sessions, Approval) if a.source_key == f"outreach:{pending.id}"]
    assert (waiting.status, waiting.approval_id, waiting.to_address) == (
        "pending",
        asked.id,
        "partnerships@gymshark.com",
    )
    sofia = await user_id(sessions, "sofia.lindqvist@northstar-talent.test")
    assert (asked.kind, asked.status, asked.requested_by_id) == ("outreach_pitch", "pending", sofia)
    assert asked.payload["email"] == {
        "to": "partnerships@gymshark.com",
        "subject": "Isabel Duarte x Gymshark",
        "body": pending.message,
        "replyTo": "sofia.lindqvist@northstar-talent.test",
    }
    assert (await result_of(redis, "outreach-1")).result["status"] == "awaiting_approval"
    assert (await result_of(redis, "outreach-2")).result["status"] == "awaiting_approval"

    # When Sofia approves it (twice: a double click), Then the brand gets one mail, replies to Sofia
    producer = Producer(redis, catalogue=FAST)
    first = await approvals.approve(sessions, producer, asked.id, by=sofia)
    second = await approvals.approve(sessions, producer, asked.id, by=sofia)
    await run(make_worker, smtp_settings(port))
    assert (first.already, second.already, second.email_job_id) == (False, True, first.email_job_id)
    (mail,) = recorder.received
    assert mail["To"] == "partnerships@gymshark.com"
    assert mail["Subject"] == "Isabel Duarte x Gymshark"
    assert mail["Reply-To"] == "sofia.lindqvist@northstar-talent.test"
    assert "Isabel's dance-fitness audience" in mail.get_payload()
    # And the action is sent; the outbox row is keyed by the approval
    sent = await action(sessions, "isamoves", "Gymshark")
    assert (sent.status, sent.to_address) == ("sent", "partnerships@gymshark.com")
    assert sent.sent_at is not None
    (row,) = await all_rows(sessions, OutboundEmail)
    assert (row.job_id, row.status) == (f"email-send:approval:{asked.id}", "sent")
    assert await dead_messages(sessions) == []


async def test_a_retry_after_the_commit_finds_the_approval_and_asks_no_second(
    make_worker: MakeWorker,
    redis: ArqRedis,
    sessions: async_sessionmaker[AsyncSession],
    smtp: tuple[Recorder, int],  # noqa: F811
) -> None:
    """The worker dies after asking for the approval: the retry finds it and completes; nothing is sent."""
    recorder, port = smtp
    await seed(sessions)
    pending = await action(sessions, "isamoves", "Gymshark")

    async def lost_after_commit(ctx: JobContext, payload: ActionRef) -> dict[str, Any]:
        result = await outreach.handle(ctx, payload)
        if ctx["job_try"] == 1:
            raise ConnectionError("connection lost after the commit")
        return result

    bindings: list[Binding] = [("outreach", lost_after_commit), ("email-send", email_send.handle)]
    await redis.enqueue_job("outreach", {"actionId": pending.id}, _job_id="outreach-crash")
    await run(make_worker, smtp_settings(port), bindings)

    info = await result_of(redis, "outreach-crash")
    asked = [a for a in await all_rows(sessions, Approval) if a.source_key == f"outreach:{pending.id}"]
    assert len(asked) == 1
    assert (info.success, info.job_try) == (True, 2)
    assert info.result == {"status": "awaiting_approval", "actionId": pending.id, "approvalId": asked[0].id}
    assert recorder.received == []
    assert await dead_messages(sessions) == []


async def test_two_jobs_for_one_action_at_once_ask_one_approval(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Two outreach jobs race on one action: the row lock lets one ask; the other finds the approval."""
    await seed(sessions)
    pending = await action(sessions, "isamoves", "Gymshark")
    payload = CATALOGUE["outreach"].validate({"actionId": pending.id})
    settings = service_settings()

    results = await asyncio.gather(
        outreach.handle(direct_ctx(sessions, redis, settings, "a"), payload),
        outreach.handle(direct_ctx(sessions, redis, settings, "b"), payload),
    )

    assert [r["status"] for r in results] == ["awaiting_approval", "awaiting_approval"]
    asked = [a for a in await all_rows(sessions, Approval) if a.source_key == f"outreach:{pending.id}"]
    assert len(asked) == 1
    assert {r["approvalId"] for r in results} == {asked[0].id}
    assert await redis.zcard("arq:queue") == 0  # no email-send job


async def test_actions_that_cannot_be_sent_fail_permanently_naming_why(
    make_worker: MakeWorker,
    redis: ArqRedis,
    sessions: async_sessionmaker[AsyncSession],
    smtp: tuple[Recorder, int],  # noqa: F811
) -> None:
    """Unknown id, a sent action, no address, a bad address, a blank subject: dead letters, no mail."""
    recorder, port = smtp
    await seed(sessions)
    already = await action(sessions, "noahcodes", "Notion")
    marcus = await talent_id(sessions, "marcusbuilds")
    ikea, rapha = await brand_id(sessions, "IKEA"), await brand_id(sessions, "Rapha")
    async with sessions.begin() as session:
        nowhere = Brand(name="Quiet Co", domain="quiet.test", category="home")
        session.add(nowhere)
        await session.flush()
        unsendable = {
            "orphan": OutreachAction(talent_id=marcus, brand_id=pk(nowhere), subject="Hi", message="Hello"),
            "bad address": OutreachAction(
                talent_id=marcus, brand_id=ikea, to_address="ikea at home", subject="Hi", message="Hello"
            ),
            "blank subject": OutreachAction(talent_id=marcus, brand_id=rapha, subject="  ", message="Hello"),
        }
        session.add_all(unsendable.values())
    ids = {name: pk(row) for name, row in unsendable.items()}
    for job, action_id in (("missing", 4242), ("sent", already.id), *ids.items()):
        await redis.enqueue_job("outreach", {"actionId": action_id}, _job_id=job)
    await redis.enqueue_job("outreach", {"actionId": "seven"}, _job_id="malformed")

    await run(make_worker, smtp_settings(port))

    assert recorder.attempts == 0
    reasons = {
        "orphan": f"outreach action {ids['orphan']}: brand {nowhere.id} ('Quiet Co') has no contact_email "
        "and the action no to_address",
        "bad address": f"outreach action {ids['bad address']}: to address 'ikea at home' is malformed: "
        "need exactly one name@domain",
        "blank subject": f"outreach action {ids['blank subject']} has no subject",
    }
    assert await dead_messages(sessions) == sorted(
        [
            "invalid payload for queue 'outreach': actionId: Input should be a valid integer, "
            "unable to parse string as an integer",
            "outreach action 4242 not found",
            f"outreach action {already.id} is 'sent', not 'pending'",
            *reasons.values(),
        ]
    )
    # And each unsendable action is closed as failed with the same reason (committed, not rolled back)
    rows = {a.id: a for a in await all_rows(sessions, OutreachAction)}
    closed = {name: (rows[action_id].status, rows[action_id].error) for name, action_id in ids.items()}
    assert closed == {name: ("failed", reason) for name, reason in reasons.items()}


async def test_failed_actions_are_neither_queued_again_nor_rotated(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """A failed pitch, due two days ago and drafted three weeks ago: the daily plan and rotation leave it."""
    # Given an action the outreach processor closed as failed (no address), stale and overdue
    await seed(sessions)
    marcus = await talent_id(sessions, "marcusbuilds")
    now = utcnow()
    async with sessions.begin() as session:
        nowhere = Brand(name="Quiet Co", domain="quiet.test", category="home")
        session.add(nowhere)
        await session.flush()
        stuck = OutreachAction(
            talent_id=marcus,
            brand_id=pk(nowhere),
            subject="Marcus x Quiet Co",
            message="Hello",
            created_at=now - timedelta(days=20),
            scheduled_at=now - timedelta(days=2),
        )
        session.add(stuck)
    ctx = direct_ctx(sessions, redis, service_settings(), "outreach:stuck")
    with pytest.raises(PermanentJobError, match="has no contact_email"):
        await outreach.handle(ctx, ActionRef(action_id=pk(stuck)))

    # When the daily plan and the rotation run
    plan = await run_cron_job(shipped_cron("daily-outreach-plan"))({**ctx, "job_id": "daily-outreach-plan:1"})
    rotation = await run_cron_job(shipped_cron("outreach-rotation"))({**ctx, "job_id": "outreach-rotation:1"})

    # Then it is not queued (the seed's one pending pitch is due later today) and not moved
    assert (plan["count"], plan["due"]) == (0, 0)
    assert (rotation["count"], rotation["stale"]) == (0, 0)
    assert await redis.zcard("arq:queue") == 0
    closed = await action(sessions, "marcusbuilds", "Quiet Co")
    assert (closed.status, closed.talent_id) == ("failed", marcus)


async def _pitch_reply_and_follow_up(
    sessions: async_sessionmaker[AsyncSession],
) -> tuple[OutreachAction, int, Any]:
    """Noah's pitch to Notion (sent 6 days ago), a pending follow-up of it, and Notion's answer
    from a subdomain in Maya's inbox yesterday, which outreach-follow-ups has not seen yet."""
    await seed(sessions)
    pitch = await action(sessions, "noahcodes", "Notion")
    maya = await user_id(sessions, "maya.okafor@northstar-talent.test")
    replied_at = utcnow() - timedelta(days=1)
    async with sessions.begin() as session:
        follow_up = OutreachAction(
            talent_id=pitch.talent_id,
            brand_id=pitch.brand_id,
            kind="follow_up",
            follow_up_of_id=pitch.id,
            subject="Re: Noah Fischer x Notion",
            message="Following up",
        )
        box = await session.scalar(
            select(col(InboxMessage.connection_id)).where(col(InboxMessage.user_id) == maya).limit(1)
        )
        assert box is not None
        session.add_all(
            [
                follow_up,
                InboxMessage(
                    user_id=maya,
                    connection_id=box,
                    provider_message_id="notion-reply",
                    sender="Lena <lena@team.notion.so>",
                    subject="Re: Noah Fischer x Notion",
                    body="Let's talk",
                    received_at=replied_at,
                ),
            ]
        )
    return pitch, pk(follow_up), replied_at


async def test_a_follow_up_is_not_sent_when_the_brand_replied_meanwhile(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """The brand wrote to the manager after the pitch: its follow-up is closed, no mail is queued."""
    # Given a sent pitch, its pending follow-up and the brand's reply
    pitch, follow_up, replied_at = await _pitch_reply_and_follow_up(sessions)

    # When outreach runs for the follow-up
    ctx = direct_ctx(sessions, redis, service_settings(), "outreach:follow-up")
    result = await outreach.handle(ctx, ActionRef(action_id=follow_up))

    # Then nothing is queued and the follow-up is closed with the reason; the pitch itself is left
    # for outreach-follow-ups to mark replied (the processor touches only its own row)
    reason = (
        f"follow-up not needed: brand {pitch.brand_id} ('Notion') replied to outreach action {pitch.id} "
        f"at {replied_at.isoformat(timespec='seconds')}"
    )
    assert result == {"status": "not_needed", "actionId": follow_up, "reason": reason}
    assert await redis.zcard("arq:queue") == 0
    async with sessions() as session:
        closed = await session.get(OutreachAction, follow_up)
        original = await session.get(OutreachAction, pitch.id)
    assert closed is not None
    assert original is not None
    assert (closed.status, closed.error, closed.sent_at) == ("failed", reason, None)
    assert (original.status, original.replied_at) == ("sent", None)

    # And the next outreach-follow-ups run marks the pitch replied, making no second follow-up
    entry = shipped_cron("outreach-follow-ups")
    done = await run_cron_job(entry)({**ctx, "job_id": "outreach-follow-ups:1"})
    assert (done["replied"], done["closed"], done["count"]) == (1, 0, 0)
    async with sessions() as session:
        original = await session.get(OutreachAction, pitch.id)
    assert original is not None
    assert (original.status, original.replied_at) == ("replied", replied_at)


async def test_a_follow_up_and_the_follow_up_cron_at_the_same_moment_do_not_deadlock(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    """outreach holding its follow-up's lock while outreach-follow-ups marks the pitch: both complete."""
    # Given a sent pitch, its pending follow-up and the brand's reply; outreach, once it holds the
    # follow-up's row lock, waits until the cron's statement is blocked on that lock
    pitch, follow_up, replied_at = await _pitch_reply_and_follow_up(sessions)
    real = outreach._reply_to

    async def once_the_cron_waits(*args: Any, **kwargs: Any) -> Any:
        for _ in range(250):
            # A new transaction each time: pg_stat_activity is a snapshot taken once per transaction.
            async with sessions() as watcher:
                waiting = await watcher.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND wait_event_type = 'Lock' AND query LIKE '%WITH sent AS%'"
                    )
                )
            if waiting:
                break
            await asyncio.sleep(0.02)
        assert waiting, "the cron never waited for the follow-up's lock"
        return await real(*args, **kwargs)

    monkeypatch.setattr(outreach, "_reply_to", once_the_cron_waits)
    ctx = direct_ctx(sessions, redis, service_settings(), "outreach:follow-up")
    entry = shipped_cron("outreach-follow-ups")

    async def cron_soon() -> dict[str, Any]:
        await asyncio.sleep(0.1)  # outreach takes the follow-up's lock first
        return await run_cron_job(entry)({**ctx, "job_id": "outreach-follow-ups:1"})

    # When both run at once (a deadlock would fail one of them with DeadlockDetectedError)
    sent, cron = await asyncio.gather(outreach.handle(ctx, ActionRef(action_id=follow_up)), cron_soon())

    # Then outreach closed its follow-up, the cron marked the pitch and found the follow-up closed
    assert sent["status"] == "not_needed"
    assert (cron["replied"], cron["closed"], cron["count"]) == (1, 0, 0)
    async with sessions() as session:
        closed = await session.get(OutreachAction, follow_up)
        original = await session.get(OutreachAction, pitch.id)
    assert closed is not None
    assert original is not None
    assert closed.status == "failed"
    assert (original.status, original.replied_at) == ("replied", replied_at)


# --- ai-outreach --------------------------------------------------------------------------------


async def test_drafts_go_to_the_best_fitting_brands_and_a_rerun_adds_none(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Ava (food, lifestyle) pitches Oatly, Airbnb and IKEA; HelloFresh (an open deal) is left alone."""
    await seed(sessions)
    ava = await talent_id(sessions, "avacooks")
    before = {a.id for a in await all_rows(sessions, OutreachAction)}

    await redis.enqueue_job("ai-outreach", {"talentId": ava}, _job_id="draft-1")
    await run(make_worker, service_settings())
    first = [a.model_dump() for a in await all_rows(sessions, OutreachAction)]
    await redis.enqueue_job("ai-outreach", {"talentId": ava}, _job_id="draft-2")
    await run(make_worker, service_settings())

    # The second run changes nothing: every row is as the first run left it
    assert len(first) == len(before) + 3
    assert [a.model_dump() for a in await all_rows(sessions, OutreachAction)] == first
    assert (await result_of(redis, "draft-2")).result["drafted"] == 0
    drafts = [a for a in await all_rows(sessions, OutreachAction) if a.id not in before]
    by_brand = {a.brand_id: a for a in drafts}
    assert set(by_brand) == {
        await brand_id(sessions, "Oatly"),
        await brand_id(sessions, "Airbnb"),
        await brand_id(sessions, "IKEA"),
    }
    oatly = by_brand[await brand_id(sessions, "Oatly")]
    assert (oatly.status, oatly.kind, oatly.talent_id) == ("pending", "initial", ava)
    assert oatly.to_address == "partnerships@oatly.com"
    assert oatly.subject == "Ava Chen x Oatly: partnership idea"
    assert oatly.message is not None
    assert "Ava Chen (@avacooks), a food, lifestyle creator with an audience of 820,000" in oatly.message
    assert "Ava's food content is a natural home for Oatly." in oatly.message
    assert oatly.message.endswith("Best,\nMaya Okafor")
    assert await dead_messages(sessions) == []
    # And the first run's summary says why each action was drafted
    summary = (await result_of(redis, "draft-1")).result
    assert (
        [d["actionId"] for d in summary["drafts"]]
        == summary["actionIds"]
        == sorted(by_brand[b].id for b in by_brand)
    )
    assert {d["brandId"]: d["reasons"][:2] for d in summary["drafts"]}[oatly.brand_id] == [
        "fit 0.68",
        "niche 'food' is the brand's category",
    ]
    assert summary["dropped"] == []


async def test_recent_contact_and_the_cap_limit_the_drafts(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Ava pitched Oatly 10 days ago (skipped) and Airbnb 100 days ago (not); pending drafts use the cap."""
    # Given Ava contacted Oatly 10 days ago and Airbnb 100 days ago, and has a cap of 1 a day
    # (a week's drafts: 5) with 3 drafts already pending
    await seed(sessions)
    ava = await talent_id(sessions, "avacooks")
    now = utcnow()
    async with sessions.begin() as session:
        await session.execute(update(Talent).where(col(Talent.id) == ava).values(daily_outreach_cap=1))
        for brand, days in (("Oatly", 10), ("Airbnb", 100)):
            session.add(
                OutreachAction(
                    talent_id=ava,
                    brand_id=await brand_id(sessions, brand),
                    status="sent",
                    subject="hi",
                    message="hi",
                    created_at=now - timedelta(days=days),
                    sent_at=now - timedelta(days=days),
                )
            )
        for brand in ("Glossier", "Sephora", "Logitech"):
            session.add(OutreachAction(talent_id=ava, brand_id=await brand_id(sessions, brand)))

    # When ai-outreach runs
    await redis.enqueue_job("ai-outreach", {"talentId": ava}, _job_id="draft-cap")
    await run(make_worker, service_settings())

    # Then the best brand not contacted lately (Airbnb) and the next (IKEA) fill the 2 places left
    result = (await result_of(redis, "draft-cap")).result
    assert (result["drafted"], result["limit"]) == (2, 2)
    async with sessions() as session:
        fresh = set(
            (
                await session.execute(
                    select(col(Brand.name))
                    .join(OutreachAction, col(OutreachAction.brand_id) == col(Brand.id))
                    .where(col(OutreachAction.id).in_(result["actionIds"]))
                )
            ).scalars()
        )
    assert fresh == {"Airbnb", "IKEA"}


async def test_unknown_and_inactive_talent_fail_permanently(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """A talent that does not exist, or is on a break, gets no drafts and a dead letter naming it."""
    await seed(sessions)
    liam = await talent_id(sessions, "liamrides")
    await redis.enqueue_job("ai-outreach", {"talentId": 4242})
    await redis.enqueue_job("ai-outreach", {"talentId": liam})
    await redis.enqueue_job("ai-outreach", {})

    await run(make_worker, service_settings())

    assert await dead_messages(sessions) == sorted(
        [
            "invalid payload for queue 'ai-outreach': talentId: Field required",
            "talent 4242 not found",
            f"talent {liam} (@liamrides) is inactive",
        ]
    )
    assert liam not in {a.talent_id for a in await all_rows(sessions, OutreachAction)}


async def test_a_talent_paused_while_the_ai_drafts_gets_nothing_and_the_job_completes(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ava is paused while the AI drafts: no draft is written, and the job completes (no failure)."""
    # Given a provider that drafts Ava's pitches while her manager pauses her
    await seed(sessions)
    ava = await talent_id(sessions, "avacooks")
    before = [a.model_dump() for a in await all_rows(sessions, OutreachAction)]

    class PausedMeanwhile(RulesProvider):
        async def draft_outreach(self, *args: Any, **kwargs: Any) -> Any:
            drafts = await super().draft_outreach(*args, **kwargs)
            async with sessions.begin() as session:
                await session.execute(update(Talent).where(col(Talent.id) == ava).values(active=False))
            return drafts

    # When ai-outreach runs for her
    ctx: Any = {**direct_ctx(sessions, redis, service_settings(), "ai-outreach:ava"), "ai": PausedMeanwhile()}
    result = await ai_outreach.handle(ctx, TalentRef(talent_id=ava))

    # Then it completes with nothing drafted, saying why, and no row was added
    assert (result["skipped"], result["drafted"], result["actionIds"]) == ("talent became inactive", 0, [])
    assert result["candidates"] > 0
    assert [a.model_dump() for a in await all_rows(sessions, OutreachAction)] == before


async def test_the_database_refuses_a_second_open_action_for_a_pair(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Two transactions insert the same pending (talent, brand) at once: one row; a plain insert fails."""
    await seed(sessions)
    ava, oatly = await talent_id(sessions, "avacooks"), await brand_id(sessions, "Oatly")
    row: dict[str, Any] = {"talent_id": ava, "brand_id": oatly, "subject": "Ava x Oatly", "message": "hi"}
    statement = (
        insert(OutreachAction)
        .values(row)
        .on_conflict_do_nothing(
            index_elements=["talent_id", "brand_id"], index_where=text("status = 'pending'")
        )
        .returning(col(OutreachAction.id))
    )
    first_inserted = asyncio.Event()

    async def first() -> list[int | None]:
        async with sessions.begin() as session:
            ids = list((await session.execute(statement)).scalars())
            first_inserted.set()
            await asyncio.sleep(0.2)  # the second transaction waits on this one's uncommitted row
            return ids

    async def second() -> list[int | None]:
        await first_inserted.wait()
        async with sessions.begin() as session:
            return list((await session.execute(statement)).scalars())

    a, b = await asyncio.gather(first(), second())

    assert (len(a), b) == (1, [])
    with pytest.raises(IntegrityError, match="uq_outreach_actions_open_pair"):
        async with sessions.begin() as session:
            session.add(OutreachAction(**row))


async def test_a_brand_pitched_lately_by_anyone_or_this_quarter_by_the_talent_is_left_alone(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """30 days for the agency's other talents (either manager's), a quarter for the talent herself."""
    # Given Ava's three fitting brands were pitched: Oatly by Leo (her roster) 10 days ago, IKEA by
    # Kofi (another manager's) 20 days ago, since rotated away from him, Airbnb by Ava 60 days ago
    await seed(sessions)
    ava, leo, kofi = [await talent_id(sessions, h) for h in ("avacooks", "leolifts", "kofieats")]
    oatly, ikea, airbnb = [await brand_id(sessions, b) for b in ("Oatly", "IKEA", "Airbnb")]
    now = utcnow()
    leo_pitch, _, _ = await add_actions(
        sessions,
        OutreachAction(talent_id=leo, brand_id=oatly, status="sent", sent_at=now - timedelta(days=10)),
        OutreachAction(talent_id=kofi, brand_id=ikea, status="rotated", created_at=now - timedelta(days=20)),
        OutreachAction(
            talent_id=ava,
            brand_id=airbnb,
            status="sent",
            created_at=now - timedelta(days=61),
            sent_at=now - timedelta(days=60),
        ),
    )
    payload = TalentRef(talent_id=ava)
    ctx = direct_ctx(sessions, redis, service_settings(), "ai-outreach:ava")

    # When ai-outreach runs for Ava, Then none of them is pitched
    first = await ai_outreach.handle(ctx, payload)
    assert first["drafted"] == 0
    assert first["candidates"] > 0  # brands that do not fit her are still candidates

    # When Leo's pitch is 40 days old, Then Oatly is Ava's again (IKEA and Airbnb are not)
    async with sessions.begin() as session:
        await session.execute(
            update(OutreachAction)
            .where(col(OutreachAction.id) == leo_pitch)
            .values(created_at=now - timedelta(days=41), sent_at=now - timedelta(days=40))
        )
    second = await ai_outreach.handle(ctx, payload)
    assert [d["brandId"] for d in second["drafts"]] == [oatly]


async def test_a_pending_pitch_holds_its_brand_only_while_it_can_go_out(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """A pending pitch keeps a brand from Ava only while its talent can send it and it is recent."""
    # Given pending pitches drafted 40 days ago to Ava's three fitting brands: Oatly by Liam (on a
    # break), IKEA by Leo (active), and one drafted 70 days ago to Airbnb by Kofi (active)
    await seed(sessions)
    ava, leo, liam, kofi = [
        await talent_id(sessions, h) for h in ("avacooks", "leolifts", "liamrides", "kofieats")
    ]
    oatly, ikea, airbnb = [await brand_id(sessions, b) for b in ("Oatly", "IKEA", "Airbnb")]
    now = utcnow()
    await add_actions(
        sessions,
        OutreachAction(talent_id=liam, brand_id=oatly, created_at=now - timedelta(days=40)),
        OutreachAction(talent_id=leo, brand_id=ikea, created_at=now - timedelta(days=40)),
        OutreachAction(talent_id=kofi, brand_id=airbnb, created_at=now - timedelta(days=70)),
    )
    ctx = direct_ctx(sessions, redis, service_settings(), "ai-outreach:ava")

    # When ai-outreach runs for Ava, Then Oatly (Liam cannot send) and Airbnb (stuck) are hers
    first = await ai_outreach.handle(ctx, TalentRef(talent_id=ava))
    assert {d["brandId"] for d in first["drafts"]} == {oatly, airbnb}

    # When Leo's cap drops to 0, Then his pitch no longer holds IKEA either
    async with sessions.begin() as session:
        await session.execute(update(Talent).where(col(Talent.id) == leo).values(daily_outreach_cap=0))
    second = await ai_outreach.handle(ctx, TalentRef(talent_id=ava))
    assert [d["brandId"] for d in second["drafts"]] == [ikea]


async def add_actions(sessions: async_sessionmaker[AsyncSession], *rows: OutreachAction) -> list[int]:
    async with sessions.begin() as session:
        for row in rows:
            row.subject, row.message = row.subject or "Pitch", row.message or "Hello"
        session.add_all(rows)
        await session.flush()
        return [pk(row) for row in rows]


def openai_settings() -> Settings:
    return service_settings(
        ai_provider="openai", ai_base_url="https://ai.test/v1", ai_api_key="key-1", ai_model="m-1"
    )


def answer(content: Any) -> httpx.Response:
    """A chat-completions response whose message is ``content`` as JSON."""
    return httpx.Response(200, json={"choices": [{"message": {"content": json.dumps(content)}}]})


def facts_of(request: httpx.Request) -> Any:
    """The facts a provider's request carries (the user message, JSON)."""
    return json.loads(json.loads(request.content)["messages"][1]["content"])


async def open_transactions(sessions: async_sessionmaker[AsyncSession]) -> int:
    """Connections to the test database other than this one with a transaction open and idle."""
    async with sessions() as session:
        found = await session.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'"
            )
        )
    return int(found or 0)


async def test_runs_at_once_for_one_roster_and_another_pitch_a_brand_once(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Ava and Leo (Maya's) and Zoe (Daniel's), drafted at once, all to Airbnb: one pitch to Airbnb."""
    # Given three runs that have all read their facts (Airbnb a candidate for each) and wait for
    # a model that drafts Airbnb for every talent, with no transaction open meanwhile
    await seed(sessions)
    talents = [await talent_id(sessions, h) for h in ("avacooks", "leolifts", "zoewanders")]
    airbnb = await brand_id(sessions, "Airbnb")
    asked: list[int] = []
    everyone_asked, answer_now = asyncio.Event(), asyncio.Event()

    async def model(request: httpx.Request) -> httpx.Response:
        facts = facts_of(request)
        assert airbnb in [brand["id"] for brand in facts["brands"]]
        asked.append(facts["talent"]["id"])
        if len(asked) == len(talents):
            everyone_asked.set()
        await asyncio.wait_for(answer_now.wait(), timeout=10)
        draft = {
            "brand_id": airbnb,
            "subject": f"{facts['talent']['name']} x Airbnb",
            "message": "Hi",
            "score": 0.8,
        }
        return answer({"drafts": [draft]})

    http = httpx.AsyncClient(transport=httpx.MockTransport(model))
    runs = [
        asyncio.create_task(
            ai_outreach.handle(
                direct_ctx(sessions, redis, openai_settings(), f"ai-outreach:{t}", http),
                TalentRef(talent_id=t),
            )
        )
        for t in talents
    ]
    await asyncio.wait_for(everyone_asked.wait(), timeout=10)
    assert await open_transactions(sessions) == 0

    # When they write at the same moment: Airbnb's row is held, so an insert of a pitch to it
    # waits (its foreign-key check) after the insert has read what was pitched; without the
    # brand's lock all three would read "nothing yet" and wait there, and all three would land
    async with sessions.begin() as session:
        await session.execute(text("SELECT 1 FROM brands WHERE id = :id FOR UPDATE"), {"id": airbnb})
        answer_now.set()
        for _ in range(250):
            if await waiting_connections(sessions) == len(talents) or all(run.done() for run in runs):
                break
            await asyncio.sleep(0.02)
        assert await waiting_connections(sessions) == len(talents)
    results = await asyncio.gather(*runs)

    # Then Airbnb got one pitch; the other two runs dropped it when they wrote, and said so
    assert sorted(asked) == sorted(talents)
    (pitch,) = [a for a in await all_rows(sessions, OutreachAction) if a.brand_id == airbnb]
    assert pitch.talent_id in talents
    assert sorted(r["drafted"] for r in results) == [0, 0, 1]
    assert sorted(r["dropped"] for r in results) == [[], [airbnb], [airbnb]]


async def waiting_connections(sessions: async_sessionmaker[AsyncSession]) -> int:
    """Connections to the test database waiting for a lock."""
    async with sessions() as session:
        found = await session.scalar(
            text(
                "SELECT count(DISTINCT l.pid) FROM pg_locks AS l JOIN pg_stat_activity AS a ON a.pid = l.pid "
                "WHERE NOT l.granted AND a.datname = current_database()"
            )
        )
    return int(found or 0)


async def test_a_run_waits_for_the_writer_of_its_brand_then_leaves_the_brand(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Kofi's pitch to Oatly is being written under Oatly's lock: Ava's run waits, then drafts the rest."""
    await seed(sessions)
    ava, kofi = await talent_id(sessions, "avacooks"), await talent_id(sessions, "kofieats")
    oatly = await brand_id(sessions, "Oatly")
    payload = TalentRef(talent_id=ava)
    async with sessions.begin() as session:
        # Given another run holding Oatly's lock, its pitch inserted but not committed
        await session.execute(
            text("SELECT pg_advisory_xact_lock(:class, :brand)"),
            {"class": ai_outreach.BRAND_LOCK, "brand": oatly},
        )
        session.add(OutreachAction(talent_id=kofi, brand_id=oatly, subject="Kofi x Oatly", message="Hi"))
        await session.flush()
        # When Ava's run drafts Oatly (and more), Then it waits on Oatly's lock before writing
        run = asyncio.create_task(
            ai_outreach.handle(direct_ctx(sessions, redis, service_settings(), "ai-outreach:ava"), payload)
        )
        for _ in range(250):
            if run.done() or await waiting_for_advisory_lock(sessions, ai_outreach.BRAND_LOCK, oatly):
                break
            await asyncio.sleep(0.02)
        assert not run.done(), "ai-outreach wrote without waiting for the brand's lock"
    # And once the other run commits, Ava's run leaves Oatly to it and writes the rest
    result = await run
    assert result["dropped"] == [oatly]
    mine = {a.brand_id for a in await all_rows(sessions, OutreachAction) if a.talent_id == ava}
    assert mine == {await brand_id(sessions, "Airbnb"), await brand_id(sessions, "IKEA")}


async def waiting_for_advisory_lock(sessions: async_sessionmaker[AsyncSession], key1: int, key2: int) -> bool:
    """Whether a connection waits for the two-key advisory lock (key1, key2)."""
    async with sessions() as session:
        waiting = await session.scalar(
            text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                "AND classid = CAST(:key1 AS bigint) AND objid = CAST(:key2 AS bigint) AND objsubid = 2"
            ),
            {"key1": key1, "key2": key2},
        )
    return bool(waiting)


async def test_with_nothing_to_pitch_the_ai_is_not_asked(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Every brand was pitched this week: ai-outreach answers at once, without a call to the AI."""
    await seed(sessions)
    ava, kofi = await talent_id(sessions, "avacooks"), await talent_id(sessions, "kofieats")
    async with sessions.begin() as session:
        await session.execute(
            text(
                "INSERT INTO outreach_actions (talent_id, brand_id, status, subject, message, sent_at) "
                "SELECT :kofi, b.id, 'sent', 'Pitch', 'Hello', now() - interval '2 days' FROM brands AS b "
                "WHERE NOT EXISTS (SELECT 1 FROM outreach_actions AS o WHERE o.brand_id = b.id)"
            ),
            {"kofi": kofi},
        )
    calls: list[httpx.Request] = []

    def model(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(503)

    http = httpx.AsyncClient(transport=httpx.MockTransport(model))
    ctx = direct_ctx(sessions, redis, openai_settings(), "ai-outreach:ava", http)
    result = await ai_outreach.handle(ctx, TalentRef(talent_id=ava))

    assert result == {
        "talentId": ava,
        "drafted": 0,
        "actionIds": [],
        "candidates": 0,
        "limit": 10,
        "drafts": [],
        "dropped": [],
    }
    assert calls == []


async def test_two_runs_for_one_talent_at_once_draft_each_brand_once(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """ai-outreach twice at the same moment for Ava: three drafts in all, not six."""
    await seed(sessions)
    ava = await talent_id(sessions, "avacooks")
    payload = CATALOGUE["ai-outreach"].validate({"talentId": ava})
    settings = service_settings()

    results = await asyncio.gather(
        ai_outreach.handle(direct_ctx(sessions, redis, settings, "a"), payload),
        ai_outreach.handle(direct_ctx(sessions, redis, settings, "b"), payload),
    )

    assert sorted(r["drafted"] for r in results) == [0, 3]
    drafts = [a for a in await all_rows(sessions, OutreachAction) if a.talent_id == ava]
    assert len(drafts) == len({a.brand_id for a in drafts}) == 3


# --- brand-crm ----------------------------------------------------------------------------------


async def crm(sessions: async_sessionmaker[AsyncSession], user: int, brand: int) -> BrandCrmRecord:
    async with sessions() as session:
        return (
            await session.execute(
                select(BrandCrmRecord).where(
                    col(BrandCrmRecord.user_id) == user, col(BrandCrmRecord.brand_id) == brand
                )
            )
        ).scalar_one()


async def test_crm_records_are_computed_from_deals_mail_and_outreach(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Maya's Glossier and HelloFresh records: stage, open value per currency, replies, contact, score."""
    # Given the sample agency, plus a EUR deal in negotiation with Glossier, HelloFresh's mail
    # from a subdomain (with a GBP offer), from over a year ago, and a look-alike domain, and an
    # answered pitch to HelloFresh
    await seed(sessions)
    maya = await user_id(sessions, "maya.okafor@northstar-talent.test")
    glossier, hellofresh = await brand_id(sessions, "Glossier"), await brand_id(sessions, "HelloFresh")
    leo, ava = await talent_id(sessions, "leolifts"), await talent_id(sessions, "avacooks")
    now = utcnow()
    async with sessions.begin() as session:
        session.add(
            Deal(talent_id=leo, brand_id=glossier, stage="negotiating", fee_minor=150_000, currency="EUR")
        )
        template = (
            (await session.execute(select(InboxMessage).where(col(InboxMessage.user_id) == maya)))
            .scalars()
            .first()
        )
        assert template is not None
        mail = (
            ("Rachel Kim <rachel@mail.hellofresh.com>", 1),
            ("scam@nothellofresh.com", 1),
            ("Old Contact <old@hellofresh.com>", 400),  # beyond brand_crm.MAIL_WINDOW: not counted
        )
        for n, (sender, days) in enumerate(mail):
            session.add(
                InboxMessage(
                    user_id=maya,
                    connection_id=template.connection_id,
                    provider_message_id=f"crm-{n}",
                    sender=sender,
                    subject="hello",
                    body="hello",
                    received_at=now - timedelta(days=days),
                )
            )
        # An offer in Maya's inbox that named none of her talents: still her open deal
        await session.flush()
        offer = await session.scalar(
            select(col(InboxMessage.id)).where(col(InboxMessage.provider_message_id) == "crm-0")
        )
        session.add(
            Deal(
                brand_id=hellofresh, stage="draft", fee_minor=90_000, currency="GBP", source_message_id=offer
            )
        )
        session.add(
            OutreachAction(
                talent_id=ava,
                brand_id=hellofresh,
                status="replied",
                subject="Ava x HelloFresh",
                message="hi",
                sent_at=now - timedelta(days=9),
                replied_at=now - timedelta(days=8),
            )
        )

    # When brand-crm runs for both, twice
    for tick in (1, 2):
        for brand in (glossier, hellofresh):
            await redis.enqueue_job(
                "brand-crm", {"userId": maya, "brandId": brand}, _job_id=f"crm-{brand}-{tick}"
            )
        await run(make_worker, service_settings())
        if tick == 1:
            first = [await crm(sessions, maya, b) for b in (glossier, hellofresh)]

    # Then Glossier is active with two open deals, their values kept per currency
    g, h = await crm(sessions, maya, glossier), await crm(sessions, maya, hellofresh)
    assert (g.stage, g.open_deals, g.open_deal_value) == ("active", 2, {"EUR": 150_000, "USD": 800_000})
    assert (g.replies, g.last_contact_at) == (0, None)  # the seed's stale replies=3 is replaced
    assert g.score == pytest.approx(0.4 * 1.0 + 0.15 * 1 / 3, abs=1e-3)
    # And HelloFresh is negotiating: two draft deals (USD, and GBP with no talent), two mails
    # from it (the offer and the subdomain; not the look-alike nor the year-old one), the last a
    # day ago, one pitch answered
    assert (h.stage, h.open_deals, h.open_deal_value) == ("negotiating", 2, {"GBP": 90_000, "USD": 500_000})
    assert h.replies == 2
    assert h.last_contact_at is not None
    assert abs((now - h.last_contact_at) - timedelta(days=1)) < timedelta(minutes=1)
    assert h.score == pytest.approx(0.4 * 0.7 + 0.25 * (1 - 1 / 90) + 0.2 * 1.0, abs=1e-3)
    # And the second run replaced the records: one per pair, the same values, a later refresh
    assert len(await all_rows(sessions, BrandCrmRecord)) == 2
    for old, new in zip(first, (g, h), strict=True):
        assert old.refreshed_at is not None
        assert new.refreshed_at is not None
        assert new.refreshed_at > old.refreshed_at
        assert (old.id, old.stage, old.open_deal_value, old.replies) == (
            new.id,
            new.stage,
            new.open_deal_value,
            new.replies,
        )


async def test_crm_for_an_unknown_user_or_brand_fails_naming_it(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """An unknown user, an unknown brand, a missing brandId: dead letters that say which."""
    await seed(sessions)
    maya = await user_id(sessions, "maya.okafor@northstar-talent.test")
    glossier = await brand_id(sessions, "Glossier")
    await redis.enqueue_job("brand-crm", {"userId": 4242, "brandId": glossier})
    await redis.enqueue_job("brand-crm", {"userId": maya, "brandId": 4343})
    await redis.enqueue_job("brand-crm", {"userId": maya})

    await run(make_worker, service_settings())

    assert await dead_messages(sessions) == [
        "brand 4343 not found",
        "invalid payload for queue 'brand-crm': brandId: Field required",
        "user 4242 not found",
    ]
