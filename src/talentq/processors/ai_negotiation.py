"""ai-negotiation: draft the agency's next message in a negotiation session, for a human to approve.

Reads ``negotiation_sessions`` (the thread) and the deal with its insights (priced and stored
first when it has none), talent, brand and manager; writes one pending ``approvals`` row per
thread state, keyed ``negotiation:{session}:{messages}``. Nothing is sent. Safe to re-run: a
retry finds the approval by its key and drafts nothing new.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Final

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from talentq.db.domain import Approval, Brand, Deal, DealStage, NegotiationSession, Talent, User
from talentq.db.models import utcnow
from talentq.deals import DealParties, content_of, load_deal, price_deal, require_stage, with_insights
from talentq.errors import PermanentJobError
from talentq.integrations.ai import AIProvider, extract_deal, make_ai_provider
from talentq.integrations.ai_deals import (
    NegotiationFacts,
    NegotiationReply,
    StoredInsights,
    ThreadMessage,
    from_hundredths,
)
from talentq.jobs import JobContext, uses_tables
from talentq.money import format_minor
from talentq.queues import SessionRef

OPEN: Final = "open"
APPROVAL_KIND: Final = "negotiation_reply"
#: A drafted reply left undecided this long expires: the negotiation has moved on by then.
APPROVAL_TTL: Final = timedelta(days=2)


@uses_tables(NegotiationSession, Deal, Talent, Brand, User, Approval)
async def handle(ctx: JobContext, payload: SessionRef) -> dict[str, Any]:
    ai = _ai(ctx)
    # Drafted outside any row lock: the provider may be a remote model that takes seconds.
    async with ctx["sessions"].begin() as session:
        chat = await _session(session, payload.session_id, lock=False)
        key = f"negotiation:{chat.id}:{len(chat.thread)}"
        found = await session.scalar(select(col(Approval.id)).where(col(Approval.source_key) == key))
        if found is not None:
            return {"sessionId": chat.id, "approvalId": found, "status": "exists"}
        field = f"deal of negotiation session {chat.id}"
        parties = await load_deal(session, chat.deal_id, field=field, lock=False)
        require_stage(parties.deal, DealStage.DRAFT, DealStage.NEGOTIATING, field=field)
        if parties.talent is None or parties.manager is None:
            raise PermanentJobError(f"deal {parties.deal_id} of negotiation session {chat.id} has no talent")
        thread = _thread(chat, parties.deal.currency)
        stored, priced = _stored_insights(parties), None
        if stored is None:
            priced = await price_deal(session, parties, ai)
            stored = StoredInsights.model_validate(priced.as_json())
        facts = _facts(payload.session_id, parties, stored, thread)
        reply = await ai.draft_negotiation_reply(facts)
    if reply.fee_minor < facts.floor_minor:
        raise PermanentJobError(
            f"negotiation session {chat.id}: the drafted reply proposes "
            f"{format_minor(reply.fee_minor, facts.currency)}, below the floor "
            f"{format_minor(facts.floor_minor, facts.currency)}; nothing stored"
        )

    async with ctx["sessions"].begin() as session:
        chat = await _session(session, payload.session_id, lock=True)  # still open?
        if priced is not None:
            locked = await load_deal(session, chat.deal_id, field=field, lock=True)
            locked.deal.insights = with_insights(locked.deal, priced)
        approval_id = await session.scalar(
            insert(Approval)
            .values(
                kind=APPROVAL_KIND,
                subject=_subject(facts, reply)[:300],
                payload=_approval_payload(parties, facts, reply, key),
                source_key=key,
                requested_by_id=parties.manager.id,
                expires_at=utcnow() + APPROVAL_TTL,
            )
            .on_conflict_do_nothing(index_elements=["source_key"])
            .returning(col(Approval.id))
        )
        if approval_id is None:  # a concurrent run of the same step stored it first
            approval_id = await session.scalar(
                select(col(Approval.id)).where(col(Approval.source_key) == key)
            )
            status = "exists"
        else:
            chat.last_step_at = utcnow()
            status = "pending_approval"
    return {
        "sessionId": chat.id,
        "approvalId": approval_id,
        "status": status,
        "action": reply.action,
        "feeMinor": reply.fee_minor,
        "insightsComputed": priced is not None,
    }


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
            # The offer's own rules read the amount a message names; one in another currency is no offer.
            terms = extract_deal("", body)
            named = terms.fee_minor is not None and terms.currency in (None, currency)
            fee = from_hundredths(terms.fee_minor, currency) if named and terms.fee_minor else None
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
    return {
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


def _ai(ctx: JobContext) -> AIProvider:
    return make_ai_provider(ctx["settings"], ctx["http"])
