"""The async engine and session factory (asyncpg), and what counts as "the database is down".

Engines are made on demand by the worker's startup or a CLI command, never at import.
"""

from __future__ import annotations

import asyncio

import asyncpg.exceptions as pg_exc
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from talentq.settings import Settings, normalise_database_url

#: Seconds asyncpg waits for a connection; a down database must fail fast, not hang a job.
CONNECT_TIMEOUT = 5.0


def make_engine(settings: Settings | None = None, *, url: str | None = None) -> AsyncEngine:
    """An engine for ``url`` or for ``DATABASE_URL``, pooled as the settings say; connects lazily."""
    pool = settings or Settings(_env_file=None, database_url=url)
    if url is None:
        if settings is None:
            raise ValueError("make_engine needs settings or url")
        url = settings.require_database_url()
    return create_async_engine(
        normalise_database_url(url),
        pool_pre_ping=True,
        pool_size=pool.database_pool_size,
        max_overflow=pool.database_max_overflow,
        pool_timeout=pool.database_pool_timeout,
        connect_args={"timeout": CONNECT_TIMEOUT},
    )


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions whose objects stay readable after commit (jobs log and return them)."""
    return async_sessionmaker(engine, expire_on_commit=False)


_PG_DOWN = (
    pg_exc.PostgresConnectionError,  # connection lost or refused by the server
    pg_exc.OperatorInterventionError,  # shutting down, starting up ("cannot connect now")
    pg_exc.InsufficientResourcesError,  # too many connections, disk full
    pg_exc.InterfaceError,  # asyncpg's own "connection is closed"
)


def is_unavailable(exc: BaseException | None) -> bool:
    """True when ``exc`` means PostgreSQL could not be reached, as opposed to a bad statement."""
    if exc is None:
        return False
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated or isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
            return True
        return is_unavailable(exc.orig)
    # asyncpg raises plain OSError when the server refuses or is unreachable.
    return isinstance(
        exc, (sa_exc.DisconnectionError, sa_exc.TimeoutError, OSError, asyncio.TimeoutError, *_PG_DOWN)
    )
