"""The database plumbing: migrations match the models; "the database is down" is told apart."""

from __future__ import annotations

import asyncio

import asyncpg
import asyncpg.exceptions as pg_exc
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel

from talentq.db.engine import is_unavailable
from talentq.db.migrate import downgrade, upgrade_async


@pytest.mark.integration
async def test_migrations_create_exactly_the_models(engine: AsyncEngine) -> None:
    """`alembic upgrade head` leaves nothing for autogenerate to add: models and migrations agree."""

    def diff(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, SQLModel.metadata))

    async with engine.connect() as conn:
        assert await conn.run_sync(diff) == []
        version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
    assert version == "0006"


@pytest.mark.parametrize(
    ("error", "down"),
    [
        (ConnectionRefusedError(111, "refused"), True),
        (TimeoutError(), True),
        (pg_exc.ConnectionDoesNotExistError("closed"), True),
        (pg_exc.CannotConnectNowError("starting up"), True),
        (sa_exc.OperationalError("SELECT 1", {}, ConnectionRefusedError()), True),
        (sa_exc.IntegrityError("INSERT", {}, pg_exc.UniqueViolationError("dup")), False),
        (sa_exc.DataError("INSERT", {}, pg_exc.NumericValueOutOfRangeError("big")), False),
        (ValueError("bug"), False),
    ],
)
def test_unavailable_is_told_from_rejected(error: BaseException, down: bool) -> None:
    """Connection trouble means "keep it for later"; a refused statement means "this record is bad"."""
    assert is_unavailable(error) is down


@pytest.mark.integration
async def test_the_schema_downgrades_cleanly_and_comes_back(scratch_url: str) -> None:
    """Down to the core, down to nothing, and up again: every migration reverses cleanly."""
    await asyncio.to_thread(downgrade, scratch_url, "0001")
    assert await _tables(scratch_url) == {"alembic_version", "failed_jobs", "cron_runs"}
    await asyncio.to_thread(downgrade, scratch_url, "base")
    assert await _tables(scratch_url) == {"alembic_version"}
    await upgrade_async(scratch_url)
    assert await _tables(scratch_url) == {"alembic_version"} | {
        t.name for t in SQLModel.metadata.sorted_tables
    }


async def _tables(url: str) -> set[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        )
    finally:
        await conn.close()
    return {row["table_name"] for row in rows}
