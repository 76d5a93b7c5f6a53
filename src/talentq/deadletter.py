"""The dead-letter store: where jobs that failed for good are kept, and never lost.

A record goes to PostgreSQL (``failed_jobs``). If PostgreSQL cannot take it at that
moment, it goes to a Redis list instead and ``flush()`` moves it into PostgreSQL once
the database is back (the worker flushes at start and periodically). Records are
upserted by job id, so a flush that is interrupted and run again writes nothing twice.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Final, Literal
from uuid import uuid4

from loguru import logger
from redis.asyncio import Redis
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from talentq.client import Producer
from talentq.db.engine import is_unavailable
from talentq.db.models import DeadLetterState, FailedJob, utcnow

PENDING_KEY: Final = "talentq:dead-letters:pending"
UNREADABLE_KEY: Final = "talentq:dead-letters:unreadable"
FLUSH_LOCK_KEY: Final = "talentq:dead-letters:flush-lock"
#: How long a dead-letter write may wait for PostgreSQL before the record goes to Redis.
DB_WRITE_TIMEOUT_S: Final = 10.0
FLUSH_LOCK_S: Final = 120


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
        """This record as PostgreSQL accepts it: NUL characters (refused in text and JSONB) escaped."""
        return DeadLetter(**{name: _escape_nul(value) for name, value in asdict(self).items()})

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


Destination = Literal["postgres", "redis", "log"]


class DeadLetterStore:
    """Writes dead letters to PostgreSQL, falling back to a Redis list when it cannot."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], redis: Redis) -> None:
        self._sessions = sessions
        self._redis = redis

    async def record(self, letter: DeadLetter) -> Destination:
        """Store ``letter``; returns where it went. Never raises for a storage failure."""
        letter = letter.storable()
        try:
            async with asyncio.timeout(DB_WRITE_TIMEOUT_S), self._sessions.begin() as session:
                await _upsert(session, [letter])
        except Exception as db_error:
            # Any database failure, not only "unreachable": a record must never be lost
            # to a bug either. The pending list keeps it until a flush succeeds.
            try:
                await self._redis.rpush(PENDING_KEY, letter.to_json())  # type: ignore[misc]  # redis-py types sync and async results as one union
            except Exception as redis_error:
                logger.critical(
                    "dead letter for job {} could not be stored (PostgreSQL: {!r}; Redis: {!r}); record: {}",
                    letter.job_id,
                    db_error,
                    redis_error,
                    letter.to_json(),
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
            async with self._sessions.begin() as session:
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


async def mark_replayed(session: AsyncSession, job_id: str, new_job_id: str) -> None:
    await session.execute(
        update(FailedJob)
        .where(col(FailedJob.job_id) == job_id)
        .values(state=DeadLetterState.REPLAYED.value, replayed_job_id=new_job_id, replayed_at=utcnow())
    )


async def replay(sessions: async_sessionmaker[AsyncSession], producer: Producer, job_id: str) -> str:
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
    new_id = await producer.enqueue(row.queue, row.payload, job_id=f"{job_id}:replay:{uuid4().hex[:8]}")
    if new_id is None:  # pragma: no cover - a fresh random id cannot exist already
        raise RuntimeError(f"replay of {job_id!r} was not enqueued: its new id already exists")
    async with sessions.begin() as session:
        await mark_replayed(session, job_id, new_id)
    return new_id
