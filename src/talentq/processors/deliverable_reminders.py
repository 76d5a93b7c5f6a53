"""deliverable-reminders: email the talent (the manager in copy) about a deliverable due soon or overdue.

To the manager alone when the talent has no email on file.

Reads ``deliverables``, ``talents``, ``deals``, ``brands`` and ``users``; writes
``deliverables.reminded_at`` and enqueues ``email-send``. Safe to re-run: under a row lock it
enqueues the email (job id keyed by the reminder it replaces) before it commits
``reminded_at``, so a retry or a concurrent job never sends a second reminder within 24 h.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import col

from talentq import job_ids
from talentq.db.deliverables import locked_deliverable
from talentq.db.models import pk, utcnow
from talentq.db.tables import Brand, Deal, Deliverable, DeliverableStatus, Talent, User
from talentq.domain.addresses import named_address
from talentq.domain.deliverables import (
    CLOSED_DEAL_STAGES,
    DUE_SOON,
    REMIND_EVERY,
    REMIND_OVERDUE_FOR,
)
from talentq.domain.time import local_text, zone_or
from talentq.jobs import JobContext, uses_tables
from talentq.queues import EMAIL_SEND, DeliverableRef, EmailSend


@uses_tables(Deliverable, Talent, Deal, Brand, User)
async def handle(ctx: JobContext, payload: DeliverableRef) -> dict[str, Any]:
    now = utcnow()
    async with ctx["sessions"].begin() as session:
        # Held until the commit: a concurrent job for the same deliverable waits here, then
        # sees this one's reminded_at and completes as recently_reminded.
        found = await locked_deliverable(session, payload.deliverable_id)
        deliverable, stage = found.deliverable, found.deal_stage
        talent, manager_id, manager = found.talent_name, found.manager_id, found.manager_name
        talent_email = found.talent_email
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
        email_job = job_ids.reminder_email(pk(deliverable), last)
        overdue = deliverable.due_at <= now
        # To the talent, who does the work, the manager in copy; to the manager alone when the
        # talent has no email on file.
        to_talent = talent_email is not None
        await ctx["producer"].enqueue(
            EMAIL_SEND,
            EmailSend(
                to=named_address(talent, talent_email)
                if talent_email
                else named_address(manager, manager_email),
                cc=[named_address(manager, manager_email)] if to_talent else [],
                subject=_subject(deliverable.title, talent, overdue),
                body=_body(
                    deliverable,
                    talent,
                    brand,
                    manager,
                    local_text(deliverable.due_at, zone_or(zone_name, owner=f"user {manager_id}")),
                    overdue,
                    now,
                    to_talent=to_talent,
                ),
            ),
            job_id=email_job,
        )
        await session.execute(
            update(Deliverable).where(col(Deliverable.id) == deliverable.id).values(reminded_at=now)
        )
    return {
        **reference,
        "result": "reminded",
        "overdue": overdue,
        "emailJobId": email_job,
        "to": "talent" if to_talent else "manager",
    }


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
    *,
    to_talent: bool,
) -> str:
    gap = _span(abs(deliverable.due_at - now))
    when = f"was due {due} ({gap} ago)" if overdue else f"is due {due} (in {gap})"
    status = deliverable.status.replace("_", " ")
    reader = talent if to_talent else manager
    whose = "Your" if to_talent else f"{talent}'s"
    lines = [
        f"Hi {reader.split()[0] if reader.split() else 'there'},",
        "",
        f'{whose} deliverable "{deliverable.title}"{f" for {brand}" if brand else ""} {when}.',
        f"Platform: {deliverable.platform or 'not set'}. Status: {status}.",
    ]
    if deliverable.status == DeliverableStatus.CHANGES_REQUESTED:
        lines.append("The last review asked for changes; the revised content has not come in yet.")
    if to_talent:
        lines.append(f"{manager}, your manager, is in copy.")
    lines += ["", f"Deliverable {deliverable.id}. The next reminder comes in 24 hours at the earliest."]
    return "\n".join(lines)


def _span(delta: timedelta) -> str:
    hours = int(delta.total_seconds() // 3600)
    if hours < 1:
        return "under an hour"
    if hours < 48:
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{hours // 24} days"
