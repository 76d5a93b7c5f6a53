"""outreach: send one pending outreach action through email-send and mark it sent.

Reads ``outreach_actions``, ``brands``, ``talents``, ``users``, ``inbox_messages`` (and ``outbound_emails``);
writes the action's status, ``sent_at``, ``to_address`` or ``error``. Safe to re-run: the email job's id is
the action's, so a retry never mails twice; an action that can never be sent is closed as failed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from arq.constants import job_key_prefix, result_key_prefix
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from talentq.brands import brand_mail_sql
from talentq.db.domain import (
    Brand,
    InboxMessage,
    OutboundEmail,
    OutreachAction,
    OutreachKind,
    OutreachStatus,
    Talent,
    User,
)
from talentq.db.models import utcnow
from talentq.errors import PermanentJobError
from talentq.integrations.mail import MailRejected, check_address
from talentq.jobs import JobContext, uses_tables
from talentq.queues import ActionRef

# The first mail from the brand to the manager after the pitch went out (brands.py's rule).
_FIRST_REPLY = text(
    "SELECT min(received_at) FROM ("
    + brand_mail_sql(messages="m.user_id = :user AND m.received_at > :sent_at", brands="b.id = :brand")
    + ") AS reply"
)


def email_job_id(action_id: int) -> str:
    """The email-send job of an action: one per action, whichever outreach job sends it."""
    return f"email-send:outreach:{action_id}"


@uses_tables(OutreachAction, Brand, Talent, User, OutboundEmail, InboxMessage)
async def handle(ctx: JobContext, payload: ActionRef) -> dict[str, Any]:
    action_id = payload.action_id
    email_job = email_job_id(action_id)
    async with ctx["sessions"].begin() as session:
        # The lock makes two outreach jobs for one action take turns: the second sees 'sent'.
        row = (
            await session.execute(
                select(OutreachAction, Brand, Talent, User)
                .join(Brand, col(Brand.id) == col(OutreachAction.brand_id))
                .join(Talent, col(Talent.id) == col(OutreachAction.talent_id))
                .join(User, col(User.id) == col(Talent.manager_id))
                .where(col(OutreachAction.id) == action_id)
                .with_for_update(of=OutreachAction)
            )
        ).one_or_none()
        if row is None:
            raise PermanentJobError(f"outreach action {action_id} not found")
        action, brand, talent, manager = row
        if action.status != OutreachStatus.PENDING:
            # A retry of the job that sent it (it died after committing, before arq saw the result):
            # the email job exists, so the mail is on its way or out; nothing is left to do.
            if (
                action.status == OutreachStatus.SENT
                and ctx["job_try"] > 1
                and await _email_job_exists(ctx, session, email_job)
            ):
                return {"status": "already_sent", "actionId": action_id, "emailJobId": email_job}
            raise PermanentJobError(f"outreach action {action_id} is {action.status!r}, not 'pending'")
        if action.kind == OutreachKind.FOLLOW_UP and action.follow_up_of_id is not None:
            replied_at = await _reply_to(session, action.follow_up_of_id, talent.manager_id, action.brand_id)
            if replied_at is not None:
                # Chasing a brand that answered would be rude: the follow-up is closed, not sent.
                reason = (
                    f"follow-up not needed: brand {brand.id} ({brand.name!r}) replied to outreach "
                    f"action {action.follow_up_of_id} at {replied_at.isoformat(timespec='seconds')}"
                )
                action.status, action.error = OutreachStatus.FAILED.value, reason
                return {"status": "not_needed", "actionId": action_id, "reason": reason}
        to = action.to_address or brand.contact_email
        problem = _unsendable(action_id, to, action, brand)
        if problem is not None:
            # Closed in this transaction, which commits: the daily plan stops queueing it and
            # rotation stops moving it; the dead letter (raised below) carries the same reason.
            action.status, action.error = OutreachStatus.FAILED.value, problem
        else:
            # Enqueued before the commit: if the commit is lost, the retry finds the action still
            # pending and enqueues the same job id again, which arq (and email-send's outbox) ignores.
            await ctx["producer"].enqueue(
                "email-send",
                {"to": to, "subject": action.subject, "body": action.message, "replyTo": manager.email},
                job_id=email_job,
            )
            action.status = OutreachStatus.SENT.value
            action.sent_at = utcnow()
            action.to_address = to
    if problem is not None:
        raise PermanentJobError(problem)
    return {
        "status": "sent",
        "actionId": action_id,
        "talent": talent.handle,
        "to": to,
        "emailJobId": email_job,
    }


def _unsendable(action_id: int, to: str | None, action: OutreachAction, brand: Brand) -> str | None:
    """Why the action can never be sent as it stands (no retry changes it), or None."""
    if not to:
        return (
            f"outreach action {action_id}: brand {brand.id} ({brand.name!r}) has no contact_email "
            "and the action no to_address"
        )
    try:
        check_address(to, field="to")
    except MailRejected as exc:
        return f"outreach action {action_id}: {exc}"
    for name, value in (("subject", action.subject), ("message", action.message)):
        if not (value or "").strip():
            return f"outreach action {action_id} has no {name}"
    return None


async def _reply_to(
    session: AsyncSession, original_id: int, manager_id: int, brand_id: int
) -> datetime | None:
    """When the brand answered the original pitch, or None. Read only: the pitch is not updated here.

    outreach-follow-ups records replies every few hours; mail that came in since is looked up here,
    but marking the pitch replied is left to that cron. It updates pitches, then their follow-ups;
    this job holds its follow-up's row lock, so updating the pitch here too would take the same
    two locks in the opposite order and the two could deadlock.
    """
    original = await session.get(OutreachAction, original_id)
    if original is None or original.sent_at is None:
        return None
    if original.replied_at is not None:
        return original.replied_at
    replied_at: datetime | None = await session.scalar(
        _FIRST_REPLY, {"user": manager_id, "sent_at": original.sent_at, "brand": brand_id}
    )
    return replied_at


async def _email_job_exists(ctx: JobContext, session: AsyncSession, job_id: str) -> bool:
    """Queued or running (arq's job key), done lately (its result), or done long ago (the outbox row)."""
    if await ctx["redis"].exists(job_key_prefix + job_id, result_key_prefix + job_id):
        return True
    found = await session.scalar(select(col(OutboundEmail.id)).where(col(OutboundEmail.job_id) == job_id))
    return found is not None
