"""SQLModel tables of the worker core: the dead-letter store and the cron-run records.

Domain tables (users, talents, deals, ...) live beside these in later modules; every
table registers on ``SQLModel.metadata``, which Alembic's migrations mirror.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, DateTime, Index, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def pk(row: SQLModel) -> int:
    """The primary key of a flushed row (SQLModel types it ``int | None`` until then)."""
    value = getattr(row, "id", None)
    if not isinstance(value, int):
        raise RuntimeError(f"{type(row).__name__} has no id yet: flush it first")
    return value


def _tz(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=nullable, index=index))


class FailureReason(StrEnum):
    PERMANENT = "permanent"  # the error itself says retrying cannot help
    EXHAUSTED = "exhausted"  # a transient error on the last allowed try
    INTERRUPTED = "interrupted"  # tries used up by worker shutdowns or crashes
    MALFORMED = "malformed"  # the job itself cannot run: bad data, an unknown or removed function


class DeadLetterState(StrEnum):
    DEAD = "dead"
    REPLAYED = "replayed"


class FailedJob(SQLModel, table=True):
    """A job that failed for good: everything needed to understand it and replay it."""

    __tablename__ = "failed_jobs"

    id: int | None = Field(default=None, primary_key=True)
    # No length limits on what arrives from outside: a record must never be refused for it.
    job_id: str = Field(sa_column=Column(Text, nullable=False, unique=True))
    queue: str = Field(index=True, max_length=100)
    payload: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    reason: str = Field(max_length=20)
    error_type: str = Field(sa_column=Column(Text, nullable=False))
    message: str = Field(sa_column=Column(Text, nullable=False))
    traceback: str = Field(sa_column=Column(Text, nullable=False))
    tries: int
    first_failed_at: datetime = _tz()
    last_failed_at: datetime = _tz()
    state: str = Field(default=DeadLetterState.DEAD.value, index=True, max_length=20)
    replayed_job_id: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    replayed_at: datetime | None = _tz(nullable=True)


class CronStatus(StrEnum):
    RUNNING = "running"
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"
    INTERRUPTED = "interrupted"  # cancelled by a shutdown; the rerun takes the row over


class CronRun(SQLModel, table=True):
    """One run of a cron entry; (name, scheduled_at) is unique, so a tick runs once."""

    __tablename__ = "cron_runs"
    __table_args__ = (
        UniqueConstraint("name", "scheduled_at", name="uq_cron_runs_name_scheduled_at"),
        Index("ix_cron_runs_name_started_at", "name", "started_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    scheduled_at: datetime = _tz()
    started_at: datetime = _tz()
    finished_at: datetime | None = _tz(nullable=True)
    status: str = Field(max_length=20, index=True)
    result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB, nullable=True))
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


#: Tables the core itself needs, checked at worker start like any processor's.
CORE_TABLES: frozenset[str] = frozenset({FailedJob.__tablename__, CronRun.__tablename__})
