"""Asking a model to plan an agent task: the prompt and the answer model, read by the domain's rules."""

from __future__ import annotations

from typing import Final

from pydantic import BaseModel, Field

from talentq.domain.agents import (
    AgentContext,
    AgentPlan,
    Step,
    check_context,
    checked_plan,
    plan_agent_steps,
)
from talentq.integrations.ai.capability import Capability

# --- the OpenAI-compatible provider's question and answer -------------------------------------


class AgentPlanAnswer(BaseModel):
    """What the OpenAI-compatible provider must answer: the same step models as the rules."""

    steps: list[Step] = Field(max_length=10)
    reasons: list[str] = Field(default_factory=list)


AGENT_PROMPT: Final = (
    "You are the AI agent of a talent agency. Given a task and its context (JSON), decide the steps "
    "to take. Answer with a JSON object: "
    '{"steps": [...], "reasons": [short strings]}. Each step is one of: '
    '{"type": "send_email", "to": an address from the context, "subject", "body", "reply_to": the '
    'manager\'s address or null, "explanation"}; '
    '{"type": "create_outreach", "talent_id", "brand_id", "to", "subject", "message", "explanation"}; '
    '{"type": "move_deal_stage", "deal_id", "to_stage": "negotiating" (only from draft) or "lost" '
    '(only from draft or negotiating), "explanation"}; {"type": "schedule_follow_up", "deal_id", '
    '"after_hours": 1..720, "note", "explanation"}. Never move a deal to contracted or delivered: the '
    "agency does that when it finalises the contract. Only use the ids and addresses in the context. "
    "Task kinds: reply_to_brand (answer "
    "the brand's offer, open the negotiation), counter_offer (propose a higher fee, never below the "
    "offer), follow_up (nudge the brand only while the deal is draft or negotiating), brand_outreach "
    "(one create_outreach for the talent and brand). Sign emails with the manager's name."
)


def plan_from_answer(answer: AgentPlanAnswer, context: AgentContext) -> AgentPlan:
    """An AI's validated answer, confined to the task's context (``InvalidStep`` if it strays)."""
    return checked_plan(answer.steps, answer.reasons, context)


PLAN_AGENT_STEPS: Final[Capability[AgentContext, AgentPlanAnswer, AgentPlan]] = Capability(
    name="plan_agent_steps",
    rules=plan_agent_steps,
    prompt=AGENT_PROMPT,
    request=AgentContext.as_prompt,
    answer=AgentPlanAnswer,
    read=plan_from_answer,
    what=lambda context: f"plan for agent task {context.task_id}",
    check=check_context,  # an unknown kind is refused before any request
)
