"""The time a cron run stands for: its arq tick, so a late or repeated run computes the same day and week.

arq names a cron tick's job ``"<cron name>:<unix ms of the tick>"``; a run whose job id carries
no tick (started by hand) stands for now. Tests choose "now" the same way: through the job id.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from talentq.db.models import utcnow
from talentq.jobs import JobContext


def tick_time(ctx: JobContext) -> datetime:
    """The scheduled time of this run (timezone-aware UTC), or now when the job id carries none."""
    _, sep, stamp = ctx["job_id"].rpartition(":")
    if sep and stamp.isdigit():
        return datetime.fromtimestamp(int(stamp) / 1000, UTC)
    return utcnow()


def tick_ms(moment: datetime) -> int:
    """The tick stamp arq would give a run at ``moment``: unix milliseconds."""
    return round(moment.timestamp() * 1000)


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """00:00 of ``day`` in ``zone``, in UTC: a DST change makes that day 23 or 25 hours long."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def previous_week(moment: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """Monday 00:00 to Monday 00:00 (UTC bounds) of the week before the one holding ``moment`` in ``zone``."""
    local_day = moment.astimezone(zone).date()
    this_monday = local_day - timedelta(days=local_day.weekday())
    return local_midnight(this_monday - timedelta(days=7), zone), local_midnight(this_monday, zone)
