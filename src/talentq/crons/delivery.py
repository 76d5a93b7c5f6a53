"""Delivery crons: deliverable-overdue marks late work and fans out reminders; flush-stale-approvals expires.

Each is one SQL statement whatever the number of rows (plus one script call per 1,000
reminder jobs), and a re-run finds nothing left to change or enqueue. "Now" is the run's
tick (``talentq.clock.tick_time``).
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import func, select, text, update
from sqlmodel import col

from talentq.clock import tick_time
from talentq.db.domain import Approval, ApprovalStatus, Deal, Deliverable, DeliverableStatus
from talentq.jobs import JobContext, uses_tables
from talentq.processors.deliverable_reminders import (
    CLOSED_DEAL_STAGES,
    DUE_SOON,
    REMIND_EVERY,
    REMIND_OVERDUE_FOR,
    reminder_key,
)

#: The crons' names in the schedule: each run's tick is its "now" (see ``talentq.clock``).
DELIVERABLE_OVERDUE: Final = "deliverable-overdue"
FLUSH_STALE_APPROVALS: Final = "flush-stale-approvals"

#: Work in these states is open: late past its due date, reminded when due soon. ``submitted`` is
#: not: the content is in and waiting for its review, and ``approved`` is done.
OPEN_STATES: Final = (DeliverableStatus.PENDING.value, DeliverableStatus.CHANGES_REQUESTED.value)

# One statement: the UPDATE marks the newly late (RETURNING them), and in the same snapshot two
# SELECTs find the already overdue due another reminder (which also covers newly late rows whose
# reminder a crashed run never enqueued) and the open work due within DUE_SOON not reminded lately.
# Every part reads the snapshot taken before the UPDATE: a row it marks was not 'overdue' there,
# and the due-soon part only sees rows not yet due, so no deliverable appears twice. Deliverables
# of deals that are lost or delivered are neither marked nor reminded.
_OVERDUE_AND_DUE_SOON: Final = text(
    """
    WITH marked AS (
        UPDATE deliverables AS d SET status = 'overdue'
        FROM deals AS dl
        WHERE dl.id = d.deal_id AND dl.stage <> ALL(:closed)
          AND d.status = ANY(:open) AND d.due_at < :now
        RETURNING d.id, d.reminded_at, d.due_at
    )
    SELECT id, reminded_at, due_at, 'overdue' AS reason, true AS newly FROM marked
    UNION ALL
    SELECT d.id, d.reminded_at, d.due_at, 'overdue', false
    FROM deliverables AS d JOIN deals AS dl ON dl.id = d.deal_id
    WHERE d.status = 'overdue' AND dl.stage <> ALL(:closed)
      AND d.due_at >= :remind_from AND (d.reminded_at IS NULL OR d.reminded_at < :cutoff)
    UNION ALL
    SELECT d.id, d.reminded_at, d.due_at, 'due_soon', false
    FROM deliverables AS d JOIN deals AS dl ON dl.id = d.deal_id
    WHERE d.status = ANY(:open) AND dl.stage <> ALL(:closed)
      AND d.due_at >= :now AND d.due_at < :soon
      AND (d.reminded_at IS NULL OR d.reminded_at < :cutoff)
    """
)


@uses_tables(Deliverable, Deal)
async def deliverable_overdue(ctx: JobContext) -> dict[str, Any]:
    """Late work becomes ``overdue``; overdue and due-soon work not reminded for 24 h gets a reminder job.

    ``count``: deliverables that became overdue; ``reminders``: overdue reminders enqueued (up to
    ``REMIND_OVERDUE_FOR`` past the due date, then they stop); ``due_soon``: reminders enqueued
    for open work due within ``DUE_SOON``. Reminder job ids carry the deliverable and its last
    reminder, so a re-run (of this tick or the next) enqueues nothing new while one is queued,
    and deliverable-reminders itself refuses a second reminder within 24 h.
    """
    now = tick_time(ctx, DELIVERABLE_OVERDUE)
    cutoff = now - REMIND_EVERY
    remind_from = now - REMIND_OVERDUE_FOR
    async with ctx["sessions"].begin() as session:
        rows = (
            await session.execute(
                _OVERDUE_AND_DUE_SOON,
                {
                    "now": now,
                    "cutoff": cutoff,
                    "remind_from": remind_from,
                    "soon": now + DUE_SOON,
                    "open": list(OPEN_STATES),
                    "closed": list(CLOSED_DEAL_STAGES),
                },
            )
        ).all()

    newly = sum(1 for row in rows if row.newly)
    # Newly marked rows come back whatever their last reminder or age; the rule applies here.
    due = sorted(
        (row.id, row.reminded_at, row.reason)
        for row in rows
        if (row.reminded_at is None or row.reminded_at < cutoff)
        and (row.reason == "due_soon" or row.due_at >= remind_from)
    )
    ids = await ctx["producer"].enqueue_many(
        "deliverable-reminders",
        [{"deliverableId": deliverable_id} for deliverable_id, _, _ in due],
        job_ids=[
            f"deliverable-reminders:{deliverable_id}:{reminder_key(last)}" for deliverable_id, last, _ in due
        ],
    )
    enqueued = [reason for (_, _, reason), job_id in zip(due, ids, strict=True) if job_id is not None]
    return {"count": newly, "reminders": enqueued.count("overdue"), "due_soon": enqueued.count("due_soon")}


@uses_tables(Approval)
async def flush_stale_approvals(ctx: JobContext) -> dict[str, Any]:
    """Pending approvals past their expiry at the tick become ``expired`` (decided then): one statement."""
    now = tick_time(ctx, FLUSH_STALE_APPROVALS)
    expired = (
        update(Approval)
        .where(col(Approval.status) == ApprovalStatus.PENDING.value, col(Approval.expires_at) < now)
        .values(status=ApprovalStatus.EXPIRED.value, decided_at=now)
        .returning(col(Approval.kind))
        .cte("expired")
    )
    async with ctx["sessions"].begin() as session:
        by_kind = {
            kind: int(count)
            for kind, count in (
                await session.execute(
                    select(expired.c.kind, func.count()).group_by(expired.c.kind).order_by(expired.c.kind)
                )
            ).all()
        }
    return {"count": sum(by_kind.values()), "byKind": by_kind}
