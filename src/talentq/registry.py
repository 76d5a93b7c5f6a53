"""Where queue names meet processors: the bindings, the startup check, ``WorkerSettings``.

``BINDINGS`` is an explicit list of (queue name, processor); nothing registers itself by
being imported. ``check()`` collects every problem and raises one ``RegistryError``:
a name bound twice (arq would silently keep the last; crons share the name space), a
catalogue queue with no processor (a dead queue), a binding for an unknown or removed
name, a cron fanning out to a queue with no processor. The database part — tables that
a processor or cron declares and the connected database lacks — runs in the worker's
``on_startup``, before any job is taken.

``worker_settings()`` builds the class ``arq talentq.WorkerSettings`` runs, every
attribute set on the class itself (arq ignores inherited and misspelt ones; this
module refuses misspelt ones).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import typing
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Final

import httpx
from arq.worker import Function, Worker
from loguru import logger
from pydantic import ConfigDict
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from talentq.client import Producer, redis_settings
from talentq.cron import CRONS, CronEntry, arq_cron
from talentq.db.engine import make_engine, make_sessionmaker
from talentq.db.models import CORE_TABLES
from talentq.deadletter import DeadLetterStore
from talentq.errors import PermanentJobError, RegistryError
from talentq.jobs import KEEP_RESULT_S, JobContext, Processor, job_function, tables_used
from talentq.logsetup import configure_logging
from talentq.processors import (
    agent_tasks,
    ai_agent,
    ai_contract,
    ai_negotiation,
    ai_outreach,
    brand_crm,
    campaign_builder,
    contract_finalisation,
    creator_bundle,
    creator_fit,
    deal_extraction,
    deliverable_reminders,
    deliverable_review,
    email_send,
    gmail_ingest,
    inbox,
    inbox_triage,
    negotiation_engine,
    outreach,
    social_refresh,
    strategy_engine,
)
from talentq.queues import (
    CATALOGUE,
    DEFAULT_ARQ_QUEUE,
    REMOVED,
    Payload,
    QueueSpec,
    RetryPolicy,
    did_you_mean,
)
from talentq.serialization import UNDECODABLE_JOB, deserialize, serialize
from talentq.settings import Settings, get_settings

Binding = tuple[str, Processor[Any]]

#: The shipped bindings, one per catalogue queue, in the catalogue's (the seed's) order.
#: Nothing registers itself: a processor module that is not listed here is not run, and
#: ``tests/test_registry.py`` checks that every module in ``processors/`` is listed.
BINDINGS: Final[tuple[Binding, ...]] = (
    ("gmail-ingest", gmail_ingest.handle),
    ("social-refresh", social_refresh.handle),
    ("email-send", email_send.handle),
    ("inbox-triage", inbox_triage.handle),
    ("deal-extraction", deal_extraction.handle),
    ("negotiation-engine", negotiation_engine.handle),
    ("campaign-builder", campaign_builder.handle),
    ("ai-agent", ai_agent.handle),
    ("ai-outreach", ai_outreach.handle),
    ("ai-negotiation", ai_negotiation.handle),
    ("ai-contract", ai_contract.handle),
    ("deliverable-reminders", deliverable_reminders.handle),
    ("agent-tasks", agent_tasks.handle),
    ("contract_finalisation", contract_finalisation.handle),
    ("outreach", outreach.handle),
    ("brand-crm", brand_crm.handle),
    ("strategy-engine", strategy_engine.handle),
    ("creator-fit", creator_fit.handle),
    ("creator-bundle", creator_bundle.handle),
    ("deliverable-review", deliverable_review.handle),
    ("inbox", inbox.handle),
)


def _payload_mismatch(spec: QueueSpec, fn: Processor[Any]) -> str | None:
    # Only when the annotation resolves: processors defined inside tests may not.
    try:
        hints = typing.get_type_hints(fn)
    except Exception:
        return None
    params = list(inspect.signature(fn).parameters)
    if len(params) < 2:
        return None
    annotation = hints.get(params[1])
    if (
        isinstance(annotation, type)
        and issubclass(annotation, Payload)
        and not issubclass(spec.payload, annotation)
    ):
        return (
            f"processor {fn.__qualname__} for queue {spec.name!r} takes {annotation.__name__}, "
            f"but the catalogue's model is {spec.payload.__name__}"
        )
    return None


def problems(
    bindings: Sequence[Binding],
    crons: Sequence[CronEntry] = (),
    *,
    catalogue: Mapping[str, QueueSpec] = CATALOGUE,
    settings: Settings | None = None,
) -> list[str]:
    """Every static problem of ``bindings``, ``crons`` (and ``settings``), one line each."""
    found: list[str] = []
    if settings is not None:
        found += [
            f"QUEUE_TIMEOUTS names {name!r}, which is not a queue{did_you_mean(name, catalogue)}"
            for name in settings.queue_timeouts
            if name not in catalogue
        ]
    bound = Counter(name for name, _ in bindings)
    known = sorted(catalogue)

    for name, count in sorted(bound.items()):
        if count > 1:
            owners = ", ".join(getattr(fn, "__qualname__", repr(fn)) for n, fn in bindings if n == name)
            found.append(f"queue {name!r} is bound {count} times ({owners}); arq would keep only the last")
    for name, fn in bindings:
        if name in REMOVED:
            found.append(f"queue {name!r} is removed ({REMOVED[name]}); delete its binding")
        elif name not in catalogue:
            found.append(f"queue {name!r} is not in the catalogue (queues.py){did_you_mean(name, known)}")
        elif not inspect.iscoroutinefunction(fn):
            found.append(f"queue {name!r} is bound to {fn!r}, which is not an async function")
        elif (mismatch := _payload_mismatch(catalogue[name], fn)) is not None:
            found.append(mismatch)
    for name in known:
        if name not in bound:
            found.append(f"queue {name!r} has no processor: nothing would consume it (a dead queue)")

    cron_names = Counter(entry.name for entry in crons)
    for name, count in sorted(cron_names.items()):
        if count > 1:
            found.append(f"cron {name!r} is defined {count} times; arq would keep only the last")
        if name in bound or name in catalogue:
            found.append(f"cron {name!r} has the name of a queue; crons and queues share arq's name space")
    for entry in crons:
        found += entry.problems()
        for target in entry.enqueues:
            if target not in bound:
                if target in REMOVED:
                    reason = f"removed ({REMOVED[target]})"
                elif target in catalogue:
                    reason = "not registered (no processor is bound to it)"
                else:
                    reason = "not registered" + did_you_mean(target, known)
                found.append(f"cron {entry.name!r} enqueues into queue {target!r}, which is {reason}")
            elif target in catalogue and catalogue[target].disabled is not None:
                found.append(f"cron {entry.name!r} enqueues into disabled queue {target!r}")
    return found


def check(
    bindings: Sequence[Binding],
    crons: Sequence[CronEntry] = (),
    *,
    catalogue: Mapping[str, QueueSpec] = CATALOGUE,
    settings: Settings | None = None,
) -> None:
    """Raise one ``RegistryError`` listing every static problem; return quietly if there is none."""
    found = problems(bindings, crons, catalogue=catalogue, settings=settings)
    if found:
        raise RegistryError(found)


def required_tables(bindings: Sequence[Binding], crons: Sequence[CronEntry]) -> dict[str, set[str]]:
    """Table name -> who needs it ("queue 'x'", "cron 'y'", "the worker core")."""
    needs: dict[str, set[str]] = {table: {"the worker core"} for table in CORE_TABLES}
    for name, fn in bindings:
        for table in tables_used(fn):
            needs.setdefault(table, set()).add(f"queue {name!r}")
    for entry in crons:
        declared = entry.tables | (tables_used(entry.run) if entry.run is not None else frozenset())
        for table in declared:
            needs.setdefault(table, set()).add(f"cron {entry.name!r}")
    return needs


async def missing_tables(engine: AsyncEngine, needs: Mapping[str, set[str]]) -> list[str]:
    """One problem line per required table the connected database does not have."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")
        )
        present = {row[0] for row in rows}
    return [
        f"table {table!r} is missing from the database, needed by {', '.join(sorted(who))} "
        "(run `talentq db upgrade`)"
        for table, who in sorted(needs.items())
        if table not in present
    ]


class _Anything(Payload):
    model_config = ConfigDict(extra="allow")


def _refusing_function(name: str, reason: str) -> Function:
    """An arq function that dead-letters every job sent to ``name``, with ``reason``.

    arq fails a job for an unregistered name, or one it cannot decode, before any code of
    ours runs: only a log line and a short-lived result would remain. Registered under
    those names, this puts such jobs in the dead-letter store like any other failure.
    """

    async def refuse(ctx: JobContext, payload: _Anything) -> None:
        raise PermanentJobError(reason)

    return job_function(QueueSpec(name, _Anything, reason, RetryPolicy(max_tries=1)), refuse)


def _refusing_functions(catalogue: Mapping[str, QueueSpec]) -> list[Function]:
    removed = [
        _refusing_function(name, f"queue {name!r} was removed ({why}); nothing runs its jobs")
        for name, why in REMOVED.items()
        if name not in catalogue
    ]
    undecodable = _refusing_function(
        UNDECODABLE_JOB, "job data in Redis is not talentq's JSON (pickle from arq's default serializer?)"
    )
    return [*removed, undecodable]


def worker_settings(
    bindings: Sequence[Binding] | None = None,
    crons: Sequence[CronEntry] | None = None,
    *,
    catalogue: Mapping[str, QueueSpec] = CATALOGUE,
    settings: Settings | None = None,
    lane: str = DEFAULT_ARQ_QUEUE,
    configure_logs: bool = True,
    **overrides: Any,
) -> type:
    """Check the registry and build the ``WorkerSettings`` class for the worker of ``lane``.

    ``bindings`` and ``crons`` default to the shipped ``BINDINGS`` and ``cron.CRONS``.

    ``overrides`` replace attributes (tests pass ``burst=True``, ``poll_delay=0``); a name
    that is not an arq ``Worker`` parameter is refused, unlike arq, which drops it.
    ``configure_logs=False`` leaves loguru as the caller set it up (tests capture logs).
    """
    # Looked up at call time (not as defaults), so what the module holds is what is checked.
    bindings = BINDINGS if bindings is None else bindings
    crons = CRONS if crons is None else crons
    settings = settings or get_settings()
    check(bindings, crons, catalogue=catalogue, settings=settings)

    lane_bindings = [(name, fn) for name, fn in bindings if catalogue[name].arq_queue == lane]
    functions = [
        job_function(catalogue[name], fn, timeout=settings.queue_timeouts.get(name))
        for name, fn in lane_bindings
    ]
    functions += _refusing_functions(catalogue)
    # Crons are enqueued by every worker but run once per tick; they live on the default lane.
    lane_crons = list(crons) if lane == DEFAULT_ARQ_QUEUE else []
    needs = required_tables(bindings, crons)

    async def on_startup(ctx: dict[str, Any]) -> None:
        if configure_logs:
            configure_logging(settings)
        engine = make_engine(settings)
        try:
            missing = await missing_tables(engine, needs)
        except BaseException:
            await engine.dispose()
            raise
        if missing:
            await engine.dispose()
            error = RegistryError(missing)
            logger.critical("refusing to start: {}", error)
            raise error
        sessions = make_sessionmaker(engine)
        store = DeadLetterStore(sessions, ctx["redis"])
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
        "redis_settings": redis_settings(settings),
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


def install_event_loop(settings: Settings) -> None:
    """Make new event loops uvloop's (``WORKER_UVLOOP``); call before arq creates its loop."""
    if settings.worker_uvloop:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


async def _flush_periodically(store: DeadLetterStore, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            if await store.pending():
                await store.flush()
        except Exception as exc:
            # PostgreSQL or Redis still down: the records stay in the list; try next time.
            logger.warning("dead-letter flush failed, will retry in {}s: {!r}", interval, exc)
