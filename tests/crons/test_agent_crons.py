"""ai-agent-recovery and ai-agent-retry: set-based, idempotent per tick, carried through by a real worker."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from arq.connections import ArqRedis
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from talentq.client import Producer
from talentq.cron import CronEntry, run_cron_job
from talentq.crons import agents
from talentq.crons.agents import (
    RECOVERY_BATCH,
    RETRY_BACKOFF_BASE,
    RETRY_BATCH,
)
from talentq.db.models import FailedJob
from talentq.db.tables import AgentTask, Approval, Deal, InboxMessage, OutboundEmail
from talentq.dev.sample_agency import seed
from talentq.domain.time import tick_ms
from talentq.processors import agent_tasks, ai_agent, deal_extraction, email_send, inbox_triage
from talentq.queues import CATALOGUE, RetryPolicy
from talentq.registry import Binding

from ..conftest import MakeWorker, service_settings, shipped_cron

pytestmark = pytest.mark.integration

RECOVERY = shipped_cron("ai-agent-recovery")
RETRY = shipped_cron("ai-agent-retry")
#: The tick of the statement counts, which do not depend on the hour.
TICK = datetime(2025, 11, 28, 8, 0, tzinfo=UTC)


@pytest.fixture
def now(cron_now: datetime) -> datetime:
    """The crons' tick: each test that takes it runs at every one of the suite's ``CRON_CLOCKS``."""
    return cron_now


def ago(now: datetime, **delta: float) -> datetime:
    return now - timedelta(**delta)


async def add_tasks(sessions: async_sessionmaker[AsyncSession], **tasks: dict[str, Any]) -> dict[str, int]:
    """Agent tasks by name, each with the given column values; returns their ids."""
    rows = {name: AgentTask(**{"kind": "reply_to_brand", **values}) for name, values in tasks.items()}
    async with sessions.begin() as session:
        session.add_all(rows.values())
        await session.flush()
    return {name: row.id for name, row in rows.items() if row.id is not None}


async def statuses(sessions: async_sessionmaker[AsyncSession]) -> dict[int, AgentTask]:
    async with sessions() as session:
        return {t.id: t for t in (await session.execute(select(AgentTask))).scalars() if t.id is not None}


def ctx_for(
    name: str, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession], at: datetime, minutes: int = 0
) -> Any:
    """The context of cron ``name``'s tick ``minutes`` after ``at``."""
    return {
        "job_id": f"{name}:{tick_ms(at + timedelta(minutes=minutes))}",
        "job_try": 1,
        "redis": redis,
        "sessions": sessions,
        "producer": Producer(redis),
    }


async def jobs(redis: ArqRedis) -> set[str]:
    return {key.decode().removeprefix("arq:job:") for key in await redis.keys("arq:job:*")}


async def test_recovery_requeues_stuck_tasks_and_fails_those_out_of_attempts(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession], now: datetime
) -> None:
    """Running past their own timeout: back to queued and re-enqueued where they stand; none left: failed."""
    # Given tasks stuck in running (past their timeout_s), one not yet, and some in other states
    stale = {"status": "running", "attempts": 1, "started_at": ago(now, minutes=11)}
    ids = await add_tasks(
        sessions,
        planless=stale,
        planned={**stale, "steps": [{"type": "send_email"}]},
        triage={**stale, "kind": "inbox_triage"},
        short_timeout={**stale, "started_at": ago(now, minutes=2), "timeout_s": 60},
        exhausted={**stale, "attempts": 3},
        fresh={**stale, "started_at": ago(now, minutes=5)},
        queued={"status": "queued"},
        done={"status": "done", "attempts": 1, "started_at": ago(now, hours=2)},
        failed={"status": "failed", "attempts": 1, "started_at": ago(now, hours=2)},
    )

    # When ai-agent-recovery runs
    result = await run_cron_job(RECOVERY)(ctx_for(RECOVERY.name, redis, sessions, now))

    # Then the stuck ones are queued again, each with a job for where it stands
    requeued = [ids[n] for n in ("planless", "planned", "triage", "short_timeout")]
    assert result == {
        "count": 5,
        "requeued": requeued,
        "requeuedTotal": 4,
        "failed": [ids["exhausted"]],
        "failedTotal": 1,
        "enqueued": 4,
    }
    assert await jobs(redis) == {
        f"ai-agent:{ids['planless']}:recover:1",
        f"agent-tasks:{ids['planned']}:recover:1",
        f"inbox-triage:{ids['triage']}:recover:1",
        f"ai-agent:{ids['short_timeout']}:recover:1",
    }
    tasks = await statuses(sessions)
    assert {tasks[i].status for i in requeued} == {"queued"}
    assert all((tasks[i].last_error or "").startswith("ai-agent-recovery: running since") for i in requeued)
    # And the one out of attempts is failed, saying so
    exhausted = tasks[ids["exhausted"]]
    assert exhausted.status == "failed"
    assert exhausted.finished_at is not None
    assert (exhausted.last_error or "").endswith("out of attempts (3 of 3)")
    # And the rest are as they were
    assert [tasks[ids[n]].status for n in ("fresh", "queued", "done", "failed")] == [
        "running",
        "queued",
        "done",
        "failed",
    ]

    # When the same tick runs again, and then the next tick
    again = await run_cron_job(RECOVERY)(ctx_for(RECOVERY.name, redis, sessions, now))
    following = await run_cron_job(RECOVERY)(ctx_for(RECOVERY.name, redis, sessions, now, 10))

    # Then the same tick does nothing; the next, ten minutes on, puts back only the task that was
    # fresh: it is past its timeout by then
    assert again == {"count": 0, "skipped": "tick already ran"}
    assert (following["requeued"], following["enqueued"]) == ([ids["fresh"]], 1)
    assert len(await jobs(redis)) == 5


async def test_retry_reenqueues_failed_tasks_once_their_backoff_is_over(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession], now: datetime
) -> None:
    """Backoff doubles per attempt up to a cap; a due task gets one job per attempt; exhausted are listed."""
    base = RETRY_BACKOFF_BASE.total_seconds() / 60  # minutes
    failed = {"status": "failed", "attempts": 1}
    ids = await add_tasks(
        sessions,
        first=failed | {"finished_at": ago(now, minutes=base + 1)},
        second_early=failed | {"attempts": 2, "finished_at": ago(now, minutes=base + 1)},
        second_due=failed | {"attempts": 2, "finished_at": ago(now, minutes=2 * base + 1)},
        planned=failed | {"finished_at": ago(now, minutes=base + 1), "steps": [{"type": "send_email"}]},
        triage=failed | {"kind": "inbox_triage", "finished_at": ago(now, minutes=base + 1)},
        just_failed=failed | {"finished_at": ago(now, minutes=1)},
        capped=failed | {"attempts": 9, "max_attempts": 10, "finished_at": ago(now, hours=12, minutes=1)},
        exhausted=failed | {"attempts": 3, "finished_at": ago(now, days=3)},
        done={"status": "done", "attempts": 1, "finished_at": ago(now, days=1)},
    )

    result = await run_cron_job(RETRY)(ctx_for(RETRY.name, redis, sessions, now))

    due = ("first", "second_due", "planned", "triage", "capped")
    assert result == {
        "count": 5,
        "due": 5,
        "batch": 5,
        "waiting": 2,
        "outOfAttempts": [ids["exhausted"]],
        "outOfAttemptsTotal": 1,
    }
    first_jobs = await jobs(redis)
    assert first_jobs == {
        f"ai-agent:{ids['first']}:retry:1",
        f"ai-agent:{ids['second_due']}:retry:2",
        f"agent-tasks:{ids['planned']}:retry:1",
        f"inbox-triage:{ids['triage']}:retry:1",
        f"ai-agent:{ids['capped']}:retry:9",
    }
    # The tasks stay failed until their job starts: a job Redis loses is enqueued by a later tick.
    tasks = await statuses(sessions)
    assert {tasks[ids[name]].status for name in due} == {"failed"}

    # The next tick, half an hour on and before those jobs ran, sends them no second time; the
    # two that were waiting out their backoff are due by then and go
    following = await run_cron_job(RETRY)(ctx_for(RETRY.name, redis, sessions, now, 30))
    assert (following["count"], following["due"]) == (2, 7)
    assert await jobs(redis) - first_jobs == {
        f"ai-agent:{ids['second_early']}:retry:2",
        f"ai-agent:{ids['just_failed']}:retry:1",
    }


async def test_retry_sends_a_bounded_batch_per_tick_and_lists_a_bounded_few(
    redis: ArqRedis,
    sessions: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
    now: datetime,
) -> None:
    """Five due, a batch of three: the oldest three go now, the other two once those have started."""
    monkeypatch.setattr(agents, "RETRY_BATCH", 3)
    monkeypatch.setattr(agents, "LISTED_IDS", 2)
    due = {"status": "failed", "attempts": 1, "finished_at": ago(now, days=1)}
    ids = await add_tasks(
        sessions,
        **{f"due{n}": due for n in range(5)},
        **{f"exhausted{n}": due | {"attempts": 3} for n in range(3)},
    )

    result = await run_cron_job(RETRY)(ctx_for(RETRY.name, redis, sessions, now))

    assert result == {
        "count": 3,
        "due": 5,
        "batch": 3,
        "waiting": 0,
        "outOfAttempts": [ids["exhausted0"], ids["exhausted1"]],
        "outOfAttemptsTotal": 3,
    }
    assert await jobs(redis) == {f"ai-agent:{ids[f'due{n}']}:retry:1" for n in range(3)}
    # When the batch's tries have started (each spends an attempt), the next tick sends the rest
    async with sessions.begin() as session:
        await session.execute(
            update(AgentTask)
            .where(col(AgentTask.id).in_([ids[f"due{n}"] for n in range(3)]))
            .values(status="running", attempts=2)
        )
    following = await run_cron_job(RETRY)(ctx_for(RETRY.name, redis, sessions, now, 30))
    assert (following["count"], following["due"], following["batch"]) == (2, 2, 2)
    assert f"ai-agent:{ids['due4']}:retry:1" in await jobs(redis)


FAST = {
    name: dataclasses.replace(CATALOGUE[name], retry=RetryPolicy(3, 0.05, 0.2), timeout=20)
    for name in ("ai-agent", "agent-tasks", "inbox-triage", "deal-extraction", "email-send")
}


BINDINGS: list[Binding] = [
    ("ai-agent", ai_agent.handle),
    ("agent-tasks", agent_tasks.handle),
    ("inbox-triage", inbox_triage.handle),
    ("deal-extraction", deal_extraction.handle),  # triage hands an offer on to it
    ("email-send", email_send.handle),
]


async def test_a_worker_runs_the_crons_and_the_tasks_they_put_back(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession], now: datetime
) -> None:
    """Through a worker: recovery and retry ticks re-enqueue, and the tasks then run to done."""
    # Given the sample agency, a follow-up whose worker died, a failed one due a retry,
    # and an inbox_triage task stuck in running
    await seed(sessions, now=now)
    async with sessions() as session:
        deal_id = await session.scalar(select(col(Deal.id)).where(col(Deal.stage) == "draft"))
        message_id = await session.scalar(select(col(InboxMessage.id)).limit(1))
    ids = await add_tasks(
        sessions,
        died={"kind": "follow_up", "deal_id": deal_id, "status": "running", "attempts": 1,
              "started_at": ago(now, hours=1)},
        failed={"kind": "follow_up", "deal_id": deal_id, "status": "failed", "attempts": 1,
                "finished_at": ago(now, hours=1)},
        triage={"kind": "inbox_triage", "message_id": message_id, "status": "running", "attempts": 1,
                "started_at": ago(now, hours=1)},
    )  # fmt: skip

    # When both crons' ticks are enqueued and a worker runs
    await redis.enqueue_job(RECOVERY.name, _job_id=f"{RECOVERY.name}:{tick_ms(now)}")
    await redis.enqueue_job(RETRY.name, _job_id=f"{RETRY.name}:{tick_ms(now)}")
    worker = make_worker(
        BINDINGS, [RECOVERY, RETRY], catalogue=FAST, settings_=service_settings(mail_transport="log")
    )
    await worker.async_run()

    # Then every task is done, each follow-up with its email
    tasks = await statuses(sessions)
    assert {name: (tasks[i].status, tasks[i].attempts) for name, i in ids.items()} == {
        "died": ("done", 2),
        "failed": ("done", 2),
        "triage": ("done", 2),  # inbox-triage counts its own run
    }
    # And each follow-up's email waits for the manager: nothing reached the brand
    async with sessions() as session:
        emails = list((await session.execute(select(OutboundEmail))).scalars())
        asked = list((await session.execute(select(col(Approval.source_key)))).scalars())
    assert emails == []
    assert {f"agent:{ids['died']}:0", f"agent:{ids['failed']}:0"} <= set(asked)
    # And the recovered triage classified its message once and handed it on without a failure
    async with sessions() as session:
        message = await session.get(InboxMessage, message_id)
        failed = list((await session.execute(select(col(FailedJob.job_id)))).scalars())
    assert message is not None
    assert message.category is not None
    assert failed == []


async def stuck(sessions: async_sessionmaker[AsyncSession], count: int, status: str) -> None:
    """``count`` tasks in one INSERT ... SELECT: a third each for ai-agent, agent-tasks, inbox-triage."""
    async with sessions.begin() as session:
        await session.execute(
            text(
                """
                INSERT INTO agent_tasks (kind, status, attempts, started_at, finished_at, steps)
                SELECT CASE WHEN n % 3 = 0 THEN 'inbox_triage' ELSE 'reply_to_brand' END,
                       :status, 1, CAST(:at AS timestamptz) - interval '1 day',
                       CAST(:at AS timestamptz) - interval '1 day',
                       CASE WHEN n % 3 = 1 THEN '[]'::jsonb END
                  FROM generate_series(1, :count) AS n
                """
            ),
            {"count": count, "status": status, "at": TICK},
        )


@pytest.mark.parametrize(("entry", "status"), [(RECOVERY, "running"), (RETRY, "failed")])
async def test_crons_issue_the_same_statements_for_10_tasks_as_for_10000(
    redis: ArqRedis,
    sessions: async_sessionmaker[AsyncSession],
    sql_statements: list[str],
    entry: CronEntry,
    status: str,
) -> None:
    """Set-based: the SQL statements of a tick do not grow with the tasks it handles."""
    await stuck(sessions, 10, status)
    sql_statements.clear()
    small = await run_cron_job(entry)(ctx_for(entry.name, redis, sessions, TICK, 1))
    few = list(sql_statements)

    await stuck(sessions, 10_000 - 10, status)
    sql_statements.clear()
    started = time.perf_counter()
    large = await run_cron_job(entry)(ctx_for(entry.name, redis, sessions, TICK, 2))
    elapsed = time.perf_counter() - started
    many = list(sql_statements)

    print(f"\n{entry.name}: 10,000 tasks in {elapsed:.2f}s, {len(many)} statements")
    # Each tick sends one batch of the oldest. Retry's first 10 are still failed (their tries have
    # not started): its second batch holds them again, and enqueues them no second time.
    if entry is RECOVERY:
        assert (small["count"], large["count"], large["requeuedTotal"]) == (
            10,
            RECOVERY_BATCH,
            RECOVERY_BATCH,
        )
        sent = 10 + RECOVERY_BATCH
    else:
        assert (small["count"], large["count"]) == (10, RETRY_BATCH - 10)
        sent = RETRY_BATCH
    assert len(json.dumps(large)) < 2_000  # the run's record lists a hundred ids, not ten thousand
    assert len(few) == len(many) <= 4, many
    assert len(await redis.keys("arq:job:*")) == sent


async def test_recovery_puts_back_a_bounded_batch_and_skips_rows_held_elsewhere(
    redis: ArqRedis,
    sessions: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
    now: datetime,
) -> None:
    """A batch of two per tick, oldest first; a task another transaction holds is left to the next tick."""
    monkeypatch.setattr(agents, "RECOVERY_BATCH", 2)
    stale = {"status": "running", "attempts": 1, "started_at": ago(now, hours=1)}
    ids = await add_tasks(sessions, **{f"stuck{n}": stale for n in range(4)})

    # Given the oldest stuck task locked by another transaction (a job of it starting, say)
    async with sessions.begin() as holder:
        await holder.execute(select(AgentTask).where(col(AgentTask.id) == ids["stuck0"]).with_for_update())
        # When a tick runs meanwhile: it does not wait for the lock
        first = await asyncio.wait_for(
            run_cron_job(RECOVERY)(ctx_for(RECOVERY.name, redis, sessions, now)), 10
        )

    # Then it put back the two oldest it could take
    assert (first["count"], first["requeued"]) == (2, [ids["stuck1"], ids["stuck2"]])
    # And the next tick, the rest
    following = await run_cron_job(RECOVERY)(ctx_for(RECOVERY.name, redis, sessions, now, 10))
    assert (following["count"], following["requeued"]) == (2, [ids["stuck0"], ids["stuck3"]])
    assert await jobs(redis) == {f"ai-agent:{ids[f'stuck{n}']}:recover:1" for n in range(4)}


async def test_steps_that_are_no_list_are_failed_for_good_not_resent_forever(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession], now: datetime
) -> None:
    """Steps JSON but no list: routed by ai-agent's rule to agent-tasks, which fails the task, naming why."""
    # Given failed tasks due a retry: one whose steps are an object, one whose steps are JSON null
    await seed(sessions, now=now)
    async with sessions() as session:
        deal_id = await session.scalar(select(col(Deal.id)).where(col(Deal.stage) == "draft"))
    failed = {"kind": "follow_up", "deal_id": deal_id, "status": "failed", "attempts": 1,
              "finished_at": ago(now, hours=1)}  # fmt: skip
    ids = await add_tasks(sessions, garbled=failed, planless=failed)
    async with sessions.begin() as session:
        await session.execute(
            text("UPDATE agent_tasks SET steps = CAST(:steps AS jsonb) WHERE id = :id"),
            [
                {"id": ids["garbled"], "steps": '{"send_email": "hi"}'},
                {"id": ids["planless"], "steps": "null"},
            ],
        )

    # When ai-agent-retry runs
    result = await run_cron_job(RETRY)(ctx_for(RETRY.name, redis, sessions, now))

    # Then the garbled one goes to agent-tasks (ai-agent would call its steps decided and leave them)
    assert result["count"] == 2
    assert await jobs(redis) == {
        f"agent-tasks:{ids['garbled']}:retry:1",
        f"ai-agent:{ids['planless']}:retry:1",
    }

    # When a worker runs the jobs
    await make_worker(BINDINGS, catalogue=FAST, settings_=service_settings(mail_transport="log")).async_run()

    # Then the garbled task is failed for good, saying why, and the next tick sends nothing for it
    tasks = await statuses(sessions)
    garbled = tasks[ids["garbled"]]
    assert (garbled.status, garbled.attempts, garbled.max_attempts) == ("failed", 2, 2)
    assert (
        garbled.last_error
        == f"agent-tasks: PermanentJobError: agent task {ids['garbled']}: steps must be a list, got dict"
    )
    assert tasks[ids["planless"]].status == "done"
    following = await run_cron_job(RETRY)(ctx_for(RETRY.name, redis, sessions, now, 30))
    assert (following["count"], following["due"], following["outOfAttempts"]) == (0, 0, [ids["garbled"]])
