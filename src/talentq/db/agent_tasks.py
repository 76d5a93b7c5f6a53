"""The life of an AI agent task's row, shared by ai-agent, agent-tasks, inbox-triage and the agent crons.

::

    queued --(a try starts: attempts+1)--> running --(steps executed)--> done
                                             |  ^
      a permanent error, or a transient one  |  |  ai-agent-retry: attempts left, backoff over
      on the wrapper's last try: failed  <---+  +---- failed
      ai-agent-recovery: running past timeout_s (the worker died, or the try was cancelled)
      -> queued, or failed when no attempts are left

``attempts`` counts runs of the task, not the wrapper's tries: a try that finds the task
already running (the wrapper's retry, arq re-running a job whose worker died) refreshes
``started_at`` (the heartbeat ai-agent-recovery reads) without spending an attempt.

A failure is recorded on the task by ``failures_recorded`` (``last_error``; ``failed`` once no
retry of the job follows). A cancellation (the wrapper's timeout, or a worker shutting down:
from inside the job the two look the same) is noted in ``last_error`` only, within
``CANCELLED_RECORD_TIMEOUT_S``, and the task is left running: arq re-runs a job a shutdown
interrupted, and a try that never comes back is ai-agent-recovery's (queued again past the
task's ``timeout_s``, or failed once out of attempts). Marking it failed here would let
ai-agent-retry start a second run beside the one arq resumes.

A *permanent* failure (bad input, a task no provider can plan) must not be retried by
ai-agent-retry either. The status column allows only queued/running/done/failed and this
schema is fixed, so "failed for good" is expressed with the columns there are: the task's
``max_attempts`` is lowered to the ``attempts`` it used ("failed, 1 of 1"), which is exactly
what ai-agent-retry treats as out of attempts, and ``last_error`` says why. To run it again
after fixing its data, raise its ``max_attempts`` (and ai-agent-retry picks it up) or set it
``queued`` and enqueue it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

from loguru import logger
from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from talentq.db.models import utcnow
from talentq.db.tables import AgentTask, TaskStatus
from talentq.domain.agents import TRIAGE_KIND, TRIAGE_QUEUE, queue_for
from talentq.errors import ConfigError, PermanentJobError, ServiceRefusedError

#: Errors the job wrapper dead-letters at once: for the task too, retrying cannot help.
PERMANENT_ERRORS: Final = (PermanentJobError, ConfigError, ServiceRefusedError)
#: A cancelled job notes it on its task within this long, or not at all: the cancellation (a
#: timeout whose dead letter is waiting, a worker shutting down) must not wait on the database.
CANCELLED_RECORD_TIMEOUT_S: Final = 3.0
_ERROR_CHARS: Final = 2000


@asynccontextmanager
async def locked_task(
    sessions: async_sessionmaker[AsyncSession], task_id: int, queue: str
) -> AsyncIterator[AgentTask]:
    """The task, locked (FOR UPDATE) until the block ends; changes made to it commit then.

    Refuses, as permanent, a task that does not exist or that another queue runs: an
    inbox_triage task is inbox-triage's alone, and inbox-triage runs no other kind. The task is
    left as it is then: it is not this queue's to fail.
    """
    async with sessions.begin() as session:
        task = await session.get(AgentTask, task_id, with_for_update=True)
        if task is None:
            raise PermanentJobError(f"agent task {task_id} not found")
        if task.kind == TRIAGE_KIND and queue != TRIAGE_QUEUE:
            raise PermanentJobError(
                f"agent task {task_id} is of kind {TRIAGE_KIND!r}: "
                f"the {TRIAGE_QUEUE} queue runs it, not {queue!r}"
            )
        if task.kind != TRIAGE_KIND and queue == TRIAGE_QUEUE:
            raise PermanentJobError(
                f"agent task {task_id} is of kind {task.kind!r}, not {TRIAGE_KIND!r}: "
                f"the {queue_for(task.kind, task.steps is not None)} queue runs it, not {queue!r}"
            )
        yield task


def start_try(task: AgentTask) -> None:
    """Mark a locked task running for this try; a run from queued or failed spends an attempt."""
    if task.status == TaskStatus.FAILED and task.attempts >= task.max_attempts:
        raise PermanentJobError(
            f"agent task {task.id} failed and is out of attempts ({task.attempts} of {task.max_attempts}): "
            f"raise its max_attempts to run it again (last error: {task.last_error})"
        )
    if task.status in (TaskStatus.QUEUED, TaskStatus.FAILED):
        task.attempts += 1
    task.status = TaskStatus.RUNNING
    task.started_at = utcnow()
    task.finished_at = None


@asynccontextmanager
async def failures_recorded(
    sessions: async_sessionmaker[AsyncSession], task_id: int, queue: str, *, job_try: int, last_try: bool
) -> AsyncIterator[None]:
    """Record on the task whatever error ends the block, then let the error through unchanged.

    ``job_try`` is the job's try, ``last_try`` whether no retry of the job follows (the wrapper's
    ``talentq.jobs.is_last_try``). Open no session around this block: the record takes a
    connection of its own.
    """
    try:
        yield
    except asyncio.CancelledError as exc:
        # The wrapper's timeout cancels the job (``except Exception`` never sees it). Note it
        # quickly; a record that fails or takes too long is logged, and the cancellation goes on.
        try:
            async with asyncio.timeout(CANCELLED_RECORD_TIMEOUT_S):
                await record_failure(sessions, task_id, exc, queue, job_try=job_try, last_try=last_try)
        except Exception as record_error:
            logger.warning("agent task {}: could not record its cancellation: {!r}", task_id, record_error)
        raise
    except Exception as exc:
        # The job's own error decides what the wrapper does (a permanent one is dead-lettered,
        # not retried): an error of the record (the database gone) must not take its place.
        try:
            await record_failure(sessions, task_id, exc, queue, job_try=job_try, last_try=last_try)
        except Exception as record_error:
            logger.warning(
                "agent task {}: could not record its failure ({}: {}): {!r}",
                task_id,
                type(exc).__name__,
                exc,
                record_error,
            )
        raise


async def record_failure(
    sessions: async_sessionmaker[AsyncSession],
    task_id: int,
    exc: BaseException,
    queue: str,
    *,
    job_try: int,
    last_try: bool,
) -> None:
    """Note ``exc`` on the task; fail it when no retry of this job follows.

    The job wrapper retries a transient error until the queue's last try (the catalogue the
    worker runs with); until then the task stays running with its ``last_error``. A
    cancellation never fails it: see the module's docstring.
    """
    permanent = isinstance(exc, PERMANENT_ERRORS)
    cancelled = isinstance(exc, asyncio.CancelledError)
    if cancelled:
        message = f"{queue}: cancelled on try {job_try} (the job's timeout, or a worker shutting down)"
    else:
        message = f"{queue}: {type(exc).__name__}: {exc}"
    values: dict[str, object] = {"last_error": message[:_ERROR_CHARS]}
    if permanent or (last_try and not cancelled):
        values.update(status=TaskStatus.FAILED, finished_at=utcnow())
    if permanent:
        values["max_attempts"] = func.least(col(AgentTask.max_attempts), col(AgentTask.attempts))
    async with sessions.begin() as session:
        await session.execute(
            update(AgentTask)
            .where(col(AgentTask.id) == task_id, col(AgentTask.status) != TaskStatus.DONE)
            .values(**values)
        )
