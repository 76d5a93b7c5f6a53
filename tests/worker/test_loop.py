"""talentq's worker loop, step by step in one process on the test Redis: the moments a fault test
can only hit by chance, set up on purpose.

The fault tests (``test_worker_faults.py``) kill Redis under a busy worker and count what ran;
a job finishing while Redis is away is one of a hundred there. Here the worker holds one job whose
claim lapsed, as it does after an outage longer than the lease, and the loop is driven by hand.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from arq.connections import ArqRedis
from arq.constants import in_progress_key_prefix
from arq.worker import func

from talentq.worker.loop import Worker

from ..conftest import REDIS_URL
from ..workers import arq_client

pytestmark = pytest.mark.integration


class Held:
    """A job function that records each start and runs until released."""

    def __init__(self) -> None:
        self.starts: list[str] = []
        self.release = asyncio.Event()

    async def run(self, ctx: dict[str, Any]) -> str:
        self.starts.append(ctx["job_id"])
        await self.release.wait()
        return "done"


@pytest.fixture
async def pool() -> AsyncIterator[ArqRedis]:
    async with arq_client(REDIS_URL) as pool:
        await pool.flushdb()
        yield pool
        await pool.flushdb()


@pytest.fixture
async def held() -> Held:
    return Held()


@pytest.fixture
async def worker(pool: ArqRedis, held: Held) -> AsyncIterator[Worker]:
    worker = Worker(
        functions=[func(held.run, name="held")],
        redis_pool=pool,
        handle_signals=False,
        max_jobs=4,
    )
    worker._start_state()
    yield worker
    held.release.set()
    await asyncio.gather(*worker.tasks.values(), return_exceptions=True)


async def test_a_job_whose_claim_lapsed_while_it_runs_is_not_started_again(
    pool: ArqRedis, worker: Worker, held: Held
) -> None:
    # Given a job this worker claimed and is running
    await pool.enqueue_job("held", _job_id="j1")
    await worker.start_jobs([b"j1"])
    await asyncio.sleep(0.05)
    assert held.starts == ["j1"]

    # When its claim lapses (Redis away longer than the lease) and the poll sees it due again
    await pool.delete(in_progress_key_prefix + "j1")
    await worker.start_jobs([b"j1"])
    await asyncio.sleep(0.05)

    # Then it is not started a second time, and the job finishes once
    assert held.starts == ["j1"]
    held.release.set()
    await asyncio.gather(*worker.tasks.values())
    assert await pool.zcard(worker.queue_name) == 0
    assert held.starts == ["j1"]


async def test_the_first_poll_after_a_long_outage_renews_claims_before_claiming(
    pool: ArqRedis, worker: Worker, held: Held
) -> None:
    # Given a running job whose claim lapsed during a 20 s outage that the loop has not yet seen end
    await pool.enqueue_job("held", _job_id="j1")
    await worker.start_jobs([b"j1"])
    await asyncio.sleep(0.05)
    await pool.delete(in_progress_key_prefix + "j1")
    worker._outage_since = time.monotonic() - 20
    await pool.enqueue_job("held", _job_id="j2")

    # When the loop polls again, Redis answering
    await worker._poll_iteration()

    # Then the claim is ours again, and the worker claims nothing new until the others renewed theirs
    assert worker._outage_since is None
    assert await pool.get(in_progress_key_prefix + "j1") == worker.worker_id.encode()
    assert not await pool.exists(in_progress_key_prefix + "j2")
    assert held.starts == ["j1"]
