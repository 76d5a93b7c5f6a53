"""The schedule: cron entries (name, the seed's cron string, coroutine, status) and ``run_cron_job``.

Every entry runs through ``run_cron_job``, which logs start and completion with duration
and a result count, records the run in ``cron_runs`` and re-raises errors. A run is
claimed by inserting (name, scheduled time) first, which is unique: a tick that arq
enqueues twice (two workers, a blocked loop) runs its work once. Disabled entries stay
registered and shown, and each run returns a skip result with the reason.

The seed's cron strings become arq's field sets through croniter's ``expand``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, cast

from arq.cron import CronJob, cron
from croniter import croniter
from loguru import logger
from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col

from talentq.crons import agents, delivery, finance, mail, outreach, reports
from talentq.db.models import CronRun, CronStatus, utcnow
from talentq.jobs import INTERRUPTED_GRACE, JobContext, tick_time
from talentq.logsetup import cron_context

CronResult = int | Mapping[str, Any]
CronFunction = Callable[[JobContext], Awaitable[CronResult]]

#: arq keeps a cron tick's result this long, so the same tick cannot be enqueued again
#: (with arq's default of 0 a tick re-enqueued after it finished runs twice).
CRON_KEEP_RESULT_S: Final = 86_400
CRON_TIMEOUT_MARGIN_S: Final = 5.0


@dataclass(frozen=True, slots=True)
class CronEntry:
    """One scheduled job. ``enqueues`` names the queues it fans out to (checked at boot)."""

    name: str
    schedule: str
    run: CronFunction | None
    enqueues: tuple[str, ...] = ()
    tables: frozenset[str] = field(default_factory=frozenset)
    disabled: str | None = None
    timeout: float = 600.0

    def problems(self) -> list[str]:
        """What is wrong with this entry on its own (the registry adds cross-checks)."""
        found: list[str] = []
        try:
            arq_fields(self.schedule)
        except ValueError as exc:
            found.append(f"cron {self.name!r}: {exc}")
        if self.disabled is None and self.run is None:
            found.append(f"cron {self.name!r} is active but has no coroutine to run")
        if self.disabled is not None and not self.disabled.strip():
            found.append(f"cron {self.name!r} is disabled without a reason")
        return found


def arq_fields(schedule: str) -> dict[str, set[int] | None]:
    """arq ``cron()`` keyword arguments for a five-field cron string."""
    try:
        expanded = croniter.expand(schedule)[0]
    except Exception as exc:  # croniter raises several unrelated types for bad strings
        raise ValueError(f"schedule {schedule!r} is not a valid cron string ({exc})") from exc
    if len(expanded) != 5:
        raise ValueError(f"schedule {schedule!r} must have five fields (minute hour day month weekday)")
    minutes, hours, days, months, weekdays = expanded

    def field_set(values: Sequence[int | str]) -> set[int] | None:
        return None if list(values) == ["*"] else {int(v) for v in values}

    weekday = field_set(weekdays)
    if field_set(days) is not None and weekday is not None:
        # Cron ORs day-of-month and day-of-week; arq ANDs them. Refuse rather than mis-schedule.
        raise ValueError(f"schedule {schedule!r} restricts both day of month and day of week")
    return {
        "minute": field_set(minutes),
        "hour": field_set(hours),
        "day": field_set(days),
        "month": field_set(months),
        # cron counts weekdays from Sunday = 0 (7 too); arq from Monday = 0.
        "weekday": None if weekday is None else {(d - 1) % 7 for d in weekday},
    }


def _result_dict(name: str, result: CronResult) -> dict[str, Any]:
    if isinstance(result, bool) or not isinstance(result, int | Mapping):
        raise TypeError(f"cron {name!r} returned {result!r}: return a count or a mapping with 'count'")
    summary = {"count": result} if isinstance(result, int) else dict(result)
    if not isinstance(summary.get("count"), int):
        raise TypeError(f"cron {name!r} returned {result!r} without an integer 'count'")
    return summary


async def _claim(ctx: JobContext, entry: CronEntry, scheduled: datetime) -> int | None:
    """Insert this tick's row, or take over one whose run was interrupted or whose worker died.

    Returns the row id, or None when the tick ran (or runs) elsewhere: one statement, so
    two workers racing for the same tick cannot both win.
    """
    now = utcnow()
    stale = now - timedelta(seconds=entry.timeout + CRON_TIMEOUT_MARGIN_S)
    stmt = insert(CronRun).values(
        name=entry.name, scheduled_at=scheduled, started_at=now, status=CronStatus.RUNNING
    )
    stmt = stmt.on_conflict_do_update(
        constraint="uq_cron_runs_name_scheduled_at",
        set_={
            "started_at": now,
            "status": CronStatus.RUNNING,
            "finished_at": None,
            "result": None,
            "error": None,
        },
        where=(col(CronRun.status) == CronStatus.INTERRUPTED)
        | ((col(CronRun.status) == CronStatus.RUNNING) & (col(CronRun.started_at) < stale)),
    )
    async with ctx["sessions"].begin() as session:
        run_id: int | None = await session.scalar(stmt.returning(col(CronRun.id)))
    return run_id


def run_cron_job(entry: CronEntry) -> Callable[[dict[str, Any]], Coroutine[Any, Any, dict[str, Any]]]:
    """The arq coroutine for ``entry``: claim the tick, run (or skip), record, log, re-raise."""

    async def run(arq_ctx: dict[str, Any]) -> dict[str, Any]:
        ctx = cast(JobContext, arq_ctx)
        scheduled = tick_time(ctx, entry.name)
        with cron_context(entry.name):
            started = time.perf_counter()
            run_id = await _claim(ctx, entry, scheduled)
            if run_id is None:
                logger.warning("tick {} already ran; not running it again", scheduled.isoformat())
                return {"count": 0, "skipped": "tick already ran"}
            logger.info("start (tick {})", scheduled.isoformat())

            status, error, summary = CronStatus.FAILED, None, None
            try:
                if entry.disabled is not None:
                    status, summary = CronStatus.SKIPPED, {"count": 0, "skipped": entry.disabled}
                elif entry.run is None:  # pragma: no cover - CronEntry.problems() refuses it at boot
                    raise RuntimeError(f"cron {entry.name!r} is active but has no coroutine")
                else:
                    async with asyncio.timeout(entry.timeout):
                        summary = _result_dict(entry.name, await entry.run(ctx))
                    status = CronStatus.OK
            except Exception as exc:
                detail = str(exc)
                if isinstance(exc, TimeoutError) and not detail:  # asyncio.timeout's says nothing
                    detail = f"ran past its {entry.timeout:g}s timeout"
                error = f"{type(exc).__qualname__}: {detail}"
                raise
            except asyncio.CancelledError:
                # A shutdown past WORKER_SHUTDOWN_WAIT: arq runs the tick again, and the
                # "interrupted" row lets that run claim it.
                status, error = CronStatus.INTERRUPTED, "interrupted by a worker shutdown; arq runs it again"
                raise
            finally:
                elapsed = time.perf_counter() - started
                async with ctx["sessions"].begin() as session:
                    await session.execute(
                        update(CronRun)
                        .where(col(CronRun.id) == run_id)
                        .values(status=status, finished_at=utcnow(), result=summary, error=error)
                    )
                if error is not None:
                    logger.error("{} after {:.3f}s: {}", status.value, elapsed, error)
                else:
                    logger.info("{} in {:.3f}s: {}", status.value, elapsed, summary)
            return summary

    run.__qualname__ = f"talentq.cron[{entry.name}]"
    return run


def arq_cron(entry: CronEntry) -> CronJob:
    """The arq ``CronJob`` for ``entry``, named after it, unique per tick, result kept."""
    fields = arq_fields(entry.schedule)
    return cron(
        run_cron_job(entry),  # type: ignore[arg-type]  # arq's protocol wants *args, **kwargs
        name=entry.name,
        month=fields["month"],
        day=fields["day"],
        weekday=fields["weekday"],
        hour=fields["hour"],
        minute=fields["minute"],
        unique=True,
        keep_result=CRON_KEEP_RESULT_S,
        timeout=entry.timeout + CRON_TIMEOUT_MARGIN_S,
        # Tries beyond the first are only for runs a shutdown cancelled: a failing cron is
        # not retried (arq retries only on Retry), it is recorded as failed.
        max_tries=1 + INTERRUPTED_GRACE,
    )


#: The platform's 19 cron entries: the seed's names and schedules (its "Cron Job Health
#: Summary"). The registry refuses a cron whose target queue has no processor.
CRONS: Final[tuple[CronEntry, ...]] = (
    # mail
    CronEntry("gmail-sync", "*/15 * * * *", mail.gmail_sync, enqueues=("gmail-ingest",)),
    CronEntry("whatsapp-sync", "*/10 * * * *", mail.whatsapp_sync),
    # AI agents
    CronEntry(
        "ai-agent-recovery",
        "*/10 * * * *",
        agents.ai_agent_recovery,
        enqueues=("ai-agent", "agent-tasks", "inbox-triage"),
    ),
    CronEntry(
        "ai-agent-retry",
        "*/30 * * * *",
        agents.ai_agent_retry,
        enqueues=("ai-agent", "agent-tasks", "inbox-triage"),
    ),
    # outreach, brand CRM and strategy
    CronEntry("outreach-rotation", "0 8 * * 2", outreach.outreach_rotation),
    CronEntry("weekly-outreach", "0 9 * * 1", outreach.weekly_outreach, enqueues=("ai-outreach",)),
    CronEntry("daily-outreach-plan", "0 9 * * *", outreach.daily_outreach_plan, enqueues=("outreach",)),
    CronEntry("outreach-follow-ups", "0 */6 * * *", outreach.outreach_follow_ups),
    CronEntry("brand-crm-daily", "0 3 * * *", outreach.brand_crm_daily, enqueues=("brand-crm",)),
    CronEntry(
        "strategy-predictions", "0 4 * * *", outreach.strategy_predictions, enqueues=("strategy-engine",)
    ),
    # deliverables, approvals, invoices and reports
    CronEntry(
        "deliverable-overdue", "0 * * * *", delivery.deliverable_overdue, enqueues=("deliverable-reminders",)
    ),
    CronEntry("flush-stale-approvals", "0 */12 * * *", delivery.flush_stale_approvals),
    CronEntry(
        "check-overdue-invoices", "0 9 * * *", finance.check_overdue_invoices, enqueues=("email-send",)
    ),
    CronEntry(
        "send-daily-brief-digest", "0 8 * * *", reports.send_daily_brief_digest, enqueues=("email-send",)
    ),
    CronEntry("weekly-reports", "0 8 * * 1", reports.weekly_reports, enqueues=("email-send",)),
    CronEntry("weekly-talent-reports", "0 9 * * 1", reports.weekly_talent_reports, enqueues=("email-send",)),
    # Disabled exactly as the seed disabled them: registered and shown, each run a recorded skip.
    CronEntry(
        "update-social-stats",
        "0 */6 * * *",
        None,
        disabled="social schema models are not in active use (the social feature is disabled)",
    ),
    CronEntry(
        "deal-automation", "0 * * * *", None, disabled="DealThread models were removed from the schema"
    ),
    CronEntry(
        "deal-cleanup",
        "0 4 * * *",
        None,
        disabled="the dealDraft model was removed (a draft deal is now a deal in stage 'draft')",
    ),
)
