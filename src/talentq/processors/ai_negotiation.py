"""ai-negotiation: draft the agency's next message in a negotiation session, for a person to approve.

Reads ``negotiation_sessions`` (the thread) and the deal with its insights (priced and stored
first when it has none), talent, brand and manager; writes one ``approvals`` row per thread
state, keyed ``negotiation:{session}:{messages}`` (``...:r2``, ``...:r3`` once an earlier draft
expired or was rejected). Nothing is sent: approving the row sends the reply to the brand
(``talentq.approvals``). Safe to re-run: a pending or approved draft for the
thread state is found by its key and nothing new is drafted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from pydantic import ValidationError
from sqlalchemy import or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from talentq.db.deals import (
    DealChanged,
    DealParties,
    comparable_deals,
    content_of,
    load_deal,
    pricing_facts,
    require_stage,
    with_insights,
)
from talentq.db.models import utcnow
from talentq.db.tables import Approval, ApprovalStatus, Brand, Deal, NegotiationSession, Talent, User
from talentq.domain.mail import extract_deal
from talentq.domain.money import format_minor
from talentq.domain.pricing import (
    ComparableDeal,
    NegotiationFacts,
    NegotiationInsights,
    NegotiationReply,
    PricingFacts,
    StoredInsights,
    ThreadMessage,
)
from talentq.domain.vocabulary import DealStage
from talentq.errors import PermanentJobError
from talentq.jobs import JobContext, uses_tables
from talentq.queues import SessionRef

OPEN: Final = "open"
APPROVAL_KIND: Final = "negotiation_reply"
#: A drafted reply left undecided this long expires: the negotiation has moved on by then.
APPROVAL_TTL: Final = timedelta(days=2)
#: A draft approved, or pending and not past its ``expires_at``, stands for its thread state:
#: nothing new is drafted. An expired (whether or not flush-stale-approvals has marked it yet)
#: or rejected one does not: the step is drafted again, under the next revision of its key.
APPROVED: Final = ApprovalStatus.APPROVED.value
PENDING: Final = ApprovalStatus.PENDING.value


@dataclass(frozen=True)
class _Step:
    """What the read phase found: the thread state to answer and what the reply is drafted from."""

    key: str
    thread: tuple[ThreadMessage, ...]
    parties: DealParties
    #: The deal's usable stored insights, or None: then it is priced from ``pricing`` first.
    stored: StoredInsights | None
    pricing: tuple[PricingFacts, list[ComparableDeal]] | None


@uses_tables(NegotiationSession, Deal, Talent, Brand, User, Approval)
async def handle(ctx: JobContext, payload: SessionRef) -> dict[str, Any]:
    ai = ctx["ai"]
    async with ctx["sessions"]() as session:
        step = await _read(session, payload.session_id)
    if isinstance(step, dict):
        return step  # already drafted
    # The provider is called with no session open: it may be a remote model that takes seconds,
    # and a connection (or a row lock) held that long would starve every other job.
    priced: NegotiationInsights | None = None
    stored = step.stored
    if step.pricing is not None:
        priced = await ai.negotiation_insights(*step.pricing)
        stored = StoredInsights.model_validate(priced.as_json())
    assert stored is not None  # read with the deal, or priced just now
    facts = _facts(payload.session_id, step.parties, stored, step.thread)
    reply = await ai.draft_negotiation_reply(facts)
    # Both providers hold the floor: the rules by construction, an AI's answer by
    # ReplyAnswer.result (refused, and asked again, below it). Checked here all the same, and
    # not by an assert (python -O strips those): no reply below the floor is ever stored.
    if reply.fee_minor < facts.floor_minor:
        raise PermanentJobError(
            f"negotiation session {payload.session_id}: the drafted reply ({reply.action}) names "
            f"{format_minor(reply.fee_minor, facts.currency)}, below the deal's floor of "
            f"{format_minor(facts.floor_minor, facts.currency)}: not stored"
        )

    async with ctx["sessions"].begin() as session:
        written = await _write(session, step, facts, reply, priced)
    return {
        **written,
        "action": reply.action,
        "feeMinor": reply.fee_minor,
        "insightsComputed": priced is not None,
    }


async def _read(session: AsyncSession, session_id: int) -> _Step | dict[str, Any]:
    """The step to draft, or the result of a run that finds it drafted already."""
    chat = await _session(session, session_id, lock=False)
    base = f"negotiation:{chat.id}:{len(chat.thread)}"
    earlier = (
        await session.execute(
            select(col(Approval.id), col(Approval.status), col(Approval.source_key), col(Approval.expires_at))
            .where(or_(col(Approval.source_key) == base, col(Approval.source_key).like(f"{base}:r%")))
            .order_by(col(Approval.id))
        )
    ).all()
    now = utcnow()
    standing = [
        row.id
        for row in earlier
        if row.status == APPROVED or (row.status == PENDING and row.expires_at > now)
    ]
    if standing:
        return {"sessionId": chat.id, "approvalId": standing[-1], "status": "exists"}
    revision = max((_revision(row.source_key, base) for row in earlier), default=0) + 1
    field = f"deal of negotiation session {chat.id}"
    parties = await load_deal(session, chat.deal_id, field=field, lock=False)
    require_stage(parties.deal, DealStage.DRAFT, DealStage.NEGOTIATING, field=field)
    if parties.talent is None or parties.manager is None:
        raise PermanentJobError(f"deal {parties.deal_id} of negotiation session {chat.id} has no talent")
    stored = _stored_insights(parties)
    pricing = None
    if stored is None:
        pricing = (pricing_facts(parties), await comparable_deals(session, parties.deal))
    return _Step(
        key=base if revision == 1 else f"{base}:r{revision}",
        thread=_thread(chat, parties.deal.currency),
        parties=parties,
        stored=stored,
        pricing=pricing,
    )


def _revision(key: str, base: str) -> int:
    """1 for the thread state's first draft (``base``), n for ``base:rn``."""
    suffix = key.removeprefix(base).removeprefix(":r")
    return int(suffix) if suffix.isdigit() else 1


async def _write(
    session: AsyncSession,
    step: _Step,
    facts: NegotiationFacts,
    reply: NegotiationReply,
    priced: NegotiationInsights | None,
) -> dict[str, Any]:
    """Store the reply for approval (and fresh insights) under the session's and the deal's locks.

    What the reply was drafted from is checked again first: a session closed or a deal moved
    on meanwhile is refused; a thread that grew is answered by the job for its new state.
    """
    read = step.parties
    chat = await _session(session, facts.session_id, lock=True)  # still open?
    if len(chat.thread) != len(step.thread):
        return {"sessionId": chat.id, "approvalId": None, "status": "superseded"}
    field = f"deal of negotiation session {chat.id}"
    locked = await load_deal(session, chat.deal_id, field=field, lock=True)
    require_stage(locked.deal, DealStage.DRAFT, DealStage.NEGOTIATING, field=field)
    if _drafted_from(locked) != _drafted_from(read):
        raise DealChanged(
            f"deal {locked.deal_id} of negotiation session {chat.id} changed while its reply was drafted: "
            "the retry drafts it again"
        )
    if priced is not None:
        locked.deal.insights = with_insights(locked.deal, priced)
    assert read.manager is not None  # _read refused a deal without one
    approval_id = await session.scalar(
        insert(Approval)
        .values(
            kind=APPROVAL_KIND,
            subject=_subject(facts, reply)[:300],
            payload=_approval_payload(read, facts, reply, step.key),
            source_key=step.key,
            requested_by_id=read.manager.id,
            expires_at=utcnow() + APPROVAL_TTL,
        )
        .on_conflict_do_nothing(index_elements=["source_key"])
        .returning(col(Approval.id))
    )
    if approval_id is None:  # a concurrent run of the same step stored it first
        found = await session.scalar(select(col(Approval.id)).where(col(Approval.source_key) == step.key))
        return {"sessionId": chat.id, "approvalId": found, "status": "exists"}
    chat.last_step_at = utcnow()
    return {"sessionId": chat.id, "approvalId": approval_id, "status": "pending_approval", "key": step.key}


def _drafted_from(parties: DealParties) -> tuple[Any, ...]:
    """The deal's values a reply is drafted from: its terms, its stored insights, its audience."""
    deal = parties.deal
    audience = parties.talent.audience_size if parties.talent is not None else None
    return (
        deal.currency,
        deal.fee_minor,
        deal.deliverables,
        (deal.insights or {}).get("negotiation"),
        audience,
    )


async def _session(session: AsyncSession, session_id: int, *, lock: bool) -> NegotiationSession:
    query = select(NegotiationSession).where(col(NegotiationSession.id) == session_id)
    chat = (await session.execute(query.with_for_update() if lock else query)).scalar_one_or_none()
    if chat is None:
        raise PermanentJobError(f"negotiation session {session_id} (sessionId) not found")
    if chat.status != OPEN:
        raise PermanentJobError(f"negotiation session {session_id} is {chat.status!r}, not {OPEN!r}")
    return chat


def _thread(chat: NegotiationSession, currency: str) -> tuple[ThreadMessage, ...]:
    """The thread as messages, each with the fee it names (its ``fee_minor``, or read from its body)."""
    messages = []
    for index, raw in enumerate(chat.thread):
        sender = raw.get("from") if isinstance(raw, dict) else None
        if sender not in ("brand", "agency"):
            raise PermanentJobError(
                f'negotiation session {chat.id}: thread[{index}] needs "from": "brand" or "agency", '
                f"got {raw!r:.120}"
            )
        body = str(raw.get("body") or "")
        fee = raw.get("fee_minor", raw.get("feeMinor"))
        if not isinstance(fee, int) or isinstance(fee, bool) or fee <= 0:
            # The offer's own rules read the amount a message names; one in another currency, or in
            # none (never guessed), is no offer.
            terms = extract_deal("", body)
            fee = terms.fee_minor if terms.currency == currency and terms.fee_minor else None
        messages.append(ThreadMessage("brand" if sender == "brand" else "agency", body, fee))
    return tuple(messages)


def _stored_insights(parties: DealParties) -> StoredInsights | None:
    """The deal's stored insights, if it has usable ones in its current currency."""
    raw = (parties.deal.insights or {}).get("negotiation")
    try:
        stored = StoredInsights.model_validate(raw)
    except ValidationError:
        return None  # none yet, or written by an older shape: priced afresh
    return stored if stored.currency == parties.deal.currency else None


def _facts(
    session_id: int, parties: DealParties, insights: StoredInsights, thread: tuple[ThreadMessage, ...]
) -> NegotiationFacts:
    if parties.talent is None or parties.manager is None:  # pragma: no cover - checked by the caller
        raise RuntimeError("negotiation facts need the talent and its manager")
    offers = [m.fee_minor for m in thread if m.sender == "brand" and m.fee_minor is not None]
    return NegotiationFacts(
        session_id=session_id,
        talent_name=parties.talent.name,
        brand_name=parties.brand.name if parties.brand is not None else "",
        manager_name=parties.manager.name,
        currency=parties.deal.currency,
        audience=parties.talent.audience_size,
        content=content_of(parties.deal),
        market_rate_minor=insights.market_rate_minor,
        counter_offer_minor=insights.counter_offer_minor,
        floor_minor=insights.floor_minor,
        brand_offer_minor=offers[-1] if offers else parties.deal.fee_minor,
        thread=thread,
    )


def _subject(facts: NegotiationFacts, reply: NegotiationReply) -> str:
    brand = facts.brand_name or "the brand"
    price = format_minor(reply.fee_minor, facts.currency)
    if reply.action == "accept":
        return f"Accept {brand}'s offer: {price} for {facts.talent_name}"
    return f"Counter-offer to {brand}: {price} for {facts.talent_name}"


def _approval_payload(
    parties: DealParties, facts: NegotiationFacts, reply: NegotiationReply, key: str
) -> dict[str, Any]:
    # What approving sends (talentq.approvals): the reply, to the brand's contact, answers to the manager.
    assert parties.manager is not None  # _read refused a deal without one
    brand = parties.brand
    email = {
        "to": (brand.contact_email or "").strip() if brand is not None else "",
        "subject": f"Re: {facts.talent_name} x {facts.brand_name or 'your brand'}",
        "body": reply.message,
        "replyTo": parties.manager.email,
    }
    return {
        "email": email,
        "session_id": facts.session_id,
        "deal_id": parties.deal_id,
        "thread_length": len(facts.thread),  # the thread this reply answers
        "action": reply.action,
        "fee_minor": reply.fee_minor,
        "currency": facts.currency,
        "floor_minor": facts.floor_minor,
        "message": reply.message,
        "reasons": reply.reasons,
        "source_key": key,
    }
