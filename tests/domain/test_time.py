"""Time rules: weeks in a zone, across daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from talentq.domain.time import previous_week

pytestmark = pytest.mark.integration


def utc(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp).replace(tzinfo=UTC)


#: Monday 30 March 2026, 08:00 in London (BST): last week ran from Monday 23 March 00:00 GMT to
#: Monday 30 March 00:00 BST, a 167-hour week.
WEEK_TICK = datetime(2026, 3, 30, 7, 0, tzinfo=UTC)
WEEK_START, WEEK_END = utc("2026-03-23 00:00"), utc("2026-03-29 23:00")


def test_last_week_is_monday_to_monday_in_the_cron_zone() -> None:
    """The week before a Monday tick: local Monday midnights, across the change to summer time."""
    assert previous_week(WEEK_TICK, ZoneInfo("Europe/London")) == (WEEK_START, WEEK_END)
    assert previous_week(utc("2026-03-11 12:00"), ZoneInfo("America/New_York")) == (
        utc("2026-03-02 05:00"),
        utc("2026-03-09 04:00"),
    )
