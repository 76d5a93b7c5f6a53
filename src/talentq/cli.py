"""``talentq``: run the worker, check the registry, migrate, inspect and replay dead letters.

Each command configures logging once and reads settings from the environment.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from arq.connections import ArqRedis
from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlmodel import col

from talentq import registry
from talentq.client import Producer, create_redis
from talentq.cron import CRONS
from talentq.db import migrate
from talentq.db.engine import make_engine, make_sessionmaker
from talentq.db.models import CronRun
from talentq.deadletter import DeadLetterStore, list_dead, replay
from talentq.embedded import embedded_services
from talentq.errors import RegistryError, TalentqError
from talentq.logsetup import configure_logging
from talentq.queues import CATALOGUE
from talentq.sample_agency import SeedResult
from talentq.sample_agency import seed as seed_agency
from talentq.settings import get_settings

app = typer.Typer(help="talentq: the background-job worker of the talent platform.", no_args_is_help=True)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
dead_app = typer.Typer(help="The dead-letter store.", no_args_is_help=True)
cron_app = typer.Typer(help="The cron schedule and its runs.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(dead_app, name="dead-letters")
app.add_typer(cron_app, name="cron")

console = Console(soft_wrap=True)  # problem lines stay whole, for grep and copy
T = TypeVar("T")


def _run(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine; a talentq error becomes its message and exit status 1, not a traceback."""
    try:
        return asyncio.run(make())
    except TalentqError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc


@asynccontextmanager
async def _database() -> AsyncIterator[AsyncEngine]:
    engine = make_engine(get_settings())
    try:
        yield engine
    finally:
        await engine.dispose()


@asynccontextmanager
async def _database_and_redis() -> AsyncIterator[tuple[async_sessionmaker[AsyncSession], ArqRedis]]:
    async with _database() as engine:
        redis = await create_redis(get_settings())
        try:
            yield make_sessionmaker(engine), redis
        finally:
            await redis.aclose(close_connection_pool=True)


@app.callback()
def _setup() -> None:
    configure_logging(get_settings())


@app.command()
def worker(burst: Annotated[bool, typer.Option(help="Exit once the queue is empty.")] = False) -> None:
    """Run the worker (the same as `arq talentq.WorkerSettings`)."""
    from arq.worker import run_worker

    try:
        settings_cls = registry.worker_settings()
    except TalentqError as exc:
        console.print(f"[red]refusing to start: {exc}[/red]")
        raise typer.Exit(1) from exc
    registry.install_event_loop(get_settings())
    run_worker(settings_cls, burst=burst)


@app.command()
def dev(
    data_dir: Annotated[Path, typer.Option(help="Where embedded servers keep their data.")] = Path(
        ".talentq-dev"
    ),
    burst: Annotated[bool, typer.Option(help="Exit once the queue is empty.")] = False,
) -> None:
    """Run it all locally: embedded Redis/PostgreSQL for unset URLs, migrate, seed, run the worker.

    With REDIS_URL / DATABASE_URL set, those servers are used instead. Ctrl-C stops the
    worker, then the embedded servers.
    """
    base = get_settings()
    with embedded_services(data_dir, redis_url=base.redis_url, database_url=base.database_url) as urls:
        # Everything that reads the environment (the producer's connect(), Alembic) sees them too.
        os.environ.update(REDIS_URL=urls.redis_url, DATABASE_URL=urls.database_url)
        # Development records mail instead of sending it, unless a transport is configured.
        os.environ.setdefault("MAIL_TRANSPORT", "log")
        get_settings.cache_clear()
        settings = get_settings()
        migrate.upgrade(settings.require_database_url())

        async def seed_it() -> SeedResult:
            engine = make_engine(settings)
            try:
                return await seed_agency(make_sessionmaker(engine))
            finally:
                await engine.dispose()

        seeded = _run(seed_it)
        console.print("sample agency created" if seeded.created else f"not seeded: {seeded.reason}")
        console.print(f"redis: {settings.redis_url}\npostgres: {settings.database_url}")
        try:
            settings_cls = registry.worker_settings(settings=settings)
        except TalentqError as exc:
            console.print(f"[red]the worker refuses to start: {exc}[/red]")
            raise typer.Exit(1) from exc
        from arq.worker import run_worker

        registry.install_event_loop(settings)
        run_worker(settings_cls, burst=burst)


@app.command()
def check() -> None:
    """Run the startup check (registry, then the database's tables) without starting a worker."""
    try:
        registry.check(registry.BINDINGS, CRONS, settings=get_settings())
    except RegistryError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc

    async def tables() -> list[str]:
        async with _database() as engine:
            return await registry.missing_tables(engine, registry.required_tables(registry.BINDINGS, CRONS))

    missing = _run(tables)
    if missing:
        console.print(f"[red]{RegistryError(missing)}[/red]")
        raise typer.Exit(1)
    console.print(
        f"[green]registry ok: {len(registry.BINDINGS)} queues, {len(CRONS)} crons, all tables present[/green]"
    )


@app.command()
def queues() -> None:
    """List the catalogue: every queue, its required fields, retry policy and status."""
    table = Table("queue", "required", "tries", "timeout", "status")
    for spec in CATALOGUE.values():
        required = ", ".join(
            field.alias or name for name, field in spec.payload.model_fields.items() if field.is_required()
        )
        status = f"disabled: {spec.disabled}" if spec.disabled else "active"
        table.add_row(spec.name, required, str(spec.retry.max_tries), f"{spec.timeout:g}s", status)
    console.print(table)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Migrate DATABASE_URL to REVISION (default: the latest)."""
    try:
        migrate.upgrade(get_settings().require_database_url(), revision)
    except TalentqError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    console.print(f"[green]database at {revision}[/green]")


@app.command()
def seed() -> None:
    """Fill the database with the sample agency (idempotent: a second run adds nothing)."""

    async def go() -> SeedResult:
        async with _database() as engine:
            return await seed_agency(make_sessionmaker(engine))

    result = _run(go)
    if result.created:
        summary = ", ".join(f"{count} {table}" for table, count in result.rows.items())
        console.print(f"[green]sample agency created: {summary}[/green]")
    else:
        console.print(f"nothing added: {result.reason}")


@dead_app.command("list")
def dead_list(
    queue: Annotated[str | None, typer.Option(help="Only this queue.")] = None,
    state: Annotated[str | None, typer.Option(help="dead or replayed.")] = None,
    limit: int = 50,
) -> None:
    """The most recent dead letters."""

    async def fetch() -> list[Any]:
        async with _database() as engine, make_sessionmaker(engine)() as session:
            return await list_dead(session, queue=queue, state=state, limit=limit)

    table = Table("job id", "queue", "reason", "error", "tries", "last failure", "state")
    for row in _run(fetch):
        error = f"{row.error_type}: {row.message}"
        table.add_row(
            row.job_id,
            row.queue,
            row.reason,
            error[:80],
            str(row.tries),
            f"{row.last_failed_at:%Y-%m-%d %H:%M}",
            row.state,
        )
    console.print(table)


@dead_app.command("flush")
def dead_flush() -> None:
    """Move dead letters kept in Redis (PostgreSQL was down) into PostgreSQL."""

    async def flush() -> int:
        async with _database_and_redis() as (sessions, redis):
            return await DeadLetterStore(sessions, redis).flush()

    console.print(f"flushed {_run(flush)} dead letter(s)")


@dead_app.command("replay")
def dead_replay(job_id: str) -> None:
    """Enqueue a dead letter's payload again (validated like any job) and mark it replayed."""

    async def go() -> str:
        async with _database_and_redis() as (sessions, redis):
            return await replay(sessions, Producer(redis), job_id)

    try:
        new_id = _run(go)
    except (LookupError, ValueError) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    console.print(f"replayed {job_id} as {new_id}")


@cron_app.command("list")
def cron_list() -> None:
    """The cron health summary: every entry, its schedule, status and last run."""

    async def last_runs() -> dict[str, CronRun]:
        async with _database() as engine, make_sessionmaker(engine)() as session:
            # PostgreSQL's DISTINCT ON: the newest run of each cron, in one statement.
            rows = await session.execute(
                select(CronRun)
                .ext(distinct_on(col(CronRun.name)))
                .order_by(col(CronRun.name), col(CronRun.started_at).desc())
            )
            return {run.name: run for run in rows.scalars()}

    last = _run(last_runs)
    table = Table("cron", "schedule", "status", "last run", "result", "enqueues")
    for entry in CRONS:
        run = last.get(entry.name)
        status = f"disabled: {entry.disabled}" if entry.disabled else "active"
        when = f"{run.started_at:%Y-%m-%d %H:%M} {run.status}" if run else "never"
        result = (run.error or str(run.result)) if run else ""
        table.add_row(entry.name, entry.schedule, status, when, result[:60], ", ".join(entry.enqueues))
    console.print(table)


if __name__ == "__main__":  # python -m talentq.cli, as the console script does
    app()
