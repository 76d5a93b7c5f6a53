"""agent-tasks: execute an agent task's stored steps in order, recording progress after each.

Reads ``agent_tasks``; writes ``deals`` (stage), ``outreach_actions``, follow-up
``agent_tasks``, ``approvals`` (an email the agent wrote waits for its approver; one to the
manager alone is sent) and the task's ``steps_done``/status, and enqueues ``ai-agent``. Safe to
re-run: a step's effect and its ``steps_done`` commit together under
the task's row lock, and what leaves the database (a job) has an id derived from the task and
the step's index, so a retry resumes after the last completed step and repeats none. Each step
first reads its deal's stage again: once the deal has left negotiation (lost, contracted), the
rest of the plan is skipped and the task is done. One job holds one database connection at a time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from talentq import approvals, job_ids
from talentq.db.agent_tasks import failures_recorded, locked_task, start_try
from talentq.db.models import pk, utcnow
from talentq.db.tables import AgentTask, Approval, Brand, Deal, OutreachAction, Talent, TaskStatus, User
from talentq.domain.agents import (
    OPEN_STAGES,
    CreateOutreach,
    InvalidStep,
    MoveDealStage,
    ScheduleFollowUp,
    SendEmail,
    Step,
    allowed_moves,
    parse_steps,
)
from talentq.errors import PermanentJobError, QueueRefusedError
from talentq.jobs import JobContext, is_last_try, uses_tables
from talentq.queues import AI_AGENT, EMAIL_SEND, EmailSend, TaskRef

QUEUE = "agent-tasks"
FOLLOW_UP_KIND = "follow_up"


@uses_tables(AgentTask, Deal, Talent, Brand, OutreachAction, User, Approval)
async def handle(ctx: JobContext, payload: TaskRef) -> dict[str, Any]:
    async with locked_task(ctx["sessions"], payload.task_id, QUEUE) as task:
        if task.status == TaskStatus.DONE:
            return {"taskId": task.id, "status": "already_done"}
        if task.steps is None:
            # Not this task's fault: a job sent before ai-agent decided. Nothing to mark.
            raise PermanentJobError(
                f"agent task {task.id} ({task.kind}) has no steps yet: ai-agent decides them first"
            )
        start_try(task)
    assert task.id is not None
    resumed_at = task.steps_done
    ran: list[str] = []
    follow_ups = 0
    skipped: str | None = None
    async with failures_recorded(
        ctx["sessions"], task.id, QUEUE, job_try=ctx["job_try"], last_try=is_last_try(ctx, QUEUE)
    ):
        steps = _checked(task)
        for index, step in enumerate(steps):
            if index >= task.steps_done:
                outcome = await _run_step(ctx, task, steps, index)
                if isinstance(outcome, _MovedOn):
                    skipped = outcome.reason
                    ran.append(f"{index}:{step.type}:skipped, {skipped}")
                    break
                ran.append(outcome)
            if isinstance(step, ScheduleFollowUp):
                # Once the follow-up's task committed, by this run or by one that died before
                # sending its job: the job id makes a second send a no-op.
                follow_ups += await _send_follow_up(ctx, task, index, step)
        async with ctx["sessions"].begin() as session:
            await session.execute(
                update(AgentTask)
                .where(col(AgentTask.id) == task.id, col(AgentTask.status) != TaskStatus.DONE)
                .values(status=TaskStatus.DONE, finished_at=utcnow())
            )
    return {
        "taskId": task.id,
        "status": "done",
        "steps": len(steps),
        "resumedAt": resumed_at,
        "ran": ran,
        "followUpJobs": follow_ups,
        **({"skipped": skipped} if skipped else {}),
    }


def _checked(task: AgentTask) -> list[Step]:
    """The stored steps, validated; each deal step must name the task's own deal."""
    try:
        steps = parse_steps(task.steps)
    except InvalidStep as exc:
        raise PermanentJobError(f"agent task {task.id}: {exc}") from exc
    for index, step in enumerate(steps):
        if isinstance(step, MoveDealStage | ScheduleFollowUp) and step.deal_id != task.deal_id:
            raise PermanentJobError(
                f"agent task {task.id}: steps[{index}] ({step.type}) names deal {step.deal_id}, "
                f"but the task's deal is {task.deal_id}"
            )
    return steps


Executor = Callable[[JobContext, AsyncSession, AgentTask, int, Any], Awaitable[str]]


@dataclass(frozen=True)
class _MovedOn:
    """The task's deal left negotiation before a step ran: that step and the rest are skipped."""

    reason: str


async def _run_step(ctx: JobContext, task: AgentTask, steps: list[Step], index: int) -> str | _MovedOn:
    """One step and its ``steps_done`` in one transaction, under the task's lock; skipped if done.

    The deal's stage is read again first (a retry may come hours after the plan): a deal no longer
    open, unless this task's own earlier step moved it there, ends the task with the rest skipped.
    """
    step = steps[index]
    async with ctx["sessions"].begin() as session:
        done = await session.scalar(
            select(col(AgentTask.steps_done)).where(col(AgentTask.id) == task.id).with_for_update()
        )
        if done is not None and done > index:
            return f"{index}:{step.type}:done by another run"
        if task.deal_id is not None:
            moved_on = await _deal_moved_on(session, task, steps, index)
            if moved_on is not None:
                return moved_on
        try:
            outcome = await _EXECUTORS[step.type](ctx, session, task, index, step)
        except QueueRefusedError as exc:
            raise PermanentJobError(f"agent task {task.id}: steps[{index}] ({step.type}): {exc}") from exc
        await session.execute(
            update(AgentTask).where(col(AgentTask.id) == task.id).values(steps_done=index + 1)
        )
    return f"{index}:{step.type}:{outcome}"


async def _deal_moved_on(
    session: AsyncSession, task: AgentTask, steps: list[Step], index: int
) -> _MovedOn | None:
    """If the task's deal has left negotiation, finish the task here (in the step's transaction).

    Read FOR SHARE: the stage cannot change until the step commits, so no email goes out about a
    deal that was lost or contracted meanwhile.
    """
    stage = await session.scalar(
        select(col(Deal.stage)).where(col(Deal.id) == task.deal_id).with_for_update(read=True)
    )
    own = [s.to_stage for s in steps[:index] if isinstance(s, MoveDealStage)]
    if stage is None or stage in OPEN_STAGES or (own and stage == own[-1]):
        # Open, or where this task's own earlier step put it (a plan may close a deal, then
        # write about it). A deal not found is the executors' to refuse.
        return None
    reason = f"deal moved on: stage {stage!r}"
    left = ", ".join(f"{i}:{s.type}" for i, s in enumerate(steps) if i >= index)
    # The schema has no column for a note on a finished task: last_error carries it, and a
    # done task with steps_done short of its steps says that the rest were skipped.
    note = f"{QUEUE}: deal {task.deal_id} moved on to stage {stage!r}; steps skipped: {left}"
    await session.execute(
        update(AgentTask)
        .where(col(AgentTask.id) == task.id)
        .values(status=TaskStatus.DONE, finished_at=utcnow(), last_error=note)
    )
    return _MovedOn(reason)


async def _send_email(
    ctx: JobContext, session: AsyncSession, task: AgentTask, index: int, step: SendEmail
) -> str:
    """An email the agent wrote goes to its approver (the talent's manager), not out; one to that
    manager alone is a note to them and is sent."""
    assert task.id is not None
    mail = {"to": step.to, "subject": step.subject, "body": step.body}
    if step.reply_to:
        mail["replyTo"] = step.reply_to
    manager = (
        await session.execute(
            select(User)
            .join(Talent, col(Talent.manager_id) == col(User.id))
            .join(Deal, col(Deal.talent_id) == col(Talent.id))
            .where(col(Deal.id) == task.deal_id)
        )
    ).scalar_one_or_none()
    if manager is None:
        raise PermanentJobError(
            f"agent task {task.id}: steps[{index}] (send_email) has no one to approve it: "
            f"deal {task.deal_id} has no talent with a manager"
        )
    if step.to.strip().lower() == manager.email.strip().lower():
        # Enqueued before the commit: a crash before it commits re-enqueues under the same id
        # (arq refuses the duplicate, and email-send's outbox row is keyed by it too).
        job = await ctx["producer"].enqueue(
            EMAIL_SEND, EmailSend.model_validate(mail), job_id=job_ids.agent_email(task.id, index)
        )
        return "enqueued to the manager" if job is not None else "already enqueued"
    kind = approvals.AGENT_EMAIL
    approval_id, created = await approvals.request(
        session,
        ctx["producer"],
        kind=kind,
        source_key=f"agent:{task.id}:{index}",
        approver_id=pk(manager),
        subject=f"Agent email ({task.kind}) to {step.to}: {step.subject}",
        email=mail,
        extra={"agent_task_id": task.id, "step": index, "deal_id": task.deal_id},
        auto_send=approvals.auto_send_rule(ctx["settings"].approval_auto_send, kind),
    )
    return f"approval {approval_id} {'asked' if created else 'already asked'}"


async def _create_outreach(
    ctx: JobContext, session: AsyncSession, task: AgentTask, index: int, step: CreateOutreach
) -> str:
    where = f"agent task {task.id}: steps[{index}] (create_outreach)"
    if await session.get(Talent, step.talent_id) is None:
        raise PermanentJobError(f"{where}: talent {step.talent_id} not found")
    if await session.get(Brand, step.brand_id) is None:
        raise PermanentJobError(f"{where}: brand {step.brand_id} not found")
    created = await session.scalar(
        insert(OutreachAction)
        .values(
            talent_id=step.talent_id,
            brand_id=step.brand_id,
            to_address=step.to,
            subject=step.subject,
            message=step.message,
        )
        # One open action per talent and brand: an open one already says what this would.
        .on_conflict_do_nothing(
            index_elements=["talent_id", "brand_id"], index_where=text("status = 'pending'")
        )
        .returning(col(OutreachAction.id))
    )
    return f"outreach action {created}" if created is not None else "an open action already exists"


async def _move_deal_stage(
    ctx: JobContext, session: AsyncSession, task: AgentTask, index: int, step: MoveDealStage
) -> str:
    where = f"agent task {task.id}: steps[{index}] (move_deal_stage)"
    stage = await session.scalar(
        select(col(Deal.stage)).where(col(Deal.id) == step.deal_id).with_for_update()
    )
    if stage is None:
        raise PermanentJobError(f"{where}: deal {step.deal_id} not found")
    if stage == step.to_stage:
        return f"deal {step.deal_id} already {stage}"
    allowed = allowed_moves(stage)
    if step.to_stage not in allowed:
        rule = (
            f"from {stage!r} an agent moves a deal only to {', '.join(sorted(allowed))}"
            if allowed
            else f"an agent moves no deal out of {stage!r}"
        )
        raise PermanentJobError(
            f"{where}: deal {step.deal_id} is in stage {stage!r} and an agent cannot move it to "
            f"{step.to_stage!r} ({rule})"
        )
    await session.execute(
        update(Deal)
        .where(col(Deal.id) == step.deal_id)
        .values(stage=step.to_stage, stage_changed_at=utcnow())
    )
    return f"deal {step.deal_id} {stage} -> {step.to_stage}"


async def _schedule_follow_up(
    ctx: JobContext, session: AsyncSession, task: AgentTask, index: int, step: ScheduleFollowUp
) -> str:
    # The follow-up task commits with this step; handle sends its job (_send_follow_up) once the
    # commit is done: a job must never name a task id that a rollback took back. Its key (this
    # task and step) makes a repeat find it.
    key = _follow_up_key(task, index)
    await session.execute(
        insert(AgentTask)
        .values(kind=FOLLOW_UP_KIND, deal_id=step.deal_id, input={"followUpOf": key, "note": step.note})
        .on_conflict_do_nothing(
            index_elements=[text("(input ->> 'followUpOf')")],
            index_where=text("(input ->> 'followUpOf') IS NOT NULL"),
        )
    )
    follow_up = await session.scalar(
        select(col(AgentTask.id)).where(text("(input ->> 'followUpOf') = :key").bindparams(key=key))
    )
    return f"follow-up task {follow_up}, due in {step.after_hours}h"


def _follow_up_key(task: AgentTask, index: int) -> str:
    return f"{task.id}:{index}"


async def _send_follow_up(ctx: JobContext, task: AgentTask, index: int, step: ScheduleFollowUp) -> int:
    """Enqueue the deferred ai-agent job of the follow-up step ``index`` created, unless it has run."""
    async with ctx["sessions"]() as session:
        follow_up = await session.scalar(
            select(col(AgentTask.id)).where(
                text("(input ->> 'followUpOf') = :key").bindparams(key=_follow_up_key(task, index)),
                # Never started: one that ran (or runs) has had its job.
                col(AgentTask.status) == TaskStatus.QUEUED,
                col(AgentTask.attempts) == 0,
            )
        )
    if follow_up is None:
        return 0
    try:
        job = await ctx["producer"].enqueue(
            AI_AGENT,
            TaskRef(task_id=follow_up),
            job_id=job_ids.agent_task(AI_AGENT.name, follow_up, 0),
            defer_by=timedelta(hours=step.after_hours),
        )
    except QueueRefusedError as exc:
        raise PermanentJobError(f"agent task {task.id}: steps[{index}] (schedule_follow_up): {exc}") from exc
    return int(job is not None)


_EXECUTORS: dict[str, Executor] = {
    "send_email": _send_email,
    "create_outreach": _create_outreach,
    "move_deal_stage": _move_deal_stage,
    "schedule_follow_up": _schedule_follow_up,
}
