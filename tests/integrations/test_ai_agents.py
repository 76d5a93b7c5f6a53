"""The OpenAI-compatible provider's agent plans: validated, confined to their task, and refused
before asking when no plan can be made."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from talentq.domain.agents import AgentTaskRefused
from talentq.integrations.ai.openai import OpenAICompatibleProvider
from talentq.integrations.ai.protocol import AIUnavailable
from talentq.settings import Settings

from ..domain.test_agent_rules import context
from ..processors.test_email_send import Recorder, smtp, smtp_settings  # noqa: F401  (smtp: the fixture)


def openai(answer: dict[str, Any], calls: list[dict[str, Any]]) -> OpenAICompatibleProvider:
    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(json.loads(request.content))
        return httpx.Response(200, json={"choices": [{"message": {"content": json.dumps(answer)}}]})

    settings = Settings(
        _env_file=None, ai_provider="openai", ai_base_url="https://ai.test/v1", ai_api_key="k", ai_model="m"
    )
    return OpenAICompatibleProvider(httpx.AsyncClient(transport=httpx.MockTransport(handler)), settings)


async def test_the_openai_plan_is_validated_and_confined() -> None:
    """A valid answer becomes the same steps as the rules'; one that strays is a retryable bad answer."""
    calls: list[dict[str, Any]] = []
    email = {"type": "send_email", "to": "partnerships@hellofresh.com", "subject": "Hi", "body": "Yes!"}
    good = {"steps": [{**email, "explanation": "answer"}], "reasons": ["the brand asked"]}

    plan = await openai(good, calls).plan_agent_steps(context("reply_to_brand"))

    assert [s.type for s in plan.steps] == ["send_email"]
    assert plan.reasons == ["the brand asked"]
    assert '"kind": "reply_to_brand"' in calls[0]["messages"][1]["content"]
    stray = {"steps": [{**email, "to": "x@evil.test", "explanation": "e"}]}
    with pytest.raises(AIUnavailable, match=r"plan for agent task 7 is unusable: .*x@evil\.test"):
        await openai(stray, calls).plan_agent_steps(context("reply_to_brand"))
    missing = {"steps": [{"type": "send_email", "to": "partnerships@hellofresh.com"}]}
    with pytest.raises(AIUnavailable, match="did not validate as AgentPlanAnswer"):
        await openai(missing, calls).plan_agent_steps(context("reply_to_brand"))


async def test_an_ai_answer_contracting_the_deal_is_refused() -> None:
    """The prompt offers only negotiating and lost; an answer that contracts the deal is not a plan."""
    calls: list[dict[str, Any]] = []
    move = {"type": "move_deal_stage", "deal_id": 3, "to_stage": "contracted", "explanation": "agreed"}
    with pytest.raises(AIUnavailable, match="did not validate as AgentPlanAnswer"):
        await openai({"steps": [move]}, calls).plan_agent_steps(
            context("reply_to_brand", stage="negotiating")
        )
    prompt = calls[0]["messages"][0]["content"]
    assert '"to_stage": "negotiating" (only from draft) or "lost"' in prompt
    assert "Never move a deal to contracted or delivered" in prompt


async def test_the_openai_provider_refuses_an_unknown_kind_without_asking() -> None:
    """An unknown kind is refused before any request is sent."""
    calls: list[dict[str, Any]] = []
    with pytest.raises(AgentTaskRefused, match="unknown kind 'haiku'"):
        await openai({"steps": []}, calls).plan_agent_steps(context("haiku"))
    assert calls == []
