"""A deliverable as the delivery processors load it: locked, with its talent, manager, deal and brand.

deliverable-reminders and deliverable-review both act on one deliverable under its row lock
(two jobs for it take turns) and both need the same people around it: whom to notify, in
which time zone, for which brand.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from talentq.db.tables import Brand, Deal, Deliverable, Talent, User
from talentq.errors import PermanentJobError


@dataclass(frozen=True)
class DeliverableParties:
    deliverable: Deliverable
    talent_name: str
    talent_email: str | None
    manager_id: int
    manager_name: str
    manager_email: str
    manager_zone: str
    deal_stage: str
    brand_name: str | None
    brand_handle: str | None


async def locked_deliverable(session: AsyncSession, deliverable_id: int) -> DeliverableParties:
    """The deliverable, locked (FOR UPDATE) until the transaction ends; not found is permanent."""
    row = (
        await session.execute(
            select(
                Deliverable,
                col(Talent.name),
                col(Talent.email),
                col(User.id),
                col(User.name),
                col(User.email),
                col(User.time_zone),
                col(Deal.stage),
                col(Brand.name),
                col(Brand.instagram_handle),
            )
            .join(Talent, col(Talent.id) == col(Deliverable.talent_id))
            .join(User, col(User.id) == col(Talent.manager_id))
            .join(Deal, col(Deal.id) == col(Deliverable.deal_id))
            .outerjoin(Brand, col(Brand.id) == col(Deal.brand_id))
            .where(col(Deliverable.id) == deliverable_id)
            .with_for_update(of=Deliverable)
        )
    ).one_or_none()
    if row is None:
        raise PermanentJobError(f"deliverable {deliverable_id} not found")
    deliverable, talent, talent_email, manager_id, manager, email, zone, stage, brand, handle = row
    if manager_id is None:  # pragma: no cover - an inner-joined users row always has its id
        raise RuntimeError(f"deliverable {deliverable_id}: its manager row came back without an id")
    return DeliverableParties(
        deliverable=deliverable,
        talent_name=talent,
        talent_email=(talent_email or "").strip() or None,
        manager_id=manager_id,
        manager_name=manager,
        manager_email=email,
        manager_zone=zone,
        deal_stage=stage,
        brand_name=brand,
        brand_handle=handle,
    )
