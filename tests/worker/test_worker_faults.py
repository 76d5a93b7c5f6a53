"""talentq's worker loop under faults, as an operator would see them: real worker processes, real
Redis and PostgreSQL on loopback, counts taken from what the processors themselves recorded.

- Redis killed (SIGKILL, AOF on) and restarted on the same port after 2, 5, 20 and 60 s while 1,500
  jobs run: the worker stays up, every job runs once, none is lost.
- A worker SIGKILLed at 30 % of 2,000 emails: a new worker takes over the interrupted ones within
  seconds, and no email reaches the SMTP server twice.
- Malformed raw jobs beside good ones: each bad job is one dead letter naming its defect, all good
  jobs are done, the worker never stops.
- PostgreSQL hanging or refusing: jobs of other queues keep their pace; dead letters wait in Redis
  and land once it is back. A worker started without it waits for it.
- Four workers: every cron tick runs once in all, every job once.

The ``work`` queue (``tests/sample_app.py``) records each start and finish in PostgreSQL, which a
Redis fault does not touch; its worker is ``arq tests.sample_app.FaultWorkerSettings``, which runs
talentq's loop through the same seam as ``arq talentq.WorkerSettings``. The email and malformed-job
tests run the shipped worker itself (``talentq worker``, ``arq talentq.WorkerSettings``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import pickle
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from arq.connections import ArqRedis
from arq.constants import default_queue_name, in_progress_key_prefix, job_key_prefix
from arq.jobs import Job
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlmodel import col

from talentq.client import Producer
from talentq.db.engine import make_engine, make_sessionmaker
from talentq.db.models import FailedJob
from talentq.queues import CATALOGUE, RetryPolicy
from talentq.registry import BINDINGS
from talentq.serialization import MAX_JSON_DEPTH, deserialize
from talentq.worker.boot import worker_settings
from talentq.worker.loop import create

from ..conftest import REDIS_URL, service_settings, truncate_all
from ..processors.test_email_send import Recorder, smtp  # noqa: F401  (smtp: the aiosmtpd fixture)
from ..sample_app import FAULT_CATALOGUE, FAULT_EVENTS_DDL
from ..workers import (
    Processes,
    TcpProxy,
    arq_client,
    eventually,
    exit_status,
    free_port,
    logged,
    require_redis_server,
    start_private_redis,
    start_talentq_worker,
    start_worker,
    stop,
)

pytestmark = pytest.mark.integration

FAULT_WORKER = "tests.sample_app.FaultWorkerSettings"
TICK_WORKER = "tests.sample_app.TickWorkerSettings"


# --- what the processors recorded -------------------------------------------------------------------


@pytest.fixture
async def events(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to the test database with ``fault_events`` (what ``work`` and ``tick`` record) empty."""
    conn = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    await conn.execute(FAULT_EVENTS_DDL)
    await conn.execute("TRUNCATE fault_events, failed_jobs, outbound_emails, cron_runs")
    yield conn
    await conn.close()


async def counts(conn: asyncpg.Connection, event: str) -> dict[str, int]:
    """Key -> how many times ``event`` was recorded for it."""
    rows = await conn.fetch(
        "SELECT key, count(*) AS n FROM fault_events WHERE event = $1 GROUP BY key", event
    )
    return {row["key"]: row["n"] for row in rows}


async def dead_letters(conn: asyncpg.Connection) -> dict[str, asyncpg.Record]:
    return {row["job_id"]: row for row in await conn.fetch("SELECT * FROM failed_jobs")}


async def enqueue_work(pool: ArqRedis, keys: list[str], *, sleep: float, fail: bool = False) -> None:
    producer = Producer(pool, catalogue=FAULT_CATALOGUE)
    ids = await producer.enqueue_many(
        "work", [{"key": key, "sleep": sleep, "fail": fail} for key in keys], job_ids=keys
    )
    assert None not in ids


# --- Redis lost while busy --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "outage_s",
    [2, 5, 20, pytest.param(60, marks=pytest.mark.timeout(240))],
    ids=lambda s: f"{s}s",
)
@pytest.mark.timeout(120)
async def test_a_redis_outage_while_busy_loses_nothing_and_runs_nothing_twice(
    outage_s: int, database_url: str, processes: Processes, events: asyncpg.Connection, tmp_path: Path
) -> None:
    """Redis SIGKILLed mid-batch and restarted after the outage: the worker lives, every job runs once."""
    # Given 1,500 jobs of 0.2 s on a Redis of its own that writes every command to its AOF
    require_redis_server()
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    server = await start_private_redis(processes, port, tmp_path / "redis-data")
    keys = [f"w{n}" for n in range(1500)]
    async with arq_client(url) as pool:
        await enqueue_work(pool, keys, sleep=0.2)
    worker = start_worker(processes, FAULT_WORKER, url, database_url, LOG_LEVEL="INFO")

    async def done_at_least(n: int) -> bool:
        return sum((await counts(events, "done")).values()) >= n

    await eventually(lambda: done_at_least(300), within=30, what="300 jobs done", processes=processes)

    # When Redis is killed while ~100 jobs run, stays down, and comes back on the same port and data
    server.send_signal(signal.SIGKILL)
    server.wait(timeout=10)
    killed_at = time.monotonic()
    await asyncio.sleep(outage_s)
    assert worker.poll() is None, f"the worker died during the outage\n{processes.tails()}"
    await start_private_redis(processes, port, tmp_path / "redis-data")
    back_at = time.monotonic()

    # Then every job is done, each started once and finished once, and none is left in Redis
    await eventually(lambda: done_at_least(len(keys)), within=60, what="all 1,500 done", processes=processes)
    finished_in = time.monotonic() - back_at
    starts, dones = await counts(events, "start"), await counts(events, "done")
    assert {key: n for key, n in starts.items() if n != 1} == {}
    assert sorted(dones) == sorted(keys)
    assert set(dones.values()) == {1}
    async with arq_client(url) as pool:

        async def drained() -> bool:
            return not await pool.zcard(default_queue_name) and not await pool.keys(
                f"{in_progress_key_prefix}*"
            )

        await eventually(drained, within=15, what="the queue empty", processes=processes)
    assert worker.poll() is None, processes.tails()
    assert await dead_letters(events) == {}
    # And the worker said so: lost once, still down every 30 s, back with the outage's length
    log = processes.output("worker")
    assert log.count(f"Redis at 127.0.0.1:{port} lost") == 1, log[-3000:]
    assert log.count("still down after") == int((outage_s - 1) // 30)
    (back,) = [line for line in log.splitlines() if "is back after" in line]
    lasted = float(back.rsplit("after ", 1)[1].rstrip("s"))
    assert outage_s - 1 <= lasted <= back_at - killed_at + 3, back
    assert log.count("worker ready") == 1, "the worker restarted"
    print(
        f"\noutage {outage_s}s: survived, 0 lost, 0 run twice; "
        f"the rest done {finished_in:.1f}s after Redis came back"
    )


# --- a worker killed mid-batch ----------------------------------------------------------------------


def mail_settings(port: int) -> dict[str, str]:
    return {
        "MAIL_TRANSPORT": "smtp",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(port),
        "SMTP_SECURITY": "none",
        "MAIL_FROM": "Northstar Talent <agency@northstar-talent.test>",
        "LOG_LEVEL": "INFO",
    }


@pytest.mark.timeout(150)
async def test_a_killed_worker_s_jobs_are_taken_over_in_seconds_and_no_email_goes_twice(
    database_url: str,
    processes: Processes,
    events: asyncpg.Connection,
    smtp: tuple[Recorder, int],  # noqa: F811  (the fixture imported above)
    clean_test_redis: None,
) -> None:
    """SIGKILL at 30 % of 2,000 emails, a new `talentq worker`: all sent or recorded, none twice."""
    recorder, port = smtp
    # Given 2,000 emails for the shipped worker, sending to an SMTP server on loopback
    ids = [f"mail-{n}" for n in range(2000)]
    async with arq_client(REDIS_URL) as pool:
        producer = Producer(pool)
        mails = [
            {"to": f"brand{n}@example.test", "subject": f"Offer {n}", "body": "Hello"} for n in range(2000)
        ]
        assert None not in await producer.enqueue_many("email-send", mails, job_ids=ids)

        first = start_talentq_worker(processes, REDIS_URL, database_url, name="first", **mail_settings(port))

        async def sent_at_least(n: int) -> bool:
            return len(recorder.received) >= n

        await eventually(lambda: sent_at_least(600), within=60, what="600 emails sent", processes=processes)

        # When the worker is SIGKILLed in the middle of the batch
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        # (the in-progress keys of email jobs; a cron tick's outlives its run by a minute, by design)
        interrupted = sorted(
            job_id
            for key in await pool.keys(f"{in_progress_key_prefix}mail-*")
            if (job_id := key.decode().removeprefix(in_progress_key_prefix))
        )
        assert interrupted, "nothing was running when the worker was killed"

        # And a new worker starts
        second = start_talentq_worker(
            processes, REDIS_URL, database_url, name="second", **mail_settings(port)
        )

        # Then every interrupted job ends within 20 s of the new worker's start...
        async def interrupted_ended() -> bool:
            return not any([await pool.exists(job_key_prefix + job_id) for job_id in interrupted])

        took = await eventually(
            interrupted_ended, within=20, what="the interrupted jobs re-run", processes=processes
        )

        # ...and the whole batch drains: each email sent once, or dead-lettered saying it may have gone
        async def drained() -> bool:
            return not await pool.zcard(default_queue_name)

        await eventually(drained, within=60, what="the batch done", processes=processes)
        await stop(second, processes)

    # Then no email reached the server twice (the Message-ID is the job's)...
    received = [message["Message-ID"].strip("<>").split("@")[0] for message in recorder.received]
    twice = {job_id for job_id in received if received.count(job_id) > 1}
    assert twice == set(), f"sent twice: {sorted(twice)}"
    # ...and each is sent, or, cut off mid-handoff, marked uncertain and dead-lettered for a person
    rows = await events.fetch("SELECT job_id, status FROM outbound_emails")
    status = {row["job_id"]: row["status"] for row in rows}
    assert sorted(status) == sorted(ids)
    sent = {job_id for job_id, state in status.items() if state == "sent"}
    uncertain = {job_id for job_id, state in status.items() if state == "uncertain"}
    assert sent | uncertain == set(ids), set(status.values())
    assert sent <= set(received)
    assert set(await dead_letters(events)) == uncertain
    # And the new worker said which runs it took over from the lost one
    log = processes.output("second")
    missing = [j for j in interrupted if f"job {j} of email-send: a re-run after a lost worker" not in log]
    detail = "\n".join(
        line
        for line in log.splitlines() + processes.output("first").splitlines()
        if any(f" {j} " in line or f"{j}:" in line for j in missing)
    )
    assert missing == [], detail[-6000:]
    print(
        f"\nSIGKILL at 600/2000: {len(interrupted)} interrupted, re-run within {took:.1f}s of the new "
        "worker's "
        f"start; {len(sent)} sent once, {len(uncertain)} uncertain (dead-lettered), 0 sent twice"
    )


# --- malformed jobs ---------------------------------------------------------------------------------


def raw_job(**fields: Any) -> bytes:
    data: dict[str, Any] = {
        "t": 1,
        "f": "email-send",
        "a": [{"to": "a@b.co", "subject": "s", "body": "b"}],
        "k": {},
    }
    data["et"] = int(time.time() * 1000)
    data.update(fields)
    return json.dumps(data).encode()


def deep(levels: int) -> Any:
    value: Any = "x"
    for _ in range(levels):
        value = {"x": value}
    return value


#: Job id -> (raw job data, what its dead letter must say).
MALFORMED: dict[str, tuple[bytes, str]] = {
    "bad-t": (raw_job(t="oops"), '"t": expected an int'),
    "bad-et": (raw_job(et="oops"), '"et": expected an int'),
    "bad-f": (raw_job(f=["work"]), '"f": expected a function name'),
    "no-f": (b'{"a": [], "k": {}}', '"f" (the function) is missing'),
    "bad-a": (raw_job(a=5), '"a": expected a list, got 5'),
    "bad-k": (raw_job(k=[1]), '"k": expected an object, got [1]'),
    "unknown": (raw_job(f="send-email"), "no function 'send-email' in this worker"),
    "removed": (raw_job(f="deal-package", a=[{"dealPackageId": 4}]), "queue 'deal-package' was removed"),
    "deep-900": (
        raw_job(f="contract_finalisation", a=[{"userId": 1, "terms": deep(900)}]),
        f"JSON nested deeper than {MAX_JSON_DEPTH} levels",
    ),
    "deep-5000": (
        b'{"f": "inbox", "a": [' + b"[" * 5000 + b"]" * 5000 + b'], "k": {}}',
        "JSON nested deeper",
    ),
    "pickle": (pickle.dumps({"f": "email-send", "a": (), "k": {}, "t": 1, "et": 0}), "not JSON"),
    "not-json": (b"\xff\xfe garbage", "not JSON"),
    "a-list": (b"[1, 2, 3]", "job data must be a JSON object, got list"),
}


@pytest.mark.timeout(90)
async def test_malformed_jobs_are_dead_lettered_naming_their_defect_and_good_ones_run(
    database_url: str, processes: Processes, events: asyncpg.Connection, clean_test_redis: None
) -> None:
    """`arq talentq.WorkerSettings` beside 200 good emails: each bad job one dead letter, nothing crashes."""
    async with arq_client(REDIS_URL) as pool:
        # Given malformed raw jobs written straight into Redis, as any producer could, and good ones
        now_ms = int(time.time() * 1000)
        for job_id, (raw, _) in MALFORMED.items():
            await pool.psetex(job_key_prefix + job_id, 600_000, raw)
            await pool.zadd(default_queue_name, {job_id: now_ms})
        producer = Producer(pool)
        good = [f"good-{n}" for n in range(200)]
        mails = [{"to": f"brand{n}@example.test", "subject": "Hi", "body": "Hello"} for n in range(200)]
        assert None not in await producer.enqueue_many("email-send", mails, job_ids=good)

        # When the shipped worker runs them
        argv_env = {"MAIL_TRANSPORT": "log", "LOG_LEVEL": "INFO"}
        worker = start_worker(processes, "talentq.WorkerSettings", REDIS_URL, database_url, **argv_env)

        async def drained() -> bool:
            return not await pool.zcard(default_queue_name)

        await eventually(drained, within=60, what="every job handled", processes=processes)

        # Then it is still running, each bad job is one dead letter naming its defect, good ones sent
        assert worker.poll() is None, processes.tails()
        letters = await dead_letters(events)
        assert set(letters) == set(MALFORMED), set(letters) ^ set(MALFORMED)
        for job_id, (_, defect) in MALFORMED.items():
            assert defect in letters[job_id]["message"], (job_id, letters[job_id]["message"])
            assert letters[job_id]["reason"] == "malformed"
        sent = await events.fetchval("SELECT count(*) FROM outbound_emails WHERE status = 'sent'")
        assert sent == 200
        # And nothing of the bad jobs is left behind in Redis
        for job_id in MALFORMED:
            assert not await pool.exists(job_key_prefix + job_id, in_progress_key_prefix + job_id)
        await stop(worker, processes)


# --- PostgreSQL hanging or down ---------------------------------------------------------------------


@pytest.fixture
async def pg_proxy() -> AsyncIterator[TcpProxy]:
    """A proxy in front of the test PostgreSQL that the test can make hang or refuse."""
    proxy = TcpProxy("127.0.0.1", 5432)
    await proxy.start()
    yield proxy
    await proxy.stop()


def through(proxy: TcpProxy, database_url: str) -> str:
    return database_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")


@pytest.mark.timeout(150)
async def test_postgres_hanging_or_down_slows_no_other_queue_and_loses_no_dead_letter(
    database_url: str,
    processes: Processes,
    events: asyncpg.Connection,
    pg_proxy: TcpProxy,
    clean_test_redis: None,
) -> None:
    """Good probe jobs keep 80 %+ of their pace while PostgreSQL hangs or refuses; dead letters land later."""
    if "127.0.0.1:5432" not in database_url:
        pytest.skip("needs the machine's PostgreSQL on 127.0.0.1:5432 to put a proxy in front of")
    worker = start_worker(
        processes,
        FAULT_WORKER,
        REDIS_URL,
        through(pg_proxy, database_url),
        LOG_LEVEL="INFO",
        DEAD_LETTER_FLUSH_INTERVAL="2",
    )
    await logged(processes, "worker", "worker ready")
    paces: dict[str, float] = {}
    async with arq_client(REDIS_URL) as pool:
        producer = Producer(pool, catalogue=FAULT_CATALOGUE)

        async def phase(name: str, mode: str) -> None:
            # 2,000 good jobs of 0.1 s (Redis only) beside 20 that fail for good (a dead letter each)
            await pg_proxy.set_mode(mode)
            failing = [f"{name}-fail-{n}" for n in range(20)]
            await enqueue_work(pool, failing, sleep=0, fail=True)
            keys = [f"{name}-{n}" for n in range(2000)]
            begun = time.monotonic()
            await producer.enqueue_many("probe", [{"key": key, "sleep": 0.1} for key in keys])

            async def all_done() -> bool:
                return not await pool.zcard(default_queue_name)

            await eventually(all_done, within=60, what=f"{name}: all jobs done", processes=processes)
            paces[name] = len(keys) / (time.monotonic() - begun)

        # Each fault sits between two healthy phases and is compared with their mean, so that a
        # burst of load from elsewhere on the machine slows the control as well as the fault.
        await phase("healthy", "pass")
        await phase("hanging", "hang")
        await phase("healthy-2", "pass")
        await phase("down", "refuse")
        await phase("healthy-3", "pass")
        assert worker.poll() is None, processes.tails()

        # Then the good jobs kept their pace, within 20 %
        controls = {"hanging": ("healthy", "healthy-2"), "down": ("healthy-2", "healthy-3")}
        for name, (before, after) in controls.items():
            assert paces[name] >= 0.8 * (paces[before] + paces[after]) / 2, paces

        # And once PostgreSQL is back, every dead letter lands in it
        await pg_proxy.set_mode("pass")

        async def landed() -> bool:
            return len(await dead_letters(events)) == 100

        took = await eventually(landed, within=30, what="100 dead letters in PostgreSQL", processes=processes)
    await stop(worker, processes)
    print(
        f"\npace (jobs/s): {', '.join(f'{k} {v:.0f}' for k, v in paces.items())}; "
        f"dead letters landed in {took:.1f}s"
    )


@pytest.mark.timeout(90)
async def test_a_worker_started_without_postgres_waits_for_it(
    database_url: str,
    processes: Processes,
    events: asyncpg.Connection,
    pg_proxy: TcpProxy,
    clean_test_redis: None,
) -> None:
    """PostgreSQL down at start: the worker does not exit, takes no job, is not healthy; then it starts."""
    if "127.0.0.1:5432" not in database_url:
        pytest.skip("needs the machine's PostgreSQL on 127.0.0.1:5432 to put a proxy in front of")
    await pg_proxy.set_mode("refuse")
    async with arq_client(REDIS_URL) as pool:
        await enqueue_work(pool, ["early"], sleep=0)
        worker = start_worker(
            processes, FAULT_WORKER, REDIS_URL, through(pg_proxy, database_url), LOG_LEVEL="INFO"
        )
        await logged(processes, "worker", "not ready: waiting for it before taking any job")
        await asyncio.sleep(2)
        assert worker.poll() is None, processes.tails()
        assert "worker ready" not in processes.output("worker")
        assert not await pool.exists(f"{default_queue_name}:health-check")  # arq --check: not healthy
        assert await pool.zcard(default_queue_name) == 1

        # When PostgreSQL comes back, Then the worker starts and runs the job
        await pg_proxy.set_mode("pass")
        await logged(processes, "worker", "worker ready")

        async def ran() -> bool:
            return (await counts(events, "done")).get("early") == 1

        await eventually(ran, within=20, what="the early job done", processes=processes)
        assert await stop(worker, processes) == 0


# --- several workers --------------------------------------------------------------------------------


@pytest.mark.timeout(120)
async def test_four_workers_run_each_cron_tick_once_and_each_job_once(
    database_url: str, processes: Processes, events: asyncpg.Connection, clean_test_redis: None
) -> None:
    """Four workers, a cron every second and 2,000 jobs: each tick ran once in all, each job once."""
    async with arq_client(REDIS_URL) as pool:
        keys = [f"j{n}" for n in range(2000)]
        await enqueue_work(pool, keys, sleep=0.01)
        workers = [
            start_worker(
                processes, TICK_WORKER, REDIS_URL, database_url, name=f"worker-{n}", LOG_LEVEL="INFO"
            )
            for n in range(4)
        ]

        async def done() -> bool:
            return len(await counts(events, "done")) == len(keys)

        await eventually(done, within=60, what="2,000 jobs done", processes=processes)
        await asyncio.sleep(5)  # and some more ticks
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            assert await exit_status(worker, processes, within=30) == 0

    starts, dones = await counts(events, "start"), await counts(events, "done")
    assert set(starts.values()) == {1}
    assert set(dones.values()) == {1}
    assert sorted(dones) == sorted(keys)
    ticks = await counts(events, "run")
    assert len(ticks) >= 5, ticks
    assert set(ticks.values()) == {1}, {tick: n for tick, n in ticks.items() if n != 1}
    runs = await events.fetch(
        "SELECT scheduled_at, count(*) AS n FROM cron_runs WHERE name = 'tick' GROUP BY 1"
    )
    assert {row["n"] for row in runs} == {1}
    assert len(runs) == len(ticks)
    # And every worker took part in the jobs
    took_part = await events.fetchval("SELECT count(DISTINCT pid) FROM fault_events WHERE event = 'start'")
    assert took_part == 4
    print(f"\n4 workers: {len(ticks)} ticks, each run once; 2,000 jobs, each once")


# --- any envelope, any payload ----------------------------------------------------------------------

JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**12), 10**12), st.floats(allow_nan=False), st.text(max_size=12)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=10,
)
#: The catalogue's id fields, and each payload field with values a producer might send: right,
#: wrong or odd.
ID_FIELDS: tuple[str, ...] = (
    "actionId",
    "brandId",
    "contractId",
    "dealDraftId",
    "deliverableId",
    "messageId",
)
ID_FIELDS += ("sessionId", "talentId", "taskId", "userId")
FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    **{name: st.one_of(st.integers(-1, 4), JSON_SCALARS) for name in ID_FIELDS},
    "to": st.sampled_from(["a@b.co", "Maya Okafor <maya@agency.test>", "not-an-email", "", "a@b@c"]),
    "replyTo": st.sampled_from(["x@y.co", "nope"]),
    "subject": st.text(max_size=20),
    "body": st.text(max_size=40),
    "html": st.one_of(st.none(), st.text(max_size=20)),
    "content": st.text(max_size=40),
    "brandName": st.text(max_size=12),
    "brandPrediction": st.one_of(st.fixed_dictionaries({"brandName": st.text(max_size=8)}), JSON_VALUES),
    "terms": st.one_of(
        st.dictionaries(st.sampled_from(["feeMinor", "currency", "x"]), JSON_VALUES, max_size=3), JSON_VALUES
    ),
    "fullSync": st.booleans(),
    "submittedAt": st.sampled_from(["2026-03-02T09:00:00+00:00", "2026-03-02", "yesterday"]),
}
PAYLOADS = st.dictionaries(st.sampled_from(sorted(FIELD_VALUES)), JSON_SCALARS, max_size=4).flatmap(
    lambda keys: st.fixed_dictionaries({key: FIELD_VALUES[key] for key in keys})
)
FUNCTIONS = st.one_of(st.sampled_from([*CATALOGUE, "deal-package", "send-email"]), JSON_SCALARS, JSON_VALUES)
ENVELOPES = st.fixed_dictionaries(
    {
        "f": FUNCTIONS,
        "a": st.one_of(st.lists(PAYLOADS, min_size=1, max_size=1), JSON_VALUES),
        "k": st.one_of(st.just({}), PAYLOADS, JSON_VALUES),
        "t": st.one_of(st.none(), st.integers(-2, 6), JSON_SCALARS),
        "et": st.one_of(st.just(1_764_316_800_000), st.none(), JSON_SCALARS),
    },
    optional={"x": JSON_VALUES},
)
RAW_JOBS = st.one_of(ENVELOPES.map(lambda env: json.dumps(env).encode()), st.binary(max_size=40))


@pytest.mark.timeout(180)
@settings(max_examples=12, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.lists(RAW_JOBS, min_size=15, max_size=40))
def test_any_job_data_ends_with_a_result_or_one_dead_letter(batch: list[bytes], database_url: str) -> None:
    """Hypothesis over arq's envelope and every queue's payload: the loop never stops, nothing is silent."""
    asyncio.run(_run_raw_jobs(batch, database_url))


async def _run_raw_jobs(batch: list[bytes], database_url: str) -> None:
    settings_ = service_settings(database_url=database_url, mail_transport="log", log_level="WARNING")
    engine = make_engine(settings_)
    await truncate_all(engine)
    fast = {
        name: dataclasses.replace(spec, retry=RetryPolicy(2, 0.01, 0.02)) for name, spec in CATALOGUE.items()
    }
    async with arq_client(REDIS_URL) as pool:
        await pool.flushdb()
        ids = [f"raw-{n}" for n in range(len(batch))]
        for job_id, raw in zip(ids, batch, strict=True):
            await pool.psetex(job_key_prefix + job_id, 600_000, raw)
            await pool.zadd(default_queue_name, {job_id: 1})
        cls = worker_settings(BINDINGS, (), catalogue=fast, settings=settings_, configure_logs=False)
        worker = create(cls, burst=True, handle_signals=False, redis_pool=pool)
        try:
            await asyncio.wait_for(worker.async_run(), 120)
        finally:
            worker.ctx.pop("redis", None)
            await worker.on_shutdown(worker.ctx)  # type: ignore[misc]  # its engine and HTTP client
        async with make_sessionmaker(engine)() as session:
            letters = Counter((await session.execute(select(col(FailedJob.job_id)))).scalars())
        for job_id in ids:
            info = await Job(job_id, pool, _deserializer=deserialize).result_info()
            succeeded = info is not None and info.success
            assert succeeded or letters[job_id] == 1, (job_id, info, batch[ids.index(job_id)][:300])
            assert not (succeeded and letters[job_id]), job_id
            assert not await pool.exists(job_key_prefix + job_id, in_progress_key_prefix + job_id)
        assert await pool.zcard(default_queue_name) == 0
        await pool.flushdb()
    await engine.dispose()
