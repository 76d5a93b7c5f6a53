"""Deal and contract rules (pricing, replies, contract drafts, reviews) and their OpenAI-compatible side."""

from __future__ import annotations

import json

import httpx
import pytest

from talentq.domain.contracts import (
    UsageRights,
    render_contract,
)
from talentq.domain.pricing import (
    NegotiationFacts,
    PricingFacts,
    ThreadMessage,
)
from talentq.domain.vocabulary import ContentLine
from talentq.integrations.ai.openai import OpenAICompatibleProvider
from talentq.integrations.ai.protocol import AIUnavailable
from talentq.integrations.ai.rules import RulesProvider
from talentq.settings import Settings

from ..domain.test_contract_rules import terms

TIKTOK, STORY = ContentLine("tiktok", 2), ContentLine("instagram_story", 1)
AVA = PricingFacts(deal_id=1, currency="USD", fee_minor=500_000, audience=820_000, content=(TIKTOK, STORY))


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
