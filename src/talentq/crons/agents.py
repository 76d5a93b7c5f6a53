"""Agent task crons: ai-agent-recovery puts back tasks whose worker died; ai-agent-retry re-runs failed ones.

Both work in sets (one SQL statement each, whatever the number of tasks) and fan out with
one ``enqueue_many`` per target queue: ``ai-agent`` for a task without steps,
``agent-tasks`` for one with steps, ``inbox-triage`` for an inbox_triage task. Job ids carry
the task, the reason and its attempt count, so a repeated tick enqueues nothing new while a
new attempt gets a job of its own. The task lifecycle is in ``talentq.agent_lifecycle``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Final

from sqlalchemy import text
from sqlalchemy.engine import Row

from talentq.agent_lifecycle import queue_for, task_job_id
from talentq.db.domain import AgentTask
from talentq.db.models import utcnow
from talentq.jobs import JobContext, uses_tables

#: ai-agent-retry waits this long after a task's first failure, doubling per attempt spent...
RETRY_BACKOFF_BASE: Final = timedelta(minutes=15)
#: ...up to this. With a tick every 30 minutes: retried after 15 min, 30 min, 1 h, 2 h ... 12 h.
RETRY_BACKOFF_CAP: Final = timedelta(hours=12)
#: A result lists at most this many ids per kind (and always their total): it is logged and stored.
LISTED_IDS: Final = 100

# Running past its own timeout_s since its last try started (the heartbeat every try of
# ai-agent and agent-tasks refreshes): the worker died under it. Back to queued while it
# has attempts left, else failed, so a task that kills its worker every time cannot loop.
_RECOVER: Final = text(
    """
    UPDATE agent_tasks
       SET status = CASE WHEN attempts < max_attempts THEN 'queued' ELSE 'failed' END,
           finished_at = CASE WHEN attempts < max_attempts THEN NULL ELSE CAST(:now AS timestamptz) END,
           last_error = 'ai-agent-recovery: running since ' || started_at
                        || ', past its ' || timeout_s || 's timeout (its worker died?)'
                        || CASE WHEN attempts < max_attempts THEN ''
                                ELSE '; out of attempts (' || attempts || ' of ' || max_attempts || ')' END
     WHERE status = 'running'
       AND started_at < CAST(:now AS timestamptz) - make_interval(secs => timeout_s)
    RETURNING id, kind, status, attempts, coalesce(jsonb_typeof(steps) = 'array', false) AS has_steps
    """
)

# Every failed task: those with attempts left whose backoff (from when they failed) is over
# are due; the rest wait, or are out of attempts.
_FAILED: Final = text(
    """
    SELECT id, kind, attempts, coalesce(jsonb_typeof(steps) = 'array', false) AS has_steps,
           attempts < max_attempts AS has_attempts,
           coalesce(finished_at, started_at, created_at)
             <= CAST(:now AS timestamptz) - make_interval(secs => least(
                  CAST(:cap AS float8), CAST(:base AS float8) * power(2, greatest(attempts - 1, 0))
                )) AS due
      FROM agent_tasks
     WHERE status = 'failed'
     ORDER BY id
    """
)


@uses_tables(AgentTask)
async def ai_agent_recovery(ctx: JobContext) -> dict[str, Any]:
    """One UPDATE ... RETURNING puts stuck tasks back; their jobs go out before it commits.

    If Redis refuses the jobs the UPDATE rolls back and the next tick tries again; a job that
    starts before the commit waits on the task's row lock, then finds it queued.
    """
    async with ctx["sessions"].begin() as session:
        rows = (await session.execute(_RECOVER, {"now": utcnow()})).all()
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
    """One SELECT finds the failed tasks; the due ones are enqueued, the rest reported.

    The task stays ``failed`` until its job's try starts (and spends an attempt), so a job that
    Redis lost is simply enqueued again by a later tick.
    """
    params = {
        "now": utcnow(),
        "base": RETRY_BACKOFF_BASE.total_seconds(),
        "cap": RETRY_BACKOFF_CAP.total_seconds(),
    }
    async with ctx["sessions"]() as session:
        rows = (await session.execute(_FAILED, params)).all()
    due = [row for row in rows if row.has_attempts and row.due]
    exhausted = [row.id for row in rows if not row.has_attempts]
    enqueued = await _fan_out(ctx, due, "retry")
    return {
        "count": enqueued,
        "due": len(due),
        "waiting": sum(1 for row in rows if row.has_attempts and not row.due),
        "outOfAttempts": exhausted[:LISTED_IDS],
        "outOfAttemptsTotal": len(exhausted),
    }


async def _fan_out(ctx: JobContext, rows: Sequence[Row[Any]], why: str) -> int:
    """One ``enqueue_many`` per target queue; returns how many jobs were new."""
    by_queue: dict[str, list[Row[Any]]] = {}
    for row in rows:
        by_queue.setdefault(queue_for(row.kind, row.has_steps), []).append(row)
    enqueued = 0
    for queue, group in sorted(by_queue.items()):
        ids = await ctx["producer"].enqueue_many(
            queue,
            [{"taskId": row.id} for row in group],
            job_ids=[task_job_id(queue, row.id, row.attempts, why) for row in group],
        )
        enqueued += sum(job is not None for job in ids)
    return enqueued
