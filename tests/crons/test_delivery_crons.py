"""deliverable-overdue and flush-stale-approvals: set-based (one statement each), idempotent, via a worker."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime, timedelta
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
from talentq.db.models import CronRun, FailedJob, pk, utcnow
from talentq.db.tables import Approval, Brand, Deal, Deliverable, OutreachAction, Talent, User
from talentq.dev.sample_agency import seed
from talentq.domain.deliverables import reminder_key
from talentq.domain.time import tick_ms
from talentq.processors import deliverable_reminders, email_send
from talentq.queues import CATALOGUE, RetryPolicy
from talentq.registry import Binding

from ..conftest import MakeWorker
from ..processors.test_deliverables import body_of
from ..processors.test_email_send import Recorder, smtp, smtp_settings  # noqa: F401  (smtp: the aiosmtpd fixture)

pytestmark = pytest.mark.integration

OVERDUE = CronEntry(
    "deliverable-overdue", "0 * * * *", delivery.deliverable_overdue, enqueues=("deliverable-reminders",)
)
FLUSH = CronEntry("flush-stale-approvals", "0 */12 * * *", delivery.flush_stale_approvals)


#: The tick of the statement counts, which do not depend on the hour.
TICK = datetime(2025, 11, 28, 8, 0, tzinfo=UTC)


@pytest.fixture
def now(cron_now: datetime) -> datetime:
    """The crons' tick: each test that takes it runs at every one of the suite's ``CRON_CLOCKS``."""
    return cron_now


def cron_ctx(
    entry: CronEntry, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession], at: datetime
) -> Any:
    """The context of ``entry``'s tick at ``at``: the crons' "now" is the tick."""
    return {
        "job_id": f"{entry.name}:{tick_ms(at)}",
        "job_try": 1,
        "redis": redis,
        "sessions": sessions,
        "producer": Producer(redis),
    }


async def queued_ids(redis: ArqRedis) -> list[str]:
    return sorted(raw.decode() for raw in await redis.zrange(default_queue_name, 0, -1))


async def a_deal(sessions: async_sessionmaker[AsyncSession], stage: str = "contracted") -> tuple[int, int]:
    """(deal id, talent id) of one deal in ``stage``, with its own manager, brand and talent."""
    async with sessions.begin() as session:
        manager = User(
            name="Daniel Reyes", email=f"daniel+{stage}@northstar.test", time_zone="America/New_York"
        )
        brand = Brand(name=f"Oatly ({stage})", domain=f"oatly-{stage}.com")
        session.add_all([manager, brand])
        await session.flush()
        talent = Talent(name="Kofi Mensah", handle=f"kofieats-{stage}", manager_id=pk(manager))
        session.add(talent)
        await session.flush()
        deal = Deal(talent_id=pk(talent), brand_id=pk(brand), stage=stage)
        session.add(deal)
        await session.flush()
        return pk(deal), pk(talent)


async def test_late_work_becomes_overdue_and_is_reminded_once_a_day(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession], now: datetime
) -> None:
    """Late open work turns overdue; overdue and due-soon work not reminded for 24 h gets one reminder job."""
    # Given deliverables in every state, some reminded lately, some of deals that are over
    deal_id, talent_id = await a_deal(sessions)
    lost_deal, lost_talent = await a_deal(sessions, "lost")
    delivered_deal, delivered_talent = await a_deal(sessions, "delivered")
    long_ago = now - timedelta(hours=30)
    specs: dict[str, tuple[str, timedelta, Any, tuple[int, int]]] = {
        "late": ("pending", -timedelta(hours=2), None, (deal_id, talent_id)),
        "late_rework": ("changes_requested", -timedelta(days=1), None, (deal_id, talent_id)),
        "late_reminded_lately": (
            "pending",
            -timedelta(hours=1),
            now - timedelta(hours=3),
            (deal_id, talent_id),
        ),
        "in_review": ("submitted", -timedelta(days=1), None, (deal_id, talent_id)),
        "done": ("approved", -timedelta(days=3), None, (deal_id, talent_id)),
        "due_soon": ("pending", timedelta(hours=5), None, (deal_id, talent_id)),
        "rework_due_soon": ("changes_requested", timedelta(hours=47), long_ago, (deal_id, talent_id)),
        "due_soon_reminded_lately": (
            "pending",
            timedelta(hours=30),
            now - timedelta(hours=2),
            (deal_id, talent_id),
        ),
        "not_due_yet": ("pending", timedelta(hours=49), None, (deal_id, talent_id)),
        "still_overdue": ("overdue", -timedelta(days=4), long_ago, (deal_id, talent_id)),
        "overdue_reminded_lately": (
            "overdue",
            -timedelta(days=2),
            now - timedelta(hours=20),
            (deal_id, talent_id),
        ),
        "given_up": ("overdue", -timedelta(days=15), long_ago, (deal_id, talent_id)),
        "late_for_a_lost_deal": ("pending", -timedelta(hours=2), None, (lost_deal, lost_talent)),
        "overdue_for_a_lost_deal": ("overdue", -timedelta(days=2), None, (lost_deal, lost_talent)),
        "soon_for_a_delivered_deal": (
            "pending",
            timedelta(hours=5),
            None,
            (delivered_deal, delivered_talent),
        ),
    }
    ids: dict[str, int] = {}
    async with sessions.begin() as session:
        for name, (status, due_in, reminded_at, (deal, talent)) in specs.items():
            row = Deliverable(
                deal_id=deal,
                talent_id=talent,
                title=name,
                due_at=now + due_in,
                status=status,
                reminded_at=reminded_at,
            )
            session.add(row)
            await session.flush()
            ids[name] = pk(row)

    # When the tick runs, and then its work again (a re-run after an interruption)
    result = await run_cron_job(OVERDUE)(cron_ctx(OVERDUE, redis, sessions, now))
    jobs = await queued_ids(redis)
    again = await delivery.deliverable_overdue(cron_ctx(OVERDUE, redis, sessions, now))

    # Then the three late ones of the open deal are overdue, and the overdue and due-soon work not
    # reminded for 24 h (and under 14 days late) has one reminder job each; lost and delivered
    # deals' work is left alone
    assert result == {"count": 3, "reminders": 3, "due_soon": 2}
    async with sessions() as session:
        statuses = dict(
            (await session.execute(select(col(Deliverable.title), col(Deliverable.status)))).all()
        )
    assert statuses == {name: status for name, (status, *_) in specs.items()} | {
        "late": "overdue",
        "late_rework": "overdue",
        "late_reminded_lately": "overdue",
    }
    assert jobs == sorted(
        [
            f"deliverable-reminders:{ids['late']}:first",
            f"deliverable-reminders:{ids['late_rework']}:first",
            f"deliverable-reminders:{ids['still_overdue']}:{reminder_key(long_ago)}",
            f"deliverable-reminders:{ids['due_soon']}:first",
            f"deliverable-reminders:{ids['rework_due_soon']}:{reminder_key(long_ago)}",
        ]
    )
    # And the re-run finds nothing newly late, and its reminder jobs are already queued
    assert again == {"count": 0, "reminders": 0, "due_soon": 0}
    assert await queued_ids(redis) == jobs
    async with sessions() as session:
        (run,) = (await session.execute(select(CronRun))).scalars()
    assert (run.name, run.status, run.result) == ("deliverable-overdue", "ok", result)


async def test_now_is_the_tick_not_the_wall_clock(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession], now: datetime
) -> None:
    """A tick an hour ago, run late: work due after the tick is not overdue yet (it is due soon)."""
    deal_id, talent_id = await a_deal(sessions)
    async with sessions.begin() as session:
        session.add(
            Deliverable(
                deal_id=deal_id, talent_id=talent_id, title="post", due_at=now - timedelta(minutes=30)
            )
        )

    result = await run_cron_job(OVERDUE)(cron_ctx(OVERDUE, redis, sessions, now - timedelta(hours=1)))

    assert result == {"count": 0, "reminders": 0, "due_soon": 1}
    async with sessions() as session:
        assert await session.scalar(select(col(Deliverable.status))) == "pending"


async def test_a_tick_through_the_worker_reminds_the_talent_with_the_manager_in_copy(
    make_worker: MakeWorker,
    redis: ArqRedis,
    sessions: async_sessionmaker[AsyncSession],
    smtp: tuple[Recorder, int],  # noqa: F811  (the fixture imported above)
) -> None:
    """The sample agency's late TikTok and its reel due tomorrow: the tick marks one, Priya gets two emails.

    Here the tick is the wall clock's: deliverable-reminders, a processor, acts on the moment it
    runs, as it does in production right after the tick.
    """
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

    await redis.enqueue_job(OVERDUE.name, _job_id=f"{OVERDUE.name}:{tick_ms(utcnow())}")
    await make_worker(bindings, [OVERDUE], catalogue=catalogue, settings_=smtp_settings(port)).async_run()

    async with sessions() as session:
        overdue = list(
            (await session.execute(select(Deliverable).where(col(Deliverable.status) == "overdue"))).scalars()
        )
        (run,) = (await session.execute(select(CronRun))).scalars()
        dead = list((await session.execute(select(FailedJob))).scalars())
    assert [d.title for d in overdue] == ["TikTok: 3 ways to wear Cloud Paint"]
    assert overdue[0].reminded_at is not None
    assert (run.status, run.result) == ("ok", {"count": 1, "reminders": 1, "due_soon": 1})
    by_subject = {message["Subject"]: message for message in recorder.received}
    assert set(by_subject) == {
        "Overdue: TikTok: 3 ways to wear Cloud Paint (Priya Nair)",
        "Due soon: IG reel: morning routine with Glossier You (Priya Nair)",
    }
    overdue_mail = by_subject["Overdue: TikTok: 3 ways to wear Cloud Paint (Priya Nair)"]
    # To Priya, who has an email on file, with Maya in copy
    assert overdue_mail["To"] == "Priya Nair <priya@priyaglow.test>"
    assert overdue_mail["Cc"] == "Maya Okafor <maya.okafor@northstar-talent.test>"
    assert "for Glossier was due" in body_of(overdue_mail)
    assert dead == []


async def test_stale_approvals_expire_and_others_stay(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession], now: datetime
) -> None:
    """Pending and past expiry: expired with decided_at (the tick); pending in time or decided: unchanged."""
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

    result = await run_cron_job(FLUSH)(cron_ctx(FLUSH, redis, sessions, now))
    again = await delivery.flush_stale_approvals(cron_ctx(FLUSH, redis, sessions, now))

    assert result == {"count": 3, "byKind": {"contract": 1, "negotiation_reply": 2}, "outreachClosed": 0}
    assert again == {"count": 0, "byKind": {}, "outreachClosed": 0}
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
        assert rows[subject].decided_at == now
    assert rows["in time"].decided_at is None
    assert rows["decided"].decided_at == now - timedelta(days=2)


async def test_a_pitch_whose_approval_expired_is_closed_and_holds_its_brand_no_more(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession], now: datetime
) -> None:
    """An outreach pitch left undecided: expired with its approval, saying so; the brand is free again."""
    _, talent_id = await a_deal(sessions)
    async with sessions.begin() as session:
        brand = Brand(name="Rapha", domain="rapha.cc", category="outdoors", contact_email="hi@rapha.cc")
        session.add(brand)
        await session.flush()
        pitch = OutreachAction(talent_id=talent_id, brand_id=pk(brand), subject="Kofi x Rapha", message="Hi")
        session.add(pitch)
        await session.flush()
        approval = Approval(
            kind="outreach_pitch",
            subject="Pitch to Rapha",
            payload={"email": {"to": "hi@rapha.cc", "subject": "Kofi x Rapha", "body": "Hi"}},
            expires_at=now - timedelta(minutes=5),
        )
        session.add(approval)
        await session.flush()
        pitch.approval_id = pk(approval)

    result = await run_cron_job(FLUSH)(cron_ctx(FLUSH, redis, sessions, now))

    assert result == {"count": 1, "byKind": {"outreach_pitch": 1}, "outreachClosed": 1}
    async with sessions() as session:
        closed = await session.get(OutreachAction, pk(pitch))
    assert closed is not None
    assert closed.status == "expired"
    assert closed.error == f"approval {pk(approval)} expired undecided at {now:%Y-%m-%dT%H:%MZ}: never sent"
    # And a new pitch of the same talent to the same brand is allowed (no open pair is left)
    async with sessions.begin() as session:
        session.add(OutreachAction(talent_id=talent_id, brand_id=pk(brand), subject="Again", message="Hi"))


async def test_ten_thousand_rows_take_one_statement_each(
    redis: ArqRedis,
    sessions: async_sessionmaker[AsyncSession],
    sql_statements: list[str],
) -> None:
    """10,000 late and 5,000 due-soon deliverables, 10,000 stale approvals: one SQL statement per cron."""
    deal_id, talent_id = await a_deal(sessions)
    async with sessions.begin() as session:
        await session.execute(
            text(
                "INSERT INTO deliverables (deal_id, talent_id, title, due_at, status) "
                "SELECT :deal, :talent, 'post ' || g, "
                "CAST(:now AS timestamptz) - interval '1 hour' - g * interval '1 second', "
                "CASE WHEN g % 2 = 0 THEN 'pending' ELSE 'changes_requested' END "
                "FROM generate_series(1, 10000) AS g"
            ),
            {"deal": deal_id, "talent": talent_id, "now": TICK},
        )
        await session.execute(
            text(
                "INSERT INTO deliverables (deal_id, talent_id, title, due_at) "
                "SELECT :deal, :talent, 'soon ' || g, "
                "CAST(:now AS timestamptz) + interval '1 hour' + g * interval '1 second' "
                "FROM generate_series(1, 5000) AS g"
            ),
            {"deal": deal_id, "talent": talent_id, "now": TICK},
        )
        await session.execute(
            text(
                "INSERT INTO approvals (kind, subject, payload, status, created_at, expires_at) "
                "SELECT 'contract', 'approval ' || g, '{}', 'pending', "
                "CAST(:now AS timestamptz) - interval '3 days', "
                "CAST(:now AS timestamptz) - g * interval '1 minute' FROM generate_series(1, 10000) AS g"
            ),
            {"now": TICK},
        )

    timings: dict[str, float] = {}
    results: dict[str, dict[str, Any]] = {}
    statements: dict[str, list[str]] = {}
    for entry in (OVERDUE, FLUSH):
        sql_statements.clear()
        started = time.perf_counter()
        results[entry.name] = await run_cron_job(entry)(cron_ctx(entry, redis, sessions, TICK))
        timings[entry.name] = time.perf_counter() - started
        statements[entry.name] = [s for s in sql_statements if "cron_runs" not in s]

    assert results == {
        "deliverable-overdue": {"count": 10_000, "reminders": 10_000, "due_soon": 5_000},
        "flush-stale-approvals": {"count": 10_000, "byKind": {"contract": 10_000}, "outreachClosed": 0},
    }
    assert {name: len(work) for name, work in statements.items()} == {
        "deliverable-overdue": 1,
        "flush-stale-approvals": 1,
    }
    assert await redis.zcard(default_queue_name) == 15_000
    assert all(seconds < 10 for seconds in timings.values()), timings
    print(f"\n10,000 rows: {', '.join(f'{name} {seconds:.2f}s' for name, seconds in timings.items())}")
