"""A small, believable agency to run the worker and the demo against: ``talentq seed``.

Three managers, a dozen talents, ten brands, mailboxes with real-looking offers, deals
at every stage with their campaigns, contracts, deliverables (some due, some overdue),
invoices (some overdue), pending approvals and outreach. Times are relative to the
moment of seeding, so "due tomorrow" stays true for a fresh demo.

Idempotent: everything is inserted in one transaction under an advisory lock, and a
database that already holds the sample agency (its first manager) is left alone, as is
one that holds other users: the sample goes into empty databases only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import SQLModel, col

from talentq.db.models import pk, utcnow
from talentq.db.tables import (
    Approval,
    Brand,
    BrandCrmRecord,
    Campaign,
    Contract,
    Deal,
    Deliverable,
    InboxMessage,
    Invoice,
    MailConnection,
    OutreachAction,
    Talent,
    User,
)
from talentq.domain.money import amount_text

#: Identifies the sample agency: seeding is skipped when this manager exists.
MARKER_EMAIL = "maya.okafor@northstar-talent.test"
_LOCK_KEY = 0x7A1E_5EED  # pg_advisory_xact_lock key: one seeder at a time

MANAGERS = [
    ("Maya Okafor", MARKER_EMAIL, "Europe/London"),
    ("Daniel Reyes", "daniel.reyes@northstar-talent.test", "America/New_York"),
    ("Sofia Lindqvist", "sofia.lindqvist@northstar-talent.test", "Europe/Stockholm"),
]
# (name, handle, manager index, niches, audience)
TALENTS = [
    ("Ava Chen", "avacooks", 0, ["food", "lifestyle"], 820_000),
    ("Leo Martins", "leolifts", 0, ["fitness", "wellness"], 1_450_000),
    ("Priya Nair", "priyaglow", 0, ["beauty", "skincare"], 640_000),
    ("Jonah Brooks", "jonahplays", 1, ["gaming", "tech"], 2_300_000),
    ("Zoe Laurent", "zoewanders", 1, ["travel", "lifestyle"], 510_000),
    ("Marcus Hill", "marcusbuilds", 1, ["diy", "home"], 275_000),
    ("Elena Petrova", "elenastyle", 1, ["fashion", "beauty"], 990_000),
    ("Kofi Mensah", "kofieats", 2, ["food", "travel"], 430_000),
    ("Hana Sato", "hanastudies", 2, ["education", "productivity"], 360_000),
    ("Liam O'Neill", "liamrides", 2, ["cycling", "outdoors"], 185_000),
    ("Isabel Duarte", "isamoves", 2, ["dance", "fitness"], 1_120_000),
    ("Noah Fischer", "noahcodes", 0, ["tech", "education"], 720_000),
]
# (name, domain, category)
BRANDS = [
    ("Glossier", "glossier.com", "beauty"),
    ("Gymshark", "gymshark.com", "fitness"),
    ("HelloFresh", "hellofresh.com", "food"),
    ("Logitech", "logitech.com", "tech"),
    ("Airbnb", "airbnb.com", "travel"),
    ("IKEA", "ikea.com", "home"),
    ("Notion", "notion.so", "productivity"),
    ("Rapha", "rapha.cc", "outdoors"),
    ("Oatly", "oatly.com", "food"),
    ("Sephora", "sephora.com", "beauty"),
]
# (manager index, brand, talent handle, subject, body) — offers as brands write them
OFFERS = [
    (
        0,
        "HelloFresh",
        "avacooks",
        "Paid partnership: HelloFresh x Ava — spring menu",
        "Hi Maya,\n\nWe'd love to work with Ava on our spring menu launch. We're offering $5,000 "
        "for 2 TikToks and 1 IG story, going live between 1 and 15 April. Usage rights for 3 "
        "months on paid social.\n\nBest,\nRachel Kim\nInfluencer Partnerships, HelloFresh",
    ),
    (
        0,
        "Gymshark",
        "leolifts",
        "Gymshark x Leo — new training collection",
        "Hey Maya, Gymshark here! Budget is £2.5k for one YouTube integration (60-90s) plus 3 IG "
        "stories featuring the new collection. Can Leo deliver in May?\n\nTom Ellis, Gymshark",
    ),
    (
        1,
        "Logitech",
        "jonahplays",
        "Sponsorship offer — Logitech G launch stream",
        "Daniel,\n\nLogitech G would like Jonah to feature our new headset in a dedicated stream "
        "and 2 YouTube shorts. Fee: 12k USD. Launch window: first two weeks of June.\n\n"
        "Marta Rossi\nLogitech G Creator Program",
    ),
    (
        1,
        "Airbnb",
        "zoewanders",
        "Airbnb summer campaign — collaboration request",
        "Hi Daniel, we're planning our summer campaign and think Zoe is a perfect fit. "
        "Offering €4,000 for 1 YouTube vlog and 4 IG stories. Dates flexible in July.\n\n"
        "Best, Airbnb Creator Team",
    ),
    (
        2,
        "Notion",
        "hanastudies",
        "Notion x Hana — back to school",
        "Hi Sofia! Notion would love Hana to create 2 TikToks and 1 YouTube short about study "
        "systems for back to school. $3,500, posting in late August.\n\nCheers, Priya at Notion",
    ),
    (
        2,
        "Rapha",
        "liamrides",
        "Re: Liam's availability",
        "Thanks Sofia — just checking Liam's availability for a ride next Thursday. No campaign "
        "yet, just a coffee chat with our team.\n\nRapha London",
    ),
]


@dataclass(frozen=True)
class SeedResult:
    """What a seed run did: ``created`` is False when the agency was already there."""

    created: bool
    rows: dict[str, int]
    reason: str = ""


async def seed(sessions: async_sessionmaker[AsyncSession], *, now: datetime | None = None) -> SeedResult:
    """Insert the sample agency unless it is already there; returns what was inserted."""
    now = now or utcnow()
    async with sessions.begin() as session:
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        existing = await session.scalar(select(col(User.id)).where(col(User.email) == MARKER_EMAIL))
        if existing is not None:
            return SeedResult(created=False, rows={}, reason="the sample agency is already there")
        if await session.scalar(select(col(User.id)).limit(1)) is not None:
            # Someone's real data: a sample agency mixed into it would be a mess to untangle.
            return SeedResult(created=False, rows={}, reason="the database holds other users; not seeding it")
        return SeedResult(created=True, rows=await _insert_agency(session, now))


async def _insert_agency(session: AsyncSession, now: datetime) -> dict[str, int]:
    rows: dict[str, int] = {}

    async def add(*objects: SQLModel) -> None:
        session.add_all(objects)
        await session.flush()
        for obj in objects:
            name = str(type(obj).__tablename__)
            rows[name] = rows.get(name, 0) + 1

    managers = [
        User(name=n, email=e, time_zone=tz, digest_opt_in=i != 2) for i, (n, e, tz) in enumerate(MANAGERS)
    ]
    await add(*managers)
    talents = {
        handle: Talent(
            name=name, handle=handle, manager_id=pk(managers[m]), niches=niches, audience_size=audience
        )
        for name, handle, m, niches, audience in TALENTS
    }
    talents["liamrides"].active = False  # on a break: no weekly report, no outreach
    # Talents with contacts of their own get their reminders themselves (their manager in copy);
    # the others' go to their manager.
    talents["priyaglow"].email, talents["priyaglow"].whatsapp_number = "priya@priyaglow.test", "+447700900555"
    talents["kofieats"].email = "kofi@kofieats.test"
    await add(*talents.values())
    brands = {
        name: Brand(
            name=name,
            domain=domain,
            category=cat,
            instagram_handle=name.lower(),
            contact_email=f"partnerships@{domain}",
            billing_email=f"accounts-payable@{domain}",
        )
        for name, domain, cat in BRANDS
    }
    await add(*brands.values())

    connections = [
        MailConnection(
            user_id=pk(m),
            address=m.email,
            sync_cursor=None,
            last_synced_at=now - timedelta(minutes=30 + 15 * i),
            # No OAuth token in a sample: gmail-sync would only fail on these. Connect a real one.
            active=False,
        )
        for i, m in enumerate(managers)
    ]
    await add(*connections)
    messages = []
    for i, (m, brand, _, subject, body) in enumerate(OFFERS):
        messages.append(
            InboxMessage(
                user_id=pk(managers[m]),
                connection_id=pk(connections[m]),
                provider_message_id=f"sample-{i + 1:04d}",
                thread_id=f"sample-thread-{i + 1:04d}",
                sender=f"partnerships@{brands[brand].domain}",
                recipients=[managers[m].email],
                subject=subject,
                body=body,
                received_at=now - timedelta(hours=6 * (len(OFFERS) - i)),
            )
        )
    await add(*messages)

    def deal(handle: str, brand: str, stage: str, fee: int, currency: str, **extra: Any) -> Deal:
        return Deal(
            talent_id=pk(talents[handle]),
            brand_id=pk(brands[brand]),
            stage=stage,
            fee_minor=fee,
            currency=currency,
            **extra,
        )

    draft = deal(
        "avacooks",
        "HelloFresh",
        "draft",
        500_000,
        "USD",
        source_message_id=pk(messages[0]),
        deliverables=[{"platform": "tiktok", "count": 2}, {"platform": "instagram_story", "count": 1}],
    )
    negotiating = deal(
        "leolifts", "Gymshark", "negotiating", 250_000, "GBP", source_message_id=pk(messages[1])
    )
    contracted = deal("priyaglow", "Glossier", "contracted", 800_000, "USD")
    delivered = deal("elenastyle", "Sephora", "delivered", 1_200_000, "USD")
    lost = deal("marcusbuilds", "IKEA", "lost", 150_000, "EUR")
    contracted_2 = deal("kofieats", "Oatly", "contracted", 300_000, "USD")
    await add(draft, negotiating, contracted, delivered, lost, contracted_2)

    campaign = Campaign(deal_id=pk(contracted), plan={"window_days": 30}, starts_at=now - timedelta(days=10))
    await add(campaign, Campaign(deal_id=pk(contracted_2), plan={"window_days": 21}, starts_at=now))
    terms = {"fee_minor": 800_000, "currency": "USD", "deliverables": ["2 IG reels", "1 TikTok"]}
    await add(
        Contract(
            deal_id=pk(contracted), terms=terms, status="finalised", finalised_at=now - timedelta(days=12)
        ),
        Contract(deal_id=pk(delivered), terms={"fee_minor": 1_200_000, "currency": "USD"}, status="signed"),
        Contract(deal_id=pk(negotiating), terms={"fee_minor": 250_000, "currency": "GBP"}, status="drafting"),
    )
    await add(
        Deliverable(
            deal_id=pk(contracted),
            talent_id=pk(talents["priyaglow"]),
            campaign_id=pk(campaign),
            title="IG reel: morning routine with Glossier You",
            platform="instagram",
            due_at=now + timedelta(hours=20),
        ),
        Deliverable(
            deal_id=pk(contracted),
            talent_id=pk(talents["priyaglow"]),
            campaign_id=pk(campaign),
            title="TikTok: 3 ways to wear Cloud Paint",
            platform="tiktok",
            due_at=now - timedelta(days=2),
        ),
        Deliverable(
            deal_id=pk(contracted_2),
            talent_id=pk(talents["kofieats"]),
            title="TikTok: oat latte at home",
            platform="tiktok",
            due_at=now + timedelta(days=6),
        ),
        Deliverable(
            deal_id=pk(delivered),
            talent_id=pk(talents["elenastyle"]),
            title="YouTube: Sephora haul",
            platform="youtube",
            due_at=now - timedelta(days=20),
            status="approved",
            content="Paid partnership with @sephora #ad — link in description",
        ),
    )
    await add(
        Invoice(
            deal_id=pk(delivered),
            brand_id=pk(brands["Sephora"]),
            number="NS-2026-0001",
            amount_minor=1_200_000,
            status="paid",
            issued_at=now - timedelta(days=40),
            due_at=now - timedelta(days=10),
            paid_at=now - timedelta(days=12),
        ),
        Invoice(
            deal_id=pk(contracted),
            brand_id=pk(brands["Glossier"]),
            number="NS-2026-0002",
            amount_minor=400_000,
            status="sent",
            issued_at=now - timedelta(days=35),
            due_at=now - timedelta(days=5),
        ),
        Invoice(
            deal_id=pk(contracted_2),
            brand_id=pk(brands["Oatly"]),
            number="NS-2026-0003",
            amount_minor=150_000,
            status="sent",
            issued_at=now - timedelta(days=3),
            due_at=now + timedelta(days=27),
        ),
        Invoice(
            deal_id=pk(contracted),
            brand_id=pk(brands["Glossier"]),
            number="NS-2026-0004",
            installment=2,
            amount_minor=400_000,
            status="overdue",
            issued_at=now - timedelta(days=60),
            due_at=now - timedelta(days=30),
            reminded_at=now - timedelta(days=1),
        ),
    )
    maya = managers[0]
    reply = (
        "Hi Gymshark team,\n\nThank you for thinking of Leo for the training collection. With 1.45M "
        "engaged fitness followers and a strong record of launches like this one, we would propose "
        "£3,200 for the package.\n\nHappy to talk it through.\n\nBest,\nMaya Okafor"
    )
    await add(
        Approval(
            kind="negotiation_reply",
            subject="Counter-offer to Gymshark: £3,200 for Leo Martins",
            payload={
                "email": {
                    "to": "partnerships@gymshark.com",
                    "subject": "Re: Leo Martins x Gymshark",
                    "body": reply,
                    "replyTo": maya.email,
                },
                "deal_id": pk(negotiating),
                "action": "counter",
                "fee_minor": 320_000,
                "currency": "GBP",
            },
            source_key="sample:negotiation:1",
            requested_by_id=pk(maya),
            expires_at=now + timedelta(days=2),
        ),
        Approval(
            kind="agent_email",
            subject="Agent email (reply_to_brand) to partnerships@hellofresh.com: Ava Chen x HelloFresh",
            payload={
                "email": {
                    "to": "partnerships@hellofresh.com",
                    "subject": "Re: Ava Chen x HelloFresh",
                    "body": "Hi HelloFresh team,\n\nAva would love to work with you. Could you share the "
                    "campaign dates and usage terms?\n\nBest,\nMaya Okafor",
                    "replyTo": maya.email,
                },
                "deal_id": pk(draft),
            },
            source_key="sample:agent:1",
            requested_by_id=pk(maya),
            expires_at=now + timedelta(days=3),
        ),
        Approval(
            kind="contract",
            subject="Glossier contract for Priya: final review",
            payload={"deal_id": pk(contracted)},
            requested_by_id=pk(maya),
            created_at=now - timedelta(days=4),
            expires_at=now - timedelta(hours=2),
        ),
    )
    await add(
        # Due in three hours: the daily plan (or `talentq enqueue outreach`) puts it before Sofia.
        OutreachAction(
            talent_id=pk(talents["isamoves"]),
            brand_id=pk(brands["Gymshark"]),
            subject="Isabel Duarte x Gymshark",
            message="Hi Gymshark team, Isabel's dance-fitness audience (1.1M) ...",
            scheduled_at=now + timedelta(hours=3),
        ),
    )
    await add(
        OutreachAction(
            talent_id=pk(talents["noahcodes"]),
            brand_id=pk(brands["Notion"]),
            status="sent",
            subject="Noah Fischer x Notion",
            message="Hi Notion team, Noah teaches 720k developers ...",
            sent_at=now - timedelta(days=6),
        ),
        BrandCrmRecord(
            user_id=pk(managers[0]),
            brand_id=pk(brands["Glossier"]),
            stage="active",
            last_contact_at=now - timedelta(days=4),
            open_deals=1,
            open_deal_value={"USD": 800_000},
            replies=3,
            score=0.82,
            refreshed_at=now - timedelta(days=1),
        ),
    )
    return rows


@dataclass(frozen=True)
class Example:
    """A row of the sample agency and a command that acts on it: what ``talentq dev`` offers to try."""

    holds: str
    command: str

    @classmethod
    def enqueue(cls, holds: str, queue: str, payload: dict[str, Any]) -> Example:
        """A job through the validating client."""
        return cls(holds, f"talentq enqueue {queue} '{json.dumps(payload)}'")


async def examples(sessions: async_sessionmaker[AsyncSession]) -> list[Example]:
    """Jobs to try on the sample agency, and approvals to decide, with the ids this database gave them.

    Read back from the database (a query per row shown), so they hold after a later
    ``talentq dev`` that seeded nothing. Empty when the sample agency is not there.
    """
    found: list[Example] = []
    async with sessions() as session:
        manager = await session.scalar(select(User).where(col(User.email) == MARKER_EMAIL))
        if manager is None:
            return found
        first = await session.scalar(
            select(Talent).where(col(Talent.manager_id) == manager.id).order_by(col(Talent.id))
        )
        managed = select(col(Talent.id)).where(col(Talent.manager_id) == manager.id)
        draft = await session.scalar(
            select(Deal)
            .where(
                col(Deal.stage) == "draft",
                col(Deal.talent_id).in_(managed),
                col(Deal.fee_minor).is_not(None),
            )
            .order_by(col(Deal.id))
        )
        offer = await session.scalar(
            select(InboxMessage)
            .where(col(InboxMessage.user_id) == manager.id)
            .order_by(col(InboxMessage.received_at).desc())
        )
        due = await session.scalar(
            select(Deliverable)
            .where(col(Deliverable.status) == "pending", col(Deliverable.talent_id).in_(managed))
            .order_by(col(Deliverable.due_at))
        )
        brand = await session.scalar(select(Brand).where(col(Brand.name) == "Glossier"))
        pitch = await session.scalar(
            select(OutreachAction)
            .where(col(OutreachAction.status) == "pending", col(OutreachAction.approval_id).is_(None))
            .order_by(col(OutreachAction.id))
        )
        waiting = (
            await session.execute(
                select(Approval, User)
                .join(User, col(User.id) == col(Approval.requested_by_id))
                .where(col(Approval.status) == "pending", col(Approval.expires_at) > utcnow())
                .order_by(col(Approval.id))
                .limit(3)
            )
        ).all()
    for approval, approver in waiting:
        found.append(
            Example(
                f"approval {pk(approval)}, for {approver.name}: {approval.subject}",
                f"talentq approvals approve {pk(approval)} --by {pk(approver)}",
            )
        )
    if pitch is not None:
        found.append(
            Example.enqueue(
                f"pitch {pk(pitch)}: {pitch.subject}, to put before its manager",
                "outreach",
                {"actionId": pk(pitch)},
            )
        )
    if draft is not None and draft.fee_minor is not None:  # the query asks for a priced one
        deal_id = pk(draft)
        found += [
            Example.enqueue(
                f"deal {deal_id}, a draft offer of {amount_text(draft.fee_minor, draft.currency)}",
                "negotiation-engine",
                {"dealDraftId": deal_id},
            ),
            Example.enqueue(
                f"the campaign plan of deal {deal_id}", "campaign-builder", {"dealDraftId": deal_id}
            ),
        ]
    if offer is not None:
        found.append(
            Example.enqueue(
                f"message {pk(offer)} in {manager.name}'s inbox: {offer.subject}",
                "inbox",
                {"messageId": pk(offer)},
            )
        )
    if due is not None:
        found.append(
            Example.enqueue(
                f"deliverable {pk(due)}, due {due.due_at:%d %b %Y}: {due.title}",
                "deliverable-reminders",
                {"deliverableId": pk(due)},
            )
        )
    if first is not None:
        found.append(
            Example.enqueue(
                f"talent {pk(first)}: {first.name}, to pitch to brands",
                "ai-outreach",
                {"talentId": pk(first)},
            )
        )
    if brand is not None:
        found.append(
            Example.enqueue(
                f"brand {pk(brand)}: {brand.name}, in {manager.name}'s CRM",
                "brand-crm",
                {"userId": pk(manager), "brandId": pk(brand)},
            )
        )
    return found
