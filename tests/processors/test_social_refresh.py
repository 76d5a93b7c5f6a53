"""social-refresh: a disabled feature fails loudly: the worker dead-letters it, the client refuses it."""

from __future__ import annotations

import pytest
from arq.connections import ArqRedis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from talentq.client import Producer
from talentq.db.models import FailedJob
from talentq.errors import QueueRefusedError
from talentq.processors import social_refresh
from talentq.queues import CATALOGUE

from ..conftest import MakeWorker
from ..test_jobs import result_of

pytestmark = pytest.mark.integration

REASON = CATALOGUE["social-refresh"].disabled


async def test_a_job_that_reaches_redis_is_dead_lettered_with_the_reason(
    make_worker: MakeWorker,
    redis: ArqRedis,
    sessions: async_sessionmaker[AsyncSession],
    sql_statements: list[str],
) -> None:
    """A raw enqueue bypassing the client: one try, a permanent dead letter with the catalogue's reason."""
    assert REASON
    await redis.enqueue_job("social-refresh", {"talentId": 1}, _job_id="social-1")

    await make_worker(
        [("social-refresh", social_refresh.handle)], catalogue={"social-refresh": CATALOGUE["social-refresh"]}
    ).async_run()

    # Nothing but the worker's startup check and the dead letter reached the database.
    assert [s.split()[0] for s in sql_statements] == ["SELECT", "INSERT"]
    assert "information_schema" in sql_statements[0]
    assert sql_statements[1].startswith("INSERT INTO failed_jobs")

    async with sessions() as session:
        (letter,) = (await session.execute(select(FailedJob))).scalars()
    assert (letter.job_id, letter.queue, letter.reason, letter.tries) == (
        "social-1",
        "social-refresh",
        "permanent",
        1,
    )
    assert letter.error_type == "PermanentJobError"
    assert REASON in letter.message
    assert "talent 1" in letter.message
    assert letter.payload == {"talentId": 1}
    info = await result_of(redis, "social-1")
    assert not info.success
    assert REASON in str(info.result)


async def test_the_client_refuses_to_enqueue_it(redis: ArqRedis) -> None:
    """Producer.enqueue and enqueue_many refuse the queue with its reason; nothing reaches Redis."""
    producer = Producer(redis)
    with pytest.raises(QueueRefusedError, match="queue is disabled") as caught:
        await producer.enqueue("social-refresh", {"talentId": 1})
    assert caught.value.queue == "social-refresh"
    assert REASON is not None
    assert REASON in caught.value.reason
    with pytest.raises(QueueRefusedError, match="queue is disabled"):
        await producer.enqueue_many("social-refresh", [{"talentId": 1}, {"talentId": 2}])
    assert await redis.dbsize() == 0
