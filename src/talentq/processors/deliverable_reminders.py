"""deliverable-reminders: email the talent's manager about a deliverable due soon or overdue.

Reads ``deliverables``, ``talents``, ``deals``, ``brands`` and ``users``; writes
``deliverables.reminded_at`` and enqueues ``email-send``. Safe to re-run: under a row lock it
enqueues the email (job id keyed by the reminder it replaces) before it commits
``reminded_at``, so a retry or a concurrent job never sends a second reminder within 24 h.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import update
from sqlmodel import col

from talentq.clock import local_text, zone_or
from talentq.db.domain import Brand, Deal, DealStage, Deliverable, DeliverableStatus, Talent, User
from talentq.db.models import utcnow
from talentq.deliverables import locked_deliverable
from talentq.integrations.mail import named_address
from talentq.jobs import JobContext, uses_tables
from talentq.queues import DeliverableRef

#: No second reminder for one deliverable within this long.
REMIND_EVERY: Final = timedelta(hours=24)
#: A deliverable due further out than this is not reminded of yet.
DUE_SOON: Final = timedelta(hours=48)
#: Reminders stop this long after the due date: past two weeks of daily emails about one piece
#: of work a reminder is noise; the deliverable stays ``overdue`` until a person settles it.
REMIND_OVERDUE_FOR: Final = timedelta(days=14)
#: Work for a deal in these stages is not chased: the deal is over.
CLOSED_DEAL_STAGES: Final = (DealStage.LOST.value, DealStage.DELIVERED.value)


@uses_tables(Deliverable, Talent, Deal, Brand, User)
async def handle(ctx: JobContext, payload: DeliverableRef) -> dict[str, Any]:
    now = utcnow()
    async with ctx["sessions"].begin() as session:
        # Held until the commit: a concurrent job for the same deliverable waits here, then
        # sees this one's reminded_at and completes as recently_reminded.
        found = await locked_deliverable(session, payload.deliverable_id)
        deliverable, stage = found.deliverable, found.deal_stage
        talent, manager_id, manager = found.talent_name, found.manager_id, found.manager_name
        manager_email, zone_name, brand = found.manager_email, found.manager_zone, found.brand_name
        reference = {"deliverableId": deliverable.id, "status": deliverable.status}
        if deliverable.status == DeliverableStatus.APPROVED:
            return {**reference, "result": "not_needed", "reason": "the deliverable is approved"}
        if deliverable.status == DeliverableStatus.SUBMITTED:
            return {**reference, "result": "not_needed", "reason": "its content is submitted and in review"}
        if stage in CLOSED_DEAL_STAGES:
            return {**reference, "result": "not_needed", "reason": f"deal {deliverable.deal_id} is {stage}"}
        if now - deliverable.due_at > REMIND_OVERDUE_FOR:
            reason = f"over {REMIND_OVERDUE_FOR.days} days past due: reminders have stopped"
            return {**reference, "result": "not_needed", "reason": reason}
        last = deliverable.reminded_at
        if last is not None and now - last < REMIND_EVERY:
            return {**reference, "result": "recently_reminded", "remindedAt": last.isoformat()}
        if deliverable.due_at - now > DUE_SOON:
            return {**reference, "result": "not_due_soon", "dueAt": deliverable.due_at.isoformat()}

        # Keyed by the reminder this one replaces: a retry after a crash before the commit
        # finds the same key (and the queued or sent email), the next reminder gets a new one.
        email_job = f"email-send:deliverable-reminder:{deliverable.id}:{reminder_key(last)}"
        overdue = deliverable.due_at <= now
        await ctx["producer"].enqueue(
            "email-send",
            {
                "to": named_address(manager, manager_email),
                "subject": _subject(deliverable.title, talent, overdue),
                "body": _body(
                    deliverable,
                    talent,
                    brand,
                    manager,
                    local_text(deliverable.due_at, zone_or(zone_name, owner=f"user {manager_id}")),
                    overdue,
                    now,
                ),
            },
            job_id=email_job,
        )
        await session.execute(
            update(Deliverable).where(col(Deliverable.id) == deliverable.id).values(reminded_at=now)
        )
    return {**reference, "result": "reminded", "overdue": overdue, "emailJobId": email_job}


def reminder_key(reminded_at: datetime | None) -> str:
    """The key of the reminder after ``reminded_at`` (the last one): job ids of reminders carry it."""
    return "first" if reminded_at is None else str(round(reminded_at.timestamp() * 1_000_000))


def _subject(title: str, talent: str, overdue: bool) -> str:
    state = "Overdue" if overdue else "Due soon"
    return f"{state}: {title} ({talent})"[:300]


def _body(
    deliverable: Deliverable,
    talent: str,
    brand: str | None,
    manager: str,
    due: str,
    overdue: bool,
    now: datetime,
) -> str:
    gap = _span(abs(deliverable.due_at - now))
    when = f"was due {due} ({gap} ago)" if overdue else f"is due {due} (in {gap})"
    status = deliverable.status.replace("_", " ")
    lines = [
        f"Hi {manager.split()[0] if manager.split() else 'there'},",
        "",
        f'{talent}\'s deliverable "{deliverable.title}"{f" for {brand}" if brand else ""} {when}.',
        f"Platform: {deliverable.platform or 'not set'}. Status: {status}.",
    ]
    if deliverable.status == DeliverableStatus.CHANGES_REQUESTED:
        lines.append("The last review asked for changes; the revised content has not come in yet.")
    lines += ["", f"Deliverable {deliverable.id}. The next reminder comes in 24 hours at the earliest."]
    return "\n".join(lines)


def _span(delta: timedelta) -> str:
    hours = int(delta.total_seconds() // 3600)
    if hours < 1:
        return "under an hour"
    if hours < 48:
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{hours // 24} days"
