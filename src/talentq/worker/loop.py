"""talentq's worker loop: arq's ``Worker``, made to keep its promises when Redis, a job or a worker fails.

arq 0.28 is in maintenance mode and its loop loses, hides or stalls work under faults that
``WorkerSettings`` cannot reach. This subclass keeps arq's job format, key names, cron
scheduling, signals and results (``ArqRedis.enqueue_job`` producers and ``arq --check`` work
as before) and replaces the loop's Redis-facing parts:

- **Redis lost while busy.** Every Redis call of the loop (poll, claim, fetch, finish, retry
  scheduling, cron enqueue, health) rides the outage out with backoff, for as long as it lasts;
  a ``WatchError`` caused by a lost connection is an outage, not a crash. The worker's Redis
  client retries a command twice (``talentq.worker.boot.WORKER_REDIS_RETRIES``), so the loop hears of an
  outage within a second: one WARNING when Redis is lost (host and port, never the password),
  one every 30 s while it stays down, one INFO with the outage's length when it is back. A job
  that finished meanwhile has its result written then; it does not run again.
- **Claims on a short lease.** A claim is one Lua call (arq: WATCH, EXISTS, ZSCORE, MULTI/EXEC)
  that sets the job's in-progress key for ``WORKER_CLAIM_TTL`` seconds, renewed every quarter of
  that while the job runs, whatever its timeout (arq: the largest timeout + 10 s, ~11 minutes
  here). A run key (``talentq:run:<job id>``, set with the claim, deleted with the finish) says
  whose run a job is in: a SIGKILLed worker's jobs are free again within seconds, and the worker
  that takes one says it is a re-run after a lost worker. After an outage long enough for leases
  to expire, a worker renews its own (those whose run is still its) and waits a few seconds
  before it claims again, so the others renew theirs first.
- **The envelope before arq's code.** Job data is checked (``serialization.read_envelope``) and
  the function looked up before anything runs: malformed data, an unknown or removed function,
  a try count past the limit are dead-lettered with what was wrong, their keys cleaned up and
  a failed result written; the loop goes on. A job that reaches the worker ends with a result
  or a dead-letter record, never neither.

``arq talentq.WorkerSettings`` runs this class through one seam: ``install()`` sets
``arq.worker.Worker``, which arq's ``create_worker`` looks up each time it is called (its
command line calls ``run_worker``, which calls ``create_worker``). Patching the name there,
once, at the worker's own entry point, reaches every way arq starts a worker; subclassing alone
would reach none. ``talentq worker`` and the tests build this class directly.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Final, TypeVar
from uuid import uuid4

import arq.worker
from arq.connections import create_pool, log_redis_info
from arq.constants import (
    abort_jobs_ss,
    in_progress_key_prefix,
    job_key_prefix,
    keep_cronjob_progress,
    result_key_prefix,
    retry_key_prefix,
)
from arq.cron import CronJob
from arq.jobs import serialize_result
from arq.utils import args_to_string, ms_to_datetime, poll, timestamp_ms, to_ms, to_unix_ms, truncate
from arq.worker import Function, JobExecutionFailed, Retry, RetryJob
from loguru import logger
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError, WatchError
from redis.exceptions import TimeoutError as RedisTimeoutError

from talentq.db.models import FailureReason, utcnow
from talentq.deadletter import DeadLetter, DeadLetterStore
from talentq.queues import REMOVED
from talentq.serialization import Envelope, MalformedJob, read_envelope

T = TypeVar("T")

#: Seconds a claim (a job's in-progress key) lives unless renewed; the worker renews its claims
#: every quarter of it. What a SIGKILLed worker's jobs wait before another worker may take them.
DEFAULT_CLAIM_TTL_S: Final = 10.0
#: Key recording which worker started a job's current run; found at the next claim, it means
#: that run's worker stopped without finishing it. Deleted whenever a run ends.
RUN_KEY_PREFIX: Final = "talentq:run:"
RUN_KEY_TTL_S: Final = 86_400
#: While Redis stays down: one WARNING this often, and waits between tries growing to this cap.
OUTAGE_LOG_EVERY_S: Final = 30.0
OUTAGE_BACKOFF_CAP_S: Final = 1.0
#: After an outage long enough for claims to expire (half a lease), a worker claims nothing for
#: this long: every other worker notices Redis is back (it retries at least once a second) and
#: renews its own claims first, so none of their running jobs is taken and run twice.
PAUSE_AFTER_OUTAGE_S: Final = 3.0

# One round trip where arq makes four (WATCH, EXISTS, ZSCORE, MULTI/EXEC), and atomic: the job is
# claimed if nobody holds it and it is due; its run key says who ran it last without finishing.
_CLAIM_LUA: Final = """
local in_progress, run_key, queue = KEYS[1], KEYS[2], KEYS[3]
local job_id, me, ttl_ms, now_ms, run_ttl = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
if redis.call('EXISTS', in_progress) == 1 then return false end
local score = redis.call('ZSCORE', queue, job_id)
if not score or tonumber(score) > now_ms then return false end
local previous = redis.call('GET', run_key)
redis.call('SET', in_progress, me, 'PX', ttl_ms)
redis.call('SET', run_key, me, 'EX', run_ttl)
return {score, previous or ''}
"""
# Renew this worker's claims: for each job whose run is still this worker's (its run key, which
# the finish deletes in the same transaction as the in-progress key, says so), set the in-progress
# key again, even if it expired while Redis was away; report the jobs another worker took since.
_RENEW_LUA: Final = """
local me, ttl_ms = ARGV[1], ARGV[2]
local taken = {}
for i = 1, #KEYS, 2 do
  local in_progress, run_key = KEYS[i], KEYS[i + 1]
  local runner = redis.call('GET', run_key)
  if runner == me then
    local owner = redis.call('GET', in_progress)
    if not owner or owner == me then
      redis.call('SET', in_progress, me, 'PX', ttl_ms)
    else
      taken[#taken + 1] = in_progress
    end
  elseif runner then
    taken[#taken + 1] = in_progress
  end
end
return taken
"""


def redis_is_down(exc: BaseException) -> bool:
    """True when ``exc`` means Redis could not be reached (or is starting), not a refused command."""
    if isinstance(exc, RedisConnectionError | RedisTimeoutError | OSError | asyncio.TimeoutError):
        return True  # BusyLoadingError (Redis loading its data) is a ConnectionError too
    if isinstance(exc, WatchError):
        # redis-py cannot replay a transaction whose WATCH lost its connection
        return "ConnectionError" in str(exc) or "TimeoutError" in str(exc)
    return isinstance(exc, ResponseError) and str(exc).startswith(("LOADING", "MASTERDOWN", "TRYAGAIN"))


def install() -> None:
    """Make ``arq.worker.create_worker`` (and so ``arq``'s command line) build talentq's ``Worker``."""
    arq.worker.Worker = Worker  # type: ignore[misc]  # the documented seam, see the module docstring


def create(settings_cls: type, **overrides: Any) -> Worker:
    """talentq's ``Worker`` for a ``WorkerSettings`` class, as arq's ``create_worker`` would build one."""
    return Worker(**{**arq.worker.get_kwargs(settings_cls), **overrides})


class Worker(arq.worker.Worker):
    """arq's worker with a loop that rides out Redis outages, leases claims and checks envelopes.

    The constructor is arq's own, untouched: arq's ``get_kwargs`` reads its signature to pick
    the ``WorkerSettings`` attributes it passes.
    """

    # --- state, set when the loop starts (the constructor stays arq's) -------------------------

    def _start_state(self) -> None:
        settings = self.ctx.get("settings")
        self.claim_ttl_s: float = getattr(settings, "worker_claim_ttl", DEFAULT_CLAIM_TTL_S)
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid4().hex[:8]}"
        self._held: set[str] = set()  # jobs whose claim this worker renews: claimed, not yet finished
        self._lost_runs: dict[str, str] = {}  # job id -> the worker whose run of it never finished
        self._outage_since: float | None = None
        self._outage_warned = 0.0
        self._outage_error = ""
        self._claims_paused_until = 0.0
        self._claim_script = self.pool.register_script(_CLAIM_LUA)
        self._renew_script = self.pool.register_script(_RENEW_LUA)

    def _where(self) -> str:
        """Where Redis is, for log lines: host and port, or the socket; never the password."""
        rs = self.redis_settings
        if rs is None:
            kwargs = self.pool.connection_pool.connection_kwargs
            return str(kwargs.get("path") or f"{kwargs.get('host')}:{kwargs.get('port')}")
        return rs.unix_socket_path or f"{rs.host}:{rs.port}"

    # --- outages --------------------------------------------------------------------------------

    def _redis_lost(self, exc: BaseException) -> None:
        now = time.monotonic()
        if self._outage_since is None:
            self._outage_since, self._outage_warned = now, now
            self._outage_error = f"{type(exc).__name__}: {exc}"
            logger.warning(
                "Redis at {} lost ({}); holding {} job(s), riding it out",
                self._where(),
                self._outage_error,
                len(self._held),
            )
        elif now - self._outage_warned >= OUTAGE_LOG_EVERY_S:
            self._outage_warned = now
            logger.warning(
                "Redis at {} still down after {:.0f}s ({}: {})",
                self._where(),
                now - self._outage_since,
                type(exc).__name__,
                exc,
            )

    async def _redis_back(self) -> None:
        if self._outage_since is None:
            return
        lasted = time.monotonic() - self._outage_since
        self._outage_since = None
        logger.info("Redis at {} is back after {:.1f}s", self._where(), lasted)
        if lasted >= self.claim_ttl_s / 2:
            # Claims may have expired while Redis was away: renew ours now, and leave the others
            # time to renew theirs before taking any job.
            self._claims_paused_until = time.monotonic() + PAUSE_AFTER_OUTAGE_S
        await self._renew_claims()

    async def _until_redis_answers(self, call: Callable[[], Awaitable[T]]) -> T:
        """``call()``, tried again with backoff for as long as Redis is down."""
        wait = 0.05
        while True:
            try:
                result = await call()
            except Exception as exc:
                if not redis_is_down(exc):
                    raise
                self._redis_lost(exc)
                await asyncio.sleep(wait)
                wait = min(wait * 2, OUTAGE_BACKOFF_CAP_S)
            else:
                await self._redis_back()
                return result

    # --- the loop -------------------------------------------------------------------------------

    async def main(self) -> None:
        if self._pool is None:
            self._pool = await create_pool(
                self.redis_settings,
                job_deserializer=self.job_deserializer,
                job_serializer=self.job_serializer,
                default_queue_name=self.queue_name,
                expires_extra_ms=self.expires_extra_ms,
            )
        logger.info("Starting worker for {} functions: {}", len(self.functions), ", ".join(self.functions))
        await log_redis_info(self.pool, arq.worker.logger.info)
        self.ctx["redis"] = self.pool
        if self.on_startup:
            await self.on_startup(self.ctx)
        self._start_state()
        keeper = asyncio.create_task(self._keep_claims())
        try:
            async for _ in poll(self.poll_delay_s):
                await self._poll_iteration()
                if self.burst and await self._burst_done():
                    return
        finally:
            keeper.cancel()

    async def _burst_done(self) -> bool:
        if 0 <= self.max_burst_jobs <= self._jobs_started():
            await asyncio.gather(*self.tasks.values())
            return True
        try:
            queued = await self.pool.zcard(self.queue_name)
        except Exception as exc:
            if not redis_is_down(exc):
                raise
            self._redis_lost(exc)
            return False
        if queued == 0 and not self._held:
            await asyncio.gather(*self.tasks.values())
            return True
        return False

    async def _poll_iteration(self) -> None:
        """arq's iteration (claim due jobs, reap finished tasks, health, crons), riding out outages."""
        try:
            if self._outage_since is not None:
                # Redis may be back: learn it (renewing our claims, pausing claims if they could have
                # expired) before claiming anything, or a job of ours whose claim lapsed while Redis
                # was away would look free and be claimed again.
                await self.pool.ping()
                await self._redis_back()
            if (
                self.allow_pick_jobs
                and self.job_counter < self.max_jobs
                and time.monotonic() >= self._claims_paused_until
            ):
                job_ids = await self.pool.zrangebyscore(
                    self.queue_name,
                    min=float("-inf"),
                    start=self._queue_read_offset,
                    num=self.queue_read_limit,
                    max=timestamp_ms(),
                )
                await self.start_jobs(job_ids)
            if self.allow_abort_jobs:
                await self._cancel_aborted_jobs()
            await self.heart_beat()
        except Exception as exc:
            if not redis_is_down(exc):
                raise
            self._redis_lost(exc)
            # The poll's own step is short; while Redis is away, ask less often.
            await asyncio.sleep(OUTAGE_BACKOFF_CAP_S / 2)
        else:
            await self._redis_back()
        for job_id, task in list(self.tasks.items()):
            if task.done():
                del self.tasks[job_id]
                task.result()  # run_job handles its own errors; anything here is a bug to surface

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        """Claim each due job (one Lua call) and start it in a task."""
        for raw_id in job_ids:
            await self.sem.acquire()
            if self.job_counter >= self.max_jobs:
                self.sem.release()
                return
            job_id = raw_id.decode()
            if job_id in self._held:
                # Ours already (running, or finished with its result not yet written): its claim
                # may have lapsed during an outage, but it must not start a second time.
                self.sem.release()
                continue
            self.job_counter += 1
            try:
                claimed = await self._claim_script(
                    keys=[in_progress_key_prefix + job_id, RUN_KEY_PREFIX + job_id, self.queue_name],
                    args=[job_id, self.worker_id, to_ms(self.claim_ttl_s), timestamp_ms(), RUN_KEY_TTL_S],
                )
            except BaseException:
                self._release_sem_dec_counter_on_complete()
                raise
            if not claimed:
                self._release_sem_dec_counter_on_complete()
                continue
            score, previous = claimed
            previous = previous.decode() if isinstance(previous, bytes) else str(previous)
            if previous and previous != self.worker_id:
                self._lost_runs[job_id] = previous
            self._held.add(job_id)
            task = self.loop.create_task(self.run_job(job_id, int(float(score))))
            task.add_done_callback(lambda _: self._release_sem_dec_counter_on_complete())
            self.tasks[job_id] = task

    async def _keep_claims(self) -> None:
        """Renew this worker's claims every quarter of their lease, while they run."""
        while True:
            await asyncio.sleep(self.claim_ttl_s / 4)
            await self._renew_claims()

    async def _renew_claims(self) -> None:
        if not self._held:
            return
        keys = [
            key
            for job_id in sorted(self._held)
            for key in (in_progress_key_prefix + job_id, RUN_KEY_PREFIX + job_id)
        ]
        try:
            taken = await self._renew_script(keys=keys, args=[self.worker_id, to_ms(self.claim_ttl_s)])
        except Exception as exc:
            if not redis_is_down(exc):
                raise
            self._redis_lost(exc)
            return
        for key in taken:
            job_id = (key.decode() if isinstance(key, bytes) else str(key)).removeprefix(
                in_progress_key_prefix
            )
            logger.error(
                "job {} was claimed by another worker while this one could not renew its claim "
                "(Redis away longer than {}s): it may run twice",
                job_id,
                self.claim_ttl_s,
            )

    # --- one job ----------------------------------------------------------------------------------

    async def run_job(self, job_id: str, score: int) -> None:
        """Run one claimed job; never raises: whatever happens, it ends with a result or a dead letter."""
        try:
            await self._run_job(job_id, score)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.opt(exception=exc).critical("job {}: the worker failed running it: {!r}", job_id, exc)
            await self._give_up(job_id, None, f"the worker failed running it: {type(exc).__name__}: {exc}")
        finally:
            self._held.discard(job_id)
            self._lost_runs.pop(job_id, None)

    async def _fetch(self, job_id: str) -> tuple[bytes | None, int, bool]:
        async with self.pool.pipeline(transaction=True) as pipe:
            pipe.get(job_key_prefix + job_id)
            pipe.incr(retry_key_prefix + job_id)
            pipe.expire(retry_key_prefix + job_id, 88400)
            if self.allow_abort_jobs:
                pipe.zrem(abort_jobs_ss, job_id)
                raw, job_try, _, aborted = await pipe.execute()
            else:
                raw, job_try, _ = await pipe.execute()
                aborted = False
        return raw, int(job_try), bool(aborted)

    async def _run_job(self, job_id: str, score: int) -> None:
        start_ms = timestamp_ms()
        raw, job_try, aborted = await self._until_redis_answers(lambda: self._fetch(job_id))
        if raw is None:
            await self._give_up(job_id, None, "its job data had expired from Redis before it ran", job_try)
            return
        try:
            envelope = read_envelope(raw)
        except MalformedJob as exc:
            await self._give_up(job_id, exc.function, exc.defect, job_try, sample=exc.sample, size=exc.size)
            return
        function = self.functions.get(envelope.function)
        if function is None:
            name = envelope.function
            why = (
                f"queue {name!r} was removed ({REMOVED[name]}); nothing runs its jobs"
                if name in REMOVED
                else f"no function {name!r} in this worker (lane {self.queue_name})"
            )
            await self._give_up(job_id, name, why, job_try, envelope=envelope)
            return
        if aborted:
            logger.info("job {} of {} aborted before it started", job_id, envelope.function)
            await self._finish_failed(job_id, envelope, job_try, start_ms, asyncio.CancelledError())
            return
        lost_by = self._lost_runs.get(job_id)
        if lost_by is not None:
            logger.warning(
                "job {} of {}: a re-run after a lost worker ({} started it and stopped without finishing)",
                job_id,
                envelope.function,
                lost_by,
            )
        await self._run(job_id, score, function, envelope, job_try)

    async def _run(
        self,
        job_id: str,
        score: int,
        function: Function | CronJob,
        envelope: Envelope,
        job_try: int,
    ) -> None:
        """arq's ``run_job`` from the function call on, with talentq's finish."""
        name, args, kwargs = envelope.function, envelope.args, envelope.kwargs
        is_cron = isinstance(function, CronJob)
        ref = name if is_cron else f"{job_id}:{name}"
        keep_in_progress = keep_cronjob_progress if is_cron else None
        if envelope.job_try and envelope.job_try > job_try:
            job_try = envelope.job_try
            await self._until_redis_answers(
                lambda: self.pool.setex(retry_key_prefix + job_id, 88400, str(job_try))
            )
        max_tries = self.max_tries if function.max_tries is None else function.max_tries
        if job_try > max_tries:
            await self._give_up(
                job_id,
                name,
                f"try {job_try} is past the {max_tries} tries arq allows it",
                job_try,
                envelope=envelope,
                reason=FailureReason.EXHAUSTED,
            )
            return

        timeout_s = self.job_timeout_s if function.timeout_s is None else function.timeout_s
        ctx = {
            **self.ctx,
            "job_id": job_id,
            "job_try": job_try,
            "enqueue_time": ms_to_datetime(envelope.enqueue_time_ms),
            "score": score,
        }
        if self.on_job_start:
            await self.on_job_start(ctx)
        start_ms = timestamp_ms()
        result: Any = arq.worker.no_result
        finish, success, incr_score = False, False, None
        try:
            extra = f" try={job_try}" if job_try > 1 else ""
            arq.worker.logger.info(
                "%6.2fs → %s(%s)%s",
                (start_ms - envelope.enqueue_time_ms) / 1000,
                ref,
                args_to_string(args, kwargs),
                extra,
            )
            self.job_tasks[job_id] = task = self.loop.create_task(function.coroutine(ctx, *args, **kwargs))
            try:
                result = await asyncio.wait_for(task, timeout_s)
            finally:
                del self.job_tasks[job_id]
        except (Exception, asyncio.CancelledError) as exc:
            finished_ms = timestamp_ms()
            elapsed = (finished_ms - start_ms) / 1000
            if self.retry_jobs and isinstance(exc, Retry):
                incr_score = exc.defer_score + (timestamp_ms() - score) if exc.defer_score else None
                arq.worker.logger.info(
                    "%6.2fs ↻ %s retrying job in %0.2fs", elapsed, ref, (exc.defer_score or 0) / 1000
                )
                self.jobs_retried += 1
            elif job_id in self.aborting_tasks and isinstance(exc, asyncio.CancelledError):
                arq.worker.logger.info("%6.2fs ⊘ %s aborted", elapsed, ref)
                result, finish = exc, True
                self.aborting_tasks.remove(job_id)
                self.jobs_failed += 1
            elif self.retry_jobs and isinstance(exc, asyncio.CancelledError | RetryJob):
                arq.worker.logger.info("%6.2fs ↻ %s cancelled, will be run again", elapsed, ref)
                self.jobs_retried += 1
            else:
                arq.worker.logger.error("%6.2fs ! %s failed, %s: %s", elapsed, ref, type(exc).__name__, exc)
                result, finish = exc, True
                self.jobs_failed += 1
        else:
            success, finish = True, True
            finished_ms = timestamp_ms()
            if self.log_results:
                arq.worker.logger.info(
                    "%6.2fs ← %s ● %s",
                    (finished_ms - start_ms) / 1000,
                    ref,
                    "" if result is None else truncate(repr(result)),
                )
            self.jobs_complete += 1

        keep_forever = (
            self.keep_result_forever if function.keep_result_forever is None else function.keep_result_forever
        )
        keep_s = self.keep_result_s if function.keep_result_s is None else function.keep_result_s
        result_data = None
        if result is not arq.worker.no_result and (keep_forever or keep_s > 0):
            result_data = serialize_result(
                name, args, kwargs, job_try, envelope.enqueue_time_ms, success, result, start_ms, finished_ms,
                ref, self.queue_name, job_id=job_id, serializer=self.job_serializer,
            )  # fmt: skip
        if self.on_job_end:
            await self.on_job_end(ctx)
        await asyncio.shield(
            self.finish_job(job_id, finish, result_data, keep_s, keep_forever, incr_score, keep_in_progress)
        )
        if self.after_job_end:
            await self.after_job_end(ctx)

    # --- ends -----------------------------------------------------------------------------------

    async def finish_job(
        self,
        job_id: str,
        finish: bool,
        result_data: bytes | None,
        result_timeout_s: float | None,
        keep_result_forever: bool,
        incr_score: int | None,
        keep_in_progress: float | None,
    ) -> None:
        """arq's finish (result, queue, keys), and the run key, written once Redis answers."""

        async def write() -> None:
            async with self.pool.pipeline(transaction=True) as tr:
                delete = [RUN_KEY_PREFIX + job_id]
                if keep_in_progress is None:
                    delete.append(in_progress_key_prefix + job_id)
                else:
                    tr.pexpire(in_progress_key_prefix + job_id, to_ms(keep_in_progress))
                if finish:
                    if result_data:
                        expire = None if keep_result_forever else result_timeout_s
                        tr.set(result_key_prefix + job_id, result_data, px=to_ms(expire))
                    delete += [retry_key_prefix + job_id, job_key_prefix + job_id]
                    tr.zrem(abort_jobs_ss, job_id)
                    tr.zrem(self.queue_name, job_id)
                elif incr_score:
                    tr.zincrby(self.queue_name, incr_score, job_id)
                tr.delete(*delete)
                await tr.execute()

        await self._until_redis_answers(write)
        self._held.discard(job_id)

    async def finish_failed_job(self, job_id: str, result_data: bytes | None) -> None:
        """arq's cleanup of a job that could not run, and the run key, written once Redis answers."""

        async def write() -> None:
            async with self.pool.pipeline(transaction=True) as tr:
                tr.delete(
                    retry_key_prefix + job_id,
                    in_progress_key_prefix + job_id,
                    job_key_prefix + job_id,
                    RUN_KEY_PREFIX + job_id,
                )
                tr.zrem(abort_jobs_ss, job_id)
                tr.zrem(self.queue_name, job_id)
                if result_data is not None and (self.keep_result_forever or self.keep_result_s > 0):
                    expire = 0 if self.keep_result_forever else self.keep_result_s
                    tr.set(result_key_prefix + job_id, result_data, px=to_ms(expire))
                await tr.execute()

        await self._until_redis_answers(write)
        self._held.discard(job_id)

    async def _finish_failed(
        self, job_id: str, envelope: Envelope | None, job_try: int, start_ms: int, error: BaseException
    ) -> None:
        self.jobs_failed += 1
        name = envelope.function if envelope else "<unknown>"
        result = serialize_result(
            name,
            envelope.args if envelope else (),
            envelope.kwargs if envelope else {},
            job_try,
            envelope.enqueue_time_ms if envelope else 0,
            False,
            error,
            start_ms,
            timestamp_ms(),
            f"{job_id}:{name}",
            self.queue_name,
            job_id=job_id,
            serializer=self.job_serializer,
        )
        await asyncio.shield(self.finish_failed_job(job_id, result))

    async def _give_up(
        self,
        job_id: str,
        function: str | None,
        why: str,
        job_try: int = 1,
        *,
        envelope: Envelope | None = None,
        sample: str = "",
        size: int = 0,
        reason: FailureReason = FailureReason.MALFORMED,
    ) -> None:
        """Dead-letter a job that cannot run (with ``why``), then remove it and write its failed result."""
        queue = function or "<unknown>"
        logger.error("job {} of {} cannot run and is dead-lettered: {}", job_id, queue, why)
        if envelope is not None:
            payload: dict[str, Any] = _payload_of(envelope)
        else:
            payload = {"raw": sample, "bytes": size}
        now = utcnow()
        letter = DeadLetter(
            job_id=job_id,
            queue=queue,
            payload=payload,
            reason=reason.value,
            error_type="MalformedJob" if reason is FailureReason.MALFORMED else "JobExecutionFailed",
            message=why,
            traceback="",
            tries=job_try,
            first_failed_at=now,
            last_failed_at=now,
        )
        store: DeadLetterStore | None = self.ctx.get("dead_letters")
        if store is None:
            logger.critical("no dead-letter store in the worker context; record: {}", letter.to_json())
        else:
            await store.record(letter)
        await self._finish_failed(job_id, envelope, job_try, timestamp_ms(), JobExecutionFailed(why))

    # --- crons, health, shutdown ------------------------------------------------------------------

    async def run_cron(self, n: datetime, delay: float, num_windows: int = 2) -> None:
        """arq's cron enqueue, except that a tick Redis did not take stays due (arq moves past it)."""
        cutoff = n + timedelta(seconds=delay * num_windows)
        for cron_job in self.cron_jobs:
            if cron_job.next_run is None:
                if cron_job.run_at_startup:
                    cron_job.next_run = n
                else:
                    cron_job.calculate_next(n)
                    continue
            if cron_job.next_run < cutoff:
                job_id = cron_job.job_id or (
                    f"{cron_job.name}:{to_unix_ms(cron_job.next_run)}" if cron_job.unique else None
                )
                await self.pool.enqueue_job(
                    cron_job.name,
                    _job_id=job_id,
                    _queue_name=self.queue_name,
                    _defer_until=(
                        cron_job.next_run if cron_job.next_run > datetime.now(tz=self.timezone) else None
                    ),
                )
                cron_job.calculate_next(cron_job.next_run)

    async def close(self) -> None:
        """arq's close; the health key's removal is best effort (Redis may be down at shutdown)."""
        if not self._handle_signals:
            self.handle_sig(signal.SIGUSR1)
        if not self._pool:
            return
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        try:
            await self.pool.delete(self.health_check_key)
        except Exception as exc:
            if not redis_is_down(exc):
                raise
            logger.warning("could not remove the health key at shutdown: {!r}", exc)
        if self.on_shutdown:
            await self.on_shutdown(self.ctx)
        await self.pool.aclose(close_connection_pool=True)
        self._pool = None


def _payload_of(envelope: Envelope) -> dict[str, Any]:
    """The job's payload as the dead-letter record keeps it: the one object, or args and kwargs."""
    if len(envelope.args) == 1 and isinstance(envelope.args[0], Mapping):
        return {**envelope.args[0], **envelope.kwargs}
    return {"args": list(envelope.args), "kwargs": dict(envelope.kwargs)}
