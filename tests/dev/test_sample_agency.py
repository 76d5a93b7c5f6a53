"""`talentq seed`: a believable agency in an empty database, and nothing more on a second run."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlmodel import SQLModel, col

from talentq.db.models import utcnow
from talentq.db.tables import Approval, Deal, Deliverable, InboxMessage, Invoice, Talent, User
from talentq.dev.sample_agency import seed
from talentq.domain.vocabulary import DealStage

pytestmark = pytest.mark.integration


async def counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        return {
            table.name: int((await conn.execute(text(f"SELECT count(*) FROM {table.name}"))).scalar_one())
            for table in SQLModel.metadata.sorted_tables
        }


async def test_seed_fills_an_agency_with_work_in_every_state(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Managers, a dozen talents, deals at every stage, due and overdue work, offers in the inbox."""
    now = utcnow()
    result = await seed(sessions, now=now)

    assert result.created
    assert result.rows["users"] == 3
    assert result.rows["talents"] == 12
    async with sessions() as session:
        stages = set((await session.execute(select(col(Deal.stage)))).scalars())
        assert stages == {stage.value for stage in DealStage}
        overdue = await session.scalar(
            select(func.count()).where(col(Invoice.status) == "sent", col(Invoice.due_at) < now)
        )
        assert overdue == 1
        due_soon = await session.scalar(
            select(func.count()).where(
                col(Deliverable.status) == "pending",
                col(Deliverable.due_at).between(now, now + timedelta(days=1)),
            )
        )
        assert due_soon == 1
        # Two emails the AI wrote wait for Maya (a counter-offer, an agent's reply) and a contract
        # review past its expiry waits for flush-stale-approvals
        assert await session.scalar(select(func.count()).where(col(Approval.status) == "pending")) == 3
        offers = list((await session.execute(select(col(InboxMessage.body)))).scalars())
        assert any("$5,000 for 2 TikToks and 1 IG story" in body for body in offers)
        assert await session.scalar(select(func.count()).where(col(Talent.active).is_(False))) == 1


async def test_a_second_seed_adds_nothing(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Seeding twice leaves the same rows: the run is idempotent."""
    await seed(sessions)
    before = await counts(engine)

    again = await seed(sessions)

    assert not again.created
    assert await counts(engine) == before


async def test_a_database_with_other_users_is_not_seeded(sessions: async_sessionmaker[AsyncSession]) -> None:
    """The sample goes into empty databases only: someone's real managers are left alone."""
    async with sessions.begin() as session:
        session.add(User(name="Real Manager", email="real@agency.test"))

    result = await seed(sessions)

    assert not result.created
    assert result.reason == "the database holds other users; not seeding it"
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(User)) == 1
