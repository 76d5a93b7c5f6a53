"""Alembic environment: runs talentq's migrations on the async (asyncpg) engine.

The URL comes from the Alembic config (set by ``talentq.db.migrate``), else DATABASE_URL.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from talentq.db.engine import make_engine
from talentq.settings import get_settings

target_metadata = SQLModel.metadata


def _url() -> str:
    url = context.config.get_main_option("sqlalchemy.url")
    return url or get_settings().require_database_url()


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    engine = make_engine(url=_url())
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_online())
