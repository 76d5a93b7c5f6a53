"""Pricing and negotiation rules: the rate card, comparable deals, counter-offers, floors and replies."""

from __future__ import annotations

import pytest

from talentq.domain.pricing import (
    ComparableDeal,
    NegotiationFacts,
    NoMarketRate,
    PricingFacts,
    ThreadMessage,
    draft_negotiation_reply,
    negotiation_insights,
)
from talentq.domain.vocabulary import ContentLine

TIKTOK, STORY = ContentLine("tiktok", 2), ContentLine("instagram_story", 1)

AVA = PricingFacts(deal_id=1, currency="USD", fee_minor=500_000, audience=820_000, content=(TIKTOK, STORY))


def comparable(
    deal_id: int, fee: int, audience: int, *lines: ContentLine, currency: str = "USD"
) -> ComparableDeal:
    return ComparableDeal(deal_id, currency, fee, audience, lines)


def test_without_comparable_deals_the_rate_card_prices_the_deal() -> None:
    """2 TikToks ($400/100k) and a story ($150/100k) for 820k followers: $7,790; counter +10%, floor 85%."""
    insights = negotiation_insights(AVA, [])

    assert insights.market_rate_minor == 2 * 40_000 * 82 // 10 + 15_000 * 82 // 10 == 779_000
    assert insights.counter_offer_minor == 857_000  # 856,900 rounded up to USD 10
    assert insights.floor_minor == 663_000  # 85% = 662,150, rounded up; above the 500,000 offer
    assert insights.recommendation == "counter"
    assert [(r.platform, r.source, r.rate_per_100k_minor) for r in insights.platforms] == [
        ("tiktok", "rate_card", 40_000),
        ("instagram_story", "rate_card", 15_000),
    ]
    assert any("rate card: 0 comparable USD deal(s) show it, 3 needed" in r for r in insights.reasons)
    assert any("is 64% of market" in r for r in insights.reasons)


def test_comparable_deals_set_the_rate_where_three_show_a_platform() -> None:
    """Median per-100k TikTok rate of three USD deals (a mix split by rate-card weight); EUR ignored."""
    deals = [
        comparable(10, 300_000, 500_000, ContentLine("tiktok", 1)),  # 60,000 per 100k
        comparable(11, 600_000, 1_000_000, ContentLine("tiktok", 2)),  # 30,000 per 100k per unit
        # weights 400:150 -> the TikTok earned 192,000 of 264,000: 48,000 per 100k; the story 18,000
        comparable(12, 264_000, 400_000, ContentLine("tiktok", 1), ContentLine("instagram_story", 1)),
        comparable(13, 9_000_000, 100_000, ContentLine("tiktok", 1), currency="EUR"),
    ]

    insights = negotiation_insights(AVA, deals)

    tiktok, story = insights.platforms
    assert (tiktok.source, tiktok.rate_per_100k_minor, tiktok.observations) == ("deals", 48_000, 3)
    assert (story.source, story.rate_per_100k_minor, story.observations) == ("rate_card", 15_000, 1)
    assert insights.market_rate_minor == 2 * 48_000 * 82 // 10 + 15_000 * 82 // 10 == 910_200
    assert insights.comparable_deal_ids == [10, 11, 12]


def test_a_currency_off_the_rate_card_needs_comparable_deals() -> None:
    """SEK with one comparable deal: no guessed exchange rate; a refusal naming platform and currency."""
    sek = PricingFacts(2, "SEK", 5_000_000, 300_000, (ContentLine("tiktok", 1),))
    with pytest.raises(NoMarketRate, match=r"cannot price TikTok in SEK: 1 comparable SEK deal\(s\)"):
        negotiation_insights(
            sek, [comparable(3, 4_000_000, 300_000, ContentLine("tiktok", 1), currency="SEK")]
        )


@pytest.mark.parametrize(
    ("offer", "counter", "floor", "recommendation"),
    [
        (None, 857_000, 663_000, "counter"),  # no fee named: we quote first
        (700_000, 857_000, 700_000, "counter"),  # the floor never drops below the offer
        (900_000, 900_000, 900_000, "accept"),  # above market + 10%
    ],
)
def test_counter_offer_and_floor_follow_the_offer(
    offer: int | None, counter: int, floor: int, recommendation: str
) -> None:
    """The counter anchors at market + 10% unless the offer is higher; the floor is never below the offer."""
    insights = negotiation_insights(PricingFacts(1, "USD", offer, 820_000, (TIKTOK, STORY)), [])
    assert (insights.counter_offer_minor, insights.floor_minor, insights.recommendation) == (
        counter,
        floor,
        recommendation,
    )


def facts(offer: int | None, *thread: ThreadMessage) -> NegotiationFacts:
    return NegotiationFacts(
        session_id=1,
        talent_name="Ava Chen",
        brand_name="HelloFresh",
        manager_name="Maya Okafor",
        currency="USD",
        audience=820_000,
        content=(TIKTOK, STORY),
        market_rate_minor=779_000,
        counter_offer_minor=857_000,
        floor_minor=663_000,
        brand_offer_minor=offer,
        thread=thread,
    )


def ours(fee: int) -> ThreadMessage:
    return ThreadMessage("agency", f"we propose {fee}", fee)


def theirs(fee: int) -> ThreadMessage:
    return ThreadMessage("brand", f"we offer {fee}", fee)


@pytest.mark.parametrize(
    ("offer", "thread", "action", "fee"),
    [
        (500_000, (), "counter", 857_000),  # first reply: the recommended counter
        (900_000, (), "accept", 900_000),  # the offer beats our ask
        (700_000, (), "counter", 779_000),  # above the floor: meet halfway (778,500 rounded up)
        # after two counters, an offer that clears the floor is taken
        (700_000, (ours(857_000), theirs(650_000), ours(780_000), theirs(700_000)), "accept", 700_000),
        (500_000, (ours(857_000), theirs(500_000)), "counter", 760_000),  # below the floor: half the way
        (500_000, (ours(664_000), theirs(500_000)), "counter", 664_000),  # ...and never under it
        (None, (), "counter", 857_000),
        (700_000, (ours(857_000), ours(857_000)), "counter", 857_000),  # they owe us an answer: follow up
    ],
)
def test_replies_concede_step_by_step_and_never_below_the_floor(
    offer: int | None, thread: tuple[ThreadMessage, ...], action: str, fee: int
) -> None:
    """Accept what meets our ask, meet halfway above the floor, hold near the floor below it."""
    reply = draft_negotiation_reply(facts(offer, *thread))

    assert (reply.action, reply.fee_minor) == (action, fee)
    assert reply.fee_minor >= 663_000
    assert "USD" in reply.message
    assert reply.message.startswith("Hi HelloFresh team,")
    assert reply.message.endswith("Maya Okafor")
    assert reply.reasons


def test_no_thread_state_yields_a_fee_below_the_floor() -> None:
    """Every offer from nothing to twice the ask, after 0 to 4 counters: the fee is at least the floor."""
    for offer in [None, *range(0, 1_800_000, 37_000)]:
        for rounds in range(5):
            thread = tuple(m for n in range(rounds) for m in (ours(857_000 - 40_000 * n), theirs(offer or 1)))
            reply = draft_negotiation_reply(facts(offer, *thread))
            assert reply.fee_minor >= 663_000, (offer, rounds, reply)
