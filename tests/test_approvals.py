"""Approvals: what the AI wrote reaches a brand only once a person approved it, and then once.

End to end on a real worker, Redis, PostgreSQL and an SMTP server on loopback: ai-outreach drafts,
the daily plan finds the pitches due, outreach puts each before its approver; one approved goes
out once, one rejected never does. Around it: who may decide, edits, expiry, double clicks,
auto-send, negotiation replies, and the command line.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from arq.connections import ArqRedis
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import SQLModel, col
from typer.testing import CliRunner

from talentq import approvals
from talentq.cli import app
from talentq.client import Producer
from talentq.cron import run_cron_job
from talentq.db.models import pk
from talentq.db.tables import Approval, Brand, OutboundEmail, OutreachAction, Talent, User
from talentq.dev.sample_agency import seed
from talentq.domain.time import tick_ms
from talentq.errors import ApprovalError
from talentq.processors import ai_outreach, email_send, outreach
from talentq.queues import CATALOGUE, ActionRef, QueueSpec, RetryPolicy
from talentq.registry import Binding
from talentq.settings import ApprovalKind, get_settings

from .conftest import MakeWorker, service_settings, shipped_cron
from .processors.test_email_send import Recorder, smtp, smtp_settings  # noqa: F401  (smtp: a fixture)
from .processors.test_outreach import direct_ctx

pytestmark = pytest.mark.integration

FAST: dict[str, QueueSpec[Any]] = {
    name: dataclasses.replace(CATALOGUE[name], retry=RetryPolicy(3, 0.05, 0.2), timeout=20)
    for name in ("outreach", "email-send", "ai-outreach")
}
BINDINGS: list[Binding] = [
    ("outreach", outreach.handle),
    ("email-send", email_send.handle),
    ("ai-outreach", ai_outreach.handle),
]
MAYA, DAN, SOFIA = (
    "maya.okafor@northstar-talent.test",
    "daniel.reyes@northstar-talent.test",
    ("sofia.lindqvist@northstar-talent.test"),
)


async def rows(sessions: async_sessionmaker[AsyncSession], model: type[SQLModel]) -> list[Any]:
    async with sessions() as session:
        return list((await session.execute(select(model).order_by(model.id))).scalars())  # type: ignore[attr-defined]


async def user(sessions: async_sessionmaker[AsyncSession], email: str) -> int:
    async with sessions() as session:
        found = await session.scalar(select(col(User.id)).where(col(User.email) == email))
    assert found is not None
    return int(found)


async def sample_approval(sessions: async_sessionmaker[AsyncSession], kind: str) -> Approval:
    found: list[Approval] = [
        a for a in await rows(sessions, Approval) if a.kind == kind and a.status == "pending"
    ]
    (one,) = found
    return one


def test_the_kinds_settings_name_are_the_kinds_approvals_know() -> None:
    """APPROVAL_AUTO_SEND's allowed values and the approvals module's email kinds are one list."""
    assert set(ApprovalKind.__args__) == set(approvals.EMAIL_KINDS)  # type: ignore[attr-defined]


async def test_an_ai_pitch_goes_out_once_approved_and_never_once_rejected(
    make_worker: MakeWorker,
    redis: ArqRedis,
    sessions: async_sessionmaker[AsyncSession],
    smtp: tuple[Recorder, int],  # noqa: F811  (the fixture imported above)
) -> None:
    """Drafted by ai-outreach, due by the daily plan, put before Maya: one approved (sent once), one not."""
    recorder, port = smtp
    settings = smtp_settings(port)
    await seed(sessions)
    async with sessions() as session:
        ava = await session.scalar(select(col(Talent.id)).where(col(Talent.handle) == "avacooks"))
    maya = await user(sessions, MAYA)
    before = {a.id for a in await rows(sessions, OutreachAction)}

    # Given Ava's pitches drafted by ai-outreach (the AI provider wrote them)
    await redis.enqueue_job("ai-outreach", {"talentId": ava}, _job_id="draft")
    await make_worker(BINDINGS, catalogue=FAST, settings_=settings).async_run()
    drafts = [a for a in await rows(sessions, OutreachAction) if a.id not in before]
    assert len(drafts) == 3
    # When the daily plan finds them due and a worker runs their outreach jobs
    now = datetime.now(UTC)
    entry = shipped_cron("daily-outreach-plan")
    ctx: Any = {**direct_ctx(sessions, redis, settings, f"daily-outreach-plan:{tick_ms(now)}")}
    ctx["producer"] = Producer(redis, catalogue=FAST)
    plan = await run_cron_job(entry)(ctx)
    assert plan["count"] >= 2
    await make_worker(BINDINGS, catalogue=FAST, settings_=settings).async_run()

    # Then no email went out: each due pitch waits for Maya, its approval holding the AI's text
    assert recorder.received == []
    asked = [a for a in await rows(sessions, Approval) if a.kind == "outreach_pitch"]
    assert len(asked) == plan["count"]
    assert {a.requested_by_id for a in asked} == {maya}
    first, second = asked[:2]
    by_id = {a.id: a for a in await rows(sessions, OutreachAction)}
    pitched = {a.approval_id: a for a in by_id.values() if a.approval_id}
    assert pitched[first.id].message == first.payload["email"]["body"]

    # When Maya approves one (with a double click) and rejects the other, saying why
    producer = Producer(redis, catalogue=FAST)
    await approvals.approve(sessions, producer, pk(first), by=maya)
    await approvals.approve(sessions, producer, pk(first), by=maya)
    await approvals.reject(sessions, pk(second), by=maya, reason="Ava is off food brands this month")
    await make_worker(BINDINGS, catalogue=FAST, settings_=settings).async_run()

    # Then exactly one email reached a brand: the approved pitch's; the rejected one never goes
    (mail,) = recorder.received
    assert mail["To"] == first.payload["email"]["to"]
    assert mail["Subject"] == first.payload["email"]["subject"]
    actions = {a.id: a for a in await rows(sessions, OutreachAction)}
    sent, refused = actions[pitched[first.id].id], actions[pitched[second.id].id]
    assert (sent.status, sent.sent_at is not None) == ("sent", True)
    assert (refused.status, refused.sent_at) == ("rejected", None)
    assert refused.error == f"rejected by Maya Okafor (user {maya}): Ava is off food brands this month"
    decided = {a.id: a for a in await rows(sessions, Approval)}
    assert (decided[first.id].status, decided[first.id].decided_by_id) == ("approved", maya)
    assert (decided[second.id].status, decided[second.id].reason) == (
        "rejected",
        "Ava is off food brands this month",
    )
    # And the outreach job of the rejected pitch, sent again, sends nothing
    await redis.enqueue_job("outreach", {"actionId": refused.id}, _job_id="again")
    await make_worker(BINDINGS, catalogue=FAST, settings_=settings).async_run()
    assert len(recorder.received) == 1


async def test_only_the_talent_s_manager_decides_and_only_while_it_stands(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Another manager is refused by name; a decided or expired approval cannot be decided again."""
    await seed(sessions)
    reply = await sample_approval(sessions, "negotiation_reply")
    maya, dan = await user(sessions, MAYA), await user(sessions, DAN)
    producer = Producer(redis)

    with pytest.raises(ApprovalError) as refused:
        await approvals.approve(sessions, producer, pk(reply), by=dan)
    assert str(refused.value) == (
        f"approval {reply.id} is for a talent of Maya Okafor (user {maya}): only that manager decides it, "
        f"not Daniel Reyes (user {dan})"
    )
    with pytest.raises(ApprovalError, match="a rejection needs a reason"):
        await approvals.reject(sessions, pk(reply), by=maya, reason="  ")
    with pytest.raises(ApprovalError, match="no approval 999999"):
        await approvals.approve(sessions, producer, 999_999, by=maya)
    with pytest.raises(ApprovalError, match="only to, subject, body can be edited, not cc"):
        await approvals.approve(sessions, producer, pk(reply), by=maya, edits={"cc": "x@y.co"})

    # An approval past its expiry (flush-stale-approvals has not run yet) is refused as expired
    async with sessions.begin() as session:
        await session.execute(
            update(Approval).where(col(Approval.id) == reply.id).values(expires_at=datetime.now(UTC))
        )
    with pytest.raises(ApprovalError, match=f"approval {reply.id} expired at"):
        await approvals.approve(sessions, producer, pk(reply), by=maya)
    assert await redis.keys("arq:job:*") == []

    # And a rejected one stays rejected: approving it is refused, rejecting it again changes nothing
    agent = await sample_approval(sessions, "agent_email")
    await approvals.reject(sessions, pk(agent), by=maya, reason="not now")
    again = await approvals.reject(sessions, pk(agent), by=maya, reason="still not")
    assert again.already
    with pytest.raises(ApprovalError, match=f"approval {agent.id} is rejected: it can no longer be decided"):
        await approvals.approve(sessions, producer, pk(agent), by=maya)


async def test_an_edited_negotiation_reply_goes_to_the_brand_as_edited(
    make_worker: MakeWorker,
    redis: ArqRedis,
    sessions: async_sessionmaker[AsyncSession],
    smtp: tuple[Recorder, int],  # noqa: F811
) -> None:
    """Maya edits the counter-offer's body before approving: the brand gets her text, once."""
    recorder, port = smtp
    await seed(sessions)
    reply = await sample_approval(sessions, "negotiation_reply")
    maya = await user(sessions, MAYA)

    decision = await approvals.approve(
        sessions, Producer(redis), pk(reply), by=maya, edits={"body": "Hi Gymshark, £3,400 works for us."}
    )
    mail_only = {"email-send": FAST["email-send"]}
    await make_worker(
        [("email-send", email_send.handle)], catalogue=mail_only, settings_=smtp_settings(port)
    ).async_run()

    (mail,) = recorder.received
    assert (mail["To"], mail["Reply-To"]) == ("partnerships@gymshark.com", MAYA)
    assert mail.get_payload().strip() == "Hi Gymshark, £3,400 works for us."
    (row,) = await rows(sessions, OutboundEmail)
    assert row.job_id == decision.email_job_id == f"email-send:approval:{reply.id}"
    stored = {a.id: a for a in await rows(sessions, Approval)}[reply.id]
    assert stored.payload["sent"]["body"] == "Hi Gymshark, £3,400 works for us."
    assert stored.payload["email"]["body"] == reply.payload["email"]["body"]  # the AI's, kept


async def test_a_follow_up_is_auto_sent_only_when_allowed_and_its_pitch_was_approved(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession], records: list[dict[str, Any]]
) -> None:
    """APPROVAL_AUTO_SEND=outreach_follow_up: sent at once if a person approved the pitch (logged)."""
    await seed(sessions)
    maya = await user(sessions, MAYA)
    async with sessions() as session:
        talents = {t.handle: pk(t) for t in (await session.execute(select(Talent))).scalars()}
        brands = {b.name: pk(b) for b in (await session.execute(select(Brand))).scalars()}
    # Given two sent pitches of Maya's talents: one approved by Maya, one sent before approvals
    async with sessions.begin() as session:
        approved = Approval(
            kind="outreach_pitch", subject="Pitch", requested_by_id=maya, status="approved",
            decided_by_id=maya, expires_at=datetime.now(UTC) + timedelta(days=1),
        )  # fmt: skip
        session.add(approved)
        await session.flush()
        pitches = [
            OutreachAction(talent_id=talents["leolifts"], brand_id=brands["Rapha"], status="sent",
                           subject="Leo x Rapha", message="Hi", approval_id=pk(approved)),
            OutreachAction(talent_id=talents["priyaglow"], brand_id=brands["Airbnb"], status="sent",
                           subject="Priya x Airbnb", message="Hi"),
        ]  # fmt: skip
        session.add_all(pitches)
        await session.flush()
        follow_ups = [
            OutreachAction(talent_id=p.talent_id, brand_id=p.brand_id, kind="follow_up",
                           follow_up_of_id=pk(p), subject=f"Re: {p.subject}", message="Following up")
            for p in pitches
        ]  # fmt: skip
        session.add_all(follow_ups)
    settings = service_settings(approval_auto_send="outreach_follow_up")

    # When outreach runs for both follow-ups
    results = [
        await outreach.handle(direct_ctx(sessions, redis, settings, f"o{n}"), ActionRef(action_id=pk(f)))
        for n, f in enumerate(follow_ups)
    ]

    # Then the follow-up of the approved thread went out at once, logged; the other waits for Maya
    assert [r["status"] for r in results] == ["sent", "awaiting_approval"]
    auto = {a.id: a for a in await rows(sessions, Approval)}[results[0]["approvalId"]]
    assert (auto.status, auto.decided_by_id) == ("approved", None)
    assert auto.reason == (
        f"auto-sent: APPROVAL_AUTO_SEND names outreach_follow_up, and user {maya} approved its pitch "
        f"(approval {approved.id})"
    )
    assert await redis.exists(f"arq:job:email-send:approval:{auto.id}")
    assert any("auto-sent without a person" in r["message"] for r in records)
    waiting = {a.id: a for a in await rows(sessions, Approval)}[results[1]["approvalId"]]
    assert waiting.status == "pending"

    # And with the setting off (the default), the same follow-up waits like any other
    assert get_settings().approval_auto_send == frozenset()


async def test_the_command_line_lists_shows_approves_and_rejects(
    redis: ArqRedis,
    sessions: async_sessionmaker[AsyncSession],
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`talentq approvals list / show / approve / reject`, as a manager would use them."""
    from .conftest import REDIS_URL

    await seed(sessions)
    reply = await sample_approval(sessions, "negotiation_reply")
    agent = await sample_approval(sessions, "agent_email")
    maya, dan = await user(sessions, MAYA), await user(sessions, DAN)
    monkeypatch.setenv("REDIS_URL", REDIS_URL)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    get_settings.cache_clear()
    runner = CliRunner()

    def cli(*args: str) -> Any:
        return runner.invoke(app, list(args), env={"COLUMNS": "100"})

    listed = await asyncio.to_thread(cli, "approvals", "list", "--user", str(maya))
    assert listed.exit_code == 0, listed.output
    assert f"│ {reply.id} " in listed.output
    assert "negotiation_reply" in listed.output
    shown = await asyncio.to_thread(cli, "approvals", "show", str(reply.id))
    assert shown.exit_code == 0, shown.output
    assert "To: partnerships@gymshark.com" in shown.output
    assert "we would propose £3,200" in shown.output
    refused = await asyncio.to_thread(cli, "approvals", "approve", str(reply.id), "--by", str(dan))
    assert refused.exit_code == 1
    assert "only that manager decides it" in refused.output
    approved = await asyncio.to_thread(
        cli, "approvals", "approve", str(reply.id), "--by", str(maya), "--body", "£3,300, final."
    )
    assert approved.exit_code == 0, approved.output
    assert f"approval {reply.id} approved; email job email-send:approval:{reply.id}" in approved.output
    rejected = await asyncio.to_thread(
        cli, "approvals", "reject", str(agent.id), "--by", str(maya), "--reason", "Wrong tone"
    )
    assert rejected.exit_code == 0, rejected.output
    assert await redis.keys("arq:job:*") == [f"arq:job:email-send:approval:{reply.id}".encode()]
    get_settings.cache_clear()
