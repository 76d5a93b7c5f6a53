"""The job wrapper on the real Redis and PostgreSQL: retry, dead-letter, never lose a failure."""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest
from arq.connections import ArqRedis
from arq.jobs import Job
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from talentq.client import Producer
from talentq.db.models import FailedJob
from talentq.errors import ConfigError
from talentq.integrations.mailbox import MailboxRejected
from talentq.jobs import INTERRUPTED_GRACE, JobContext
from talentq.serialization import deserialize

from .conftest import MakeWorker
from .sample_app import BINDINGS, CATALOGUE, PROBE_POLICY, Probe

pytestmark = pytest.mark.integration


async def run_burst(make_worker: MakeWorker) -> None:
    worker = make_worker(BINDINGS, catalogue=CATALOGUE)
    await worker.async_run()


async def dead_letters(sessions: async_sessionmaker[AsyncSession]) -> list[FailedJob]:
    async with sessions() as session:
        return list((await session.execute(select(FailedJob).order_by(FailedJob.id))).scalars())  # type: ignore[arg-type]


async def calls(redis: ArqRedis, key: str) -> int:
    return int(await redis.get(f"probe:{key}:calls") or 0)


async def result_of(redis: ArqRedis, job_id: str) -> Any:
    info = await Job(job_id, redis, _deserializer=deserialize).result_info()
    assert info is not None
    return info


async def test_transient_error_is_retried_with_growing_delays_then_succeeds(
    make_worker: MakeWorker,
    redis: ArqRedis,
    sessions: async_sessionmaker[AsyncSession],
    records: list[dict[str, Any]],
) -> None:
    """Two connection errors, then success on the third try; the waits between tries grow."""
    await redis.enqueue_job("probe", {"key": "flaky", "failTimes": 2}, _job_id="flaky")

    await run_burst(make_worker)

    assert await calls(redis, "flaky") == 3
    info = await result_of(redis, "flaky")
    assert info.success
    assert info.result == {"key": "flaky", "calls": 3}
    assert await dead_letters(sessions) == []
    delays = [float(m.group(1)) for r in records if (m := re.match(r"retry in ([\d.]+)s", r["message"]))]
    assert len(delays) == 2
    # Equal jitter: the wait after try n lies in [step/2, step] with step = base * 2**(n-1),
    # so the bands touch (0.05-0.10, then 0.10-0.20) and the logged two decimals may tie at
    # 0.10; each wait is held to its own band, which is what "growing" means here.
    for job_try, delay in enumerate(delays, start=1):
        step = PROBE_POLICY.backoff_base * 2 ** (job_try - 1)
        assert step / 2 - 0.005 <= delay <= step + 0.005, (job_try, delay)
    starts = [float(s) for s in await redis.lrange("probe:flaky:starts", 0, -1)]  # type: ignore[misc]
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    assert all(gap >= delay - 0.01 for gap, delay in zip(gaps, delays, strict=True)), (gaps, delays)


async def test_permanent_error_runs_once_and_is_dead_lettered(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """A PermanentJobError is not retried; its record has the payload, error and traceback."""
    await redis.enqueue_job("probe", {"key": "doomed", "mode": "permanent"}, _job_id="doomed")

    await run_burst(make_worker)

    assert await calls(redis, "doomed") == 1
    (letter,) = await dead_letters(sessions)
    assert (letter.job_id, letter.queue, letter.reason, letter.tries) == ("doomed", "probe", "permanent", 1)
    assert letter.payload == {"key": "doomed", "mode": "permanent"}
    assert letter.error_type == "PermanentJobError"
    assert letter.message == "probe doomed can never succeed"
    assert "raise PermanentJobError" in letter.traceback
    assert letter.state == "dead"
    assert not (await result_of(redis, "doomed")).success


async def test_a_job_the_client_refuses_inside_a_processor_is_permanent(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """A processor whose follow-on job the client refuses (QueueRefusedError) is dead-lettered on try 1."""
    calls_made: list[int] = []

    async def builds_a_bad_job(ctx: JobContext, payload: Probe) -> None:
        calls_made.append(ctx["job_try"])
        await ctx["producer"].enqueue("probe", {"key": ""})  # Text: an empty key is refused

    await redis.enqueue_job("probe", {"key": "builder"}, _job_id="builder")
    await make_worker([("probe", builds_a_bad_job)], catalogue=CATALOGUE).async_run()

    assert calls_made == [1]
    (letter,) = await dead_letters(sessions)
    assert (letter.reason, letter.error_type, letter.tries) == ("permanent", "QueueRefusedError", 1)
    assert "refused to enqueue into 'probe'" in letter.message


async def test_a_payload_model_a_processor_builds_wrong_is_permanent(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """A processor that builds its follow-on job's model from bad data (ValidationError) is dead on try 1."""
    calls_made: list[int] = []

    async def builds_a_bad_model(ctx: JobContext, payload: Probe) -> None:
        calls_made.append(ctx["job_try"])
        await ctx["producer"].enqueue(CATALOGUE["probe"], Probe(key=""))  # Text: an empty key is refused

    await redis.enqueue_job("probe", {"key": "builder"}, _job_id="builder")
    await make_worker([("probe", builds_a_bad_model)], catalogue=CATALOGUE).async_run()

    assert calls_made == [1]
    (letter,) = await dead_letters(sessions)
    assert (letter.reason, letter.error_type, letter.tries) == ("permanent", "ValidationError", 1)
    assert "key" in letter.message


async def test_invalid_payload_is_dead_lettered_without_running(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """A payload from a raw producer that misses a field fails permanently, naming the field."""
    await redis.enqueue_job("probe", {"failTimes": 1}, _job_id="nokey")

    await run_burst(make_worker)

    (letter,) = await dead_letters(sessions)
    assert (letter.reason, letter.error_type, letter.tries) == ("permanent", "InvalidPayloadError", 1)
    assert "invalid payload for queue 'probe': key: Field required" in letter.message
    assert letter.payload == {"failTimes": 1}


async def test_exhausted_retries_keep_the_real_exception(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """After max tries the record and arq's result hold the real error, not "max retries exceeded"."""
    await redis.enqueue_job("probe", {"key": "broken", "failTimes": 99}, _job_id="broken")

    await run_burst(make_worker)

    assert await calls(redis, "broken") == PROBE_POLICY.max_tries
    (letter,) = await dead_letters(sessions)
    assert (letter.reason, letter.error_type, letter.tries) == ("exhausted", "ConnectionError", 3)
    assert letter.message == "probe broken lost its connection (call 3)"
    assert "ConnectionError: probe broken lost its connection (call 3)" in letter.traceback
    assert letter.first_failed_at < letter.last_failed_at
    info = await result_of(redis, "broken")
    assert not info.success
    assert info.result == {"error": "ConnectionError", "message": "probe broken lost its connection (call 3)"}


async def test_timeout_is_transient_then_dead_lettered(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """A job over its queue's timeout is retried (arq alone would not) and dead-lettered as TimeoutError."""
    await redis.enqueue_job("probe", {"key": "slow", "sleep": 5}, _job_id="slow")

    await run_burst(make_worker)

    assert await calls(redis, "slow") == PROBE_POLICY.max_tries
    (letter,) = await dead_letters(sessions)
    assert (letter.reason, letter.error_type, letter.tries) == ("exhausted", "JobTimeoutError", 3)
    assert letter.message == "job of queue 'probe' ran past its 0.5s timeout"


async def test_tries_used_by_interruptions_end_in_the_dead_letter_store(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """A job whose tries shutdowns used up runs within the grace, and past it is dead-lettered unrun."""
    beyond = PROBE_POLICY.max_tries + INTERRUPTED_GRACE + 1
    await redis.enqueue_job("probe", {"key": "past"}, _job_id="past", _job_try=beyond)
    await redis.enqueue_job("probe", {"key": "graced", "failTimes": 99}, _job_id="graced", _job_try=4)

    await run_burst(make_worker)

    assert await calls(redis, "past") == 0
    assert await calls(redis, "graced") == 1
    letters = {letter.job_id: letter for letter in await dead_letters(sessions)}
    assert (letters["past"].reason, letters["past"].error_type) == ("interrupted", "JobInterruptedError")
    assert letters["past"].tries == beyond
    assert (letters["graced"].reason, letters["graced"].error_type) == ("exhausted", "ConnectionError")


async def test_keyword_arguments_merge_into_the_payload(make_worker: MakeWorker, redis: ArqRedis) -> None:
    """enqueue_job(name, key=...) works like enqueue_job(name, {"key": ...})."""
    await redis.enqueue_job("probe", {"key": "merged"}, failTimes=0, _job_id="kw")
    await redis.enqueue_job("probe", key="kwonly", _job_id="kwonly")

    await run_burst(make_worker)

    assert (await result_of(redis, "kw")).success
    assert (await result_of(redis, "kwonly")).result == {"key": "kwonly", "calls": 1}


async def test_every_line_carries_queue_job_and_try(
    make_worker: MakeWorker, redis: ArqRedis, records: list[dict[str, Any]]
) -> None:
    """Lines printed inside a job carry queue, job id and try; each try ends with one outcome line."""
    await redis.enqueue_job("probe", {"key": "ctx", "failTimes": 1}, _job_id="ctx")

    await run_burst(make_worker)

    job_lines = [r for r in records if r["extra"].get("job_id") == "ctx"]
    probe_lines = [r for r in job_lines if r["message"].startswith("probe ctx call")]
    assert [(r["extra"]["queue"], r["extra"]["job_try"]) for r in probe_lines] == [("probe", 1), ("probe", 2)]
    outcomes = [
        (r["extra"]["job_try"], r["message"].split(" ")[0])
        for r in job_lines
        if r["message"].startswith(("done in", "retry in", "dead-lettered"))
    ]
    assert outcomes == [(1, "retry"), (2, "done")]


async def test_pickled_and_removed_jobs_are_dead_lettered_not_lost(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Jobs arq would fail before any wrapper runs (pickle data, a removed queue) reach the store."""
    # Given a producer on arq's default (pickle) serializer, and one enqueueing the removed queue
    pickle_pool = ArqRedis(pool_or_conn=redis.connection_pool)
    await pickle_pool.enqueue_job("probe", {"key": "pickled"}, _job_id="pickled")
    await redis.enqueue_job("deal-package", {"dealPackageId": 4}, _job_id="old")

    await run_burst(make_worker)

    # Then nothing was unpickled or run, and both are dead letters saying why
    assert await calls(redis, "pickled") == 0
    letters = {letter.job_id: letter for letter in await dead_letters(sessions)}
    assert (letters["pickled"].queue, letters["pickled"].reason) == ("<unknown>", "malformed")
    assert "not JSON" in letters["pickled"].message
    assert "pickle from arq's default serializer?" in letters["pickled"].message
    assert letters["pickled"].payload["bytes"] > 0
    assert (letters["old"].queue, letters["old"].reason) == ("deal-package", "malformed")
    assert letters["old"].message == (
        "queue 'deal-package' was removed (dealPackage schema removed); nothing runs its jobs"
    )
    assert letters["old"].payload == {"dealPackageId": 4}


async def test_a_model_result_is_stored_as_success(make_worker: MakeWorker, redis: ArqRedis) -> None:
    """A processor returning a pydantic model succeeds in arq's record too, with the model's JSON."""

    async def answer(ctx: JobContext, payload: Probe) -> Probe:
        return payload

    await redis.enqueue_job("probe", {"key": "model"}, _job_id="model")
    await make_worker([("probe", answer)], catalogue=CATALOGUE).async_run()

    info = await result_of(redis, "model")
    assert info.success
    assert info.result == {"key": "model", "mode": "ok", "failTimes": 0, "sleep": 0.0}


async def test_jobs_from_enqueue_many_run_in_a_real_worker(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """What enqueue_many writes is what arq's worker runs: every job once, none lost."""
    ids = await Producer(redis, catalogue=CATALOGUE).enqueue_many(
        "probe", [{"key": f"m{n}"} for n in range(50)]
    )
    assert all(ids)

    await run_burst(make_worker)

    assert [await calls(redis, f"m{n}") for n in range(50)] == [1] * 50
    assert await dead_letters(sessions) == []


async def test_a_refusing_service_or_a_missing_setting_fails_at_once(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """A service refusing the credentials, or a missing setting, is not retried: one run, a dead letter."""
    runs: list[str] = []

    async def refused(ctx: JobContext, payload: Probe) -> None:
        runs.append(payload.key)
        if payload.key == "grant":
            raise MailboxRejected("the refresh token was refused: reconnect the mailbox")
        raise ConfigError("MAIL_TRANSPORT is not set")

    await redis.enqueue_job("probe", {"key": "grant"}, _job_id="grant")
    await redis.enqueue_job("probe", {"key": "setting"}, _job_id="setting")
    await make_worker([("probe", refused)], catalogue=CATALOGUE).async_run()

    assert sorted(runs) == ["grant", "setting"]
    letters = {letter.job_id: letter for letter in await dead_letters(sessions)}
    assert (letters["grant"].reason, letters["grant"].error_type, letters["grant"].tries) == (
        "permanent", "MailboxRejected", 1,
    )  # fmt: skip
    assert (letters["setting"].reason, letters["setting"].error_type) == ("permanent", "ConfigError")
