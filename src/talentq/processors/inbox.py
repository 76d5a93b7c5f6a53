"""inbox: route a stored message to its triage: an inbox_triage task plus its inbox-triage job.

Reads ``inbox_messages``, writes ``agent_tasks`` and ``inbox_messages.routed_at``. The
message is not classified here: inbox-triage classifies it, once, stores the category and
hands an offer on to deal-extraction (``talentq.processors.inbox_triage``), so no step of the
pipeline asks the AI provider what another step already asked it. Safe to re-run: the task is
unique per (kind, message) and its job has an id derived from it, so a retry neither duplicates
the task nor enqueues twice.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col

from talentq import job_ids
from talentq.db.models import utcnow
from talentq.db.tables import AgentTask, InboxMessage
from talentq.domain.agents import TRIAGE_KIND
from talentq.errors import PermanentJobError
from talentq.jobs import JobContext, uses_tables
from talentq.queues import INBOX_TRIAGE, MessageRef, TaskRef


@uses_tables(InboxMessage, AgentTask)
async def handle(ctx: JobContext, payload: MessageRef) -> dict[str, Any]:
    async with ctx["sessions"].begin() as session:
        found = await session.scalar(
            select(col(InboxMessage.id)).where(col(InboxMessage.id) == payload.message_id)
        )
        if found is None:
            raise PermanentJobError(f"inbox message {payload.message_id} not found")
        await session.execute(
            insert(AgentTask)
            .values(kind=TRIAGE_KIND, message_id=payload.message_id, input={"messageId": payload.message_id})
            .on_conflict_do_nothing(
                index_elements=["kind", "message_id"], index_where=text("message_id IS NOT NULL")
            )
        )
        task_id = await session.scalar(
            select(col(AgentTask.id)).where(
                col(AgentTask.kind) == TRIAGE_KIND, col(AgentTask.message_id) == payload.message_id
            )
        )
    assert task_id is not None  # the upsert above made it, or found it
    # Enqueued once the task has committed: a job never names a task a rollback took back. A
    # crash before routed_at is set leaves the message for gmail-ingest's next run to route
    # again, and the job id makes that enqueue a no-op while this job waits or its result is kept.
    job = await ctx["producer"].enqueue(
        INBOX_TRIAGE, TaskRef(task_id=task_id), job_id=job_ids.triage(task_id)
    )
    async with ctx["sessions"].begin() as session:
        await session.execute(
            update(InboxMessage).where(col(InboxMessage.id) == payload.message_id).values(routed_at=utcnow())
        )
    return {"taskId": task_id, "triageEnqueued": job is not None}
