"""The producer side: enqueue jobs by queue name with a validated payload.

The web API uses this alone (it imports no worker code)::

    async with talentq.client.connect() as q:
        job_id = await q.enqueue("email-send", {"to": "a@b.co", "subject": "Hi", "body": "..."})

A removed, unknown or disabled queue, or a payload that fails the queue's model, is
refused with ``QueueRefusedError`` before anything reaches Redis. Jobs are written in
arq's own format with the JSON serializer, so an arq worker (ours) runs them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any, Final
from uuid import uuid4

from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.constants import expires_extra_ms, job_key_prefix, result_key_prefix
from arq.jobs import serialize_job
from redis.asyncio.retry import Retry as RedisRetry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from talentq.errors import InvalidPayloadError, QueueRefusedError
from talentq.queues import CATALOGUE, REMOVED, Payload, QueueSpec, did_you_mean
from talentq.serialization import deserialize, serialize
from talentq.settings import Settings, get_settings

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


def redis_settings(settings: Settings) -> RedisSettings:
    """arq RedisSettings from ``REDIS_URL``, with the retries that let a worker survive a restart.

    Without ``retry_on_error`` a running worker exits on the first connection error; with
    it, every command is retried with exponential backoff (``REDIS_RETRIES``, capped at
    ``REDIS_RETRY_CAP`` seconds per wait).
    """
    rs = RedisSettings.from_dsn(settings.require_redis_url())
    rs.retry_on_timeout = True
    rs.retry_on_error = [RedisConnectionError, RedisTimeoutError, ConnectionError, OSError]
    rs.retry = RedisRetry(ExponentialBackoff(cap=settings.redis_retry_cap, base=0.05), settings.redis_retries)
    # Each connection attempt already retries for the whole budget (~17 s by default);
    # arq's own reconnect loop on top would multiply it into minutes before a clear error.
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

    def __init__(self, redis: ArqRedis, *, catalogue: Mapping[str, QueueSpec] = CATALOGUE) -> None:
        if redis.job_serializer is not serialize:
            # arq's default would write pickle, which the worker refuses (and must).
            raise ValueError(
                "the arq pool must use talentq.serialization.serialize: create it with create_redis()"
            )
        self.redis = redis
        self._catalogue = catalogue
        self._enqueue_many_script = redis.register_script(_ENQUEUE_MANY_LUA)

    def spec(self, queue: str) -> QueueSpec:
        """The catalogue entry for ``queue``; refuses removed, unknown and disabled queues."""
        if queue in REMOVED:
            raise QueueRefusedError(queue, f"queue was removed ({REMOVED[queue]})")
        spec = self._catalogue.get(queue)
        if spec is None:
            raise QueueRefusedError(queue, f"unknown queue{did_you_mean(queue, self._catalogue)}")
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

    async def enqueue(
        self,
        queue: str,
        payload: Mapping[str, Any] | Payload,
        *,
        job_id: str | None = None,
        defer_by: int | float | timedelta | None = None,
        defer_until: datetime | None = None,
    ) -> str | None:
        """Enqueue one job; returns its id, or None when a job with ``job_id`` already exists."""
        wire = self.prepare(queue, payload)
        _ms(defer_by)  # refuses a negative delay before anything reaches Redis
        job = await self.redis.enqueue_job(
            queue,
            wire,
            _job_id=job_id,
            _queue_name=self._catalogue[queue].arq_queue,
            _defer_by=defer_by,
            _defer_until=defer_until,
        )
        return None if job is None else job.job_id

    async def enqueue_many(
        self,
        queue: str,
        payloads: Iterable[Mapping[str, Any] | Payload],
        *,
        job_ids: Sequence[str] | None = None,
        defer_by: int | float | timedelta | None = None,
    ) -> list[str | None]:
        """Enqueue many jobs into one queue in a few round trips; same result as a loop of enqueue.

        Every payload is validated first: one bad payload refuses the whole batch, naming
        its index, and nothing reaches Redis. Returns one entry per payload: the job id,
        or None where a job with that id already existed (arq's no-duplicate-id rule).
        """
        spec = self.spec(queue)
        wires: list[dict[str, Any]] = []
        for index, payload in enumerate(payloads):
            try:
                wires.append(self.prepare(queue, payload))
            except QueueRefusedError as exc:
                raise QueueRefusedError(queue, f"payload #{index}: {exc.reason}", fields=exc.fields) from exc
        if job_ids is not None and len(job_ids) != len(wires):
            raise ValueError(f"enqueue_many got {len(wires)} payloads but {len(job_ids)} job ids")
        ids = list(job_ids) if job_ids is not None else [uuid4().hex for _ in wires]

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
                    serialize_job(queue, (wire,), {}, None, now_ms, serializer=serialize),
                ]
            added = await self._enqueue_many_script(args=argv)
            results += [job_id if flag else None for job_id, flag in zip(chunk_ids, added, strict=True)]
        return results


@asynccontextmanager
async def connect(settings: Settings | None = None) -> AsyncIterator[Producer]:
    """Open an arq pool for ``REDIS_URL`` and yield a ``Producer``; closes the pool on exit."""
    redis = await create_redis(settings or get_settings())
    try:
        yield Producer(redis)
    finally:
        await redis.aclose(close_connection_pool=True)
