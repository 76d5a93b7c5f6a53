"""How long weekly-outreach takes for 10,000 active talents, end to end until the jobs are in Redis.

Two arms, alternating over ``--rounds`` rounds (ABBA order), each run on a fresh tick
into an empty Redis database, medians reported:

- **weekly-outreach** as shipped: ``run_cron_job`` on the entry ``talentq.crons.outreach.
  weekly_outreach``: claim the tick in ``cron_runs``, one SELECT of the talents, one
  ``Producer.enqueue_many`` (a Lua call per 1,000 jobs), record the run. Timed from the call
  until it returns, when every job is in Redis: the queue's ZCARD must equal the talent
  count and the first and last jobs' keys must exist, or the run is marked failed.
- **reference**: the same entry, the same SELECT, the same payloads and job ids, fanned out
  with a loop of awaited ``Producer.enqueue`` (arq's ``enqueue_job``: a WATCH/MULTI
  transaction per job), which is how the seed's cron enqueued, job by job.

After each shipped run the same tick's work runs again (a run taken over after its worker
died): it must enqueue nothing, and its time is reported. SQL statements per run are
counted (claim + work + record: the same whatever the talent count).

Target: weekly-outreach under 2 s for 10,000 talents on this machine.

It needs the real services: a scratch PostgreSQL database (dropped, created and migrated
here; default ``talentq_bench_outreach``) and a Redis database that it FLUSHes between runs
(default 13). Logging is configured as the shipped worker does it (INFO, text) into a null
sink. Run from the repository root::

    .venv/bin/python bench/bench_weekly_outreach.py [--talents 10000] [--rounds 5]
        [--redis-url redis://127.0.0.1:6379/13]
        [--database-url postgresql://postgres@127.0.0.1:5432/talentq_bench_outreach]

It prints every run, then a table of each figure with its target and PASS/MISS, and
exits 0 whatever the figures (it measures; the tests test).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import arq
from arq.connections import ArqRedis
from arq.constants import job_key_prefix
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bench_worker import (
    CountingNullSink,
    Row,
    _list,
    _verdict,
    bench_settings,
    loop_runner,
    recreate_database,
)
from talentq.client import Producer, create_redis
from talentq.cron import CronEntry, run_cron_job
from talentq.crons import outreach
from talentq.db.engine import make_engine, make_sessionmaker
from talentq.db.migrate import upgrade
from talentq.db.tables import Talent
from talentq.jobs import JobContext, uses_tables
from talentq.logsetup import configure_logging
from talentq.queues import CATALOGUE
from talentq.settings import Settings

DEFAULT_REDIS_URL: Final = "redis://127.0.0.1:6379/13"
DEFAULT_DATABASE_URL: Final = "postgresql://postgres@127.0.0.1:5432/talentq_bench_outreach"
TARGET_S: Final = 2.0
MANAGERS: Final = 10
#: A tick in arq's job-id form (ms since the epoch); each run gets its own, a week apart.
FIRST_TICK_MS: Final = 1_764_547_200_000
WEEK_MS: Final = 7 * 86_400_000
AI_OUTREACH_QUEUE: Final = CATALOGUE["ai-outreach"].arq_queue


@uses_tables(Talent)
async def weekly_outreach_loop(ctx: JobContext) -> dict[str, Any]:
    """The reference: weekly-outreach's SELECT, then one awaited ``enqueue`` per talent."""
    talents = await outreach.pitching_talents(ctx)
    added = 0
    for talent in talents:
        job = await ctx["producer"].enqueue(
            "ai-outreach", {"talentId": talent}, job_id=f"ai-outreach:{talent}:{ctx['job_id']}"
        )
        added += job is not None
    return {"count": added, "talents": len(talents)}


SHIPPED: Final = CronEntry(
    "weekly-outreach", "0 9 * * 1", outreach.weekly_outreach, enqueues=("ai-outreach",)
)
REFERENCE: Final = CronEntry("weekly-outreach", "0 9 * * 1", weekly_outreach_loop, enqueues=("ai-outreach",))


@dataclass
class Run:
    wall_s: float
    statements: int
    ok: bool = True
    note: str = ""


@dataclass
class Arm:
    label: str
    entry: CronEntry
    runs: list[Run] = field(default_factory=list)

    def median(self) -> float:
        return statistics.median(run.wall_s for run in self.runs)


class Bench:
    def __init__(self, settings: Settings, talents: int, rounds: int) -> None:
        self.settings = settings
        self.talents = talents
        self.rounds = rounds
        self.sink = CountingNullSink()
        self.rows: list[Row] = []
        self.statements = 0
        self.tick = FIRST_TICK_MS

    def count_statement(self, *args: Any) -> None:
        self.statements += 1

    def next_ctx(self, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]) -> Any:
        """A cron context on a tick of its own (a tick already claimed would be skipped)."""
        self.tick += WEEK_MS
        return {
            "job_id": f"weekly-outreach:{self.tick}",
            "job_try": 1,
            "redis": redis,
            "sessions": sessions,
            "producer": Producer(redis),
            "settings": self.settings,
        }

    async def seed(self, engine: AsyncEngine) -> None:
        """Managers, the active talents, and a tenth as many on a break (the SELECT must skip them)."""
        inactive = self.talents // 10
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO users (name, email) "
                    "SELECT 'Manager ' || u, 'manager' || u || '@agency.test' "
                    "FROM generate_series(1, :managers) AS u"
                ),
                {"managers": MANAGERS},
            )
            await conn.execute(
                text(
                    "INSERT INTO talents (name, handle, manager_id, niches, audience_size, active) "
                    "SELECT 'Talent ' || i, 'talent' || i, i % :managers + 1, jsonb_build_array('food'), "
                    "i * 10, i <= :active FROM generate_series(1, :total) AS i"
                ),
                {"managers": MANAGERS, "active": self.talents, "total": self.talents + inactive},
            )
        async with engine.connect() as conn:
            await conn.execute(text("ANALYZE talents"))
        print(f"seeded {self.talents} active talents and {inactive} on a break, {MANAGERS} managers")

    async def timed(self, arm: Arm, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]) -> Any:
        await redis.flushdb()
        ctx = self.next_ctx(redis, sessions)
        gc.collect()
        statements0 = self.statements
        wall0 = time.perf_counter()
        result = await run_cron_job(arm.entry)(ctx)
        run = Run(time.perf_counter() - wall0, self.statements - statements0)
        queued = await redis.zcard(AI_OUTREACH_QUEUE)
        first, last = (f"{job_key_prefix}ai-outreach:{t}:{ctx['job_id']}" for t in (1, self.talents))
        keys = await redis.exists(first, last)
        if (result["count"], queued, keys) != (self.talents, self.talents, 2):
            run.ok = False
            run.note = (
                f"  !! count={result['count']} queued={queued} job keys={keys}, expected {self.talents}"
            )
        arm.runs.append(run)
        print(
            f"    round {len(arm.runs)} {arm.label:<24} {run.wall_s:6.3f} s "
            f"{self.talents / run.wall_s:8.0f} jobs/s  {run.statements} SQL statements{run.note}"
        )
        return ctx

    async def rerun(self, ctx: Any, redis: ArqRedis) -> Run:
        """The same tick's work again: nothing new may reach Redis."""
        statements0 = self.statements
        wall0 = time.perf_counter()
        result = await outreach.weekly_outreach(ctx)
        run = Run(time.perf_counter() - wall0, self.statements - statements0)
        queued = await redis.zcard(AI_OUTREACH_QUEUE)
        if (result["count"], queued) != (0, self.talents):
            run.ok, run.note = False, f"  !! count={result['count']} queued={queued}"
        print(f"      same tick again{'':<12} {run.wall_s:6.3f} s  enqueued {result['count']}{run.note}")
        return run

    async def measure(self) -> None:
        engine = make_engine(self.settings)
        event.listen(engine.sync_engine, "before_cursor_execute", self.count_statement)
        redis = await create_redis(self.settings)
        try:
            await self.seed(engine)
            sessions = make_sessionmaker(engine)
            shipped = Arm("weekly-outreach", SHIPPED)
            reference = Arm("reference: enqueue loop", REFERENCE)
            reruns: list[Run] = []
            print(f"\n{self.talents} ai-outreach jobs per run, {self.rounds} round(s):")
            for r in range(self.rounds):
                for arm in (shipped, reference) if r % 2 == 0 else (reference, shipped):
                    ctx = await self.timed(arm, redis, sessions)
                    if arm is shipped:
                        reruns.append(await self.rerun(ctx, redis))
            self.summarise(shipped, reference, reruns)
        finally:
            await redis.flushdb()
            await redis.aclose(close_connection_pool=True)
            await engine.dispose()

    def summarise(self, shipped: Arm, reference: Arm, reruns: list[Run]) -> None:
        ratios = [b.wall_s / a.wall_s for a, b in zip(shipped.runs, reference.runs, strict=True)]
        ratio = statistics.median(ratios)
        ok = all(run.ok for run in [*shipped.runs, *reference.runs, *reruns])
        statements = sorted({run.statements for run in shipped.runs})
        print(
            f"    median: weekly-outreach {shipped.median():.3f} s, reference {reference.median():.3f} s; "
            f"reference/weekly-outreach per round {_list(ratios)} -> median {ratio:.1f}x"
        )
        rerun_s = statistics.median(run.wall_s for run in reruns)
        self.rows += [
            Row(
                f"weekly-outreach, {self.talents} talents (s)",
                f"{shipped.median():.3f}",
                f"< {TARGET_S:g}",
                _verdict(ok and shipped.median() < TARGET_S),
            ),
            Row("weekly-outreach (jobs/s)", f"{self.talents / shipped.median():.0f}", "-", "info"),
            Row("reference: enqueue loop (s)", f"{reference.median():.3f}", "-", "info"),
            Row("reference / weekly-outreach", f"{ratio:.1f}x", "-", "info"),
            Row("same tick again (s, enqueues 0)", f"{rerun_s:.3f}", "-", _verdict(ok)),
            Row("SQL statements per run", ", ".join(map(str, statements)), "3", _verdict(statements == [3])),
        ]

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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--talents", type=int, default=10_000, help="active talents (default 10000)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of each pair of arms (default 5)")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="a Redis database it may FLUSH")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL, help="a database it may DROP")
    args = parser.parse_args(argv)
    if args.talents < 1 or args.rounds < 1:
        parser.error("--talents and --rounds must be >= 1")

    settings = bench_settings(args.redis_url, args.database_url)
    print(
        f"weekly-outreach benchmark: talents={args.talents} rounds={args.rounds} redis={args.redis_url} "
        f"database={args.database_url}"
    )
    print(
        f"python {platform.python_version()}, arq {arq.VERSION}, {os.cpu_count()} CPU(s); logging: "
        f"configure_logging(level={settings.log_level}, json={settings.log_json}) into a counting null sink"
    )
    started = time.perf_counter()
    asyncio.run(recreate_database(args.database_url))
    upgrade(args.database_url)
    bench = Bench(settings, args.talents, args.rounds)
    configure_logging(settings, sink=bench.sink)
    loop_runner(settings)(bench.measure())
    print(f"\nsummary (median of {args.rounds} round(s); the ratio is the median of per-round pairs)")
    print(bench.table())
    print(f"\ntotal time {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
