"""inbox -> inbox-triage -> deal-extraction on the sample agency, with a real worker, Redis and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from arq.connections import ArqRedis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from talentq.db.models import FailedJob
from talentq.db.tables import AgentTask, Brand, Deal, InboxMessage, Talent
from talentq.dev.sample_agency import seed
from talentq.processors import deal_extraction, inbox, inbox_triage
from talentq.queues import CATALOGUE
from talentq.registry import Binding

from ..conftest import MakeWorker

pytestmark = pytest.mark.integration

PIPELINE = {name: CATALOGUE[name] for name in ("inbox", "inbox-triage", "deal-extraction")}
BINDINGS: list[Binding] = [
    ("inbox", inbox.handle),
    ("inbox-triage", inbox_triage.handle),
    ("deal-extraction", deal_extraction.handle),
]


async def message_id(sessions: async_sessionmaker[AsyncSession], provider_id: str) -> int:
    async with sessions() as session:
        found = await session.scalar(
            select(col(InboxMessage.id)).where(col(InboxMessage.provider_message_id) == provider_id)
        )
    assert found is not None
    return int(found)


async def rows(sessions: async_sessionmaker[AsyncSession], model: Any) -> list[Any]:
    async with sessions() as session:
        return list((await session.execute(select(model))).scalars())


async def test_an_offer_becomes_a_draft_deal_and_a_chat_does_not(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Routing Airbnb's offer and Rapha's coffee note: both triaged, one new draft deal."""
    # Given the sample agency's inbox (its first two offers already have their deals)
    await seed(sessions)
    offer, chat = await message_id(sessions, "sample-0004"), await message_id(sessions, "sample-0006")

    # When both are routed, twice (a retried producer), and the worker drains the queue
    for _ in range(2):
        await redis.enqueue_job("inbox", {"messageId": offer})
        await redis.enqueue_job("inbox", {"messageId": chat})
        await make_worker(BINDINGS, catalogue=PIPELINE).async_run()

    # Then each message has one triage task, done, and its category stored
    tasks = {t.message_id: t for t in await rows(sessions, AgentTask)}
    assert set(tasks) == {offer, chat}
    assert {t.status for t in tasks.values()} == {"done"}
    messages = {m.id: m for m in await rows(sessions, InboxMessage) if m.id in (offer, chat)}
    assert messages[offer].category == "deal_offer"
    assert messages[chat].category == "scheduling"
    assert messages[offer].routed_at is not None
    # And the offer is one draft deal with its terms, brand and talent
    async with sessions() as session:
        (deal,) = (await session.execute(select(Deal).where(col(Deal.source_message_id) == offer))).scalars()
        brand = await session.get(Brand, deal.brand_id)
        talent = await session.get(Talent, deal.talent_id)
    assert (deal.stage, deal.fee_minor, deal.currency) == ("draft", 400_000, "EUR")
    assert (deal.fee_text, deal.attention) == (None, None)  # priced: nothing for a person to set
    assert deal.starts_at is not None
    assert deal.ends_at is not None
    assert (deal.starts_at.month, deal.starts_at.day, deal.ends_at.day) == (
        7,
        1,
        31,
    )  # "Dates flexible in July"
    assert deal.deliverables == [
        {"platform": "youtube_video", "count": 1},
        {"platform": "instagram_story", "count": 4},
    ]
    assert brand is not None
    assert brand.name == "Airbnb"
    assert talent is not None
    assert talent.handle == "zoewanders"
    assert await rows(sessions, FailedJob) == []


async def test_unknown_ids_are_permanent_failures_naming_them(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """A message or task that does not exist: one try, a dead letter that names the id."""
    await redis.enqueue_job("inbox", {"messageId": 424242})
    await redis.enqueue_job("deal-extraction", {"messageId": 424243})
    await redis.enqueue_job("inbox-triage", {"taskId": 424244})

    await make_worker(BINDINGS, catalogue=PIPELINE).async_run()

    messages = sorted(letter.message for letter in await rows(sessions, FailedJob))
    assert messages == [
        "agent task 424244 not found",
        "inbox message 424242 not found",
        "inbox message 424243 not found",
    ]


async def test_a_task_of_another_kind_or_without_a_message_is_refused_naming_it(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Another queue's task is left as it is; a triage task with no message fails for good, saying why."""
    async with sessions.begin() as session:
        other = AgentTask(kind="follow_up", input={"note": "ping the brand"})
        orphan = AgentTask(kind="inbox_triage", input={})
        session.add_all([other, orphan])
    await redis.enqueue_job("inbox-triage", {"taskId": other.id}, _job_id="other")
    await redis.enqueue_job("inbox-triage", {"taskId": orphan.id}, _job_id="orphan")

    await make_worker(BINDINGS, catalogue=PIPELINE).async_run()

    letters = {letter.job_id: (letter.message, letter.tries) for letter in await rows(sessions, FailedJob)}
    assert letters == {
        "other": (
            f"agent task {other.id} is of kind 'follow_up', not 'inbox_triage': "
            "the ai-agent queue runs it, not 'inbox-triage'",
            1,
        ),
        "orphan": (f"agent task {orphan.id} (kind inbox_triage) has no message to triage", 1),
    }
    tasks = {t.id: t for t in await rows(sessions, AgentTask)}
    untouched = tasks[other.id]
    assert (untouched.status, untouched.attempts, untouched.last_error) == ("queued", 0, None)
    # Failed for good: its max_attempts lowered to the attempt it spent, so ai-agent-retry leaves it
    failed = tasks[orphan.id]
    assert (failed.status, failed.attempts, failed.max_attempts) == ("failed", 1, 1)
    assert failed.last_error == (
        f"inbox-triage: PermanentJobError: agent task {orphan.id} (kind inbox_triage) "
        "has no message to triage"
    )


async def test_an_empty_message_is_routed_and_triaged_as_other(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """No subject, no body: a correct result (other, no deal), not a crash or a silent skip."""
    await seed(sessions)
    async with sessions.begin() as session:
        template = await session.get(InboxMessage, await message_id(sessions, "sample-0001"))
        assert template is not None
        empty = InboxMessage(
            user_id=template.user_id,
            connection_id=template.connection_id,
            provider_message_id="empty-1",
            sender="someone@example.com",
            subject="",
            body="",
            received_at=template.received_at,
        )
        session.add(empty)
    await redis.enqueue_job("inbox", {"messageId": empty.id})

    await make_worker(BINDINGS, catalogue=PIPELINE).async_run()

    async with sessions() as session:
        stored = await session.get(InboxMessage, empty.id)
        deals = await session.scalar(
            select(func.count()).select_from(Deal).where(col(Deal.source_message_id) == empty.id)
        )
    assert stored is not None
    assert (stored.category, deals) == ("other", 0)
    assert stored.routed_at is not None
