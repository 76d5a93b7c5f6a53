"""The one wrapper every processor runs inside: validate, log, retry, dead-letter.

arq 0.28 retries only when a job raises ``Retry``; an ordinary exception or a timeout
fails the job at once, and a job whose tries are used up is failed by arq without
calling anything, so no code of ours would see it. The wrapper therefore decides itself:

- a payload that fails its queue's model, or a ``PermanentJobError``: dead-letter, re-raise;
- any other exception, or the queue's timeout: ``Retry`` with exponential backoff and
  jitter, except on the last allowed try, where it dead-letters and re-raises the real
  error (never ``Retry``, which arq would turn into an unexplained "max retries exceeded");
- tries consumed by worker shutdowns or crashes (arq counts a try when a job starts) get
  ``INTERRUPTED_GRACE`` extra runs; past those the job is dead-lettered without running,
  so a job that kills its worker cannot loop forever, nor fail silently.

arq is given ``max_tries`` one above the wrapper's last decision point and a timeout a
margin above the queue's, so that arq's own failure paths are never the ones taken.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, Final, TypedDict, TypeVar, cast

import httpx
from arq.connections import ArqRedis
from arq.worker import Function, Retry, func
from loguru import logger
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import SQLModel

from talentq.client import Producer
from talentq.db.models import FailureReason, utcnow
from talentq.deadletter import DeadLetter, DeadLetterStore
from talentq.domain import Refused
from talentq.domain.time import tick_of
from talentq.errors import (
    ConfigError,
    InvalidPayloadError,
    JobInterruptedError,
    JobTimeoutError,
    PermanentJobError,
    QueueRefusedError,
    ServiceRefusedError,
)
from talentq.integrations.ai.protocol import AIProvider
from talentq.integrations.mail import MailTransport
from talentq.integrations.mailbox import GmailClient
from talentq.integrations.whatsapp import WhatsAppClient
from talentq.logsetup import job_context
from talentq.queues import Payload, QueueSpec
from talentq.settings import Settings

#: Extra runs allowed for tries that worker shutdowns or crashes consumed.
INTERRUPTED_GRACE: Final = 2
#: arq's own timeout sits this far above the wrapper's, so the wrapper's fires first and
#: the failure handling after it (a dead-letter write: PostgreSQL up to
#: ``deadletter.DB_WRITE_TIMEOUT_S``, then the Redis fallback) finishes before arq cancels.
ARQ_TIMEOUT_MARGIN_S: Final = 45.0
#: Redis key remembering when a job first failed, so its dead-letter record can say so.
FIRST_FAILURE_PREFIX: Final = "talentq:first-failure:"
FIRST_FAILURE_TTL_S: Final = 7 * 86_400
#: How long arq keeps a job's result (and so refuses a new job with the same id).
KEEP_RESULT_S: Final = 3600
_SUMMARY_CHARS: Final = 200


class JobContext(TypedDict):
    """What a processor receives as ``ctx``: arq's keys plus what the worker's startup adds."""

    redis: ArqRedis
    job_id: str
    job_try: int
    enqueue_time: datetime
    score: int
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    dead_letters: DeadLetterStore
    producer: Producer
    http: httpx.AsyncClient
    # The clients built once per worker (talentq.integrations.clients)
    ai: AIProvider
    mail: MailTransport
    gmail: GmailClient
    whatsapp: WhatsAppClient | None


P = TypeVar("P", bound=Payload)
Processor = Callable[[JobContext, P], Awaitable[Any]]
F = TypeVar("F", bound=Callable[..., Awaitable[Any]])

_TABLES_ATTR: Final = "__talentq_tables__"


def table_names(*tables: str | type[SQLModel]) -> frozenset[str]:
    """Table names from names or SQLModel table classes (``Deal`` -> ``"deals"``)."""
    return frozenset(t if isinstance(t, str) else str(t.__tablename__) for t in tables)


def uses_tables(*tables: str | type[SQLModel]) -> Callable[[F], F]:
    """Declare the database tables a processor or cron reads or writes: ``@uses_tables(Deal, Talent)``.

    The worker's startup check refuses to boot when the connected database lacks one,
    naming the table and the queue or cron that needs it.
    """
    names = table_names(*tables)

    def mark(fn: F) -> F:
        setattr(fn, _TABLES_ATTR, names)
        return fn

    return mark


def tables_used(fn: Callable[..., Any]) -> frozenset[str]:
    """The tables ``fn`` declared with ``uses_tables`` (none if it declared nothing)."""
    tables: frozenset[str] = getattr(fn, _TABLES_ATTR, frozenset())
    return tables


def _raw_payload(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
    # The contract: one JSON object as the only positional argument, keyword arguments
    # merged into it. Anything else is kept as it came, for the dead-letter record.
    if len(args) == 1 and (type(args[0]) is dict or isinstance(args[0], Mapping)):  # dict: the hot path
        return {**args[0], **kwargs} if kwargs else args[0]
    if not args:
        return dict(kwargs)
    return {"args": list(args), "kwargs": dict(kwargs)}


def _summary(result: Any) -> str:
    text = repr(result)
    return text if len(text) <= _SUMMARY_CHARS else text[: _SUMMARY_CHARS - 1] + "…"


def job_function(
    spec: QueueSpec[Any], processor: Processor[Any], *, timeout: float | None = None
) -> Function:
    """The arq function for ``spec``: ``processor`` inside the wrapper, named after the queue."""
    policy = spec.retry
    limit = spec.timeout if timeout is None else timeout
    last_run = policy.max_tries + INTERRUPTED_GRACE

    async def run(ctx: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        job_ctx = cast(JobContext, ctx)
        job_id, job_try = job_ctx["job_id"], job_ctx["job_try"]
        raw = _raw_payload(args, kwargs)
        with job_context(spec.name, job_id, job_try):
            started = time.perf_counter()
            # DEBUG: the outcome line below is the one INFO line per try (it carries the
            # duration); a second INFO line per job cost ~5% of throughput (see bench/).
            logger.debug("start")
            try:
                if job_try > last_run:
                    raise JobInterruptedError(
                        f"job {job_id} reached try {job_try} of {policy.max_tries}: worker shutdowns "
                        "or crashes interrupted its runs; it is not run again"
                    )
                result = await _call(processor, job_ctx, spec.validate(raw), spec.name, limit)
            except (
                PermanentJobError,
                ConfigError,
                ServiceRefusedError,
                QueueRefusedError,
                Refused,
                ValidationError,
            ) as exc:
                # A missing setting, a service refusing the request or the credentials, a job
                # this one built that its queue's model or the client refused (pydantic's
                # ValidationError, QueueRefusedError) or an input the domain's rules refuse does
                # not change by retrying; the dead letter says what to fix.
                interrupted = isinstance(exc, JobInterruptedError)
                reason = FailureReason.INTERRUPTED if interrupted else FailureReason.PERMANENT
                await _dead_letter(job_ctx, spec, raw, exc, reason, started)
                raise
            except Exception as exc:
                if job_try >= policy.max_tries:
                    await _dead_letter(job_ctx, spec, raw, exc, FailureReason.EXHAUSTED, started)
                    raise
                delay = policy.delay(job_try)
                await _remember_first_failure(job_ctx)
                logger.warning(
                    "retry in {:.2f}s after {:.3f}s: {}: {}",
                    delay,
                    time.perf_counter() - started,
                    type(exc).__qualname__,
                    exc,
                )
                raise Retry(defer=delay) from exc
            except asyncio.CancelledError:
                # Shutdown past WORKER_SHUTDOWN_WAIT, or an abort: arq puts the job back and
                # counts the try; INTERRUPTED_GRACE covers it.
                logger.warning(
                    "cancelled after {:.3f}s; arq will run it again", time.perf_counter() - started
                )
                raise
            if job_try > 1:
                await _forget_first_failure(job_ctx)
            logger.info("done in {:.3f}s: {}", time.perf_counter() - started, _summary(result))
            return result

    run.__qualname__ = f"talentq.jobs[{spec.name}]"
    return func(
        run,
        name=spec.name,
        timeout=limit + ARQ_TIMEOUT_MARGIN_S,
        max_tries=last_run + 1,
        keep_result=KEEP_RESULT_S,
    )


async def _call(
    processor: Processor[Any], ctx: JobContext, payload: Payload, queue: str, limit: float
) -> Any:
    deadline = asyncio.timeout(limit)
    try:
        async with deadline:
            return await processor(ctx, payload)
    except TimeoutError as exc:
        if deadline.expired():  # ours, not a TimeoutError the processor raised itself
            raise JobTimeoutError(f"job of queue {queue!r} ran past its {limit:g}s timeout") from exc
        raise


# The first-failure note is bookkeeping for the dead-letter record: a Redis error here must
# never replace the job's own outcome, so each helper logs it and carries on.


async def _remember_first_failure(ctx: JobContext) -> None:
    try:
        await ctx["redis"].set(
            FIRST_FAILURE_PREFIX + ctx["job_id"], utcnow().isoformat(), nx=True, ex=FIRST_FAILURE_TTL_S
        )
    except Exception as exc:
        logger.warning("could not note the first failure time in Redis: {!r}", exc)


async def _forget_first_failure(ctx: JobContext) -> None:
    try:
        await ctx["redis"].delete(FIRST_FAILURE_PREFIX + ctx["job_id"])
    except Exception as exc:
        logger.warning("could not clear the first failure time in Redis: {!r}", exc)


async def _first_failure(ctx: JobContext) -> datetime | None:
    try:
        first = await ctx["redis"].getdel(FIRST_FAILURE_PREFIX + ctx["job_id"])
    except Exception as exc:
        logger.warning("could not read the first failure time from Redis: {!r}", exc)
        return None
    return datetime.fromisoformat(first.decode()) if first else None


async def _dead_letter(
    ctx: JobContext, spec: QueueSpec[Any], raw: Any, exc: BaseException, reason: FailureReason, started: float
) -> None:
    store = ctx.get("dead_letters")
    if store is None:
        raise RuntimeError(
            "the worker context has no dead-letter store: build the worker with talentq.worker.boot, "
            "whose on_startup provides it"
        )
    now = utcnow()
    letter = DeadLetter(
        job_id=ctx["job_id"],
        queue=spec.name,
        payload=raw if isinstance(raw, dict) else {"payload": raw},
        reason=reason.value,
        error_type=type(exc).__qualname__,
        message=str(exc),
        traceback="".join(traceback.format_exception(exc)),
        tries=ctx["job_try"],
        first_failed_at=await _first_failure(ctx) or now,
        last_failed_at=now,
    )
    where = await store.record(letter)
    fields = f" fields={exc.fields}" if isinstance(exc, InvalidPayloadError) else ""
    logger.error(
        "dead-lettered ({}) to {} after {:.3f}s: {}: {}{}",
        reason.value,
        where,
        time.perf_counter() - started,
        letter.error_type,
        exc,
        fields,
    )


def tick_time(ctx: JobContext, name: str) -> datetime:
    """A cron run's "now": the scheduled time of cron ``name``'s tick (UTC), or now for a hand-made run.

    The rule for "now" in every cron: it decides with the time of its tick, passed to SQL as a
    parameter, never the wall clock (``utcnow()``, SQL's ``now()``, a column's ``DEFAULT now()``),
    so a run that starts late, runs again after an interruption or runs on another worker marks,
    counts, stamps and keys exactly what the on-time run would have. ``tests/test_cron_clock.py``
    fails when a cron body reads the wall clock. A run whose job id is not a tick's (started by
    hand) stands for now. Tests choose a cron's "now" the same way: through the job id.
    Processors act on the moment they run (``utcnow()``); ``run_cron_job`` records when a run
    really started and ended.
    """
    tick = tick_of(ctx["job_id"], name)
    return utcnow() if tick is None else tick


def is_last_try(ctx: JobContext, queue: str) -> bool:
    """Whether no retry follows if this try of a ``queue`` job fails: it is the queue's last try."""
    return ctx["job_try"] >= ctx["producer"].spec(queue).retry.max_tries
