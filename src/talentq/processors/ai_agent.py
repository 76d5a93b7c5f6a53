"""ai-agent: decide an agent task's steps with the AI provider, store them, hand them to agent-tasks.

Reads ``agent_tasks`` and the task's deal, talent, brand and manager; writes the task's
``steps`` and status (``talentq.db.agent_tasks``). Safe to re-run: a task that is done is
left alone, and one whose steps are decided is only handed on again, under the same job id.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from talentq import job_ids
from talentq.db.agent_tasks import failures_recorded, locked_task, start_try
from talentq.db.models import utcnow
from talentq.db.tables import AgentTask, Brand, Deal, Talent, TaskStatus, User
from talentq.domain.agents import (
    AgentContext,
    AgentPlan,
    AgentTaskRefused,
    BrandFacts,
    DealFacts,
    ManagerFacts,
    TalentFacts,
    dump_steps,
    queue_for,
)
from talentq.errors import PermanentJobError
from talentq.jobs import JobContext, is_last_try, uses_tables
from talentq.queues import CATALOGUE, TaskRef

QUEUE = "ai-agent"


@uses_tables(AgentTask, Deal, Talent, Brand, User)
async def handle(ctx: JobContext, payload: TaskRef) -> dict[str, Any]:
    async with locked_task(ctx["sessions"], payload.task_id, QUEUE) as task:
        if task.status == TaskStatus.DONE:
            return {"taskId": task.id, "status": "already_done"}
        decided = task.steps is not None
        if not decided:
            start_try(task)
    if decided:
        # Stored by an earlier run that may have died before handing them on; agent-tasks
        # dedupes by job id. A failed task is ai-agent-retry's to run again, not ours.
        handed_on = task.status != TaskStatus.FAILED and await _hand_on(ctx, task)
        return {"taskId": task.id, "status": "steps_already_decided", "handedOn": handed_on}

    async with failures_recorded(
        ctx["sessions"], payload.task_id, QUEUE, job_try=ctx["job_try"], last_try=is_last_try(ctx, QUEUE)
    ):
        plan = await _plan(ctx, task)
        stored = await _store(ctx, task, plan)
    if plan.steps and stored:
        await _hand_on(ctx, task)
    return {
        "taskId": task.id,
        "kind": task.kind,
        "status": "planned" if plan.steps else "done",
        "steps": [step.type for step in plan.steps],
        "reasons": plan.reasons,
        "stored": stored,
    }


async def _plan(ctx: JobContext, task: AgentTask) -> AgentPlan:
    async with ctx["sessions"]() as session:
        context = await _context(session, task)
    # Planned with no session open: the provider may be a remote model that takes seconds.
    try:
        return await ctx["ai"].plan_agent_steps(context)
    except AgentTaskRefused as exc:
        raise PermanentJobError(str(exc)) from exc


async def _store(ctx: JobContext, task: AgentTask, plan: AgentPlan) -> bool:
    """Store the steps unless another run stored them first; a plan without steps finishes the task."""
    values: dict[str, Any] = {"steps": dump_steps(plan.steps), "steps_done": 0}
    if not plan.steps:
        values.update(status=TaskStatus.DONE, finished_at=utcnow())
    async with ctx["sessions"].begin() as session:
        stored = await session.scalar(
            update(AgentTask)
            # No steps yet: SQL NULL, or the JSON null an ORM insert of None writes.
            .where(col(AgentTask.id) == task.id, text("coalesce(jsonb_typeof(steps), 'null') = 'null'"))
            .values(**values)
            .returning(col(AgentTask.id))
        )
    return stored is not None


async def _hand_on(ctx: JobContext, task: AgentTask) -> bool:
    assert task.id is not None
    queue = queue_for(task.kind, has_steps=True)
    job = await ctx["producer"].enqueue(
        CATALOGUE[queue], TaskRef(task_id=task.id), job_id=job_ids.agent_task(queue, task.id, task.attempts)
    )
    return job is not None


async def _context(session: AsyncSession, task: AgentTask) -> AgentContext:
    """The task's deal, talent, brand and manager, each refused by id when it does not exist."""
    assert task.id is not None
    where = f"agent task {task.id} ({task.kind})"
    inputs = task.input if isinstance(task.input, dict) else {}
    deal_id = _input_id(inputs, "dealId", where)
    if deal_id is not None and task.deal_id is not None and deal_id != task.deal_id:
        raise PermanentJobError(f"{where}: input dealId {deal_id} is not the task's deal_id {task.deal_id}")
    deal_id = task.deal_id or deal_id
    deal = await session.get(Deal, deal_id) if deal_id is not None else None
    if deal_id is not None and deal is None:
        raise PermanentJobError(f"{where}: deal {deal_id} not found")

    talent_id = _party(
        deal.talent_id if deal else None, _input_id(inputs, "talentId", where), "talent", where
    )
    brand_id = _party(deal.brand_id if deal else None, _input_id(inputs, "brandId", where), "brand", where)
    talent = await session.get(Talent, talent_id) if talent_id is not None else None
    if talent_id is not None and talent is None:
        raise PermanentJobError(f"{where}: talent {talent_id} not found")
    brand = await session.get(Brand, brand_id) if brand_id is not None else None
    if brand_id is not None and brand is None:
        raise PermanentJobError(f"{where}: brand {brand_id} not found")
    manager = await session.get(User, talent.manager_id) if talent is not None else None

    return AgentContext(
        task_id=task.id,
        kind=task.kind,
        input=inputs,
        now=utcnow(),
        deal=DealFacts(
            id=deal_id,
            stage=deal.stage,
            fee_minor=deal.fee_minor,
            currency=deal.currency,
            deliverables=list(deal.deliverables),
            starts_at=deal.starts_at,
            ends_at=deal.ends_at,
            insights=dict(deal.insights or {}),
        )
        if deal is not None and deal_id is not None
        else None,
        talent=TalentFacts(
            id=talent.id,
            name=talent.name,
            handle=talent.handle,
            niches=list(talent.niches),
            audience_size=talent.audience_size,
        )
        if talent is not None and talent.id is not None
        else None,
        brand=BrandFacts(
            id=brand.id, name=brand.name, contact_email=brand.contact_email, category=brand.category
        )
        if brand is not None and brand.id is not None
        else None,
        manager=ManagerFacts(id=manager.id, name=manager.name, email=manager.email)
        if manager is not None and manager.id is not None
        else None,
    )


def _input_id(inputs: dict[str, Any], key: str, where: str) -> int | None:
    value = inputs.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise PermanentJobError(f"{where}: input {key} must be a positive integer id, got {value!r}")
    return value


def _party(from_deal: int | None, from_input: int | None, name: str, where: str) -> int | None:
    """The deal's talent or brand; the input's only without a deal, and never a different one."""
    if from_deal is not None and from_input is not None and from_deal != from_input:
        raise PermanentJobError(
            f"{where}: input {name}Id {from_input} is not the deal's {name} ({from_deal})"
        )
    return from_deal if from_deal is not None else from_input
