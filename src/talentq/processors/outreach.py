"""outreach: send one pending outreach action through email-send and mark it sent.

Reads ``outreach_actions``, ``brands``, ``talents``, ``users`` (and ``outbound_emails``); writes the
action's status, ``sent_at`` and ``to_address``. Safe to re-run: the email job's id is the action's,
so a retry never mails twice, and a retry after the action was marked sent completes as ``already_sent``.
"""

from __future__ import annotations

from typing import Any

from arq.constants import job_key_prefix, result_key_prefix
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from talentq.db.domain import Brand, OutboundEmail, OutreachAction, OutreachStatus, Talent, User
from talentq.db.models import utcnow
from talentq.errors import PermanentJobError
from talentq.integrations.mail import MailRejected, check_address
from talentq.jobs import JobContext, uses_tables
from talentq.queues import ActionRef


def email_job_id(action_id: int) -> str:
    """The email-send job of an action: one per action, whichever outreach job sends it."""
    return f"email-send:outreach:{action_id}"


@uses_tables(OutreachAction, Brand, Talent, User, OutboundEmail)
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
        to = action.to_address or brand.contact_email
        if not to:
            raise PermanentJobError(
                f"outreach action {action_id}: brand {brand.id} ({brand.name!r}) has no contact_email "
                "and the action no to_address"
            )
        try:
            check_address(to, field="to")
        except MailRejected as exc:
            raise PermanentJobError(f"outreach action {action_id}: {exc}") from exc
        for name, value in (("subject", action.subject), ("message", action.message)):
            if not (value or "").strip():
                raise PermanentJobError(f"outreach action {action_id} has no {name}")
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
    return {
        "status": "sent",
        "actionId": action_id,
        "talent": talent.handle,
        "to": to,
        "emailJobId": email_job,
    }


async def _email_job_exists(ctx: JobContext, session: AsyncSession, job_id: str) -> bool:
    """Queued or running (arq's job key), done lately (its result), or done long ago (the outbox row)."""
    if await ctx["redis"].exists(job_key_prefix + job_id, result_key_prefix + job_id):
        return True
    found = await session.scalar(select(col(OutboundEmail.id)).where(col(OutboundEmail.job_id) == job_id))
    return found is not None
