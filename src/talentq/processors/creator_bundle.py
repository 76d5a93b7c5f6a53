"""creator-bundle: propose a bundle of complementary creators for a brand within its predicted budget.

Reads ``brands``, ``strategy_predictions``, ``talents``, ``deals``, ``deliverables`` and
``creator_fit_scores``; upserts the brand's ``creator_bundles`` row. Safe to re-run: the
proposal is replaced, never added.
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import func, or_, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col

from talentq.db.models import utcnow
from talentq.db.tables import (
    Brand,
    CreatorBundle,
    CreatorFitScore,
    Deal,
    Deliverable,
    StrategyPrediction,
    Talent,
)
from talentq.domain.money import format_minor
from talentq.domain.outreach import DEFAULT_CURRENCY, DEFAULT_SPEND_MINOR, BundleCandidate, estimated_fee
from talentq.errors import PermanentJobError
from talentq.jobs import JobContext, uses_tables
from talentq.queues import CreatorBundle as CreatorBundleRef

# Every active talent of the agency with the platforms they have delivered on, their median
# fee in the budget's currency (deals not lost), and their best stored fit for the brand.
_CANDIDATES: Final = text(
    """
    SELECT t.id, t.name, t.niches, t.audience_size,
           coalesce((SELECT array_agg(DISTINCT lower(v.platform) ORDER BY lower(v.platform))
                       FROM deliverables v WHERE v.talent_id = t.id AND v.platform IS NOT NULL),
                    '{}') AS platforms,
           (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY d.fee_minor)
              FROM deals d
             WHERE d.talent_id = t.id AND d.currency = :currency AND d.stage <> 'lost'
               AND d.fee_minor IS NOT NULL) AS median_fee,
           (SELECT count(*) FROM deals d
             WHERE d.talent_id = t.id AND d.currency = :currency AND d.stage <> 'lost'
               AND d.fee_minor IS NOT NULL) AS priced_deals,
           (SELECT max(f.score) FROM creator_fit_scores f
             WHERE f.talent_id = t.id AND lower(f.brand_name) = :brand_name) AS fit
      FROM talents t
     WHERE t.active
     ORDER BY t.id
    """
)


@uses_tables(Brand, StrategyPrediction, Talent, Deal, Deliverable, CreatorFitScore, CreatorBundle)
async def handle(ctx: JobContext, payload: CreatorBundleRef) -> dict[str, Any]:
    read_at = utcnow()
    # The facts are read and the connection given back before the AI is asked (it may take seconds).
    async with ctx["sessions"]() as session:
        brand = await session.get(Brand, payload.brand_id)
        if brand is None:
            raise PermanentJobError(f"brand {payload.brand_id} not found")
        # The latest prediction any manager made for the brand, by id or by name.
        prediction = (
            await session.execute(
                select(StrategyPrediction)
                .where(
                    or_(
                        col(StrategyPrediction.brand_id) == brand.id,
                        func.lower(col(StrategyPrediction.brand_name)) == brand.name.lower(),
                    ),
                    col(StrategyPrediction.predicted_spend_minor).is_not(None),
                )
                .order_by(col(StrategyPrediction.created_at).desc(), col(StrategyPrediction.id).desc())
                .limit(1)
            )
        ).scalar_one_or_none()
        if prediction is not None and prediction.predicted_spend_minor is not None:
            budget, currency = prediction.predicted_spend_minor, prediction.currency
            basis = f"strategy prediction {prediction.id}"
        else:
            budget, currency = DEFAULT_SPEND_MINOR, DEFAULT_CURRENCY
            basis = "no strategy prediction: the default budget"
        rows = await session.execute(_CANDIDATES, {"currency": currency, "brand_name": brand.name.lower()})
        candidates = [_candidate(row, currency) for row in rows.mappings()]
    bundle = await ctx["ai"].build_bundle(
        brand.name, brand.category, candidates, budget_minor=budget, currency=currency
    )
    values = {
        "talent_ids": bundle.talent_ids,
        "budget_minor": budget,
        "currency": currency,
        "rationale": [f"{basis}: {format_minor(budget, currency)}", *bundle.rationale],
        "created_at": read_at,
    }
    async with ctx["sessions"].begin() as session:
        # A run that read its facts later (and finished first) keeps its bundle.
        bundle_id = await session.scalar(
            insert(CreatorBundle)
            .values(brand_id=brand.id, **values)
            .on_conflict_do_update(
                index_elements=["brand_id"], set_=values, where=col(CreatorBundle.created_at) <= read_at
            )
            .returning(col(CreatorBundle.id))
        )
    return {
        "bundleId": bundle_id,
        "brandId": brand.id,
        "talentIds": bundle.talent_ids,
        "totalMinor": bundle.total_minor,
        "budgetMinor": budget,
        "currency": currency,
        "superseded": bundle_id is None,  # a newer bundle was kept
    }


def _candidate(row: Any, currency: str) -> BundleCandidate:
    if row["median_fee"] is not None:
        fee, fee_basis = int(row["median_fee"]), f"median of {row['priced_deals']} past {currency} deal(s)"
    else:
        fee, fee_basis = estimated_fee(row["audience_size"], currency), "estimated from the audience"
    return BundleCandidate(
        talent_id=row["id"],
        name=row["name"],
        niches=list(row["niches"]),
        platforms=list(row["platforms"]),
        audience_size=row["audience_size"],
        fee_minor=fee,
        fee_basis=fee_basis,
        fit=row["fit"],
    )
