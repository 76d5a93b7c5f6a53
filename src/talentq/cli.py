"""``talentq``: run the worker, check the registry, migrate, enqueue, inspect and replay dead letters.

Each command configures logging once and reads settings from the environment. A talentq error
(a setting missing or wrong, a server out of reach, a refused job) ends a command with its
message and exit status 1, not a traceback; ``--debug`` or ``TALENTQ_DEBUG=1`` shows it.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import httpx
import typer
from arq.connections import ArqRedis
from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlmodel import col
from typer.core import TyperGroup

from talentq import approvals, registry
from talentq.client import Producer, create_redis
from talentq.cron import CRONS
from talentq.db import migrate
from talentq.db.engine import make_engine, make_sessionmaker
from talentq.db.models import CronRun
from talentq.deadletter import DeadLetterStore, list_dead, replay
from talentq.dev.embedded import ServiceUrls, embedded_services
from talentq.dev.sample_agency import Example, SeedResult, examples
from talentq.dev.sample_agency import seed as seed_agency
from talentq.errors import RegistryError, TalentqError, debug_requested
from talentq.integrations.ai import make_ai_provider
from talentq.integrations.ai.evaluate import PARTS, Report, evaluate, read_labelled, render
from talentq.logsetup import configure_logging
from talentq.queues import CATALOGUE
from talentq.reach import reach_postgres, reach_redis, reach_services
from talentq.settings import Settings, get_settings


class _Commands(TyperGroup):
    """Ends any command's talentq error with its message and exit status 1; ``--debug`` re-raises it."""

    def invoke(self, ctx: Any) -> Any:  # a click Context; typer vendors click and keeps its type private
        try:
            return super().invoke(ctx)
        except TalentqError as exc:
            if ctx.params.get("debug") or debug_requested():
                raise
            errors.print(str(exc), style="red", markup=False, highlight=False)
            raise typer.Exit(1) from None


app = typer.Typer(
    help="talentq: the background-job worker of the talent platform.",
    no_args_is_help=True,
    cls=_Commands,
    pretty_exceptions_show_locals=False,  # locals hold settings and payloads
)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
dead_app = typer.Typer(help="The dead-letter store.", no_args_is_help=True)
cron_app = typer.Typer(help="The cron schedule and its runs.", no_args_is_help=True)
approvals_app = typer.Typer(
    help="What the AI wrote, waiting for a person: list, show, approve, reject.", no_args_is_help=True
)
app.add_typer(db_app, name="db")
app.add_typer(dead_app, name="dead-letters")
app.add_typer(cron_app, name="cron")
ai_app = typer.Typer(help="The AI provider: measure it on labelled mail.", no_args_is_help=True)
app.add_typer(approvals_app, name="approvals")
app.add_typer(ai_app, name="ai")

console = Console()
errors = Console(stderr=True, soft_wrap=True)  # problem lines stay whole, for grep and copy
T = TypeVar("T")


def _run(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(make())


@asynccontextmanager
async def _database() -> AsyncIterator[AsyncEngine]:
    settings = get_settings()
    await reach_postgres(settings)  # a wrong DATABASE_URL is one line within seconds
    engine = make_engine(settings)
    try:
        yield engine
    finally:
        await engine.dispose()


@asynccontextmanager
async def _redis() -> AsyncIterator[ArqRedis]:
    settings = get_settings()
    await reach_redis(settings)  # before arq's pool, whose retries would take ~20 s to give up
    redis = await create_redis(settings)
    try:
        yield redis
    finally:
        await redis.aclose(close_connection_pool=True)


@asynccontextmanager
async def _database_and_redis() -> AsyncIterator[tuple[async_sessionmaker[AsyncSession], ArqRedis]]:
    async with _database() as engine, _redis() as redis:
        yield make_sessionmaker(engine), redis


def _table(*headers: str, whole: int) -> Table:
    """A table whose first ``whole`` columns are never wrapped or cut (names and ids, copied into
    commands); the others wrap, folding a word too long for them instead of cutting it."""
    table = Table(*headers)
    for index, column in enumerate(table.columns):
        column.no_wrap = index < whole
        column.overflow = "fold"
    return table


@app.callback()
def _setup(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks (also TALENTQ_DEBUG=1).")] = False,
) -> None:
    configure_logging(get_settings())


def _run_worker(settings: Settings, *, burst: bool) -> None:
    from talentq.worker.boot import boot
    from talentq.worker.loop import create

    create(boot(settings), burst=burst).run()


@app.command()
def worker(burst: Annotated[bool, typer.Option(help="Exit once the queue is empty.")] = False) -> None:
    """Run the worker (the same as `arq talentq.WorkerSettings`)."""
    _run_worker(get_settings(), burst=burst)


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
    with (
        embedded_services(data_dir, redis_url=base.redis_url, database_url=base.database_url) as urls,
        _env_file(data_dir.absolute() / "env", urls) as env_file,
    ):
        # Everything that reads the environment (the producer's connect(), Alembic) sees them too.
        os.environ.update(REDIS_URL=urls.redis_url, DATABASE_URL=urls.database_url)
        # Development records mail instead of sending it, unless a transport is configured.
        os.environ.setdefault("MAIL_TRANSPORT", "log")
        get_settings.cache_clear()
        settings = get_settings()
        reach_services(settings)  # URLs the developer set may be wrong: one line, within seconds
        migrate.upgrade(settings.require_database_url())

        async def seed_it() -> tuple[SeedResult, list[Example]]:
            engine = make_engine(settings)
            try:
                sessions = make_sessionmaker(engine)
                return await seed_agency(sessions), await examples(sessions)
            finally:
                await engine.dispose()

        seeded, tries = _run(seed_it)
        console.print("sample agency created" if seeded.created else f"not seeded: {seeded.reason}")
        _print_dev_guide(urls, env_file, tries)
        _run_worker(settings, burst=burst)


@contextmanager
def _env_file(path: Path, urls: ServiceUrls) -> Iterator[Path]:
    """``path`` holding the export lines that reach ``urls``, for as long as they serve."""
    path.write_text(
        f"# Written by `talentq dev` while it runs: `. {path}` reaches its servers.\n{_exports(urls)}"
    )
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)  # its servers are gone


def _exports(urls: ServiceUrls, *, indent: str = "") -> str:
    return "".join(
        f"{indent}export {name}={shlex.quote(url)}\n"
        for name, url in (("REDIS_URL", urls.redis_url), ("DATABASE_URL", urls.database_url))
    )


def _print_dev_guide(urls: ServiceUrls, env_file: Path, tries: list[Example]) -> None:
    console.print(
        "\n[bold]To reach these servers from another shell[/bold] (talentq check, cron list, "
        f"dead-letters, enqueue, talentq.client.connect()), run  [bold]. {env_file}[/bold]  or paste:",
        soft_wrap=True,
    )
    console.print(_exports(urls, indent="  "), end="", markup=False, highlight=False, soft_wrap=True)
    if tries:
        table = Table("the sample agency holds", "something to try on it", box=None, title_justify="left")
        table.columns[1].no_wrap = True
        for example in tries:
            table.add_row(example.holds, example.command)
        console.print(table)
    console.print()


@app.command()
def check() -> None:
    """Run the startup check without starting a worker: registry, Redis, then the database's tables."""
    settings = get_settings()
    registry.check(registry.BINDINGS, CRONS, settings=settings)

    async def tables() -> list[str]:
        await reach_redis(settings)
        async with _database() as engine:
            return await registry.missing_tables(engine, registry.required_tables(registry.BINDINGS, CRONS))

    missing = _run(tables)
    if missing:
        raise RegistryError(missing)
    console.print(
        f"[green]registry ok: {len(registry.BINDINGS)} queues, {len(CRONS)} crons, all tables present[/green]"
    )


@app.command()
def enqueue(
    queue: Annotated[str, typer.Argument(help="The queue, e.g. negotiation-engine (see `talentq queues`).")],
    payload: Annotated[str, typer.Argument(help="The payload, a JSON object: '{\"dealDraftId\": 1}'.")],
    job_id: Annotated[
        str | None, typer.Option(help="The job's id; a job with it already there wins.")
    ] = None,
    defer: Annotated[float, typer.Option(help="Seconds before it may run.", min=0)] = 0,
) -> None:
    """Enqueue one job through the validating client, as the web API does: a bad one is refused."""
    try:
        data = json.loads(payload)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"not JSON: {exc}", param_hint="PAYLOAD") from None

    async def go() -> str | None:
        async with _redis() as redis:
            return await Producer(redis).enqueue(queue, data, job_id=job_id, defer_by=defer)

    new_id = _run(go)
    if new_id is None:
        console.print(f"a job with id {job_id!r} is already there: nothing enqueued", markup=False)
    else:
        console.print(f"enqueued {queue} job {new_id}", markup=False, highlight=False)


@app.command()
def queues() -> None:
    """List the catalogue: every queue, its required fields, retry policy and status."""
    table = _table("queue", "required", "tries", "timeout", "status", whole=1)
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
    migrate.upgrade(get_settings().require_database_url(), revision)
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

    table = _table("job id", "queue", "reason", "error", "tries", "last failure", "state", whole=2)
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
        errors.print(str(exc), style="red", markup=False, highlight=False)
        raise typer.Exit(1) from exc
    console.print(f"replayed {job_id} as {new_id}", markup=False, highlight=False)


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
    table = _table("cron", "schedule", "status", "last run", "result", "enqueues", whole=2)
    for entry in CRONS:
        run = last.get(entry.name)
        status = f"disabled: {entry.disabled}" if entry.disabled else "active"
        when = f"{run.started_at:%Y-%m-%d %H:%M} {run.status}" if run else "never"
        result = (run.error or str(run.result)) if run else ""
        table.add_row(entry.name, entry.schedule, status, when, result[:60], ", ".join(entry.enqueues))
    console.print(table)


@approvals_app.command("list")
def approvals_list(
    user: Annotated[int | None, typer.Option(help="Only those this manager (user id) decides.")] = None,
    limit: int = 50,
) -> None:
    """Pending approvals, oldest first: what waits for a decision, for whom, until when."""

    async def fetch() -> list[Any]:
        async with _database() as engine, make_sessionmaker(engine)() as session:
            return await approvals.pending(session, approver_id=user, limit=limit)

    table = _table("id", "kind", "approver", "expires", "subject", whole=2)
    for row in _run(fetch):
        table.add_row(
            str(row.id),
            row.kind,
            f"user {row.requested_by_id}",
            f"{row.expires_at:%Y-%m-%d %H:%M}",
            row.subject,
        )
    console.print(table)


@approvals_app.command("show")
def approvals_show(approval_id: int) -> None:
    """One approval: its state, and the email it would send, in full."""

    async def fetch() -> Any:
        async with _database() as engine, make_sessionmaker(engine)() as session:
            return await approvals.get(session, approval_id)

    row = _run(fetch)
    decided = (
        f", decided {row.decided_at:%Y-%m-%d %H:%M} by user {row.decided_by_id}" if row.decided_at else ""
    )
    lines = [
        f"approval {row.id} ({row.kind}): {row.status}{decided}",
        f"approver: user {row.requested_by_id}; expires {row.expires_at:%Y-%m-%d %H:%M %Z}",
        f"subject: {row.subject}",
    ]
    if row.reason:
        lines.append(f"reason: {row.reason}")
    email = row.payload.get("sent") or row.payload.get("email")
    if isinstance(email, dict):
        lines += [
            "",
            f"To: {email.get('to')}",
            *([f"Reply-To: {email['replyTo']}"] if email.get("replyTo") else []),
            f"Subject: {email.get('subject')}",
            "",
            str(email.get("body", "")),
        ]
    console.print("\n".join(lines), markup=False, highlight=False, soft_wrap=True)


@approvals_app.command("approve")
def approvals_approve(
    approval_id: int,
    by: Annotated[int, typer.Option(help="The approving manager's user id.")],
    to: Annotated[str | None, typer.Option(help="Send to this address instead.")] = None,
    subject: Annotated[str | None, typer.Option(help="Send with this subject instead.")] = None,
    body: Annotated[str | None, typer.Option(help="Send this body instead.")] = None,
    body_file: Annotated[Path | None, typer.Option(help="Send the body in this file instead.")] = None,
) -> None:
    """Approve, optionally editing the email: it is enqueued once, under an id of the approval's."""
    if body_file is not None:
        body = body_file.read_text()
    edits = {k: v for k, v in {"to": to, "subject": subject, "body": body}.items() if v is not None}

    async def go() -> approvals.Decision:
        async with _database_and_redis() as (sessions, redis):
            return await approvals.approve(sessions, Producer(redis), approval_id, by=by, edits=edits)

    decision = _run(go)
    sent = f"; email job {decision.email_job_id}" if decision.email_job_id else ""
    again = " (already approved: nothing new sent)" if decision.already else ""
    console.print(f"approval {approval_id} approved{sent}{again}", markup=False, highlight=False)


@approvals_app.command("reject")
def approvals_reject(
    approval_id: int,
    by: Annotated[int, typer.Option(help="The deciding manager's user id.")],
    reason: Annotated[str, typer.Option(help="Why: kept with the approval (and the pitch).")],
) -> None:
    """Reject, saying why: nothing is sent."""

    async def go() -> approvals.Decision:
        async with _database() as engine:
            return await approvals.reject(make_sessionmaker(engine), approval_id, by=by, reason=reason)

    decision = _run(go)
    again = " (already rejected)" if decision.already else ""
    console.print(f"approval {approval_id} rejected{again}", markup=False, highlight=False)


@ai_app.command("eval")
def ai_eval(
    path: Annotated[Path, typer.Argument(help="A labelled JSONL file, or a directory of them.")],
    part: Annotated[str, typer.Option(help="all, dev or test (the corpus's fixed split).")] = "all",
    as_json: Annotated[bool, typer.Option("--json", help="The report as one JSON object.")] = False,
    misses: Annotated[int, typer.Option(help="List this many misses after the report.")] = 0,
) -> None:
    """Measure the configured AI provider (AI_PROVIDER) on labelled mail: triage, fees, deliverables."""
    if part not in PARTS:
        raise typer.BadParameter(f"{part!r} is not one of {', '.join(PARTS)}", param_hint="--part")
    settings = get_settings()
    messages = read_labelled(path, part)
    name = (
        "rules engine" if settings.ai_provider == "rules" else f"{settings.ai_provider} {settings.ai_model}"
    )

    async def measure() -> Report:
        async with httpx.AsyncClient(timeout=settings.http_timeout) as http:
            return await evaluate(make_ai_provider(settings, http), messages, name=f"{name}, {path} ({part})")

    report = _run(measure)
    if as_json:
        console.print_json(json.dumps(report.as_json()))
    else:
        console.print(render(report, misses=misses), markup=False, highlight=False)


if __name__ == "__main__":  # python -m talentq.cli, as the console script does
    app()
