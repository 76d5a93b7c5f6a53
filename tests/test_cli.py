"""The talentq command: catalogue listing, the startup check, dead letters, the cron summary."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from arq.constants import in_progress_key_prefix, result_key_prefix
from redis.asyncio import Redis
from sqlalchemy import text
from typer.testing import CliRunner

from talentq import registry
from talentq.cli import app
from talentq.client import create_redis
from talentq.cron import CronEntry
from talentq.db.engine import make_engine, make_sessionmaker
from talentq.deadletter import DeadLetterStore
from talentq.jobs import JobContext
from talentq.queues import CATALOGUE
from talentq.settings import Settings, get_settings

from .conftest import REDIS_URL, service_settings, truncate_all
from .test_deadletter import letter

runner = CliRunner()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, database_url: str) -> Iterator[None]:
    """The CLI reads its settings from the environment, pointed at the test services."""
    monkeypatch.setenv("REDIS_URL", REDIS_URL)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_queues_lists_the_catalogue() -> None:
    """`talentq queues` shows all 21 queues with their required fields and status."""
    result = runner.invoke(app, ["queues"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for name in CATALOGUE:
        assert name in result.output
    assert "dealDraftId" in result.output
    assert "disabled: the social feature is disabled" in result.output


@pytest.mark.parametrize("columns", ["80", "100"])
def test_queues_fits_a_narrow_terminal_without_cutting_a_name(columns: str) -> None:
    """At 80 and 100 columns every queue name is whole (other columns wrap), no line is wider."""
    result = runner.invoke(app, ["queues"], env={"COLUMNS": columns})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= int(columns)
    for name in CATALOGUE:
        assert any(f"│ {name} " in line for line in lines), name


@pytest.mark.integration
@pytest.mark.usefixtures("env")
def test_enqueue_goes_through_the_validating_client() -> None:
    """`talentq enqueue QUEUE JSON`: queued under its id; unknown queues, bad addresses, bad JSON refused."""
    queued = runner.invoke(app, ["enqueue", "brand-crm", '{"userId": 1, "brandId": 2}', "--job-id", "crm-1"])
    assert queued.exit_code == 0, queued.output
    assert queued.output == "enqueued brand-crm job crm-1\n"
    again = runner.invoke(app, ["enqueue", "brand-crm", '{"userId": 1, "brandId": 2}', "--job-id", "crm-1"])
    assert again.output == "a job with id 'crm-1' is already there: nothing enqueued\n"

    unknown = runner.invoke(app, ["enqueue", "send-email", "{}"], env={"COLUMNS": "200"})
    assert unknown.exit_code == 1
    assert "unknown queue; did you mean 'email-send'? (the queues: gmail-ingest, " in unknown.output
    bad_address = runner.invoke(
        app, ["enqueue", "email-send", '{"to": "not-an-email", "subject": "Hi", "body": "Hello"}']
    )
    assert bad_address.exit_code == 1
    assert "to: Value error, address 'not-an-email' is malformed" in bad_address.output
    not_json = runner.invoke(app, ["enqueue", "inbox", "{messageId: 1}"])
    assert not_json.exit_code == 2
    assert "not JSON" in not_json.output
    assert asyncio.run(_queued(get_settings().require_database_url())) == 1


@pytest.mark.integration
@pytest.mark.usefixtures("env")
def test_check_passes_on_the_shipped_registry_and_a_migrated_database() -> None:
    """`talentq check` on the shipped registry and a migrated database: all 21 queues, 19 crons, ok."""
    result = runner.invoke(app, ["check"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert f"registry ok: {len(CATALOGUE)} queues, 19 crons, all tables present" in result.output


def test_check_exits_non_zero_naming_a_dead_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    """`talentq check` fails like the worker would, naming the queue nothing consumes."""
    monkeypatch.setattr(registry, "BINDINGS", tuple(b for b in registry.BINDINGS if b[0] != "brand-crm"))
    result = runner.invoke(app, ["check"], env={"COLUMNS": "200"})
    assert result.exit_code == 1
    assert "queue 'brand-crm' has no processor" in result.output


def test_worker_refuses_to_start_with_a_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    """`talentq worker` prints the registry's problems and exits 1 instead of starting."""
    monkeypatch.setattr(registry, "BINDINGS", (*registry.BINDINGS, registry.BINDINGS[0]))
    result = runner.invoke(app, ["worker", "--burst"], env={"COLUMNS": "200"})
    assert result.exit_code == 1
    assert "worker registry has 1 problem(s)" in result.output
    assert f"queue {registry.BINDINGS[0][0]!r} is bound 2 times" in result.output


async def _seed_dead_letter(database_url: str, job_id: str = "dead-1") -> None:
    settings = service_settings(database_url=database_url)
    engine, redis = make_engine(settings), await create_redis(settings)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("TRUNCATE failed_jobs"))
        await redis.flushdb()
        dead = replace(letter(job_id), queue="inbox", payload={"messageId": 5})
        await DeadLetterStore(make_sessionmaker(engine), redis).record(dead)
    finally:
        await redis.aclose(close_connection_pool=True)
        await engine.dispose()


async def _queued(database_url: str) -> int:
    redis = await create_redis(service_settings(database_url=database_url))
    try:
        return int(await redis.zcard("arq:queue"))
    finally:
        await redis.flushdb()
        await redis.aclose(close_connection_pool=True)


@pytest.mark.integration
@pytest.mark.usefixtures("env")
def test_dead_letters_list_and_replay(database_url: str) -> None:
    """A dead letter is listed, replayed once under a new id, and refused a second replay."""
    asyncio.run(_seed_dead_letter(database_url))

    listed = runner.invoke(app, ["dead-letters", "list"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0, listed.output
    assert "dead-1" in listed.output
    assert "inbox" in listed.output

    replayed = runner.invoke(app, ["dead-letters", "replay", "dead-1"])
    assert replayed.exit_code == 0, replayed.output
    assert "replayed dead-1 as dead-1:replay:" in replayed.output
    assert asyncio.run(_queued(database_url)) == 1

    again = runner.invoke(app, ["dead-letters", "replay", "dead-1"])
    assert again.exit_code == 1
    assert "already replayed" in again.output
    unknown = runner.invoke(app, ["dead-letters", "replay", "nope"])
    assert unknown.exit_code == 1
    assert "no dead letter with job id 'nope'" in unknown.output
    # A replayed job that dies again is listed under its long id, whole at 100 columns: copyable
    new_id = replayed.output.split(" as ")[1].strip()
    asyncio.run(_seed_dead_letter(database_url, job_id=new_id))
    narrow = runner.invoke(app, ["dead-letters", "list"], env={"COLUMNS": "100"})
    assert narrow.exit_code == 0, narrow.output
    assert f"│ {new_id} " in narrow.output
    assert max(len(line) for line in narrow.output.splitlines()) <= 100


async def _seed_cron_run(database_url: str) -> None:
    engine = make_engine(url=database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("TRUNCATE cron_runs"))
            await conn.execute(
                text(
                    "INSERT INTO cron_runs (name, scheduled_at, started_at, finished_at, status, result) "
                    "VALUES ('nightly', now(), now(), now(), 'ok', '{\"count\": 4}')"
                )
            )
    finally:
        await engine.dispose()


async def _nothing(ctx: JobContext) -> int:
    return 0


@pytest.mark.integration
@pytest.mark.usefixtures("env")
def test_cron_list_shows_each_entry_with_its_last_run(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`talentq cron list` is the seed's health summary: schedule, status, last run and result."""
    crons = (
        CronEntry("nightly", "0 8 * * *", _nothing),
        CronEntry("deal-cleanup", "0 4 * * *", None, disabled="dealDraft model removed"),
    )
    monkeypatch.setattr("talentq.cli.CRONS", crons)
    asyncio.run(_seed_cron_run(database_url))

    listed = runner.invoke(app, ["cron", "list"], env={"COLUMNS": "200"})

    assert listed.exit_code == 0, listed.output
    nightly = next(line for line in listed.output.splitlines() if "nightly" in line)
    assert "0 8 * * *" in nightly
    assert "active" in nightly
    assert " ok " in nightly
    assert "'count': 4" in nightly
    cleanup = next(line for line in listed.output.splitlines() if "deal-cleanup" in line)
    assert "disabled: dealDraft model removed" in cleanup
    assert "never" in cleanup


@pytest.mark.integration
@pytest.mark.usefixtures("env")
def test_db_upgrade_is_idempotent() -> None:
    """`talentq db upgrade` on a migrated database succeeds and changes nothing."""
    upgraded = runner.invoke(app, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    assert "database at head" in upgraded.output


def _newcomer_env(**extra: str) -> dict[str, str]:
    """The environment of a newcomer's shell: none of talentq's settings set."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
    env.pop("TALENTQ_DEBUG", None)
    return {**env, "COLUMNS": "100", **extra}


def _read_env_file(path: Path) -> dict[str, str]:
    """The variables a `. .talentq-dev/env` would export."""
    exported = {}
    for line in path.read_text().splitlines():
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            (exported[name],) = shlex.split(value)
    return exported


async def _wait_until_drained(redis_url: str, seconds: float) -> None:
    """Until no job waits or runs (polled: the worker is another process).

    A finished cron tick keeps its in-progress key for a while on purpose (so that a second worker
    does not run the same tick), so "running" is an in-progress key without a result: a test that
    crosses the hour, when the dev worker's crons fire, must not wait for those keys to expire.
    """
    redis = Redis.from_url(redis_url)

    async def unfinished() -> tuple[list[tuple[bytes, float]], list[bytes]]:
        queued = await redis.zrange("arq:queue", 0, -1, withscores=True)
        running = [
            key
            for key in await redis.keys(f"{in_progress_key_prefix}*")
            if not await redis.exists(result_key_prefix + key.decode().removeprefix(in_progress_key_prefix))
        ]
        return queued, running

    try:
        for _ in range(round(seconds * 10)):
            queued, running = await unfinished()
            if not (queued or running):
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"jobs still queued or running after {seconds}s: {queued=} {running=}")
    finally:
        await redis.aclose()


def test_dev_as_the_readme_says_then_a_second_shell_enqueues_the_jobs_it_offers(tmp_path: Path) -> None:
    """`talentq dev` with nothing set in a fresh directory; a second shell sources its env, runs its tries.

    Exactly the README's command: the default data dir (relative), the working directory's. The
    guide it prints holds the export lines and the jobs to try; each of them, enqueued from another
    shell through `talentq enqueue`, runs to the end, and Ctrl-C stops everything and cleans up.
    """
    talentq = str(Path(sys.executable).with_name("talentq"))
    dev = subprocess.Popen(
        [talentq, "dev"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_newcomer_env(LOG_LEVEL="INFO"),
        cwd=tmp_path,  # no developer .env is read, nothing of theirs is migrated or seeded
    )
    lines: list[str] = []
    # What the worker logs once ready, read all along: a full pipe would block its logging, and so
    # its jobs.
    later: list[str] = []
    reader = threading.Thread(target=later.extend, args=(dev.stdout,), daemon=True)
    try:
        assert dev.stdout is not None
        for line in dev.stdout:
            lines.append(line)
            if "worker ready" in line:
                break
        reader.start()
        output = "".join(lines)
        assert "worker ready: lane arq:queue with 21 queue(s) and 19 cron(s)" in output, output
        assert "sample agency created" in output
        env_file = tmp_path / ".talentq-dev" / "env"
        assert f". {env_file}" in output
        second_shell = _read_env_file(env_file)
        assert set(second_shell) == {"REDIS_URL", "DATABASE_URL"}
        for name, url in second_shell.items():
            assert f"export {name}={shlex.quote(url)}" in output  # the lines to paste, whole
        tries = re.findall(r"talentq enqueue \S+ '[^']*'", output)
        assert {shlex.split(line)[2] for line in tries} >= {"negotiation-engine", "inbox", "brand-crm"}
        assert all(len(line.rstrip("\n")) <= 100 for line in lines if "talentq enqueue" in line)

        # When a second shell, with the env file's variables, checks and enqueues every try
        shell = _newcomer_env(**second_shell)
        checked = subprocess.run([talentq, "check"], capture_output=True, text=True, env=shell, check=False)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        for line in tries:
            done = subprocess.run(
                [talentq, *shlex.split(line)[1:]], capture_output=True, text=True, env=shell, check=False
            )
            assert done.returncode == 0, done.stdout + done.stderr
            assert done.stdout.startswith(f"enqueued {shlex.split(line)[2]} job ")
        # And a pending approval the guide offers is approved there: its email goes out once
        approve = re.findall(r"talentq approvals approve \d+ --by \d+", output)
        assert approve, output
        approved = subprocess.run(
            [talentq, *shlex.split(approve[0])[1:]], capture_output=True, text=True, env=shell, check=False
        )
        assert approved.returncode == 0, approved.stdout + approved.stderr
        assert "approved; email job email-send:approval:" in approved.stdout
        asyncio.run(_wait_until_drained(second_shell["REDIS_URL"], 30))

        # Then every job ran to the end: no dead letter
        listed = subprocess.run(
            [talentq, "dead-letters", "list"], capture_output=True, text=True, env=shell, check=False
        )
        assert listed.returncode == 0, listed.stderr
        assert "dead" not in listed.stdout.split("state", 1)[1], listed.stdout
    except AssertionError as failed:
        dev.send_signal(signal.SIGINT)
        dev.wait(timeout=60)
        raise AssertionError(f"{failed}\n--- talentq dev said:\n{''.join(lines + later)}") from failed
    finally:
        if dev.returncode is None:
            dev.send_signal(signal.SIGINT)
            dev.wait(timeout=60)
        if reader.is_alive():
            reader.join(timeout=10)
        if dev.stdout is not None:
            dev.stdout.close()
    rest = "".join(later)
    # And Ctrl-C stopped the worker and both servers, and took the env file with them
    assert dev.returncode == 0, "".join(lines) + rest
    assert not (tmp_path / ".talentq-dev" / "postgres" / "postmaster.pid").exists()
    assert not (tmp_path / ".talentq-dev" / "redis" / "redis.sock").exists()
    assert not (tmp_path / ".talentq-dev" / "env").exists()


@pytest.mark.integration
@pytest.mark.usefixtures("env")
def test_seed_command_creates_once(database_url: str) -> None:
    """`talentq seed` creates the sample agency, then says there is nothing to add."""
    asyncio.run(_truncate_all(database_url))
    first = runner.invoke(app, ["seed"], env={"COLUMNS": "200"})
    assert first.exit_code == 0, first.output
    assert "sample agency created: 3 users, 12 talents, 10 brands" in first.output
    again = runner.invoke(app, ["seed"], env={"COLUMNS": "200"})
    assert again.exit_code == 0, again.output
    assert "nothing added: the sample agency is already there" in again.output
    asyncio.run(_truncate_all(database_url))


async def _truncate_all(database_url: str) -> None:
    engine = make_engine(url=database_url)
    try:
        await truncate_all(engine)
    finally:
        await engine.dispose()


def test_python_dash_m_knows_every_command_the_console_script_does() -> None:
    """`python -m talentq.cli` runs the app once all its commands are defined (``ai eval`` came last)."""
    command = [sys.executable, "-m", "talentq.cli", "ai", "eval", "--help"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "labelled" in done.stdout
