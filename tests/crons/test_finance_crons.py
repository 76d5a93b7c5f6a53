"""check-overdue-invoices on real PostgreSQL and Redis: exact money per currency, one reminder each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from arq.connections import ArqRedis
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from talentq.client import FanOut, Producer
from talentq.cron import CronEntry, run_cron_job
from talentq.crons import finance
from talentq.db.models import CronRun, pk
from talentq.db.tables import Brand, Deal, EmailStatus, Invoice, OutboundEmail, Talent, User
from talentq.domain.time import tick_ms
from talentq.processors import email_send
from talentq.queues import CATALOGUE
from talentq.registry import Binding
from talentq.settings import Settings

from ..conftest import MakeWorker, clients, service_settings

pytestmark = pytest.mark.integration

OVERDUE = CronEntry(
    "check-overdue-invoices", "0 9 * * *", finance.check_overdue_invoices, enqueues=("email-send",)
)
TICK = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday, 09:00 UTC
MAIL_BINDINGS: list[Binding] = [("email-send", email_send.handle)]
MAIL_CATALOGUE = {"email-send": CATALOGUE["email-send"]}


def cron_ctx(
    entry: CronEntry,
    at: datetime,
    sessions: async_sessionmaker[AsyncSession],
    redis: ArqRedis,
    settings: Settings,
) -> dict[str, Any]:
    """The context a worker gives the tick of ``entry`` at ``at``: "now" comes from the job id."""
    return {
        "job_id": f"{entry.name}:{tick_ms(at)}",
        "job_try": 1,
        "sessions": sessions,
        "redis": redis,
        "settings": settings,
        **clients(settings),
        "producer": Producer(redis),
    }


async def email_jobs(redis: ArqRedis) -> dict[str, dict[str, Any]]:
    """The queued email-send jobs: job id -> payload."""
    return {str(job.job_id): job.args[0] for job in await redis.queued_jobs() if job.function == "email-send"}


async def one_deal(sessions: async_sessionmaker[AsyncSession]) -> tuple[int, dict[str, int]]:
    """A manager, a talent, one deal, and three brands: billing address, contact only, none."""
    async with sessions.begin() as session:
        manager = User(name="Maya Okafor", email="maya@agency.test")
        session.add(manager)
        await session.flush()
        talent = Talent(name="Ava Chen", handle="avacooks", manager_id=pk(manager))
        brands = {
            "glossier": Brand(
                name="Glossier", billing_email="ap@glossier.test", contact_email="hi@glossier.test"
            ),
            "gymshark": Brand(name="Gymshark", contact_email="partners@gymshark.test"),
            "oatly": Brand(name="Oatly"),
        }
        session.add_all([talent, *brands.values()])
        await session.flush()
        deal = Deal(talent_id=pk(talent), brand_id=pk(brands["glossier"]), stage="contracted")
        session.add(deal)
        await session.flush()
        return pk(deal), {key: pk(brand) for key, brand in brands.items()}


def invoice(brand: int, amount_minor: int, currency: str, *, due: datetime, **extra: Any) -> dict[str, Any]:
    """An invoice row, ``sent`` unless ``status`` says otherwise, issued a month before it is due."""
    return {
        "brand_id": brand,
        "amount_minor": amount_minor,
        "currency": currency,
        "status": "sent",
        "issued_at": due - timedelta(days=30),
        "due_at": due,
        **extra,
    }


async def add_invoices(
    sessions: async_sessionmaker[AsyncSession], deal_id: int, rows: list[dict[str, Any]]
) -> list[int]:
    async with sessions.begin() as session:
        invoices = [
            Invoice(deal_id=deal_id, number=f"INV-{n:04d}", installment=n, **row)
            for n, row in enumerate(rows, start=1)
        ]
        session.add_all(invoices)
        await session.flush()
        return [pk(row) for row in invoices]


async def invoices_by_id(sessions: async_sessionmaker[AsyncSession]) -> dict[int, Invoice]:
    async with sessions() as session:
        return {pk(i): i for i in (await session.execute(select(Invoice))).scalars()}


async def test_overdue_invoices_are_marked_and_reminded_once_with_exact_money(
    sessions: async_sessionmaker[AsyncSession], redis: ArqRedis, settings: Settings
) -> None:
    """USD, EUR and JPY invoices past due: marked overdue, totals per currency exact, one email each."""
    deal, brand = await one_deal(sessions)
    past = TICK - timedelta(days=3)
    glossier, gymshark = brand["glossier"], brand["gymshark"]
    ids = await add_invoices(
        sessions,
        deal,
        [
            # 2**53 + 1 cents: a float would lose the last cent.
            invoice(glossier, 9_007_199_254_740_993, "USD", due=past),
            invoice(glossier, 1, "USD", due=past),
            invoice(gymshark, 99, "EUR", due=past),
            invoice(gymshark, 1500, "JPY", due=past),
            invoice(glossier, 5000, "USD", due=TICK + timedelta(hours=1)),
            invoice(glossier, 7000, "EUR", due=past, status="draft"),
            invoice(glossier, 8000, "USD", due=past, status="paid"),
            invoice(glossier, 2500, "GBP", due=past, status="overdue", reminded_at=past),
        ],
    )
    usd_big, usd_cent, eur, jpy, not_due, draft, paid, old = ids

    result = await run_cron_job(OVERDUE)(cron_ctx(OVERDUE, TICK, sessions, redis, settings))

    assert result == {
        "count": 4,
        "overdue_totals": {"EUR": 99, "JPY": 1500, "USD": 9_007_199_254_740_994},
        "reminders": 4,
        "no_address": 0,
        "no_address_invoices": [],
    }
    invoices = await invoices_by_id(sessions)
    assert {i: invoices[i].status for i in ids} == {
        usd_big: "overdue", usd_cent: "overdue", eur: "overdue", jpy: "overdue",
        not_due: "sent", draft: "draft", paid: "paid", old: "overdue",
    }  # fmt: skip
    # Stamped with the tick, as a late or repeated run of it would stamp them
    assert all(invoices[i].reminded_at == TICK for i in (usd_big, usd_cent, eur, jpy))
    assert invoices[old].reminded_at == past
    jobs = await email_jobs(redis)
    assert set(jobs) == {f"email-send:invoice-overdue:{i}" for i in (usd_big, usd_cent, eur, jpy)}
    expected = {
        usd_big: ("ap@glossier.test", "USD 90,071,992,547,409.93"),
        usd_cent: ("ap@glossier.test", "USD 0.01"),
        eur: ("partners@gymshark.test", "EUR 0.99"),
        jpy: ("partners@gymshark.test", "JPY 1,500"),
    }
    for invoice_id, (address, amount) in expected.items():
        mail = jobs[f"email-send:invoice-overdue:{invoice_id}"]
        number = invoices[invoice_id].number
        assert mail["to"] == address
        assert mail["subject"] == f"Invoice {number} is overdue ({amount})"
        assert f"Invoice {number} for {amount} was due on 27 February 2026" in mail["body"]


async def test_a_repeat_run_reminds_nobody_twice(
    sessions: async_sessionmaker[AsyncSession], redis: ArqRedis, settings: Settings
) -> None:
    """The same tick twice, then the next day's tick: one reminder per invoice in all."""
    deal, brand = await one_deal(sessions)
    due = TICK - timedelta(days=1)
    await add_invoices(sessions, deal, [invoice(brand["glossier"], 100, "EUR", due=due)])
    first = await run_cron_job(OVERDUE)(cron_ctx(OVERDUE, TICK, sessions, redis, settings))
    reminded = (await invoices_by_id(sessions)).popitem()[1].reminded_at

    again = await run_cron_job(OVERDUE)(cron_ctx(OVERDUE, TICK, sessions, redis, settings))
    next_day = await run_cron_job(OVERDUE)(
        cron_ctx(OVERDUE, TICK + timedelta(days=1), sessions, redis, settings)
    )

    assert (first["count"], first["reminders"]) == (1, 1)
    assert again == {"count": 0, "skipped": "tick already ran"}
    assert (next_day["count"], next_day["reminders"]) == (0, 0)
    assert len(await email_jobs(redis)) == 1
    assert (await invoices_by_id(sessions)).popitem()[1].reminded_at == reminded


async def test_a_run_that_dies_after_its_enqueue_reminds_each_invoice_once(
    sessions: async_sessionmaker[AsyncSession], redis: ArqRedis, settings: Settings
) -> None:
    """The emails are queued, then the run dies before reminded_at: the next run adds no email, marks them."""
    # Given two overdue invoices and a producer whose batch lands in Redis before the run dies
    deal, brand = await one_deal(sessions)
    due = TICK - timedelta(days=1)
    ids = await add_invoices(
        sessions,
        deal,
        [invoice(brand["glossier"], 100, "EUR", due=due), invoice(brand["gymshark"], 200, "USD", due=due)],
    )

    class DiesAfterEnqueue(Producer):
        async def fan_out(self, queue: Any, rows: Any, **kwargs: Any) -> FanOut:
            await super().fan_out(queue, rows, **kwargs)
            raise ConnectionError("worker killed")

    crashing = cron_ctx(OVERDUE, TICK, sessions, redis, settings) | {"producer": DiesAfterEnqueue(redis)}
    with pytest.raises(ConnectionError):
        await run_cron_job(OVERDUE)(crashing)
    after_crash = await invoices_by_id(sessions)
    assert [(after_crash[i].status, after_crash[i].reminded_at) for i in ids] == [("overdue", None)] * 2

    # When the next tick runs
    again = await run_cron_job(OVERDUE)(
        cron_ctx(OVERDUE, TICK + timedelta(days=1), sessions, redis, settings)
    )

    # Then each invoice has exactly one email job (the crashed run's), and both are marked reminded
    assert (again["count"], again["reminders"]) == (0, 0)
    assert set(await email_jobs(redis)) == {f"email-send:invoice-overdue:{i}" for i in ids}
    assert all(invoice.reminded_at is not None for invoice in (await invoices_by_id(sessions)).values())
    async with sessions() as session:
        runs = [
            (r.status, r.error)
            for r in (await session.execute(select(CronRun).order_by(col(CronRun.id)))).scalars()
        ]
    assert runs == [("failed", "ConnectionError: worker killed"), ("ok", None)]


async def test_an_invoice_without_address_is_marked_listed_and_reminded_once_one_exists(
    sessions: async_sessionmaker[AsyncSession], redis: ArqRedis, settings: Settings
) -> None:
    """No billing or contact email: overdue, listed, no email; reminded by the run after one is added."""
    deal, brand = await one_deal(sessions)
    due = TICK - timedelta(days=2)
    (invoice_id,) = await add_invoices(sessions, deal, [invoice(brand["oatly"], 4200, "SEK", due=due)])

    first = await run_cron_job(OVERDUE)(cron_ctx(OVERDUE, TICK, sessions, redis, settings))
    assert first == {
        "count": 1,
        "overdue_totals": {"SEK": 4200},
        "reminders": 0,
        "no_address": 1,
        "no_address_invoices": ["INV-0001"],
    }
    assert (await invoices_by_id(sessions))[invoice_id].status == "overdue"
    assert (await invoices_by_id(sessions))[invoice_id].reminded_at is None
    assert await email_jobs(redis) == {}

    # When the brand gets a billing address, Then the next day's run sends the reminder it owed
    async with sessions.begin() as session:
        await session.execute(
            update(Brand).where(col(Brand.id) == brand["oatly"]).values(billing_email="ap@oatly.test")
        )
    second = await run_cron_job(OVERDUE)(
        cron_ctx(OVERDUE, TICK + timedelta(days=1), sessions, redis, settings)
    )

    assert (second["count"], second["reminders"], second["no_address"]) == (0, 1, 0)
    mail = (await email_jobs(redis))[f"email-send:invoice-overdue:{invoice_id}"]
    assert (mail["to"], mail["subject"]) == ("ap@oatly.test", "Invoice INV-0001 is overdue (SEK 42.00)")
    assert (await invoices_by_id(sessions))[invoice_id].reminded_at is not None


async def bulk_invoices(
    sessions: async_sessionmaker[AsyncSession], deal: int, brand: int, count: int, due: datetime, first: int
) -> None:
    """``count`` sent invoices due at ``due`` in three currencies, in one INSERT ... SELECT."""
    async with sessions.begin() as session:
        await session.execute(
            text(
                "INSERT INTO invoices (deal_id, brand_id, number, installment, amount_minor, currency, "
                "status, issued_at, due_at) "
                "SELECT :deal, :brand, 'BULK-' || n, n, 1000 + n, (ARRAY['USD', 'EUR', 'JPY'])[1 + n % 3], "
                "'sent', CAST(:due AS timestamptz) - interval '30 days', :due "
                "FROM generate_series(CAST(:first AS int), CAST(:last AS int)) AS n"
            ),
            {"deal": deal, "brand": brand, "due": due, "first": first, "last": first + count - 1},
        )


async def test_statements_do_not_grow_with_the_invoices(
    sessions: async_sessionmaker[AsyncSession], redis: ArqRedis, settings: Settings, sql_statements: list[str]
) -> None:
    """10 or 10,000 overdue invoices: the same statements (two of them the cron's own), all reminded."""
    deal, brand = await one_deal(sessions)
    counts: list[int] = []
    for size, first, tick in ((10, 1, TICK), (10_000, 11, TICK + timedelta(days=1))):
        await bulk_invoices(sessions, deal, brand["glossier"], size, tick - timedelta(hours=1), first)
        before = len(sql_statements)
        result = await run_cron_job(OVERDUE)(cron_ctx(OVERDUE, tick, sessions, redis, settings))
        run = sql_statements[before:]
        assert (result["count"], result["reminders"]) == (size, size)
        assert len([s for s in run if "cron_runs" not in s]) == 2, run
        counts.append(len(run))

    assert counts[0] == counts[1]
    assert await redis.zcard("arq:queue") == 10_010
    async with sessions() as session:
        unreminded = await session.scalar(text("SELECT count(*) FROM invoices WHERE reminded_at IS NULL"))
    assert unreminded == 0


async def test_a_worker_runs_the_tick_and_sends_each_reminder_once(
    make_worker: MakeWorker, sessions: async_sessionmaker[AsyncSession], redis: ArqRedis
) -> None:
    """Through a burst worker: the tick marks and fans out, email-send sends; the next day sends nothing."""
    deal, brand = await one_deal(sessions)
    due = TICK - timedelta(days=1)
    ids = await add_invoices(
        sessions,
        deal,
        [
            invoice(brand["glossier"], 150_000, "USD", due=due),
            invoice(brand["gymshark"], 30_000, "JPY", due=due),
        ],
    )
    mail_settings = service_settings(mail_transport="log")

    for tick in (TICK, TICK + timedelta(days=1)):
        await redis.enqueue_job(OVERDUE.name, _job_id=f"{OVERDUE.name}:{tick_ms(tick)}")
        await make_worker(
            MAIL_BINDINGS, [OVERDUE], catalogue=MAIL_CATALOGUE, settings_=mail_settings
        ).async_run()

    async with sessions() as session:
        sent = list((await session.execute(select(OutboundEmail).order_by(col(OutboundEmail.id)))).scalars())
        runs = list((await session.execute(select(CronRun).order_by(col(CronRun.id)))).scalars())
    # The worker runs the two email-send jobs concurrently: their rows come in either order.
    assert sorted((m.job_id, m.to_address, m.status) for m in sent) == sorted(
        [
            (f"email-send:invoice-overdue:{ids[0]}", "ap@glossier.test", EmailStatus.SENT),
            (f"email-send:invoice-overdue:{ids[1]}", "partners@gymshark.test", EmailStatus.SENT),
        ]
    )
    assert "JPY 30,000" in next(m.subject for m in sent if m.to_address == "partners@gymshark.test")
    assert [(r.status, r.result["count"] if r.result else None) for r in runs] == [("ok", 2), ("ok", 0)]


async def test_a_bad_address_is_skipped_and_reported_and_blocks_no_other_reminder(
    sessions: async_sessionmaker[AsyncSession],
    redis: ArqRedis,
    settings: Settings,
    records: list[dict[str, Any]],
) -> None:
    """A blank address counts as none; one the email queue refuses is skipped, named, and left unreminded."""
    deal, brand = await one_deal(sessions)
    async with sessions.begin() as session:
        blank = Brand(name="Blank Co", billing_email="   ", contact_email=" ")
        broken = Brand(name="Broken Co", billing_email="accounts at broken")
        session.add_all([blank, broken])
        await session.flush()
    due = TICK - timedelta(days=1)
    good, blank_one, broken_one = await add_invoices(
        sessions,
        deal,
        [invoice(brand["glossier"], 1000, "USD", due=due), invoice(pk(blank), 2000, "USD", due=due),
         invoice(pk(broken), 3000, "USD", due=due)],
    )  # fmt: skip

    result = await run_cron_job(OVERDUE)(cron_ctx(OVERDUE, TICK, sessions, redis, settings))

    # Then the good reminder went out; the blank address is no address; the broken one is refused
    assert result["count"] == 3
    assert result["reminders"] == 1
    assert (result["no_address"], result["no_address_invoices"]) == (1, ["INV-0002"])
    assert (result["refused"], result["refusedJobs"]) == (1, [f"email-send:invoice-overdue:{broken_one}"])
    assert set(await email_jobs(redis)) == {f"email-send:invoice-overdue:{good}"}
    # And it is named in a WARNING; only the reminded invoice is marked, the others wait for a fix
    assert any(
        "1 of 2 payload(s) refused" in r["message"] and "accounts at broken" in r["message"] for r in records
    )
    rows = await invoices_by_id(sessions)
    assert rows[good].reminded_at == TICK
    assert (rows[blank_one].reminded_at, rows[broken_one].reminded_at) == (None, None)
