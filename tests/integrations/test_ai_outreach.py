"""The AI provider's outreach methods: the rules' arithmetic and the OpenAI-compatible answers, checked."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import date
from typing import Any

import httpx
import pytest
from arq.connections import ArqRedis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from talentq.db.models import FailedJob
from talentq.db.tables import Brand, OutreachAction, Talent
from talentq.dev.sample_agency import seed
from talentq.domain.outreach import (
    BundleCandidate,
    DealFact,
    FitBrand,
    FitTalent,
    OutreachBrand,
    OutreachTalent,
    build_bundle,
    draft_outreach,
    predict_strategy,
    score_creator_fit,
)
from talentq.integrations.ai.openai import OpenAICompatibleProvider
from talentq.integrations.ai.prompts.outreach import PROMPT_CANDIDATES
from talentq.integrations.ai.protocol import AIUnavailable
from talentq.integrations.ai.rules import RulesProvider
from talentq.processors import ai_outreach
from talentq.queues import CATALOGUE, RetryPolicy
from talentq.settings import Settings

from ..conftest import MakeWorker, service_settings

AVA = OutreachTalent(
    id=1,
    name="Ava Chen",
    handle="avacooks",
    niches=["food", "lifestyle"],
    audience_size=820_000,
    manager_name="Maya Okafor",
)
TODAY = date(2026, 11, 28)


# --- rules --------------------------------------------------------------------------------------


def deal(fee: int | None, currency: str, month: int, year: int = 2025, brand: str = "HelloFresh") -> DealFact:
    return DealFact(brand, "food", "delivered", fee, currency, date(year, month, 10))


def candidate(
    talent_id: int, niches: list[str], platforms: list[str], fee: int, fit: float
) -> BundleCandidate:
    return BundleCandidate(talent_id, f"T{talent_id}", niches, platforms, 500_000, fee, "test", fit)


async def test_the_rules_provider_delegates_to_the_rules() -> None:
    """RulesProvider answers each of the four outreach methods with the module's rules, arguments intact."""
    provider = RulesProvider()
    brands = [OutreachBrand(11, "Oatly", "food"), OutreachBrand(12, "Airbnb", "travel")]
    drafts = await provider.draft_outreach(AVA, brands, limit=1)
    assert drafts == draft_outreach(AVA, brands, limit=1)
    assert [d.brand_id for d in drafts] == [11]  # the limit reached the rules
    history = [deal(300_000, "EUR", 5), deal(500_000, "EUR", 9)]
    forecast = await provider.predict_strategy("HelloFresh", "food", history, [], today=TODAY)
    assert forecast == predict_strategy("HelloFresh", "food", history, [], today=TODAY)
    assert (forecast.predicted_spend_minor, forecast.currency) == (300_000, "EUR")
    brand = FitBrand("Glossier", "beauty", 800_000, "USD")
    talents = [FitTalent(1, "Priya", ["beauty"], 640_000), FitTalent(2, "Jonah", ["gaming"], 5_000)]
    fits = await provider.score_creator_fit(brand, talents)
    assert fits == score_creator_fit(brand, talents)
    assert [f.talent_id for f in fits] == [1, 2]
    candidates = [
        candidate(1, ["beauty"], ["tiktok"], 400_000, 0.9),
        candidate(2, ["food"], [], 300_000, 0.8),
    ]
    bundle = await provider.build_bundle(
        "Glossier", "beauty", candidates, budget_minor=500_000, currency="EUR"
    )
    assert bundle == build_bundle("Glossier", "beauty", candidates, budget_minor=500_000, currency="EUR")
    assert (bundle.talent_ids, bundle.rationale[0]) == ([1], "budget EUR 5,000.00 for Glossier")


# --- the OpenAI-compatible provider -------------------------------------------------------------

Handler = Callable[[httpx.Request], httpx.Response]


def openai_settings() -> Settings:
    return service_settings(
        ai_provider="openai", ai_base_url="https://ai.test/v1", ai_api_key="key-1", ai_model="m-1"
    )


def answering(answer: Any, seen: list[dict[str, Any]] | None = None) -> Handler:
    """A chat-completions endpoint that answers ``answer`` (a JSON value, or a function of the facts)."""

    def handler(request: httpx.Request) -> httpx.Response:
        sent = json.loads(request.content)
        assert request.headers["Authorization"] == "Bearer key-1"
        facts = json.loads(sent["messages"][1]["content"])
        if seen is not None:
            seen.append(facts)
        content = answer(facts) if callable(answer) else answer
        return httpx.Response(200, json={"choices": [{"message": {"content": json.dumps(content)}}]})

    return handler


def openai(handler: Handler) -> OpenAICompatibleProvider:
    return OpenAICompatibleProvider(
        httpx.AsyncClient(transport=httpx.MockTransport(handler)), openai_settings()
    )


async def test_openai_drafts_are_checked_against_the_brands_offered() -> None:
    """The prompt carries the rules' shortlist; drafts for brands offered are kept, others refused."""
    brands = [OutreachBrand(n, f"Brand {n}", "food" if n == 7 else "tech") for n in range(1, 60)]
    seen: list[dict[str, Any]] = []
    draft = {"brand_id": 7, "subject": "Ava x Brand 7", "message": "Hi", "score": 0.8, "reasons": ["food"]}

    drafts = await openai(answering({"drafts": [draft]}, seen)).draft_outreach(AVA, brands, limit=2)

    assert [(d.brand_id, d.subject, d.reasons) for d in drafts] == [(7, "Ava x Brand 7", ["food"])]
    assert len(seen[0]["brands"]) == PROMPT_CANDIDATES
    assert seen[0]["brands"][0]["id"] == 7  # the best fit leads the shortlist
    assert (seen[0]["talent"]["handle"], seen[0]["limit"]) == ("avacooks", 2)
    with pytest.raises(AIUnavailable, match="brand 999, which was not among the candidates"):
        await openai(answering({"drafts": [{**draft, "brand_id": 999}]})).draft_outreach(AVA, brands, limit=2)
    with pytest.raises(AIUnavailable, match="did not validate as OutreachAnswer"):
        await openai(answering({"drafts": [{**draft, "score": 3}]})).draft_outreach(AVA, brands, limit=2)


async def test_openai_strategy_fit_and_bundle_answers_are_validated() -> None:
    """Good answers become result types; a bad currency, a missing talent, an over-budget bundle do not."""
    strategy = {"predicted_spend_minor": 450_000, "currency": "EUR", "timing": "June 2027", "confidence": 0.4}
    forecast = await openai(answering(strategy)).predict_strategy("X", "food", [], [], today=TODAY)
    assert (forecast.predicted_spend_minor, forecast.currency, forecast.timing) == (
        450_000,
        "EUR",
        "June 2027",
    )
    with pytest.raises(AIUnavailable, match="'EURO' is not an ISO 4217 currency code"):
        await openai(answering({**strategy, "currency": "EURO"})).predict_strategy(
            "X", None, [], [], today=TODAY
        )

    talents = [FitTalent(1, "Priya", ["beauty"], 640_000), FitTalent(2, "Elena", ["fashion"], 990_000)]
    brand = FitBrand("Glossier", "beauty")
    scores = {
        "scores": [{"talent_id": 1, "score": 0.9, "reasons": ["beauty"]}, {"talent_id": 2, "score": 0.5}]
    }
    fits = await openai(answering(scores)).score_creator_fit(brand, talents)
    assert [(f.talent_id, f.score) for f in fits] == [(1, 0.9), (2, 0.5)]
    with pytest.raises(AIUnavailable, match=r"scored talents \[1\], expected each of \[1, 2\] once"):
        await openai(answering({"scores": scores["scores"][:1]})).score_creator_fit(brand, talents)

    candidates = [candidate(1, ["beauty"], [], 400_000, 0.9), candidate(2, ["fashion"], [], 700_000, 0.8)]
    bundle = await openai(answering({"talent_ids": [1], "rationale": ["r"]})).build_bundle(
        "Glossier", "beauty", candidates, budget_minor=1_000_000, currency="USD"
    )
    assert (bundle.talent_ids, bundle.total_minor, bundle.rationale) == ([1], 400_000, ["r"])
    with pytest.raises(AIUnavailable, match=r"costs USD 11,000\.00, over the USD 10,000\.00 budget"):
        await openai(answering({"talent_ids": [1, 2]})).build_bundle(
            "Glossier", "beauty", candidates, budget_minor=1_000_000, currency="USD"
        )


# --- through a worker ---------------------------------------------------------------------------

FAST = {
    "ai-outreach": dataclasses.replace(CATALOGUE["ai-outreach"], retry=RetryPolicy(2, 0.05, 0.1), timeout=20)
}


@pytest.mark.integration
async def test_ai_outreach_with_the_http_provider_stores_its_drafts(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """AI_PROVIDER=openai: the model's draft becomes the action; an unusable answer is retried, then dead."""
    await seed(sessions)
    async with sessions() as session:
        ava = await session.scalar(select(col(Talent.id)).where(col(Talent.handle) == "avacooks"))
        oatly = await session.scalar(select(col(Brand.id)).where(col(Brand.name) == "Oatly"))

    def first_brand(facts: dict[str, Any]) -> dict[str, Any]:
        pick = next(b for b in facts["brands"] if b["name"] == "Oatly")
        return {
            "drafts": [
                {"brand_id": pick["id"], "subject": "Oat latte season", "message": "Hi Oatly", "score": 0.7}
            ]
        }

    good = httpx.AsyncClient(transport=httpx.MockTransport(answering(first_brand)))
    await redis.enqueue_job("ai-outreach", {"talentId": ava})
    await make_worker(
        [("ai-outreach", ai_outreach.handle)], catalogue=FAST, settings_=openai_settings(), ctx={"http": good}
    ).async_run()

    async with sessions() as session:
        (drafted,) = (
            await session.execute(select(OutreachAction).where(col(OutreachAction.talent_id) == ava))
        ).scalars()
    assert (drafted.brand_id, drafted.subject, drafted.message) == (oatly, "Oat latte season", "Hi Oatly")
    assert drafted.to_address == "partnerships@oatly.com"

    bad = httpx.AsyncClient(transport=httpx.MockTransport(answering({"drafts": [{"brand_id": 0}]})))
    await redis.enqueue_job("ai-outreach", {"talentId": ava}, _job_id="bad-answer")
    await make_worker(
        [("ai-outreach", ai_outreach.handle)], catalogue=FAST, settings_=openai_settings(), ctx={"http": bad}
    ).async_run()
    async with sessions() as session:
        (letter,) = (await session.execute(select(FailedJob))).scalars()
    assert (letter.job_id, letter.reason, letter.tries) == ("bad-answer", "exhausted", 2)
    assert "did not validate as OutreachAnswer" in letter.message
