"""The producer side: enqueue jobs by queue name with a validated payload.

The web API uses this alone (it imports no worker code)::

    async with talentq.client.connect() as q:
        job_id = await q.enqueue("email-send", {"to": "a@b.co", "subject": "Hi", "body": "..."})

A removed, unknown or disabled queue, or a payload that fails the queue's model, is
refused with ``QueueRefusedError`` before anything reaches Redis. Jobs are written in
arq's own format with the JSON serializer, so an arq worker (ours) runs them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, TypeVar, overload
from uuid import uuid4

from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.constants import expires_extra_ms, job_key_prefix, result_key_prefix
from arq.jobs import serialize_job
from loguru import logger
from pydantic import ValidationError
from redis.asyncio.retry import Retry as RedisRetry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from talentq.errors import InvalidPayloadError, QueueRefusedError
from talentq.queues import CATALOGUE, REMOVED, Payload, QueueSpec, did_you_mean, field_problems
from talentq.serialization import deserialize, serialize
from talentq.settings import Settings, get_settings

P = TypeVar("P", bound=Payload)
R = TypeVar("R")

#: Jobs per round trip in ``enqueue_many``: large enough to amortise the round trip,
#: small enough that one script call never blocks Redis for long (~ a few ms).
ENQUEUE_BATCH: Final = 1000

# Atomically, per job: skip it if its job key or result key exists (arq's no-duplicate-id
# rule), else write the job key with its expiry and add it to the queue. Returns 1/0 per job.
_ENQUEUE_MANY_LUA: Final = """
local queue, job_prefix, result_prefix = ARGV[1], ARGV[2], ARGV[3]
local added = {}
for i = 4, #ARGV, 4 do
  local id = ARGV[i]
  if redis.call('EXISTS', job_prefix .. id, result_prefix .. id) == 0 then
    redis.call('PSETEX', job_prefix .. id, ARGV[i + 2], ARGV[i + 3])
    redis.call('ZADD', queue, ARGV[i + 1], id)
    added[#added + 1] = 1
  else
    added[#added + 1] = 0
  end
end
return added
"""


def redis_settings(
    settings: Settings, *, retries: int | None = None, cap: float | None = None
) -> RedisSettings:
    """arq RedisSettings from ``REDIS_URL``, every command retried with exponential backoff.

    A producer (the web API, the CLI) rides out a Redis restart that way: ``REDIS_RETRIES``
    tries, waits capped at ``REDIS_RETRY_CAP`` seconds (~17 s in all by default). The worker
    passes a short budget instead (``retries``, ``cap``): its loop rides out outages of any
    length itself, and must hear of one within a second to say so and to renew its claims.
    """
    rs = RedisSettings.from_dsn(settings.require_redis_url())
    rs.retry_on_timeout = True
    rs.retry_on_error = [RedisConnectionError, RedisTimeoutError, ConnectionError, OSError]
    rs.retry = RedisRetry(
        ExponentialBackoff(cap=settings.redis_retry_cap if cap is None else cap, base=0.05),
        settings.redis_retries if retries is None else retries,
    )
    # Each connection attempt already retries for the whole budget; arq's own reconnect loop on
    # top would multiply it into minutes before a clear error.
    rs.conn_retries = 0
    return rs


async def create_redis(settings: Settings) -> ArqRedis:
    """An arq pool with talentq's JSON serializer."""
    return await create_pool(redis_settings(settings), job_serializer=serialize, job_deserializer=deserialize)


def _ms(delay: int | float | timedelta | None) -> int:
    if delay is None:
        return 0
    seconds = delay.total_seconds() if isinstance(delay, timedelta) else float(delay)
    if seconds < 0:
        raise ValueError(f"defer_by must not be negative, got {seconds}s")
    return round(seconds * 1000)


class Producer:
    """Enqueues validated jobs into the catalogue's queues through an arq pool."""

    def __init__(self, redis: ArqRedis, *, catalogue: Mapping[str, QueueSpec[Any]] = CATALOGUE) -> None:
        if redis.job_serializer is not serialize:
            # arq's default would write pickle, which the worker refuses (and must).
            raise ValueError(
                "the arq pool must use talentq.serialization.serialize: create it with create_redis()"
            )
        self.redis = redis
        self._catalogue = catalogue
        self._enqueue_many_script = redis.register_script(_ENQUEUE_MANY_LUA)

    def spec(self, queue: str) -> QueueSpec[Any]:
        """The catalogue entry for ``queue``; refuses removed, unknown and disabled queues."""
        if queue in REMOVED:
            raise QueueRefusedError(queue, f"queue was removed ({REMOVED[queue]})")
        spec = self._catalogue.get(queue)
        if spec is None:
            hint = did_you_mean(queue, self._catalogue)
            raise QueueRefusedError(queue, f"unknown queue{hint} (the queues: {', '.join(self._catalogue)})")
        if spec.disabled is not None:
            raise QueueRefusedError(queue, f"queue is disabled ({spec.disabled})")
        return spec

    def prepare(self, queue: str, payload: Mapping[str, Any] | Payload) -> dict[str, Any]:
        """Validate ``payload`` for ``queue`` and return its wire form (camelCase JSON object)."""
        spec = self.spec(queue)
        if isinstance(payload, Payload):
            if not isinstance(payload, spec.payload):
                raise QueueRefusedError(
                    queue, f"payload is a {type(payload).__name__}, the queue takes {spec.payload.__name__}"
                )
            return spec.wire(payload)
        try:
            return spec.wire(spec.validate(payload))
        except InvalidPayloadError as exc:
            raise QueueRefusedError(queue, str(exc), fields=exc.fields) from exc

    @overload
    async def enqueue(
        self,
        queue: QueueSpec[P],
        payload: P,
        *,
        job_id: str | None = None,
        defer_by: int | float | timedelta | None = None,
        defer_until: datetime | None = None,
    ) -> str | None: ...

    @overload
    async def enqueue(
        self,
        queue: str,
        payload: Mapping[str, Any] | Payload,
        *,
        job_id: str | None = None,
        defer_by: int | float | timedelta | None = None,
        defer_until: datetime | None = None,
    ) -> str | None: ...

    async def enqueue(
        self,
        queue: str | QueueSpec[Any],
        payload: Mapping[str, Any] | Payload,
        *,
        job_id: str | None = None,
        defer_by: int | float | timedelta | None = None,
        defer_until: datetime | None = None,
    ) -> str | None:
        """Enqueue one job; returns its id, or None when a job with ``job_id`` already exists.

        Inside talentq, ``queue`` is the catalogue's entry and ``payload`` its model, so that
        the type checker holds each job to its queue (``enqueue(EMAIL_SEND, EmailSend(...))``);
        the web API may name the queue and send the JSON object.
        """
        name = queue if isinstance(queue, str) else queue.name
        wire = self.prepare(name, payload)
        _ms(defer_by)  # refuses a negative delay before anything reaches Redis
        job = await self.redis.enqueue_job(
            name,
            wire,
            _job_id=job_id,
            _queue_name=self._catalogue[name].arq_queue,
            _defer_by=defer_by,
            _defer_until=defer_until,
        )
        return None if job is None else job.job_id

    async def enqueue_many(
        self,
        queue: str | QueueSpec[Any],
        payloads: Iterable[Mapping[str, Any] | Payload],
        *,
        job_ids: Sequence[str] | None = None,
        defer_by: int | float | timedelta | None = None,
    ) -> list[str | None]:
        """Enqueue many jobs into one queue in a few round trips; same result as a loop of enqueue.

        Every payload is validated first: one bad payload refuses the whole batch, naming
        its index, and nothing reaches Redis. Returns one entry per payload: the job id,
        or None where a job with that id already existed (arq's no-duplicate-id rule).
        A cron's fan-out, where one bad row must not hold back the others, uses ``fan_out``.
        """
        queue = queue if isinstance(queue, str) else queue.name
        spec = self.spec(queue)
        wires: list[dict[str, Any]] = []
        for index, payload in enumerate(payloads):
            try:
                wires.append(self.prepare(queue, payload))
            except QueueRefusedError as exc:
                raise QueueRefusedError(queue, f"payload #{index}: {exc.reason}", fields=exc.fields) from exc
        return await self._write_jobs(spec, wires, _ids_for(wires, job_ids), defer_by)

    async def fan_out(
        self,
        queue: QueueSpec[P],
        rows: Iterable[R],
        *,
        payload: Callable[[R], P],
        job_id: Callable[[R], str],
        defer_by: int | float | timedelta | None = None,
    ) -> FanOut:
        """A job per row, its payload and id made by ``payload`` and ``job_id``; a refused row is skipped.

        The model of a row whose data the queue's model refuses (``payload`` raises pydantic's
        ``ValidationError``) is not the batch's: it is returned (``FanOut.refused``, for the
        caller's result) and named in one WARNING, and the rest are enqueued in a few round trips.
        A removed, unknown or disabled queue still refuses all. ``FanOut.ids`` has one entry per
        row: the new job's id, or None (refused, or its job existed).
        """
        spec = self.spec(queue.name)
        rows = list(rows)
        ids = [job_id(row) for row in rows]
        wires: list[dict[str, Any]] = []
        kept: list[int] = []
        refused: list[Refused] = []
        for index, row in enumerate(rows):
            try:
                wires.append(self.prepare(spec.name, payload(row)))
            except ValidationError as exc:
                refused.append(
                    Refused(index, ids[index], str(InvalidPayloadError(spec.name, field_problems(exc))))
                )
            except QueueRefusedError as exc:
                refused.append(Refused(index, ids[index], exc.reason))
            else:
                kept.append(index)
        written = await self._write_jobs(spec, wires, [ids[i] for i in kept], defer_by)
        results: list[str | None] = [None] * len(rows)
        for index, new_id in zip(kept, written, strict=True):
            results[index] = new_id
        if refused:
            shown = "; ".join(f"{r.job_id}: {r.reason}" for r in refused[:REFUSED_LISTED])
            more = f" (and {len(refused) - REFUSED_LISTED} more)" if len(refused) > REFUSED_LISTED else ""
            logger.warning(
                "fan-out into {}: {} of {} payload(s) refused and skipped, the rest enqueued: {}{}",
                spec.name,
                len(refused),
                len(rows),
                shown,
                more,
            )
        return FanOut(results, refused)

    async def _write_jobs(
        self,
        spec: QueueSpec[Any],
        wires: Sequence[dict[str, Any]],
        ids: Sequence[str],
        defer_by: int | float | timedelta | None,
    ) -> list[str | None]:
        """Write validated payloads as arq jobs, one script call per ``ENQUEUE_BATCH``."""
        results: list[str | None] = []
        for start in range(0, len(wires), ENQUEUE_BATCH):
            now_ms = round(datetime.now().timestamp() * 1000)
            score = now_ms + _ms(defer_by)
            expires = score - now_ms + expires_extra_ms
            argv: list[str | bytes | int] = [spec.arq_queue, job_key_prefix, result_key_prefix]
            chunk_ids = ids[start : start + ENQUEUE_BATCH]
            for job_id, wire in zip(chunk_ids, wires[start : start + ENQUEUE_BATCH], strict=True):
                argv += [
                    job_id,
                    score,
                    expires,
                    serialize_job(spec.name, (wire,), {}, None, now_ms, serializer=serialize),
                ]
            added = await self._enqueue_many_script(args=argv)
            results += [job_id if flag else None for job_id, flag in zip(chunk_ids, added, strict=True)]
        return results


def _ids_for(payloads: Sequence[Any], job_ids: Sequence[str] | None) -> list[str]:
    if job_ids is not None and len(job_ids) != len(payloads):
        raise ValueError(f"got {len(payloads)} payloads but {len(job_ids)} job ids")
    return list(job_ids) if job_ids is not None else [uuid4().hex for _ in payloads]


#: How many refused payloads a fan-out's WARNING and result name (all are counted).
REFUSED_LISTED: Final = 20


@dataclass(frozen=True, slots=True)
class Refused:
    """A payload a fan-out skipped: its place in the batch, its job id, and why."""

    index: int
    job_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class FanOut:
    """What a fan-out did: per payload, the new job's id (None: refused, or its job existed); the refused."""

    ids: list[str | None]
    refused: list[Refused]

    @property
    def enqueued(self) -> int:
        """How many jobs are new."""
        return sum(job_id is not None for job_id in self.ids)

    def report(self) -> dict[str, Any]:
        """What a cron's result says of the refused: nothing when none was."""
        if not self.refused:
            return {}
        return {
            "refused": len(self.refused),
            "refusedJobs": [r.job_id for r in self.refused[:REFUSED_LISTED]],
        }


@asynccontextmanager
async def connect(settings: Settings | None = None) -> AsyncIterator[Producer]:
    """Open an arq pool for ``REDIS_URL`` and yield a ``Producer``; closes the pool on exit."""
    redis = await create_redis(settings or get_settings())
    try:
        yield Producer(redis)
    finally:
        await redis.aclose(close_connection_pool=True)
