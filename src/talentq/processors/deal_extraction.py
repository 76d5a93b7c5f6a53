"""deal-extraction: turn a message inbox-triage classified as an offer into a draft deal.

Reads ``inbox_messages`` (with the category inbox-triage stored: the message is not classified
again here), ``brands`` and ``talents``; writes ``deals`` (and a ``brands`` row for a sender
domain the agency has not met). A message not triaged yet completes as ``not_triaged``
(inbox-triage hands it on once it has classified it as an offer), one that is not an offer as
``not_a_deal``.

The fee the offer states is kept as read (``offered_fee``: exact, a range, no cash fee with why,
or unstated). It is stored priced (``fee_minor`` in ``currency``) only when it is one amount in an
ISO 4217 currency. Otherwise nothing is guessed: ``fee_minor`` stays NULL, ``fee_text`` keeps the
words as the message writes them, and ``attention`` tells the manager what to set (a fee with no
currency, a range to agree); a gifted or commission-only offer has nothing to price. Optional
items the brand offers are kept in ``insights``, beside the deliverables it asks.

The brand is the one the offer names (a media agency writing for its client names the client),
found by name, else by the sender's domain when it is the brand's own.

No transaction is open while the provider extracts the terms (the rule of ``talentq.deals``): the
message is read in a session of its own, which is closed, its terms are extracted with none open,
and the deal is written under the message's row lock after checking that the message is still
what was read. Safe to re-run: one deal per source message, by a unique key.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time
from email.utils import parseaddr
from typing import Any

from loguru import logger
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from talentq.db.inbox import MessageChanged
from talentq.db.tables import Brand, Deal, InboxMessage, Talent
from talentq.domain.addresses import is_free_mail, registrable_domain
from talentq.domain.mail import DealTerms, Fee
from talentq.domain.mail.brands import brand_core
from talentq.domain.mail.parties import writes_for_itself
from talentq.domain.money import format_minor, is_currency
from talentq.domain.vocabulary import ContentLine, MessageCategory
from talentq.errors import PermanentJobError
from talentq.jobs import JobContext, uses_tables
from talentq.queues import MessageRef


@dataclass(frozen=True)
class _Offer:
    """What the read phase found: the message its terms are extracted from, checked again on writing."""

    id: int
    user_id: int
    sender: str
    subject: str
    body: str
    received_at: datetime
    category: str


@dataclass(frozen=True)
class StoredFee:
    """A deal's fee as stored: priced (an amount and its ISO currency), or kept as written for a person."""

    fee_minor: int | None
    #: None: the deal's currency column keeps its default, which means nothing without a fee.
    currency: str | None
    fee_text: str | None = None
    attention: str | None = None


@uses_tables(InboxMessage, Deal, Brand, Talent)
async def handle(ctx: JobContext, payload: MessageRef) -> dict[str, Any]:
    async with ctx["sessions"]() as session:
        offer = await _read(session, payload.message_id)
    if isinstance(offer, dict):
        return offer
    # Extracted with no session open: the provider may be a remote model that takes seconds, and
    # a connection (or a row lock) held that long would starve every other job.
    terms = await ctx["ai"].extract_deal(
        offer.subject, offer.body, sender=offer.sender, reference=offer.received_at.date()
    )
    fee = stored_fee(terms.fee)
    async with ctx["sessions"].begin() as session:
        result = await _write(session, offer, terms, fee)
    if fee.attention is not None and result["result"] == "draft_deal":
        logger.warning(
            "deal {} from inbox message {} needs its manager: {}", result["dealId"], offer.id, fee.attention
        )
    return result


async def _read(session: AsyncSession, message_id: int) -> _Offer | dict[str, Any]:
    """The offer to extract, or the result of a run with nothing to extract."""
    message = await session.get(InboxMessage, message_id)
    if message is None or message.id is None:
        raise PermanentJobError(f"inbox message {message_id} not found")
    existing = await _deal_of(session, message.id)
    if existing is not None:
        return {"result": "exists", "dealId": existing}
    if message.category is None:
        return {
            "result": "not_triaged",
            "messageId": message.id,
            "note": "not classified yet: inbox-triage hands it on once it has classified it as an offer",
        }
    if message.category != MessageCategory.DEAL_OFFER:
        return {"result": "not_a_deal", "category": message.category}
    return _Offer(
        id=message.id,
        user_id=message.user_id,
        sender=message.sender,
        subject=message.subject,
        body=message.body,
        received_at=message.received_at,
        category=message.category,
    )


async def _write(session: AsyncSession, offer: _Offer, terms: DealTerms, fee: StoredFee) -> dict[str, Any]:
    """The draft deal, written under the message's (shared) row lock once it is checked unchanged."""
    message = (
        await session.execute(
            select(InboxMessage).where(col(InboxMessage.id) == offer.id).with_for_update(read=True)
        )
    ).scalar_one_or_none()
    if message is None:
        raise PermanentJobError(
            f"inbox message {offer.id} not found (deleted while its terms were extracted)"
        )
    if (message.subject, message.body, message.category) != (offer.subject, offer.body, offer.category):
        raise MessageChanged(
            f"inbox message {offer.id} changed while its deal terms were extracted: "
            "the retry extracts them again"
        )
    # Another run may have stored the deal meanwhile: found before a brand is created for nothing.
    existing = await _deal_of(session, offer.id)
    if existing is not None:
        return {"result": "exists", "dealId": existing}
    brand_id = await _brand(session, offer.sender, terms.brand)
    talent_id = await _talent(session, offer.user_id, f"{offer.subject}\n{offer.body}", terms.talent)
    content = [(ContentLine(d.platform, d.count).as_json(), d.optional) for d in terms.deliverables]
    values: dict[str, Any] = {
        "talent_id": talent_id,
        "brand_id": brand_id,
        "stage": "draft",
        "fee_minor": fee.fee_minor,
        "fee_text": fee.fee_text,
        "attention": fee.attention,
        "offered_fee": asdict(terms.fee),
        "source_message_id": offer.id,
        "deliverables": [line for line, optional in content if not optional],
        "starts_at": _midnight(terms.starts_on),
        "ends_at": _midnight(terms.ends_on),
        "insights": {
            "extraction": terms.reasons,
            "optional": [line for line, optional in content if optional],
        },
    }
    if fee.currency is not None:
        values["currency"] = fee.currency
    # Else the column's default (it is NOT NULL) stands: with fee_minor NULL it says nothing about
    # the offer, and nothing may read it as the fee's currency (fee_text and attention say so).
    deal_id = await session.scalar(
        insert(Deal)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["source_message_id"])
        .returning(col(Deal.id))
    )
    if deal_id is None:  # a concurrent run inserted it first
        found = await _deal_of(session, offer.id)
        return {"result": "exists", "dealId": found}
    result: dict[str, Any] = {
        "result": "draft_deal",
        "dealId": deal_id,
        "feeMinor": fee.fee_minor,
        "currency": fee.currency,
        "brandId": brand_id,
        "talentId": talent_id,
    }
    if fee.attention is not None:
        result.update(feeText=fee.fee_text, attention=fee.attention)
    return result


def stored_fee(fee: Fee) -> StoredFee:
    """The fee to store from the one the offer states: priced only when it is one amount in an ISO
    currency; otherwise kept as written, with what the manager must do. A currency is never guessed."""
    written = fee.text or None
    if fee.kind == "exact" and fee.minor is not None and is_currency(fee.currency):
        return StoredFee(fee.minor, fee.currency)
    if fee.kind == "exact":
        return StoredFee(
            None,
            None,
            written,
            f"fee {fee.text!r} names {fee.currency!r}, which is not an ISO 4217 currency: "
            "set the deal's fee and currency",
        )
    if fee.kind == "range":
        currency = fee.currency if is_currency(fee.currency) else None
        span = (
            f"{format_minor(fee.min_minor, currency)} to {format_minor(fee.max_minor, currency)}"
            if currency is not None and fee.min_minor is not None and fee.max_minor is not None
            else repr(fee.text)
        )
        return StoredFee(
            None, currency, written, f"the offer names a range, {span}: agree the fee and set it"
        )
    if fee.kind == "none":
        # Nothing to price and nothing missing: the deal pays in product or commission, as offered.
        return StoredFee(None, None, f"no cash fee ({(fee.why or 'none').replace('_', ' ')})")
    if written is not None:
        return StoredFee(
            None, None, written, f"fee {fee.text!r} has no currency: set the deal's fee and currency"
        )
    return StoredFee(None, None)


async def _deal_of(session: AsyncSession, message_id: int) -> int | None:
    """The deal already made from message ``message_id``, if any."""
    found: int | None = await session.scalar(
        select(col(Deal.id)).where(col(Deal.source_message_id) == message_id)
    )
    return found


async def _brand(session: AsyncSession, sender: str, named: str | None) -> int | None:
    """The offer's brand: the one it names (by name), else the sender's domain's."""
    domain = parseaddr(sender)[1].rpartition("@")[2].lower()
    personal = not domain or is_free_mail(domain)
    # partnerships@mail.hellofresh.com -> hellofresh.com; news@brand.co.uk -> brand.co.uk
    registrable = registrable_domain(domain)
    if named and named.strip():
        named = named.strip()[:200]
        found = await _brand_named(session, named)
        if found is not None:
            return found
        if not writes_for_itself(named, sender):
            # Written by someone else (a media agency for its client): the brand, without that domain.
            inserted = await session.scalar(
                insert(Brand).values(name=named).on_conflict_do_nothing().returning(col(Brand.id))
            )
            return inserted if inserted is not None else await _brand_named(session, named)
    if personal:
        return None
    found = await session.scalar(select(col(Brand.id)).where(col(Brand.domain).in_([domain, registrable])))
    if found is not None:
        return int(found)
    name = named or registrable.split(".")[0].replace("-", " ").title()
    inserted = await session.scalar(
        insert(Brand).values(name=name, domain=registrable).on_conflict_do_nothing().returning(col(Brand.id))
    )
    return inserted if inserted is not None else await _brand_named(session, name)


async def _brand_named(session: AsyncSession, name: str) -> int | None:
    """The brand of that name; else the one brand whose name differs only by a legal form or a trade
    word ("Harvest Foods" is the "Harvest" already known), so that a reading does not add a twin."""
    if not name.split():
        return None
    # One round trip: every brand sharing the first word holds the exact name and its twins alike.
    rows = (
        await session.execute(
            select(col(Brand.id), col(Brand.name)).where(
                func.lower(col(Brand.name)).startswith(name.split()[0].lower(), autoescape=True)
            )
        )
    ).all()
    exact = [brand_id for brand_id, other in rows if other.lower() == name.lower()]
    if exact:
        return exact[0]
    core = brand_core(name)
    same = [brand_id for brand_id, other in rows if brand_core(other) == core]
    return same[0] if len(same) == 1 else None


async def _talent(session: AsyncSession, manager_id: int, text: str, named: str | None) -> int | None:
    """The manager's talent the offer is for: the one extraction named, else the one the mail names
    (by handle, or by first name), if exactly one is."""
    rows = (
        await session.execute(
            select(col(Talent.id), col(Talent.name), col(Talent.handle)).where(
                col(Talent.manager_id) == manager_id
            )
        )
    ).all()
    if named:
        wanted = named.casefold()
        exact = [
            talent_id for talent_id, name, handle in rows if wanted in (name.casefold(), handle.casefold())
        ]
        if len(exact) == 1:
            return exact[0]
    found = [
        talent_id
        for talent_id, name, handle in rows
        if re.search(rf"\b({re.escape(handle)}|{re.escape(name)}|{re.escape(name.split()[0])})\b", text, re.I)
    ]
    return found[0] if len(found) == 1 else None


def _midnight(day: date | None) -> datetime | None:
    return None if day is None else datetime.combine(day, time.min, UTC)
