"""The dead-letter store: where jobs that failed for good are kept, and never lost.

A record goes to PostgreSQL (``failed_jobs``). If PostgreSQL cannot take it within
``DEAD_LETTER_DB_TIMEOUT`` (a second by default: a hanging database must not hold the job
slots of unrelated queues), it goes to a Redis list instead and ``flush()`` moves it into
PostgreSQL once the database is back (the worker flushes at start and periodically). Records
are upserted by job id, so a flush that is interrupted and run again writes nothing twice.
``record`` never raises: a payload it cannot store as it is (nested too deep, say) is kept as
bounded, escaped text with the reason, and if neither PostgreSQL nor Redis takes the record,
it is logged at CRITICAL with the job id and queue.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any, Final, Literal, Protocol
from uuid import uuid4

from loguru import logger
from redis.asyncio import Redis
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from talentq import job_ids
from talentq.db.engine import is_unavailable
from talentq.db.models import DeadLetterState, FailedJob, utcnow

PENDING_KEY: Final = "talentq:dead-letters:pending"
UNREADABLE_KEY: Final = "talentq:dead-letters:unreadable"
FLUSH_LOCK_KEY: Final = "talentq:dead-letters:flush-lock"
#: How long a dead-letter write may wait for PostgreSQL before the record goes to Redis, unless
#: the store is given another (``DEAD_LETTER_DB_TIMEOUT``).
DB_WRITE_TIMEOUT_S: Final = 1.0
#: How long one batch of a flush may take before the flush gives up (the records stay in Redis).
FLUSH_BATCH_TIMEOUT_S: Final = 30.0
FLUSH_LOCK_S: Final = 120
#: A record's texts as ``bounded()`` keeps them, and the queue column's width.
BOUNDED_CHARS: Final = 10_000
QUEUE_CHARS: Final = 100


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One failed job, as the wrapper saw it on its final failure."""

    job_id: str
    queue: str
    payload: dict[str, Any]
    reason: str
    error_type: str
    message: str
    traceback: str
    tries: int
    first_failed_at: datetime
    last_failed_at: datetime

    def to_json(self) -> str:
        data = asdict(self)
        data["first_failed_at"] = self.first_failed_at.isoformat()
        data["last_failed_at"] = self.last_failed_at.isoformat()
        return json.dumps(data, default=str)

    def storable(self) -> DeadLetter:
        """This record as PostgreSQL accepts it: NUL characters (refused in text and JSONB) escaped,
        the queue cut to its column's width."""
        letter = DeadLetter(**{name: _escape_nul(value) for name, value in asdict(self).items()})
        return replace(letter, queue=letter.queue[:QUEUE_CHARS])

    def bounded(self, why: str) -> DeadLetter:
        """This record with its payload as bounded, escaped text (``why`` it could not be kept as it
        was) and its texts cut: what any store takes, however the payload is made."""

        def cut(text: str) -> str:
            return str(_escape_nul(text if len(text) <= BOUNDED_CHARS else text[:BOUNDED_CHARS] + "…"))

        return replace(
            self,
            job_id=cut(str(self.job_id)),
            queue=cut(str(self.queue))[:QUEUE_CHARS],
            payload={"unstorable": cut(bounded_text(self.payload, BOUNDED_CHARS)), "why": cut(why)},
            error_type=cut(str(self.error_type)),
            message=cut(str(self.message)),
            traceback=cut(str(self.traceback)),
        )

    @classmethod
    def from_json(cls, raw: bytes | str) -> DeadLetter:
        data = json.loads(raw)
        data["first_failed_at"] = datetime.fromisoformat(data["first_failed_at"])
        data["last_failed_at"] = datetime.fromisoformat(data["last_failed_at"])
        return cls(**data)


def _escape_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "\\x00")
    if isinstance(value, dict):
        return {_escape_nul(k): _escape_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_escape_nul(v) for v in value]
    return value


class _Rendered(str):
    """A piece of ``bounded_text``'s output, as opposed to a value still to render."""


def bounded_text(value: Any, limit: int) -> str:
    """``value`` as JSON-like text, cut after ``limit`` characters.

    Iterative, so a payload nested any depth renders (json.dumps, repr and asdict recurse, and a
    payload nested 900 deep overflows them).
    """
    out: list[str] = []
    size = 0
    stack: list[Any] = [value]
    while stack and size <= limit:
        item = stack.pop()
        if isinstance(item, _Rendered):
            piece = str(item)
        elif isinstance(item, dict | list | tuple):
            is_dict = isinstance(item, dict)
            entries = list(item.items()) if isinstance(item, dict) else [(None, v) for v in item]
            parts: list[Any] = [_Rendered("{" if is_dict else "[")]
            for index, (key, child) in enumerate(entries):
                if index:
                    parts.append(_Rendered(", "))
                if is_dict:
                    parts.append(_Rendered(json.dumps(str(key)) + ": "))
                parts.append(child)
            parts.append(_Rendered("}" if is_dict else "]"))
            stack.extend(reversed(parts))
            continue
        elif isinstance(item, str | int | float | bool) or item is None:
            piece = json.dumps(item)
        else:
            piece = json.dumps(repr(item)[:200])
        out.append(piece)
        size += len(piece)
    text = "".join(out)
    return text if len(text) <= limit else text[:limit] + "…"


Destination = Literal["postgres", "redis", "log"]

#: Writes given up on (PostgreSQL hanging), kept referenced until they end, however late.
_ABANDONED: set[asyncio.Future[None]] = set()


def _forget_abandoned(task: asyncio.Future[None]) -> None:
    _ABANDONED.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: its failure is why the record went to Redis


class DeadLetterStore:
    """Writes dead letters to PostgreSQL, falling back to a Redis list when it cannot."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        redis: Redis,
        *,
        db_timeout: float = DB_WRITE_TIMEOUT_S,
    ) -> None:
        self._sessions = sessions
        self._redis = redis
        self._db_timeout = db_timeout

    async def record(self, letter: DeadLetter) -> Destination:
        """Store ``letter``; returns where it went. Never raises (but for cancellation)."""
        try:
            letter = letter.storable()
            encoded = letter.to_json()
        except Exception as exc:  # a payload nested past the recursion limit, say
            letter = letter.bounded(f"kept as text: {type(exc).__name__}: {exc}")
            encoded = letter.to_json()
        try:
            await self._write_within_timeout(letter)
        except Exception as db_error:
            # Any database failure, not only "unreachable": a record must never be lost
            # to a bug either. The pending list keeps it until a flush succeeds.
            try:
                await self._redis.rpush(PENDING_KEY, encoded)  # type: ignore[misc]  # redis-py types sync and async results as one union
            except Exception as redis_error:
                logger.critical(
                    "dead letter for job {} of queue {} could not be stored (PostgreSQL: {!r}; Redis: {!r});"
                    " record: {}",
                    letter.job_id,
                    letter.queue,
                    db_error,
                    redis_error,
                    encoded,
                )
                return "log"
            logger.warning(
                "PostgreSQL could not take the dead letter for job {} ({!r}); "
                "kept in Redis list {} until flushed",
                letter.job_id,
                db_error,
                PENDING_KEY,
            )
            return "redis"
        return "postgres"

    async def _write_within_timeout(self, letter: DeadLetter) -> None:
        """Upsert ``letter``; ``TimeoutError`` after ``db_timeout`` even if PostgreSQL hangs.

        The write runs in a task of its own that is abandoned, not awaited, on timeout: cancelling a
        transaction on a hanging connection waits on that connection for its rollback, which
        would hold the job (and its slot) as long as the database hangs.
        """

        async def write() -> None:
            async with self._sessions.begin() as session:
                await _upsert(session, [letter])

        task = asyncio.ensure_future(write())
        try:
            await asyncio.wait_for(asyncio.shield(task), self._db_timeout)
        except TimeoutError:
            task.cancel()
            _ABANDONED.add(task)
            task.add_done_callback(_forget_abandoned)
            raise

    async def pending(self) -> int:
        """How many dead letters wait in Redis for PostgreSQL."""
        return int(await self._redis.llen(PENDING_KEY))  # type: ignore[misc]  # redis-py types sync and async results as one union

    async def flush(self, *, batch: int = 500) -> int:
        """Move dead letters from the Redis list into PostgreSQL; returns how many moved.

        One flusher at a time across all workers (a Redis lock, renewed before each batch is
        trimmed); each batch is upserted before it is trimmed from the list, so a crash
        mid-flush only repeats an upsert. PostgreSQL down: raises, and the list is intact.
        A record PostgreSQL rejects is set aside in ``UNREADABLE_KEY`` with the reason, so
        one bad record cannot block the rest.
        """
        lock = self._redis.lock(FLUSH_LOCK_KEY, timeout=FLUSH_LOCK_S, blocking=False)
        if not await lock.acquire():
            return 0
        moved = 0
        try:
            while raw_batch := await self._redis.lrange(PENDING_KEY, 0, batch - 1):  # type: ignore[misc]  # redis-py types sync and async results as one union
                letters: list[DeadLetter] = []
                for raw in raw_batch:
                    try:
                        letters.append(DeadLetter.from_json(raw).storable())
                    except (ValueError, TypeError, KeyError) as exc:
                        await self._set_aside(raw, f"unreadable: {exc!r}")
                moved += await self._store_batch(letters)
                # Renewing fails (LockNotOwnedError) if another flusher took over after our
                # lock expired; trimming then could drop records it has not written yet.
                await lock.reacquire()
                await self._redis.ltrim(PENDING_KEY, len(raw_batch), -1)  # type: ignore[misc]  # redis-py types sync and async results as one union
        finally:
            if await lock.owned():
                await lock.release()
        if moved:
            logger.info("flushed {} dead letter(s) from Redis into PostgreSQL", moved)
        return moved

    async def _store_batch(self, letters: list[DeadLetter]) -> int:
        if not letters:
            return 0
        try:
            async with asyncio.timeout(FLUSH_BATCH_TIMEOUT_S), self._sessions.begin() as session:
                await _upsert(session, letters)
            return len(letters)
        except Exception as exc:
            if is_unavailable(exc):
                raise
        # The batch was rejected, not the connection lost: find the bad records one by one.
        stored = 0
        for letter in letters:
            try:
                async with self._sessions.begin() as session:
                    await _upsert(session, [letter])
                stored += 1
            except Exception as exc:
                if is_unavailable(exc):
                    raise
                await self._set_aside(letter.to_json(), f"rejected by PostgreSQL: {exc!r}")
        return stored

    async def _set_aside(self, raw: bytes | str, why: str) -> None:
        logger.error("dead letter set aside in {} ({}): {!r}", UNREADABLE_KEY, why, raw[:500])
        entry = json.dumps(
            {"why": why, "raw": raw.decode(errors="replace") if isinstance(raw, bytes) else raw}
        )
        await self._redis.rpush(UNREADABLE_KEY, entry)  # type: ignore[misc]  # redis-py types sync and async results as one union


async def _upsert(session: AsyncSession, letters: Sequence[DeadLetter]) -> None:
    # One row per job id: a later failure of the same id updates it (and revives a
    # replayed record), keeping the earliest first failure.
    latest: dict[str, DeadLetter] = {}
    for letter in letters:
        seen = latest.get(letter.job_id)
        if seen is None or letter.last_failed_at >= seen.last_failed_at:
            latest[letter.job_id] = letter
    rows = [{**asdict(letter), "state": DeadLetterState.DEAD.value} for letter in latest.values()]
    stmt = insert(FailedJob).values(rows)
    stmt = stmt.on_conflict_do_update(
        index_elements=["job_id"],
        # An older record flushed late from Redis must not overwrite a newer one.
        where=col(FailedJob.last_failed_at) <= stmt.excluded.last_failed_at,
        set_={
            "queue": stmt.excluded.queue,
            "payload": stmt.excluded.payload,
            "reason": stmt.excluded.reason,
            "error_type": stmt.excluded.error_type,
            "message": stmt.excluded.message,
            "traceback": stmt.excluded.traceback,
            "tries": stmt.excluded.tries,
            "first_failed_at": func.least(col(FailedJob.first_failed_at), stmt.excluded.first_failed_at),
            "last_failed_at": func.greatest(col(FailedJob.last_failed_at), stmt.excluded.last_failed_at),
            "state": DeadLetterState.DEAD.value,
        },
    )
    await session.execute(stmt)


async def list_dead(
    session: AsyncSession, *, queue: str | None = None, state: str | None = None, limit: int = 50
) -> list[FailedJob]:
    """The most recent dead letters, newest first."""
    query = select(FailedJob).order_by(col(FailedJob.last_failed_at).desc()).limit(limit)
    if queue is not None:
        query = query.where(col(FailedJob.queue) == queue)
    if state is not None:
        query = query.where(col(FailedJob.state) == state)
    return list((await session.execute(query)).scalars())


class Enqueues(Protocol):
    """What a replay enqueues with: ``talentq.client.Producer``, which validates the payload first."""

    async def enqueue(self, queue: str, payload: Any, *, job_id: str | None = None) -> str | None: ...


async def mark_replayed(session: AsyncSession, job_id: str, new_job_id: str) -> None:
    await session.execute(
        update(FailedJob)
        .where(col(FailedJob.job_id) == job_id)
        .values(state=DeadLetterState.REPLAYED.value, replayed_job_id=new_job_id, replayed_at=utcnow())
    )


async def replay(sessions: async_sessionmaker[AsyncSession], producer: Enqueues, job_id: str) -> str:
    """Enqueue a dead letter's payload again under a new job id; returns that id.

    The producer validates the payload as for any job, so a record whose payload was the
    problem is refused here with the field names, and stays dead.
    """
    async with sessions() as session:
        row = (
            await session.execute(select(FailedJob).where(col(FailedJob.job_id) == job_id))
        ).scalar_one_or_none()
    if row is None:
        raise LookupError(f"no dead letter with job id {job_id!r} (see `talentq dead-letters list`)")
    if row.state == DeadLetterState.REPLAYED.value:
        raise ValueError(f"dead letter {job_id!r} was already replayed as {row.replayed_job_id!r}")
    new_id = await producer.enqueue(row.queue, row.payload, job_id=job_ids.replay(job_id, uuid4().hex[:8]))
    if new_id is None:  # pragma: no cover - a fresh random id cannot exist already
        raise RuntimeError(f"replay of {job_id!r} was not enqueued: its new id already exists")
    async with sessions.begin() as session:
        await mark_replayed(session, job_id, new_id)
    return new_id
