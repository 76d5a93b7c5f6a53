"""The inbox pipeline's tracked defects, each proven fixed with a real worker, Redis and PostgreSQL.

- (3) an inbox_triage task follows the agent-task lifecycle: running while it classifies, done,
  or failed once its job's tries are spent, and then ai-agent-retry runs it again;
- (4) no database connection is held while the AI provider works, the classification is made
  once per message and handed on, and what was classified is checked again before it is stored;
- (8) a fee that names no currency is kept as written and flagged, never stored as USD.

The AI provider is the rules engine, or the OpenAI-compatible one in front of a fake
chat-completions endpoint (httpx's MockTransport) where a test needs an answer the rules never
give (an outage, a fee without a currency).
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from arq.connections import ArqRedis
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from talentq.client import Producer
from talentq.cron import run_cron_job
from talentq.crons.agents import RETRY_BACKOFF_BASE
from talentq.db.models import FailedJob
from talentq.db.tables import AgentTask, Brand, Deal, InboxMessage
from talentq.dev.sample_agency import seed
from talentq.domain.mail import Classification, DealTerms, Fee
from talentq.domain.time import tick_ms
from talentq.integrations.ai.rules import RulesProvider
from talentq.processors import deal_extraction, inbox, inbox_triage
from talentq.processors.deal_extraction import StoredFee
from talentq.queues import CATALOGUE, RetryPolicy
from talentq.registry import Binding
from talentq.settings import Settings
from talentq.worker.loop import Worker

from ..conftest import MakeWorker, service_settings, shipped_cron

pytestmark = pytest.mark.integration

#: The pipeline's queues with fast retries: three tries, milliseconds apart.
PIPELINE = {
    name: dataclasses.replace(CATALOGUE[name], retry=RetryPolicy(3, 0.05, 0.2))
    for name in ("inbox", "inbox-triage", "deal-extraction")
}
BINDINGS: list[Binding] = [
    ("inbox", inbox.handle),
    ("inbox-triage", inbox_triage.handle),
    ("deal-extraction", deal_extraction.handle),
]
AI_AGENT_RETRY = shipped_cron("ai-agent-retry")


def openai_settings(**overrides: Any) -> Settings:
    return service_settings(
        ai_provider="openai",
        ai_base_url="https://ai.test/v1",
        ai_api_key="key-1",
        ai_model="m-1",
        **overrides,
    )


class FakeModel:
    """A chat-completions endpoint answering a classification and deal terms, or down (503)."""

    def __init__(self, terms: dict[str, Any], category: str = "deal_offer") -> None:
        self.terms, self.category = terms, category
        self.down = False
        self.asked: list[str] = []  # "classify" or "extract", one per request

    def __call__(self, request: httpx.Request) -> httpx.Response:
        system = json.loads(request.content)["messages"][0]["content"]
        asked = "classify" if system.startswith("You classify") else "extract"
        self.asked.append(asked)
        if self.down:
            return httpx.Response(503)
        answer = (
            {"category": self.category, "confidence": 0.9, "reasons": ["the fake model says so"]}
            if asked == "classify"
            else self.terms
        )
        return httpx.Response(200, json={"choices": [{"message": {"content": json.dumps(answer)}}]})


async def message_id(sessions: async_sessionmaker[AsyncSession], provider_id: str) -> int:
    async with sessions() as session:
        found = await session.scalar(
            select(col(InboxMessage.id)).where(col(InboxMessage.provider_message_id) == provider_id)
        )
    assert found is not None
    return int(found)


async def new_message(sessions: async_sessionmaker[AsyncSession], subject: str, body: str) -> int:
    """A message in the inbox of the manager of the seed's first offer (Ava's manager), not yet routed."""
    async with sessions.begin() as session:
        template = await session.get(InboxMessage, await message_id(sessions, "sample-0001"))
        assert template is not None
        message = InboxMessage(
            user_id=template.user_id,
            connection_id=template.connection_id,
            provider_message_id=f"defect-{subject}",
            sender="partners@lumen-audio.com",
            subject=subject,
            body=body,
            received_at=template.received_at,
        )
        session.add(message)
        await session.flush()
        assert message.id is not None
        return message.id


async def triage_of(sessions: async_sessionmaker[AsyncSession], message: int) -> AgentTask:
    async with sessions() as session:
        task = await session.scalar(
            select(AgentTask).where(
                col(AgentTask.kind) == "inbox_triage", col(AgentTask.message_id) == message
            )
        )
    assert task is not None, f"no inbox_triage task for inbox message {message}"
    return task


async def get(sessions: async_sessionmaker[AsyncSession], model: Any, row_id: int) -> Any:
    async with sessions() as session:
        row = await session.get(model, row_id)
    assert row is not None, f"{model.__name__} {row_id} not found"
    return row


async def deal_of(sessions: async_sessionmaker[AsyncSession], message: int) -> Deal | None:
    async with sessions() as session:
        found: Deal | None = await session.scalar(select(Deal).where(col(Deal.source_message_id) == message))
    return found


async def dead_letters(sessions: async_sessionmaker[AsyncSession]) -> dict[str, tuple[str, int]]:
    async with sessions() as session:
        return {f.job_id: (f.message, f.tries) for f in (await session.execute(select(FailedJob))).scalars()}


# --- (3) triage follows the agent-task lifecycle -------------------------------------------------


async def test_a_triage_that_keeps_failing_is_failed_then_ai_agent_retry_runs_it_to_done(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """The provider is down for every try: the task is failed with its error; the retry cron re-drives it."""
    # Given the sample agency, Airbnb's offer (no deal yet), and an AI provider that is down
    await seed(sessions)
    offer = await message_id(sessions, "sample-0004")
    model = FakeModel({"fee": {"kind": "exact", "minor": 400_000, "currency": "EUR"}, "reasons": []})
    model.down = True
    # (with no fallback to the rules: this is the lifecycle of a triage that fails)
    settings_ = openai_settings(ai_fallback=False)
    async with httpx.AsyncClient(transport=httpx.MockTransport(model)) as http:
        # When the offer is routed and the worker drains every try
        await redis.enqueue_job("inbox", {"messageId": offer})
        await make_worker(BINDINGS, catalogue=PIPELINE, settings_=settings_, ctx={"http": http}).async_run()

        # Then its triage task failed on the last try, one attempt spent, saying why
        task = await triage_of(sessions, offer)
        assert task.id is not None
        assert (task.status, task.attempts, task.steps) == ("failed", 1, None)
        assert task.last_error == "inbox-triage: AIUnavailable: AI provider answered 503"
        assert task.finished_at is not None
        assert model.asked == ["classify"] * 3  # one classification per try, nothing else asked
        assert await dead_letters(sessions) == {f"inbox-triage:{task.id}": ("AI provider answered 503", 3)}
        message = await get(sessions, InboxMessage, offer)
        assert (message.category, message.triaged_at) == (None, None)
        assert await deal_of(sessions, offer) is None

        # When the provider is back and ai-agent-retry ticks once the task's backoff is over
        model.down = False
        tick = task.finished_at + RETRY_BACKOFF_BASE + timedelta(minutes=1)
        ctx = {
            "job_id": f"{AI_AGENT_RETRY.name}:{tick_ms(tick)}",
            "job_try": 1,
            "redis": redis,
            "sessions": sessions,
            "producer": Producer(redis),
        }
        retried = await run_cron_job(AI_AGENT_RETRY)(ctx)
        assert (retried["count"], retried["due"]) == (1, 1)
        await make_worker(BINDINGS, catalogue=PIPELINE, settings_=settings_, ctx={"http": http}).async_run()

    # Then the task is done on its second attempt, the message classified and its deal extracted
    task = await triage_of(sessions, offer)
    assert (task.status, task.attempts, task.steps_done) == ("done", 2, 1)
    assert task.steps == [
        {"category": "deal_offer", "confidence": 0.9, "reasons": ["the fake model says so"]}
    ]
    message = await get(sessions, InboxMessage, offer)
    assert message.category == "deal_offer"
    assert message.triaged_at is not None
    deal = await deal_of(sessions, offer)
    assert deal is not None
    assert (deal.fee_minor, deal.currency) == (400_000, "EUR")
    assert model.asked == ["classify"] * 4 + ["extract"]
    assert list(await dead_letters(sessions)) == [f"inbox-triage:{task.id}"]  # nothing new failed


async def test_a_triage_is_running_while_it_classifies_then_done(
    make_worker: MakeWorker,
    redis: ArqRedis,
    sessions: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While the provider works the task is running, one attempt spent; afterwards it is done."""
    await seed(sessions)
    chat = await message_id(sessions, "sample-0006")  # Rapha's coffee chat: no deal to extract
    seen: list[tuple[str, int, bool, bool]] = []

    class Observing(RulesProvider):
        async def classify_message(self, subject: str, body: str, *, sender: str = "") -> Classification:
            task = await triage_of(sessions, chat)
            seen.append((task.status, task.attempts, task.started_at is not None, task.finished_at is None))
            return await super().classify_message(subject, body, sender=sender)

    await redis.enqueue_job("inbox", {"messageId": chat})
    await make_worker(BINDINGS, catalogue=PIPELINE, ctx={"ai": Observing()}).async_run()

    assert seen == [("running", 1, True, True)]
    task = await triage_of(sessions, chat)
    assert (task.status, task.attempts, task.steps_done, task.last_error) == ("done", 1, 1, None)
    assert task.finished_at is not None
    assert task.started_at is not None
    assert task.finished_at >= task.started_at
    assert (await get(sessions, InboxMessage, chat)).category == "scheduling"
    assert await dead_letters(sessions) == {}


# --- (4) no transaction across AI calls; one classification per message --------------------------


async def test_each_message_is_classified_once_with_no_connection_held_while_the_ai_works(
    make_worker: MakeWorker,
    redis: ArqRedis,
    sessions: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """inbox -> inbox-triage -> deal-extraction: one classify per message, and 0 connections out during it."""
    # Given two offers and a chat, and a worker running one job at a time (so the connections its
    # pool has out while the provider works are that job's own)
    await seed(sessions)
    subjects = {}
    messages = []
    for provider_id in ("sample-0004", "sample-0005", "sample-0006"):
        found = await message_id(sessions, provider_id)
        messages.append(found)
        subjects[found] = (await get(sessions, InboxMessage, found)).subject
    worker = make_worker(BINDINGS, catalogue=PIPELINE, settings_=service_settings(worker_max_jobs=1))
    calls: list[tuple[str, str, int]] = []  # (what was asked, of which subject, connections held)

    def held(worker: Worker) -> int:
        checked_out: int = worker.ctx["engine"].sync_engine.pool.checkedout()
        return checked_out

    classify, extract = RulesProvider.classify_message, RulesProvider.extract_deal

    async def counted_classify(
        self: RulesProvider, subject: str, body: str, *, sender: str = ""
    ) -> Classification:
        calls.append(("classify", subject, held(worker)))
        return await classify(self, subject, body, sender=sender)

    async def counted_extract(
        self: RulesProvider, subject: str, body: str, *, sender: str = "", reference: date | None = None
    ) -> DealTerms:
        calls.append(("extract", subject, held(worker)))
        return await extract(self, subject, body, sender=sender, reference=reference)

    # On the class: whatever module builds a provider, and however, its calls are counted.
    monkeypatch.setattr(RulesProvider, "classify_message", counted_classify)
    monkeypatch.setattr(RulesProvider, "extract_deal", counted_extract)

    # When each is routed, then triaged once more under a new job id (a replay), and the worker drains
    for message in messages:
        await redis.enqueue_job("inbox", {"messageId": message})
    await worker.async_run()
    for message in messages:
        task = await triage_of(sessions, message)
        await redis.enqueue_job("inbox-triage", {"taskId": task.id}, _job_id=f"replay-{task.id}")
    await make_worker(BINDINGS, catalogue=PIPELINE).async_run()

    # Then each message was classified once, each offer's terms extracted once, with no connection out
    classified = Counter(subject for asked, subject, _ in calls if asked == "classify")
    assert classified == Counter(subjects.values())
    extracted = [subject for asked, subject, _ in calls if asked == "extract"]
    assert sorted(extracted) == sorted(subjects[m] for m in messages[:2])
    assert [connections for _, _, connections in calls] == [0] * len(calls)
    # And the one classification is what every step used: stored, and the offers became deals
    for message in messages:
        stored = await get(sessions, InboxMessage, message)
        task = await triage_of(sessions, message)
        assert task.steps is not None
        assert (task.status, task.steps[0]["category"]) == ("done", stored.category)
    assert [(await get(sessions, InboxMessage, m)).category for m in messages] == [
        "deal_offer",
        "deal_offer",
        "scheduling",
    ]
    assert [await deal_of(sessions, m) is not None for m in messages] == [True, True, False]
    assert await dead_letters(sessions) == {}


async def test_a_message_changed_while_it_is_classified_is_classified_again(
    make_worker: MakeWorker,
    redis: ArqRedis,
    sessions: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The text changes while the provider reads it: that verdict is not stored; the retry reads anew."""
    await seed(sessions)
    chat = await message_id(sessions, "sample-0006")
    offer_text = (
        "Rapha would like Liam to make 2 TikToks and 1 YouTube video for our autumn range. "
        "We're offering $4,000 for the package."
    )
    read: list[str] = []

    async def rewrite() -> None:
        async with sessions.begin() as session:
            await session.execute(
                update(InboxMessage).where(col(InboxMessage.id) == chat).values(body=offer_text)
            )

    during: list[Callable[[], Awaitable[None]]] = [rewrite]

    class Rewritten(RulesProvider):
        async def classify_message(self, subject: str, body: str, *, sender: str = "") -> Classification:
            read.append(body)
            verdict = await super().classify_message(subject, body, sender=sender)
            while during:  # the first classification only: the message changes under it
                await during.pop()()
            return verdict

    await redis.enqueue_job("inbox", {"messageId": chat})
    await make_worker(BINDINGS, catalogue=PIPELINE, ctx={"ai": Rewritten()}).async_run()

    assert len(read) == 2
    assert read[1] == offer_text
    message = await get(sessions, InboxMessage, chat)
    task = await triage_of(sessions, chat)
    assert (message.category, task.status, task.attempts) == ("deal_offer", "done", 1)
    assert task.last_error is not None
    assert f"inbox message {chat} of agent task {task.id} changed while it was classified" in task.last_error
    deal = await deal_of(sessions, chat)  # the offer it became was handed on and extracted
    assert deal is not None
    assert (deal.fee_minor, deal.currency) == (400_000, "USD")


# --- a brand named with a trade word is the brand already known --------------------------------


async def test_an_agency_naming_a_known_brand_with_a_trade_word_adds_no_twin(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """ "Harvest Foods", read from an agency's mail, is the "Harvest" the agency already knows."""
    # Given the sample agency, a brand "Harvest", and an agency's offer for its client "Harvest Foods"
    await seed(sessions)
    async with sessions.begin() as session:
        harvest = Brand(name="Harvest")
        session.add(harvest)
        await session.flush()
        harvest_id = harvest.id
    offer = await new_message(
        sessions,
        "Harvest Foods x Ava",
        "Hi,\nWe're writing on behalf of our client Harvest Foods: they would love Ava to make "
        "1 Instagram Reel for their granola. The fee is €2,000.\nBest, Jo at Lumen",
    )

    # When it goes through the pipeline
    await redis.enqueue_job("inbox", {"messageId": offer})
    await make_worker(BINDINGS, catalogue=PIPELINE).async_run()

    # Then its deal is Harvest's, and no second brand was made
    deal = await deal_of(sessions, offer)
    assert deal is not None
    assert deal.brand_id == harvest_id
    async with sessions() as session:
        names = [b.name for b in (await session.execute(select(Brand))).scalars()]
    assert [n for n in names if n.startswith("Harvest")] == ["Harvest"]
    assert await dead_letters(sessions) == {}


# --- (8) a fee with no currency is never guessed -------------------------------------------------


async def test_a_fee_without_a_currency_is_kept_as_written_and_flagged_not_stored_as_usd(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """The model reads 2.500 with no currency: the deal keeps '2.500' as text, unpriced, for the manager."""
    # Given the sample agency and an offer whose fee names no currency
    await seed(sessions)
    offer = await new_message(
        sessions,
        "Lumen x Ava: autumn recipes",
        "Hi! Lumen Audio would love Ava to make 2 TikToks with our kitchen speaker.\n"
        "Our fee for both is 2.500, paid on posting.\nBest, Jo at Lumen",
    )
    model = FakeModel(
        {
            "fee": {"kind": "unstated", "text": "2.500"},
            "brand": "Lumen Audio",
            "deliverables": [{"platform": "tiktok", "count": 2}],
            "reasons": ["fee 2.500, no currency named"],
        }
    )

    # When it goes through the pipeline with the model
    async with httpx.AsyncClient(transport=httpx.MockTransport(model)) as http:
        await redis.enqueue_job("inbox", {"messageId": offer})
        worker = make_worker(BINDINGS, catalogue=PIPELINE, settings_=openai_settings(), ctx={"http": http})
        await worker.async_run()

    # Then the draft deal has no fee, the amount as the brand wrote it, and why a person must look
    deal = await deal_of(sessions, offer)
    assert deal is not None
    assert (deal.stage, deal.fee_minor, deal.fee_text) == ("draft", None, "2.500")
    assert deal.attention == "fee '2.500' has no currency: set the deal's fee and currency"
    # The currency column is NOT NULL with a default: with no fee it says nothing, and was not set.
    assert deal.currency == "USD"
    assert deal.deliverables == [{"platform": "tiktok", "count": 2}]
    assert deal.talent_id is not None
    assert model.asked == ["classify", "extract"]
    assert await dead_letters(sessions) == {}


@pytest.mark.parametrize(
    ("fee", "stored"),
    [
        (Fee("exact", "USD", 350_000, text="$3,500"), StoredFee(350_000, "USD")),
        (Fee("exact", "JPY", 300_000, text="¥300,000"), StoredFee(300_000, "JPY")),
        (
            Fee("exact", "EURO", 250_000, text="2.500 EURO"),
            StoredFee(
                None,
                None,
                "2.500 EURO",
                "fee '2.500 EURO' names 'EURO', which is not an ISO 4217 currency: "
                "set the deal's fee and currency",
            ),
        ),
        (
            Fee("range", "EUR", min_minor=200_000, max_minor=300_000, text="zwischen 2.000 und 3.000 €"),
            StoredFee(
                None,
                "EUR",
                "zwischen 2.000 und 3.000 €",
                "the offer names a range, EUR 2,000.00 to EUR 3,000.00: agree the fee and set it",
            ),
        ),
        (Fee("none", why="gifted"), StoredFee(None, None, "no cash fee (gifted)")),
        (Fee("none", why="commission_only"), StoredFee(None, None, "no cash fee (commission only)")),
        (
            Fee("unstated", text="2.500"),
            StoredFee(None, None, "2.500", "fee '2.500' has no currency: set the deal's fee and currency"),
        ),
        (Fee("unstated"), StoredFee(None, None)),
    ],
)
def test_the_offered_fee_is_priced_only_when_one_amount_names_its_currency(
    fee: Fee, stored: StoredFee
) -> None:
    """What a deal stores of the fee an offer states: priced, or kept as written with what to do."""
    assert deal_extraction.stored_fee(fee) == stored


async def test_a_priced_offer_keeps_no_fee_text_or_attention(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """A fee with its currency is priced as read; nothing waits for a person; and the not-yet-triaged wait."""
    await seed(sessions)
    offer = await message_id(sessions, "sample-0005")  # Notion: "$3,500" for 2 TikToks and 1 short
    # A deal-extraction job for a message not triaged yet (as sent before triage classified it)
    await redis.enqueue_job("deal-extraction", {"messageId": offer}, _job_id="early")
    await make_worker(BINDINGS, catalogue=PIPELINE).async_run()
    assert await deal_of(sessions, offer) is None

    await redis.enqueue_job("inbox", {"messageId": offer})
    await make_worker(BINDINGS, catalogue=PIPELINE).async_run()

    deal = await deal_of(sessions, offer)
    assert deal is not None
    assert (deal.fee_minor, deal.currency, deal.fee_text, deal.attention) == (350_000, "USD", None, None)
    assert await dead_letters(sessions) == {}
