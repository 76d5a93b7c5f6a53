"""Reporting crons on real PostgreSQL and Redis: local days across DST changes, weekly money per currency."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from arq.connections import ArqRedis
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from talentq.cron import CronEntry, run_cron_job
from talentq.crons import reports
from talentq.db.models import pk
from talentq.db.tables import (
    Approval,
    Brand,
    Contract,
    Deal,
    Deliverable,
    Invoice,
    OutreachAction,
    Report,
    Talent,
    User,
)
from talentq.settings import Settings

from ..conftest import service_settings
from .test_finance_crons import cron_ctx, email_jobs

pytestmark = pytest.mark.integration

DIGEST = CronEntry(
    "send-daily-brief-digest", "0 8 * * *", reports.send_daily_brief_digest, enqueues=("email-send",)
)
WEEKLY = CronEntry("weekly-reports", "0 8 * * 1", reports.weekly_reports, enqueues=("email-send",))
TALENT_WEEKLY = CronEntry(
    "weekly-talent-reports", "0 9 * * 1", reports.weekly_talent_reports, enqueues=("email-send",)
)

#: 08:00 UTC on the day London moves to BST (01:00 UTC), three weeks after New York moved to EDT.
LONDON_DST = datetime(2026, 3, 29, 8, 0, tzinfo=UTC)
#: 08:00 UTC on the day New York moves to EDT (07:00 UTC): its local day is 23 hours long.
NEW_YORK_DST = datetime(2026, 3, 8, 8, 0, tzinfo=UTC)


def utc(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp).replace(tzinfo=UTC)


# (manager, code, due in UTC, status): each comment says the manager's local time.
DELIVERABLES = [
    ("london", "L1", "2026-03-29 00:30", "pending"),  # 00:30 GMT, the 29th
    ("london", "L2", "2026-03-29 22:30", "submitted"),  # 23:30 BST, the 29th
    ("london", "L3", "2026-03-29 23:30", "pending"),  # 00:30 BST, the 30th
    ("london", "L4", "2026-03-28 23:30", "pending"),  # 23:30 GMT, the 28th
    ("london", "L5", "2026-03-29 12:00", "approved"),  # the 29th, but approved
    ("london", "L6", "2026-03-08 23:30", "overdue"),  # 23:30 GMT, the 8th
    ("new_york", "N1", "2026-03-29 03:30", "pending"),  # 23:30 EDT, the 28th
    ("new_york", "N2", "2026-03-30 03:30", "pending"),  # 23:30 EDT, the 29th
    ("new_york", "N3", "2026-03-29 04:30", "changes_requested"),  # 00:30 EDT, the 29th
    ("new_york", "N4", "2026-03-08 04:30", "pending"),  # 23:30 EST, the 7th
    ("new_york", "N5", "2026-03-08 05:30", "pending"),  # 00:30 EST, the 8th
    ("new_york", "N6", "2026-03-09 03:30", "pending"),  # 23:30 EDT, the 8th (a 23-hour day)
    ("new_york", "N7", "2026-03-09 04:30", "pending"),  # 00:30 EDT, the 9th
    ("tokyo", "T1", "2026-03-28 15:30", "pending"),  # 00:30 JST, the 29th
    ("tokyo", "T2", "2026-03-29 15:30", "pending"),  # 00:30 JST, the 30th
    ("tokyo", "T3", "2026-03-28 14:30", "pending"),  # 23:30 JST, the 28th
    ("tokyo", "T4", "2026-03-08 10:00", "pending"),  # 19:00 JST, the 8th
    ("mars", "M1", "2026-03-29 12:00", "pending"),  # an unknown zone: the cron zone's (UTC) 29th
    ("opted_out", "O1", "2026-03-29 12:00", "pending"),
]
CODES = [code for _, code, _, _ in DELIVERABLES]
MANAGERS = {
    "london": "Europe/London",
    "new_york": "America/New_York",
    "tokyo": "Asia/Tokyo",
    "quiet": "Europe/Paris",
    "mars": "Mars/Olympus",
    "opted_out": "UTC",
}


async def digest_world(sessions: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    """Managers in three zones (and three odd ones), their deliverables, overdue invoices and approvals."""
    async with sessions.begin() as session:
        users = {
            key: User(name=key.replace("_", " ").title(), email=f"{key}@agency.test", time_zone=zone)
            for key, zone in MANAGERS.items()
        }
        users["opted_out"].digest_opt_in = False
        brand = Brand(name="Glossier", billing_email="ap@glossier.test")
        session.add_all([*users.values(), brand])
        await session.flush()
        ids = {key: pk(user) for key, user in users.items()}
        talents = {key: Talent(name=f"Talent of {key}", handle=key, manager_id=ids[key]) for key in ids}
        session.add_all(talents.values())
        await session.flush()
        deals = {
            key: Deal(talent_id=pk(t), brand_id=pk(brand), stage="contracted") for key, t in talents.items()
        }
        session.add_all(deals.values())
        await session.flush()
        session.add_all(
            Deliverable(
                deal_id=pk(deals[key]),
                talent_id=pk(talents[key]),
                title=f"Deliverable {code}",
                platform="instagram",
                due_at=utc(due),
                status=status,
            )
            for key, code, due, status in DELIVERABLES
        )
        for n, (key, amount, currency, status) in enumerate(
            [
                ("london", 123_450, "EUR", "overdue"),
                ("london", 99, "USD", "overdue"),
                ("london", 5_000, "USD", "sent"),
                ("tokyo", 150_000, "JPY", "overdue"),
            ],
            start=1,
        ):
            session.add(
                Invoice(
                    deal_id=pk(deals[key]),
                    brand_id=pk(brand),
                    number=f"INV-{n}",
                    installment=n,
                    amount_minor=amount,
                    currency=currency,
                    status=status,
                    due_at=utc("2026-03-01 00:00"),
                )
            )
        session.add_all(
            [
                Approval(
                    kind="negotiation_reply",
                    subject="Counter-offer to Glossier",
                    requested_by_id=ids["new_york"],
                    expires_at=utc("2026-04-30 15:00"),
                ),
                Approval(
                    kind="contract",
                    subject="Expired contract",
                    requested_by_id=ids["new_york"],
                    expires_at=utc("2026-03-01 00:00"),
                ),
                Approval(
                    kind="contract",
                    subject="Decided contract",
                    requested_by_id=ids["new_york"],
                    expires_at=utc("2026-04-30 15:00"),
                    status="approved",
                ),
            ]
        )
    return ids


def brief_codes(body: str) -> set[str]:
    return {code for code in CODES if f"Deliverable {code}" in body}


async def test_each_manager_gets_their_local_day_across_dst_changes(
    sessions: async_sessionmaker[AsyncSession], redis: ArqRedis, settings: Settings
) -> None:
    """London, New York and Tokyo on the days London and New York change clocks: exactly their local day."""
    ids = await digest_world(sessions)

    # When the digest runs on New York's change day, then on London's
    on_the_8th = await run_cron_job(DIGEST)(cron_ctx(DIGEST, NEW_YORK_DST, sessions, redis, settings))
    on_the_29th = await run_cron_job(DIGEST)(cron_ctx(DIGEST, LONDON_DST, sessions, redis, settings))

    # Then each brief holds the deliverables due on the manager's own calendar day, and no other
    assert on_the_8th == {
        "count": 3,
        "managers": 5,
        "briefs": 3,
        "nothing_to_report": 2,
        "unknown_time_zone": 1,
        "unknown_time_zone_managers": [ids["mars"]],
    }
    assert on_the_29th == {
        "count": 4,
        "managers": 5,
        "briefs": 4,
        "nothing_to_report": 1,
        "unknown_time_zone": 1,
        "unknown_time_zone_managers": [ids["mars"]],
    }
    jobs = await email_jobs(redis)
    # (the quiet manager has nothing either day; the unknown-zone one nothing on the 8th: no email)
    expected = {
        ("london", "2026-03-08"): {"L6"},
        ("new_york", "2026-03-08"): {"N5", "N6"},
        ("tokyo", "2026-03-08"): {"T4"},
        ("london", "2026-03-29"): {"L1", "L2"},
        ("new_york", "2026-03-29"): {"N2", "N3"},
        ("tokyo", "2026-03-29"): {"T1"},
        ("mars", "2026-03-29"): {"M1"},
    }
    assert set(jobs) == {f"email-send:daily-brief:{ids[key]}:{day}" for key, day in expected}
    for (key, day), codes in expected.items():
        mail = jobs[f"email-send:daily-brief:{ids[key]}:{day}"]
        assert mail["to"] == f"{key}@agency.test"
        assert brief_codes(mail["body"]) == codes, (key, day, mail["body"])


async def test_a_brief_shows_local_times_money_per_currency_and_pending_approvals(
    sessions: async_sessionmaker[AsyncSession], redis: ArqRedis, settings: Settings
) -> None:
    """Times in the manager's zone, overdue totals per currency exactly, only live pending approvals."""
    ids = await digest_world(sessions)
    await run_cron_job(DIGEST)(cron_ctx(DIGEST, LONDON_DST, sessions, redis, settings))
    jobs = await email_jobs(redis)
    london = jobs[f"email-send:daily-brief:{ids['london']}:2026-03-29"]
    new_york = jobs[f"email-send:daily-brief:{ids['new_york']}:2026-03-29"]
    tokyo = jobs[f"email-send:daily-brief:{ids['tokyo']}:2026-03-29"]

    assert london["subject"] == (
        "Your brief for Sun 29 Mar: 2 deliverables due, 2 overdue invoices, 0 approvals waiting"
    )
    assert "Your brief for Sunday 29 March 2026 (Europe/London)." in london["body"]
    assert "- 00:30  Talent of london: Deliverable L1 (instagram) - pending" in london["body"]
    assert "- 23:30  Talent of london: Deliverable L2 (instagram) - submitted" in london["body"]
    assert "Overdue invoices (2), outstanding: EUR 1,234.50, USD 0.99" in london["body"]
    assert "- INV-1  Glossier  EUR 1,234.50, due 01 March 2026 (Talent of london)" in london["body"]
    assert "- 23:30  Talent of new_york: Deliverable N2" in new_york["body"]
    assert (
        "Approvals waiting (1)\n- Counter-offer to Glossier (negotiation reply), expires 30 April 11:00"
        in (new_york["body"])
    )
    assert "Expired contract" not in new_york["body"]
    assert "Decided contract" not in new_york["body"]
    assert "Overdue invoices (1), outstanding: JPY 150,000" in tokyo["body"]
    assert "- 00:30  Talent of tokyo: Deliverable T1" in tokyo["body"]


async def test_a_brief_lists_at_most_the_cap_of_each_kind_and_says_how_many_more(
    sessions: async_sessionmaker[AsyncSession], redis: ArqRedis, settings: Settings
) -> None:
    """London has 24 overdue invoices, 23 deliverables due and 21 approvals: 20 of each, "and N more"."""
    # Given London's two overdue invoices and two deliverables due today, and 22, 21 and 21 more
    ids = await digest_world(sessions)
    async with sessions() as session:
        deal, talent = (
            await session.execute(
                select(col(Deal.id), col(Deal.talent_id))
                .join(Talent, col(Talent.id) == col(Deal.talent_id))
                .where(col(Talent.manager_id) == ids["london"])
            )
        ).one()
        brand = await session.scalar(select(col(Brand.id)))
    assert deal is not None
    assert talent is not None
    assert brand is not None
    async with sessions.begin() as session:
        session.add_all(
            Invoice(
                deal_id=deal,
                brand_id=brand,
                number=f"BULK-{n}",
                installment=100 + n,
                amount_minor=100,
                currency="USD",
                status="overdue",
                due_at=utc("2026-03-02 00:00"),
            )
            for n in range(22)
        )
        session.add_all(
            Deliverable(deal_id=deal, talent_id=talent, title=f"Bulk {n}", due_at=utc("2026-03-29 20:00"))
            for n in range(21)
        )
        session.add_all(
            Approval(
                kind="contract",
                subject=f"Approval {n}",
                requested_by_id=ids["london"],
                expires_at=utc("2026-04-30 15:00"),
            )
            for n in range(21)
        )

    # When the brief goes out
    await run_cron_job(DIGEST)(cron_ctx(DIGEST, LONDON_DST, sessions, redis, settings))

    # Then each list shows the first 20 and how many it leaves out; counts and totals cover all
    london = (await email_jobs(redis))[f"email-send:daily-brief:{ids['london']}:2026-03-29"]
    body = london["body"]
    assert london["subject"] == (
        "Your brief for Sun 29 Mar: 23 deliverables due, 24 overdue invoices, 21 approvals waiting"
    )
    assert "Overdue invoices (24), outstanding: EUR 1,234.50, USD 22.99" in body
    lines = body.splitlines()
    invoices = [line for line in lines if line.startswith(("- INV-", "- BULK-"))]
    assert [line.split()[1] for line in invoices] == ["INV-1", "INV-2", *(f"BULK-{n}" for n in range(18))]
    assert sum("  Talent of london: " in line for line in lines) == 20  # deliverables
    assert sum(line.startswith("- Approval ") for line in lines) == 20
    assert body.count("\n- and 4 more\n") == 1  # invoices
    assert body.count("\n- and 3 more\n") == 1  # deliverables
    assert body.endswith("\n- and 1 more")  # approvals
    assert reports.BRIEF_ITEMS_LISTED == 20
    # And a short list says nothing more
    tokyo = (await email_jobs(redis))[f"email-send:daily-brief:{ids['tokyo']}:2026-03-29"]
    assert "more" not in tokyo["body"]


async def test_a_second_run_the_same_day_sends_nothing_new(
    sessions: async_sessionmaker[AsyncSession], redis: ArqRedis, settings: Settings
) -> None:
    """The same tick again is refused; another tick the same local day enqueues no second brief."""
    await digest_world(sessions)
    first = await run_cron_job(DIGEST)(cron_ctx(DIGEST, LONDON_DST, sessions, redis, settings))
    jobs = await email_jobs(redis)

    same_tick = await run_cron_job(DIGEST)(cron_ctx(DIGEST, LONDON_DST, sessions, redis, settings))
    later = await run_cron_job(DIGEST)(
        cron_ctx(DIGEST, LONDON_DST + timedelta(hours=1), sessions, redis, settings)
    )

    assert first["count"] == 4
    assert same_tick == {"count": 0, "skipped": "tick already ran"}
    assert (later["count"], later["briefs"]) == (0, 4)
    assert await email_jobs(redis) == jobs


async def test_managers_with_unknown_zones_are_counted_and_listed_up_to_the_cap(
    sessions: async_sessionmaker[AsyncSession], redis: ArqRedis, settings: Settings
) -> None:
    """150 managers whose zone is not an IANA name: all counted, the first 100 ids listed, all briefed."""
    async with sessions.begin() as session:
        await session.execute(
            text(
                "INSERT INTO users (name, email, time_zone) "
                "SELECT 'Manager ' || n, 'm' || n || '@agency.test', 'Mars/Olympus' "
                "FROM generate_series(1, 150) AS n"
            )
        )
        ids = list((await session.execute(select(col(User.id)).order_by(col(User.id)))).scalars())

    result = await run_cron_job(DIGEST)(cron_ctx(DIGEST, LONDON_DST, sessions, redis, settings))

    assert (result["managers"], result["unknown_time_zone"]) == (150, 150)
    assert result["unknown_time_zone_managers"] == ids[: reports.UNKNOWN_ZONE_LISTED]
    assert len(result["unknown_time_zone_managers"]) == 100


async def bulk_managers(
    sessions: async_sessionmaker[AsyncSession], tag: str, managers: int, per_manager: int, due: datetime
) -> None:
    """``managers`` managers in three zones, each with a talent, ``per_manager`` deliverables due at ``due``,
    an overdue invoice and a pending approval: a handful of INSERT ... SELECT statements."""
    params = {"tag": tag, "managers": managers, "per": per_manager, "due": due}
    statements = [
        "INSERT INTO users (name, email, time_zone) "
        "SELECT 'Manager ' || n, 'm' || n || '@' || CAST(:tag AS text) || '.test', "
        "(ARRAY['Europe/London', 'America/New_York', 'Asia/Tokyo'])[1 + n % 3] "
        "FROM generate_series(1, CAST(:managers AS int)) AS n",
        "INSERT INTO brands (name, billing_email) VALUES (CAST(:tag AS text), 'ap@brand.test')",
        "INSERT INTO talents (name, handle, manager_id) "
        "SELECT 'Talent ' || u.id, CAST(:tag AS text) || '-' || u.id, u.id FROM users AS u "
        "WHERE u.email LIKE '%@' || CAST(:tag AS text) || '.test'",
        "INSERT INTO deals (talent_id, brand_id, stage, fee_minor, currency) "
        "SELECT t.id, b.id, 'contracted', 100000, 'USD' FROM talents AS t, brands AS b "
        "WHERE t.handle LIKE CAST(:tag AS text) || '-%' AND b.name = CAST(:tag AS text)",
        "INSERT INTO deliverables (deal_id, talent_id, title, due_at) "
        "SELECT d.id, d.talent_id, 'Post ' || k, CAST(:due AS timestamptz) FROM deals AS d "
        "JOIN brands AS b ON b.id = d.brand_id AND b.name = CAST(:tag AS text), "
        "generate_series(1, CAST(:per AS int)) AS k",
        "INSERT INTO invoices (deal_id, brand_id, number, amount_minor, currency, status, due_at) "
        "SELECT d.id, d.brand_id, CAST(:tag AS text) || '-' || d.id, 5000, 'EUR', 'overdue', "
        "CAST(:due AS timestamptz) - interval '10 days' FROM deals AS d "
        "JOIN brands AS b ON b.id = d.brand_id AND b.name = CAST(:tag AS text)",
        "INSERT INTO approvals (kind, subject, requested_by_id, expires_at) "
        "SELECT 'contract', 'Approve ' || t.id, t.manager_id, CAST(:due AS timestamptz) + interval '3 days' "
        "FROM talents AS t WHERE t.handle LIKE CAST(:tag AS text) || '-%'",
    ]
    async with sessions.begin() as session:
        for statement in statements:
            await session.execute(text(statement), params)


async def test_digest_statements_do_not_grow_with_managers_or_items(
    sessions: async_sessionmaker[AsyncSession], redis: ArqRedis, settings: Settings, sql_statements: list[str]
) -> None:
    """10 deliverables for one manager, then 10,000 for 1,000 managers: the same two statements."""
    counts: list[int] = []
    for tag, managers, day in (("small", 1, date(2026, 5, 4)), ("large", 1_000, date(2026, 5, 5))):
        noon = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)  # the same local day in all three zones
        await bulk_managers(sessions, tag, managers, 10, noon)
        before = len(sql_statements)
        result = await run_cron_job(DIGEST)(
            cron_ctx(DIGEST, noon - timedelta(hours=4), sessions, redis, settings)
        )
        run = sql_statements[before:]
        assert len([s for s in run if "cron_runs" not in s]) == 2, run
        counts.append(len(run))
        if tag == "large":  # the small manager still has an overdue invoice and an approval
            assert (result["count"], result["managers"]) == (1_001, 1_001)

    assert counts[0] == counts[1]
    jobs = await email_jobs(redis)
    sample = next(
        mail for job_id, mail in jobs.items() if job_id.endswith(":2026-05-05") and "Post 10" in mail["body"]
    )
    assert "Deliverables due today (10)" in sample["body"]


# --- weekly reports ------------------------------------------------------------------------------

#: Monday 30 March 2026, 08:00 in London (BST): last week ran from Monday 23 March 00:00 GMT to
#: Monday 30 March 00:00 BST, a 167-hour week.
WEEK_TICK = datetime(2026, 3, 30, 7, 0, tzinfo=UTC)
WEEK_START, WEEK_END = utc("2026-03-23 00:00"), utc("2026-03-29 23:00")


def london_settings() -> Settings:
    return service_settings(cron_timezone="Europe/London")


async def weekly_world(sessions: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    """Two managers, two active talents and one inactive; deals, invoices, deliverables and outreach."""
    async with sessions.begin() as session:
        maya = User(name="Maya", email="maya@agency.test")
        daniel = User(name="Daniel", email="daniel@agency.test")
        brand = Brand(name="Glossier")
        session.add_all([maya, daniel, brand])
        await session.flush()
        ava = Talent(name="Ava Chen", handle="avacooks", manager_id=pk(maya))
        leo = Talent(name="Leo Martins", handle="leolifts", manager_id=pk(daniel))
        old = Talent(name="Old Timer", handle="oldtimer", manager_id=pk(maya), active=False)
        session.add_all([ava, leo, old])
        await session.flush()

        def deal(talent: Talent, stage: str, fee: int, currency: str, changed: str) -> Deal:
            return Deal(
                talent_id=pk(talent),
                brand_id=pk(brand),
                stage=stage,
                fee_minor=fee,
                currency=currency,
                stage_changed_at=utc(changed),
            )

        won_usd = deal(ava, "contracted", 500_000, "USD", "2026-03-23 00:30")
        won_eur = deal(leo, "contracted", 250_050, "EUR", "2026-03-29 22:30")  # 23:30 BST Sunday: in
        won_jpy = deal(ava, "contracted", 300_000, "JPY", "2026-03-25 12:00")
        late = deal(ava, "contracted", 1, "USD", "2026-03-29 23:30")  # 00:30 BST Monday: this week
        early = deal(old, "contracted", 7, "USD", "2026-03-22 23:30")  # the Sunday before
        lost = deal(leo, "lost", 100_000, "EUR", "2026-03-24 09:00")
        session.add_all([won_usd, won_eur, won_jpy, late, early, lost])
        await session.flush()

        def invoice(
            d: Deal, n: int, amount: int, currency: str, status: str, issued: str, **extra: Any
        ) -> Invoice:
            return Invoice(
                deal_id=pk(d),
                brand_id=pk(brand),
                number=f"INV-{n}",
                installment=n,
                amount_minor=amount,
                currency=currency,
                status=status,
                issued_at=utc(issued),
                due_at=utc(issued) + timedelta(days=30),
                **extra,
            )

        session.add_all(
            [
                invoice(won_usd, 1, 10_000, "USD", "sent", "2026-03-24 10:00"),
                invoice(won_usd, 2, 2_550, "USD", "sent", "2026-03-29 22:00"),
                invoice(won_jpy, 3, 5_000, "JPY", "sent", "2026-03-26 10:00"),
                invoice(
                    won_eur, 4, 77_777, "EUR", "paid", "2026-03-01 10:00", paid_at=utc("2026-03-27 10:00")
                ),
                invoice(won_jpy, 5, 123, "JPY", "overdue", "2026-02-01 10:00"),
                invoice(won_usd, 6, 1, "USD", "overdue", "2026-02-01 10:00"),
                invoice(won_eur, 7, 999, "EUR", "paid", "2026-03-25 10:00", paid_at=utc("2026-03-30 06:30")),
            ]
        )
        session.add_all(
            [
                Deliverable(
                    deal_id=pk(won_usd),
                    talent_id=pk(ava),
                    title="Reel",
                    due_at=utc("2026-03-24 12:00"),
                    status="approved",
                ),
                Deliverable(
                    deal_id=pk(won_usd), talent_id=pk(ava), title="Story", due_at=utc("2026-03-26 12:00")
                ),
                Deliverable(
                    deal_id=pk(won_eur),
                    talent_id=pk(leo),
                    title="Post",
                    due_at=utc("2026-03-27 12:00"),
                    status="overdue",
                ),
                Deliverable(
                    deal_id=pk(won_eur), talent_id=pk(leo), title="Next", due_at=utc("2026-03-31 12:00")
                ),
            ]
        )
        brands = [Brand(name=f"Prospect {n}") for n in range(5)]
        session.add_all(brands)
        await session.flush()
        for talent, prospect, sent, replied in [
            (ava, brands[0], "2026-03-23 09:00", "2026-03-24 09:00"),
            (ava, brands[1], "2026-03-24 09:00", None),
            (ava, brands[2], "2026-03-25 09:00", None),
            (leo, brands[3], "2026-03-26 09:00", None),
            (leo, brands[4], "2026-03-20 09:00", "2026-03-24 09:00"),  # sent the week before
        ]:
            session.add(
                OutreachAction(
                    talent_id=pk(talent),
                    brand_id=pk(prospect),
                    status="replied" if replied else "sent",
                    sent_at=utc(sent),
                    replied_at=utc(replied) if replied else None,
                )
            )
    people = {"maya": pk(maya), "daniel": pk(daniel), "ava": pk(ava), "leo": pk(leo), "old": pk(old)}
    return {**people, "brand": pk(brand), "deal": pk(won_usd)}


AGENCY_DATA = {
    "time_zone": "Europe/London",
    "deals_won": {"count": 3, "value": {"EUR": 250_050, "JPY": 300_000, "USD": 500_000}},
    "deals_lost": {"count": 1, "value": {"EUR": 100_000}},
    "invoiced": {"count": 4, "totals": {"EUR": 999, "JPY": 5_000, "USD": 12_550}},
    "collected": {"count": 1, "totals": {"EUR": 77_777}},
    "overdue": {"count": 2, "totals": {"JPY": 123, "USD": 1}},
    "outreach": {"sent": 4, "replied": 1, "reply_rate": 0.25},
}


async def stored_reports(sessions: async_sessionmaker[AsyncSession]) -> list[Report]:
    async with sessions() as session:
        return list((await session.execute(select(Report).order_by(col(Report.id)))).scalars())


async def test_the_agency_report_is_stored_per_currency_and_emailed_to_every_manager(
    sessions: async_sessionmaker[AsyncSession], redis: ArqRedis
) -> None:
    """Last week's figures, Monday to Monday in London time, money per currency; one email per manager."""
    ids = await weekly_world(sessions)

    result = await run_cron_job(WEEKLY)(cron_ctx(WEEKLY, WEEK_TICK, sessions, redis, london_settings()))

    (report,) = await stored_reports(sessions)
    assert result == {"count": 2, "report_id": report.id, "week": "2026-03-23", "managers": 2}
    assert (report.kind, report.talent_id, report.period_start, report.period_end) == (
        "agency_weekly",
        None,
        WEEK_START,
        WEEK_END,
    )
    assert report.data == AGENCY_DATA
    jobs = await email_jobs(redis)
    assert set(jobs) == {f"email-send:weekly-report:2026-03-23:{ids[m]}" for m in ("maya", "daniel")}
    mail = jobs[f"email-send:weekly-report:2026-03-23:{ids['maya']}"]
    assert (mail["to"], mail["subject"]) == (
        "maya@agency.test",
        "Agency weekly report, week of 23 March 2026",
    )
    for line in [
        "Hello Maya,",
        "The agency's week, 23 March to 29 March 2026 (Europe/London):",
        "Deals won: 3 (EUR 2,500.50, JPY 300,000, USD 5,000.00)",
        "Deals lost: 1 (EUR 1,000.00)",
        "Invoiced: 4 invoice(s), EUR 9.99, JPY 5,000, USD 125.50",
        "Collected: 1 invoice(s), EUR 777.77",
        "Overdue now: 2 invoice(s), JPY 123, USD 0.01",
        "Outreach: 4 sent, 1 replied (reply rate 25.0%)",
    ]:
        assert line in mail["body"]


async def test_a_rerun_of_the_week_updates_the_report_and_emails_nobody_twice(
    sessions: async_sessionmaker[AsyncSession], redis: ArqRedis
) -> None:
    """Another tick in the same week: the one stored report gets fresh figures, no new email."""
    ids = await weekly_world(sessions)
    await run_cron_job(WEEKLY)(cron_ctx(WEEKLY, WEEK_TICK, sessions, redis, london_settings()))
    jobs = await email_jobs(redis)
    async with sessions.begin() as session:
        session.add(
            Invoice(
                deal_id=ids["deal"],
                brand_id=ids["brand"],
                number="INV-LATE",
                installment=99,
                amount_minor=50,
                currency="GBP",
                status="sent",
                issued_at=utc("2026-03-28 10:00"),
            )
        )

    again = await run_cron_job(WEEKLY)(
        cron_ctx(WEEKLY, WEEK_TICK + timedelta(hours=2), sessions, redis, london_settings())
    )

    (report,) = await stored_reports(sessions)
    assert again["count"] == 0
    assert report.data["invoiced"] == {
        "count": 5,
        "totals": {"EUR": 999, "GBP": 50, "JPY": 5_000, "USD": 12_550},
    }
    assert await email_jobs(redis) == jobs


async def test_a_deal_is_won_in_the_week_its_contract_is_finalised(
    sessions: async_sessionmaker[AsyncSession], redis: ArqRedis
) -> None:
    """Contracted and delivered in one week, re-finalised, or by hand: each won once, in one week only."""
    # Given deals whose contracts were finalised in last week (or before), in every stage since
    async with sessions.begin() as session:
        maya = User(name="Maya", email="maya@agency.test")
        brand = Brand(name="Glossier")
        session.add_all([maya, brand])
        await session.flush()
        ava = Talent(name="Ava Chen", handle="avacooks", manager_id=pk(maya))
        session.add(ava)
        await session.flush()
        deals: dict[str, Deal] = {}
        for key, stage, fee, currency, changed in [
            ("delivered_in_week", "delivered", 100_000, "USD", "2026-03-27 12:00"),
            ("refinalised", "contracted", 200_000, "EUR", "2026-03-26 12:00"),
            ("finalised_before", "delivered", 999, "USD", "2026-03-27 12:00"),
            ("no_contract", "contracted", 300_000, "USD", "2026-03-25 12:00"),
            # Moved by hand: contracted in an earlier week (won then), delivered in this one
            ("delivered_by_hand", "delivered", 40_000, "USD", "2026-03-26 12:00"),
            # Moved by hand this week, its contract finalised the week after: won then, not now
            ("finalised_later", "contracted", 60_000, "USD", "2026-03-25 12:00"),
            ("draft_contract_only", "contracted", 50_000, "GBP", "2026-03-24 12:00"),
            ("lost", "lost", 7_000, "EUR", "2026-03-24 12:00"),
            ("won_then_lost", "lost", 11_000, "USD", "2026-03-28 12:00"),
        ]:
            deals[key] = Deal(
                talent_id=pk(ava),
                brand_id=pk(brand),
                stage=stage,
                fee_minor=fee,
                currency=currency,
                stage_changed_at=utc(changed),
            )
        session.add_all(deals.values())
        await session.flush()
        for key, status, finalised in [
            ("delivered_in_week", "signed", "2026-03-24 10:00"),
            ("refinalised", "finalised", "2026-03-25 10:00"),
            ("refinalised", "finalised", "2026-03-26 10:00"),
            ("finalised_before", "signed", "2026-03-20 10:00"),
            ("draft_contract_only", "drafting", None),
            ("won_then_lost", "finalised", "2026-03-25 10:00"),
            ("finalised_later", "finalised", "2026-04-01 10:00"),
        ]:
            session.add(
                Contract(
                    deal_id=pk(deals[key]),
                    status=status,
                    finalised_at=utc(finalised) if finalised else None,
                )
            )

    # When both weekly reports run for that week
    await run_cron_job(WEEKLY)(cron_ctx(WEEKLY, WEEK_TICK, sessions, redis, london_settings()))
    await run_cron_job(TALENT_WEEKLY)(cron_ctx(TALENT_WEEKLY, WEEK_TICK, sessions, redis, london_settings()))

    # Then five deals were won (one of them lost again the same week) and two lost, in both reports
    won = {"count": 5, "value": {"EUR": 200_000, "GBP": 50_000, "USD": 411_000}}
    lost = {"count": 2, "value": {"EUR": 7_000, "USD": 11_000}}
    agency, talent = await stored_reports(sessions)
    assert (agency.kind, agency.data["deals_won"], agency.data["deals_lost"]) == ("agency_weekly", won, lost)
    assert (talent.kind, talent.data["deals_won"], talent.data["deals_lost"]) == ("talent_weekly", won, lost)


async def test_one_report_per_active_talent_goes_to_their_manager(
    sessions: async_sessionmaker[AsyncSession], redis: ArqRedis
) -> None:
    """Ava's and Leo's weeks stored and emailed to Maya and Daniel; the inactive talent gets none; once."""
    ids = await weekly_world(sessions)
    ctx = cron_ctx(TALENT_WEEKLY, WEEK_TICK + timedelta(hours=1), sessions, redis, london_settings())

    result = await run_cron_job(TALENT_WEEKLY)(ctx)

    assert result == {"count": 2, "reports": 2, "week": "2026-03-23"}
    by_talent = {r.talent_id: r for r in await stored_reports(sessions)}
    assert set(by_talent) == {ids["ava"], ids["leo"]}
    assert all(
        (r.kind, r.period_start, r.period_end) == ("talent_weekly", WEEK_START, WEEK_END)
        for r in by_talent.values()
    )
    assert by_talent[ids["ava"]].data == {
        "time_zone": "Europe/London",
        "talent": "Ava Chen",
        "handle": "avacooks",
        "deals_won": {"count": 2, "value": {"JPY": 300_000, "USD": 500_000}},
        "deals_lost": {"count": 0, "value": {}},
        "invoiced": {"count": 3, "totals": {"JPY": 5_000, "USD": 12_550}},
        "collected": {"count": 0, "totals": {}},
        "overdue": {"count": 2, "totals": {"JPY": 123, "USD": 1}},
        "deliverables": {"due": 2, "approved": 1, "overdue": 0},
        "outreach": {"sent": 3, "replied": 1, "reply_rate": 0.3333},
    }
    assert by_talent[ids["leo"]].data == {
        "time_zone": "Europe/London",
        "talent": "Leo Martins",
        "handle": "leolifts",
        "deals_won": {"count": 1, "value": {"EUR": 250_050}},
        "deals_lost": {"count": 1, "value": {"EUR": 100_000}},
        "invoiced": {"count": 1, "totals": {"EUR": 999}},
        "collected": {"count": 1, "totals": {"EUR": 77_777}},
        "overdue": {"count": 0, "totals": {}},
        "deliverables": {"due": 1, "approved": 0, "overdue": 1},
        "outreach": {"sent": 1, "replied": 0, "reply_rate": 0.0},
    }
    jobs = await email_jobs(redis)
    ava = jobs[f"email-send:talent-report:{ids['ava']}:2026-03-23"]
    leo = jobs[f"email-send:talent-report:{ids['leo']}:2026-03-23"]
    assert len(jobs) == 2
    assert (ava["to"], ava["subject"]) == (
        "maya@agency.test",
        "Weekly report for Ava Chen, week of 23 March 2026",
    )
    assert "Deals won: 2 (JPY 300,000, USD 5,000.00)" in ava["body"]
    assert "Deliverables due in the week: 2 (1 approved, 0 overdue)" in ava["body"]
    assert leo["to"] == "daniel@agency.test"
    assert "Collected: 1 invoice(s), EUR 777.77" in leo["body"]

    # When the week runs again (another tick), Then no report is added and nothing is enqueued
    again = await run_cron_job(TALENT_WEEKLY)(
        cron_ctx(TALENT_WEEKLY, WEEK_TICK + timedelta(hours=3), sessions, redis, london_settings())
    )
    assert (again["count"], again["reports"]) == (0, 2)
    assert len(await stored_reports(sessions)) == 2
    assert await email_jobs(redis) == jobs


async def test_weekly_statements_do_not_grow_with_the_rows(
    sessions: async_sessionmaker[AsyncSession], redis: ArqRedis, sql_statements: list[str]
) -> None:
    """10 or 10,000 talents (each with a deal, an invoice, a deliverable): the same statements per cron."""
    settings = london_settings()
    seen: dict[str, list[int]] = {WEEKLY.name: [], TALENT_WEEKLY.name: []}
    for tag, size, tick in (("small", 10, WEEK_TICK), ("large", 10_000, WEEK_TICK + timedelta(days=7))):
        await bulk_managers(sessions, tag, size, 1, tick - timedelta(days=3))
        for entry, expected in ((WEEKLY, 2), (TALENT_WEEKLY, 1)):
            before = len(sql_statements)
            result = await run_cron_job(entry)(cron_ctx(entry, tick, sessions, redis, settings))
            run = sql_statements[before:]
            assert len([s for s in run if "cron_runs" not in s]) == expected, run
            seen[entry.name].append(len(run))
        assert result["reports"] == (10 if tag == "small" else 10_010)

    assert all(first == second for first, second in seen.values()), seen
    async with sessions() as session:
        weekly = (
            (
                await session.execute(
                    text("SELECT data FROM reports WHERE kind = 'agency_weekly' ORDER BY period_start")
                )
            )
            .scalars()
            .all()
        )
    assert [data["deals_won"]["count"] for data in weekly] == [0, 0]
    assert [data["overdue"] for data in weekly][1] == {"count": 10_010, "totals": {"EUR": 50_050_000}}
