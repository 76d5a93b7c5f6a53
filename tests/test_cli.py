"""The talentq command: catalogue listing, the startup check, dead letters, the cron summary."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
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
from talentq.settings import get_settings

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
    assert "refusing to start: worker registry has" in result.output
    assert f"queue {registry.BINDINGS[0][0]!r} is bound 2 times" in result.output


async def _seed_dead_letter(database_url: str) -> None:
    settings = service_settings(database_url=database_url)
    engine, redis = make_engine(settings), await create_redis(settings)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("TRUNCATE failed_jobs"))
        await redis.flushdb()
        dead = replace(letter("dead-1"), queue="inbox", payload={"messageId": 5})
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


def test_dev_starts_embedded_services_seeds_and_boots_the_whole_worker(tmp_path: Path) -> None:
    """`talentq dev --burst` with no URLs: embedded servers, migration, sample agency, a clean boot."""
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL"}}
    result = subprocess.run(
        [sys.executable, "-m", "talentq.cli", "dev", "--burst", "--data-dir", str(tmp_path / "dev")],
        capture_output=True,
        text=True,
        env={**env, "COLUMNS": "200", "LOG_LEVEL": "INFO"},
        cwd=tmp_path,  # no developer .env is read, nothing of theirs is migrated or seeded
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "embedded Redis serving unix://" in output
    assert "embedded PostgreSQL serving postgresql://" in output
    assert "sample agency created" in output
    # The startup check found every table of every queue and cron: the worker took the queue
    assert f"worker ready: lane arq:queue with {len(CATALOGUE)} queue(s) and 19 cron(s)" in output
    # And both embedded servers were stopped on the way out
    assert not (tmp_path / "dev" / "postgres" / "postmaster.pid").exists()
    assert not (tmp_path / "dev" / "redis" / "redis.sock").exists()


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
