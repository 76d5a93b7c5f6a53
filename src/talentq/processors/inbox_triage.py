"""inbox-triage: classify a task's message with the AI provider; store the category; finish the task.

Reads ``agent_tasks`` and ``inbox_messages``, writes both. Safe to re-run: a task already
done is left as it is.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlmodel import col

from talentq.db.domain import AgentTask, InboxMessage, TaskStatus
from talentq.db.models import utcnow
from talentq.errors import PermanentJobError
from talentq.integrations.ai import AIProvider, make_ai_provider
from talentq.jobs import JobContext, uses_tables
from talentq.queues import TaskRef


@uses_tables(AgentTask, InboxMessage)
async def handle(ctx: JobContext, payload: TaskRef) -> dict[str, Any]:
    async with ctx["sessions"].begin() as session:
        task = await session.get(AgentTask, payload.task_id)
        if task is None:
            raise PermanentJobError(f"agent task {payload.task_id} not found")
        if task.status == TaskStatus.DONE:
            return {
                "taskId": task.id,
                "status": "already_done",
                "category": (task.steps or [{}])[0].get("category"),
            }
        if task.kind != "inbox_triage":
            raise PermanentJobError(f"agent task {task.id} is a {task.kind!r} task, not an inbox_triage one")
        if task.message_id is None:
            raise PermanentJobError(f"agent task {task.id} (kind {task.kind}) has no message to triage")
        message = await session.get(InboxMessage, task.message_id)
        if message is None:
            raise PermanentJobError(f"inbox message {task.message_id} of agent task {task.id} not found")
        verdict = await _ai(ctx).classify_message(message.subject, message.body)
        now = utcnow()
        await session.execute(
            update(InboxMessage)
            .where(col(InboxMessage.id) == message.id)
            .values(category=verdict.category, triaged_at=now)
        )
        step = {"category": verdict.category, "confidence": verdict.confidence, "reasons": verdict.reasons}
        await session.execute(
            update(AgentTask)
            .where(col(AgentTask.id) == task.id)
            .values(
                status=TaskStatus.DONE,
                steps=[step],
                steps_done=1,
                finished_at=now,
                attempts=AgentTask.attempts + 1,
            )
        )
    return {"taskId": payload.task_id, "messageId": message.id, "category": verdict.category}


def _ai(ctx: JobContext) -> AIProvider:
    return make_ai_provider(ctx["settings"], ctx["http"])
