"""check-overdue-invoices and send-daily-brief-digest on a full-size agency, end to end, at two sizes.

An agency of ``--managers`` managers (default 1,000), each with 5 talents; every talent has 10
deals in four currencies, every deal 2 invoices and 3 deliverables; every manager 10 approvals.
At 1,000 managers that is 100,000 invoices, of which 10% are sent and past due (5% more are
already overdue and reminded, 30% paid, 10% drafts, the rest sent and not yet due), 150,000
deliverables spread over two months (about 2.5 due per manager per day) and 4 pending approvals
per manager; 90% of the managers have opted in to the digest, in six time zones. There are 500
brands: 90% with a billing address, 5% with a contact address only, 5% with neither.

Each cron runs through ``run_cron_job`` (the tick's claim and record included) against the real
PostgreSQL and Redis: its SQL statements, building every email, and ``Producer.enqueue_many``
into Redis. Each round starts from the same state (untimed: the overdue invoices set back to
sent, the Redis database flushed) and gets a tick of its own. The same is run first at a tenth
of the size (an agency of ``--managers / 10``), then at full size, and the two are printed side
by side: statements per run (fixed whatever the size) and the time per row, whose ratio is near
1 when the cost is linear in the rows and the fixed part is small. Targets at full size:
check-overdue-invoices under 3 s, send-daily-brief-digest under 5 s (medians).

It needs the real services: a database it drops, creates and migrates (default
``talentq_bench_reports``) and a Redis database it flushes (default 13). From the repository root::

    .venv/bin/python bench/bench_report_crons.py [--managers 1000] [--rounds 5]
        [--redis-url redis://127.0.0.1:6379/13]
        [--database-url postgresql://postgres@127.0.0.1:5432/talentq_bench_reports]

It exits 0 whatever the figures (it measures; the tests test).
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
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import asyncpg
from arq.connections import ArqRedis
from loguru import logger
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bench_worker import recreate_database
from talentq.client import Producer, create_redis
from talentq.cron import CronEntry, run_cron_job
from talentq.crons import finance, reports
from talentq.db.engine import make_engine, make_sessionmaker
from talentq.db.migrate import upgrade
from talentq.domain.time import tick_ms
from talentq.queues import DEFAULT_ARQ_QUEUE
from talentq.settings import Settings

DEFAULT_REDIS_URL: Final = "redis://127.0.0.1:6379/13"
DEFAULT_DATABASE_URL: Final = "postgresql://postgres@127.0.0.1:5432/talentq_bench_reports"
OVERDUE: Final = CronEntry(
    "check-overdue-invoices", "0 9 * * *", finance.check_overdue_invoices, enqueues=("email-send",)
)
DIGEST: Final = CronEntry(
    "send-daily-brief-digest", "0 8 * * *", reports.send_daily_brief_digest, enqueues=("email-send",)
)
#: The day the agency's data is built around; each round's tick is a minute after the last.
BASE: Final = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
TARGETS_S: Final = {OVERDUE.name: 3.0, DIGEST.name: 5.0}
TALENTS_PER_MANAGER: Final = 5
DEALS_PER_TALENT: Final = 10
BRANDS: Final = 500

# --- the agency ------------------------------------------------------------------------------------

# Ids are computed (talent (m-1)*5+k, deal (t-1)*10+j, ...) so that growing the agency from
# managers lo+1..hi only adds rows: the small agency is the first tenth of the large one.
_BRANDS_SQL: Final = """
INSERT INTO brands (id, name, billing_email, contact_email)
SELECT b, 'Brand ' || b,
       CASE WHEN b % 10 <> 0 THEN 'billing' || b || '@brand.test' END,
       CASE WHEN b % 20 <> 0 THEN 'hello' || b || '@brand.test' END
FROM generate_series(1, $1::int) AS b
"""
_GROW_SQL: Final = [
    # 90% opted in, in six zones (three of them south of the equator or far east).
    """
    INSERT INTO users (id, name, email, time_zone, digest_opt_in)
    SELECT m, 'Manager ' || m, 'manager' || m || '@agency.test',
           (ARRAY['Europe/London', 'America/New_York', 'Asia/Tokyo', 'Europe/Berlin',
                  'America/Los_Angeles', 'Australia/Sydney'])[1 + m % 6],
           m % 10 <> 0
    FROM generate_series($1::int + 1, $2::int) AS m
    """,
    f"""
    INSERT INTO talents (id, name, handle, manager_id)
    SELECT (m - 1) * {TALENTS_PER_MANAGER} + k, 'Talent ' || ((m - 1) * {TALENTS_PER_MANAGER} + k),
           'talent' || ((m - 1) * {TALENTS_PER_MANAGER} + k), m
    FROM generate_series($1::int + 1, $2::int) AS m, generate_series(1, {TALENTS_PER_MANAGER}) AS k
    """,
    f"""
    INSERT INTO deals (id, talent_id, brand_id, stage, fee_minor, currency)
    SELECT d, t, 1 + (d * 37 + d / 10) % {BRANDS}, 'contracted', 100000 + (d % 7) * 12345,
           (ARRAY['USD', 'EUR', 'GBP', 'JPY'])[1 + d % 4]
    FROM generate_series(($1::int) * {TALENTS_PER_MANAGER} + 1, ($2::int) * {TALENTS_PER_MANAGER}) AS t,
         LATERAL (SELECT (t - 1) * {DEALS_PER_TALENT} + j AS d
                  FROM generate_series(1, {DEALS_PER_TALENT}) AS j) AS x
    """,
    # Per 20 invoices: 2 sent and past due (the 10% the cron marks, numbered OD-), 1 overdue and
    # reminded, 9 sent and not yet due, 6 paid, 2 drafts.
    f"""
    INSERT INTO invoices (id, deal_id, brand_id, number, installment, amount_minor, currency, status,
                          issued_at, due_at, paid_at, reminded_at)
    SELECT i, d.id, d.brand_id, CASE WHEN i % 20 < 2 THEN 'OD-' ELSE 'INV-' END || i, n,
           d.fee_minor / 2, d.currency,
           CASE WHEN i % 20 < 2 THEN 'sent' WHEN i % 20 = 2 THEN 'overdue' WHEN i % 20 < 12 THEN 'sent'
                WHEN i % 20 < 18 THEN 'paid' ELSE 'draft' END,
           $3::timestamptz - interval '40 days',
           CASE WHEN i % 20 < 3 OR i % 20 BETWEEN 12 AND 17
                THEN $3::timestamptz - (1 + i % 60) * interval '1 day'
                ELSE $3::timestamptz + (30 + i % 60) * interval '1 day' END,
           CASE WHEN i % 20 BETWEEN 12 AND 17 THEN $3::timestamptz - interval '2 days' END,
           CASE WHEN i % 20 = 2 THEN $3::timestamptz - interval '20 days' END
    FROM deals AS d, generate_series(1, 2) AS n, LATERAL (SELECT (d.id - 1) * 2 + n AS i) AS x
    WHERE d.talent_id > ($1::int) * {TALENTS_PER_MANAGER} AND d.talent_id <= ($2::int) * {TALENTS_PER_MANAGER}
    """,
    # Three per deal, due on the hour across 30 days either side of the base day; one in five approved.
    f"""
    INSERT INTO deliverables (id, deal_id, talent_id, title, platform, due_at, status)
    SELECT x.id, d.id, d.talent_id, 'Deliverable ' || x.id,
           (ARRAY['instagram', 'tiktok', 'youtube'])[1 + x.id % 3],
           $3::timestamptz - interval '30 days' + ((x.id * 7919) % 1440) * interval '1 hour',
           CASE WHEN x.id % 5 = 0 THEN 'approved' ELSE 'pending' END
    FROM deals AS d, generate_series(1, 3) AS k, LATERAL (SELECT (d.id - 1) * 3 + k AS id) AS x
    WHERE d.talent_id > ($1::int) * {TALENTS_PER_MANAGER} AND d.talent_id <= ($2::int) * {TALENTS_PER_MANAGER}
    """,
    # Ten per manager: four pending (expiring in the coming days), the others decided.
    """
    INSERT INTO approvals (id, kind, subject, requested_by_id, status, expires_at)
    SELECT (m - 1) * 10 + k, 'contract', 'Approve contract ' || ((m - 1) * 10 + k), m,
           CASE WHEN k <= 4 THEN 'pending' WHEN k <= 8 THEN 'approved' ELSE 'rejected' END,
           $3::timestamptz + k * interval '1 day'
    FROM generate_series($1::int + 1, $2::int) AS m, generate_series(1, 10) AS k
    """,
]
_RESET_OVERDUE_SQL: Final = "UPDATE invoices SET status = 'sent', reminded_at = NULL WHERE number LIKE 'OD-%'"
_MARK_OVERDUE_SQL: Final = (
    "UPDATE invoices SET status = 'overdue', reminded_at = $1::timestamptz WHERE number LIKE 'OD-%'"
)


async def grow(admin: asyncpg.Connection, managers_before: int, managers_after: int) -> None:
    """Add managers ``managers_before + 1 .. managers_after`` with everything they own."""
    async with admin.transaction():
        for statement in _GROW_SQL:
            args = (
                (managers_before, managers_after, BASE)
                if "$3" in statement
                else (managers_before, managers_after)
            )
            await admin.execute(statement, *args)
    await admin.execute("VACUUM ANALYZE")


# --- measurement ---------------------------------------------------------------------------------


@dataclass
class Run:
    wall_s: float
    statements: int
    cron_statements: int
    result: dict[str, Any]
    queued: int


@dataclass
class Series:
    cron: str
    size: str
    rows: int
    row_label: str
    runs: list[Run] = field(default_factory=list)

    @property
    def median_s(self) -> float:
        return statistics.median(run.wall_s for run in self.runs)

    @property
    def per_1k_rows_ms(self) -> float:
        return self.median_s / self.rows * 1_000_000

    @property
    def statements(self) -> str:
        seen = sorted({(run.statements, run.cron_statements) for run in self.runs})
        return ", ".join(f"{total} ({own} its own)" for total, own in seen)


class Bench:
    def __init__(self, settings: Settings, rounds: int) -> None:
        self.settings = settings
        self.rounds = rounds
        self.tick = BASE
        self.series: list[Series] = []

    def next_ctx(self, entry: CronEntry, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]) -> Any:
        # A tick of its own per round (the claim is per tick), a minute apart: the same local day.
        self.tick += timedelta(minutes=1)
        return {
            "job_id": f"{entry.name}:{tick_ms(self.tick)}",
            "job_try": 1,
            "redis": redis,
            "sessions": sessions,
            "settings": self.settings,
            "producer": Producer(redis),
        }

    async def timed(
        self,
        entry: CronEntry,
        series: Series,
        engine: AsyncEngine,
        redis: ArqRedis,
        reset: Callable[[], Awaitable[None]],
        check: Callable[[dict[str, Any]], str],
    ) -> None:
        sessions = make_sessionmaker(engine)
        statements: list[str] = []

        def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            statements.append(statement)

        event.listen(engine.sync_engine, "before_cursor_execute", record)
        try:
            for r in range(self.rounds):
                await reset()
                await redis.flushdb()
                ctx = self.next_ctx(entry, redis, sessions)
                statements.clear()
                gc.collect()
                started = time.perf_counter()
                result = await run_cron_job(entry)(ctx)
                wall = time.perf_counter() - started
                own = sum("cron_runs" not in s for s in statements)
                run = Run(wall, len(statements), own, result, await redis.zcard(DEFAULT_ARQ_QUEUE))
                series.runs.append(run)
                print(
                    f"    round {r + 1} {entry.name:<24} {series.size:<5} {wall:6.3f} s  "
                    f"statements {run.statements} ({run.cron_statements} its own)  "
                    f"emails queued {run.queued}  {check(result)}"
                )
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", record)
        self.series.append(series)

    async def size(self, size: str, managers: int, admin: asyncpg.Connection, redis: ArqRedis) -> None:
        engine = make_engine(self.settings)
        try:
            invoices = managers * TALENTS_PER_MANAGER * DEALS_PER_TALENT * 2
            overdue = invoices // 10
            print(f"\n  {size}: {managers} managers, {invoices} invoices ({overdue} sent and past due)")

            async def reset_invoices() -> None:
                await admin.execute(_RESET_OVERDUE_SQL)
                await admin.execute("VACUUM ANALYZE invoices")

            def check_invoices(result: dict[str, Any]) -> str:
                ok = result.get("count") == overdue
                detail = f"count {result.get('count')}, no address {result.get('no_address')}"
                return detail if ok else f"{detail}  !! expected count {overdue}"

            await self.timed(
                OVERDUE,
                Series(OVERDUE.name, size, invoices, "invoices"),
                engine,
                redis,
                reset_invoices,
                check_invoices,
            )

            # The digest sees the agency as after the overdue run: every OD- invoice overdue.
            await admin.execute(_MARK_OVERDUE_SQL, BASE)
            opted_in = managers - managers // 10

            async def no_reset() -> None:
                return None

            def check_digest(result: dict[str, Any]) -> str:
                ok = result.get("managers") == opted_in and result.get("count") == result.get("briefs")
                detail = f"briefs {result.get('briefs')} of {result.get('managers')} managers"
                return detail if ok else f"{detail}  !! expected {opted_in} managers, every brief enqueued"

            await self.timed(
                DIGEST, Series(DIGEST.name, size, managers, "managers"), engine, redis, no_reset, check_digest
            )
        finally:
            await engine.dispose()

    async def run(self, managers: int) -> None:
        admin = await asyncpg.connect(_plain(self.settings.require_database_url()))
        redis = await create_redis(self.settings)
        try:
            await admin.execute(_BRANDS_SQL, BRANDS)
            small = max(1, managers // 10)
            started = time.perf_counter()
            await grow(admin, 0, small)
            print(f"built the small agency in {time.perf_counter() - started:.1f} s")
            await self.size("small", small, admin, redis)
            started = time.perf_counter()
            await grow(admin, small, managers)
            print(f"\ngrew it to full size in {time.perf_counter() - started:.1f} s")
            await self.size("full", managers, admin, redis)
        finally:
            await redis.flushdb()
            await redis.aclose(close_connection_pool=True)
            await admin.close()

    def table(self) -> str:
        rows = [
            ("cron", "size", "rows", "median s", "statements per run", "ms / 1k rows", "target", "result")
        ]
        for cron in (OVERDUE.name, DIGEST.name):
            small, full = (s for s in self.series if s.cron == cron)
            for series in (small, full):
                target = TARGETS_S[cron] if series is full else None
                ok = all(_ok(run) for run in series.runs)
                rows.append(
                    (
                        cron,
                        series.size,
                        f"{series.rows} {series.row_label}",
                        f"{series.median_s:.3f}",
                        series.statements,
                        f"{series.per_1k_rows_ms:.1f}",
                        "-" if target is None else f"< {target:g} s",
                        "-" if target is None else _verdict(ok and series.median_s < target),
                    )
                )
            ratio = full.per_1k_rows_ms / small.per_1k_rows_ms
            rows.append(
                (cron, "full/small", f"{full.rows // small.rows}x rows", "", "", f"{ratio:.2f}x", "", "")
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
        lines.insert(1, "-" * len(lines[0]))
        return "\n".join(lines)


def _ok(run: Run) -> bool:
    # Every reminder (overdue invoices whose brand has an address) or brief reached Redis.
    return run.queued > 0 and run.result.get("reminders", run.result.get("count")) == run.queued


def _verdict(passed: bool) -> str:
    return "PASS" if passed else "MISS"


def _plain(url: str) -> str:
    """A libpq URL for asyncpg from an SQLAlchemy one."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--managers", type=int, default=1000, help="managers at full size (default 1000)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per cron and size (default 5)")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="a Redis database it may FLUSH")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL, help="a database it may DROP")
    args = parser.parse_args(argv)
    if args.managers < 10 or args.rounds < 1:
        parser.error("--managers must be >= 10 and --rounds >= 1")

    settings = Settings(
        _env_file=None, redis_url=args.redis_url, database_url=args.database_url, log_level="WARNING"
    )
    # The crons' own start/done lines are INFO: kept out of the timings' way, as a quiet worker would.
    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    print(
        f"talentq report crons benchmark: managers={args.managers} rounds={args.rounds} "
        f"redis={args.redis_url} database={args.database_url}"
    )
    print(f"python {platform.python_version()}, {os.cpu_count()} CPU(s)")
    started = time.perf_counter()
    asyncio.run(recreate_database(args.database_url))
    upgrade(args.database_url)
    bench = Bench(settings, args.rounds)
    asyncio.run(bench.run(args.managers))
    print(
        f"\nsummary (median of {args.rounds} rounds; statements: all, and the cron's own without cron_runs)"
    )
    print(bench.table())
    print(f"\ntotal time {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
