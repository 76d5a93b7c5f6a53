"""Deliverable rules: when a talent's agreed work is chased, and when it no longer is."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from talentq.domain.vocabulary import DealStage

#: No second reminder for one deliverable within this long.
REMIND_EVERY: Final = timedelta(hours=24)
#: A deliverable due further out than this is not reminded of yet.
DUE_SOON: Final = timedelta(hours=48)
#: Reminders stop this long after the due date: past two weeks of daily emails about one piece
#: of work a reminder is noise; the deliverable stays ``overdue`` until a person settles it.
REMIND_OVERDUE_FOR: Final = timedelta(days=14)
#: Work for a deal in these stages is not chased: the deal is over.
CLOSED_DEAL_STAGES: Final = (DealStage.LOST.value, DealStage.DELIVERED.value)


def reminder_key(reminded_at: datetime | None) -> str:
    """The key of the reminder after ``reminded_at`` (the last one): job ids of reminders carry it."""
    return "first" if reminded_at is None else str(round(reminded_at.timestamp() * 1_000_000))
