"""Delivery crons: deliverable-overdue marks late work and fans out reminders; flush-stale-approvals expires.

Each is one SQL statement whatever the number of rows (plus one script call per 1,000
reminder jobs), and a re-run finds nothing left to change or enqueue.
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import func, literal, or_, select, union_all, update
from sqlmodel import col

from talentq.db.domain import Approval, ApprovalStatus, Deliverable, DeliverableStatus
from talentq.db.models import utcnow
from talentq.jobs import JobContext, uses_tables
from talentq.processors.deliverable_reminders import REMIND_EVERY, reminder_key

#: Work past its due date in these states is late. ``submitted`` is not: the content is in and
#: waiting for its review, and ``approved`` is done.
LATE_STATES: Final = (DeliverableStatus.PENDING.value, DeliverableStatus.CHANGES_REQUESTED.value)


@uses_tables(Deliverable)
async def deliverable_overdue(ctx: JobContext) -> dict[str, Any]:
    """Late deliverables become ``overdue``; each overdue one not reminded for 24 h gets a reminder job.

    One statement: an UPDATE ... RETURNING for the newly late, and in the same snapshot the
    ones already overdue and due another reminder (which also covers newly late rows whose
    reminder a crashed run never enqueued). Reminder job ids carry the deliverable and its
    last reminder, so a re-run (of this tick or the next) enqueues nothing new while one is
    queued, and deliverable-reminders itself refuses a second reminder within 24 h.
    """
    now = utcnow()
    cutoff = now - REMIND_EVERY
    marked = (
        update(Deliverable)
        .where(col(Deliverable.status).in_(LATE_STATES), col(Deliverable.due_at) < now)
        .values(status=DeliverableStatus.OVERDUE.value)
        .returning(col(Deliverable.id), col(Deliverable.reminded_at))
        .cte("marked")
    )
    # The second branch reads the statement's snapshot, taken before the UPDATE: the rows it
    # marks were not 'overdue' yet there, so no deliverable appears twice.
    statement = union_all(
        select(marked.c.id, marked.c.reminded_at, literal(True).label("newly")),
        select(col(Deliverable.id), col(Deliverable.reminded_at), literal(False)).where(
            col(Deliverable.status) == DeliverableStatus.OVERDUE.value,
            or_(col(Deliverable.reminded_at).is_(None), col(Deliverable.reminded_at) < cutoff),
        ),
    )
    async with ctx["sessions"].begin() as session:
        rows = (await session.execute(statement)).all()

    newly = sum(1 for _, _, is_new in rows if is_new)
    due = sorted(
        (deliverable_id, reminded_at)
        for deliverable_id, reminded_at, _ in rows
        if reminded_at is None or reminded_at < cutoff
    )
    ids = await ctx["producer"].enqueue_many(
        "deliverable-reminders",
        [{"deliverableId": deliverable_id} for deliverable_id, _ in due],
        job_ids=[
            f"deliverable-reminders:{deliverable_id}:{reminder_key(last)}" for deliverable_id, last in due
        ],
    )
    return {"count": newly, "reminders": sum(job is not None for job in ids)}


@uses_tables(Approval)
async def flush_stale_approvals(ctx: JobContext) -> dict[str, Any]:
    """Pending approvals past their expiry become ``expired`` (decided now): one statement, counts by kind."""
    now = utcnow()
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
