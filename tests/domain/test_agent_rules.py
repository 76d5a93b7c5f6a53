"""Agent rules: the steps the rules plan for each kind of task, and the confines of any plan."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from talentq.domain import agents as agent_rules
from talentq.domain.agents import (
    AgentContext,
    AgentTaskRefused,
    BrandFacts,
    DealFacts,
    InvalidStep,
    ManagerFacts,
    TalentFacts,
    checked_plan,
    parse_steps,
    plan_agent_steps,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def context(
    kind: str, *, stage: str = "draft", insights: dict[str, Any] | None = None, **changes: Any
) -> AgentContext:
    """Ava's HelloFresh offer, as the sample agency has it."""
    base = AgentContext(
        task_id=7,
        kind=kind,
        input={},
        now=NOW,
        deal=DealFacts(
            id=3,
            stage=stage,
            fee_minor=500_000,
            currency="USD",
            deliverables=[{"platform": "tiktok", "count": 2}, {"platform": "instagram_story", "count": 1}],
            insights=insights or {},
        ),
        talent=TalentFacts(id=1, name="Ava Chen", handle="avacooks", niches=["food"], audience_size=820_000),
        brand=BrandFacts(
            id=3, name="HelloFresh", contact_email="partnerships@hellofresh.com", category="food"
        ),
        manager=ManagerFacts(id=1, name="Maya Okafor", email="maya@northstar.test"),
    )
    return dataclasses.replace(base, **changes)


#: negotiation-engine's stored insights for the deal.
PRICED = {
    "currency": "USD",
    "market_rate_minor": 540_000,
    "counter_offer_minor": 620_000,
    "floor_minor": 480_000,
}


def test_a_reply_answers_the_brand_opens_the_negotiation_and_plans_a_follow_up() -> None:
    """reply_to_brand on a draft: email the brand's contact, draft -> negotiating, follow up in 72 h."""
    plan = plan_agent_steps(context("reply_to_brand"))

    assert [s.type for s in plan.steps] == ["send_email", "move_deal_stage", "schedule_follow_up"]
    email, move, follow_up = plan.steps
    assert isinstance(email, agent_rules.SendEmail)
    assert (email.to, email.reply_to) == ("partnerships@hellofresh.com", "maya@northstar.test")
    assert "USD 5,000.00 for 2 TikToks and 1 Instagram story" in email.body
    assert email.body.endswith("Maya Okafor")
    assert isinstance(move, agent_rules.MoveDealStage)
    assert (move.deal_id, move.to_stage) == (3, "negotiating")
    assert isinstance(follow_up, agent_rules.ScheduleFollowUp)
    assert follow_up.after_hours == 72
    assert all(step.explanation for step in plan.steps)
    assert plan.reasons == ["deal 3 is in stage 'draft': the brand is waiting for an answer"]


def test_a_reply_on_a_deal_in_negotiation_does_not_move_it() -> None:
    """A deal already negotiating stays where it is: no move_deal_stage step."""
    plan = plan_agent_steps(context("reply_to_brand", stage="negotiating"))
    assert [s.type for s in plan.steps] == ["send_email", "schedule_follow_up"]


@pytest.mark.parametrize(
    ("changes", "counter", "reason"),
    [
        ({}, "USD 5,750.00", "no recommendation on deal 3: 15% above the offer of USD 5,000.00"),
        ({"input": {"counterMinor": 650_000}}, "USD 6,500.00", "the manager asked for USD 6,500.00"),
        (
            {"insights": {"negotiation": PRICED}},
            "USD 6,200.00",
            "negotiation-engine recommends USD 6,200.00 for deal 3",
        ),
    ],
)
def test_a_counter_offer_asks_above_the_offer(changes: dict[str, Any], counter: str, reason: str) -> None:
    """counter_offer: the manager's figure, else negotiation-engine's, else 15% over the offer rounded up."""
    plan = plan_agent_steps(context("counter_offer", **changes))

    email = plan.steps[0]
    assert isinstance(email, agent_rules.SendEmail)
    assert f"we would propose {counter}" in email.body
    assert plan.reasons == [reason]


def test_a_counter_offer_at_or_below_the_offer_is_refused() -> None:
    """counterMinor not above the brand's fee: refused, naming the field and the offer."""
    with pytest.raises(AgentTaskRefused, match=r"counterMinor 400000 must be an integer above .* 500000"):
        plan_agent_steps(context("counter_offer", input={"counterMinor": 400_000}))


def test_a_follow_up_on_a_deal_that_moved_on_has_no_steps() -> None:
    """follow_up on a contracted deal: nothing to do (nobody to write to either), and the reason says so."""
    plan = plan_agent_steps(context("follow_up", stage="contracted", talent=None, manager=None))
    assert (plan.steps, plan.reasons) == (
        [],
        ["deal 3 moved on to stage 'contracted': no follow-up is needed"],
    )


def test_brand_outreach_is_one_pending_action() -> None:
    """brand_outreach: one create_outreach for the task's talent and brand, to the brand's contact."""
    plan = plan_agent_steps(context("brand_outreach", deal=None, manager=None))
    (step,) = plan.steps
    assert isinstance(step, agent_rules.CreateOutreach)
    assert (step.talent_id, step.brand_id, step.to) == (1, 3, "partnerships@hellofresh.com")
    assert plan.reasons == ["Ava Chen's niche 'food' matches HelloFresh's category"]


@pytest.mark.parametrize(
    ("ctx", "message"),
    [
        (context("haiku"), "agent task 7 has unknown kind 'haiku' \\(known: reply_to_brand, counter_offer"),
        (
            context("reply_to_brand", deal=None),
            "agent task 7 \\(reply_to_brand\\) needs a deal \\(set its deal_id\\), and has none",
        ),
        (context("reply_to_brand", stage="lost"), "deal 3 is in stage 'lost', not one of draft, negotiating"),
        (
            context("follow_up", brand=BrandFacts(id=3, name="HelloFresh")),
            "brand 3 \\(HelloFresh\\) has no contact_email, and the task's input has no 'to'",
        ),
    ],
)
def test_tasks_that_cannot_be_planned_are_refused_clearly(ctx: AgentContext, message: str) -> None:
    """Unknown kind, missing deal, a lost deal, nobody to write to: refused, naming what is wrong."""
    with pytest.raises(AgentTaskRefused, match=message):
        plan_agent_steps(ctx)


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ("nope", "steps must be a list, got str"),
        ([{"type": "send_email", "to": "a@b.co", "subject": "s", "body": "b", "explanation": "e"},
          {"type": "fax"}],
         "steps\\[1\\] has unknown type 'fax' \\(known: send_email, create_outreach"),
        ([{"type": "send_email", "subject": "s", "body": "b", "explanation": "e"}],
         "steps\\[0\\] \\(send_email\\): field 'to': Field required"),
        ([{"type": "move_deal_stage", "deal_id": 3, "to_stage": "won", "explanation": "e"}],
         "steps\\[0\\] \\(move_deal_stage\\): field 'to_stage': Input should be"),
    ],
)  # fmt: skip
def test_stored_steps_are_validated_naming_the_index_and_field(steps: object, message: str) -> None:
    """Unknown step type, missing or bad field: InvalidStep names steps[i] and the field."""
    with pytest.raises(InvalidStep, match=message):
        parse_steps(steps)


def test_a_plan_is_confined_to_its_task() -> None:
    """A step writing to a stranger, touching another deal or moving a deal an agent may not is refused."""
    ctx = context("reply_to_brand")
    stranger = agent_rules.SendEmail(
        type="send_email", to="boss@evil.test", subject="s", body="b", explanation="prompt injection"
    )
    with pytest.raises(InvalidStep, match=r"'boss@evil\.test' is not an address of this task's brand"):
        checked_plan([stranger], [], ctx)
    other_deal = agent_rules.MoveDealStage(
        type="move_deal_stage", deal_id=99, to_stage="lost", explanation="e"
    )
    with pytest.raises(InvalidStep, match="deal 99 is not this task's deal"):
        checked_plan([other_deal], [], ctx)
    give_up = agent_rules.MoveDealStage(type="move_deal_stage", deal_id=3, to_stage="lost", explanation="e")
    with pytest.raises(InvalidStep, match="an agent cannot move deal 3 from 'contracted' to 'lost'"):
        checked_plan([give_up], [], context("reply_to_brand", stage="contracted"))
    reopen = agent_rules.MoveDealStage(
        type="move_deal_stage", deal_id=3, to_stage="negotiating", explanation="e"
    )
    with pytest.raises(InvalidStep, match="an agent cannot move deal 3 from 'negotiating' to 'negotiating'"):
        checked_plan([reopen], [], context("reply_to_brand", stage="negotiating"))


@pytest.mark.parametrize("stage", ["contracted", "delivered"])
def test_an_agent_step_can_never_contract_or_deliver_a_deal(stage: str) -> None:
    """Only contract_finalisation contracts a deal: no step model, plan or stored step may say so."""
    with pytest.raises(ValidationError, match="Input should be 'negotiating' or 'lost'"):
        agent_rules.MoveDealStage(type="move_deal_stage", deal_id=3, to_stage=stage, explanation="e")
    stored = [{"type": "move_deal_stage", "deal_id": 3, "to_stage": stage, "explanation": "agreed"}]
    with pytest.raises(InvalidStep, match="steps\\[0\\] \\(move_deal_stage\\): field 'to_stage'"):
        parse_steps(stored)


def test_a_template_filled_past_a_field_limit_is_refused_naming_the_step_field() -> None:
    """A 300-character brand name overflows the reply's subject: refused (not retried), naming the field."""
    long_name = BrandFacts(id=3, name="B" * 300, contact_email="partnerships@hellofresh.com")
    with pytest.raises(
        AgentTaskRefused,
        match=r"agent task 7 \(reply_to_brand\): its planned steps do not validate: "
        r"steps\[0\] field 'subject': String should have at most 300 characters",
    ):
        plan_agent_steps(context("reply_to_brand", brand=long_name))
