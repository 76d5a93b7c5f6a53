"""Approvals: nothing the AI wrote reaches a brand until a person has approved it.

An email the AI provider wrote (an agent's step, an outreach pitch or follow-up, a negotiation
reply) is stored as a pending ``approvals`` row holding the email (``payload["email"]``), never
enqueued to ``email-send`` directly. The manager who owns the talent (``requested_by_id``)
approves it (optionally editing it), rejects it with a reason, or lets it expire
(flush-stale-approvals). Approving enqueues ``email-send`` once, under the job id
``email-send:approval:<id>``: a double click, a retried request or a replayed job sends one email.
``APPROVAL_AUTO_SEND`` may name kinds sent without waiting (off by default; each auto-send logged).

The web API calls ``approve``, ``reject``, ``pending`` and ``get``; the command line is
``talentq approvals list / show / approve / reject``. Processors call ``request``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from loguru import logger
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from talentq import job_ids
from talentq.client import Producer
from talentq.db.models import utcnow
from talentq.db.tables import Approval, ApprovalStatus, OutreachAction, OutreachStatus, User
from talentq.errors import ApprovalError, QueueRefusedError
from talentq.queues import EMAIL_SEND

# The kinds of approval. Those that carry an email are AI-written mail; a "contract" approval is a
# decision only.
NEGOTIATION_REPLY: Final = "negotiation_reply"
AGENT_EMAIL: Final = "agent_email"
OUTREACH_PITCH: Final = "outreach_pitch"
OUTREACH_FOLLOW_UP: Final = "outreach_follow_up"
#: The kinds that carry an email; APPROVAL_AUTO_SEND may name any of them.
EMAIL_KINDS: Final = (NEGOTIATION_REPLY, AGENT_EMAIL, OUTREACH_PITCH, OUTREACH_FOLLOW_UP)
#: How long an email waits for a decision before flush-stale-approvals expires it.
EMAIL_TTL: Final = timedelta(days=3)
#: The fields of an email a person may change when approving it.
EDITABLE: Final = ("to", "subject", "body")

PENDING: Final = ApprovalStatus.PENDING.value
APPROVED: Final = ApprovalStatus.APPROVED.value
REJECTED: Final = ApprovalStatus.REJECTED.value


@dataclass(frozen=True, slots=True)
class Decision:
    """What a decision did: the approval's status now, the email job (if any), and whether it is new."""

    approval_id: int
    status: str
    email_job_id: str | None
    already: bool = False


def auto_send_rule(auto_send_kinds: Collection[str], kind: str) -> str | None:
    """Why ``kind`` goes without a person (``APPROVAL_AUTO_SEND`` names it), or None: a person approves."""
    return f"APPROVAL_AUTO_SEND names {kind}" if kind in auto_send_kinds else None


async def request(
    session: AsyncSession,
    producer: Producer,
    *,
    kind: str,
    source_key: str,
    approver_id: int,
    subject: str,
    email: Mapping[str, Any],
    extra: Mapping[str, Any] | None = None,
    auto_send: str | None = None,
    ttl: timedelta = EMAIL_TTL,
) -> tuple[int, bool]:
    """Store ``email`` for ``approver_id`` to approve, once per ``source_key``; (approval id, created).

    In the caller's transaction. ``auto_send`` (the rule that allows it) approves and enqueues the
    email at once, logged; the caller decides whether the rule applies.
    """
    now = utcnow()
    payload = {"email": dict(email), **(extra or {})}
    values: dict[str, Any] = {
        "kind": kind,
        "subject": subject[:300],
        "payload": payload,
        "source_key": source_key,
        "requested_by_id": approver_id,
        "expires_at": now + ttl,
    }
    approval_id = await session.scalar(
        insert(Approval)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["source_key"])
        .returning(col(Approval.id))
    )
    if approval_id is None:  # asked before: a retried job
        found = await session.scalar(select(col(Approval.id)).where(col(Approval.source_key) == source_key))
        assert found is not None  # the conflict was on this key
        return int(found), False
    if auto_send is not None:
        job_id = await _enqueue(producer, int(approval_id), payload["email"])
        approval = await session.get(Approval, approval_id)
        assert approval is not None
        approval.status, approval.decided_at = APPROVED, now
        approval.reason, approval.email_job_id = f"auto-sent: {auto_send}", job_id
        logger.info(
            "approval {} ({}) auto-sent without a person ({}): email job {}",
            approval_id,
            kind,
            auto_send,
            job_id,
        )
    return int(approval_id), True


async def approve(
    sessions: async_sessionmaker[AsyncSession],
    producer: Producer,
    approval_id: int,
    *,
    by: int,
    edits: Mapping[str, str] | None = None,
) -> Decision:
    """Approve ``approval_id`` as user ``by``, with the email's ``edits`` (to, subject, body) if any.

    Enqueues its email once; approving again returns the same decision. Refused (``ApprovalError``,
    naming why) when ``by`` is not the approver, or the approval was decided, expired, or what it
    would send has been closed meanwhile (a pitch the brand answered, say).
    """
    edits = dict(edits or {})
    unknown = sorted(set(edits) - set(EDITABLE))
    if unknown:
        raise ApprovalError(
            f"approval {approval_id}: only {', '.join(EDITABLE)} can be edited, not {', '.join(unknown)}"
        )
    async with sessions.begin() as session:
        approval = await get(session, approval_id, lock=True)
        if approval.status == APPROVED:
            return Decision(approval_id, APPROVED, approval.email_job_id, already=True)
        await _decidable(session, approval, by)
        job_id = None
        email = approval.payload.get("email")
        if isinstance(email, Mapping):
            final = {**email, **{k: v for k, v in edits.items() if v is not None}}
            action = await _waiting_action(session, approval)
            job_id = await _enqueue(producer, approval_id, final)
            if action is not None:
                action.status, action.sent_at, action.to_address = (
                    OutreachStatus.SENT.value,
                    utcnow(),
                    final["to"],
                )
            if final != dict(email):
                approval.payload = {**approval.payload, "sent": final}  # what went out, as edited
        elif edits:
            raise ApprovalError(f"approval {approval_id} ({approval.kind}) sends no email: nothing to edit")
        approval.status, approval.decided_at, approval.decided_by_id = APPROVED, utcnow(), by
        approval.email_job_id = job_id
    logger.info(
        "approval {} ({}) approved by user {}{}",
        approval_id,
        approval.kind,
        by,
        f": email job {job_id}" if job_id else "",
    )
    return Decision(approval_id, APPROVED, job_id)


async def reject(
    sessions: async_sessionmaker[AsyncSession], approval_id: int, *, by: int, reason: str
) -> Decision:
    """Reject ``approval_id`` as user ``by``, saying why; nothing is sent. Rejecting again changes nothing."""
    if not reason.strip():
        raise ApprovalError(f"approval {approval_id}: a rejection needs a reason")
    async with sessions.begin() as session:
        approval = await get(session, approval_id, lock=True)
        if approval.status == REJECTED:
            return Decision(approval_id, REJECTED, None, already=True)
        approver = await _decidable(session, approval, by)
        action = await _waiting_action(session, approval)
        if action is not None:
            action.status = OutreachStatus.REJECTED.value
            action.error = f"rejected by {approver.name} (user {by}): {reason.strip()}"
        approval.status, approval.decided_at, approval.decided_by_id = REJECTED, utcnow(), by
        approval.reason = reason.strip()
    logger.info("approval {} ({}) rejected by user {}: {}", approval_id, approval.kind, by, reason.strip())
    return Decision(approval_id, REJECTED, None)


async def pending(
    session: AsyncSession, *, approver_id: int | None = None, limit: int = 100
) -> list[Approval]:
    """Pending approvals not yet expired, oldest first; only ``approver_id``'s when given."""
    query = (
        select(Approval)
        .where(col(Approval.status) == PENDING, col(Approval.expires_at) > utcnow())
        .order_by(col(Approval.created_at), col(Approval.id))
        .limit(limit)
    )
    if approver_id is not None:
        query = query.where(col(Approval.requested_by_id) == approver_id)
    return list((await session.execute(query)).scalars())


async def get(session: AsyncSession, approval_id: int, *, lock: bool = False) -> Approval:
    """One approval (row-locked with ``lock``, to decide it); ``ApprovalError`` naming the id when there
    is none."""
    approval = await session.get(Approval, approval_id, with_for_update=lock)
    if approval is None:
        raise ApprovalError(f"no approval {approval_id} (see `talentq approvals list`)")
    return approval


async def _decidable(session: AsyncSession, approval: Approval, by: int) -> User:
    """The approver, when ``by`` may decide ``approval`` now; ``ApprovalError`` saying why not."""
    if approval.status != PENDING:
        raise ApprovalError(f"approval {approval.id} is {approval.status}: it can no longer be decided")
    if approval.expires_at <= utcnow():
        raise ApprovalError(
            f"approval {approval.id} expired at {_when(approval.expires_at)}: ask for a new draft"
        )
    approver = await session.get(User, by)
    if approver is None:
        raise ApprovalError(f"no user {by} to decide approval {approval.id}")
    if approval.requested_by_id != by:
        owner = await session.get(User, approval.requested_by_id) if approval.requested_by_id else None
        whose = f"{owner.name} (user {owner.id})" if owner else "no manager"
        raise ApprovalError(
            f"approval {approval.id} is for a talent of {whose}: only that manager decides it, "
            f"not {approver.name} (user {by})"
        )
    return approver


async def _waiting_action(session: AsyncSession, approval: Approval) -> OutreachAction | None:
    """The outreach action ``approval`` decides, locked, if it is one; refused if it has moved on."""
    action_id = approval.payload.get("outreach_action_id")
    if action_id is None:
        return None
    action = await session.get(OutreachAction, action_id, with_for_update=True)
    if action is None or action.approval_id != approval.id or action.status != OutreachStatus.PENDING:
        state = (
            "gone"
            if action is None
            else f"{action.status!r}" + (f" ({action.error})" if action.error else "")
        )
        raise ApprovalError(
            f"approval {approval.id}: outreach action {action_id} is {state}: nothing to send"
        )
    return action


async def _enqueue(producer: Producer, approval_id: int, email: Mapping[str, Any]) -> str:
    job_id = job_ids.approved_email(approval_id)
    try:
        # The email as the approval stored it (JSON, perhaps edited): validated as it is enqueued.
        await producer.enqueue(EMAIL_SEND.name, dict(email), job_id=job_id)
    except QueueRefusedError as exc:
        raise ApprovalError(
            f"approval {approval_id}: its email cannot be sent as it is: {exc.reason}"
        ) from exc
    return job_id  # None from enqueue means the job exists already: sent once, as wanted


def _when(moment: datetime) -> str:
    return moment.isoformat(timespec="minutes")
