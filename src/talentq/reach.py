"""Reaching Redis and PostgreSQL at start: fast, once, and one clear line when they cannot be reached.

A running worker rides out a Redis restart (``REDIS_RETRIES`` with backoff), and a job waits
for a database connection; starting is different. A wrong ``REDIS_URL`` retried for 20 s, or a
``DATABASE_URL`` that ends in a socket error's traceback, tells a newcomer nothing. So the
worker (``talentq worker``, ``arq talentq.WorkerSettings``, ``talentq dev``) and the commands
that need a server first try it once, with a short timeout and no retries, and on failure raise
a ``ConfigError`` naming the setting, the (password-free) URL tried, how long it took and why.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Final
from urllib.parse import urlsplit, urlunsplit

from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from talentq.errors import ConfigError
from talentq.settings import Settings

#: Redis answers a PING within milliseconds; past this it is not there (or not answering).
REDIS_TIMEOUT_S: Final = 3.0
#: A PostgreSQL connection takes longer (TLS, authentication); well within the 10 s budget.
POSTGRES_TIMEOUT_S: Final = 6.0


def redact(url: str) -> str:
    """``url`` with its password replaced by ``***``: what an error message may show."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def _reason(exc: BaseException) -> str:
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        # SQLAlchemy's wrapper adds a class path and a link; the driver's own words are the reason.
        exc = exc.orig.__cause__ or exc.orig
    detail = str(exc).strip().rstrip(".")
    if isinstance(exc, TimeoutError) and not detail:
        return f"no answer ({type(exc).__name__})"
    return detail or type(exc).__name__


def unreachable(
    setting: str, service: str, url: str, started: float, exc: BaseException, *, check: str
) -> ConfigError:
    """The error for ``service`` not reached at ``url`` (from ``setting``) since ``started`` (monotonic)."""
    elapsed = time.monotonic() - started
    return ConfigError(
        f"cannot reach {service} at {setting}={redact(url)} after {elapsed:.1f}s: {_reason(exc)}\n"
        f"  check {setting}: {check}"
    )


async def reach_redis(settings: Settings, *, within: float = REDIS_TIMEOUT_S) -> None:
    """One PING to ``REDIS_URL``, no retries; ``ConfigError`` naming it when that fails."""
    url = settings.require_redis_url()
    started = time.monotonic()
    client = Redis.from_url(url, socket_connect_timeout=within, socket_timeout=within)
    try:
        async with asyncio.timeout(within):
            await client.ping()
    except Exception as exc:
        raise unreachable(
            "REDIS_URL", "Redis", url, started, exc, check="is Redis running there, with that password?"
        ) from exc
    finally:
        await client.aclose()


async def reach_postgres(settings: Settings, *, within: float = POSTGRES_TIMEOUT_S) -> None:
    """One connection to ``DATABASE_URL`` and a ``SELECT 1``; ``ConfigError`` naming it when that fails."""
    url = settings.require_database_url()
    started = time.monotonic()
    engine = create_async_engine(url, poolclass=NullPool, connect_args={"timeout": within})
    try:
        async with asyncio.timeout(within), engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:
        raise unreachable(
            "DATABASE_URL",
            "PostgreSQL",
            url,
            started,
            exc,
            check="is PostgreSQL running there, and do its user, password and database exist?",
        ) from exc
    finally:
        await engine.dispose()


def reach_services(settings: Settings, *, redis: bool = True, database: bool = True) -> None:
    """Reach Redis, then PostgreSQL, from synchronous code (before arq makes its event loop).

    The check runs on an event loop of its own in a helper thread, so the caller's thread keeps
    no closed loop behind for arq to trip over.
    """

    async def both() -> None:
        if redis:
            await reach_redis(settings)
        if database:
            await reach_postgres(settings)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="talentq-reach") as pool:
        pool.submit(asyncio.run, both()).result()
