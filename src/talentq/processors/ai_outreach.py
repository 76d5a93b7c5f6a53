"""ai-outreach: draft pitches for one talent to the brands that fit them best, as pending outreach actions.

Reads ``talents``, ``users``, ``brands``, ``deals`` and ``outreach_actions``; writes pending
``outreach_actions``. Safe to re-run: what was pitched lately is skipped, re-checked when the drafts
are written, and the unique index on pending (talent, brand) refuses a second open action.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from talentq.db.models import utcnow
from talentq.db.tables import Brand, Deal, OutreachAction, OutreachStatus, Talent, User
from talentq.domain.outreach import (
    AGENCY_RECENT,
    OPEN_PITCH_HOLDS_FOR,
    TALENT_RECENT,
    OutreachBrand,
    OutreachDraft,
    OutreachTalent,
)
from talentq.errors import PermanentJobError
from talentq.jobs import JobContext, uses_tables
from talentq.queues import TalentRef

#: weekly-outreach drafts once a week and daily-outreach-plan sends up to ``daily_outreach_cap``
#: a day: a run drafts at most a working week's sending, less the drafts still pending, so
#: repeated runs never pile up a backlog; and never more than MAX_DRAFTS_PER_RUN.
WORKING_DAYS: Final = 5
MAX_DRAFTS_PER_RUN: Final = 10
#: The summary carries the reasons of this many drafts (a run makes at most MAX_DRAFTS_PER_RUN),
#: at most REASONS_PER_DRAFT each: an HTTP provider's reasons are not bounded by themselves.
SUMMARY_DRAFTS: Final = 10
REASONS_PER_DRAFT: Final = 6
#: pg_advisory_xact_lock(class, id) classes: one for a talent, one for a brand (see ``handle``).
TALENT_LOCK: Final = 0xA10E7
BRAND_LOCK: Final = 0xA10E8

# A brand ``b`` the talent may pitch: it has an address; no pitch to it is open and able to go out
# (see OPEN_PITCH_HOLDS_FOR; whoever's), none was drafted, sent or answered within AGENCY_RECENT
# (whoever's) nor drafted or sent by this talent within TALENT_RECENT (rotated-away, failed and
# rejected drafts included: they are this talent's history); and the talent has no open deal with it
# (it is being worked on). A draft whose approval expired holds nothing, and a rejected one holds
# only its talent: the brand never heard of either. Read with the facts, and again, under the locks,
# in the statement that writes the drafts.
_ELIGIBLE: Final = """
    coalesce(btrim(b.contact_email), '') <> ''
    AND NOT EXISTS (
        SELECT 1 FROM outreach_actions AS oa
        WHERE oa.brand_id = b.id
          AND ((oa.status = 'pending' AND oa.created_at >= :open_since
                AND EXISTS (SELECT 1 FROM talents AS ot
                            WHERE ot.id = oa.talent_id AND ot.active AND ot.daily_outreach_cap > 0))
               OR (oa.created_at >= :agency_since AND oa.status NOT IN ('expired', 'rejected'))
               OR oa.sent_at >= :agency_since OR oa.replied_at >= :agency_since
               OR (oa.talent_id = :talent AND oa.status <> 'expired'
                   AND (oa.created_at >= :talent_since OR oa.sent_at >= :talent_since))))
    AND NOT EXISTS (
        SELECT 1 FROM deals AS od
        WHERE od.talent_id = :talent AND od.brand_id = b.id
          AND od.stage IN ('draft', 'negotiating', 'contracted'))
"""
# The eligible brands with the facts the fit needs.
_CANDIDATES: Final = text(
    f"""
    SELECT b.id, b.name, b.category,
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
     WHERE {_ELIGIBLE}
     GROUP BY b.id
     ORDER BY b.id
    """
)
# The drafts, best first, of brands still eligible, up to :room; the address is read now.
_INSERT: Final = text(
    f"""
    INSERT INTO outreach_actions (talent_id, brand_id, subject, message, to_address)
    SELECT :talent, b.id, left(draft.subject, 300), draft.message, btrim(b.contact_email)
      FROM unnest(CAST(:brands AS integer[]), CAST(:subjects AS text[]), CAST(:messages AS text[]))
               WITH ORDINALITY AS draft(brand_id, subject, message, rank)
      JOIN brands AS b ON b.id = draft.brand_id
     WHERE {_ELIGIBLE}
     ORDER BY draft.rank
     LIMIT :room
    ON CONFLICT (talent_id, brand_id) WHERE status = 'pending' DO NOTHING
    RETURNING id, brand_id
    """
)
# Taken in the order given (the caller sorts): two runs wanting the same brands never deadlock.
_LOCK_BRANDS: Final = text(
    "SELECT count(pg_advisory_xact_lock(:class, brand)) FROM unnest(CAST(:brands AS integer[])) AS brand"
)


@uses_tables(Talent, User, Brand, Deal, OutreachAction)
async def handle(ctx: JobContext, payload: TalentRef) -> dict[str, Any]:
    """Read the facts, ask the AI with no transaction open, then write the drafts still allowed.

    Concurrency: weekly-outreach runs many of these at once, for talents of one roster and of
    other managers, and two must not pitch one brand. The rule is re-checked in the statement
    that writes the drafts, under transaction-scoped advisory locks on each drafted brand (and on
    the talent, for its cap): a run that wrote first makes the other's re-check drop that brand.
    Locks keyed by brand rather than by manager: they cover talents of different managers too,
    and nothing is held while the AI answers (a session lock across that call would keep a
    connection and a worker slot waiting per job of the roster). The price: a brand drafted by
    two runs at once goes to the first writer, and the other run drafts one fewer that week.
    Other writers take no such lock: outreach-rotation only moves a brand's open pitch (which
    already keeps ai-outreach off that brand); a pitch the web app adds at the very same moment
    can still meet one drafted here.
    """
    talent_id = payload.talent_id
    now = utcnow()
    window = {
        "talent": talent_id,
        "agency_since": now - AGENCY_RECENT,
        "talent_since": now - TALENT_RECENT,
        "open_since": now - OPEN_PITCH_HOLDS_FOR,
    }
    async with ctx["sessions"]() as session:
        talent, manager = await _talent(session, talent_id)
        limit = await _room(session, talent)
        brands = await _candidates(session, window) if limit > 0 else []
    summary: dict[str, Any] = {
        "talentId": talent_id,
        "drafted": 0,
        "actionIds": [],
        "candidates": len(brands),
        "limit": max(limit, 0),
        "drafts": [],
        "dropped": [],
    }
    if not brands:
        return summary  # nothing to pitch, or no room: the AI is not asked
    profile = OutreachTalent(
        id=talent_id,
        name=talent.name,
        handle=talent.handle,
        niches=list(talent.niches),
        audience_size=talent.audience_size,
        manager_name=manager.name,
    )
    drafts = await ctx["ai"].draft_outreach(profile, brands, limit=limit)
    if not drafts:
        return summary
    async with ctx["sessions"].begin() as session:
        made = await _write(session, talent_id, drafts, window)
    if made is None:
        # Paused while the AI answered: nothing is drafted for them, and that is no failure.
        return {**summary, "skipped": "talent became inactive"}
    action_ids = sorted(made.values())
    by_action = {made[d.brand_id]: d for d in drafts if d.brand_id in made}
    return {
        **summary,
        "drafted": len(action_ids),
        "actionIds": action_ids,
        "drafts": [
            {
                "actionId": action_id,
                "brandId": by_action[action_id].brand_id,
                "score": by_action[action_id].score,
                "reasons": by_action[action_id].reasons[:REASONS_PER_DRAFT],
            }
            for action_id in action_ids[:SUMMARY_DRAFTS]
        ],
        # Drafted, then found pitched meanwhile (or the cap reached) when written.
        "dropped": sorted(d.brand_id for d in drafts if d.brand_id not in made)[:SUMMARY_DRAFTS],
    }


async def _talent(session: AsyncSession, talent_id: int) -> tuple[Talent, User]:
    """The talent and their manager; a talent missing or inactive is a permanent failure."""
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
    return talent, manager


async def _room(session: AsyncSession, talent: Talent) -> int:
    """How many drafts the talent may get now: a working week's cap, less the drafts pending."""
    pending = await session.scalar(
        select(func.count())
        .select_from(OutreachAction)
        .where(
            col(OutreachAction.talent_id) == talent.id,
            col(OutreachAction.status) == OutreachStatus.PENDING,
        )
    )
    return min(MAX_DRAFTS_PER_RUN, talent.daily_outreach_cap * WORKING_DAYS) - int(pending or 0)


async def _candidates(session: AsyncSession, window: dict[str, Any]) -> list[OutreachBrand]:
    """The brands the talent may pitch, with their facts."""
    rows = (await session.execute(_CANDIDATES, window)).mappings()
    return [
        OutreachBrand(
            id=row["id"],
            name=row["name"],
            category=row["category"],
            deals_with_talent=row["deals_with_talent"],
            wins_with_talent=row["wins_with_talent"],
            category_deals=row["category_deals"],
            typical_audience=row["typical_audience"],
        )
        for row in rows
    ]


async def _write(
    session: AsyncSession, talent_id: int, drafts: Sequence[OutreachDraft], window: dict[str, Any]
) -> dict[int, int] | None:
    """Insert the drafts whose brands are still eligible, within the cap; brand id -> new action id.

    None when the talent was paused since the facts were read: no draft is written.
    """
    # Talent first, then brands in id order: every run takes them in the same order.
    await session.execute(
        text("SELECT pg_advisory_xact_lock(:class, :talent)"), {"class": TALENT_LOCK, "talent": talent_id}
    )
    await session.execute(_LOCK_BRANDS, {"class": BRAND_LOCK, "brands": sorted({d.brand_id for d in drafts})})
    # Re-read under the lock: the talent may have been paused, or drafted for, since the facts were read.
    talent = await session.get(Talent, talent_id)
    if talent is None:
        raise PermanentJobError(f"talent {talent_id} not found")
    if not talent.active:
        return None
    room = await _room(session, talent)
    if room <= 0:
        return {}
    rows = await session.execute(
        _INSERT,
        {
            **window,
            "room": room,
            "brands": [d.brand_id for d in drafts],
            "subjects": [d.subject for d in drafts],
            "messages": [d.message for d in drafts],
        },
    )
    return {int(row.brand_id): int(row.id) for row in rows}
