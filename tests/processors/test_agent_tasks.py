"""ai-agent and agent-tasks: the rules' plans, the OpenAI answer's checks, and the pipeline on a real worker.

The worker runs with real Redis, PostgreSQL and an SMTP server on loopback. Plans for
reply_to_brand and counter_offer schedule a follow-up 72 hours out, which a burst worker
would wait for: those tests stop the worker once no job is due within a minute (``run``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from arq.connections import ArqRedis
from loguru import logger
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlmodel import SQLModel, col

from talentq.client import Producer
from talentq.cron import run_cron_job
from talentq.crons import agents
from talentq.db import agent_tasks as task_rows
from talentq.db.engine import make_sessionmaker
from talentq.db.models import FailedJob
from talentq.db.tables import AgentTask, Approval, Brand, Deal, OutboundEmail, OutreachAction, Talent
from talentq.dev.sample_agency import seed
from talentq.domain.time import tick_ms
from talentq.errors import PermanentJobError
from talentq.processors import agent_tasks, ai_agent, email_send
from talentq.queues import CATALOGUE, RetryPolicy, TaskRef
from talentq.registry import Binding
from talentq.settings import Settings, normalise_database_url

from ..conftest import MakeWorker, approve_all, clients, service_settings, shipped_cron
from .test_email_send import Recorder, smtp, smtp_settings  # noqa: F401  (smtp: the fixture)

FAST = {
    name: dataclasses.replace(CATALOGUE[name], retry=RetryPolicy(3, 0.05, 0.2), timeout=20)
    for name in ("ai-agent", "agent-tasks", "email-send")
}
BINDINGS: list[Binding] = [
    ("ai-agent", ai_agent.handle),
    ("agent-tasks", agent_tasks.handle),
    ("email-send", email_send.handle),
]


# --- the rules, on facts alone -----------------------------------------------------------------


# --- the OpenAI-compatible provider -------------------------------------------------------------


# --- the pipeline on a real worker ---------------------------------------------------------------


@pytest.fixture
def mail(smtp: tuple[Recorder, int]) -> tuple[Recorder, Settings]:  # noqa: F811  (the fixture)
    recorder, port = smtp
    return recorder, smtp_settings(port)


async def draft_deal(sessions: async_sessionmaker[AsyncSession]) -> Deal:
    """The sample agency's draft deal: HelloFresh's offer to Ava."""
    await seed(sessions)
    async with sessions() as session:
        return (await session.execute(select(Deal).where(col(Deal.stage) == "draft"))).scalar_one()


async def new_task(
    sessions: async_sessionmaker[AsyncSession], kind: str, *, deal_id: int | None = None, **values: Any
) -> int:
    async with sessions.begin() as session:
        task = AgentTask(kind=kind, deal_id=deal_id, **values)
        session.add(task)
        await session.flush()
        assert task.id is not None
        return task.id


async def task_row(sessions: async_sessionmaker[AsyncSession], task_id: int) -> AgentTask:
    async with sessions() as session:
        task = await session.get(AgentTask, task_id)
    assert task is not None
    return task


async def rows(sessions: async_sessionmaker[AsyncSession], model: type[SQLModel]) -> list[Any]:
    async with sessions() as session:
        return list((await session.execute(select(model).order_by(model.id))).scalars())  # type: ignore[attr-defined]


async def snapshot(sessions: async_sessionmaker[AsyncSession]) -> dict[str, list[dict[str, Any]]]:
    """Every row the agent pipeline may write, as plain dicts."""
    return {
        str(model.__tablename__): [row.model_dump() for row in await rows(sessions, model)]
        for model in (AgentTask, Deal, OutreachAction, OutboundEmail, FailedJob, Approval)
    }


async def run(make_worker: MakeWorker, redis: ArqRedis, settings: Settings) -> None:
    """Run every job due within a minute (retries included), then stop: deferred follow-ups stay queued.

    arq's burst mode would wait 72 hours for them: it stops only once the queue is empty.
    """
    worker = make_worker(BINDINGS, catalogue=FAST, settings_=settings)
    main = asyncio.create_task(worker.async_run())
    while not main.done():
        await asyncio.sleep(0.05)
        # A running job stays in the queue until it finishes, having enqueued what follows it.
        soon = await redis.zcount("arq:queue", "-inf", time.time() * 1000 + 60_000)
        if soon == 0 and all(task.done() for task in worker.tasks.values()):
            main.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await main


async def test_a_reply_task_runs_end_to_end_once_however_often_it_is_sent(
    make_worker: MakeWorker,
    redis: ArqRedis,
    sessions: async_sessionmaker[AsyncSession],
    mail: tuple[Recorder, Settings],
) -> None:
    """ai-agent plans, agent-tasks executes, the brand gets one email; both jobs again change nothing."""
    recorder, settings = mail
    # Given the sample agency's draft deal and a reply_to_brand task for it
    deal = await draft_deal(sessions)
    task_id = await new_task(
        sessions, "reply_to_brand", deal_id=deal.id, input={"message": "Can we talk usage?"}
    )

    # When ai-agent runs it (ai-agent, agent-tasks)
    await redis.enqueue_job("ai-agent", {"taskId": task_id})
    await run(make_worker, redis, settings)

    # Then the task is done, every step executed
    task = await task_row(sessions, task_id)
    assert (task.status, task.steps_done, task.attempts, task.last_error) == ("done", 3, 1, None)
    assert task.steps is not None
    assert [s["type"] for s in task.steps] == ["send_email", "move_deal_stage", "schedule_follow_up"]
    # But the email the agent wrote waits for Ava's manager: nothing has reached HelloFresh
    assert recorder.received == []
    (asked,) = [a for a in await rows(sessions, Approval) if a.source_key == f"agent:{task_id}:0"]
    assert (asked.kind, asked.status, asked.payload["email"]["to"]) == (
        "agent_email",
        "pending",
        "partnerships@hellofresh.com",
    )
    # When Maya approves it, Then HelloFresh receives one email, signed by her, replying to her
    await approve_all(sessions, redis, FAST, prefix="agent:")
    await run(make_worker, redis, settings)
    (message,) = recorder.received
    assert message["To"] == "partnerships@hellofresh.com"
    assert message["Reply-To"] == "maya.okafor@northstar-talent.test"
    assert "Can we talk usage?" in message.get_payload(decode=True).decode()
    # And the deal is negotiating since now
    async with sessions() as session:
        moved = await session.get(Deal, deal.id)
    assert moved is not None
    assert moved.stage == "negotiating"
    assert moved.stage_changed_at > deal.stage_changed_at
    # And a follow-up task waits, its ai-agent job deferred by 72 hours
    (follow_up,) = [t for t in await rows(sessions, AgentTask) if t.id != task_id]
    assert (follow_up.kind, follow_up.status, follow_up.deal_id) == ("follow_up", "queued", deal.id)
    assert follow_up.input == {"followUpOf": f"{task_id}:2", "note": "no answer to the reply"}
    score = await redis.zscore("arq:queue", f"ai-agent:{follow_up.id}:0")
    assert score is not None
    assert score / 1000 - datetime.now(UTC).timestamp() == pytest.approx(72 * 3600, abs=60)

    # When both jobs are sent again (a retried producer), under new ids
    before = await snapshot(sessions)
    await redis.enqueue_job("ai-agent", {"taskId": task_id}, _job_id="again-1")
    await redis.enqueue_job("agent-tasks", {"taskId": task_id}, _job_id="again-2")
    await run(make_worker, redis, settings)

    # Then nothing changed and nothing more was sent
    assert await snapshot(sessions) == before
    assert len(recorder.received) == 1


async def test_a_failure_at_step_two_resumes_at_step_two(
    make_worker: MakeWorker,
    redis: ArqRedis,
    sessions: async_sessionmaker[AsyncSession],
    mail: tuple[Recorder, Settings],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A lost connection in move_deal_stage: the retry starts there, and step one's email goes once."""
    recorder, settings = mail
    deal = await draft_deal(sessions)
    task_id = await new_task(sessions, "reply_to_brand", deal_id=deal.id)
    calls: list[int] = []
    real = agent_tasks._EXECUTORS["move_deal_stage"]

    async def flaky(*args: Any) -> str:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionResetError("connection to the database lost")
        return await real(*args)

    monkeypatch.setitem(agent_tasks._EXECUTORS, "move_deal_stage", flaky)

    await redis.enqueue_job("ai-agent", {"taskId": task_id})
    await run(make_worker, redis, settings)

    task = await task_row(sessions, task_id)
    assert (task.status, task.steps_done, task.attempts) == ("done", 3, 1)
    # The failure is on record, the task was never failed: the wrapper's retry carried it
    assert task.last_error == "agent-tasks: ConnectionResetError: connection to the database lost"
    assert len(calls) == 2
    # Step one's email was asked for once; approved, it goes once
    (asked,) = await approve_all(sessions, redis, FAST, prefix="agent:")
    await run(make_worker, redis, settings)
    assert len(recorder.received) == 1
    (email,) = await rows(sessions, OutboundEmail)
    assert email.job_id == f"email-send:approval:{asked.id}"
    async with sessions() as session:
        result = await session.scalar(select(col(Deal.stage)).where(col(Deal.id) == deal.id))
    assert result == "negotiating"


async def test_a_deal_lost_before_the_steps_run_gets_no_email(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession], mail: tuple[Recorder, Settings]
) -> None:
    """The deal is lost after the plan: no step runs, the task is done saying why."""
    # Given a counter-offer planned for a draft deal, which the brand then walks away from
    _, settings = mail
    deal = await draft_deal(sessions)
    task_id = await new_task(sessions, "counter_offer", deal_id=deal.id)
    ctx = worker_ctx(sessions, redis, settings)
    await ai_agent.handle(ctx, TaskRef(task_id=task_id))
    async with sessions.begin() as session:
        await session.execute(update(Deal).where(col(Deal.id) == deal.id).values(stage="lost"))

    # When agent-tasks runs the steps
    result = await agent_tasks.handle(ctx, TaskRef(task_id=task_id))
    again = await agent_tasks.handle(ctx | {"job_try": 2}, TaskRef(task_id=task_id))
    await ctx["http"].aclose()

    # Then nothing was sent or created, and the task is done with the skip on record
    assert await redis.keys("arq:job:*") == [f"arq:job:agent-tasks:{task_id}:1".encode()]  # ai-agent's
    assert (result["status"], result["skipped"]) == ("done", "deal moved on: stage 'lost'")
    assert result["ran"] == ["0:send_email:skipped, deal moved on: stage 'lost'"]
    assert again == {"taskId": task_id, "status": "already_done"}
    task = await task_row(sessions, task_id)
    assert (task.status, task.steps_done) == ("done", 0)
    assert task.finished_at is not None
    assert task.last_error == (
        f"agent-tasks: deal {deal.id} moved on to stage 'lost'; "
        "steps skipped: 0:send_email, 1:move_deal_stage, 2:schedule_follow_up"
    )
    assert [t for t in await rows(sessions, AgentTask) if t.kind == "follow_up"] == []


async def test_a_retry_after_the_deal_was_contracted_skips_the_steps_left(
    redis: ArqRedis,
    sessions: async_sessionmaker[AsyncSession],
    mail: tuple[Recorder, Settings],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Step one ran, step two failed; the deal is contracted before the retry: the rest is skipped."""
    # Given a reply whose email went out, then whose stage move lost its connection
    _, settings = mail
    deal = await draft_deal(sessions)
    task_id = await new_task(sessions, "reply_to_brand", deal_id=deal.id)
    ctx = worker_ctx(sessions, redis, settings)
    await ai_agent.handle(ctx, TaskRef(task_id=task_id))

    async def flaky(*args: Any) -> str:
        raise ConnectionResetError("connection to the database lost")

    monkeypatch.setitem(agent_tasks._EXECUTORS, "move_deal_stage", flaky)
    with pytest.raises(ConnectionResetError):
        await agent_tasks.handle(ctx, TaskRef(task_id=task_id))
    monkeypatch.undo()
    # And the deal is contracted meanwhile
    async with sessions.begin() as session:
        await session.execute(update(Deal).where(col(Deal.id) == deal.id).values(stage="contracted"))

    # When the wrapper's retry runs
    result = await agent_tasks.handle(ctx | {"job_try": 2}, TaskRef(task_id=task_id))
    await ctx["http"].aclose()

    # Then the stage move (which would be refused) and the follow-up are skipped; the task is done
    assert (result["status"], result["resumedAt"], result["followUpJobs"]) == ("done", 1, 0)
    assert result["ran"] == ["1:move_deal_stage:skipped, deal moved on: stage 'contracted'"]
    task = await task_row(sessions, task_id)
    assert (task.status, task.steps_done, task.attempts) == ("done", 1, 1)
    assert "steps skipped: 1:move_deal_stage, 2:schedule_follow_up" in (task.last_error or "")
    assert [t for t in await rows(sessions, AgentTask) if t.kind == "follow_up"] == []
    # ai-agent's hand-on (this test runs the steps itself); step one's email waits for its approver
    assert await redis.keys("arq:job:*") == [f"arq:job:agent-tasks:{task_id}:1".encode()]
    assert [
        a.source_key for a in await rows(sessions, Approval) if (a.source_key or "").startswith("agent:")
    ] == [f"agent:{task_id}:0"]


async def test_a_plan_that_closes_the_deal_itself_runs_to_its_end(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession], mail: tuple[Recorder, Settings]
) -> None:
    """A deal this task's own step marked lost does not stop the task's later steps."""
    _, settings = mail
    deal = await draft_deal(sessions)
    move = {"type": "move_deal_stage", "deal_id": deal.id, "to_stage": "lost", "explanation": "declined"}
    email = {"type": "send_email", "to": "a@b.test", "subject": "Thanks", "body": "b", "explanation": "e"}
    task_id = await new_task(sessions, "follow_up", deal_id=deal.id, steps=[move, email])
    ctx = worker_ctx(sessions, redis, settings)

    result = await agent_tasks.handle(ctx, TaskRef(task_id=task_id))
    await ctx["http"].aclose()

    assert "skipped" not in result
    (asked,) = [a for a in await rows(sessions, Approval) if a.source_key == f"agent:{task_id}:1"]
    assert result["ran"] == [
        f"0:move_deal_stage:deal {deal.id} draft -> lost",
        f"1:send_email:approval {asked.id} asked",
    ]
    assert await redis.keys("arq:job:*") == []
    task = await task_row(sessions, task_id)
    assert (task.status, task.steps_done, task.last_error) == ("done", 2, None)


class Killed(BaseException):
    """The worker process dying: nothing after it runs, no except clause sees it."""


async def test_a_task_whose_worker_died_is_recovered_and_resumed(
    make_worker: MakeWorker,
    redis: ArqRedis,
    sessions: async_sessionmaker[AsyncSession],
    mail: tuple[Recorder, Settings],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Killed after step 1: ai-agent-recovery re-queues it, agent-tasks resumes at step 2, one email."""
    recorder, settings = mail
    deal = await draft_deal(sessions)
    task_id = await new_task(sessions, "reply_to_brand", deal_id=deal.id)
    producer = Producer(redis, catalogue=FAST)
    ctx: Any = {
        "sessions": sessions,
        "producer": producer,
        "settings": settings,
        "http": httpx.AsyncClient(),
        **clients(settings, httpx.AsyncClient()),
        "redis": redis,
        "job_try": 1,
    }
    # Given a task planned by ai-agent, whose agent-tasks run dies in step 2
    await ai_agent.handle(ctx | {"job_id": "plan"}, TaskRef(task_id=task_id))

    async def die(*args: Any) -> str:
        raise Killed

    monkeypatch.setitem(agent_tasks._EXECUTORS, "move_deal_stage", die)
    with pytest.raises(Killed):
        await agent_tasks.handle(ctx | {"job_id": "run"}, TaskRef(task_id=task_id))
    monkeypatch.undo()
    stuck = await task_row(sessions, task_id)
    assert (stuck.status, stuck.steps_done, stuck.attempts) == ("running", 1, 1)
    # arq re-runs a job whose worker died; here it is lost too (its interrupted tries used up,
    # or Redis lost it), leaving the task to the recovery cron.
    await redis.delete(f"arq:job:agent-tasks:{task_id}:1")
    await redis.zrem("arq:queue", f"agent-tasks:{task_id}:1")

    # When its timeout has passed and ai-agent-recovery runs (its tick now: the processors that
    # resume the task act on the wall clock, as in production right after a tick)
    now = datetime.now(UTC)
    async with sessions.begin() as session:
        await session.execute(
            update(AgentTask)
            .where(col(AgentTask.id) == task_id)
            .values(started_at=now - timedelta(seconds=stuck.timeout_s + 1))
        )
    entry = shipped_cron("ai-agent-recovery")
    result = await run_cron_job(entry)({**ctx, "job_id": f"ai-agent-recovery:{tick_ms(now)}"})
    assert (result["count"], result["requeued"], result["enqueued"]) == (1, [task_id], 1)

    # Then the worker resumes it at step 2; the email of step 1 (already asked for) goes once approved
    await run(make_worker, redis, settings)
    task = await task_row(sessions, task_id)
    assert (task.status, task.steps_done, task.attempts) == ("done", 3, 2)
    assert len(await approve_all(sessions, redis, FAST, prefix="agent:")) == 1
    await run(make_worker, redis, settings)
    assert len(recorder.received) == 1
    assert len([t for t in await rows(sessions, AgentTask) if t.kind == "follow_up"]) == 1
    await ctx["http"].aclose()


async def test_an_outreach_task_creates_one_open_action(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """brand_outreach: one pending action; a second task for the same pair finds it open and adds none."""
    await seed(sessions)
    async with sessions() as session:
        talent = (await session.execute(select(Talent).where(col(Talent.handle) == "kofieats"))).scalar_one()
        brand_id = await session.scalar(select(col(Brand.id)).where(col(Brand.name) == "Oatly"))
    first = await new_task(sessions, "brand_outreach", input={"talentId": talent.id, "brandId": brand_id})
    second = await new_task(sessions, "brand_outreach", input={"talentId": talent.id, "brandId": brand_id})
    await redis.enqueue_job("ai-agent", {"taskId": first})
    await redis.enqueue_job("ai-agent", {"taskId": second})

    await make_worker(BINDINGS, catalogue=FAST, settings_=service_settings(mail_transport="log")).async_run()

    actions = [a for a in await rows(sessions, OutreachAction) if a.talent_id == talent.id]
    (action,) = actions
    assert (action.brand_id, action.status, action.to_address) == (
        brand_id,
        "pending",
        "partnerships@oatly.com",
    )
    assert action.subject == "Kofi Mensah x Oatly"
    assert {(await task_row(sessions, t)).status for t in (first, second)} == {"done"}


async def dead_letters(sessions: async_sessionmaker[AsyncSession]) -> dict[str, str]:
    return {letter.job_id: letter.message for letter in await rows(sessions, FailedJob)}


async def test_bad_tasks_fail_permanently_naming_what_is_wrong(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Missing task, inbox_triage task, unknown kind, bad ids, lost deal: one try, a clear dead letter."""
    deal = await draft_deal(sessions)
    async with sessions.begin() as session:
        lost = Deal(
            talent_id=deal.talent_id, brand_id=deal.brand_id, stage="lost", fee_minor=1000, currency="USD"
        )
        session.add(lost)
    triage = await new_task(sessions, "inbox_triage", input={"messageId": 1})
    haiku = await new_task(sessions, "haiku", deal_id=deal.id)
    bad_input = await new_task(sessions, "brand_outreach", input={"talentId": "ava", "brandId": 3})
    on_lost = await new_task(sessions, "reply_to_brand", deal_id=lost.id)
    ghost_brand = await new_task(
        sessions, "brand_outreach", input={"talentId": deal.talent_id, "brandId": 999}
    )
    for job_id, task_id in [("missing", 424242), ("triage", triage), ("haiku", haiku), ("bad", bad_input),
                            ("lost", on_lost), ("ghost", ghost_brand)]:  # fmt: skip
        await redis.enqueue_job("ai-agent", {"taskId": task_id}, _job_id=job_id)

    await make_worker(BINDINGS, catalogue=FAST).async_run()

    assert await dead_letters(sessions) == {
        "missing": "agent task 424242 not found",
        "triage": f"agent task {triage} is of kind 'inbox_triage': "
        "the inbox-triage queue runs it, not 'ai-agent'",
        "haiku": f"agent task {haiku} has unknown kind 'haiku' (known: reply_to_brand, counter_offer, "
        "follow_up, brand_outreach)",
        "bad": f"agent task {bad_input} (brand_outreach): "
        "input talentId must be a positive integer id, got 'ava'",
        "lost": f"agent task {on_lost} (reply_to_brand): deal {lost.id} is in stage 'lost', "
        "not one of draft, negotiating",
        "ghost": f"agent task {ghost_brand} (brand_outreach): brand 999 not found",
    }
    # The inbox_triage task is inbox-triage's: untouched. Ours failed, their attempts spent.
    assert (await task_row(sessions, triage)).status == "queued"
    for task_id in (haiku, bad_input, on_lost, ghost_brand):
        task = await task_row(sessions, task_id)
        assert (task.status, task.attempts, task.max_attempts) == ("failed", 1, 1)
        assert task.last_error is not None
        assert task.last_error.startswith("ai-agent: PermanentJobError: agent task")


async def test_bad_steps_fail_permanently_naming_the_step(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Unknown step type, missing field, another deal, a forbidden transition, no steps: permanent, named.

    A step on a deal that is no longer open (contracted) is not refused but skipped: the deal moved on.
    """
    deal = await draft_deal(sessions)
    email = {"type": "send_email", "to": "a@b.test", "subject": "Hi", "body": "b", "explanation": "e"}
    move = {"type": "move_deal_stage", "deal_id": deal.id, "explanation": "e"}
    cases = {
        "fax": [email, {"type": "fax", "explanation": "e"}],
        "no-to": [{k: v for k, v in email.items() if k != "to"}],
        "other-deal": [{**move, "deal_id": 999, "to_stage": "lost"}],
        "to-contracted": [{**move, "to_stage": "contracted"}],
        "no-steps": None,
    }
    ids = {name: await new_task(sessions, "reply_to_brand", deal_id=deal.id, steps=steps)
           for name, steps in cases.items()}  # fmt: skip
    async with sessions() as session:
        contracted = await session.scalar(select(col(Deal.id)).where(col(Deal.stage) == "contracted"))
    give_up = [{**move, "deal_id": contracted, "to_stage": "lost"}]
    ids["give-up-contracted"] = await new_task(sessions, "follow_up", deal_id=contracted, steps=give_up)
    for name, task_id in ids.items():
        await redis.enqueue_job("agent-tasks", {"taskId": task_id}, _job_id=name)

    await make_worker(BINDINGS, catalogue=FAST, settings_=service_settings(mail_transport="log")).async_run()

    assert await dead_letters(sessions) == {
        "fax": f"agent task {ids['fax']}: steps[1] has unknown type 'fax' "
        "(known: send_email, create_outreach, move_deal_stage, schedule_follow_up)",
        "no-to": f"agent task {ids['no-to']}: steps[0] (send_email): field 'to': Field required",
        "other-deal": f"agent task {ids['other-deal']}: steps[0] (move_deal_stage) names deal 999, "
        f"but the task's deal is {deal.id}",
        "to-contracted": f"agent task {ids['to-contracted']}: steps[0] (move_deal_stage): field 'to_stage': "
        "Input should be 'negotiating' or 'lost'",
        "no-steps": f"agent task {ids['no-steps']} (reply_to_brand) has no steps yet: "
        "ai-agent decides them first",
    }
    # Nothing ran before the check refused the steps: the first email of "fax" was not sent either.
    assert await rows(sessions, OutboundEmail) == []
    assert (await task_row(sessions, ids["no-steps"])).status == "queued"
    assert (await task_row(sessions, ids["to-contracted"])).status == "failed"
    given_up = await task_row(sessions, ids["give-up-contracted"])
    assert (given_up.status, given_up.steps_done) == ("done", 0)
    async with sessions() as session:
        assert await session.scalar(select(col(Deal.stage)).where(col(Deal.id) == contracted)) == "contracted"


async def test_a_transient_failure_on_the_last_try_fails_the_task_and_the_retry_cron_finishes_it(
    make_worker: MakeWorker,
    redis: ArqRedis,
    sessions: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every try of agent-tasks fails: the task is failed on the last; ai-agent-retry re-drives it to done."""
    settings = service_settings(mail_transport="log")
    deal = await draft_deal(sessions)
    task_id = await new_task(sessions, "follow_up", deal_id=deal.id)

    async def down(*args: Any) -> str:
        raise ConnectionRefusedError("redis is down")

    monkeypatch.setitem(agent_tasks._EXECUTORS, "send_email", down)
    await redis.enqueue_job("ai-agent", {"taskId": task_id})
    await make_worker(BINDINGS, catalogue=FAST, settings_=settings).async_run()

    task = await task_row(sessions, task_id)
    assert (task.status, task.steps_done, task.attempts) == ("failed", 0, 1)
    assert task.last_error == "agent-tasks: ConnectionRefusedError: redis is down"
    assert task.finished_at is not None

    # When the backoff has passed and ai-agent-retry runs, with the outage over
    monkeypatch.undo()
    # (its tick now: the processors act on the wall clock, as right after a tick in production)
    now = datetime.now(UTC)
    async with sessions.begin() as session:
        await session.execute(
            update(AgentTask)
            .where(col(AgentTask.id) == task_id)
            .values(finished_at=now - agents.RETRY_BACKOFF_BASE - timedelta(seconds=1))
        )
    entry = shipped_cron("ai-agent-retry")
    ctx = {
        "sessions": sessions,
        "producer": Producer(redis, catalogue=FAST),
        "job_id": f"ai-agent-retry:{tick_ms(now)}",
    }
    result = await run_cron_job(entry)(ctx)
    assert result == {
        "count": 1,
        "due": 1,
        "batch": 1,
        "waiting": 0,
        "outOfAttempts": [],
        "outOfAttemptsTotal": 0,
    }
    await make_worker(BINDINGS, catalogue=FAST, settings_=settings).async_run()

    task = await task_row(sessions, task_id)
    assert (task.status, task.steps_done, task.attempts) == ("done", 1, 2)
    (asked,) = [a for a in await rows(sessions, Approval) if a.source_key == f"agent:{task_id}:0"]
    assert asked.payload["email"]["subject"] == "Following up: HelloFresh x Ava Chen"


async def test_a_done_task_is_left_alone(redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]) -> None:
    """A done task is left as it is by both processors, whatever its steps say."""
    deal = await draft_deal(sessions)
    task_id = await new_task(
        sessions, "reply_to_brand", deal_id=deal.id, status="done", steps=[{"type": "fax"}]
    )
    ctx: Any = {
        "sessions": sessions,
        "producer": Producer(redis, catalogue=FAST),
        "job_try": 1,
        "job_id": "x",
    }
    payload = TaskRef(task_id=task_id)

    assert await ai_agent.handle(ctx, payload) == {"taskId": task_id, "status": "already_done"}
    assert await agent_tasks.handle(ctx, payload) == {"taskId": task_id, "status": "already_done"}
    with pytest.raises(PermanentJobError, match="agent task 424242 not found"):
        await agent_tasks.handle(ctx, TaskRef(task_id=424242))
    assert (await task_row(sessions, task_id)).status == "done"
    assert await redis.keys("arq:job:*") == []


async def test_bad_input_fails_permanently_at_once_naming_the_task_and_field(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """input 'to' not an address, a brand's malformed contact_email, a 301-character subject: one try each."""
    # Given three tasks whose data no retry can make valid
    deal = await draft_deal(sessions)
    async with sessions.begin() as session:
        oatly = (await session.execute(select(Brand).where(col(Brand.name) == "Oatly"))).scalar_one()
        oatly.contact_email = "partnerships at oatly"
    ids = {
        "to": await new_task(sessions, "reply_to_brand", deal_id=deal.id, input={"to": "not-an-address"}),
        "contact": await new_task(
            sessions, "brand_outreach", input={"talentId": deal.talent_id, "brandId": oatly.id}
        ),
        "subject": await new_task(sessions, "follow_up", deal_id=deal.id, input={"subject": "x" * 301}),
    }
    for name, task_id in ids.items():
        await redis.enqueue_job("ai-agent", {"taskId": task_id}, _job_id=name)

    # When a worker runs them
    await make_worker(BINDINGS, catalogue=FAST).async_run()

    # Then each is dead-lettered on its first try, naming the task and the field
    letters = {letter.job_id: letter for letter in await rows(sessions, FailedJob)}
    assert {name: (letter.tries, letter.reason) for name, letter in letters.items()} == dict.fromkeys(
        ids, (1, "permanent")
    )
    assert letters["to"].message == (
        f"agent task {ids['to']} (reply_to_brand): input 'to' is not valid "
        "(String should match pattern '^[^@\\s]+@[^@\\s]+$'): 'not-an-address'"
    )
    assert letters["contact"].message == (
        f"agent task {ids['contact']} (brand_outreach): brand {oatly.id}'s contact_email "
        "'partnerships at oatly' is not an email address (String should match pattern "
        "'^[^@\\s]+@[^@\\s]+$'): correct it, then replay the task"
    )
    assert letters["subject"].message.startswith(
        f"agent task {ids['subject']} (follow_up): input 'subject' is not valid "
        "(String should have at most 300 characters): 'xxx"
    )
    # And the tasks are failed for good: ai-agent-retry will not run them again
    for task_id in ids.values():
        task = await task_row(sessions, task_id)
        assert (task.status, task.attempts, task.max_attempts) == ("failed", 1, 1)


def worker_ctx(
    sessions: async_sessionmaker[AsyncSession], redis: ArqRedis, settings: Settings, job_try: int = 1
) -> Any:
    """What the worker hands a processor, for calling it directly."""
    return {
        "sessions": sessions,
        "producer": Producer(redis, catalogue=FAST),
        "settings": settings,
        "http": httpx.AsyncClient(),
        **clients(settings, httpx.AsyncClient()),
        "redis": redis,
        "job_id": "direct",
        "job_try": job_try,
    }


async def test_a_job_past_its_timeout_records_it_and_leaves_the_task_to_recovery(
    make_worker: MakeWorker,
    redis: ArqRedis,
    sessions: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A cancelled try (timeout or shutdown) is noted, not failed: ai-agent-recovery puts it back later."""
    # Given a task whose email step hangs, on a queue allowing one try of half a second
    deal = await draft_deal(sessions)
    email = {"type": "send_email", "to": "a@b.test", "subject": "Hi", "body": "b", "explanation": "e"}
    task_id = await new_task(sessions, "follow_up", deal_id=deal.id, steps=[email])

    async def hang(*args: Any) -> str:
        await asyncio.sleep(30)
        return "never"

    monkeypatch.setitem(agent_tasks._EXECUTORS, "send_email", hang)
    one_short_try = {
        **FAST,
        "agent-tasks": dataclasses.replace(FAST["agent-tasks"], retry=RetryPolicy(1, 0.05, 0.2), timeout=0.5),
    }
    await redis.enqueue_job("agent-tasks", {"taskId": task_id}, _job_id="hung")

    # When the worker runs it
    started = time.perf_counter()
    await make_worker(BINDINGS, catalogue=one_short_try).async_run()

    # Then the job timed out and was dead-lettered, promptly
    assert time.perf_counter() - started < 10
    (letter,) = await rows(sessions, FailedJob)
    assert (letter.job_id, letter.error_type) == ("hung", "JobTimeoutError")
    # And the task notes it but stays running, even on the last try: from inside the job a timeout
    # and a shutdown look alike, and a job a shutdown cancelled is run again by arq, so failing it
    # here would let ai-agent-retry start a second run beside that one
    task = await task_row(sessions, task_id)
    assert (task.status, task.steps_done, task.attempts, task.max_attempts) == ("running", 0, 1, 3)
    assert task.last_error == "agent-tasks: cancelled on try 1 (the job's timeout, or a worker shutting down)"
    assert task.finished_at is None

    # When its timeout_s has passed and ai-agent-recovery runs (its tick now)
    now = datetime.now(UTC)
    async with sessions.begin() as session:
        await session.execute(
            update(AgentTask)
            .where(col(AgentTask.id) == task_id)
            .values(started_at=now - timedelta(seconds=task.timeout_s + 1))
        )
    recovery = shipped_cron("ai-agent-recovery")
    ctx = {"job_id": f"ai-agent-recovery:{tick_ms(now)}", "job_try": 1, "redis": redis, "sessions": sessions,
           "producer": Producer(redis, catalogue=FAST)}  # fmt: skip
    result = await run_cron_job(recovery)(ctx)

    # Then it is queued again, with a job to resume its steps
    assert result["requeued"] == [task_id]
    assert (await task_row(sessions, task_id)).status == "queued"
    assert await redis.zscore("arq:queue", f"agent-tasks:{task_id}:recover:1") is not None


async def test_an_error_recording_the_failure_does_not_replace_the_jobs_own(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A permanent error stays permanent (not retried) when noting it on the task fails too."""
    # Given a task whose steps are refused, and a database that fails the record of it
    deal = await draft_deal(sessions)
    task_id = await new_task(
        sessions, "follow_up", deal_id=deal.id, steps=[{"type": "fax", "explanation": "e"}]
    )
    warnings: list[str] = []
    sink = logger.add(lambda message: warnings.append(str(message)), level="WARNING")

    async def broken_record(*args: Any, **kwargs: Any) -> None:
        raise ConnectionResetError("connection to the database lost")

    monkeypatch.setattr(task_rows, "record_failure", broken_record)
    ctx = worker_ctx(sessions, redis, service_settings(mail_transport="log"))

    # When agent-tasks runs it
    try:
        with pytest.raises(
            PermanentJobError, match=f"agent task {task_id}: steps\\[0\\] has unknown type 'fax'"
        ):
            await agent_tasks.handle(ctx, TaskRef(task_id=task_id))
    finally:
        logger.remove(sink)
        await ctx["http"].aclose()

    # Then the job's own error came out, and the record's was logged beside it
    (warning,) = warnings
    assert f"agent task {task_id}: could not record its failure (PermanentJobError:" in warning
    assert "ConnectionResetError('connection to the database lost')" in warning


async def test_a_cancelled_job_records_quickly_and_stays_cancelled(monkeypatch: pytest.MonkeyPatch) -> None:
    """A record that hangs is given up after CANCELLED_RECORD_TIMEOUT_S; the cancellation goes on."""
    recorded: list[BaseException] = []

    async def slow_record(sessions: Any, task_id: int, exc: BaseException, queue: str, **tries: Any) -> None:
        recorded.append(exc)
        await asyncio.sleep(30)  # a database that does not answer

    monkeypatch.setattr(task_rows, "record_failure", slow_record)
    monkeypatch.setattr(task_rows, "CANCELLED_RECORD_TIMEOUT_S", 0.1)

    no_sessions: Any = None  # the record is replaced: it needs no database

    async def job() -> None:
        async with task_rows.failures_recorded(no_sessions, 1, "agent-tasks", job_try=1, last_try=False):
            await asyncio.sleep(30)

    running = asyncio.create_task(job())
    await asyncio.sleep(0.05)
    started = time.perf_counter()
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert time.perf_counter() - started < 1
    assert [type(exc) for exc in recorded] == [asyncio.CancelledError]


async def test_one_job_holds_one_connection_at_a_time(
    database_url: str,
    redis: ArqRedis,
    sessions: async_sessionmaker[AsyncSession],
    mail: tuple[Recorder, Settings],
) -> None:
    """On a pool of one connection, ai-agent and agent-tasks run a reply to its end (a follow-up too)."""
    # Given a reply task, and processors whose only database access is a pool of one connection
    _, settings = mail
    deal = await draft_deal(sessions)
    task_id = await new_task(sessions, "reply_to_brand", deal_id=deal.id)
    one = create_async_engine(
        normalise_database_url(database_url), pool_size=1, max_overflow=0, pool_timeout=2
    )
    ctx = worker_ctx(make_sessionmaker(one), redis, settings)

    # When both run (a job taking a second connection would wait for the first, then time out)
    try:
        await ai_agent.handle(ctx, TaskRef(task_id=task_id))
        result = await agent_tasks.handle(ctx, TaskRef(task_id=task_id))
    finally:
        await one.dispose()
        await ctx["http"].aclose()

    # Then every step ran, and the follow-up's deferred job was sent after its task committed
    assert (result["status"], result["steps"], result["followUpJobs"]) == ("done", 3, 1)
    (follow_up,) = [t for t in await rows(sessions, AgentTask) if t.kind == "follow_up"]
    assert await redis.zscore("arq:queue", f"ai-agent:{follow_up.id}:0") is not None


async def test_ai_agent_killed_after_storing_its_steps_hands_them_on_when_run_again(
    make_worker: MakeWorker,
    redis: ArqRedis,
    sessions: async_sessionmaker[AsyncSession],
    mail: tuple[Recorder, Settings],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Died between storing the steps and enqueueing agent-tasks: the re-run hands them on, not re-planned."""
    # Given an ai-agent run that dies right after its steps are stored
    recorder, settings = mail
    deal = await draft_deal(sessions)
    task_id = await new_task(sessions, "reply_to_brand", deal_id=deal.id)
    ctx = worker_ctx(sessions, redis, settings)

    async def die(*args: Any) -> bool:
        raise Killed

    monkeypatch.setattr(ai_agent, "_hand_on", die)
    with pytest.raises(Killed):
        await ai_agent.handle(ctx, TaskRef(task_id=task_id))
    monkeypatch.undo()
    stored = await task_row(sessions, task_id)
    assert (stored.status, stored.attempts, stored.steps is not None) == ("running", 1, True)
    assert await redis.keys("arq:job:*") == []

    # When arq runs the job again
    again = await ai_agent.handle(ctx | {"job_try": 2}, TaskRef(task_id=task_id))
    await ctx["http"].aclose()

    # Then the stored steps are handed on as they are, under the attempt's job id
    assert again == {"taskId": task_id, "status": "steps_already_decided", "handedOn": True}
    assert await redis.keys("arq:job:*") == [f"arq:job:agent-tasks:{task_id}:1".encode()]
    assert (await task_row(sessions, task_id)).steps == stored.steps
    # And the worker executes them once: one email asked for (and sent once approved), the task
    # done on its first attempt
    await run(make_worker, redis, settings)
    task = await task_row(sessions, task_id)
    assert (task.status, task.steps_done, task.attempts) == ("done", 3, 1)
    assert len(await approve_all(sessions, redis, FAST, prefix="agent:")) == 1
    await run(make_worker, redis, settings)
    assert len(recorder.received) == 1


async def test_agent_tasks_killed_before_sending_a_follow_up_sends_it_when_run_again(
    redis: ArqRedis,
    sessions: async_sessionmaker[AsyncSession],
    mail: tuple[Recorder, Settings],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every step committed, the follow-up's job not yet sent: the re-run sends it, and only it."""
    _, settings = mail
    deal = await draft_deal(sessions)
    task_id = await new_task(sessions, "reply_to_brand", deal_id=deal.id)
    ctx = worker_ctx(sessions, redis, settings)
    await ai_agent.handle(ctx, TaskRef(task_id=task_id))

    async def die(*args: Any) -> int:
        raise Killed

    monkeypatch.setattr(agent_tasks, "_send_follow_up", die)
    with pytest.raises(Killed):
        await agent_tasks.handle(ctx, TaskRef(task_id=task_id))
    monkeypatch.undo()
    (follow_up,) = [t for t in await rows(sessions, AgentTask) if t.kind == "follow_up"]
    assert await redis.zscore("arq:queue", f"ai-agent:{follow_up.id}:0") is None

    result = await agent_tasks.handle(ctx | {"job_try": 2}, TaskRef(task_id=task_id))
    await ctx["http"].aclose()

    assert (result["resumedAt"], result["ran"], result["followUpJobs"]) == (3, [], 1)
    assert await redis.zscore("arq:queue", f"ai-agent:{follow_up.id}:0") is not None
    assert len([t for t in await rows(sessions, AgentTask) if t.kind == "follow_up"]) == 1
    assert (await task_row(sessions, task_id)).status == "done"
