"""The rules engine measured on a labelled set of inbound mail (tests/data/inbox_messages.json).

Accuracy is printed (run with -s to see it) and asserted above floors: a change that
makes the engine worse fails here, whatever its unit tests say.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from talentq.errors import ConfigError
from talentq.integrations.ai import (
    CATEGORIES,
    AIRejected,
    AIUnavailable,
    OpenAICompatibleProvider,
    RulesProvider,
    classify_message,
    extract_deal,
    make_ai_provider,
)
from talentq.settings import Settings

DATA = Path(__file__).parent / "data" / "inbox_messages.json"
#: Floors: the issue aims at 90% for both; set at what the engine measures, minus a little
#: slack for a data set of this size (one message is ~1.4 points).
CLASSIFICATION_FLOOR = 0.90
FEE_FLOOR = 0.90


@pytest.fixture(scope="module")
def messages() -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads(DATA.read_text())
    return data


def test_the_labelled_set_is_varied(messages: list[dict[str, Any]]) -> None:
    """At least 60 messages, every category represented, ids unique."""
    assert len(messages) >= 60
    assert len({m["id"] for m in messages}) == len(messages)
    counts = Counter(m["category"] for m in messages)
    assert set(counts) == set(CATEGORIES)
    assert counts["deal_offer"] >= 20


def test_classification_accuracy(messages: list[dict[str, Any]]) -> None:
    """The category is right for at least CLASSIFICATION_FLOOR of the set; misses are printed."""
    misses = []
    for m in messages:
        got = classify_message(m["subject"], m["body"])
        if got.category != m["category"]:
            misses.append(
                f"{m['id']}: expected {m['category']}, got {got.category} ({', '.join(got.reasons)})"
            )
    accuracy = 1 - len(misses) / len(messages)
    print(f"\nclassification accuracy: {accuracy:.1%} ({len(messages) - len(misses)}/{len(messages)})")
    print("\n".join(misses))
    assert accuracy >= CLASSIFICATION_FLOOR, "\n".join(misses)


def test_fee_and_currency_accuracy_on_offers(messages: list[dict[str, Any]]) -> None:
    """On offers, fee and currency are both right for at least FEE_FLOOR; content is reported."""
    offers = [m for m in messages if m["category"] == "deal_offer"]
    misses, content_right = [], 0
    for m in offers:
        got = extract_deal(m["subject"], m["body"])
        if (got.fee_minor, got.currency) != (m["fee_minor"], m["currency"]):
            misses.append(
                f"{m['id']}: expected {m['fee_minor']} {m['currency']}, got {got.fee_minor} {got.currency}"
            )
        expected = sorted((d["platform"], d["count"]) for d in m["deliverables"])
        content_right += sorted((d["platform"], d["count"]) for d in got.deliverables) == expected
    accuracy = 1 - len(misses) / len(offers)
    print(f"\nfee and currency accuracy: {accuracy:.1%} ({len(offers) - len(misses)}/{len(offers)} offers)")
    print(f"deliverables exactly right: {content_right / len(offers):.1%}")
    print("\n".join(misses))
    assert accuracy >= FEE_FLOOR, "\n".join(misses)


def _openai(answer: str | None, status: int = 200) -> OpenAICompatibleProvider:
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
    )
    return OpenAICompatibleProvider(httpx.AsyncClient(transport=httpx.MockTransport(handler)), settings)


async def test_openai_compatible_answers_are_validated() -> None:
    """A valid JSON answer becomes the same result types as the rules engine's."""
    provider = _openai('{"category": "deal_offer", "confidence": 0.9, "reasons": ["names a fee"]}')
    assert (await provider.classify_message("s", "b")).category == "deal_offer"
    provider = _openai(
        '{"fee_minor": 500000, "currency": "USD", "deliverables": [{"platform": "tiktok", "count": 2}]}'
    )
    terms = await provider.extract_deal("s", "b")
    assert (terms.fee_minor, terms.currency, terms.deliverables) == (
        500000,
        "USD",
        [{"platform": "tiktok", "count": 2}],
    )


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


def test_hostile_input_is_read_in_bounded_time() -> None:
    """A megabyte of digits or of unclosed <style> tags is answered (pytest-timeout bounds the test)."""
    assert classify_message("hi", "1" * 1_000_000).category == "other"
    assert extract_deal("hi", "9" * 1_000_000 + " USD").fee_minor is None
    from talentq.integrations.mailbox import _html_to_text

    assert _html_to_text("<p>hello</p>" + "<style>" * 100_000).startswith("hello")


@pytest.mark.parametrize(
    ("text", "window"),
    [
        ("going live between 1 and 15 April", ("2026-04-01", "2026-04-15")),
        ("posting between Oct 7 and Oct 21", ("2026-10-07", "2026-10-21")),
        ("Dates flexible in July.", ("2026-07-01", "2026-07-31")),
        ("first two weeks of June", ("2026-06-01", "2026-06-30")),
        ("a launch on 2nd February", ("2027-02-02", "2027-02-02")),
        ("no dates at all", (None, None)),
    ],
)
def test_the_campaign_window_is_read_from_the_offer(text: str, window: tuple[str | None, str | None]) -> None:
    """Dates become a window; a month named before the mail's month is next year's."""
    terms = extract_deal("offer", text, reference=date(2026, 3, 10))
    got = (terms.starts_on and terms.starts_on.isoformat(), terms.ends_on and terms.ends_on.isoformat())
    assert got == window
