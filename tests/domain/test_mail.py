"""The mail rules: classification and offer extraction on the labelled set, in bounded time."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from talentq.domain.mail import classify_message, extract_deal
from talentq.domain.vocabulary import CATEGORIES

DATA = Path(__file__).parents[1] / "data" / "inbox_messages.json"


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
        content_right += sorted((d.platform, d.count) for d in got.deliverables) == expected
    accuracy = 1 - len(misses) / len(offers)
    print(f"\nfee and currency accuracy: {accuracy:.1%} ({len(offers) - len(misses)}/{len(offers)} offers)")
    print(f"deliverables exactly right: {content_right / len(offers):.1%}")
    print("\n".join(misses))
    assert accuracy >= FEE_FLOOR, "\n".join(misses)


def test_hostile_input_is_read_in_bounded_time() -> None:
    """A megabyte of digits or of unclosed <style> tags is answered (pytest-timeout bounds the test)."""
    assert classify_message("hi", "1" * 1_000_000).category == "other"
    assert extract_deal("hi", "9" * 1_000_000 + " USD").fee_minor is None
    from talentq.domain.mail.text import html_to_text

    assert html_to_text("<p>hello</p>" + "<style>" * 100_000).startswith("hello")


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
