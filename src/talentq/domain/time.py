"""Time rules: a cron tick's time in its job id, time zones by name, local days and local times.

Reads no clock: every function is given the moment it works with. arq names a cron tick's job
``"<cron name>:<unix ms of the tick>"``; ``tick_of`` reads it back, and ``talentq.jobs.tick_time``
makes it a cron run's "now".

A time zone comes from a user's row, so it may be a name no IANA database knows: ``find_zone``
says so (None), ``zone_or`` falls back with a warning naming whose zone it was.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from loguru import logger

UTC_ZONE: Final = ZoneInfo("UTC")


def tick_of(job_id: str, name: str) -> datetime | None:
    """The scheduled time (timezone-aware UTC) of cron ``name``'s tick whose job id is ``job_id``.

    None unless the id is exactly ``"<name>:<digits>"``: another cron's id, or a hand-made one
    that happens to end in digits, carries no tick of this cron.
    """
    prefix, sep, stamp = job_id.rpartition(":")
    if sep and prefix == name and stamp.isdigit():
        return datetime.fromtimestamp(int(stamp) / 1000, UTC)
    return None


def tick_ms(moment: datetime) -> int:
    """The tick stamp arq would give a run at ``moment``: unix milliseconds."""
    return round(moment.timestamp() * 1000)


def find_zone(name: str) -> ZoneInfo | None:
    """The IANA time zone called ``name``, or None when the name is unknown or malformed."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):  # ValueError: "", "../x" and other non-keys
        return None


def zone_or(name: str, fallback: ZoneInfo = UTC_ZONE, *, owner: str) -> ZoneInfo:
    """``find_zone(name)``, or ``fallback`` with a warning naming ``owner`` ("user 7") and the bad name."""
    zone = find_zone(name)
    if zone is None:
        logger.warning("{} has time zone {!r}, not an IANA name; using {}", owner, name, fallback.key)
        return fallback
    return zone


def local_text(moment: datetime, zone: ZoneInfo) -> str:
    """``moment`` on the reader's clock: "Tue 03 Mar 2026, 09:30 GMT"."""
    return moment.astimezone(zone).strftime("%a %d %b %Y, %H:%M %Z")


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """00:00 of ``day`` in ``zone``, in UTC: a DST change makes that day 23 or 25 hours long."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def previous_week(moment: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """Monday 00:00 to Monday 00:00 (UTC bounds) of the week before the one holding ``moment`` in ``zone``."""
    local_day = moment.astimezone(zone).date()
    this_monday = local_day - timedelta(days=local_day.weekday())
    return local_midnight(this_monday - timedelta(days=7), zone), local_midnight(this_monday, zone)


def midnight(day: date) -> datetime:
    """``day`` at 00:00 UTC."""
    return datetime.combine(day, time.min, UTC)
