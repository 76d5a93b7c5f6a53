"""The OpenAI-compatible provider asked about mail: answers validated into the rules engine's
types, failures told apart, and the rules engine answering when the model fails (AI_FALLBACK)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from talentq.domain.mail import Deliverable, Fee
from talentq.errors import ConfigError
from talentq.integrations.ai import make_ai_provider
from talentq.integrations.ai.openai import OpenAICompatibleProvider
from talentq.integrations.ai.protocol import AIRejected, AIUnavailable
from talentq.integrations.ai.rules import RulesProvider
from talentq.settings import Settings


def _openai(answer: str | None, status: int = 200, *, fallback: bool = False) -> OpenAICompatibleProvider:
    def handler(request: httpx.Request) -> httpx.Response:
        sent = json.loads(request.content)
        assert request.url.path == "/v1/chat/completions"
        assert request.headers["Authorization"] == "Bearer key-1"
        assert sent["response_format"] == {"type": "json_object"}
        return httpx.Response(status, json={"choices": [{"message": {"content": answer}}]})

    settings = Settings(
        _env_file=None,
        ai_provider="openai",
        ai_base_url="https://ai.test/v1",
        ai_api_key="key-1",
        ai_model="m-1",
        ai_fallback=fallback,
    )
    return OpenAICompatibleProvider(httpx.AsyncClient(transport=httpx.MockTransport(handler)), settings)


async def test_openai_compatible_answers_are_validated() -> None:
    """A valid JSON answer becomes the same result types as the rules engine's."""
    provider = _openai('{"category": "deal_offer", "confidence": 0.9, "reasons": ["names a fee"]}')
    assert (await provider.classify_message("s", "b")).category == "deal_offer"
    provider = _openai(
        '{"fee": {"kind": "exact", "minor": 500000, "currency": "USD", "text": "$5,000"}, "brand": "Glow",'
        ' "deliverables": [{"platform": "tiktok", "count": 2}, {"platform": "x_post", "count": 1,'
        ' "optional": true}]}'
    )
    terms = await provider.extract_deal("s", "b")
    assert (terms.fee, terms.brand, terms.deliverables) == (
        Fee("exact", "USD", 500000, text="$5,000"),
        "Glow",
        [Deliverable("tiktok", 2), Deliverable("x_post", 1, optional=True)],
    )


@pytest.mark.parametrize(
    "fee",
    [
        '{"kind": "exact", "currency": "USD"}',
        '{"kind": "range", "min_minor": 300000, "max_minor": 200000, "currency": "EUR"}',
        '{"kind": "none"}',
    ],
)
async def test_a_fee_whose_fields_disagree_with_its_kind_is_unusable(fee: str) -> None:
    with pytest.raises(AIUnavailable, match="deal terms is unusable"):
        await _openai(f'{{"fee": {fee}}}').extract_deal("s", "b")


@pytest.mark.parametrize(
    ("answer", "status", "error"),
    [
        ("not json", 200, AIUnavailable),
        ('{"category": "maybe", "confidence": 2}', 200, AIUnavailable),
        (None, 429, AIUnavailable),
        (None, 503, AIUnavailable),
        (None, 401, AIRejected),
    ],
)
async def test_openai_compatible_failures_are_classified(
    answer: str | None, status: int, error: type[Exception]
) -> None:
    """An answer that does not validate, a 429 or an outage is transient; refused credentials are not."""
    with pytest.raises(error):
        await _openai(answer, status).classify_message("s", "b")


def test_openai_provider_names_missing_settings() -> None:
    """Choosing the HTTP provider without its settings names each one to set."""
    with pytest.raises(
        ConfigError, match="AI_PROVIDER=openai needs AI_BASE_URL, AI_API_KEY, AI_MODEL to be set"
    ):
        make_ai_provider(Settings(_env_file=None, ai_provider="openai"), httpx.AsyncClient())
    assert isinstance(make_ai_provider(Settings(_env_file=None), httpx.AsyncClient()), RulesProvider)


@pytest.mark.parametrize(
    ("answer", "status"),
    [("not json", 200), ('{"category": "maybe", "fee": {"kind": "some"}}', 200), (None, 503)],
)
async def test_with_fallback_the_rules_answer_when_the_model_fails_and_say_so(
    answer: str | None, status: int, records: list[dict[str, Any]]
) -> None:
    """The job goes on with the rules' answer; the log and the answer's first cue say why."""
    provider = _openai(answer, status, fallback=True)
    verdict = await provider.classify_message("Invoice INV-204", "Please find attached invoice INV-204.")
    terms = await provider.extract_deal("Offer", "We offer $2,000 for 1 TikTok.")
    assert verdict.category == "invoice"
    assert verdict.reasons[0].startswith("rules engine: the AI provider failed")
    assert terms.reasons[0].startswith("rules engine: the AI provider failed")
    assert terms.fee == Fee("exact", "USD", 200000, text=terms.fee.text)
    warnings = [r["message"] for r in records if r["level"].name == "WARNING"]
    assert len(warnings) == 2
    assert all("the rules engine answered instead" in w for w in warnings)


async def test_refused_credentials_are_never_hidden_by_the_fallback() -> None:
    with pytest.raises(AIRejected, match="AI_API_KEY"):
        await _openai(None, 401, fallback=True).classify_message("s", "b")
