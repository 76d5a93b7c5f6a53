"""The outreach crons on real Redis and PostgreSQL: what each selects, changes and enqueues, once per tick."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from arq.connections import ArqRedis
from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import SQLModel, col

from talentq.client import Producer
from talentq.cron import CRONS, run_cron_job
from talentq.crons import outreach
from talentq.db.brands import brand_mail_sql
from talentq.db.models import pk
from talentq.db.tables import (
    Brand,
    BrandCrmRecord,
    Deal,
    InboxMessage,
    MailConnection,
    OutreachAction,
    Talent,
    User,
)
from talentq.domain.time import tick_ms
from talentq.jobs import JobContext
from talentq.processors import brand_crm
from talentq.queues import CATALOGUE, DEFAULT_ARQ_QUEUE, BrandCrm, TalentRef

from ..conftest import MakeWorker

pytestmark = pytest.mark.integration

#: The tick of the tests that do not depend on the hour (who is pitched, how many statements).
TICK = datetime(2025, 11, 28, 8, 0, tzinfo=UTC)
WEEK = timedelta(days=7)
#: The shipped entries of the outreach crons (cron.py's, not a copy that could drift from them).
ENTRIES = {
    entry.name: entry
    for entry in CRONS
    if entry.run is not None and entry.run.__module__ == outreach.__name__
}
BRANDS = [
    ("Glossier", "glossier.com", "beauty"),
    ("Gymshark", "gymshark.com", "fitness"),
    ("HelloFresh", "hellofresh.com", "food"),
    ("Notion", "notion.so", "productivity"),
]


def ctx_for(name: str, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession], at: datetime) -> Any:
    return {
        "job_id": f"{name}:{tick_ms(at)}",
        "job_try": 1,
        "redis": redis,
        "sessions": sessions,
        "producer": Producer(redis),
    }


async def run(
    name: str, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession], at: datetime
) -> dict[str, Any]:
    return await run_cron_job(ENTRIES[name])(ctx_for(name, redis, sessions, at))


async def queued(redis: ArqRedis) -> dict[str, tuple[str, dict[str, Any]]]:
    """Job id -> (queue, payload) of every job waiting in Redis."""
    return {job.job_id or "": (job.function, job.args[0]) for job in await redis.queued_jobs()}


@pytest.fixture
def now(cron_now: datetime) -> datetime:
    """The crons' tick: each test that takes it runs at every one of the suite's ``CRON_CLOCKS``."""
    return cron_now


async def add(sessions: async_sessionmaker[AsyncSession], *rows: SQLModel) -> list[int]:
    async with sessions.begin() as session:
        session.add_all(rows)
        await session.flush()
        return [pk(row) for row in rows]


async def agency(sessions: async_sessionmaker[AsyncSession]) -> tuple[list[int], dict[str, int]]:
    """Two managers and four brands."""
    users = await add(
        sessions, User(name="Maya", email="maya@agency.test"), User(name="Dan", email="dan@agency.test")
    )
    brands = await add(
        sessions,
        *(Brand(name=n, domain=d, category=c, contact_email=f"partnerships@{d}") for n, d, c in BRANDS),
    )
    return users, {name: brand for (name, _, _), brand in zip(BRANDS, brands, strict=True)}


def talent(handle: str, manager: int, niches: list[str], audience: int = 1000, **extra: Any) -> Talent:
    return Talent(
        name=handle.title(), handle=handle, manager_id=manager, niches=niches, audience_size=audience, **extra
    )


async def actions(sessions: async_sessionmaker[AsyncSession]) -> dict[int, OutreachAction]:
    async with sessions() as session:
        return {pk(a): a for a in (await session.execute(select(OutreachAction))).scalars()}


# --- outreach-rotation ------------------------------------------------------------------------


async def test_rotation_moves_stale_pitches_to_fitting_talents_not_seen_this_quarter(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession], now: datetime
) -> None:
    """Stale pitches go to other active talents of the manager, niche first, not one the brand met lately."""
    # Given Maya's talents, two of them with stale pitches to Glossier (beauty)
    (maya, dan), brands = await agency(sessions)
    glossier = brands["Glossier"]
    ava, bea, cal, dee, _eve, fay, gus = await add(
        sessions,
        talent("ava", maya, ["beauty"]),
        talent("bea", maya, ["beauty", "skincare"], audience=500),  # fits the category
        talent("cal", maya, ["fitness"], audience=9_000),  # no fit, but the larger audience
        talent("dee", maya, ["beauty"], audience=99_000),  # Glossier heard about her 30 days ago
        talent("eve", maya, ["beauty"], active=False),  # on a break
        talent("fay", maya, ["beauty"]),
        talent("gus", dan, ["beauty"]),  # Dan's only talent
    )
    oldest, second, stuck, fresh, just_scheduled, _seen = await add(
        sessions,
        OutreachAction(
            talent_id=ava, brand_id=glossier, subject="Ava x Glossier", created_at=now - timedelta(days=20)
        ),
        OutreachAction(talent_id=fay, brand_id=glossier, created_at=now - timedelta(days=15)),
        OutreachAction(talent_id=gus, brand_id=glossier, created_at=now - timedelta(days=30)),
        OutreachAction(talent_id=ava, brand_id=brands["Gymshark"], created_at=now - timedelta(days=3)),
        OutreachAction(
            talent_id=fay,
            brand_id=brands["Notion"],
            created_at=now - timedelta(days=20),
            scheduled_at=now - timedelta(hours=2),  # its send may be running right now
        ),
        OutreachAction(
            talent_id=dee,
            brand_id=glossier,
            status="sent",
            created_at=now - timedelta(days=31),
            sent_at=now - timedelta(days=30),
        ),
    )

    # When the rotation runs
    result = await run("outreach-rotation", redis, sessions, now)

    # Then the older pitch goes to the niche fit, the other to the next best; the rest stay
    assert result == {"count": 2, "closed": 0, "stale": 3}
    rows = await actions(sessions)
    # The moved pitches are closed as rotated, still their old talents' (their history)...
    assert {a: (rows[a].talent_id, rows[a].status, rows[a].error) for a in (oldest, second)} == {
        oldest: (ava, "rotated", f"rotated to talent {bea} (@bea)"),
        second: (fay, "rotated", f"rotated to talent {cal} (@cal)"),
    }
    # ...and each new talent has a new pending pitch to the brand
    (moved_oldest,) = [a for a, r in rows.items() if r.talent_id == bea]
    (moved_second,) = [a for a, r in rows.items() if r.talent_id == cal]
    new = rows[moved_oldest]
    assert (new.brand_id, new.kind, rows[moved_second].brand_id) == (glossier, "initial", glossier)
    assert new.subject == "Bea x Glossier"
    message = new.message
    assert isinstance(message, str)
    assert "Bea (@bea)" in message
    assert "beauty, skincare content for an audience of 500" in message
    assert (new.created_at, new.scheduled_at, new.status) == (now, None, "pending")
    assert new.to_address == "partnerships@glossier.com"
    assert rows[stuck].talent_id == gus
    assert rows[fresh].talent_id == ava
    assert rows[just_scheduled].talent_id == fay

    # When it runs again a week later, Then the moved pitches are fresh; Dan's stays stale, and the
    # pitch whose send was under way is, a week on, still unsent: it moves to the largest audience
    later = await run("outreach-rotation", redis, sessions, now + WEEK)
    assert later == {"count": 1, "closed": 0, "stale": 2}
    rows = await actions(sessions)
    assert (rows[just_scheduled].status, rows[just_scheduled].error) == (
        "rotated",
        f"rotated to talent {dee} (@dee)",
    )
    assert rows[stuck].status == "pending"
    assert await redis.queued_jobs() == []


async def test_rotation_gives_one_free_talent_to_one_pitch_only(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession], now: datetime
) -> None:
    """Two stale pitches to one brand, one free talent: one moves, the other waits (no open-pair clash)."""
    (maya, _), brands = await agency(sessions)
    ava, bea, free = await add(
        sessions, talent("ava", maya, ["food"]), talent("bea", maya, ["food"]), talent("cy", maya, ["food"])
    )
    first, waiting = await add(
        sessions,
        *(
            OutreachAction(talent_id=t, brand_id=brands["HelloFresh"], created_at=now - timedelta(days=d))
            for t, d in ((ava, 20), (bea, 16))
        ),
    )

    assert await run("outreach-rotation", redis, sessions, now) == {"count": 1, "closed": 0, "stale": 2}
    rows = await actions(sessions)
    assert (rows[first].status, rows[waiting].status) == ("rotated", "pending")
    assert [(r.talent_id, r.brand_id) for a, r in rows.items() if a not in (first, waiting)] == [
        (free, brands["HelloFresh"])
    ]


async def test_a_rotated_pitch_never_goes_back_to_a_talent_the_brand_had_this_quarter(
    redis: ArqRedis,
    sessions: async_sessionmaker[AsyncSession],
    now: datetime,
) -> None:
    """Ava's stale pitch moves to Bea; when Bea's goes stale too, it stays: Ava had the brand this quarter."""
    # Given Ava's stale pitch to Gymshark and Bea, the only other talent
    (maya, _), brands = await agency(sessions)
    ava, bea = await add(sessions, talent("ava", maya, ["fitness"]), talent("bea", maya, ["fitness"]))
    (pitch,) = await add(
        sessions,
        OutreachAction(talent_id=ava, brand_id=brands["Gymshark"], created_at=now - timedelta(days=20)),
    )
    assert (await run("outreach-rotation", redis, sessions, now))["count"] == 1

    # When Bea's pitch is stale three weeks later and the rotation runs again
    later = await run("outreach-rotation", redis, sessions, now + 3 * WEEK)

    # Then it stays with Bea: Ava's rotated pitch is her history with Gymshark this quarter
    assert later == {"count": 0, "closed": 0, "stale": 1}
    rows = await actions(sessions)
    assert sorted((r.talent_id, r.status) for r in rows.values()) == [(ava, "rotated"), (bea, "pending")]
    assert rows[pitch].talent_id == ava


async def test_rotation_closes_stale_pitches_that_can_never_be_sent(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession], now: datetime
) -> None:
    """A paused or cap-0 talent's stale pitch no one can take fails with its reason; others stay or move."""
    # Given stale pitches: Eve's (paused; Ava is free to take it), Ivy's (paused) and Jo's (cap 0),
    # whose manager Lee has no other talent, and Gus's (active; Dan has no one else)
    (maya, dan), brands = await agency(sessions)
    (lee,) = await add(sessions, User(name="Lee", email="lee@agency.test"))
    ava, eve, gus, ivy, jo = await add(
        sessions,
        talent("ava", maya, ["beauty"]),
        talent("eve", maya, ["beauty"], active=False),
        talent("gus", dan, ["fitness"]),
        talent("ivy", lee, ["productivity"], active=False),
        talent("jo", lee, ["beauty"], daily_outreach_cap=0),
    )
    eves, guss, ivys, jos = await add(
        sessions,
        *(
            OutreachAction(talent_id=t, brand_id=brands[b], created_at=now - timedelta(days=20))
            for t, b in ((eve, "Glossier"), (gus, "Gymshark"), (ivy, "Notion"), (jo, "Glossier"))
        ),
    )

    # When the rotation runs
    result = await run("outreach-rotation", redis, sessions, now)

    # Then Eve's pitch moves to Ava; Ivy's and Jo's are closed as failed, saying why; Gus's waits
    assert result == {"count": 1, "closed": 2, "stale": 4}
    rows = await actions(sessions)
    tail = "and no other talent of the manager can take the pitch to brand"
    assert {a: (rows[a].status, rows[a].error) for a in (eves, guss, ivys, jos)} == {
        eves: ("rotated", f"rotated to talent {ava} (@ava)"),
        guss: ("pending", None),
        ivys: (
            "failed",
            f"closed by outreach-rotation: talent {ivy} (@ivy) is inactive {tail} "
            f"{brands['Notion']} ('Notion')",
        ),
        jos: (
            "failed",
            f"closed by outreach-rotation: talent {jo} (@jo) has a daily outreach cap of 0 {tail} "
            f"{brands['Glossier']} ('Glossier')",
        ),
    }
    # And a second run finds only Gus's pitch stale, and closes nothing more
    assert await run("outreach-rotation", redis, sessions, now + WEEK) == {
        "count": 0,
        "closed": 0,
        "stale": 1,
    }


# --- weekly-outreach --------------------------------------------------------------------------


async def test_weekly_outreach_queues_one_ai_outreach_per_active_talent_once_per_tick(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """One ai-outreach per active talent allowed to pitch; the same tick adds nothing again, the next does."""
    (maya, dan), _ = await agency(sessions)
    ava, bea, _off, _never = await add(
        sessions,
        talent("ava", maya, []),
        talent("bea", dan, []),
        talent("off", maya, [], active=False),
        talent("never", maya, [], daily_outreach_cap=0),
    )

    assert await run("weekly-outreach", redis, sessions, TICK) == {"count": 2, "talents": 2}
    tick = f"weekly-outreach:{tick_ms(TICK)}"
    expected = {f"ai-outreach:{t}:{tick}": ("ai-outreach", {"talentId": t}) for t in (ava, bea)}
    assert await queued(redis) == expected

    # When the same tick's work runs again (a run taken over after its worker died): nothing new
    again = await outreach.weekly_outreach(ctx_for("weekly-outreach", redis, sessions, TICK))
    assert again == {"count": 0, "talents": 2}
    assert await queued(redis) == expected

    # When next week's tick runs: a job per talent again
    assert (await run("weekly-outreach", redis, sessions, TICK + WEEK))["count"] == 2
    assert len(await queued(redis)) == 4


async def test_weekly_outreach_through_a_worker_feeds_ai_outreach(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Through a worker, the tick fans out and every ai-outreach job validates and runs for its talent."""
    (maya, _), _ = await agency(sessions)
    talents = await add(sessions, *(talent(f"t{n}", maya, []) for n in range(5)))
    drafted: list[int] = []

    async def ai_outreach(ctx: JobContext, payload: TalentRef) -> dict[str, Any]:
        drafted.append(payload.talent_id)
        return {"talentId": payload.talent_id}

    assert await redis.enqueue_job("weekly-outreach", _job_id=f"weekly-outreach:{tick_ms(TICK)}") is not None
    await make_worker(
        [("ai-outreach", ai_outreach)],
        [ENTRIES["weekly-outreach"]],
        catalogue={"ai-outreach": CATALOGUE["ai-outreach"]},
    ).async_run()

    assert sorted(drafted) == talents


# --- daily-outreach-plan ----------------------------------------------------------------------


async def test_daily_plan_schedules_within_each_cap_and_queues_what_is_due(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession], now: datetime
) -> None:
    """Oldest unscheduled pitches fill what is left of each talent's cap; one outreach job per due action."""
    (maya, _), brands = await agency(sessions)
    glossier, gymshark, hellofresh, notion = brands.values()
    ava, bea, cal, off = await add(
        sessions,
        talent("ava", maya, [], daily_outreach_cap=2),
        talent("bea", maya, [], daily_outreach_cap=3),
        talent("cal", maya, [], daily_outreach_cap=1),
        talent("off", maya, [], active=False),
    )
    day = timedelta(days=1)
    # "Today" is the tick's UTC day, whatever hour the tick is at
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    earlier_today, later_today = today + (now - today) / 2, now + (today + day - now) / 2
    given = {
        # Ava (cap 2) sent one today: room for one more, the oldest of her three
        "ava sent today": OutreachAction(
            talent_id=ava, brand_id=glossier, status="sent", sent_at=earlier_today
        ),
        "ava oldest": OutreachAction(talent_id=ava, brand_id=gymshark, created_at=now - 3 * day),
        "ava newer": OutreachAction(talent_id=ava, brand_id=hellofresh, created_at=now - 2 * day),
        "ava newest": OutreachAction(talent_id=ava, brand_id=notion, created_at=now - day),
        # Bea (cap 3): one due this morning, one due tonight, one overdue since yesterday: no room
        "bea due": OutreachAction(talent_id=bea, brand_id=glossier, scheduled_at=now - timedelta(hours=3)),
        "bea tonight": OutreachAction(talent_id=bea, brand_id=gymshark, scheduled_at=later_today),
        "bea overdue": OutreachAction(talent_id=bea, brand_id=hellofresh, scheduled_at=now - day),
        "bea waits": OutreachAction(talent_id=bea, brand_id=notion, created_at=now - 5 * day),
        # Cal (cap 1): a pitch sent last week; its follow-up is his one action today. A pitch due five
        # days ago failed for good (its dead letter says why): it neither holds his cap nor is queued.
        "cal pitch": OutreachAction(talent_id=cal, brand_id=glossier, status="sent", sent_at=now - 7 * day),
        "cal failed": OutreachAction(talent_id=cal, brand_id=gymshark, scheduled_at=now - 5 * day),
        # Off is on a break: nothing of hers is scheduled or queued
        "off waits": OutreachAction(talent_id=off, brand_id=glossier, created_at=now - 9 * day),
        "off due": OutreachAction(talent_id=off, brand_id=gymshark, scheduled_at=now - timedelta(hours=1)),
    }
    ids = dict(zip(given, await add(sessions, *given.values()), strict=True))
    (ids["cal follow-up"],) = await add(
        sessions,
        OutreachAction(
            talent_id=cal,
            brand_id=glossier,
            kind="follow_up",
            follow_up_of_id=ids["cal pitch"],
            created_at=now - day,
        ),
    )

    result = await run("daily-outreach-plan", redis, sessions, now)

    assert result == {"count": 4, "scheduled": 2, "due": 4}
    due = sorted(ids[name] for name in ("ava oldest", "bea due", "bea overdue", "cal follow-up"))
    assert await queued(redis) == {f"outreach:{a}": ("outreach", {"actionId": a}) for a in due}
    rows = await actions(sessions)
    scheduled = {name: rows[ids[name]].scheduled_at for name in ids}
    assert scheduled == {
        **{name: given[name].scheduled_at for name in given},
        "ava oldest": now,
        "cal follow-up": now,
    }
    plan = {a: (row.talent_id, row.status, row.scheduled_at) for a, row in rows.items()}

    # When the same tick's work runs again: nothing more is scheduled or queued
    again = await outreach.daily_outreach_plan(ctx_for("daily-outreach-plan", redis, sessions, now))
    assert again == {"count": 0, "scheduled": 0, "due": 4}
    assert len(await queued(redis)) == 4
    assert {
        a: (row.talent_id, row.status, row.scheduled_at) for a, row in (await actions(sessions)).items()
    } == plan


# --- outreach-follow-ups ----------------------------------------------------------------------


async def test_follow_ups_chase_unanswered_pitches_once(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession], now: datetime
) -> None:
    """A pitch sent 5+ days ago without a reply gets one pending follow-up; never a second, by constraint."""
    (maya, _), brands = await agency(sessions)
    glossier, gymshark, hellofresh, notion = brands.values()
    ava, bea, cal, off = await add(
        sessions,
        talent("ava", maya, []),
        talent("bea", maya, []),
        talent("cal", maya, []),
        talent("off", maya, [], active=False),
    )
    day = timedelta(days=1)

    def sent(talent_id: int, brand_id: int, ago: timedelta, **extra: Any) -> OutreachAction:
        return OutreachAction(
            talent_id=talent_id,
            brand_id=brand_id,
            status="sent",
            to_address="partnerships@brand.test",
            subject=f"pitch {talent_id}-{brand_id}",
            message="Hi team, a pitch.",
            sent_at=now - ago,
            **extra,
        )

    unanswered, _replied, _recent, _ancient, bea_older, bea_newer, _off, cal_done = await add(
        sessions,
        sent(ava, glossier, 6 * day),
        sent(ava, gymshark, 6 * day, replied_at=now - 5 * day),
        sent(ava, hellofresh, 2 * day),
        sent(ava, notion, 40 * day),
        sent(bea, glossier, 7 * day),  # two unanswered pitches to one brand: one follow-up between them
        sent(bea, glossier, 6 * day),
        sent(off, glossier, 6 * day),
        sent(cal, glossier, 10 * day),
    )
    await add(
        sessions,
        OutreachAction(
            talent_id=cal, brand_id=glossier, kind="follow_up", follow_up_of_id=cal_done, status="sent"
        ),
    )

    assert await run("outreach-follow-ups", redis, sessions, now) == {"count": 2, "replied": 0, "closed": 0}
    follow_ups = {a.follow_up_of_id: a for a in (await actions(sessions)).values() if a.follow_up_of_id}
    assert set(follow_ups) == {unanswered, bea_older, cal_done}
    made = follow_ups[unanswered]
    assert (made.kind, made.status, made.talent_id, made.brand_id) == ("follow_up", "pending", ava, glossier)
    assert (made.subject, made.to_address, made.created_at) == (
        f"Re: pitch {ava}-{glossier}",
        "partnerships@brand.test",
        now,
    )
    assert isinstance(made.message, str)
    assert "Following up on my note of" in made.message
    assert "Ava (@ava)" in made.message
    assert made.message.endswith("--- original message ---\nHi team, a pitch.")

    # When it runs again six hours later: no second follow-up (Bea's newer pitch still waits)
    rerun = await run("outreach-follow-ups", redis, sessions, now + timedelta(hours=6))
    assert rerun == {"count": 0, "replied": 0, "closed": 0}
    again = [a.follow_up_of_id for a in (await actions(sessions)).values() if a.follow_up_of_id]
    assert sorted(again) == sorted(follow_ups)
    assert bea_newer not in again
    # And the database itself refuses a second follow-up of one pitch
    with pytest.raises(IntegrityError, match="uq_outreach_actions_one_follow_up"):
        await add(
            sessions,
            OutreachAction(
                talent_id=ava, brand_id=glossier, kind="follow_up", follow_up_of_id=unanswered, status="sent"
            ),
        )


async def test_follow_ups_record_replies_first_and_never_chase_a_brand_that_answered(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession], now: datetime
) -> None:
    """Mail from the brand to the talent's manager after a pitch marks it replied: no follow-up for it."""
    (maya, dan), brands = await agency(sessions)
    glossier, gymshark, hellofresh, notion = brands.values()
    ava, bea = await add(sessions, talent("ava", maya, []), talent("bea", maya, []))
    maya_box, dan_box = await add(
        sessions,
        MailConnection(user_id=maya, address="maya@agency.test"),
        MailConnection(user_id=dan, address="dan@agency.test"),
    )
    day = timedelta(days=1)

    def sent(talent_id: int, brand_id: int, ago: timedelta) -> OutreachAction:
        return OutreachAction(
            talent_id=talent_id,
            brand_id=brand_id,
            status="sent",
            subject="Pitch",
            message="Hi",
            sent_at=now - ago,
        )

    def mail(user: int, box: int, sender: str, ago: timedelta) -> InboxMessage:
        return InboxMessage(
            user_id=user,
            connection_id=box,
            provider_message_id=f"{box}-{sender}",
            sender=sender,
            subject="Re: Pitch",
            body="Thanks",
            received_at=now - ago,
        )

    answered, before, elsewhere, also_answered, chased = await add(
        sessions,
        sent(ava, glossier, 6 * day),
        sent(ava, gymshark, 6 * day),
        sent(ava, hellofresh, 6 * day),
        sent(bea, glossier, 7 * day),
        sent(bea, notion, 10 * day),
    )
    (pending_follow_up,) = await add(
        sessions,
        OutreachAction(
            talent_id=bea,
            brand_id=notion,
            kind="follow_up",
            follow_up_of_id=chased,
            subject="Re",
            message="Hi",
        ),
    )
    await add(
        sessions,
        # Glossier, from a subdomain, 3 days ago: answers Ava's and Bea's pitches (both before it)
        mail(maya, maya_box, "Rachel <Rachel@Mail.Glossier.com>", 3 * day),
        # Gymshark wrote 7 days ago, before Ava's pitch went out: not an answer to it
        mail(maya, maya_box, "partnerships@gymshark.com", 7 * day),
        # HelloFresh answered, but to Dan, who does not manage Ava
        mail(dan, dan_box, "partnerships@hellofresh.com", 2 * day),
        # A look-alike of Notion's domain; then Notion's contact address, yesterday
        mail(maya, maya_box, "offers@notnotion.so", 2 * day),
        mail(maya, maya_box, "Notion <partnerships@notion.so>", day),
    )

    result = await run("outreach-follow-ups", redis, sessions, now)

    # Then Ava's and Bea's Glossier pitches and Bea's Notion pitch are replied (at the first
    # answer), Bea's pending Notion follow-up is closed, and only Gymshark and HelloFresh are chased
    assert result == {"count": 2, "replied": 3, "closed": 1}
    rows = await actions(sessions)
    assert {a: (rows[a].status, rows[a].replied_at) for a in (answered, also_answered, chased)} == {
        answered: ("replied", now - 3 * day),
        also_answered: ("replied", now - 3 * day),
        chased: ("replied", now - day),
    }
    assert (rows[pending_follow_up].status, rows[pending_follow_up].error) == (
        "failed",
        f"follow-up not needed: brand {notion} ('Notion') replied to outreach action {chased} at "
        f"{(now - day).isoformat()}",
    )
    made = sorted(
        r.follow_up_of_id or 0 for r in rows.values() if r.kind == "follow_up" and r.status == "pending"
    )
    assert made == sorted([before, elsewhere])


# --- brand-crm-daily and strategy-predictions ---------------------------------------------------


async def activity(
    sessions: async_sessionmaker[AsyncSession], now: datetime
) -> tuple[list[int], dict[str, int]]:
    """Maya's and Dan's dealings with the brands, in deals, pitches and mail, old and new."""
    (maya, dan), brands = await agency(sessions)
    ava, bea = await add(sessions, talent("ava", maya, []), talent("bea", dan, []))
    maya_box, dan_box = await add(
        sessions,
        MailConnection(user_id=maya, address="maya@agency.test"),
        MailConnection(user_id=dan, address="dan@agency.test"),
    )

    def mail(user: int, box: int, sender: str, ago: timedelta) -> InboxMessage:
        return InboxMessage(
            user_id=user,
            connection_id=box,
            provider_message_id=f"{box}-{sender}-{ago}",
            sender=sender,
            subject="Hello",
            body="Hello",
            received_at=now - ago,
        )

    day = timedelta(days=1)
    _fresh, _old, forwarded = await add(
        sessions,
        mail(maya, maya_box, "Rachel Kim <Rachel@HelloFresh.com>", day),
        mail(maya, maya_box, "hello@notion.so", 30 * day),  # before the mail lookback
        mail(dan, dan_box, "Tom <tom.gymshark@gmail.com>", 2 * day),  # a brand's person on a freemail
    )
    await add(
        sessions,
        Deal(
            talent_id=ava,
            brand_id=brands["Glossier"],
            stage="contracted",
            updated_at=now - timedelta(hours=1),
        ),
        Deal(talent_id=ava, brand_id=brands["Gymshark"], stage="lost", updated_at=now - 700 * day),
        # An offer in Dan's mailbox, no talent named yet: the deal is his
        Deal(brand_id=brands["Gymshark"], source_message_id=forwarded, updated_at=now - 2 * day),
        OutreachAction(talent_id=bea, brand_id=brands["Notion"], created_at=now - 10 * day),
        BrandCrmRecord(user_id=maya, brand_id=brands["Glossier"], refreshed_at=now - day),
        BrandCrmRecord(user_id=maya, brand_id=brands["Gymshark"], refreshed_at=now - day),
    )
    return [maya, dan], brands


async def test_brand_crm_daily_refreshes_pairs_with_activity_since_their_refresh(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession], now: datetime
) -> None:
    """One brand-crm per (manager, brand) with a deal, pitch or brand mail newer than its CRM record."""
    (maya, dan), brands = await activity(sessions, now)

    result = await run("brand-crm-daily", redis, sessions, now)

    # Glossier: a deal moved after the refresh; HelloFresh: mail from its domain; Gymshark for Dan:
    # an offer in his mailbox, no talent yet; Notion for Dan: a pitch. Not Maya's Gymshark (refreshed
    # after its last deal) nor her Notion (mail from before the lookback).
    pairs = [
        (maya, brands["Glossier"]),
        (maya, brands["HelloFresh"]),
        (dan, brands["Gymshark"]),
        (dan, brands["Notion"]),
    ]
    assert result == {"count": 4, "pairs": 4}
    tick = f"brand-crm-daily:{tick_ms(now)}"
    assert await queued(redis) == {
        f"brand-crm:{u}:{b}:{tick}": ("brand-crm", {"userId": u, "brandId": b}) for u, b in pairs
    }
    again = await outreach.brand_crm_daily(ctx_for("brand-crm-daily", redis, sessions, now))
    assert again == {"count": 0, "pairs": 4}

    # When brand-crm has refreshed the records, a minute after the tick, Then the next day's run
    # finds nothing new
    async with sessions.begin() as session:
        await session.execute(
            text(
                "INSERT INTO brand_crm_records (user_id, brand_id, refreshed_at) "
                "SELECT u, b, :at FROM unnest(CAST(:users AS int[]), CAST(:brands AS int[])) AS p(u, b) "
                "ON CONFLICT (user_id, brand_id) DO UPDATE SET refreshed_at = :at"
            ),
            {
                "users": [u for u, _ in pairs],
                "brands": [b for _, b in pairs],
                "at": now + timedelta(minutes=1),
            },
        )
    assert await run("brand-crm-daily", redis, sessions, now + timedelta(days=1)) == {
        "count": 0,
        "pairs": 0,
    }


async def test_brand_crm_daily_and_brand_crm_know_a_brands_mail_by_one_rule(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession], now: datetime
) -> None:
    """Mail from a brand's subdomain or contact address is the brand's, for the cron and brand-crm alike."""
    # Given Glossier's contact is a person's freemail address, and four mails in Maya's inbox
    (maya, _), brands = await agency(sessions)
    async with sessions.begin() as session:
        await session.execute(
            update(Brand)
            .where(col(Brand.id) == brands["Glossier"])
            .values(contact_email="Glossier.Collabs@gmail.com")
        )
    (box,) = await add(sessions, MailConnection(user_id=maya, address="maya@agency.test"))
    senders = [
        "Rachel <rachel@mail.hellofresh.com>",  # HelloFresh's, from a subdomain
        "glossier.collabs@gmail.com",  # Glossier's, its contact address
        "someone@gmail.com",  # nobody's
        "offers@notnotion.so",  # a look-alike of Notion's domain: not Notion's
    ]
    await add(
        sessions,
        *(
            InboxMessage(
                user_id=maya,
                connection_id=box,
                provider_message_id=f"m{n}",
                sender=sender,
                subject="Hello",
                body="Hello",
                received_at=now - timedelta(hours=n + 1),
            )
            for n, sender in enumerate(senders)
        ),
    )

    # When brand-crm-daily runs, Then it refreshes Maya's HelloFresh and Glossier
    assert await run("brand-crm-daily", redis, sessions, now) == {"count": 2, "pairs": 2}
    assert {(job[1]["userId"], job[1]["brandId"]) for job in (await queued(redis)).values()} == {
        (maya, brands["HelloFresh"]),
        (maya, brands["Glossier"]),
    }
    # And brand-crm counts the same mail as each brand's
    ctx = ctx_for("brand-crm", redis, sessions, now)
    replies = {}
    for name, brand in brands.items():
        await brand_crm.handle(ctx, BrandCrm(user_id=maya, brand_id=brand))
        async with sessions() as session:
            replies[name] = await session.scalar(
                select(col(BrandCrmRecord.replies)).where(
                    col(BrandCrmRecord.user_id) == maya, col(BrandCrmRecord.brand_id) == brand
                )
            )
    assert replies == {"Glossier": 1, "Gymshark": 0, "HelloFresh": 1, "Notion": 0}


async def test_the_brand_mail_rule_reads_comments_and_root_dots_and_ignores_spam(
    sessions: async_sessionmaker[AsyncSession], now: datetime
) -> None:
    """``x@brand.com (Name)`` and ``x@brand.com.`` are the brand's; mail triaged as spam is no one's."""
    # Given mail in Maya's inbox: sender forms a From header may take, and spam from a brand's domain
    (maya, _), brands = await agency(sessions)
    (box,) = await add(sessions, MailConnection(user_id=maya, address="maya@agency.test"))
    mail: list[tuple[str, str | None, str | None]] = [
        ("rachel@hellofresh.com (Rachel Green)", None, "HelloFresh"),  # a trailing comment
        ("rachel@mail.hellofresh.com.", "other", "HelloFresh"),  # the DNS root's trailing dot
        ("Lena <LENA@Notion.so.>", "deal_offer", "Notion"),  # both, in angle brackets, any case
        ("partnerships@gymshark.com", "spam", None),  # triaged as spam: not Gymshark's
        ("partnerships@gymshark.com", "other", "Gymshark"),  # the same sender, not spam
        ("news@glossier.com", None, "Glossier"),  # the limit: a brand's newsletter is its mail too
        ("someone@gmail.com (glossier.com)", None, None),  # a comment is not an address
    ]
    ids = await add(
        sessions,
        *(
            InboxMessage(
                user_id=maya,
                connection_id=box,
                provider_message_id=f"m{n}",
                sender=sender,
                subject="Hello",
                body="Hello",
                received_at=now - timedelta(hours=n + 1),
                category=category,
            )
            for n, (sender, category, _) in enumerate(mail)
        ),
    )

    # When the rule matches them against the brands
    async with sessions() as session:
        rows = (
            await session.execute(text(f"SELECT message_id, brand_id FROM ({brand_mail_sql()}) AS bm"))
        ).all()

    # Then each message is the brand's it names, or no one's
    names = {brand: name for name, brand in brands.items()}
    found = {int(row.message_id): names[int(row.brand_id)] for row in rows}
    assert found == {i: brand for i, (_, _, brand) in zip(ids, mail, strict=True) if brand is not None}


async def test_strategy_predictions_queue_one_per_manager_and_brand_worked_with(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession], now: datetime
) -> None:
    """One strategy-engine per (manager, brand) with a deal or a pitch this year, by brand name."""
    (maya, dan), brands = await activity(sessions, now)
    (blank,) = await add(sessions, Brand(name="  ", domain="blank.test"))
    (somebody,) = await add(sessions, talent("cy", maya, []))
    await add(sessions, Deal(talent_id=somebody, brand_id=blank))  # a nameless brand is left out

    result = await run("strategy-predictions", redis, sessions, now)

    # Mail alone (HelloFresh) is not working with a brand; Maya's lost Gymshark deal is two years old.
    expected = [(maya, "Glossier"), (dan, "Gymshark"), (dan, "Notion")]
    assert result == {"count": 3, "pairs": 3}
    tick = f"strategy-predictions:{tick_ms(now)}"
    assert await queued(redis) == {
        f"strategy-engine:{u}:{brands[name]}:{tick}": ("strategy-engine", {"userId": u, "brandName": name})
        for u, name in expected
    }
    again = await outreach.strategy_predictions(ctx_for("strategy-predictions", redis, sessions, now))
    assert again == {"count": 0, "pairs": 3}


# --- set-based: the statements do not grow with the rows ----------------------------------------

_SCALE_ONCE = [
    "INSERT INTO users (name, email) SELECT 'Manager ' || u, 'm' || u || '@agency.test' "
    "FROM generate_series(1, 2) AS u",
    "INSERT INTO mail_connections (user_id, address) SELECT u, 'm' || u || '@agency.test' "
    "FROM generate_series(1, 2) AS u",
    "INSERT INTO brands (name, domain, category, contact_email) "
    "SELECT 'Brand ' || b, 'brand' || b || '.test', (ARRAY['beauty', 'fitness', 'food', 'tech'])[b % 4 + 1], "
    "'hi@brand' || b || '.test' FROM generate_series(1, 20) AS b",
]
# Talents :first..:last of two managers, each with a stale pitch, a pitch sent six days ago, a
# fresh pitch, a deal and an email from the brand of the sent pitch: received today (a reply to
# it and to the pitches of its manager and brand: the talents i = 0, 10 mod 20) for one talent
# in ten, eight days ago (before the pitch) for the rest; brands are numbered from the talent's number.
_NUMBERS = "generate_series(CAST(:first AS int), CAST(:last AS int)) AS i"
_NEW_TALENTS = f"{_NUMBERS} JOIN talents AS t ON t.handle = 'talent' || i"
_SCALE_TALENTS = [
    "INSERT INTO talents (name, handle, manager_id, niches, audience_size) "
    "SELECT 'Talent ' || i, 'talent' || i, i % 2 + 1, "
    "jsonb_build_array((ARRAY['beauty', 'fitness', 'food', 'tech'])[i % 4 + 1]), i * 10 "
    f"FROM {_NUMBERS}",
    "INSERT INTO outreach_actions (talent_id, brand_id, status, created_at, sent_at) "
    "SELECT t.id, (i + s.shift) % 20 + 1, s.status, CAST(:now AS timestamptz) - s.age, "
    "CASE WHEN s.status = 'sent' THEN CAST(:now AS timestamptz) - interval '6 days' END "
    f"FROM {_NEW_TALENTS} CROSS JOIN (VALUES (0, 'pending', interval '20 days'), "
    "(1, 'sent', interval '7 days'), (2, 'pending', interval '1 day')) AS s(shift, status, age)",
    "INSERT INTO deals (talent_id, brand_id, stage, fee_minor, currency, updated_at) "
    "SELECT t.id, (i + 3) % 20 + 1, 'negotiating', 100000, 'USD', "
    "CAST(:now AS timestamptz) - interval '1 day' "
    f"FROM {_NEW_TALENTS}",
    "INSERT INTO inbox_messages "
    "(user_id, connection_id, provider_message_id, sender, subject, body, received_at) "
    "SELECT t.manager_id, t.manager_id, 'm' || i, 'Team <team@brand' || ((i + 1) % 20 + 1) || '.test>', "
    "'Hello', 'Hello', "
    "CAST(:now AS timestamptz) - CASE WHEN i % 10 = 0 THEN interval '0' ELSE interval '8 days' END "
    f"FROM {_NEW_TALENTS}",
]
#: Rotation and follow-ups first: the plan then schedules what they made.
_SCALE_ORDER = [
    "outreach-rotation",
    "outreach-follow-ups",
    "daily-outreach-plan",
    "weekly-outreach",
    "brand-crm-daily",
    "strategy-predictions",
]


async def scale_talents(
    sessions: async_sessionmaker[AsyncSession], first: int, last: int, at: datetime
) -> None:
    """Talents ``first``..``last`` and their rows, timed around the tick ``at``."""
    talents, *their_rows = _SCALE_TALENTS
    params = {"first": first, "last": last, "now": at}
    async with sessions.begin() as session:
        # ANALYZE as autovacuum would after a bulk load: the planner needs row counts, or it takes
        # 10,000 rows for a handful and picks nested loops that no real table would get.
        await session.execute(text(talents), params)
        await session.execute(text("ANALYZE talents"))
        for statement in their_rows:
            await session.execute(text(statement), params)
        await session.execute(text("ANALYZE outreach_actions, deals, inbox_messages"))


async def test_each_cron_sends_as_many_statements_for_10000_talents_as_for_10(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession], sql_statements: list[str]
) -> None:
    """Statements per run are the same for 10 talents as for 10,000, and the runs do real work at both."""
    async with sessions.begin() as session:
        for statement in _SCALE_ONCE:
            await session.execute(text(statement))

    replied: dict[str, int] = {}

    async def statements_per_cron(tick: datetime) -> dict[str, tuple[int, int]]:
        """Cron -> (statements sent, the run's count)."""
        seen: dict[str, tuple[int, int]] = {}
        for name in _SCALE_ORDER:
            before = len(sql_statements)
            result = await run(name, redis, sessions, tick)
            seen[name] = (len(sql_statements) - before, result["count"])
            if name == "outreach-follow-ups":
                replied["large" if "small" in replied else "small"] = result["replied"]
        return seen

    await scale_talents(sessions, 1, 10, TICK)
    small = await statements_per_cron(TICK)
    # The rows of both sizes are timed around the first tick (so the large size's old mail, eight
    # days before, predates the small size's pitches too); the second runs a week on, as the
    # weekly-outreach job ids need a new tick
    await scale_talents(sessions, 11, 10_000, TICK)
    large = await statements_per_cron(TICK + WEEK)

    # Claiming the tick, the cron's statements (two for follow-ups: replies, then follow-ups),
    # recording the run: at both sizes
    expected = {**dict.fromkeys(_SCALE_ORDER, 3), "outreach-follow-ups": 4}
    assert {name: n for name, (n, _) in small.items()} == expected
    assert {name: n for name, (n, _) in large.items()} == expected
    counts = {name: count for name, (_, count) in large.items()}
    assert counts["weekly-outreach"] == 10_000
    # Of the 9,990 new sent pitches, the 999 of talents 20, 30, ..., 10,000 were answered
    assert (replied["small"], replied["large"]) == (1, 999)
    assert counts["outreach-follow-ups"] == 9_990 - 999
    assert counts["outreach-rotation"] == 9_990
    assert counts["daily-outreach-plan"] > 20_000
    assert counts["brand-crm-daily"] > 0
    assert counts["strategy-predictions"] > 0
    assert all(count > 0 for _, count in small.values()), small
    # Every job the fan-outs counted is waiting in Redis
    fan_outs = ("daily-outreach-plan", "weekly-outreach", "brand-crm-daily", "strategy-predictions")
    assert await redis.zcard(DEFAULT_ARQ_QUEUE) == sum(small[n][1] + large[n][1] for n in fan_outs)
