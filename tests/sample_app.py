"""A test queue, ``probe``, whose processor does what its payload asks, recording each call in Redis.

Used by the wrapper's tests, by the worker subprocesses of the resilience tests and by
nothing shipped: the real registry holds only real processors.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Literal

from loguru import logger

from talentq.errors import PermanentJobError
from talentq.jobs import JobContext
from talentq.queues import Payload, QueueSpec, RetryPolicy, Text
from talentq.registry import install_event_loop, worker_settings
from talentq.settings import Settings


class Probe(Payload):
    key: Text
    mode: Literal["ok", "permanent"] = "ok"
    fail_times: int = 0
    sleep: float = 0.0


PROBE_POLICY = RetryPolicy(max_tries=3, backoff_base=0.1, backoff_cap=1.0)
CATALOGUE = {"probe": QueueSpec("probe", Probe, "test probe", PROBE_POLICY, timeout=0.5)}


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


def _settings_from_env() -> Settings:
    return Settings(
        _env_file=None,
        redis_url=os.environ["REDIS_URL"],
        database_url=os.environ["DATABASE_URL"],
        worker_shutdown_wait=int(os.environ.get("WORKER_SHUTDOWN_WAIT", "10")),
        log_level="DEBUG",
    )


def __getattr__(name: str) -> type:
    # Built on access, as talentq's own WorkerSettings, so importing this module needs no env;
    # and, like it, on the event loop the shipped worker runs on.
    if name in {"WorkerSettings", "PlainWorkerSettings"}:
        install_event_loop(_settings_from_env())
    if name == "WorkerSettings":
        return worker_settings(BINDINGS, (), catalogue=CATALOGUE, settings=_settings_from_env())
    if name == "PlainWorkerSettings":
        # The same worker without Redis retries: what arq does by default on a connection error.
        cls = worker_settings(BINDINGS, (), catalogue=CATALOGUE, settings=_settings_from_env())
        cls.redis_settings.retry = None  # type: ignore[attr-defined]
        cls.redis_settings.retry_on_error = None  # type: ignore[attr-defined]
        cls.redis_settings.retry_on_timeout = False  # type: ignore[attr-defined]
        return cls
    raise AttributeError(name)
