"""Instructions per job, talentq's wrapper against bare arq, counted by valgrind's callgrind.

``bench_worker.py`` compares CPU seconds, which this shared two-core machine shakes by
±20% from run to run; that is too coarse for a 10% target. Instruction counts do not
move: the same code on the same input counts the same. Each arm runs ``--jobs`` no-op
jobs in a burst worker under callgrind, with counting switched on only around the burst
(``callgrind_control -i on/off``), so imports and start-up are excluded. The Redis
server runs outside valgrind and is not counted. Jobs are pre-enqueued by this (parent)
process, outside valgrind.

Two comparisons, as in ``bench_worker.py`` part 1: (a) each side logging as it ships
(arq's CLI config: two stdlib lines per job; talentq: one loguru line) and (b) logging
off on both. Targets: wrapper/bare <= 1.1 instructions per job.

Run from the repository root (about 5 minutes; each arm starts Python under valgrind)::

    .venv/bin/python bench/bench_instructions.py [--jobs 300]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

import uvloop
from arq.worker import Worker, func

from bench_worker import (
    _APP_KWARGS,
    ALL_QUEUES,
    DEFAULT_DATABASE_URL,
    DEFAULT_REDIS_URL,
    NOOP,
    NOOP_BINDINGS,
    NOOP_CATALOGUE,
    Bench,
    bare_noop,
    bench_settings,
    recreate_database,
)
from talentq.client import Producer, create_redis
from talentq.db.migrate import upgrade
from talentq.worker.loop import Worker as TalentqWorker

ARMS = ("bare", "wrapper")
MODES = {"a": "logging as shipped", "b": "logging off (WARNING)"}


def _callgrind(switch: str) -> None:
    subprocess.run(["callgrind_control", "-i", switch, str(os.getpid())], check=True, capture_output=True)


async def child(arm: str, mode: str) -> None:
    """Inside valgrind: build the arm's worker, count instructions over its burst only."""
    bench = Bench(bench_settings(DEFAULT_REDIS_URL, DEFAULT_DATABASE_URL), 1, 1)
    kwargs = bench.talentq_kwargs(NOOP_BINDINGS, NOOP_CATALOGUE, bench.settings)
    if arm == "bare":
        kwargs = {k: v for k, v in kwargs.items() if k not in _APP_KWARGS}
        kwargs["functions"] = [func(bare_noop, name=NOOP)]
        logs = bench.configure_arq_default_logs if mode == "a" else bench.configure_logs_off
    else:
        logs = bench.configure_logs if mode == "a" else bench.configure_logs_off
    worker = (Worker if arm == "bare" else TalentqWorker)(**kwargs)
    logs()
    _callgrind("on")
    await worker.async_run()
    _callgrind("off")
    await worker.close()
    print(f"complete={worker.jobs_complete} failed={worker.jobs_failed} lines={bench.sink.lines}")


async def pre_enqueue(jobs: int) -> None:
    settings = bench_settings(DEFAULT_REDIS_URL, DEFAULT_DATABASE_URL)
    redis = await create_redis(settings)
    try:
        await redis.flushdb()
        await Producer(redis, catalogue=ALL_QUEUES).enqueue_many(NOOP, [{"n": i} for i in range(jobs)])
    finally:
        await redis.aclose(close_connection_pool=True)


def count(arm: str, mode: str, jobs: int) -> tuple[int, str]:
    """Instructions the arm's burst over ``jobs`` jobs executed, and the child's report."""
    asyncio.run(pre_enqueue(jobs))
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--instr-atstart=no",
                f"--callgrind-out-file={tmp}/callgrind.out",
                sys.executable,
                __file__,
                "--child",
                arm,
                mode,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    collected = re.search(r"Collected : (\d+)", proc.stderr)
    if collected is None:
        raise RuntimeError(f"no instruction count in valgrind's output:\n{proc.stderr[-2000:]}")
    return int(collected.group(1)), proc.stdout.strip().splitlines()[-1]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--jobs", type=int, default=300, help="jobs per arm (default 300)")
    parser.add_argument("--child", nargs=2, metavar=("ARM", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        uvloop.run(child(*args.child))
        return 0

    started = time.perf_counter()
    asyncio.run(recreate_database(DEFAULT_DATABASE_URL))
    upgrade(DEFAULT_DATABASE_URL)
    print(f"instructions per no-op job under callgrind, {args.jobs} jobs per arm, burst only, uvloop")
    results: dict[str, Any] = {}
    for mode, title in MODES.items():
        per_job = {}
        for arm in ARMS:
            instructions, report = count(arm, mode, args.jobs)
            per_job[arm] = instructions / args.jobs
            print(f"  ({mode}) {title:<24} {arm:<8} {per_job[arm] / 1e6:7.3f} M instructions/job  [{report}]")
        results[mode] = per_job["wrapper"] / per_job["bare"]
        verdict = "PASS" if results[mode] <= 1.1 else "MISS"
        print(f"  ({mode}) wrapper/bare = {results[mode]:.3f}  (target <= 1.10: {verdict})")
    print(f"total time {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
