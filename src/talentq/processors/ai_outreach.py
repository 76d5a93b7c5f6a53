"""ai-outreach: draft pitches for one talent to the brands that fit them best, as pending outreach actions.

Reads ``talents``, ``users``, ``brands``, ``deals`` and ``outreach_actions``; writes pending
``outreach_actions``. Safe to re-run: runs for one talent take turns (an advisory lock), brands the
talent contacted in the last 30 days are skipped, and the unique index on pending (talent, brand)
makes a second open action impossible (INSERT ... ON CONFLICT DO NOTHING).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Final

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from talentq.db.domain import Brand, Deal, OutreachAction, OutreachStatus, Talent, User
from talentq.db.models import utcnow
from talentq.errors import PermanentJobError
from talentq.integrations.ai import make_ai_provider
from talentq.integrations.ai_outreach import OutreachBrand, OutreachTalent
from talentq.jobs import JobContext, uses_tables
from talentq.queues import TalentRef

#: A brand this talent contacted (or drafted to) more recently than this is not pitched again.
RECENT_CONTACT: Final = timedelta(days=30)
#: weekly-outreach drafts once a week and daily-outreach-plan sends up to ``daily_outreach_cap``
#: a day: a run drafts at most a working week's sending, less the drafts still pending, so
#: repeated runs never pile up a backlog; and never more than MAX_DRAFTS_PER_RUN.
WORKING_DAYS: Final = 5
MAX_DRAFTS_PER_RUN: Final = 10
#: pg_advisory_xact_lock(class, talent id): one ai-outreach run per talent at a time.
_LOCK_CLASS: Final = 0xA10E7

# Brands the talent may pitch, with the facts the fit needs. Skipped: a brand with a pending
# action or any contact in RECENT_CONTACT, or an open deal with the talent (it is being worked on).
_CANDIDATES: Final = text(
    """
    SELECT b.id, b.name, b.category, b.contact_email,
           count(d.id) FILTER (WHERE d.talent_id = :talent AND d.stage <> 'lost') AS deals_with_talent,
           count(d.id) FILTER (WHERE d.talent_id = :talent AND d.stage IN ('contracted', 'delivered'))
               AS wins_with_talent,
           (SELECT count(*) FROM deals cd JOIN brands cb ON cb.id = cd.brand_id
             WHERE cd.talent_id = :talent AND cd.stage <> 'lost' AND cb.id <> b.id
               AND lower(cb.category) = lower(b.category)) AS category_deals,
           (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY t.audience_size)
              FROM deals ad JOIN talents t ON t.id = ad.talent_id
             WHERE ad.brand_id = b.id AND ad.stage <> 'lost') AS typical_audience
      FROM brands b
      LEFT JOIN deals d ON d.brand_id = b.id
     WHERE NOT EXISTS (
             SELECT 1 FROM outreach_actions oa
              WHERE oa.talent_id = :talent AND oa.brand_id = b.id
                AND (oa.status = 'pending' OR oa.created_at >= :since OR oa.sent_at >= :since
                     OR oa.replied_at >= :since))
       AND NOT EXISTS (
             SELECT 1 FROM deals od
              WHERE od.talent_id = :talent AND od.brand_id = b.id
                AND od.stage IN ('draft', 'negotiating', 'contracted'))
     GROUP BY b.id
     ORDER BY b.id
    """
)


@uses_tables(Talent, User, Brand, Deal, OutreachAction)
async def handle(ctx: JobContext, payload: TalentRef) -> dict[str, Any]:
    talent_id = payload.talent_id
    async with ctx["sessions"].begin() as session:
        await session.execute(
            text("SELECT pg_advisory_xact_lock(:class, :talent)"), {"class": _LOCK_CLASS, "talent": talent_id}
        )
        found = (
            await session.execute(
                select(Talent, User)
                .join(User, col(User.id) == col(Talent.manager_id))
                .where(col(Talent.id) == talent_id)
            )
        ).one_or_none()
        if found is None:
            raise PermanentJobError(f"talent {talent_id} not found")
        talent, manager = found
        if not talent.active:
            raise PermanentJobError(f"talent {talent_id} (@{talent.handle}) is inactive")
        pending = await session.scalar(
            select(func.count())
            .select_from(OutreachAction)
            .where(
                col(OutreachAction.talent_id) == talent_id,
                col(OutreachAction.status) == OutreachStatus.PENDING,
            )
        )
        limit = min(MAX_DRAFTS_PER_RUN, talent.daily_outreach_cap * WORKING_DAYS) - int(pending or 0)
        if limit <= 0:
            return {"talentId": talent_id, "drafted": 0, "pending": pending, "limit": 0}
        brands, addresses = await _candidates(session, talent_id)
        profile = OutreachTalent(
            id=talent_id,
            name=talent.name,
            handle=talent.handle,
            niches=list(talent.niches),
            audience_size=talent.audience_size,
            manager_name=manager.name,
        )
        drafts = await make_ai_provider(ctx["settings"], ctx["http"]).draft_outreach(
            profile, brands, limit=limit
        )
        action_ids: list[int] = []
        if drafts:
            inserted = await session.execute(
                insert(OutreachAction)
                .values(
                    [
                        {
                            "talent_id": talent_id,
                            "brand_id": draft.brand_id,
                            "subject": draft.subject[:300],
                            "message": draft.message,
                            "to_address": addresses[draft.brand_id],
                        }
                        for draft in drafts
                    ]
                )
                .on_conflict_do_nothing(
                    index_elements=["talent_id", "brand_id"], index_where=text("status = 'pending'")
                )
                .returning(col(OutreachAction.id))
            )
            action_ids = sorted(int(i) for i in inserted.scalars() if i is not None)
    return {
        "talentId": talent_id,
        "drafted": len(action_ids),
        "actionIds": action_ids,
        "candidates": len(brands),
        "limit": limit,
    }


async def _candidates(session: AsyncSession, talent_id: int) -> tuple[list[OutreachBrand], dict[int, str]]:
    """The brands the talent may pitch (those with a contact address), and their addresses by id."""
    rows = (
        await session.execute(_CANDIDATES, {"talent": talent_id, "since": utcnow() - RECENT_CONTACT})
    ).mappings()
    brands: list[OutreachBrand] = []
    addresses: dict[int, str] = {}
    for row in rows:
        if not row["contact_email"]:
            continue  # nowhere to send a pitch: outreach would fail on it
        brands.append(
            OutreachBrand(
                id=row["id"],
                name=row["name"],
                category=row["category"],
                deals_with_talent=row["deals_with_talent"],
                wins_with_talent=row["wins_with_talent"],
                category_deals=row["category_deals"],
                typical_audience=row["typical_audience"],
            )
        )
        addresses[row["id"]] = row["contact_email"]
    return brands, addresses
