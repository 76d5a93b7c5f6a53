"""Agent task crons: ai-agent-recovery puts back tasks whose worker died; ai-agent-retry re-runs failed ones.

Both work in sets (one SQL statement each, whatever the number of tasks) and fan out with
one fan-out per target queue: ``ai-agent`` for a task without steps,
``agent-tasks`` for one with steps, ``inbox-triage`` for an inbox_triage task. "With steps"
is ai-agent's own rule (steps not null): steps that are JSON but not a list go to agent-tasks,
which fails the task for good naming why, rather than to ai-agent, which would leave them be.
Job ids carry the task, the reason and its attempt count, so a repeated tick enqueues nothing
new while a new attempt gets a job of its own. The task lifecycle is in ``talentq.db.agent_tasks``.
"Now" is the run's tick (``talentq.jobs.tick_time``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Final

from sqlalchemy import text
from sqlalchemy.engine import Row

from talentq import job_ids
from talentq.db.tables import AgentTask
from talentq.domain.agents import queue_for
from talentq.jobs import JobContext, tick_time, uses_tables
from talentq.queues import CATALOGUE, TaskRef

#: The crons' names in the schedule: each run's tick is its "now" (see ``talentq.jobs.tick_time``).
AI_AGENT_RECOVERY: Final = "ai-agent-recovery"
AI_AGENT_RETRY: Final = "ai-agent-retry"

#: ai-agent-retry waits this long after a task's first failure, doubling per attempt spent...
RETRY_BACKOFF_BASE: Final = timedelta(minutes=15)
#: ...up to this. With a tick every 30 minutes: retried after 15 min, 30 min, 1 h, 2 h ... 12 h.
RETRY_BACKOFF_CAP: Final = timedelta(hours=12)
#: A result lists at most this many ids per kind (and always their total): it is logged and stored.
LISTED_IDS: Final = 100
#: ai-agent-retry re-enqueues at most this many tasks per tick (4,000 an hour at one tick every 30
#: minutes), oldest ids first; the rest stay due and go on the next ticks. A backlog left by an
#: outage then drains without flooding the queue and the AI provider at once, and a tick reads
#: and sends a bounded number of rows however many tasks failed.
RETRY_BATCH: Final = 2_000
#: ai-agent-recovery puts back at most this many stuck tasks per tick (12,000 an hour at one tick
#: every 10 minutes), oldest ids first, so a tick's transaction, held while their jobs are sent,
#: stays short however many tasks a dead worker pool left behind; the rest go on the next ticks.
RECOVERY_BATCH: Final = 2_000

# A task "has steps" by ai-agent's rule: steps set, and not JSON null (what an ORM insert of
# None writes). Tasks with steps that are no list are carried to agent-tasks, which refuses them.
_HAS_STEPS: Final = "coalesce(jsonb_typeof(steps), 'null') <> 'null'"

# Running past its own timeout_s since its last try started (the heartbeat every try of
# ai-agent, agent-tasks and inbox-triage refreshes): the worker died under it. Back to queued
# while it has attempts left, else failed, so a task that kills its worker every time cannot loop.
# At most RECOVERY_BATCH of them, oldest first; a row another transaction holds is skipped
# (the next tick sees it) rather than waited for.
_RECOVER: Final = text(
    f"""
    UPDATE agent_tasks
       SET status = CASE WHEN attempts < max_attempts THEN 'queued' ELSE 'failed' END,
           finished_at = CASE WHEN attempts < max_attempts THEN NULL ELSE CAST(:now AS timestamptz) END,
           last_error = 'ai-agent-recovery: running since ' || started_at
                        || ', past its ' || timeout_s || 's timeout (its worker died?)'
                        || CASE WHEN attempts < max_attempts THEN ''
                                ELSE '; out of attempts (' || attempts || ' of ' || max_attempts || ')' END
     WHERE id IN (
        SELECT id
          FROM agent_tasks
         WHERE status = 'running'
           AND started_at < CAST(:now AS timestamptz) - make_interval(secs => timeout_s)
         ORDER BY id
         LIMIT CAST(:batch AS int)
           FOR UPDATE SKIP LOCKED
     )
    RETURNING id, kind, status, attempts, {_HAS_STEPS} AS has_steps
    """
)

# The failed tasks, in one statement: a summary row (how many are due, waiting out their
# backoff, out of attempts, and the first LISTED_IDS of those out of attempts), joined to at
# most RETRY_BATCH due tasks, oldest first. A task is due once its backoff, counted from when
# it failed, is over and it has attempts left. No due task: the summary row alone.
_FAILED: Final = text(
    f"""
    WITH failed AS (
        SELECT id, kind, attempts, {_HAS_STEPS} AS has_steps,
               attempts < max_attempts AS has_attempts,
               coalesce(finished_at, started_at, created_at)
                 <= CAST(:now AS timestamptz) - make_interval(secs => least(
                      CAST(:cap AS float8), CAST(:base AS float8) * power(2, greatest(attempts - 1, 0))
                    )) AS due
          FROM agent_tasks
         WHERE status = 'failed'
    ), listed AS (
        SELECT id FROM failed WHERE NOT has_attempts ORDER BY id LIMIT CAST(:listed AS int)
    ), summary AS (
        SELECT count(*) FILTER (WHERE has_attempts AND due) AS due_total,
               count(*) FILTER (WHERE has_attempts AND NOT due) AS waiting,
               count(*) FILTER (WHERE NOT has_attempts) AS exhausted_total,
               ARRAY(SELECT id FROM listed ORDER BY id) AS exhausted_ids
          FROM failed
    ), batch AS (
        SELECT id, kind, attempts, has_steps
          FROM failed
         WHERE has_attempts AND due
         ORDER BY id
         LIMIT CAST(:batch AS int)
    )
    SELECT summary.*, batch.id, batch.kind, batch.attempts, batch.has_steps
      FROM summary LEFT JOIN batch ON true
     ORDER BY batch.id
    """
)


@uses_tables(AgentTask)
async def ai_agent_recovery(ctx: JobContext) -> dict[str, Any]:
    """One UPDATE ... RETURNING puts a batch of stuck tasks back; their jobs go out before it commits.

    If Redis refuses the jobs the UPDATE rolls back and the next tick tries again; a job that
    starts before the commit waits on the task's row lock, then finds it queued.
    """
    now = tick_time(ctx, AI_AGENT_RECOVERY)
    async with ctx["sessions"].begin() as session:
        # RETURNING keeps no order: sorted, the result lists the oldest ids, as retry's does.
        rows = sorted(
            (await session.execute(_RECOVER, {"now": now, "batch": RECOVERY_BATCH})).all(),
            key=lambda row: int(row.id),
        )
        requeued = [row for row in rows if row.status == "queued"]
        enqueued = await _fan_out(ctx, requeued, "recover")
    failed = [row.id for row in rows if row.status == "failed"]
    return {
        "count": len(rows),
        "requeued": [row.id for row in requeued[:LISTED_IDS]],
        "requeuedTotal": len(requeued),
        "failed": failed[:LISTED_IDS],
        "failedTotal": len(failed),
        "enqueued": enqueued,
    }


@uses_tables(AgentTask)
async def ai_agent_retry(ctx: JobContext) -> dict[str, Any]:
    """One SELECT counts the failed tasks and picks a batch of the due ones, which are enqueued.

    The task stays ``failed`` until its job's try starts (and spends an attempt), so a job that
    Redis lost is simply enqueued again by a later tick. While a batch's jobs wait for a worker,
    the next tick picks the same tasks and their job ids make it enqueue nothing: retries never
    pile up faster than the workers take them.
    """
    params = {
        "now": tick_time(ctx, AI_AGENT_RETRY),
        "base": RETRY_BACKOFF_BASE.total_seconds(),
        "cap": RETRY_BACKOFF_CAP.total_seconds(),
        "listed": LISTED_IDS,
        "batch": RETRY_BATCH,
    }
    async with ctx["sessions"]() as session:
        rows = (await session.execute(_FAILED, params)).all()
    summary = rows[0]  # the summary row is there even when no task failed
    batch = [row for row in rows if row.id is not None]
    enqueued = await _fan_out(ctx, batch, "retry")
    return {
        "count": enqueued,
        "due": summary.due_total,
        "batch": len(batch),
        "waiting": summary.waiting,
        "outOfAttempts": list(summary.exhausted_ids),
        "outOfAttemptsTotal": summary.exhausted_total,
    }


async def _fan_out(ctx: JobContext, rows: Sequence[Row[Any]], why: str) -> int:
    """One fan-out per target queue; returns how many jobs were new (a task id is always valid)."""
    by_queue: dict[str, list[Row[Any]]] = {}
    for row in rows:
        by_queue.setdefault(queue_for(row.kind, row.has_steps), []).append(row)
    enqueued = 0
    for queue, group in sorted(by_queue.items()):

        def job_id(row: Row[Any], queue: str = queue) -> str:
            return job_ids.agent_task(queue, row.id, row.attempts, why)

        fan = await ctx["producer"].fan_out(
            CATALOGUE[queue], group, payload=lambda row: TaskRef(task_id=row.id), job_id=job_id
        )
        enqueued += fan.enqueued
    return enqueued
