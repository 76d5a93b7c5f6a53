"""brand-crm: refresh a manager's CRM record for a brand from what the database knows about them.

Reads ``users``, ``brands``, ``talents``, ``outreach_actions``, ``inbox_messages`` (the brand's mail of the
last ``MAIL_WINDOW``, 365 days) and ``deals``; upserts the ``brand_crm_records`` row of (user, brand).
Safe to re-run: the record is recomputed from scratch and replaced, so a retry writes the same values.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Final

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from talentq.db.brands import brand_mail_sql
from talentq.db.models import utcnow
from talentq.db.tables import Brand, BrandCrmRecord, Deal, InboxMessage, OutreachAction, Talent, User
from talentq.domain.brand_crm import OPEN_STAGES, BrandFacts, replies_of, score_of, stage_of
from talentq.domain.money import totals_by_currency
from talentq.errors import PermanentJobError
from talentq.jobs import JobContext, uses_tables
from talentq.queues import BrandCrm

#: The brand's mail counts (replies, last contact) when received this recently: matching a sender
#: is a regular expression per message, and a manager's whole inbox grows without end.
MAIL_WINDOW: Final = timedelta(days=365)

_OUTREACH: Final = text(
    """
    SELECT max(oa.sent_at) AS last_sent,
           max(oa.replied_at) AS last_replied,
           count(*) FILTER (WHERE oa.sent_at IS NOT NULL) AS sent,
           count(*) FILTER (WHERE oa.status = 'replied' OR oa.replied_at IS NOT NULL) AS replied
      FROM outreach_actions oa JOIN talents t ON t.id = oa.talent_id
     WHERE t.manager_id = :user AND oa.brand_id = :brand
    """
)
# The brand's mail in the manager's inbox within MAIL_WINDOW, by talentq.db.brands' rule (its contact
# address, its domain or a subdomain), as brand-crm-daily and outreach-follow-ups match it.
_INBOX: Final = text(
    "SELECT count(*) AS mails, max(received_at) AS last_mail FROM ("
    + brand_mail_sql(messages="m.user_id = :user AND m.received_at >= :mail_since", brands="b.id = :brand")
    + ") AS mail"
)
# The manager's deals with the brand: their talents', and offers from their inbox no talent was named in.
_DEALS: Final = text(
    """
    SELECT d.stage, d.currency, count(*) AS deals, coalesce(sum(d.fee_minor), 0) AS value
      FROM deals d
      LEFT JOIN talents t ON t.id = d.talent_id
      LEFT JOIN inbox_messages m ON m.id = d.source_message_id
     WHERE d.brand_id = :brand
       AND (t.manager_id = :user OR (d.talent_id IS NULL AND m.user_id = :user))
     GROUP BY d.stage, d.currency
    """
)


@uses_tables(User, Brand, Talent, OutreachAction, InboxMessage, Deal, BrandCrmRecord)
async def handle(ctx: JobContext, payload: BrandCrm) -> dict[str, Any]:
    async with ctx["sessions"].begin() as session:
        if await session.get(User, payload.user_id) is None:
            raise PermanentJobError(f"user {payload.user_id} not found")
        brand = await session.get(Brand, payload.brand_id)
        if brand is None:
            raise PermanentJobError(f"brand {payload.brand_id} not found")
        facts = await _facts(session, payload.user_id, brand)
        now = utcnow()
        record: dict[str, Any] = {
            "stage": stage_of(facts),
            "last_contact_at": max(
                (t for t in (facts.last_sent, facts.last_replied, facts.last_mail) if t), default=None
            ),
            "open_deals": sum(facts.deals.get(s, 0) for s in OPEN_STAGES),
            "open_deal_value": totals_by_currency(facts.open_values),
            "replies": replies_of(facts),
            "refreshed_at": now,
        }
        record["score"] = score_of(facts, record["last_contact_at"], now)
        await session.execute(
            insert(BrandCrmRecord)
            .values(user_id=payload.user_id, brand_id=brand.id, **record)
            .on_conflict_do_update(constraint="uq_brand_crm_records_user_brand", set_=record)
        )
    return {
        "userId": payload.user_id,
        "brandId": brand.id,
        "stage": record["stage"],
        "score": record["score"],
        "openDealValue": record["open_deal_value"],
    }


async def _facts(session: AsyncSession, user_id: int, brand: Brand) -> BrandFacts:
    facts = BrandFacts()
    ids = {"user": user_id, "brand": brand.id}
    outreach = (await session.execute(_OUTREACH, ids)).mappings().one()
    facts.last_sent, facts.last_replied = outreach["last_sent"], outreach["last_replied"]
    facts.sent, facts.replied_actions = outreach["sent"], outreach["replied"]
    inbox = (await session.execute(_INBOX, {**ids, "mail_since": utcnow() - MAIL_WINDOW})).mappings().one()
    facts.mails, facts.last_mail = inbox["mails"], inbox["last_mail"]
    for row in (await session.execute(_DEALS, ids)).mappings():
        facts.deals[row["stage"]] = facts.deals.get(row["stage"], 0) + row["deals"]
        if row["stage"] in OPEN_STAGES and row["value"]:
            facts.open_values.append((row["currency"], int(row["value"])))
    return facts
