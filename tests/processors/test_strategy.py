"""strategy-engine, creator-fit and creator-bundle on the sample agency, through a real worker.

Real Redis and PostgreSQL; the rules provider (the default) answers.
"""

from __future__ import annotations

import ast
import asyncio
import calendar
import dataclasses
import inspect
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from arq.connections import ArqRedis
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from talentq.client import Producer
from talentq.db.models import FailedJob, pk, utcnow
from talentq.db.tables import (
    Brand,
    CreatorBundle,
    CreatorFitScore,
    Deal,
    StrategyPrediction,
    Talent,
    User,
)
from talentq.dev.sample_agency import MARKER_EMAIL, seed
from talentq.integrations.ai.prompts.outreach import BUNDLE_PROMPT, CREATOR_FIT_PROMPT, STRATEGY_PROMPT
from talentq.processors import ai_outreach, brand_crm, creator_bundle, creator_fit, outreach, strategy_engine
from talentq.queues import CATALOGUE, CreatorFit, QueueSpec, RetryPolicy, StrategyEngine
from talentq.queues import CreatorBundle as CreatorBundleRef
from talentq.registry import Binding

from ..conftest import MakeWorker, clients, service_settings
from ..test_jobs import result_of
from .test_outreach import answer, facts_of, open_transactions, openai_settings

pytestmark = pytest.mark.integration

FAST: dict[str, QueueSpec[Any]] = {
    name: dataclasses.replace(CATALOGUE[name], retry=RetryPolicy(3, 0.05, 0.2), timeout=20)
    for name in ("strategy-engine", "creator-fit", "creator-bundle")
}
BINDINGS: list[Binding] = [
    ("strategy-engine", strategy_engine.handle),
    ("creator-fit", creator_fit.handle),
    ("creator-bundle", creator_bundle.handle),
]


async def run(make_worker: MakeWorker) -> None:
    await make_worker(BINDINGS, catalogue=FAST, settings_=service_settings()).async_run()


async def rows(sessions: async_sessionmaker[AsyncSession], model: Any) -> list[Any]:
    async with sessions() as session:
        return list((await session.execute(select(model).order_by(model.id))).scalars())


async def dead_messages(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
    return sorted(letter.message for letter in await rows(sessions, FailedJob))


async def ids(sessions: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    """Every sample user (by email), talent (by handle) and brand (by name) id."""
    async with sessions() as session:
        found = {u.email: pk(u) for u in (await session.execute(select(User))).scalars()}
        found |= {t.handle: pk(t) for t in (await session.execute(select(Talent))).scalars()}
        found |= {b.name: pk(b) for b in (await session.execute(select(Brand))).scalars()}
    return found


def next_month(month: int) -> str:
    """How the rules name the next occurrence of ``month``: "June 2027"."""
    today = utcnow().date()
    return f"{calendar.month_name[month]} {today.year + (1 if month < today.month else 0)}"


# --- strategy-engine ----------------------------------------------------------------------------


async def test_a_known_brand_is_predicted_from_its_own_deals_in_one_currency(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """HelloFresh: two June EUR deals and one USD draft give a EUR median and June; a re-run replaces it."""
    # Given HelloFresh's USD draft deal from the sample, plus two EUR deals that started in June
    await seed(sessions)
    known = await ids(sessions)
    async with sessions.begin() as session:
        for fee, year in ((420_000, 2024), (300_000, 2025)):
            session.add(
                Deal(
                    talent_id=known["kofieats"],
                    brand_id=known["HelloFresh"],
                    stage="delivered",
                    fee_minor=fee,
                    currency="EUR",
                    starts_at=datetime(year, 6, 10, tzinfo=UTC),
                )
            )

    # When Maya asks for a prediction, then again spelling the name differently
    maya = known[MARKER_EMAIL]
    await redis.enqueue_job("strategy-engine", {"userId": maya, "brandName": "hellofresh"}, _job_id="p-1")
    await run(make_worker)
    await redis.enqueue_job("strategy-engine", {"userId": maya, "brandName": "  HELLOFRESH "}, _job_id="p-2")
    await run(make_worker)

    # Then there is one prediction, under the brand's own name and id: EUR 3,000 (the lower
    # middle of two EUR fees; the USD fee is not mixed in), food, next June, three deals' confidence
    (prediction,) = await rows(sessions, StrategyPrediction)
    assert (prediction.user_id, prediction.brand_id, prediction.brand_name) == (
        maya,
        known["HelloFresh"],
        "HelloFresh",
    )
    assert (prediction.predicted_spend_minor, prediction.currency) == (300_000, "EUR")
    assert (prediction.category, prediction.timing, prediction.confidence) == ("food", next_month(6), 0.8)
    assert prediction.reasons[0] == (
        "median of 2 EUR fee(s) in HelloFresh's own deals: EUR 3,000.00 "
        "(1 deal(s) in other currencies not mixed in)"
    )
    assert (await result_of(redis, "p-2")).result["predictionId"] == prediction.id
    assert await dead_messages(sessions) == []


async def test_an_unknown_brand_is_predicted_with_low_confidence(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """A brand the agency never met: the agency's typical USD deal at 0.3, or the stated default at 0.1."""
    await seed(sessions)
    maya = (await ids(sessions))[MARKER_EMAIL]
    await redis.enqueue_job("strategy-engine", {"userId": maya, "brandName": "Acme Rockets"})
    await run(make_worker)

    (acme,) = await rows(sessions, StrategyPrediction)
    # USD is the sample's most frequent currency: 3,000 / 5,000 / 8,000 / 12,000 -> 5,000
    assert (acme.brand_id, acme.brand_name, acme.category) == (None, "Acme Rockets", None)
    assert (acme.predicted_spend_minor, acme.currency, acme.confidence) == (500_000, "USD", 0.3)
    assert "the agency's deals (category unknown)" in acme.reasons[0]

    # And with no deals anywhere, the default
    async with sessions.begin() as session:
        await session.execute(text("TRUNCATE deals CASCADE"))
    await redis.enqueue_job("strategy-engine", {"userId": maya, "brandName": "acme rockets"})
    await run(make_worker)
    (default,) = await rows(sessions, StrategyPrediction)
    assert (default.predicted_spend_minor, default.currency, default.confidence) == (300_000, "USD", 0.1)
    assert (default.timing, default.reasons[0]) == (None, "no deals to learn from: the default USD 3,000.00")


async def test_bad_strategy_requests_fail_permanently_naming_the_field(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """A blank brand name, a missing userId, an unknown user: dead letters naming each, no prediction."""
    await seed(sessions)
    maya = (await ids(sessions))[MARKER_EMAIL]
    await redis.enqueue_job("strategy-engine", {"userId": maya, "brandName": "   "})
    await redis.enqueue_job("strategy-engine", {"brandName": "Glossier"})
    await redis.enqueue_job("strategy-engine", {"userId": 4242, "brandName": "Glossier"})

    await run(make_worker)

    assert await dead_messages(sessions) == [
        "invalid payload for queue 'strategy-engine': brandName: String should have at least 1 character",
        "invalid payload for queue 'strategy-engine': userId: Field required",
        "user 4242 not found",
    ]
    assert await rows(sessions, StrategyPrediction) == []


# --- creator-fit --------------------------------------------------------------------------------

GLOSSIER = {
    "brandName": "glossier",
    "predictedSpendMinor": 800_000,
    "currency": "USD",
    "category": "beauty",
    "confidence": 0.6,
    "source": "strategy-engine",  # extra detail is kept by the payload and ignored here
}


async def test_each_talent_is_scored_with_reasons_and_linked_to_the_prediction(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Maya's four active talents against Glossier: Priya first, every score explained; a re-run replaces."""
    # Given Maya's Glossier prediction
    await seed(sessions)
    known = await ids(sessions)
    maya = known[MARKER_EMAIL]
    await redis.enqueue_job("strategy-engine", {"userId": maya, "brandName": "Glossier"})
    await run(make_worker)
    (prediction,) = await rows(sessions, StrategyPrediction)

    # When creator-fit scores her talents against it, twice
    for n in (1, 2):
        await redis.enqueue_job(
            "creator-fit", {"userId": maya, "brandPrediction": GLOSSIER}, _job_id=f"fit-{n}"
        )
        await run(make_worker)
        if n == 1:
            first = await rows(sessions, CreatorFitScore)

    # Then one score per talent, the same rows and values after the re-run
    scores = {s.talent_id: s for s in await rows(sessions, CreatorFitScore)}
    assert set(scores) == {known[h] for h in ("avacooks", "leolifts", "priyaglow", "noahcodes")}
    assert [(s.id, s.score) for s in first] == [(s.id, s.score) for s in scores.values()]
    assert {s.prediction_id for s in scores.values()} == {prediction.id}
    assert {s.brand_name for s in scores.values()} == {"Glossier"}  # the brand's spelling
    # And Priya (beauty, a contracted Glossier deal, one deliverable due tomorrow) leads:
    # 0.4 * 1 + 0.2 * audience(640k) + 0.25 * 1 + 0.15 * 0.8
    priya = scores[known["priyaglow"]]
    assert priya.score == pytest.approx(0.4 + 0.2 * 0.669 + 0.25 + 0.12, abs=2e-3)
    assert max(scores.values(), key=lambda s: s.score) is priya
    assert priya.reasons == [
        "niche 'beauty' is the brand's category (1.0)",
        "audience 640,000 (0.67)",
        "won 1 deal(s) with Glossier (1.0)",
        "1 deliverable(s) due in the next 21 days (0.8)",
    ]
    result = (await result_of(redis, "fit-2")).result
    assert (result["scored"], result["best"]["talentId"]) == (4, known["priyaglow"])


async def test_a_malformed_brand_prediction_fails_permanently_naming_the_field(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Negative spend, a bad currency, confidence over 1, spend without currency, no brand: each named."""
    await seed(sessions)
    maya = (await ids(sessions))[MARKER_EMAIL]
    for prediction in (
        {"brandName": "Glossier", "predictedSpendMinor": -5, "currency": "usd"},
        {"brandName": "Glossier", "confidence": 2},
        {"brandName": "Glossier", "predictedSpendMinor": 100},
        {"brandName": "Glossier", "predictedSpendMinor": "a lot", "currency": "USD"},
        {"brandName": ""},
        {"predictedSpendMinor": 100, "currency": "USD"},
        "Glossier",
    ):
        await redis.enqueue_job("creator-fit", {"userId": maya, "brandPrediction": prediction})
    await redis.enqueue_job("creator-fit", {"userId": 4242, "brandPrediction": GLOSSIER})

    await run(make_worker)

    invalid = "invalid brandPrediction for creator-fit: brandPrediction"
    payload = "invalid payload for queue 'creator-fit': brandPrediction"
    assert await dead_messages(sessions) == sorted(
        [
            f"{invalid}.predictedSpendMinor: Input should be greater than or equal to 0; "
            "brandPrediction.currency: Value error, 'usd' is not an ISO 4217 currency code",
            f"{invalid}.confidence: Input should be less than or equal to 1",
            f"{invalid}.currency is required with predictedSpendMinor (minor units of which currency?)",
            f"{invalid}.predictedSpendMinor: Input should be a valid integer",
            f"{payload}.brandName: String should have at least 1 character",
            f"{payload}.brandName: Field required",
            f"{payload}: Input should be a valid dictionary or instance of BrandPrediction",
            "user 4242 not found",
        ]
    )
    assert await rows(sessions, CreatorFitScore) == []


# --- creator-bundle -----------------------------------------------------------------------------


async def test_a_bundle_is_complementary_and_within_the_predicted_budget(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Glossier, USD 25,000: Elena and Priya; Mia (beauty only, no platform) adds nothing; re-run replaces."""
    # Given a USD 25,000 prediction for Glossier and a third beauty creator with no history
    await seed(sessions)
    known = await ids(sessions)
    async with sessions.begin() as session:
        session.add(
            StrategyPrediction(
                user_id=known[MARKER_EMAIL],
                brand_id=known["Glossier"],
                brand_name="Glossier",
                predicted_spend_minor=2_500_000,
                currency="USD",
            )
        )
        mia = Talent(
            name="Mia Rossi",
            handle="miaglam",
            manager_id=known[MARKER_EMAIL],
            niches=["beauty"],
            audience_size=900_000,
        )
        session.add(mia)

    # When creator-bundle runs, twice
    for n in (1, 2):
        await redis.enqueue_job("creator-bundle", {"brandId": known["Glossier"]}, _job_id=f"bundle-{n}")
        await run(make_worker)

    # Then one bundle: Elena (USD 12,000, her delivered deal) and Priya (USD 8,000) for USD 20,000
    (bundle,) = await rows(sessions, CreatorBundle)
    assert bundle.brand_id == known["Glossier"]
    assert bundle.talent_ids == [known["elenastyle"], known["priyaglow"]]
    assert (bundle.budget_minor, bundle.currency) == (2_500_000, "USD")
    assert bundle.rationale[0].startswith("strategy prediction ")
    assert bundle.rationale[0].endswith(": USD 25,000.00")
    assert "Mia Rossi: adds no niche or platform the bundle lacks" in bundle.rationale
    assert bundle.rationale[-1] == "total USD 20,000.00 of USD 25,000.00"
    assert (await result_of(redis, "bundle-2")).result["totalMinor"] == 2_000_000
    assert await dead_messages(sessions) == []


async def test_without_a_prediction_the_default_budget_is_used(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Rapha has no prediction: USD 3,000 buys Kofi (his USD 3,000 deal); pricier fits are left out."""
    await seed(sessions)
    known = await ids(sessions)
    await redis.enqueue_job("creator-bundle", {"brandId": known["Rapha"]})
    await redis.enqueue_job("creator-bundle", {"brandId": 4242})

    await run(make_worker)

    (bundle,) = await rows(sessions, CreatorBundle)
    assert (bundle.talent_ids, bundle.budget_minor, bundle.currency) == ([known["kofieats"]], 300_000, "USD")
    assert bundle.rationale[0] == "no strategy prediction: the default budget: USD 3,000.00"
    assert "Leo Martins: USD 14,500.00 is over the USD 3,000.00 left" in bundle.rationale
    assert await dead_messages(sessions) == ["brand 4242 not found"]


# --- the AI is asked with no transaction open -----------------------------------------------------


def direct_ctx(redis: ArqRedis, sessions: async_sessionmaker[AsyncSession], http: httpx.AsyncClient) -> Any:
    """A processor's ctx without a worker, with the OpenAI-compatible provider on ``http``."""
    return {
        "job_id": "direct",
        "job_try": 1,
        "redis": redis,
        "sessions": sessions,
        "settings": openai_settings(),
        "producer": Producer(redis),
        "http": http,
        **clients(openai_settings(), http),
    }


async def test_no_transaction_is_open_while_the_ai_answers(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """strategy-engine, creator-fit and creator-bundle read, let the database go, ask the AI, then write."""
    await seed(sessions)
    known = await ids(sessions)
    maya, glossier = known[MARKER_EMAIL], known["Glossier"]
    open_while_asked: dict[str, int] = {}

    async def model(request: httpx.Request) -> httpx.Response:
        prompt = json.loads(request.content)["messages"][0]["content"]
        facts = facts_of(request)
        open_while_asked[prompt] = await open_transactions(sessions)
        if prompt == STRATEGY_PROMPT:
            return answer({"predicted_spend_minor": 450_000, "currency": "EUR", "confidence": 0.4})
        if prompt == CREATOR_FIT_PROMPT:
            return answer({"scores": [{"talent_id": t["id"], "score": 0.5} for t in facts["talents"]]})
        cheapest = min(facts["candidates"], key=lambda c: c["fee_minor"])
        return answer({"talent_ids": [cheapest["talent_id"]], "rationale": ["the cheapest"]})

    ctx = direct_ctx(redis, sessions, httpx.AsyncClient(transport=httpx.MockTransport(model)))
    await strategy_engine.handle(ctx, StrategyEngine(user_id=maya, brand_name="Glossier"))
    await creator_fit.handle(ctx, CreatorFit.model_validate({"userId": maya, "brandPrediction": GLOSSIER}))
    bundled = await creator_bundle.handle(ctx, CreatorBundleRef(brand_id=glossier))

    assert open_while_asked == {STRATEGY_PROMPT: 0, CREATOR_FIT_PROMPT: 0, BUNDLE_PROMPT: 0}
    (prediction,) = await rows(sessions, StrategyPrediction)
    assert (prediction.predicted_spend_minor, prediction.currency) == (450_000, "EUR")
    scores = await rows(sessions, CreatorFitScore)
    assert [(s.score, s.prediction_id) for s in scores] == [(0.5, prediction.id)] * 4
    (bundle,) = await rows(sessions, CreatorBundle)
    assert (bundle.talent_ids, bundle.budget_minor, bundle.currency) == (bundled["talentIds"], 450_000, "EUR")
    assert bundle.rationale[-1] == "the cheapest"


async def test_a_slow_prediction_does_not_overwrite_a_newer_one(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Two strategy-engine runs overlap: the one that read its facts last is kept, whichever writes last."""
    # Given a run whose AI answer is slow, and a second run that starts and finishes meanwhile
    await seed(sessions)
    maya = (await ids(sessions))[MARKER_EMAIL]
    payload = StrategyEngine(user_id=maya, brand_name="Glossier")
    slow_asked, slow_may_answer = asyncio.Event(), asyncio.Event()

    async def model(request: httpx.Request) -> httpx.Response:
        if not slow_asked.is_set():
            slow_asked.set()
            await asyncio.wait_for(slow_may_answer.wait(), timeout=10)
            return answer({"predicted_spend_minor": 100_000, "currency": "EUR", "confidence": 0.2})
        return answer({"predicted_spend_minor": 900_000, "currency": "EUR", "confidence": 0.9})

    ctx = direct_ctx(redis, sessions, httpx.AsyncClient(transport=httpx.MockTransport(model)))
    slow = asyncio.create_task(strategy_engine.handle(ctx, payload))
    await slow_asked.wait()
    newer = await strategy_engine.handle(ctx, payload)

    # When the slow run's answer comes and it writes last
    slow_may_answer.set()
    older = await slow

    # Then the prediction from the later facts stays, and the slow run says it was superseded
    (prediction,) = await rows(sessions, StrategyPrediction)
    assert (prediction.predicted_spend_minor, prediction.confidence) == (900_000, 0.9)
    assert (newer["superseded"], older["superseded"]) == (False, True)
    assert older["predictionId"] is None


def test_the_outreach_processors_import_no_other_processor() -> None:
    """Shared lookups (find_brand, the brand-mail rule) live in talentq.db.brands, not in a processor."""
    for module in (ai_outreach, brand_crm, creator_bundle, creator_fit, outreach, strategy_engine):
        imported = {
            node.module or ""
            for node in ast.walk(ast.parse(inspect.getsource(module)))
            if isinstance(node, ast.ImportFrom)
        }
        assert not [name for name in imported if name.startswith("talentq.processors")], module.__name__
