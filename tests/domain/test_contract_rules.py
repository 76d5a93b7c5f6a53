"""Contract rules: the rendered text, the payment schedule and the review of a brand's draft."""

from __future__ import annotations

from datetime import date

import pytest

from talentq.domain.contracts import (
    ContractTerms,
    PaymentTerms,
    UsageRights,
    payment_schedule,
    render_contract,
    review_contract,
)
from talentq.domain.mail import extract_deal
from talentq.domain.vocabulary import ContentLine, describe_content, parse_content

TIKTOK, STORY = ContentLine("tiktok", 2), ContentLine("instagram_story", 1)


def terms(**changes: object) -> ContractTerms:
    values: dict[str, object] = {
        "contract_id": 7,
        "deal_id": 3,
        "brand_name": "HelloFresh",
        "talent_name": "Ava Chen",
        "talent_handle": "avacooks",
        "manager_name": "Maya Okafor",
        "fee_minor": 857_000,
        "currency": "USD",
        "content": (TIKTOK, STORY),
        "starts_on": date(2026, 4, 1),
        "ends_on": date(2026, 4, 15),
        "usage": UsageRights(months=3, paid_media=False),
        "payment": PaymentTerms(deposit_percent=50, net_days=30),
    }
    values.update(changes)
    return ContractTerms(**values)  # type: ignore[arg-type]  # a test's keyword bag


def test_a_rendered_contract_states_every_term_once() -> None:
    """Parties, fee, content, window, usage and the exact payment split are in the text."""
    text = render_contract(terms(fee_minor=857_001), final=True)

    assert "Brand: HelloFresh" in text
    assert "Creator: Ava Chen (@avacooks), represented by Maya Okafor" in text
    assert "a total fee of USD 8,570.01" in text
    assert "publish 2 TikToks and 1 Instagram story." in text
    assert "from 1 April 2026 to 15 April 2026" in text
    assert "for 3 months from publication" in text
    assert "(USD 4,285.00) is invoiced on signing and the balance (USD 4,285.01)" in text
    assert "payable net 30 days" in text
    assert "DRAFT" not in text
    assert render_contract(terms(), final=False).startswith("DRAFT - ")


def test_a_currency_mismatch_is_its_own_finding() -> None:
    """A draft in euros for a dollar deal: the currency is named, whatever the amount."""
    draft = render_contract(terms(), final=True).replace("USD 8,570.00", "EUR 8,570.00")
    review = review_contract(draft, terms(), extract_deal("", draft))
    assert [(m.term, m.agreed, m.found) for m in review.mismatches] == [("currency", "USD", "EUR")]


def test_a_fee_found_in_another_currency_is_read_in_that_currency() -> None:
    """Agreed JPY 1,500,000, the draft says $15,000: the fee found is USD 15,000.00, with its currency."""
    agreed = terms(currency="JPY", fee_minor=1_500_000)
    draft = render_contract(agreed, final=True).replace("JPY 1,500,000", "$15,000")
    review = review_contract(draft, agreed, extract_deal("", draft))
    assert [(m.term, m.agreed, m.found) for m in review.mismatches] == [
        ("currency", "JPY", "USD"),
        ("fee", "JPY 1,500,000", "USD 15,000.00"),
    ]


@pytest.mark.parametrize(
    ("fee", "deposit", "parts"),
    [
        (100_001, 50, [(1, 50_000, "signing"), (2, 50_001, "campaign_end")]),
        (100_000, 30, [(1, 30_000, "signing"), (2, 70_000, "campaign_end")]),
        (100_000, 0, [(1, 100_000, "campaign_end")]),
        (100_000, 100, [(1, 100_000, "signing")]),
    ],
)
def test_the_payment_schedule_adds_up_to_the_fee(
    fee: int, deposit: int, parts: list[tuple[int, int, str]]
) -> None:
    """A deposit and a balance, split exactly; no deposit or all up front is one invoice."""
    schedule = payment_schedule(fee, PaymentTerms(deposit, 30))
    assert [(p.number, p.amount_minor, p.after) for p in schedule] == parts
    assert sum(p.amount_minor for p in schedule) == fee


def test_deliverables_are_checked_item_by_item() -> None:
    """Unknown platforms (with a suggestion), zero, fractional or boolean counts: each named."""
    content, problems = parse_content(
        [
            {"platform": "tiktk", "count": 2},
            {"platform": "instagram_reel", "count": 0},
            {"platform": "podcast", "count": True},
            {"platform": "blog_post", "count": 1.5},
            "2 reels",
        ]
    )
    assert content == ()
    assert problems == [
        "deliverables[0].platform 'tiktk' is not a platform (did you mean 'tiktok'?)",
        "deliverables[1].count must be an integer from 1 to 50, got 0",
        "deliverables[2].count must be an integer from 1 to 50, got True",
        "deliverables[3].count must be an integer from 1 to 50, got 1.5",
        "deliverables[4] must be an object with platform and count, got '2 reels'",
    ]
    assert parse_content([])[1] == ["deliverables must be a non-empty list of {platform, count}, got []"]
    merged, _ = parse_content([{"platform": "tiktok", "count": 1}, {"platform": "tiktok", "count": 2}])
    assert merged == (ContentLine("tiktok", 3),)
    assert describe_content((TIKTOK, STORY, ContentLine("youtube_short", 1))) == (
        "2 TikToks, 1 Instagram story and 1 YouTube Short"
    )
