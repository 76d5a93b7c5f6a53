"""creator-fit: score each of a manager's active talents against a brand prediction, with the reasons.

Reads ``users``, ``talents``, ``brands``, ``deals``, ``deliverables`` and ``strategy_predictions``;
upserts one ``creator_fit_scores`` row per (user, talent, lower(brand name)). Safe to re-run:
scores are replaced, never added.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Final

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator
from pydantic.alias_generators import to_camel
from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col

from talentq.db.brands import find_brand
from talentq.db.models import utcnow
from talentq.db.tables import Brand, CreatorFitScore, Deal, Deliverable, StrategyPrediction, Talent, User
from talentq.domain.money import is_currency
from talentq.domain.outreach import AVAILABILITY_DAYS, FitBrand, FitTalent
from talentq.errors import PermanentJobError
from talentq.jobs import JobContext, uses_tables
from talentq.queues import CreatorFit

# The manager's active talents with their history with the brand (:brand, may be NULL) and its
# category (:category, lower-cased, may be NULL), and their deliverables falling due soon.
_TALENTS: Final = text(
    """
    SELECT t.id, t.name, t.niches, t.audience_size,
           (SELECT count(*) FROM deals d
             WHERE d.talent_id = t.id AND d.brand_id = CAST(:brand AS integer) AND d.stage <> 'lost')
               AS brand_deals,
           (SELECT count(*) FROM deals d
             WHERE d.talent_id = t.id AND d.brand_id = CAST(:brand AS integer)
               AND d.stage IN ('contracted', 'delivered')) AS brand_wins,
           (SELECT count(*) FROM deals d JOIN brands b ON b.id = d.brand_id
             WHERE d.talent_id = t.id AND d.stage <> 'lost'
               AND b.id IS DISTINCT FROM CAST(:brand AS integer)
               AND lower(b.category) = CAST(:category AS text)) AS category_deals,
           (SELECT count(*) FROM deliverables v
             WHERE v.talent_id = t.id AND v.status <> 'approved'
               AND v.due_at >= :now AND v.due_at < :until) AS due_soon
      FROM talents t
     WHERE t.manager_id = :user AND t.active
     ORDER BY t.id
    """
)


class PredictionFacts(BaseModel):
    """The brandPrediction object as creator-fit reads it: strategy-engine's fields, checked."""

    model_config = ConfigDict(
        alias_generator=to_camel, validate_by_name=True, validate_by_alias=True, extra="ignore"
    )

    brand_name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    predicted_spend_minor: Annotated[int, Field(ge=0, strict=True)] | None = None
    currency: str | None = None
    category: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = None
    confidence: Annotated[float, Field(ge=0, le=1)] | None = None
    timing: str | None = None

    @field_validator("currency")
    @classmethod
    def _iso(cls, value: str | None) -> str | None:
        if value is not None and not is_currency(value):
            raise ValueError(f"{value!r} is not an ISO 4217 currency code")
        return value


@uses_tables(User, Talent, Brand, Deal, Deliverable, StrategyPrediction, CreatorFitScore)
async def handle(ctx: JobContext, payload: CreatorFit) -> dict[str, Any]:
    facts = _prediction(payload)
    now = utcnow()
    # The facts are read and the connection given back before the AI is asked (it may take seconds).
    async with ctx["sessions"]() as session:
        if await session.get(User, payload.user_id) is None:
            raise PermanentJobError(f"user {payload.user_id} not found")
        brand = await find_brand(session, facts.brand_name)
        brand_name = brand.name if brand else facts.brand_name  # the brand's own spelling when known
        category = facts.category or (brand.category if brand else None)
        rows = await session.execute(
            _TALENTS,
            {
                "user": payload.user_id,
                "brand": brand.id if brand else None,
                "category": category.lower() if category else None,
                "now": now,
                "until": now + timedelta(days=AVAILABILITY_DAYS),
            },
        )
        talents = [FitTalent(**row) for row in rows.mappings()]
    if not talents:
        return {"userId": payload.user_id, "brand": brand_name, "scored": 0}
    target = FitBrand(brand_name, category, facts.predicted_spend_minor, facts.currency)
    fits = await ctx["ai"].score_creator_fit(target, talents)
    async with ctx["sessions"].begin() as session:
        # Read here, not with the facts: strategy-engine may have stored or replaced it meanwhile.
        prediction_id = await session.scalar(
            select(col(StrategyPrediction.id)).where(
                col(StrategyPrediction.user_id) == payload.user_id,
                func.lower(col(StrategyPrediction.brand_name)) == brand_name.lower(),
            )
        )
        statement = insert(CreatorFitScore).values(
            [
                {
                    "user_id": payload.user_id,
                    "talent_id": fit.talent_id,
                    "prediction_id": prediction_id,
                    "brand_name": brand_name,
                    "score": fit.score,
                    "reasons": fit.reasons,
                    "created_at": now,
                }
                for fit in fits
            ]
        )
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=[
                    col(CreatorFitScore.user_id),
                    col(CreatorFitScore.talent_id),
                    func.lower(col(CreatorFitScore.brand_name)),
                ],
                set_={
                    column: statement.excluded[column]
                    for column in ("prediction_id", "brand_name", "score", "reasons", "created_at")
                },
                # A run that read its facts later (and finished first) keeps its scores.
                where=col(CreatorFitScore.created_at) <= now,
            )
        )
    best = max(fits, key=lambda fit: fit.score)
    return {
        "userId": payload.user_id,
        "brand": brand_name,
        "predictionId": prediction_id,
        "scored": len(fits),
        "best": {"talentId": best.talent_id, "score": best.score},
    }


def _prediction(payload: CreatorFit) -> PredictionFacts:
    """brandPrediction validated field by field; a malformed one is a permanent failure naming the field."""
    raw = payload.brand_prediction.model_dump(by_alias=True)
    try:
        facts = PredictionFacts.model_validate(raw)
    except ValidationError as exc:
        detail = "; ".join(
            f"brandPrediction.{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors(include_url=False)
        )
        raise PermanentJobError(f"invalid brandPrediction for creator-fit: {detail}") from None
    if facts.predicted_spend_minor is not None and facts.currency is None:
        raise PermanentJobError(
            "invalid brandPrediction for creator-fit: brandPrediction.currency is required "
            "with predictedSpendMinor (minor units of which currency?)"
        )
    return facts
