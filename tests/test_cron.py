"""Cron entries: seed strings to arq fields, and run_cron_job's logging, recording and once-per-tick rule."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from arq.connections import ArqRedis
from arq.cron import next_cron
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from talentq.cron import CRONS, CronEntry, arq_fields, run_cron_job
from talentq.crons import delivery, finance, reports
from talentq.db.models import CronRun, utcnow
from talentq.jobs import JobContext, tick_time

from .conftest import MakeWorker
from .sample_app import BINDINGS, CATALOGUE

TICK_MS = 1_764_316_800_000  # 2025-11-28 08:00:00 UTC


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        (
            "*/15 * * * *",
            {"minute": {0, 15, 30, 45}, "hour": None, "day": None, "month": None, "weekday": None},
        ),
        ("0 */6 * * *", {"minute": {0}, "hour": {0, 6, 12, 18}, "day": None, "month": None, "weekday": None}),
        ("0 9 * * 1", {"minute": {0}, "hour": {9}, "day": None, "month": None, "weekday": {0}}),
        ("0 8 * * 2", {"minute": {0}, "hour": {8}, "day": None, "month": None, "weekday": {1}}),
        ("0 9 * * 0", {"minute": {0}, "hour": {9}, "day": None, "month": None, "weekday": {6}}),
        ("0 9 * * 7", {"minute": {0}, "hour": {9}, "day": None, "month": None, "weekday": {6}}),
    ],
)
def test_seed_strings_become_arq_fields(schedule: str, expected: dict[str, Any]) -> None:
    """Cron strings expand to arq's sets; weekdays move from Sunday=0 to arq's Monday=0."""
    assert arq_fields(schedule) == expected


def test_monday_schedule_fires_on_monday() -> None:
    """'0 9 * * 1' (weekly-outreach) next fires on a Monday at 09:00."""
    fields = arq_fields("0 9 * * 1")
    after = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)  # a Saturday
    fire = next_cron(after, second=0, microsecond=0, **fields)
    assert (fire.weekday(), fire.hour, fire.minute, fire.day) == (0, 9, 0, 30)


@pytest.mark.parametrize("schedule", ["61 * * * *", "0 9 * *", "every day", "0 9 1 * 1"])
def test_bad_schedules_are_refused(schedule: str) -> None:
    """Invalid strings, and day-of-month with day-of-week (cron ORs, arq ANDs), are refused."""
    with pytest.raises(ValueError, match=re.escape(repr(schedule))):
        arq_fields(schedule)


@pytest.mark.parametrize(
    ("job_id", "tick"),
    [
        (f"nightly:{TICK_MS}", True),
        (f"weekly:{TICK_MS}", False),  # another cron's tick
        (f"prefix:nightly:{TICK_MS}", False),
        ("nightly:manual-run", False),
        ("nightly:", False),
        (str(TICK_MS), False),
    ],
)
def test_only_the_cron_s_own_tick_sets_now(job_id: str, tick: bool) -> None:
    """tick_time reads "<name>:<ms>" for that name only; any other job id stands for now."""
    before = utcnow()
    seen = tick_time(cast(JobContext, {"job_id": job_id}), "nightly")
    if tick:
        assert seen == datetime.fromtimestamp(TICK_MS / 1000, UTC)
    else:
        assert before <= seen <= utcnow()


def test_the_crons_read_their_tick_under_their_scheduled_name() -> None:
    """Each cron that takes "now" from its tick names itself as the schedule does (else: wall clock)."""
    named = {
        delivery.deliverable_overdue: delivery.DELIVERABLE_OVERDUE,
        delivery.flush_stale_approvals: delivery.FLUSH_STALE_APPROVALS,
        finance.check_overdue_invoices: finance.CHECK_OVERDUE_INVOICES,
        reports.send_daily_brief_digest: reports.SEND_DAILY_BRIEF_DIGEST,
        reports.weekly_reports: reports.WEEKLY_REPORTS,
        reports.weekly_talent_reports: reports.WEEKLY_TALENT_REPORTS,
    }
    scheduled = {entry.run: entry.name for entry in CRONS if entry.run in named}
    assert scheduled == named


def ctx_for(name: str, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]) -> dict[str, Any]:
    return {"job_id": f"{name}:{TICK_MS}", "job_try": 1, "redis": redis, "sessions": sessions}


async def runs(sessions: async_sessionmaker[AsyncSession]) -> list[CronRun]:
    async with sessions() as session:
        return list((await session.execute(select(CronRun).order_by(CronRun.id))).scalars())  # type: ignore[arg-type]


@pytest.mark.integration
async def test_a_run_is_recorded_with_its_count(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """A run records name, tick, start, end, status ok and the result; returns the summary."""
    calls: list[str] = []

    async def work(ctx: JobContext) -> dict[str, Any]:
        calls.append(ctx["job_id"])
        return {"count": 3, "queued": [1, 2, 3]}

    result = await run_cron_job(CronEntry("nightly", "0 8 * * *", work))(ctx_for("nightly", redis, sessions))

    assert result == {"count": 3, "queued": [1, 2, 3]}
    (run,) = await runs(sessions)
    assert (run.name, run.status, run.result, run.error) == ("nightly", "ok", result, None)
    assert run.scheduled_at == datetime.fromtimestamp(TICK_MS / 1000, UTC)
    assert run.finished_at is not None
    assert run.finished_at >= run.started_at


@pytest.mark.integration
async def test_the_same_tick_runs_once(redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]) -> None:
    """A tick enqueued twice (two workers, a blocked loop) does its work once."""
    calls: list[int] = []

    async def work(ctx: JobContext) -> int:
        calls.append(1)
        return 1

    entry = CronEntry("nightly", "0 8 * * *", work)
    await run_cron_job(entry)(ctx_for("nightly", redis, sessions))
    second = await run_cron_job(entry)(ctx_for("nightly", redis, sessions))

    assert calls == [1]
    assert second == {"count": 0, "skipped": "tick already ran"}
    assert len(await runs(sessions)) == 1


@pytest.mark.integration
async def test_errors_are_recorded_and_re_raised(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """A failing cron is recorded as failed with its error, and the error propagates."""

    async def work(ctx: JobContext) -> int:
        raise RuntimeError("invoice table locked")

    with pytest.raises(RuntimeError, match="invoice table locked"):
        await run_cron_job(CronEntry("overdue", "0 9 * * *", work))(ctx_for("overdue", redis, sessions))
    (run,) = await runs(sessions)
    assert (run.status, run.error) == ("failed", "RuntimeError: invoice table locked")


@pytest.mark.integration
async def test_a_result_without_count_is_an_error(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Every run reports a count; a cron that returns none fails loudly."""

    async def work(ctx: JobContext) -> dict[str, Any]:
        return {"queued": 2}

    with pytest.raises(TypeError, match="without an integer 'count'"):
        await run_cron_job(CronEntry("vague", "0 9 * * *", work))(ctx_for("vague", redis, sessions))
    assert (await runs(sessions))[0].status == "failed"


@pytest.mark.integration
async def test_disabled_entries_skip_with_their_reason(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """A disabled entry never calls its coroutine; the run is recorded as skipped with the reason."""
    entry = CronEntry("deal-cleanup", "0 4 * * *", None, disabled="dealDraft model removed from schema")

    result = await run_cron_job(entry)(ctx_for("deal-cleanup", redis, sessions))

    assert result == {"count": 0, "skipped": "dealDraft model removed from schema"}
    (run,) = await runs(sessions)
    assert (run.status, run.result) == ("skipped", result)


@pytest.mark.integration
async def test_worker_runs_a_tick_and_keeps_its_result(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Through a worker, a tick runs; its kept result refuses a second enqueue of the same tick."""
    calls: list[int] = []

    async def work(ctx: JobContext) -> int:
        calls.append(1)
        return 7

    entry = CronEntry("nightly", "0 8 * * *", work)
    tick_id = f"nightly:{TICK_MS}"
    assert await redis.enqueue_job("nightly", _job_id=tick_id) is not None
    await make_worker(BINDINGS, [entry], catalogue=CATALOGUE).async_run()

    assert calls == [1]
    assert (await runs(sessions))[0].result == {"count": 7}
    assert await redis.enqueue_job("nightly", _job_id=tick_id) is None


@pytest.mark.integration
async def test_a_tick_cancelled_by_shutdown_runs_again(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """A run cancelled by a shutdown is recorded as interrupted, and arq's rerun takes the tick over."""
    started = asyncio.Event()
    calls: list[int] = []

    async def slow(ctx: JobContext) -> int:
        calls.append(1)
        started.set()
        await asyncio.sleep(30)
        return 1

    entry = CronEntry("nightly", "0 8 * * *", slow)
    # Given a run that a shutdown cancels
    task = asyncio.create_task(run_cron_job(entry)(ctx_for("nightly", redis, sessions)))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    (run,) = await runs(sessions)
    assert run.status == "interrupted"

    # When arq runs the same tick again, Then it runs (not "already ran") and is recorded ok
    async def quick(ctx: JobContext) -> int:
        calls.append(2)
        return 5

    result = await run_cron_job(CronEntry("nightly", "0 8 * * *", quick))(ctx_for("nightly", redis, sessions))
    assert result == {"count": 5}
    assert calls == [1, 2]
    (run,) = await runs(sessions)
    assert (run.status, run.result, run.error) == ("ok", {"count": 5}, None)


@pytest.mark.integration
async def test_a_tick_whose_worker_died_is_taken_over_only_when_stale(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """A 'running' row younger than the cron's timeout blocks a second run; an older one is taken over."""
    async with sessions.begin() as session:
        await session.execute(
            text(
                "INSERT INTO cron_runs (name, scheduled_at, started_at, status) "
                "VALUES ('nightly', to_timestamp(:tick / 1000.0), now(), 'running')"
            ),
            {"tick": TICK_MS},
        )
    calls: list[int] = []

    async def work(ctx: JobContext) -> int:
        calls.append(1)
        return 1

    entry = CronEntry("nightly", "0 8 * * *", work, timeout=60)
    assert (await run_cron_job(entry)(ctx_for("nightly", redis, sessions)))["skipped"] == "tick already ran"

    async with sessions.begin() as session:
        await session.execute(text("UPDATE cron_runs SET started_at = now() - interval '2 hours'"))
    assert await run_cron_job(entry)(ctx_for("nightly", redis, sessions)) == {"count": 1}
    assert calls == [1]


@pytest.mark.integration
async def test_a_timeout_is_recorded_with_its_limit(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """A cron over its timeout fails, and the record says which limit it passed."""

    async def slow(ctx: JobContext) -> int:
        await asyncio.sleep(5)
        return 0

    with pytest.raises(TimeoutError):
        await run_cron_job(CronEntry("slow", "0 8 * * *", slow, timeout=0.05))(
            ctx_for("slow", redis, sessions)
        )
    (run,) = await runs(sessions)
    assert (run.status, run.error) == ("failed", "TimeoutError: ran past its 0.05s timeout")


@pytest.mark.integration
@pytest.mark.parametrize("name", ["update-social-stats", "deal-automation", "deal-cleanup"])
async def test_the_seed_s_disabled_crons_skip_without_touching_the_domain(
    name: str, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession], sql_statements: list[str]
) -> None:
    """The three crons the seed disabled are registered, and each run is a recorded skip with its reason."""
    entry = next(e for e in CRONS if e.name == name)
    assert entry.disabled

    sql_statements.clear()
    result = await run_cron_job(entry)(ctx_for(name, redis, sessions))
    during_run = list(sql_statements)

    assert result == {"count": 0, "skipped": entry.disabled}
    (run,) = await runs(sessions)
    assert (run.name, run.status, run.result) == (name, "skipped", result)
    # Only the run's own bookkeeping reached the database: the claim and the record of its end.
    assert [s.split()[0] for s in during_run] == ["INSERT", "UPDATE"]
    assert all("cron_runs" in s for s in during_run)


#: The seed's "Cron Job Health Summary": every cron, its schedule, and the three it disabled.
SEED_CRONS = {
    "check-overdue-invoices": "0 9 * * *",
    "send-daily-brief-digest": "0 8 * * *",
    "update-social-stats": "0 */6 * * *",
    "flush-stale-approvals": "0 */12 * * *",
    "deal-automation": "0 * * * *",
    "deal-cleanup": "0 4 * * *",
    "deliverable-overdue": "0 * * * *",
    "weekly-reports": "0 8 * * 1",
    "ai-agent-recovery": "*/10 * * * *",
    "outreach-rotation": "0 8 * * 2",
    "ai-agent-retry": "*/30 * * * *",
    "weekly-outreach": "0 9 * * 1",
    "daily-outreach-plan": "0 9 * * *",
    "outreach-follow-ups": "0 */6 * * *",
    "brand-crm-daily": "0 3 * * *",
    "strategy-predictions": "0 4 * * *",
    "whatsapp-sync": "*/10 * * * *",
    "gmail-sync": "*/15 * * * *",
    "weekly-talent-reports": "0 9 * * 1",
}


def test_the_schedule_is_the_seed_s_table() -> None:
    """All 19 seed crons, each with the seed's schedule; exactly the seed's three are disabled."""
    assert {entry.name: entry.schedule for entry in CRONS} == SEED_CRONS
    assert len(CRONS) == len(SEED_CRONS)
    assert {entry.name for entry in CRONS if entry.disabled} == {
        "update-social-stats",
        "deal-automation",
        "deal-cleanup",
    }
    assert all(entry.run is not None for entry in CRONS if not entry.disabled)
