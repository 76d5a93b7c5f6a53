"""strategy-engine: predict a brand's likely spend, category and timing for a manager, and store it.

Reads ``users``, ``brands`` and ``deals`` (the agency's history with the brand and with brands of
its category); upserts the ``strategy_predictions`` row of (user, lower(brand name)). Safe to
re-run: the prediction is replaced, never added. A brand the agency has never met is allowed.
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import func, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import TextClause
from sqlmodel import col

from talentq.db.brands import find_brand
from talentq.db.models import utcnow
from talentq.db.tables import Brand, Deal, StrategyPrediction, User
from talentq.domain.outreach import DealFact
from talentq.errors import PermanentJobError
from talentq.jobs import JobContext, uses_tables
from talentq.queues import StrategyEngine

#: The most recent deals read per side (the brand's own, similar brands'): enough for a median
#: and a season, and a bounded read for a brand with years of history.
HISTORY_LIMIT: Final = 200

_SELECT: Final = """
    SELECT b.name AS brand_name, b.category, d.stage, d.fee_minor, d.currency,
           coalesce(d.starts_at, d.created_at) AS started_at
      FROM deals d JOIN brands b ON b.id = d.brand_id
"""
_LATEST: Final = " ORDER BY started_at DESC, d.id DESC LIMIT :limit"
_OWN: Final = text(_SELECT + " WHERE d.brand_id = :brand" + _LATEST)
# Similar brands: the same category (lower-cased), or every other brand when it is unknown.
_SIMILAR: Final = text(
    _SELECT
    + """
     WHERE d.brand_id IS DISTINCT FROM CAST(:brand AS integer)
       AND (CAST(:category AS text) IS NULL OR lower(b.category) = CAST(:category AS text))
    """
    + _LATEST
)


@uses_tables(User, Brand, Deal, StrategyPrediction)
async def handle(ctx: JobContext, payload: StrategyEngine) -> dict[str, Any]:
    read_at = utcnow()
    # The facts are read and the connection given back before the AI is asked: an HTTP provider
    # may take seconds, and no transaction should stay open meanwhile.
    async with ctx["sessions"]() as session:
        if await session.get(User, payload.user_id) is None:
            raise PermanentJobError(f"user {payload.user_id} not found")
        brand = await find_brand(session, payload.brand_name)
        brand_id, name = (brand.id, brand.name) if brand else (None, payload.brand_name)
        category = brand.category if brand else None
        history = await _deals(session, _OWN, brand=brand_id) if brand_id else []
        similar = await _deals(session, _SIMILAR, brand=brand_id, category=category and category.lower())
    forecast = await ctx["ai"].predict_strategy(name, category, history, similar, today=read_at.date())
    values = {
        "brand_id": brand_id,
        "brand_name": name,
        "predicted_spend_minor": forecast.predicted_spend_minor,
        "currency": forecast.currency,
        "category": forecast.category,
        "timing": forecast.timing,
        "confidence": forecast.confidence,
        "reasons": forecast.reasons,
        "created_at": read_at,
    }
    async with ctx["sessions"].begin() as session:
        # A run that read its facts later (and finished first) is not overwritten with older facts.
        prediction_id = await session.scalar(
            insert(StrategyPrediction)
            .values(user_id=payload.user_id, **values)
            .on_conflict_do_update(
                index_elements=[
                    col(StrategyPrediction.user_id),
                    func.lower(col(StrategyPrediction.brand_name)),
                ],
                set_=values,
                where=col(StrategyPrediction.created_at) <= read_at,
            )
            .returning(col(StrategyPrediction.id))
        )
    return {
        "predictionId": prediction_id,
        "brand": name,
        "known": brand_id is not None,
        "predictedSpendMinor": forecast.predicted_spend_minor,
        "currency": forecast.currency,
        "confidence": forecast.confidence,
        "superseded": prediction_id is None,  # a newer prediction was kept
    }


async def _deals(session: AsyncSession, query: TextClause, **params: Any) -> list[DealFact]:
    rows = await session.execute(query, {**params, "limit": HISTORY_LIMIT})
    return [
        DealFact(
            brand_name=row["brand_name"],
            category=row["category"],
            stage=row["stage"],
            fee_minor=row["fee_minor"],
            currency=row["currency"],
            started_on=row["started_at"].date(),
        )
        for row in rows.mappings()
    ]
