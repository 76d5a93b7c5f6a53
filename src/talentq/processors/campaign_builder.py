"""campaign-builder: plan a deal's campaign: one deliverable per unit of content, due over its window.

Reads ``deals``, ``talents`` and ``brands``; writes the deal's ``campaigns`` row and its
``deliverables``, in one transaction under the deal's row lock. Safe to re-run: the plan is
replaced, never duplicated; rows already matching it are left untouched (same ids), and
submitted, approved or changes-requested work is never deleted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from talentq.db.deals import DealParties, content_of, load_deal, require_stage, require_talent
from talentq.db.models import utcnow
from talentq.db.tables import Brand, Campaign, Deal, Deliverable, DeliverableStatus, Talent, User
from talentq.domain.time import midnight
from talentq.domain.vocabulary import ContentLine, DealStage, platform_label
from talentq.errors import PermanentJobError
from talentq.jobs import JobContext, uses_tables
from talentq.queues import DealDraftRef

FIELD = "dealDraftId"
#: A deal whose offer named no dates gets this window, fixed by its first plan: a week to
#: brief the talent, then four weeks of posting.
DEFAULT_LEAD: Final = timedelta(days=7)
DEFAULT_LENGTH: Final = timedelta(days=28)
#: Work the talent has handed in: a re-plan keeps these rows (and their due dates) as they are.
KEPT_STATUSES: Final = frozenset(
    {
        DeliverableStatus.SUBMITTED.value,
        DeliverableStatus.APPROVED.value,
        DeliverableStatus.CHANGES_REQUESTED.value,
    }
)


@dataclass(frozen=True)
class Slot:
    """One planned unit of content."""

    platform: str
    title: str
    due_at: datetime


@uses_tables(Deal, Talent, Brand, User, Campaign, Deliverable)
async def handle(ctx: JobContext, payload: DealDraftRef) -> dict[str, Any]:
    async with ctx["sessions"].begin() as session:
        parties = await load_deal(session, payload.deal_draft_id, field=FIELD, lock=True)
        # Plans change until the campaign is delivered; a lost or delivered deal has none to change.
        require_stage(parties.deal, DealStage.DRAFT, DealStage.NEGOTIATING, DealStage.CONTRACTED, field=FIELD)
        talent = require_talent(parties, "a campaign's deliverables")
        content = content_of(parties.deal)
        campaign = await session.scalar(select(Campaign).where(col(Campaign.deal_id) == parties.deal_id))
        starts_at, ends_at, window_source = _window(parties.deal, campaign)
        slots = _slots(parties, content, starts_at, ends_at)
        existing = list(
            (
                await session.scalars(
                    select(Deliverable)
                    .where(col(Deliverable.deal_id) == parties.deal_id)
                    .order_by(col(Deliverable.id))
                )
            ).all()
        )
        kept = [row for row in existing if row.status in KEPT_STATUSES]
        open_slots = _unfilled(slots, kept)
        plan = {
            "window": {
                "starts_at": starts_at.isoformat(),
                "ends_at": ends_at.isoformat(),
                "source": window_source,
            },
            "units": [
                {"platform": s.platform, "title": s.title, "due_at": s.due_at.isoformat()} for s in slots
            ],
            "kept_deliverable_ids": [row.id for row in kept],
        }
        campaign_id = await _upsert_campaign(session, parties.deal_id, plan, starts_at, ends_at)
        counts = await _apply(session, parties, talent.id, campaign_id, existing, kept, open_slots)
    return {"dealId": parties.deal_id, "campaignId": campaign_id, "units": len(slots), **counts}


def _window(deal: Deal, campaign: Campaign | None) -> tuple[datetime, datetime, str]:
    """The campaign window and where it came from: the deal's dates, the previous plan's, or the default."""
    if deal.starts_at is not None or deal.ends_at is not None:
        starts = deal.starts_at or (deal.ends_at - DEFAULT_LENGTH if deal.ends_at else None)
        ends = deal.ends_at or (starts + DEFAULT_LENGTH if starts else None)
        source = "deal"
    elif campaign is not None and campaign.starts_at is not None and campaign.ends_at is not None:
        # The default chosen by the first plan stays: re-planning next week must not move every date.
        starts, ends = campaign.starts_at, campaign.ends_at
        source = str(campaign.plan.get("window", {}).get("source", "the previous plan"))
    else:
        starts = midnight(utcnow().date()) + DEFAULT_LEAD
        ends = starts + DEFAULT_LENGTH
        source = (
            f"default: the deal names no dates; starts {DEFAULT_LEAD.days} days after planning, "
            f"runs {DEFAULT_LENGTH.days} days"
        )
    if starts is None or ends is None:  # pragma: no cover - one of the deal's dates is set above
        raise RuntimeError("campaign window has no end")
    if ends < starts:
        raise PermanentJobError(
            f"deal {deal.id}'s campaign window ends ({ends.date()}) before it starts ({starts.date()})"
        )
    return starts, ends, source


def _slots(
    parties: DealParties, content: tuple[ContentLine, ...], starts: datetime, ends: datetime
) -> list[Slot]:
    """One slot per unit, platforms interleaved (TikTok, story, TikTok), due evenly up to the window's end."""
    order: list[tuple[str, int, int]] = []  # (platform, k, of n)
    for k in range(max(line.count for line in content)):
        order += [(line.platform, k + 1, line.count) for line in content if k < line.count]
    who = parties.brand.name if parties.brand is not None else f"deal {parties.deal_id}"
    minutes = (ends - starts) // timedelta(minutes=1)  # whole minutes: due dates read as times, not noise
    return [
        Slot(
            platform,
            f"{platform_label(platform)} {k} of {n} for {who}",
            starts + timedelta(minutes=minutes * (i + 1) // len(order)),
        )
        for i, (platform, k, n) in enumerate(order)
    ]


def _unfilled(slots: list[Slot], kept: list[Deliverable]) -> list[Slot]:
    """The slots no kept deliverable fills: each kept row fills the earliest slot of its platform."""
    remaining = list(slots)
    for row in kept:
        match = next((slot for slot in remaining if slot.platform == row.platform), None)
        if match is not None:
            remaining.remove(match)
    return remaining


async def _upsert_campaign(
    session: AsyncSession, deal_id: int, plan: dict[str, Any], starts_at: datetime, ends_at: datetime
) -> int:
    values = {"plan": plan, "starts_at": starts_at, "ends_at": ends_at}
    campaign_id = await session.scalar(
        insert(Campaign)
        .values(deal_id=deal_id, **values)
        .on_conflict_do_update(index_elements=["deal_id"], set_=values)
        .returning(col(Campaign.id))
    )
    if campaign_id is None:  # pragma: no cover - an upsert always returns its row
        raise RuntimeError(f"campaign of deal {deal_id} was not written")
    return int(campaign_id)


async def _apply(
    session: AsyncSession,
    parties: DealParties,
    talent_id: int | None,
    campaign_id: int,
    existing: list[Deliverable],
    kept: list[Deliverable],
    open_slots: list[Slot],
) -> dict[str, int]:
    """Make the deal's open deliverables the open slots: update in place, add, delete the surplus."""
    if talent_id is None:  # pragma: no cover - a loaded talent has an id
        raise RuntimeError("talent has no id")
    reworkable = [row for row in existing if row.status not in KEPT_STATUSES]
    updated = 0
    for row in kept:
        if row.campaign_id != campaign_id:
            row.campaign_id = campaign_id  # submitted work joins the plan it now belongs to
    for row, slot in zip(reworkable, open_slots, strict=False):
        wanted = (slot.platform, slot.title, slot.due_at, campaign_id, talent_id)
        if (row.platform, row.title, row.due_at, row.campaign_id, row.talent_id) == wanted:
            continue  # a re-run of the same plan writes nothing
        if row.due_at != slot.due_at:
            # A new date is a new deadline: not overdue, not yet reminded.
            row.status, row.reminded_at = DeliverableStatus.PENDING.value, None
        row.platform, row.title, row.due_at, row.campaign_id, row.talent_id = wanted
        updated += 1
    surplus = [row.id for row in reworkable[len(open_slots) :]]
    if surplus:
        await session.execute(delete(Deliverable).where(col(Deliverable.id).in_(surplus)))
    added = open_slots[len(reworkable) :]
    session.add_all(
        Deliverable(
            deal_id=parties.deal_id,
            talent_id=talent_id,
            campaign_id=campaign_id,
            title=slot.title,
            platform=slot.platform,
            due_at=slot.due_at,
        )
        for slot in added
    )
    return {"created": len(added), "updated": updated, "deleted": len(surplus), "kept": len(kept)}
