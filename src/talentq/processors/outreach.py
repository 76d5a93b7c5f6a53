"""outreach: put one due outreach action (a pitch or follow-up the AI drafted) before its approver.

Reads ``outreach_actions``, ``brands``, ``talents``, ``users``, ``inbox_messages``; writes an
``approvals`` row holding the email and the action's ``approval_id`` and ``to_address``, or its
``error``. Nothing is sent here: approving sends it (``talentq.approvals``), unless
``APPROVAL_AUTO_SEND`` allows the kind (a follow-up only when a person approved its pitch). Safe
to re-run: the approval is keyed by the action, so a retry finds it; an action that can never be
sent is closed as failed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from talentq import approvals
from talentq.db.brands import brand_mail_sql
from talentq.db.models import pk, utcnow
from talentq.db.tables import (
    Approval,
    ApprovalStatus,
    Brand,
    InboxMessage,
    OutreachAction,
    OutreachKind,
    OutreachStatus,
    Talent,
    User,
)
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


@uses_tables(OutreachAction, Brand, Talent, User, InboxMessage, Approval)
async def handle(ctx: JobContext, payload: ActionRef) -> dict[str, Any]:
    action_id = payload.action_id
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
            if action.status == OutreachStatus.SENT and action.approval_id is not None:
                # Approved (or auto-sent) since this job was queued: its approval sent it.
                return {"status": "already_sent", "actionId": action_id, "approvalId": action.approval_id}
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
        if action.approval_id is not None:
            # Its approval was asked for by an earlier job: a person decides now, not this job.
            return {"status": "awaiting_approval", "actionId": action_id, "approvalId": action.approval_id}
        to = action.to_address or brand.contact_email
        problem = _unsendable(action_id, to, action, brand)
        if problem is not None:
            # Closed in this transaction, which commits: the daily plan stops queueing it and
            # rotation stops moving it; the dead letter (raised below) carries the same reason.
            action.status, action.error = OutreachStatus.FAILED.value, problem
        else:
            assert to is not None  # _unsendable refuses an action without an address
            follow_up = action.kind == OutreachKind.FOLLOW_UP
            kind = approvals.OUTREACH_FOLLOW_UP if follow_up else approvals.OUTREACH_PITCH
            approval_id, _ = await approvals.request(
                session,
                ctx["producer"],
                kind=kind,
                source_key=f"outreach:{action_id}",
                approver_id=pk(manager),
                subject=f"{'Follow-up' if follow_up else 'Pitch'} to {brand.name} for {talent.name}: "
                f"{action.subject}",
                email={"to": to, "subject": action.subject, "body": action.message, "replyTo": manager.email},
                extra={"outreach_action_id": action_id, "talent_id": talent.id, "brand_id": brand.id},
                auto_send=await _auto_send(ctx, session, action, kind),
            )
            action.approval_id, action.to_address = approval_id, to
            approval = await session.get(Approval, approval_id)
            if approval is not None and approval.status == ApprovalStatus.APPROVED:  # auto-sent
                action.status, action.sent_at = OutreachStatus.SENT.value, utcnow()
    if problem is not None:
        raise PermanentJobError(problem)
    return {
        "status": "sent" if action.status == OutreachStatus.SENT else "awaiting_approval",
        "actionId": action_id,
        "approvalId": action.approval_id,
        "talent": talent.handle,
        "to": to,
    }


async def _auto_send(ctx: JobContext, session: AsyncSession, action: OutreachAction, kind: str) -> str | None:
    """The rule that lets ``action`` go without a person, or None (the default: a person approves).

    ``APPROVAL_AUTO_SEND`` names the kinds; a follow-up goes only when a person approved its pitch.
    """
    rule = approvals.auto_send_rule(ctx["settings"].approval_auto_send, kind)
    if rule is None or kind != approvals.OUTREACH_FOLLOW_UP:
        return rule
    original = await session.get(OutreachAction, action.follow_up_of_id)
    pitch = await session.get(Approval, original.approval_id) if original and original.approval_id else None
    if pitch is None or pitch.status != ApprovalStatus.APPROVED or pitch.decided_by_id is None:
        return None  # the thread was never approved by a person: this one is asked for too
    return (
        f"APPROVAL_AUTO_SEND names {kind}, and user {pitch.decided_by_id} approved its pitch "
        f"(approval {pitch.id})"
    )


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
