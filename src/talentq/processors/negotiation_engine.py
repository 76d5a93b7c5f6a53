"""negotiation-engine: price a draft deal (market rate, counter-offer, floor) from the agency's past deals.

Reads ``deals`` (the draft and its comparable contracted/delivered deals) and ``talents``;
writes ``deals.insights["negotiation"]``, keeping the other keys. Safe to re-run: the insights
are recomputed, then written under the deal's row lock only when they changed, and only if the
deal is still the draft they priced.
"""

from __future__ import annotations

from typing import Any

from talentq.db.deals import (
    comparable_deals,
    load_deal,
    pricing_facts,
    require_priced_facts,
    require_stage,
    with_insights,
)
from talentq.db.tables import Brand, Deal, Talent, User
from talentq.domain.vocabulary import DealStage
from talentq.jobs import JobContext, uses_tables
from talentq.queues import DealDraftRef

FIELD = "dealDraftId"


@uses_tables(Deal, Talent, Brand, User)
async def handle(ctx: JobContext, payload: DealDraftRef) -> dict[str, Any]:
    async with ctx["sessions"]() as session:
        parties = await load_deal(session, payload.deal_draft_id, field=FIELD, lock=False)
        require_stage(parties.deal, DealStage.DRAFT, field=FIELD)
        facts = pricing_facts(parties)
        comparables = await comparable_deals(session, parties.deal)
    # Priced with no session open: the provider may be a remote model that takes seconds, and a
    # connection (or a row lock) held that long would starve every other job.
    insights = await ctx["ai"].negotiation_insights(facts, comparables)
    async with ctx["sessions"].begin() as session:
        parties = await load_deal(session, payload.deal_draft_id, field=FIELD, lock=True)
        require_stage(parties.deal, DealStage.DRAFT, field=FIELD)  # it may have moved meanwhile
        require_priced_facts(parties, facts)
        merged = with_insights(parties.deal, insights)
        changed = merged != parties.deal.insights
        if changed:  # an unchanged deal keeps its updated_at: a re-run writes nothing
            parties.deal.insights = merged
    return {
        "dealId": payload.deal_draft_id,
        "changed": changed,
        "currency": insights.currency,
        "marketRateMinor": insights.market_rate_minor,
        "counterOfferMinor": insights.counter_offer_minor,
        "floorMinor": insights.floor_minor,
        "recommendation": insights.recommendation,
        "sources": sorted({rate.source for rate in insights.platforms}),
    }
