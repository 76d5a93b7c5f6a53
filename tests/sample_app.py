"""Test queues whose processors do what their payload asks and record what they did.

``probe`` records each call in Redis; ``work`` records each start and each finish in
PostgreSQL (``fault_events``), which a Redis outage does not touch, so the fault tests can
count runs across one; the ``tick`` cron records each run of a tick there too. Used by the
wrapper's tests, by the worker subprocesses of the resilience and fault tests, and by nothing
shipped: the real registry holds only real processors.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from typing import Any, Literal

from loguru import logger
from sqlalchemy import text

from talentq.cron import CronEntry
from talentq.errors import PermanentJobError
from talentq.jobs import JobContext, tick_time
from talentq.queues import Payload, QueueSpec, RetryPolicy, Text
from talentq.registry import Binding
from talentq.settings import Settings
from talentq.worker.boot import install_event_loop, worker_settings
from talentq.worker.loop import install


class Probe(Payload):
    key: Text
    mode: Literal["ok", "permanent"] = "ok"
    fail_times: int = 0
    sleep: float = 0.0


PROBE_POLICY = RetryPolicy(max_tries=3, backoff_base=0.1, backoff_cap=1.0)
CATALOGUE: dict[str, QueueSpec[Any]] = {
    "probe": QueueSpec("probe", Probe, "test probe", PROBE_POLICY, timeout=0.5)
}


async def probe(ctx: JobContext, payload: Probe) -> dict[str, object]:
    """Count the call; sleep, fail the first ``fail_times`` calls, or fail permanently, as asked."""
    redis = ctx["redis"]
    calls = await redis.incr(f"probe:{payload.key}:calls")
    await redis.rpush(f"probe:{payload.key}:starts", repr(time.time()))  # type: ignore[misc]  # redis-py union
    logger.info("probe {} call {}", payload.key, calls)
    if payload.sleep:
        await asyncio.sleep(payload.sleep)
    if payload.mode == "permanent":
        raise PermanentJobError(f"probe {payload.key} can never succeed")
    if calls <= payload.fail_times:
        raise ConnectionError(f"probe {payload.key} lost its connection (call {calls})")
    await redis.rpush(f"probe:{payload.key}:done", str(calls))  # type: ignore[misc]
    return {"key": payload.key, "calls": calls}


BINDINGS = [("probe", probe)]

#: What ``work`` and ``tick`` record: one row per start and per finish of a job, per run of a tick.
FAULT_EVENTS_DDL = (
    "CREATE TABLE IF NOT EXISTS fault_events (id bigserial PRIMARY KEY, key text NOT NULL, "
    "event text NOT NULL, pid int NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())"
)


class Work(Payload):
    key: Text
    sleep: float = 0.0
    fail: bool = False


async def _event(ctx: JobContext, key: str, event: str) -> None:
    async with ctx["sessions"].begin() as session:
        await session.execute(
            text("INSERT INTO fault_events (key, event, pid) VALUES (:key, :event, :pid)"),
            {"key": key, "event": event, "pid": os.getpid()},
        )


async def work(ctx: JobContext, payload: Work) -> dict[str, object]:
    """Fail for good at once if asked (touching nothing); else record the start, sleep, record the end."""
    if payload.fail:
        raise PermanentJobError(f"work {payload.key} was asked to fail")
    await _event(ctx, payload.key, "start")
    await asyncio.sleep(payload.sleep)
    await _event(ctx, payload.key, "done")
    return {"key": payload.key}


async def tick(ctx: JobContext) -> int:
    """Record this run of the tick."""
    await _event(ctx, f"tick:{tick_time(ctx, 'tick').isoformat()}", "run")
    return 1


FAULT_CATALOGUE: dict[str, QueueSpec[Any]] = {
    **CATALOGUE,
    "work": QueueSpec("work", Work, "test work", RetryPolicy(max_tries=3, backoff_base=0.1), timeout=30),
}
FAULT_BINDINGS: list[Binding] = [("probe", probe), ("work", work)]
TICK = CronEntry("tick", "* * * * *", tick)


def _settings_from_env() -> Settings:
    return Settings(
        _env_file=None,
        redis_url=os.environ["REDIS_URL"],
        database_url=os.environ["DATABASE_URL"],
        worker_shutdown_wait=int(os.environ.get("WORKER_SHUTDOWN_WAIT", "10")),
        log_level=os.environ.get("LOG_LEVEL", "DEBUG"),
        dead_letter_db_timeout=float(os.environ.get("DEAD_LETTER_DB_TIMEOUT", "1")),
    )


def __getattr__(name: str) -> type:
    # Built on access, as talentq's own WorkerSettings, so importing this module needs no env;
    # and, like it, on the event loop the shipped worker runs on.
    if name in {"WorkerSettings", "PlainWorkerSettings", "FaultWorkerSettings", "TickWorkerSettings"}:
        install_event_loop(_settings_from_env())
    if name == "WorkerSettings":
        install()  # as talentq.WorkerSettings does: arq runs talentq's loop
        return worker_settings(BINDINGS, (), catalogue=CATALOGUE, settings=_settings_from_env())
    if name in {"FaultWorkerSettings", "TickWorkerSettings"}:
        # probe and work; TickWorkerSettings adds the tick cron, every second (arq's CronJob takes
        # seconds, the schedule's five fields do not)
        install()
        crons = [TICK] if name == "TickWorkerSettings" else []
        cls = worker_settings(FAULT_BINDINGS, crons, catalogue=FAULT_CATALOGUE, settings=_settings_from_env())
        cls.cron_jobs = [dataclasses.replace(job, second=None) for job in cls.cron_jobs]  # type: ignore[attr-defined]
        return cls
    if name == "PlainWorkerSettings":
        # The same settings on arq's own loop and without Redis retries: what arq does by default
        # on a connection error.
        cls = worker_settings(BINDINGS, (), catalogue=CATALOGUE, settings=_settings_from_env())
        cls.redis_settings.retry = None  # type: ignore[attr-defined]
        cls.redis_settings.retry_on_error = None  # type: ignore[attr-defined]
        cls.redis_settings.retry_on_timeout = False  # type: ignore[attr-defined]
        return cls
    raise AttributeError(name)
