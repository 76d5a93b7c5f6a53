"""The dead-letter store: PostgreSQL first, a Redis list when it is down, flushed later, nothing lost."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from arq.connections import ArqRedis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from talentq.db.engine import make_engine, make_sessionmaker
from talentq.db.models import FailedJob, utcnow
from talentq.deadletter import (
    PENDING_KEY,
    UNREADABLE_KEY,
    DeadLetter,
    DeadLetterStore,
    list_dead,
    mark_replayed,
)
from talentq.serialization import serialize

from .conftest import MakeWorker
from .sample_app import BINDINGS, CATALOGUE

pytestmark = pytest.mark.integration

#: Nothing listens on port 1: connections are refused at once, like a PostgreSQL that is down.
DOWN_URL = "postgresql://postgres@127.0.0.1:1/nowhere"


def letter(job_id: str, *, minutes_ago: int = 0, message: str = "boom") -> DeadLetter:
    when = utcnow() - timedelta(minutes=minutes_ago)
    return DeadLetter(
        job_id=job_id,
        queue="probe",
        payload={"key": job_id},
        reason="exhausted",
        error_type="ConnectionError",
        message=message,
        traceback="Traceback ...\nConnectionError: boom\n",
        tries=3,
        first_failed_at=when,
        last_failed_at=when,
    )


@pytest.fixture
async def down_store(redis: ArqRedis) -> AsyncIterator[DeadLetterStore]:
    engine = make_engine(url=DOWN_URL)
    yield DeadLetterStore(make_sessionmaker(engine), redis)
    await engine.dispose()


async def rows(sessions: async_sessionmaker[AsyncSession]) -> list[FailedJob]:
    async with sessions() as session:
        return await list_dead(session)


async def test_record_goes_to_postgres(redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]) -> None:
    """With PostgreSQL up, a record is a row and nothing waits in Redis."""
    store = DeadLetterStore(sessions, redis)
    assert await store.record(letter("j1")) == "postgres"
    assert [r.job_id for r in await rows(sessions)] == ["j1"]
    assert await store.pending() == 0


async def test_postgres_down_keeps_the_record_in_redis_until_flushed(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession], down_store: DeadLetterStore
) -> None:
    """PostgreSQL down: the record waits in a Redis list; a flush once it is back stores it once."""
    # Given PostgreSQL is unreachable when two jobs are dead-lettered
    assert await down_store.record(letter("j1")) == "redis"
    assert await down_store.record(letter("j2")) == "redis"
    assert await down_store.pending() == 2

    # When a store that reaches PostgreSQL flushes (twice: the second finds nothing)
    store = DeadLetterStore(sessions, redis)
    assert await store.flush() == 2
    assert await store.flush() == 0

    # Then both are rows, with their data, and the list is empty
    stored = {r.job_id: r for r in await rows(sessions)}
    assert set(stored) == {"j1", "j2"}
    assert stored["j1"].message == "boom"
    assert stored["j1"].payload == {"key": "j1"}
    assert await redis.llen(PENDING_KEY) == 0  # type: ignore[misc]


async def test_flush_while_postgres_is_still_down_loses_nothing(
    redis: ArqRedis, down_store: DeadLetterStore
) -> None:
    """A flush that fails leaves every record in the list."""
    await down_store.record(letter("j1"))
    with pytest.raises(OSError):  # noqa: PT011 - the connection refusal itself, whatever its errno
        await down_store.flush()
    assert await down_store.pending() == 1


async def test_upsert_is_idempotent_and_keeps_first_failure(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """The same job id written again (a repeated flush, a later failure) stays one row."""
    store = DeadLetterStore(sessions, redis)
    await store.record(letter("j1", minutes_ago=10, message="first"))
    await redis.rpush(PENDING_KEY, letter("j1", minutes_ago=5, message="again").to_json())  # type: ignore[misc]
    await redis.rpush(PENDING_KEY, letter("j1", minutes_ago=1, message="latest").to_json())  # type: ignore[misc]
    await store.flush()
    (row,) = await rows(sessions)
    assert row.message == "latest"
    assert row.last_failed_at - row.first_failed_at >= timedelta(minutes=8)


async def test_unreadable_entries_are_set_aside_not_dropped(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """An entry that cannot be parsed moves to its own list; the good ones are stored."""
    await redis.rpush(PENDING_KEY, b"{not json", letter("ok").to_json())  # type: ignore[misc]
    assert await DeadLetterStore(sessions, redis).flush() == 1
    (aside,) = await redis.lrange(UNREADABLE_KEY, 0, -1)  # type: ignore[misc]
    assert json.loads(aside)["raw"] == "{not json"
    assert json.loads(aside)["why"].startswith("unreadable: JSONDecodeError")
    assert [r.job_id for r in await rows(sessions)] == ["ok"]
    assert await redis.llen(PENDING_KEY) == 0  # type: ignore[misc]


async def test_a_record_postgres_rejects_cannot_block_the_rest(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """A record the database refuses is set aside with the reason; the rest of its batch is stored."""
    bad = replace(letter("bad"), tries=2**40)  # out of the integer column's range
    await redis.rpush(PENDING_KEY, letter("a").to_json(), bad.to_json(), letter("b").to_json())  # type: ignore[misc]

    assert await DeadLetterStore(sessions, redis).flush() == 2

    assert sorted(r.job_id for r in await rows(sessions)) == ["a", "b"]
    (aside,) = await redis.lrange(UNREADABLE_KEY, 0, -1)  # type: ignore[misc]
    assert json.loads(aside)["why"].startswith("rejected by PostgreSQL")
    assert await redis.llen(PENDING_KEY) == 0  # type: ignore[misc]


async def test_nul_characters_are_stored_escaped(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """PostgreSQL refuses NUL in text and JSONB; the record is stored with it escaped, not lost."""
    nul = replace(letter("nul", message="bad\x00byte"), payload={"body": "a\x00b"})
    assert await DeadLetterStore(sessions, redis).record(nul) == "postgres"
    (row,) = await rows(sessions)
    assert row.message == "bad\\x00byte"
    assert row.payload == {"body": "a\\x00b"}


async def test_both_stores_down_logs_the_whole_record(
    down_store: DeadLetterStore, redis: ArqRedis, records: list[dict[str, Any]]
) -> None:
    """PostgreSQL and Redis both down: the full record is logged at CRITICAL as the last resort."""
    dead_redis = ArqRedis(host="127.0.0.1", port=1, job_serializer=serialize)
    store = DeadLetterStore(down_store._sessions, dead_redis)
    assert await store.record(letter("lost?")) == "log"
    await dead_redis.aclose()
    (line,) = [r for r in records if r["level"].name == "CRITICAL"]
    assert '"job_id": "lost?"' in line["message"]
    assert "Traceback" in line["message"]


async def test_worker_start_flushes_pending_dead_letters(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Records left in Redis while PostgreSQL was down are stored when a worker starts."""
    await redis.rpush(PENDING_KEY, letter("left-behind").to_json())  # type: ignore[misc]
    worker = make_worker(BINDINGS, catalogue=CATALOGUE)
    await worker.async_run()
    assert [r.job_id for r in await rows(sessions)] == ["left-behind"]


async def test_mark_replayed(redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]) -> None:
    """Replaying a dead letter marks it with the new job id."""
    await DeadLetterStore(sessions, redis).record(letter("j1"))
    async with sessions.begin() as session:
        await mark_replayed(session, "j1", "j1-replay")
    async with sessions() as session:
        row = (await session.execute(select(FailedJob))).scalar_one()
    assert (row.state, row.replayed_job_id) == ("replayed", "j1-replay")
    assert row.replayed_at is not None
