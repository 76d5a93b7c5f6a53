"""deliverable-overdue and flush-stale-approvals: set-based (one statement each), idempotent, via a worker."""

from __future__ import annotations

import dataclasses
import time
from datetime import timedelta
from typing import Any

import pytest
from arq.connections import ArqRedis
from arq.constants import default_queue_name
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from talentq.client import Producer
from talentq.cron import CronEntry, run_cron_job
from talentq.crons import delivery
from talentq.db.domain import Approval, Brand, Deal, Deliverable, Talent, User
from talentq.db.models import CronRun, FailedJob, utcnow
from talentq.processors import deliverable_reminders, email_send
from talentq.processors.deliverable_reminders import reminder_key
from talentq.queues import CATALOGUE, RetryPolicy
from talentq.registry import Binding
from talentq.sample_agency import pk, seed

from .conftest import MakeWorker
from .test_deliverables import body_of
from .test_email_send import Recorder, smtp, smtp_settings  # noqa: F401  (smtp: the aiosmtpd fixture)

pytestmark = pytest.mark.integration

TICK_MS = 1_764_320_400_000  # 2025-11-28 09:00 UTC
OVERDUE = CronEntry(
    "deliverable-overdue", "0 * * * *", delivery.deliverable_overdue, enqueues=("deliverable-reminders",)
)
FLUSH = CronEntry("flush-stale-approvals", "0 */12 * * *", delivery.flush_stale_approvals)


def cron_ctx(entry: CronEntry, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]) -> Any:
    return {
        "job_id": f"{entry.name}:{TICK_MS}",
        "job_try": 1,
        "redis": redis,
        "sessions": sessions,
        "producer": Producer(redis),
    }


async def queued_ids(redis: ArqRedis) -> list[str]:
    return sorted(raw.decode() for raw in await redis.zrange(default_queue_name, 0, -1))


async def a_deal(sessions: async_sessionmaker[AsyncSession]) -> tuple[int, int]:
    """(deal id, talent id) of one contracted deal."""
    async with sessions.begin() as session:
        manager = User(name="Daniel Reyes", email="daniel@northstar.test", time_zone="America/New_York")
        brand = Brand(name="Oatly", domain="oatly.com")
        session.add_all([manager, brand])
        await session.flush()
        talent = Talent(name="Kofi Mensah", handle="kofieats", manager_id=pk(manager))
        session.add(talent)
        await session.flush()
        deal = Deal(talent_id=pk(talent), brand_id=pk(brand), stage="contracted")
        session.add(deal)
        await session.flush()
        return pk(deal), pk(talent)


async def test_late_work_becomes_overdue_and_is_reminded_once_a_day(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Only late, unapproved, unsubmitted work turns overdue; reminders skip anything reminded within 24 h."""
    # Given deliverables in every state, some reminded lately
    deal_id, talent_id = await a_deal(sessions)
    now = utcnow()
    long_ago = now - timedelta(hours=30)
    specs: dict[str, tuple[str, timedelta, Any]] = {
        "late": ("pending", -timedelta(hours=2), None),
        "late_rework": ("changes_requested", -timedelta(days=1), None),
        "late_reminded_lately": ("pending", -timedelta(hours=1), now - timedelta(hours=3)),
        "in_review": ("submitted", -timedelta(days=1), None),
        "done": ("approved", -timedelta(days=3), None),
        "not_due": ("pending", timedelta(hours=5), None),
        "still_overdue": ("overdue", -timedelta(days=4), long_ago),
        "overdue_reminded_lately": ("overdue", -timedelta(days=2), now - timedelta(hours=20)),
    }
    ids: dict[str, int] = {}
    async with sessions.begin() as session:
        for name, (status, due_in, reminded_at) in specs.items():
            row = Deliverable(
                deal_id=deal_id,
                talent_id=talent_id,
                title=name,
                due_at=now + due_in,
                status=status,
                reminded_at=reminded_at,
            )
            session.add(row)
            await session.flush()
            ids[name] = pk(row)

    # When the tick runs, and then its work again (a re-run after an interruption)
    result = await run_cron_job(OVERDUE)(cron_ctx(OVERDUE, redis, sessions))
    jobs = await queued_ids(redis)
    again = await delivery.deliverable_overdue(cron_ctx(OVERDUE, redis, sessions))

    # Then the three late ones are overdue and the ones not reminded for 24 h have a job each
    assert result == {"count": 3, "reminders": 3}
    async with sessions() as session:
        statuses = dict(
            (await session.execute(select(col(Deliverable.title), col(Deliverable.status)))).all()
        )
    assert statuses == {
        "late": "overdue",
        "late_rework": "overdue",
        "late_reminded_lately": "overdue",
        "in_review": "submitted",
        "done": "approved",
        "not_due": "pending",
        "still_overdue": "overdue",
        "overdue_reminded_lately": "overdue",
    }
    assert jobs == sorted(
        [
            f"deliverable-reminders:{ids['late']}:first",
            f"deliverable-reminders:{ids['late_rework']}:first",
            f"deliverable-reminders:{ids['still_overdue']}:{reminder_key(long_ago)}",
        ]
    )
    # And the re-run finds nothing newly late, and its reminder jobs are already queued
    assert again == {"count": 0, "reminders": 0}
    assert await queued_ids(redis) == jobs
    async with sessions() as session:
        (run,) = (await session.execute(select(CronRun))).scalars()
    assert (run.name, run.status, run.result) == ("deliverable-overdue", "ok", result)


async def test_a_tick_through_the_worker_mails_the_manager(
    make_worker: MakeWorker,
    redis: ArqRedis,
    sessions: async_sessionmaker[AsyncSession],
    smtp: tuple[Recorder, int],  # noqa: F811  (the fixture imported above)
) -> None:
    """The sample agency's late TikTok: the tick marks it overdue, its reminder job emails Maya, once."""
    recorder, port = smtp
    await seed(sessions)
    fast = RetryPolicy(2, 0.05, 0.1)
    catalogue = {
        name: dataclasses.replace(CATALOGUE[name], retry=fast)
        for name in ("deliverable-reminders", "email-send")
    }
    bindings: list[Binding] = [
        ("deliverable-reminders", deliverable_reminders.handle),
        ("email-send", email_send.handle),
    ]

    await redis.enqueue_job(OVERDUE.name, _job_id=f"{OVERDUE.name}:{TICK_MS}")
    await make_worker(bindings, [OVERDUE], catalogue=catalogue, settings_=smtp_settings(port)).async_run()

    async with sessions() as session:
        overdue = list(
            (await session.execute(select(Deliverable).where(col(Deliverable.status) == "overdue"))).scalars()
        )
        (run,) = (await session.execute(select(CronRun))).scalars()
        dead = list((await session.execute(select(FailedJob))).scalars())
    assert [d.title for d in overdue] == ["TikTok: 3 ways to wear Cloud Paint"]
    assert overdue[0].reminded_at is not None
    assert (run.status, run.result) == ("ok", {"count": 1, "reminders": 1})
    (message,) = recorder.received
    assert message["To"] == "Maya Okafor <maya.okafor@northstar-talent.test>"
    assert message["Subject"] == "Overdue: TikTok: 3 ways to wear Cloud Paint (Priya Nair)"
    assert "for Glossier was due" in body_of(message)
    assert dead == []


async def test_stale_approvals_expire_and_others_stay(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Pending and past expiry: expired with decided_at; pending in time or already decided: unchanged."""
    now = utcnow()
    async with sessions.begin() as session:
        session.add_all(
            [
                Approval(kind="contract", subject="stale contract", expires_at=now - timedelta(hours=2)),
                Approval(kind="negotiation_reply", subject="stale reply", expires_at=now - timedelta(days=1)),
                Approval(
                    kind="negotiation_reply", subject="stale reply 2", expires_at=now - timedelta(minutes=1)
                ),
                Approval(kind="contract", subject="in time", expires_at=now + timedelta(days=2)),
                Approval(
                    kind="contract",
                    subject="decided",
                    status="approved",
                    expires_at=now - timedelta(days=1),
                    decided_at=now - timedelta(days=2),
                ),
            ]
        )

    result = await run_cron_job(FLUSH)(cron_ctx(FLUSH, redis, sessions))
    again = await delivery.flush_stale_approvals(cron_ctx(FLUSH, redis, sessions))

    assert result == {"count": 3, "byKind": {"contract": 1, "negotiation_reply": 2}}
    assert again == {"count": 0, "byKind": {}}
    async with sessions() as session:
        rows = {a.subject: a for a in (await session.execute(select(Approval))).scalars()}
    assert {s: a.status for s, a in rows.items()} == {
        "stale contract": "expired",
        "stale reply": "expired",
        "stale reply 2": "expired",
        "in time": "pending",
        "decided": "approved",
    }
    for subject in ("stale contract", "stale reply", "stale reply 2"):
        decided = rows[subject].decided_at
        assert decided is not None
        assert decided - now < timedelta(minutes=1)
    assert rows["in time"].decided_at is None
    assert rows["decided"].decided_at == now - timedelta(days=2)


async def test_ten_thousand_rows_take_one_statement_each(
    redis: ArqRedis,
    sessions: async_sessionmaker[AsyncSession],
    sql_statements: list[str],
) -> None:
    """10,000 late deliverables and 10,000 stale approvals: one SQL statement per cron, 10,000 jobs."""
    deal_id, talent_id = await a_deal(sessions)
    async with sessions.begin() as session:
        await session.execute(
            text(
                "INSERT INTO deliverables (deal_id, talent_id, title, due_at, status) "
                "SELECT :deal, :talent, 'post ' || g, now() - interval '1 hour' - g * interval '1 second', "
                "CASE WHEN g % 2 = 0 THEN 'pending' ELSE 'changes_requested' END "
                "FROM generate_series(1, 10000) AS g"
            ),
            {"deal": deal_id, "talent": talent_id},
        )
        await session.execute(
            text(
                "INSERT INTO approvals (kind, subject, payload, status, created_at, expires_at) "
                "SELECT 'contract', 'approval ' || g, '{}', 'pending', now() - interval '3 days', "
                "now() - g * interval '1 minute' FROM generate_series(1, 10000) AS g"
            )
        )

    timings: dict[str, float] = {}
    results: dict[str, dict[str, Any]] = {}
    statements: dict[str, list[str]] = {}
    for entry in (OVERDUE, FLUSH):
        sql_statements.clear()
        started = time.perf_counter()
        results[entry.name] = await run_cron_job(entry)(cron_ctx(entry, redis, sessions))
        timings[entry.name] = time.perf_counter() - started
        statements[entry.name] = [s for s in sql_statements if "cron_runs" not in s]

    assert results == {
        "deliverable-overdue": {"count": 10_000, "reminders": 10_000},
        "flush-stale-approvals": {"count": 10_000, "byKind": {"contract": 10_000}},
    }
    assert {name: len(work) for name, work in statements.items()} == {
        "deliverable-overdue": 1,
        "flush-stale-approvals": 1,
    }
    assert await redis.zcard(default_queue_name) == 10_000
    assert all(seconds < 10 for seconds in timings.values()), timings
    print(f"\n10,000 rows: {', '.join(f'{name} {seconds:.2f}s' for name, seconds in timings.items())}")
