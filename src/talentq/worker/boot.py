"""Building and booting a worker: the ``WorkerSettings`` class arq runs, its startup and shutdown
hooks, the dead-letter flush loop and the event loop.

``worker_settings()`` builds the class ``arq talentq.WorkerSettings`` runs from the registry's
bindings (``talentq.registry``), every attribute set on the class itself (arq ignores inherited
and misspelt ones; this module refuses misspelt ones). Its ``on_startup`` waits for PostgreSQL,
checks the tables the processors and crons use, builds the database engine, the dead-letter
store, the producer, the shared HTTP client and the third-party clients
(``talentq.integrations.clients``), and starts the periodic flush of dead letters kept in Redis.
``boot()`` is what every worker entry point does before arq starts."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final, TypeVar

import httpx
from arq.worker import Worker
from loguru import logger

from talentq import registry
from talentq.client import Producer, redis_settings
from talentq.cron import CRONS, CronEntry, arq_cron
from talentq.db.engine import is_unavailable, make_engine, make_sessionmaker
from talentq.deadletter import DeadLetterStore
from talentq.errors import ConfigError, RegistryError
from talentq.integrations.clients import make_clients, unconfigured
from talentq.jobs import KEEP_RESULT_S, job_function
from talentq.logsetup import configure_logging
from talentq.queues import (
    CATALOGUE,
    DEFAULT_ARQ_QUEUE,
    QueueSpec,
)
from talentq.reach import reach_services, redact
from talentq.registry import Binding, check, missing_tables, required_tables
from talentq.serialization import deserialize, serialize
from talentq.settings import Settings, get_settings

T = TypeVar("T")


def worker_settings(
    bindings: Sequence[Binding] | None = None,
    crons: Sequence[CronEntry] | None = None,
    *,
    catalogue: Mapping[str, QueueSpec[Any]] = CATALOGUE,
    settings: Settings | None = None,
    lane: str = DEFAULT_ARQ_QUEUE,
    configure_logs: bool = True,
    **overrides: Any,
) -> type:
    """Check the registry and build the ``WorkerSettings`` class for the worker of ``lane``.

    ``bindings`` and ``crons`` default to the shipped ``registry.BINDINGS`` and ``cron.CRONS``.

    ``overrides`` replace attributes (tests pass ``burst=True``, ``poll_delay=0``); a name
    that is not an arq ``Worker`` parameter is refused, unlike arq, which drops it.
    ``configure_logs=False`` leaves loguru as the caller set it up (tests capture logs).
    """
    # Looked up at call time (not as defaults), so what the module holds is what is checked.
    bindings = registry.BINDINGS if bindings is None else bindings
    crons = CRONS if crons is None else crons
    settings = settings or get_settings()
    check(bindings, crons, catalogue=catalogue, settings=settings)

    lane_bindings = [(name, fn) for name, fn in bindings if catalogue[name].arq_queue == lane]
    functions = [
        job_function(catalogue[name], fn, timeout=settings.queue_timeouts.get(name))
        for name, fn in lane_bindings
    ]
    # Crons are enqueued by every worker but run once per tick; they live on the default lane.
    lane_crons = list(crons) if lane == DEFAULT_ARQ_QUEUE else []
    needs = required_tables(bindings, crons)

    async def on_startup(ctx: dict[str, Any]) -> None:
        if configure_logs:
            configure_logging(settings)
        engine = make_engine(settings)
        try:
            missing = await _when_postgres_answers(settings, lambda: missing_tables(engine, needs))
        except BaseException:
            await engine.dispose()
            raise
        if missing:
            await engine.dispose()
            error = RegistryError(missing)
            logger.critical("refusing to start: {}", error)
            raise error
        sessions = make_sessionmaker(engine)
        store = DeadLetterStore(sessions, ctx["redis"], db_timeout=settings.dead_letter_db_timeout)
        ctx.update(
            settings=settings,
            engine=engine,
            sessions=sessions,
            dead_letters=store,
            producer=Producer(ctx["redis"], catalogue=catalogue),
        )
        # One HTTP client for third-party APIs, shared by the jobs (tests pass their own, with
        # httpx's MockTransport, through the Worker's ctx).
        if "http" not in ctx:
            ctx["http"] = httpx.AsyncClient(timeout=settings.http_timeout)
            ctx["owns_http"] = True
        # The third-party clients, built once here (a half-configured one refuses the boot,
        # naming its settings); clients a caller passed in (tests' fakes) are kept.
        for key, client in make_clients(settings, ctx["http"]).items():
            ctx.setdefault(key, client)
        for note in unconfigured(settings):
            logger.warning("not configured: {}", note)
        try:
            await store.flush()
        except Exception as exc:
            # Not a reason to refuse jobs: the records stay in Redis for the periodic flush.
            logger.error("dead-letter flush at start failed; will retry: {!r}", exc)
        ctx["dead_letter_flusher"] = asyncio.create_task(
            _flush_periodically(store, settings.dead_letter_flush_interval)
        )
        logger.info(
            "worker ready: lane {} with {} queue(s) and {} cron(s); max_jobs={} poll_delay={}s",
            lane,
            len(lane_bindings),
            len(lane_crons),
            settings.worker_max_jobs,
            settings.worker_poll_delay,
        )

    async def on_shutdown(ctx: dict[str, Any]) -> None:
        task = ctx.pop("dead_letter_flusher", None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if "engine" in ctx:
            await ctx["engine"].dispose()
        if ctx.pop("owns_http", False):  # a client the caller passed in is the caller's to close
            await ctx["http"].aclose()

    attrs: dict[str, Any] = {
        "functions": functions,
        "cron_jobs": [arq_cron(entry) for entry in lane_crons],
        "queue_name": lane,
        # A blip is retried in place; anything longer reaches talentq's loop within ~0.3 s
        # (talentq.worker.loop), which rides it out, however long, and says so.
        "redis_settings": redis_settings(settings, retries=WORKER_REDIS_RETRIES, cap=0.2),
        "job_serializer": serialize,
        "job_deserializer": deserialize,
        "max_jobs": settings.worker_max_jobs,
        "poll_delay": settings.worker_poll_delay,
        "health_check_interval": settings.worker_health_check_interval,
        "job_completion_wait": settings.worker_shutdown_wait,
        "keep_result": KEEP_RESULT_S,
        "timezone": settings.cron_zone,
        "on_startup": on_startup,
        "on_shutdown": on_shutdown,
        **overrides,
    }
    unknown = sorted(set(attrs) - set(inspect.signature(Worker).parameters))
    if unknown:
        raise RegistryError(
            [f"{name!r} is not an arq Worker setting (arq would ignore it)" for name in unknown]
        )
    return type("WorkerSettings", (), attrs)


def boot(settings: Settings | None = None) -> type:
    """What every worker entry point does before arq starts; returns the ``WorkerSettings`` to run.

    The registry's static check, then Redis and PostgreSQL reached once with short timeouts (a
    wrong URL is one line naming it within seconds, not arq's 20 s of retries and a traceback),
    then uvloop's event loop policy. ``talentq worker``, ``talentq dev`` and
    ``arq talentq.WorkerSettings`` all start here.

    A PostgreSQL that does not answer (refused, timed out, host not found) is not an error here:
    it may be starting, and the worker waits for it before taking any job (``on_startup``). One
    that answers and refuses (no such database, a wrong password) is.
    """
    settings = settings or get_settings()
    settings_cls = worker_settings(settings=settings)
    reach_services(settings, database=False)
    try:
        reach_services(settings, redis=False)
    except ConfigError as exc:
        if not is_unavailable(exc.__cause__):
            raise
        logger.warning("{}\n  the worker waits for it before taking any job", exc)
    install_event_loop(settings)
    return settings_cls


def install_event_loop(settings: Settings) -> None:
    """Make new event loops uvloop's (``WORKER_UVLOOP``); call before arq creates its loop."""
    if settings.worker_uvloop:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


#: Tries of one Redis command in the worker before its loop hears of the outage (see worker_settings).
WORKER_REDIS_RETRIES: Final = 2

#: While PostgreSQL does not answer at start: a WARNING this often, a try every second.
POSTGRES_WAIT_LOG_EVERY_S: Final = 10.0


async def _when_postgres_answers(settings: Settings, check: Callable[[], Awaitable[T]]) -> T:
    """``check()``, tried every second while PostgreSQL does not answer, with a WARNING every 10 s.

    A worker started before its database (a deploy, a restart of both) waits for it instead of
    exiting; it takes no job meanwhile, and writes no health key (``arq --check``: not ready).
    """
    started = time.monotonic()
    warned: float | None = None
    while True:
        try:
            return await check()
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            now = time.monotonic()
            if warned is None or now - warned >= POSTGRES_WAIT_LOG_EVERY_S:
                warned = now
                logger.warning(
                    "PostgreSQL at DATABASE_URL={} does not answer ({}: {}); not ready: waiting for it "
                    "before taking any job ({:.0f}s so far)",
                    redact(settings.require_database_url()),
                    type(exc).__name__,
                    exc,
                    now - started,
                )
            await asyncio.sleep(1.0)


async def _flush_periodically(store: DeadLetterStore, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            if await store.pending():
                await store.flush()
        except Exception as exc:
            # PostgreSQL or Redis still down: the records stay in the list; try next time.
            logger.warning("dead-letter flush failed, will retry in {}s: {!r}", interval, exc)
