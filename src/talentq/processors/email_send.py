"""email-send: write the outbox row (keyed by job id), send it through the mail transport, mark it sent.

Reads and writes ``outbound_emails``. A retry of the same job finds its row: one already sent
is not sent again. The row is 'sending' during the handoff to the server; a run that finds it
so knows its worker died mid-handoff, when the email may or may not have gone out: it marks
the row 'uncertain' and fails for good, saying so, rather than risk sending it twice (a replay
of the dead letter sends it). A failure the transport reports leaves the row pending for the
retry (at-least-once); the Message-ID, derived from the job id, lets the receiving side drop
a duplicate then.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col

from talentq.db.models import utcnow
from talentq.db.tables import EmailStatus, OutboundEmail
from talentq.errors import PermanentJobError
from talentq.integrations.mail import MailRejected, OutgoingMail, UnconfiguredTransport
from talentq.jobs import JobContext, uses_tables
from talentq.queues import EmailSend


@uses_tables(OutboundEmail)
async def handle(ctx: JobContext, payload: EmailSend) -> dict[str, Any]:
    job_id = ctx["job_id"]
    if isinstance(ctx["mail"], UnconfiguredTransport):
        # Retrying cannot configure the transport; the dead letter can be replayed once it is.
        raise PermanentJobError(UnconfiguredTransport.REASON)

    row = await _outbox_row(ctx, payload)
    if row.status == EmailStatus.SENT:
        return {"status": "already_sent", "outboxId": row.id, "providerId": row.provider_id}
    if row.status in (EmailStatus.SENDING, EmailStatus.UNCERTAIN):
        await _mark(ctx, job_id, status=EmailStatus.UNCERTAIN)
        raise PermanentJobError(
            f"email to {payload.to!r} (outbox row {row.id}) was being handed to the mail server when "
            "the worker running it stopped: it may have gone out, so it is not sent again by itself; "
            "check with the recipient or the server's log, and replay this dead letter to send it"
        )

    mail = OutgoingMail(
        to=payload.to,
        subject=payload.subject,
        body=payload.body,
        html=payload.html,
        reply_to=payload.reply_to,
        cc=tuple(payload.cc),
        idempotency_key=job_id,
    )
    await _mark(ctx, job_id, status=EmailStatus.SENDING)
    try:
        provider_id = await ctx["mail"].send(mail)
    except MailRejected as exc:
        await _mark(ctx, job_id, status=EmailStatus.FAILED, error=str(exc))
        raise PermanentJobError(f"email to {payload.to!r} rejected: {exc}") from exc
    except Exception as exc:
        await _mark(ctx, job_id, status=EmailStatus.PENDING, error=str(exc))
        raise
    await _mark(ctx, job_id, status=EmailStatus.SENT, provider_id=provider_id, sent_at=utcnow(), error=None)
    return {"status": "sent", "outboxId": row.id, "providerId": provider_id}


async def _outbox_row(ctx: JobContext, payload: EmailSend) -> OutboundEmail:
    async with ctx["sessions"].begin() as session:
        await session.execute(
            insert(OutboundEmail)
            .values(
                job_id=ctx["job_id"],
                to_address=payload.to,
                subject=payload.subject,
                body=payload.body,
                html=payload.html,
                reply_to=payload.reply_to,
                cc=", ".join(payload.cc) or None,
            )
            .on_conflict_do_nothing(index_elements=["job_id"])
        )
        return (
            await session.execute(select(OutboundEmail).where(col(OutboundEmail.job_id) == ctx["job_id"]))
        ).scalar_one()


async def _mark(ctx: JobContext, job_id: str, **values: Any) -> None:
    async with ctx["sessions"].begin() as session:
        await session.execute(
            update(OutboundEmail).where(col(OutboundEmail.job_id) == job_id).values(**values)
        )
