"""inbox-triage: classify a task's message once with the AI provider, store it, hand an offer on.

Reads ``agent_tasks`` and ``inbox_messages``; writes the message's ``category`` and
``triaged_at``, the task's ``steps`` (the one classification: category, confidence, reasons)
and its status, and enqueues ``deal-extraction`` for a message classified ``deal_offer``. That
classification is the pipeline's only one: deal-extraction reads the stored category rather
than asking the provider again.

The task lives the agent-task lifecycle (``talentq.db.agent_tasks``): running, one attempt
spent, while a try works; done; or failed once the job's last try fails (at once for what no
retry can fix), and then ai-agent-retry's to run again, as ai-agent-recovery's when its worker
died under it.

No transaction is open while the provider works (the rule of ``talentq.deals``): the message is
read in a session of its own, which is closed, classified with no session open, and the result
is written under the task's and the message's row locks, after checking that the message is
still the text that was classified. Safe to re-run: a task already done is not classified
again, only handed on again under the same job id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import select
from sqlmodel import col

from talentq import job_ids
from talentq.db.agent_tasks import failures_recorded, locked_task, start_try
from talentq.db.inbox import MessageChanged
from talentq.db.models import utcnow
from talentq.db.tables import AgentTask, InboxMessage, TaskStatus
from talentq.domain.agents import TRIAGE_QUEUE
from talentq.domain.mail import Classification
from talentq.domain.vocabulary import MessageCategory
from talentq.errors import PermanentJobError, QueueRefusedError
from talentq.jobs import JobContext, is_last_try, uses_tables
from talentq.queues import DEAL_EXTRACTION, MessageRef, TaskRef

QUEUE: Final = TRIAGE_QUEUE
#: The category whose message deal-extraction turns into a draft deal.
OFFER: Final = MessageCategory.DEAL_OFFER.value


@dataclass(frozen=True)
class ReadMessage:
    """A message as read for the AI provider: what is sent to it, and checked again before writing."""

    id: int
    subject: str
    body: str
    sender: str


@uses_tables(AgentTask, InboxMessage)
async def handle(ctx: JobContext, payload: TaskRef) -> dict[str, Any]:
    async with locked_task(ctx["sessions"], payload.task_id, QUEUE) as task:
        done = task.status == TaskStatus.DONE
        if not done:
            start_try(task)
    if done:
        # Classified by an earlier run, which may have died before handing the offer on: the
        # job id makes handing it on again a no-op if it did not.
        category = stored_category(task)
        return {
            "taskId": task.id,
            "status": "already_done",
            "category": category,
            "dealExtractionEnqueued": await _hand_on(ctx, task.message_id, category),
        }

    async with failures_recorded(
        ctx["sessions"], payload.task_id, QUEUE, job_try=ctx["job_try"], last_try=is_last_try(ctx, QUEUE)
    ):
        message = await _read(ctx, task)
        # Classified with no session open: the provider may be a remote model that takes
        # seconds, and a connection (or a row lock) held that long would starve other jobs.
        verdict = await ctx["ai"].classify_message(message.subject, message.body, sender=message.sender)
        category, stored = await _write(ctx, payload.task_id, message, verdict)
    return {
        "taskId": payload.task_id,
        "messageId": message.id,
        "status": "done" if stored else "already_done",
        "category": category,
        "dealExtractionEnqueued": await _hand_on(ctx, message.id, category),
    }


async def _read(ctx: JobContext, task: AgentTask) -> ReadMessage:
    """The task's message; a task without one, or whose message is gone, fails for good, saying so."""
    if task.message_id is None:
        raise PermanentJobError(f"agent task {task.id} (kind {task.kind}) has no message to triage")
    async with ctx["sessions"]() as session:
        message = await session.get(InboxMessage, task.message_id)
    if message is None or message.id is None:
        raise PermanentJobError(f"inbox message {task.message_id} of agent task {task.id} not found")
    return ReadMessage(message.id, message.subject, message.body, message.sender)


async def _write(
    ctx: JobContext, task_id: int, read: ReadMessage, verdict: Classification
) -> tuple[str | None, bool]:
    """Store the verdict on the message and finish the task; (the category that stands, stored now?).

    Under the task's row lock, then the message's. A task another run finished meanwhile keeps
    that run's verdict; a message whose text changed meanwhile raises ``MessageChanged``.
    """
    async with ctx["sessions"].begin() as session:
        task = await session.get(AgentTask, task_id, with_for_update=True)
        if task is None:
            raise PermanentJobError(
                f"agent task {task_id} not found (deleted while its message was classified)"
            )
        if task.status == TaskStatus.DONE:
            return stored_category(task), False
        message = (
            await session.execute(
                select(InboxMessage).where(col(InboxMessage.id) == read.id).with_for_update()
            )
        ).scalar_one_or_none()
        if message is None:
            raise PermanentJobError(f"inbox message {read.id} of agent task {task_id} not found")
        if task.message_id != read.id or (message.subject, message.body) != (read.subject, read.body):
            raise MessageChanged(
                f"inbox message {read.id} of agent task {task_id} changed while it was classified: "
                "the retry classifies it again"
            )
        now = utcnow()
        message.category, message.triaged_at = verdict.category, now
        task.steps = [
            {"category": verdict.category, "confidence": verdict.confidence, "reasons": verdict.reasons}
        ]
        task.steps_done = 1
        task.status = TaskStatus.DONE
        task.finished_at = now
    return verdict.category, True


def stored_category(task: AgentTask) -> str | None:
    """The category a done triage task stored in its one step, if it holds one."""
    steps = task.steps
    if isinstance(steps, list) and steps and isinstance(steps[0], dict):
        category = steps[0].get("category")
        return category if isinstance(category, str) else None
    return None


async def _hand_on(ctx: JobContext, message_id: int | None, category: str | None) -> bool:
    """Enqueue deal-extraction for an offer; True when a job was enqueued now."""
    if category != OFFER or message_id is None:
        return False
    try:
        job = await ctx["producer"].enqueue(
            DEAL_EXTRACTION, MessageRef(message_id=message_id), job_id=job_ids.deal_extraction(message_id)
        )
    except QueueRefusedError as exc:
        # A queue refused by the catalogue stays refused: no retry can hand the offer on.
        raise PermanentJobError(
            f"inbox message {message_id} is an offer, but its deal-extraction job was refused: {exc}"
        ) from exc
    return job is not None
