"""Real worker processes against real services: a Redis restart, a SIGTERM in the middle of a job.

Each test runs ``python -m arq tests.sample_app.<settings>`` as a subprocess, exactly as
production starts a worker, enqueues ``probe`` jobs with talentq's producer and polls
Redis for what the probe recorded (``tests/workers.py`` starts and watches the processes).
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Sequence

import pytest
from arq.connections import ArqRedis
from arq.constants import default_queue_name
from arq.jobs import Job

from talentq.client import Producer
from talentq.serialization import deserialize

from ..conftest import REDIS_URL
from ..sample_app import CATALOGUE
from ..workers import (
    PROCESSING_S,
    Processes,
    arq_client,
    eventually,
    exit_status,
    free_port,
    logged,
    require_redis_server,
    start_private_redis,
    start_worker,
    stop,
)

pytestmark = pytest.mark.integration

WORKER = "tests.sample_app.WorkerSettings"
PLAIN_WORKER = "tests.sample_app.PlainWorkerSettings"
#: How long Redis stays down. talentq's retry budget per command (REDIS_RETRIES=12,
#: REDIS_RETRY_CAP=2.0, base 0.05: waits 0.1, 0.2, 0.4, 0.8, 1.6, then 2.0 seven times) is ~17 s.
LONG_OUTAGE_S = 5.0
#: The plain worker dies within ~0.5 s of Redis going away; it must do so within this.
SHORT_OUTAGE_S = 2.0


async def probe_calls(pool: ArqRedis, key: str) -> int:
    return int(await pool.get(f"probe:{key}:calls") or 0)


async def probe_starts(pool: ArqRedis, key: str) -> int:
    count: int = await pool.llen(f"probe:{key}:starts")  # type: ignore[misc]  # redis-py union
    return count


async def probe_done(pool: ArqRedis, key: str) -> list[bytes]:
    done: list[bytes] = await pool.lrange(f"probe:{key}:done", 0, -1)  # type: ignore[misc]
    return done


async def enqueue_and_wait(pool: ArqRedis, keys: Sequence[str], processes: Processes) -> float:
    """Enqueue one probe job per key; wait until each has completed; the seconds that took."""
    producer = Producer(pool, catalogue=CATALOGUE)
    for key in keys:
        await producer.enqueue("probe", {"key": key})

    async def all_done() -> bool:
        return all([await probe_done(pool, key) for key in keys])

    return await eventually(
        all_done, within=PROCESSING_S, what=f"probe jobs {list(keys)} done", processes=processes
    )


async def test_worker_survives_a_redis_restart(database_url: str, processes: Processes) -> None:
    """A worker keeps running through a 5 s Redis outage and, once Redis is back, takes new jobs."""
    # Given a private Redis (no persistence) and a talentq worker running against it
    require_redis_server()
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    server = await start_private_redis(processes, port)
    worker = start_worker(processes, WORKER, url, database_url)
    async with arq_client(url) as pool:
        await enqueue_and_wait(pool, ["before-1", "before-2", "before-3"], processes)

    # When Redis stops, stays down for several seconds, and starts again empty
    await stop(server, processes)
    await asyncio.sleep(LONG_OUTAGE_S)
    assert worker.poll() is None, f"worker died during the outage\n{processes.tails()}"
    await start_private_redis(processes, port)

    # Then the same worker process takes and completes new jobs, each exactly once
    async with arq_client(url) as pool:
        await enqueue_and_wait(pool, ["after-1", "after-2", "after-3"], processes)
        assert [await probe_calls(pool, key) for key in ("after-1", "after-2", "after-3")] == [1, 1, 1]
    assert worker.poll() is None, processes.tails()
    assert processes.output("worker").count("worker ready") == 1, "the worker restarted"


async def test_plain_arq_worker_dies_on_a_short_redis_outage(database_url: str, processes: Processes) -> None:
    """Without redis retries (arq's default), a worker exits on a Redis outage of a second or two."""
    # Given a private Redis and the same worker minus talentq's redis retry settings, processing jobs
    require_redis_server()
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    server = await start_private_redis(processes, port)
    worker = start_worker(processes, PLAIN_WORKER, url, database_url)
    async with arq_client(url) as pool:
        await enqueue_and_wait(pool, ["before"], processes)

    # When Redis stops, for at most a couple of seconds
    await stop(server, processes)

    # Then the worker exits with an error while Redis is still down
    status = await exit_status(worker, processes, within=SHORT_OUTAGE_S)
    assert status != 0
    assert "redis.exceptions.ConnectionError" in processes.output("worker")
    # And Redis coming back does not bring it back
    await start_private_redis(processes, port)
    assert worker.poll() is not None


async def test_sigterm_lets_running_jobs_finish(
    database_url: str, processes: Processes, clean_test_redis: None
) -> None:
    """On SIGTERM a worker takes no new job, lets the running one finish once, then exits with status 0."""
    # Given a worker with WORKER_SHUTDOWN_WAIT=10 running a job that takes 2 s (probe timeout raised to 5 s)
    worker = start_worker(
        processes, WORKER, REDIS_URL, database_url, WORKER_SHUTDOWN_WAIT="10", QUEUE_TIMEOUTS="probe=5"
    )
    async with arq_client(REDIS_URL) as pool:
        producer = Producer(pool, catalogue=CATALOGUE)
        job_id = await producer.enqueue("probe", {"key": "long", "sleep": 2.0})
        assert job_id is not None

        async def started() -> bool:
            return await probe_starts(pool, "long") > 0

        await eventually(started, within=PROCESSING_S, what="the long job starts", processes=processes)

        # When the worker gets SIGTERM while the job runs, and another job is enqueued after it
        worker.send_signal(signal.SIGTERM)
        await logged(processes, "worker", "Setting allow_pick_jobs to `False`")
        late_id = await producer.enqueue("probe", {"key": "late"})
        assert late_id is not None
        status = await exit_status(worker, processes, within=PROCESSING_S)

        # Then the running job completed successfully, exactly once, and the worker exited cleanly
        assert status == 0, processes.tails()
        assert await probe_done(pool, "long") == [b"1"]
        assert await probe_calls(pool, "long") == 1
        info = await Job(job_id, pool, _deserializer=deserialize).result_info()
        assert info is not None
        assert info.success, info.result
        # And the job enqueued after the signal was left in the queue for the next worker
        assert await probe_calls(pool, "late") == 0
        assert await pool.zscore(default_queue_name, late_id) is not None


async def test_sigterm_cancels_a_job_that_outlasts_the_shutdown_wait(
    database_url: str, processes: Processes, clean_test_redis: None
) -> None:
    """A job still running when WORKER_SHUTDOWN_WAIT runs out is cancelled and left queued to run again."""
    # Given a worker with WORKER_SHUTDOWN_WAIT=1 running a job that takes 8 s
    worker = start_worker(
        processes, WORKER, REDIS_URL, database_url, WORKER_SHUTDOWN_WAIT="1", QUEUE_TIMEOUTS="probe=20"
    )
    async with arq_client(REDIS_URL) as pool:
        producer = Producer(pool, catalogue=CATALOGUE)
        job_id = await producer.enqueue("probe", {"key": "too-long", "sleep": 8.0})
        assert job_id is not None

        async def started() -> bool:
            return await probe_starts(pool, "too-long") > 0

        await eventually(started, within=PROCESSING_S, what="the long job starts", processes=processes)

        # When the worker gets SIGTERM while the job runs
        begun = time.monotonic()
        status = await stop(worker, processes)
        waited = time.monotonic() - begun

        # Then the worker exits cleanly after about the shutdown wait, the job cancelled, not finished
        assert status == 0, processes.tails()
        assert 0.9 <= waited < 6, waited
        assert await probe_calls(pool, "too-long") == 1
        assert await probe_done(pool, "too-long") == []
        assert "cancelled, will be run again" in processes.output("worker")
        # And it is still queued, for the next worker to run again
        assert await pool.zscore(default_queue_name, job_id) is not None
        assert await Job(job_id, pool, _deserializer=deserialize).result_info() is None
