"""The database plumbing: migrations match the models; "the database is down" is told apart."""

from __future__ import annotations

import asyncpg.exceptions as pg_exc
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel

import talentq.db.models  # noqa: F401  (the tables the migrations must create)
from talentq.db.engine import is_unavailable


@pytest.mark.integration
async def test_migrations_create_exactly_the_models(engine: AsyncEngine) -> None:
    """`alembic upgrade head` leaves nothing for autogenerate to add: models and migrations agree."""

    def diff(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, SQLModel.metadata))

    async with engine.connect() as conn:
        assert await conn.run_sync(diff) == []
        version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
    assert version == "0001"


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
