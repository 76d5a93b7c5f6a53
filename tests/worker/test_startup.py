"""The worker's startup: no job is taken when a declared table is missing or a client is half configured."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import asyncpg
import pytest
from arq.connections import ArqRedis

from talentq.cron import CronEntry
from talentq.db.tables import Deal, Talent
from talentq.errors import ConfigError, RegistryError
from talentq.jobs import JobContext, uses_tables

from ..conftest import REDIS_URL, MakeWorker, service_settings
from ..sample_app import CATALOGUE, Probe, probe

pytestmark = pytest.mark.integration


# The seed's models that outlived their schema: code declaring them must not boot.
@uses_tables("deal_drafts", "deal_packages")
async def needs_removed_models(ctx: JobContext, payload: Probe) -> object:
    return await probe(ctx, payload)


async def nightly(ctx: JobContext) -> int:
    return 0


async def test_missing_declared_table_refuses_boot_naming_table_and_queue(
    make_worker: MakeWorker, redis: ArqRedis
) -> None:
    """A processor declaring tables the database lacks stops the worker before it takes a job."""
    # Given a queued job for a processor that declares two tables this database does not have
    await redis.enqueue_job("probe", {"key": "never"}, _job_id="never")
    crons = [CronEntry("nightly", "0 3 * * *", nightly, tables=frozenset({"deal_threads"}))]
    worker = make_worker([("probe", needs_removed_models)], crons, catalogue=CATALOGUE)

    # When the worker starts, Then it refuses with one error naming each table and who needs it
    with pytest.raises(RegistryError) as caught:
        await worker.async_run()
    fix = "(run `talentq db upgrade`)"
    assert caught.value.problems == [
        f"table 'deal_drafts' is missing from the database, needed by queue 'probe' {fix}",
        f"table 'deal_packages' is missing from the database, needed by queue 'probe' {fix}",
        f"table 'deal_threads' is missing from the database, needed by cron 'nightly' {fix}",
    ]
    # And the job was not taken
    assert await redis.get("probe:never:calls") is None
    assert await redis.zcard("arq:queue") == 1


@uses_tables(Deal, Talent)
async def reads_deals(ctx: JobContext, payload: Probe) -> object:
    return await probe(ctx, payload)


async def test_dropped_domain_table_refuses_boot_naming_it_and_its_queue(
    make_worker: MakeWorker, scratch_url: str
) -> None:
    """A database that lost a table a processor declares: the worker refuses, naming table and queue."""
    conn = await asyncpg.connect(scratch_url)
    await conn.execute("DROP TABLE deals CASCADE")
    await conn.close()
    worker = make_worker(
        [("probe", reads_deals)], catalogue=CATALOGUE, settings_=service_settings(database_url=scratch_url)
    )
    with pytest.raises(RegistryError) as caught:
        await worker.async_run()
    assert caught.value.problems == [
        "table 'deals' is missing from the database, needed by queue 'probe' (run `talentq db upgrade`)"
    ]


async def test_dropped_core_table_refuses_boot(make_worker: MakeWorker, scratch_url: str) -> None:
    """A database that lost the dead-letter table cannot run the wrapper: the worker refuses to boot."""
    conn = await asyncpg.connect(scratch_url)
    await conn.execute("DROP TABLE failed_jobs")
    await conn.close()
    worker = make_worker(
        [("probe", probe)], catalogue=CATALOGUE, settings_=service_settings(database_url=scratch_url)
    )
    with pytest.raises(
        RegistryError, match="table 'failed_jobs' is missing from the database, needed by the worker core"
    ):
        await worker.async_run()


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ({"ai_provider": "openai", "ai_base_url": "https://api.example.test/v1"}, "AI_API_KEY, AI_MODEL"),
        ({"mail_transport": "smtp", "smtp_host": None}, "SMTP_HOST"),
        ({"whatsapp_api_url": "https://wa.example.test"}, "WHATSAPP_API_TOKEN"),
    ],
    ids=["ai", "smtp", "whatsapp"],
)
async def test_a_half_configured_client_refuses_boot_naming_its_settings(
    make_worker: MakeWorker, redis: ArqRedis, setting: dict[str, object], named: str
) -> None:
    """Clients are built once at startup: one missing what it needs stops the boot, before any job."""
    await redis.enqueue_job("probe", {"key": "never"}, _job_id="never")
    worker = make_worker([("probe", probe)], catalogue=CATALOGUE, settings_=service_settings(**setting))

    with pytest.raises(ConfigError, match=named):
        await worker.async_run()
    assert await redis.get("probe:never:calls") is None


async def test_complete_database_boots(make_worker: MakeWorker, redis: ArqRedis) -> None:
    """With every table present the same worker starts and runs the job."""
    await redis.enqueue_job("probe", {"key": "fine"}, _job_id="fine")
    await make_worker([("probe", probe)], catalogue=CATALOGUE).async_run()
    assert await redis.get("probe:fine:calls") == b"1"


async def test_the_shipped_worker_boots_clean_on_a_migrated_database(
    redis: ArqRedis, database_url: str, tmp_path: Path
) -> None:
    """`arq talentq.WorkerSettings --burst`, as production runs it: the startup check finds nothing."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(("REDIS", "DATABASE"))}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "arq",
        "talentq.WorkerSettings",
        "--burst",
        cwd=tmp_path,  # no developer .env
        env={**env, "REDIS_URL": REDIS_URL, "DATABASE_URL": database_url, "LOG_LEVEL": "INFO"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=45)
    output = out.decode()
    assert proc.returncode == 0, output
    assert "worker ready: lane arq:queue with 21 queue(s) and 19 cron(s)" in output
    assert "missing" not in output
