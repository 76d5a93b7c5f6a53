"""deal-extraction: turn an offer into a draft deal: brand, talent, fee, currency, content.

Reads ``inbox_messages``, ``brands`` and ``talents``; writes ``deals`` (and a ``brands``
row for a sender domain the agency has not met). Safe to re-run: one deal per source
message, by a unique key. A message that is not an offer completes as ``not_a_deal``.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from email.utils import parseaddr
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from talentq.db.domain import Brand, Deal, InboxMessage, Talent
from talentq.errors import PermanentJobError
from talentq.integrations.ai import AIProvider, make_ai_provider
from talentq.jobs import JobContext, uses_tables
from talentq.queues import MessageRef

#: Mail providers: a sender there is a person, not a brand's domain.
_FREEMAIL = frozenset({"gmail.com", "outlook.com", "hotmail.com", "yahoo.com", "icloud.com", "proton.me"})
#: Public suffixes of two labels, so "brand.co.uk" is a brand and not every UK brand "co.uk".
_TWO_PART_SUFFIXES = frozenset(
    {"co.uk", "org.uk", "ac.uk", "com.au", "net.au", "co.nz", "co.jp", "com.br", "com.mx", "co.za", "com.sg"}
)


@uses_tables(InboxMessage, Deal, Brand, Talent)
async def handle(ctx: JobContext, payload: MessageRef) -> dict[str, Any]:
    async with ctx["sessions"].begin() as session:
        message = await session.get(InboxMessage, payload.message_id)
        if message is None:
            raise PermanentJobError(f"inbox message {payload.message_id} not found")
        existing = await session.scalar(select(col(Deal.id)).where(col(Deal.source_message_id) == message.id))
        if existing is not None:
            return {"result": "exists", "dealId": existing}
        verdict = await _ai(ctx).classify_message(message.subject, message.body)
        if verdict.category != "deal_offer":
            return {"result": "not_a_deal", "category": verdict.category}
        terms = await _ai(ctx).extract_deal(
            message.subject, message.body, reference=message.received_at.date()
        )
        brand_id = await _brand(session, message.sender)
        talent_id = await _talent(session, message.user_id, f"{message.subject}\n{message.body}")
        deal_id = await session.scalar(
            insert(Deal)
            .values(
                talent_id=talent_id,
                brand_id=brand_id,
                stage="draft",
                fee_minor=terms.fee_minor,
                currency=terms.currency or "USD",
                source_message_id=message.id,
                deliverables=terms.deliverables,
                starts_at=_midnight(terms.starts_on),
                ends_at=_midnight(terms.ends_on),
                insights={"extraction": terms.reasons},
            )
            .on_conflict_do_nothing(index_elements=["source_message_id"])
            .returning(col(Deal.id))
        )
    return {
        "result": "draft_deal",
        "dealId": deal_id,
        "feeMinor": terms.fee_minor,
        "currency": terms.currency,
        "brandId": brand_id,
        "talentId": talent_id,
    }


async def _brand(session: AsyncSession, sender: str) -> int | None:
    domain = parseaddr(sender)[1].rpartition("@")[2].lower()
    if not domain or domain in _FREEMAIL:
        return None
    # partnerships@mail.hellofresh.com -> hellofresh.com; news@brand.co.uk -> brand.co.uk
    labels = domain.split(".")
    keep = 3 if ".".join(labels[-2:]) in _TWO_PART_SUFFIXES else 2
    registrable = ".".join(labels[-keep:])
    found = await session.scalar(select(col(Brand.id)).where(col(Brand.domain).in_([domain, registrable])))
    if found is not None:
        return int(found)
    name = registrable.split(".")[0].replace("-", " ").title()
    inserted = await session.scalar(
        insert(Brand).values(name=name, domain=registrable).on_conflict_do_nothing().returning(col(Brand.id))
    )
    if inserted is not None:
        return int(inserted)
    return await session.scalar(select(col(Brand.id)).where(func.lower(col(Brand.name)) == name.lower()))


async def _talent(session: AsyncSession, manager_id: int, text: str) -> int | None:
    """The manager's talent named in the mail (by handle, or by first name), if exactly one is."""
    rows = (
        await session.execute(
            select(col(Talent.id), col(Talent.name), col(Talent.handle)).where(
                col(Talent.manager_id) == manager_id
            )
        )
    ).all()
    named = [
        talent_id
        for talent_id, name, handle in rows
        if re.search(rf"\b({re.escape(handle)}|{re.escape(name)}|{re.escape(name.split()[0])})\b", text, re.I)
    ]
    return named[0] if len(named) == 1 else None


def _ai(ctx: JobContext) -> AIProvider:
    return make_ai_provider(ctx["settings"], ctx["http"])


def _midnight(day: date | None) -> datetime | None:
    return None if day is None else datetime.combine(day, time.min, UTC)
