"""inbox: route a stored message: an inbox_triage task plus its job, and deal-extraction for offers.

Reads ``inbox_messages``, writes ``agent_tasks`` and ``inbox_messages.routed_at``. Safe to
re-run: the task is unique per (kind, message) and both jobs have ids derived from it, so
a retry neither duplicates the task nor enqueues twice.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col

from talentq.db.domain import AgentTask, InboxMessage
from talentq.db.models import utcnow
from talentq.errors import PermanentJobError
from talentq.integrations.ai import AIProvider, make_ai_provider
from talentq.jobs import JobContext, uses_tables
from talentq.queues import MessageRef

TRIAGE_KIND = "inbox_triage"


@uses_tables(InboxMessage, AgentTask)
async def handle(ctx: JobContext, payload: MessageRef) -> dict[str, Any]:
    async with ctx["sessions"].begin() as session:
        message = await session.get(InboxMessage, payload.message_id)
        if message is None:
            raise PermanentJobError(f"inbox message {payload.message_id} not found")
        await session.execute(
            insert(AgentTask)
            .values(kind=TRIAGE_KIND, message_id=message.id, input={"messageId": message.id})
            .on_conflict_do_nothing(
                index_elements=["kind", "message_id"], index_where=text("message_id IS NOT NULL")
            )
        )
        task_id = await session.scalar(
            select(col(AgentTask.id)).where(
                col(AgentTask.kind) == TRIAGE_KIND, col(AgentTask.message_id) == message.id
            )
        )
        verdict = await _ai(ctx).classify_message(message.subject, message.body)
        looks_like_offer = verdict.category == "deal_offer"

    producer = ctx["producer"]
    await producer.enqueue("inbox-triage", {"taskId": task_id}, job_id=f"inbox-triage:{task_id}")
    if looks_like_offer:
        await producer.enqueue(
            "deal-extraction",
            {"messageId": payload.message_id},
            job_id=f"deal-extraction:{payload.message_id}",
        )
    async with ctx["sessions"].begin() as session:
        await session.execute(
            update(InboxMessage).where(col(InboxMessage.id) == payload.message_id).values(routed_at=utcnow())
        )
    return {"taskId": task_id, "dealExtraction": looks_like_offer}


def _ai(ctx: JobContext) -> AIProvider:
    return make_ai_provider(ctx["settings"], ctx["http"])
