"""Deal and contract rules (pricing, replies, contract drafts, reviews) and their OpenAI-compatible side."""

from __future__ import annotations

import json
from datetime import date

import httpx
import pytest

from talentq.integrations.ai import AIUnavailable, OpenAICompatibleProvider, RulesProvider, extract_deal
from talentq.integrations.ai_deals import (
    ComparableDeal,
    ContentLine,
    ContractTerms,
    NegotiationFacts,
    NoMarketRate,
    PaymentTerms,
    PricingFacts,
    ThreadMessage,
    UsageRights,
    describe_content,
    draft_negotiation_reply,
    negotiation_insights,
    parse_content,
    payment_schedule,
    render_contract,
    review_contract,
)
from talentq.settings import Settings

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


async def test_the_rules_review_reads_our_own_contract_as_matching() -> None:
    """The rendered contract reviewed against its own terms: no mismatch, in USD and in zero-decimal JPY."""
    for agreed in (terms(), terms(currency="JPY", fee_minor=1_500_000, usage=UsageRights(12, True))):
        review = await RulesProvider().review_contract(render_contract(agreed, final=True), agreed)
        assert review.mismatches == [], review.reasons
        assert review.reasons[-1] == "the draft matches every agreed term"


async def test_a_brand_draft_is_reviewed_term_by_term() -> None:
    """Wrong fee, a TikTok short, perpetual paid usage, no deposit at net 60: four mismatches, explained."""
    draft = (
        "Sponsorship agreement between HelloFresh and Ava Chen.\n"
        "HelloFresh will pay a fee of $7,500 for 1 TikTok and 1 Instagram story.\n"
        "HelloFresh may use the content in perpetuity, including paid social ads.\n"
        "Payment is made net 60 after the content is live."
    )

    review = await RulesProvider().review_contract(draft, terms())

    found = {m.term: (m.agreed, m.found) for m in review.mismatches}
    assert found == {
        "fee": ("USD 8,570.00", "USD 7,500.00"),
        "deliverables": ("2 TikToks", "1 TikToks"),
        "usage_rights": ("3 months, paid media excluded", "in perpetuity, paid media included"),
        "payment_terms": ("50% on signing, net 30 days", "no deposit, net 60 days"),
    }
    assert len(review.reasons) == 5


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


def openai(answer: object) -> OpenAICompatibleProvider:
    def handler(request: httpx.Request) -> httpx.Response:
        sent = json.loads(request.content)
        assert sent["response_format"] == {"type": "json_object"}
        assert sent["messages"][1]["content"]  # the facts went out
        content = answer if isinstance(answer, str) else json.dumps(answer)
        return httpx.Response(200, json={"choices": [{"message": {"content": content}}]})

    settings = Settings(
        _env_file=None, ai_provider="openai", ai_base_url="https://ai.test/v1", ai_api_key="k", ai_model="m"
    )
    return OpenAICompatibleProvider(httpx.AsyncClient(transport=httpx.MockTransport(handler)), settings)


async def test_openai_insights_and_replies_are_validated() -> None:
    """Valid answers become the rules' types; a floor above the counter or a reply under it is refused."""
    insights = {
        "market_rate_minor": 800_000,
        "counter_offer_minor": 880_000,
        "floor_minor": 680_000,
        "recommendation": "counter",
        "platforms": [
            {
                "platform": "tiktok",
                "count": 2,
                "rate_per_100k_minor": 40_000,
                "source": "rate_card",
                "observations": 0,
            }
        ],
        "reasons": ["rate card"],
    }
    got = await openai(insights).negotiation_insights(AVA, [])
    assert (got.market_rate_minor, got.offer_minor, got.platforms[0].source) == (
        800_000,
        500_000,
        "rate_card",
    )
    with pytest.raises(AIUnavailable, match="floor 990000 is above the counter-offer 880000"):
        await openai({**insights, "floor_minor": 990_000}).negotiation_insights(AVA, [])

    reply = {"action": "counter", "fee_minor": 700_000, "message": "Hi HelloFresh team, ...", "reasons": []}
    assert (await openai(reply).draft_negotiation_reply(facts(500_000))).fee_minor == 700_000
    with pytest.raises(AIUnavailable, match="proposes 600000, below the floor 663000"):
        await openai({**reply, "fee_minor": 600_000}).draft_negotiation_reply(facts(500_000))


async def test_openai_contract_drafts_and_reviews_are_validated() -> None:
    """A draft's text and a review's mismatches come back typed; an unknown term does not validate."""
    draft = await openai({"text": "AGREEMENT ...", "reasons": ["from deal 3"]}).draft_contract(terms())
    assert draft.text == "AGREEMENT ..."
    review = await openai(
        {"mismatches": [{"term": "fee", "agreed": "USD 8,570.00", "found": "USD 7,500.00"}]}
    ).review_contract("draft", terms())
    assert [(m.term, m.found) for m in review.mismatches] == [("fee", "USD 7,500.00")]
    with pytest.raises(AIUnavailable):
        await openai({"mismatches": [{"term": "exclusivity", "agreed": "", "found": ""}]}).review_contract(
            "draft", terms()
        )
