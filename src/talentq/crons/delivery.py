"""Delivery crons: deliverable-overdue marks late work and fans out reminders; flush-stale-approvals expires.

Each is one SQL statement whatever the number of rows (plus one script call per 1,000
reminder jobs), and a re-run finds nothing left to change or enqueue. "Now" is the run's
tick (``talentq.jobs.tick_time``).
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import text

from talentq import job_ids
from talentq.db.tables import Approval, Deal, Deliverable, DeliverableStatus, OutreachAction
from talentq.domain.deliverables import (
    CLOSED_DEAL_STAGES,
    DUE_SOON,
    REMIND_EVERY,
    REMIND_OVERDUE_FOR,
)
from talentq.jobs import JobContext, tick_time, uses_tables
from talentq.queues import DELIVERABLE_REMINDERS, DeliverableRef

#: The crons' names in the schedule: each run's tick is its "now" (see ``talentq.jobs.tick_time``).
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
    fan = await ctx["producer"].fan_out(
        DELIVERABLE_REMINDERS,
        due,
        payload=lambda row: DeliverableRef(deliverable_id=row[0]),
        job_id=lambda row: job_ids.deliverable_reminder(row[0], row[1]),
    )
    enqueued = [reason for (_, _, reason), job_id in zip(due, fan.ids, strict=True) if job_id is not None]
    return {
        "count": newly,
        "reminders": enqueued.count("overdue"),
        "due_soon": enqueued.count("due_soon"),
        **fan.report(),
    }


# Pending approvals past their expiry at the tick become expired (decided then); an outreach action
# waiting for one of them is closed as 'expired' with the reason, so it holds its brand no more.
# One statement: the UPDATE of the approvals feeds the UPDATE of the actions and the counts.
_EXPIRE: Final = text(
    """
    WITH expired AS (
        UPDATE approvals SET status = 'expired', decided_at = :now
        WHERE status = 'pending' AND expires_at < :now
        RETURNING id, kind
    ), closed AS (
        UPDATE outreach_actions AS o
        SET status = 'expired',
            error = 'approval ' || e.id || ' expired undecided at ' || to_char(CAST(:now AS timestamptz)
                    AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI"Z"') || ': never sent'
        FROM expired AS e
        WHERE o.approval_id = e.id AND o.status = 'pending'
        RETURNING o.id
    )
    SELECT e.kind, count(*) AS n, (SELECT count(*) FROM closed) AS closed
    FROM expired AS e GROUP BY e.kind ORDER BY e.kind
    """
)


@uses_tables(Approval, OutreachAction)
async def flush_stale_approvals(ctx: JobContext) -> dict[str, Any]:
    """Pending approvals past their expiry at the tick expire, and the pitches waiting for them."""
    now = tick_time(ctx, FLUSH_STALE_APPROVALS)
    async with ctx["sessions"].begin() as session:
        rows = (await session.execute(_EXPIRE, {"now": now})).all()
    by_kind = {row.kind: int(row.n) for row in rows}
    return {
        "count": sum(by_kind.values()),
        "byKind": by_kind,
        "outreachClosed": int(rows[0].closed) if rows else 0,
    }
