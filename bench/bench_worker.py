"""Worker and producer throughput: talentq's wrapper and defaults against bare arq, in one run.

What it measures, each part alternating its two arms over ``--rounds`` rounds (ABBA
order) and reporting the median, because a small shared machine is noisy:

1. Wrapper overhead. ``--jobs`` no-op jobs through a bare arq ``Worker`` (one function,
   ``func(noop, name="noop")``) and through talentq's wrapper
   (``talentq.worker.boot.worker_settings`` with a one-queue bench catalogue) on talentq's own
   loop (``talentq.worker.loop.Worker``: claims leased in one Lua call, envelopes checked,
   outages ridden out), both with the *same* worker settings: max_jobs, poll_delay, JSON
   serializer, Redis settings, keep_result, health-check interval, burst=True,
   handle_signals=False. Jobs are pre-enqueued with ``Producer.enqueue_many``
   (not timed); the timed part is ``await worker.async_run()`` in burst mode, which
   includes the worker's startup (the wrapper's connects to PostgreSQL). Reports jobs/s,
   worker CPU seconds per 1,000 jobs (``time.process_time()``: the worker runs in this
   process, Redis in another) and the wrapper/bare ratios. Targets: throughput >= 0.9,
   CPU <= 1.1.
2. Shipped defaults. Jobs that each ``await asyncio.sleep(0.01)`` through talentq's
   defaults (``Settings()``'s worker_max_jobs and worker_poll_delay, via worker_settings)
   against arq's own defaults (max_jobs=10, poll_delay=0.5; 200 jobs, as it is far slower).
   Target: talentq >= 1,000 jobs/s in one worker process.
3. Producer. ``Producer.enqueue_many`` against a loop of awaited ``ArqRedis.enqueue_job``
   for ``--jobs`` jobs into one queue. Targets: >= 15,000 jobs/s and >= 5x the loop.

Parts 1 and 3 run on the event loop the shipped worker uses (uvloop unless
``WORKER_UVLOOP=false``); part 2 runs each arm on its own: talentq's on that loop, arq's
defaults on asyncio's. Part 1 compares twice: (a) each side logging as it ships (arq's CLI
config: two stdlib lines per job; talentq's: one loguru line, arq's two dropped) and
(b) logging off on both, which leaves the wrapper's code alone. Elsewhere logging is
configured as the shipped worker does it (``talentq.logsetup.configure_logging``, level
INFO, text format). Every line goes to a null sink that only counts lines, so logging
costs what it costs in production minus the I/O.

It needs the real services: a scratch PostgreSQL database (dropped, created and migrated
here; default ``talentq_bench``) and a Redis database that it FLUSHes between runs
(default 14). Run from the repository root::

    .venv/bin/python bench/bench_worker.py [--jobs 3000] [--rounds 7]
        [--redis-url redis://127.0.0.1:6379/14]
        [--database-url postgresql://postgres@127.0.0.1:5432/talentq_bench]

It prints every run, then a table of each figure with its target and PASS/MISS, and
exits 0 whatever the figures (it measures; the tests test).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Final
from urllib.parse import urlparse

import arq
import asyncpg
import uvloop
from arq.connections import ArqRedis, RedisSettings
from arq.worker import Worker, func, get_kwargs

from talentq.client import Producer, create_redis
from talentq.db.migrate import upgrade
from talentq.jobs import JobContext
from talentq.logsetup import configure_logging
from talentq.queues import Payload, QueueSpec
from talentq.registry import Binding
from talentq.serialization import deserialize, serialize
from talentq.settings import Settings
from talentq.worker.boot import worker_settings
from talentq.worker.loop import Worker as TalentqWorker

DEFAULT_REDIS_URL: Final = "redis://127.0.0.1:6379/14"
DEFAULT_DATABASE_URL: Final = "postgresql://postgres@127.0.0.1:5432/talentq_bench"
#: Jobs for arq's own defaults (10 at a time, a poll every 0.5 s): tens of jobs/s, not thousands.
ARQ_DEFAULTS_JOBS: Final = 200
SLEEP_S: Final = 0.01
#: The Worker parameters that are the application, not the settings: left out of the bare arm.
_APP_KWARGS: Final = frozenset({"functions", "cron_jobs", "on_startup", "on_shutdown"})


# --- the bench queues ------------------------------------------------------------------------


class Tick(Payload):
    n: int


NOOP: Final = "noop"
SLEEP: Final = "sleep"
NOOP_CATALOGUE: Final = {NOOP: QueueSpec(NOOP, Tick, "bench: returns its number")}
SLEEP_CATALOGUE: Final = {SLEEP: QueueSpec(SLEEP, Tick, f"bench: sleeps {SLEEP_S}s")}
ALL_QUEUES: Final = {**NOOP_CATALOGUE, **SLEEP_CATALOGUE}


async def noop_processor(ctx: JobContext, payload: Tick) -> int:
    return payload.n


async def sleep_processor(ctx: JobContext, payload: Tick) -> int:
    await asyncio.sleep(SLEEP_S)
    return payload.n


async def bare_noop(ctx: dict[str, Any], data: dict[str, Any]) -> int:
    return int(data["n"])


async def bare_sleep(ctx: dict[str, Any], data: dict[str, Any]) -> int:
    await asyncio.sleep(SLEEP_S)
    return int(data["n"])


NOOP_BINDINGS: Final[list[Binding]] = [(NOOP, noop_processor)]
SLEEP_BINDINGS: Final[list[Binding]] = [(SLEEP, sleep_processor)]


# --- logging -----------------------------------------------------------------------------------


class CountingNullSink:
    """A loguru sink that discards every line and counts them."""

    def __init__(self) -> None:
        self.lines = 0

    def write(self, message: str) -> None:
        self.lines += 1


# --- measurement -------------------------------------------------------------------------------


@dataclass
class Run:
    jobs: int
    wall_s: float
    cpu_s: float
    log_lines: int
    ok: bool = True
    note: str = ""

    @property
    def rate(self) -> float:
        return self.jobs / self.wall_s

    @property
    def cpu_per_1k(self) -> float:
        return self.cpu_s / self.jobs * 1000


@dataclass
class Arm:
    label: str
    runs: list[Run] = field(default_factory=list)

    def median(self, attr: str) -> float:
        return statistics.median(float(getattr(run, attr)) for run in self.runs)


@dataclass
class Row:
    figure: str
    value: str
    target: str
    verdict: str


class Bench:
    def __init__(self, settings: Settings, jobs: int, rounds: int) -> None:
        self.settings = settings
        self.jobs = jobs
        self.rounds = rounds
        self.sink = CountingNullSink()
        self.rows: list[Row] = []

    def configure_logs(self) -> None:
        """talentq's logging as shipped (loguru, one INFO line per job), into the null sink."""
        configure_logging(self.settings, sink=self.sink)

    def configure_logs_off(self) -> None:
        """talentq's logging at WARNING: what is left is the code's own cost."""
        configure_logging(self.settings.model_copy(update={"log_level": "WARNING"}), sink=self.sink)

    def configure_arq_default_logs(self) -> None:
        """arq's logging as its CLI sets it up (stdlib, INFO, two lines per job), into the null sink."""
        configure_logging(self.settings.model_copy(update={"log_level": "WARNING"}), sink=self.sink)
        handler = logging.StreamHandler(self.sink)
        handler.setFormatter(logging.Formatter("%(asctime)s: %(message)s", "%H:%M:%S"))
        arq_logger = logging.getLogger("arq")
        arq_logger.handlers = [handler]
        arq_logger.setLevel(logging.INFO)
        logging.getLogger("arq.worker").filters.clear()

    async def reset_redis(self, redis: ArqRedis) -> None:
        await redis.flushdb()

    async def pre_enqueue(self, producer: Producer, queue: str, count: int) -> None:
        ids = await producer.enqueue_many(queue, [{"n": i} for i in range(count)])
        if None in ids:
            raise RuntimeError(f"pre-enqueue into {queue!r} skipped {ids.count(None)} job(s)")

    async def timed_burst(
        self, make: Callable[[], Worker], count: int, logs: Callable[[], None] | None = None
    ) -> Run:
        """Run one burst worker over ``count`` queued jobs; time ``async_run`` only."""
        worker = make()
        (logs or self.configure_logs)()
        gc.collect()
        lines0 = self.sink.lines
        cpu0, wall0 = time.process_time(), time.perf_counter()
        try:
            await worker.async_run()
        finally:
            wall = time.perf_counter() - wall0
            cpu = time.process_time() - cpu0
            lines = self.sink.lines - lines0
            await worker.close()
        run = Run(count, wall, cpu, lines)
        if (worker.jobs_complete, worker.jobs_failed, worker.jobs_retried) != (count, 0, 0):
            run.ok = False
            run.note = (
                f"  !! complete={worker.jobs_complete} failed={worker.jobs_failed} "
                f"retried={worker.jobs_retried} (expected {count} complete)"
            )
        return run

    # --- worker builders ---------------------------------------------------------------------

    def talentq_kwargs(
        self, bindings: Sequence[Binding], catalogue: dict[str, QueueSpec[Any]], settings: Settings
    ) -> dict[str, Any]:
        cls = worker_settings(bindings, (), catalogue=catalogue, settings=settings, configure_logs=False)
        kwargs: dict[str, Any] = dict(get_kwargs(cls))
        return {**kwargs, "burst": True, "handle_signals": False}

    # --- part 1 -------------------------------------------------------------------------------

    async def part_noop(self, redis: ArqRedis, producer: Producer) -> None:
        n = self.jobs
        wrapped_kwargs = self.talentq_kwargs(NOOP_BINDINGS, NOOP_CATALOGUE, self.settings)
        shared = {k: v for k, v in wrapped_kwargs.items() if k not in _APP_KWARGS}
        bare_kwargs = {**shared, "functions": [func(bare_noop, name=NOOP)]}
        print(f"\n[1] {n} no-op jobs, wrapper vs bare arq, same worker settings:")
        print("    " + ", ".join(f"{k}={_show(v)}" for k, v in sorted(shared.items())))

        # Fixed cost of each arm (pool, startup, one poll) on an empty queue: part of the timed runs.
        for label, kwargs, cls in (
            ("bare arq", bare_kwargs, Worker),
            ("talentq wrapper", wrapped_kwargs, TalentqWorker),
        ):
            await self.reset_redis(redis)
            empty = await self.timed_burst(partial(cls, **kwargs), 0)
            print(f"    {label:<16} empty burst run (startup + one poll): {empty.wall_s * 1000:6.1f} ms")

        # (a) each side logging as it ships: arq's CLI config logs two stdlib lines per job,
        #     talentq one loguru line (it drops arq's two); (b) logging off on both sides, which
        #     leaves the wrapper's own code (validation, context, timeout, classification).
        modes = [
            ("a", "logging as shipped", self.configure_arq_default_logs, self.configure_logs),
            ("b", "logging off (WARNING)", self.configure_logs_off, self.configure_logs_off),
        ]
        for key, title, bare_logs, wrapped_logs in modes:
            print(f"  ({key}) {title}:")
            bare, wrapped = Arm("bare arq"), Arm("talentq wrapper")
            arms = [
                (bare, bare_kwargs, bare_logs, Worker),
                (wrapped, wrapped_kwargs, wrapped_logs, TalentqWorker),
            ]
            for r in range(self.rounds):
                for arm, kwargs, logs, cls in arms if r % 2 == 0 else arms[::-1]:
                    await self.reset_redis(redis)
                    await self.pre_enqueue(producer, NOOP, n)
                    run = await self.timed_burst(partial(cls, **kwargs), n, logs)
                    arm.runs.append(run)
                    print(
                        f"    round {r + 1} {arm.label:<16} {run.wall_s:6.2f} s {run.rate:8.0f} jobs/s  "
                        f"cpu {run.cpu_s:5.2f} s = {run.cpu_per_1k:.3f} s/1k jobs  "
                        f"({run.cpu_s / run.wall_s:.0%} of wall)  "
                        f"log lines/job {run.log_lines / n:.2f}{run.note}"
                    )
            await self.reset_redis(redis)
            self._noop_rows(key, bare, wrapped)

    def _noop_rows(self, key: str, bare: Arm, wrapped: Arm) -> None:
        rate_ratios = [w.rate / b.rate for b, w in zip(bare.runs, wrapped.runs, strict=True)]
        cpu_ratios = [w.cpu_per_1k / b.cpu_per_1k for b, w in zip(bare.runs, wrapped.runs, strict=True)]
        rate_ratio, cpu_ratio = statistics.median(rate_ratios), statistics.median(cpu_ratios)
        print(
            f"    median: bare {bare.median('rate'):.0f} jobs/s, {bare.median('cpu_per_1k'):.3f} cpu s/1k; "
            f"wrapper {wrapped.median('rate'):.0f} jobs/s, {wrapped.median('cpu_per_1k'):.3f} cpu s/1k"
        )
        print(
            f"    wrapper/bare per round: throughput {_list(rate_ratios)} -> median {rate_ratio:.3f}; "
            f"cpu per job {_list(cpu_ratios)} -> median {cpu_ratio:.3f}"
        )
        ok = all(run.ok for arm in (bare, wrapped) for run in arm.runs)
        tag = f"1{key}"
        self.rows += [
            Row(f"{tag} bare arq, no-op (jobs/s)", f"{bare.median('rate'):.0f}", "-", "info"),
            Row(f"{tag} talentq wrapper, no-op (jobs/s)", f"{wrapped.median('rate'):.0f}", "-", "info"),
            Row(f"{tag} bare arq cpu s / 1k jobs", f"{bare.median('cpu_per_1k'):.3f}", "-", "info"),
            Row(f"{tag} wrapper cpu s / 1k jobs", f"{wrapped.median('cpu_per_1k'):.3f}", "-", "info"),
            Row(
                f"{tag} throughput wrapper/bare",
                f"{rate_ratio:.3f}",
                ">= 0.90",
                _verdict(ok and rate_ratio >= 0.9),
            ),
            Row(
                f"{tag} cpu per job wrapper/bare",
                f"{cpu_ratio:.3f}",
                "<= 1.10",
                _verdict(ok and cpu_ratio <= 1.1),
            ),
        ]

    # --- part 2 -------------------------------------------------------------------------------

    def part_defaults(self) -> None:
        """Each arm on its own event loop: talentq's shipped one (uvloop unless WORKER_UVLOOP=false)
        and arq's (asyncio's), each run in a fresh loop with its own Redis pool."""
        n_tq, n_arq = self.jobs, min(ARQ_DEFAULTS_JOBS, self.jobs)
        tq_kwargs = self.talentq_kwargs(SLEEP_BINDINGS, SLEEP_CATALOGUE, self.settings)
        arq_kwargs: dict[str, Any] = {
            "functions": [func(bare_sleep, name=SLEEP)],
            "redis_settings": RedisSettings.from_dsn(self.settings.require_redis_url()),
            "job_serializer": serialize,
            "job_deserializer": deserialize,
            "burst": True,
            "handle_signals": False,
        }
        tq_loop = "uvloop" if self.settings.worker_uvloop else "asyncio"
        print(
            f"\n[2] jobs sleeping {SLEEP_S * 1000:.0f} ms: talentq defaults "
            f"(max_jobs={tq_kwargs['max_jobs']}, poll_delay={tq_kwargs['poll_delay']}s, {tq_loop}; "
            f"{n_tq} jobs) "
            f"vs arq defaults (max_jobs=10, poll_delay=0.5s, asyncio; {n_arq} jobs):"
        )
        tq, bare = Arm("talentq defaults"), Arm("arq defaults")
        arms: list[tuple[Arm, dict[str, Any], int, Callable[[Any], Run], type[Worker]]] = [
            (tq, tq_kwargs, n_tq, loop_runner(self.settings), TalentqWorker),
            (bare, arq_kwargs, n_arq, asyncio.run, Worker),
        ]
        for r in range(self.rounds):
            order = arms if r % 2 == 0 else arms[::-1]
            for arm, kwargs, count, run_in_loop, cls in order:
                run = run_in_loop(self._isolated_burst(kwargs, SLEEP, count, cls))
                arm.runs.append(run)
                print(
                    f"    round {r + 1} {arm.label:<16} {count:5d} jobs {run.wall_s:6.2f} s "
                    f"{run.rate:8.0f} jobs/s  cpu {run.cpu_s / run.wall_s:.0%} of wall{run.note}"
                )
        ratio = tq.median("rate") / bare.median("rate")
        print(f"    median: talentq {tq.median('rate'):.0f} jobs/s, arq {bare.median('rate'):.1f} jobs/s")
        ok = all(run.ok for arm in (tq, bare) for run in arm.runs)
        self.rows += [
            Row("2  arq defaults, 10 ms jobs (jobs/s)", f"{bare.median('rate'):.1f}", "-", "info"),
            Row(
                "2  talentq defaults, 10 ms jobs (jobs/s)",
                f"{tq.median('rate'):.0f}",
                ">= 1000",
                _verdict(ok and tq.median("rate") >= 1000),
            ),
            Row("2  talentq/arq defaults", f"{ratio:.1f}x", "-", "info"),
        ]

    # --- part 3 -------------------------------------------------------------------------------

    async def part_enqueue(self, redis: ArqRedis, producer: Producer) -> None:
        n = self.jobs
        payloads = [{"n": i} for i in range(n)]

        async def many() -> int:
            return sum(job_id is not None for job_id in await producer.enqueue_many(NOOP, payloads))

        async def loop() -> int:
            added = 0
            for payload in payloads:
                added += await redis.enqueue_job(NOOP, payload) is not None
            return added

        print(
            f"\n[3] enqueue {n} jobs into one queue: Producer.enqueue_many vs a loop of ArqRedis.enqueue_job:"
        )
        fast, slow = Arm("enqueue_many"), Arm("enqueue_job loop")
        arms: list[tuple[Arm, Callable[[], Awaitable[int]]]] = [(slow, loop), (fast, many)]
        for r in range(self.rounds):
            order = arms if r % 2 == 0 else arms[::-1]
            for arm, enqueue in order:
                await self.reset_redis(redis)
                gc.collect()
                cpu0, wall0 = time.process_time(), time.perf_counter()
                added = await enqueue()
                run = Run(n, time.perf_counter() - wall0, time.process_time() - cpu0, 0)
                queued = await redis.zcard(NOOP_CATALOGUE[NOOP].arq_queue)
                if added != n or queued != n:
                    run.ok, run.note = False, f"  !! added={added} queued={queued}, expected {n}"
                arm.runs.append(run)
                print(
                    f"    round {r + 1} {arm.label:<16} {run.wall_s:6.3f} s {run.rate:8.0f} jobs/s  "
                    f"cpu {run.cpu_s / run.wall_s:.0%} of wall{run.note}"
                )
        await self.reset_redis(redis)
        ratios = [f.rate / s.rate for s, f in zip(slow.runs, fast.runs, strict=True)]
        ratio = statistics.median(ratios)
        print(
            f"    median: enqueue_many {fast.median('rate'):.0f} jobs/s, "
            f"loop {slow.median('rate'):.0f} jobs/s; ratio per round {_list(ratios)} -> median {ratio:.1f}x"
        )
        ok = all(run.ok for arm in (fast, slow) for run in arm.runs)
        self.rows += [
            Row("3  enqueue_job loop (jobs/s)", f"{slow.median('rate'):.0f}", "-", "info"),
            Row(
                "3  enqueue_many (jobs/s)",
                f"{fast.median('rate'):.0f}",
                ">= 15000",
                _verdict(ok and fast.median("rate") >= 15000),
            ),
            Row("3  enqueue_many / loop", f"{ratio:.1f}x", ">= 5x", _verdict(ok and ratio >= 5)),
        ]

    async def _isolated_burst(self, kwargs: dict[str, Any], queue: str, count: int, cls: type[Worker]) -> Run:
        """One timed burst with a Redis pool of its own, for a run in an event loop of its own."""
        redis = await create_redis(self.settings)
        try:
            await self.reset_redis(redis)
            await self.pre_enqueue(Producer(redis, catalogue=ALL_QUEUES), queue, count)
            return await self.timed_burst(partial(cls, **kwargs), count)
        finally:
            await redis.flushdb()
            await redis.aclose(close_connection_pool=True)

    async def with_redis(self, part: Callable[[ArqRedis, Producer], Awaitable[None]]) -> None:
        redis = await create_redis(self.settings)
        try:
            await part(redis, Producer(redis, catalogue=ALL_QUEUES))
        finally:
            await redis.flushdb()
            await redis.aclose(close_connection_pool=True)

    def run(self) -> None:
        """Parts 1 and 3 compare arms on one loop, the shipped one; part 2 gives each arm its own."""
        self.configure_logs()
        arq_level = logging.getLevelName(logging.getLogger("arq").getEffectiveLevel())
        print(f"arq's stdlib logger level after configure_logging: {arq_level} (forwarded into loguru)")
        run_in_loop = loop_runner(self.settings)
        run_in_loop(self.with_redis(self.part_noop))
        self.part_defaults()
        run_in_loop(self.with_redis(self.part_enqueue))

    def table(self) -> str:
        rows = [("figure", "value", "target", "result")]
        rows += [(row.figure, row.value, row.target, row.verdict) for row in self.rows]
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        lines = [
            "  ".join(
                cell.ljust(w) if i == 0 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
            for row in rows
        ]
        lines.insert(1, "-" * len(lines[0]))
        return "\n".join(lines)


def _verdict(passed: bool) -> str:
    return "PASS" if passed else "MISS"


def _list(values: Sequence[float]) -> str:
    return "[" + ", ".join(f"{v:.3f}" for v in values) + "]"


def _show(value: Any) -> str:
    if callable(value):
        return f"{getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', repr(value))}"
    if isinstance(value, RedisSettings):
        return f"RedisSettings({value.host}:{value.port}/{value.database})"
    return str(value)


# --- setup -------------------------------------------------------------------------------------


async def recreate_database(database_url: str) -> None:
    parsed = urlparse(database_url)
    name = parsed.path.lstrip("/")
    if not name or '"' in name:
        raise SystemExit(f"--database-url must name a database, got {database_url!r}")
    admin = parsed._replace(path="/postgres", scheme="postgresql").geturl()
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def loop_runner(settings: Settings) -> Callable[[Any], Any]:
    """``asyncio.run`` on the event loop the shipped worker uses (``WORKER_UVLOOP``)."""
    return uvloop.run if settings.worker_uvloop else asyncio.run


def bench_settings(redis_url: str, database_url: str) -> Settings:
    """Settings with talentq's shipped worker defaults, whatever the environment says."""
    fields = Settings.model_fields
    return Settings(
        _env_file=None,
        redis_url=redis_url,
        database_url=database_url,
        worker_max_jobs=fields["worker_max_jobs"].default,
        worker_poll_delay=fields["worker_poll_delay"].default,
        worker_health_check_interval=fields["worker_health_check_interval"].default,
        worker_uvloop=fields["worker_uvloop"].default,
        queue_timeouts={},
        log_level="INFO",
        log_json=False,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--jobs", type=int, default=3000, help="jobs per run (default 3000)")
    parser.add_argument("--rounds", type=int, default=7, help="rounds of each pair of arms (default 7)")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="a Redis database it may FLUSH")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL, help="a database it may DROP")
    args = parser.parse_args(argv)
    if args.jobs < 1 or args.rounds < 1:
        parser.error("--jobs and --rounds must be >= 1")

    settings = bench_settings(args.redis_url, args.database_url)
    print(
        f"talentq worker benchmark: jobs={args.jobs} rounds={args.rounds} redis={args.redis_url} "
        f"database={args.database_url}"
    )
    print(
        f"python {platform.python_version()}, arq {arq.VERSION}, {os.cpu_count()} CPU(s); logging: "
        f"configure_logging(level={settings.log_level}, json={settings.log_json}) into a counting null sink"
    )
    started = time.perf_counter()
    asyncio.run(recreate_database(args.database_url))
    upgrade(args.database_url)
    (bench := Bench(settings, args.jobs, args.rounds)).run()
    print(f"\nsummary (median of {args.rounds} round(s); ratios are medians of per-round pairs)")
    print(bench.table())
    print(f"\ntotal time {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
