"""Asking about outreach: pitches to brands, a brand's likely spend, creator fit and bundles.

Each capability's question, the facts sent as JSON with its prompt, and its answer model,
checked against the facts it was given (``*_from_answer``); the rules that answer offline are
``talentq.domain.outreach``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date
from functools import cached_property
from typing import Any, Final

from pydantic import BaseModel, Field, field_validator

from talentq.domain.money import format_minor, is_currency
from talentq.domain.outreach import (
    MAX_BUNDLE,
    Bundle,
    BundleCandidate,
    CreatorFit,
    DealFact,
    FitBrand,
    FitTalent,
    OutreachBrand,
    OutreachDraft,
    OutreachTalent,
    StrategyForecast,
    build_bundle,
    bundle_rank,
    draft_outreach,
    outreach_fit,
    predict_strategy,
    score_creator_fit,
)
from talentq.integrations.ai.capability import Capability


@dataclass(frozen=True)
class Pitching:
    """A talent to pitch, the brands that may fit, and how many pitches to draft at most."""

    talent: OutreachTalent
    brands: tuple[OutreachBrand, ...]
    limit: int

    @cached_property
    def shortlist(self) -> list[OutreachBrand]:
        """The brands put to the model, and the only ones its answer may name (computed once)."""
        return outreach_shortlist(self.talent, self.brands)


@dataclass(frozen=True)
class Strategy:
    """A brand to forecast: its deals with the agency (``history``) and its category's (``similar``)."""

    brand_name: str
    category: str | None
    history: tuple[DealFact, ...]
    similar: tuple[DealFact, ...]
    today: date


@dataclass(frozen=True)
class Fit:
    """A brand, and the talents to score for it."""

    brand: FitBrand
    talents: tuple[FitTalent, ...]


@dataclass(frozen=True)
class Bundling:
    """A brand's budget, and the talents a bundle may be built from."""

    brand_name: str
    category: str | None
    candidates: tuple[BundleCandidate, ...]
    budget_minor: int
    currency: str

    @cached_property
    def shortlist(self) -> list[BundleCandidate]:
        """The talents put to the model, and the only ones its answer may name (computed once)."""
        return bundle_shortlist(self.category, self.candidates)


def facts_json(**facts: Any) -> str:
    """The facts a prompt is about, as the JSON the OpenAI-compatible provider sends."""
    return json.dumps({k: _plain(v) for k, v in facts.items()}, default=str, ensure_ascii=False)


def _plain(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    return value


class OutreachDraftAnswer(BaseModel):
    brand_id: int
    subject: str = Field(min_length=1, max_length=300)
    message: str = Field(min_length=1, max_length=5000)
    score: float = Field(ge=0, le=1)
    reasons: list[str] = Field(default_factory=list)


class OutreachAnswer(BaseModel):
    drafts: list[OutreachDraftAnswer]


OUTREACH_PROMPT: Final = (
    "You are a talent agency manager writing short outreach emails that pitch one creator to brands. "
    "You get the talent and candidate brands (with their category, past deals with this talent, "
    "deals with brands of the same category, the brand's typical creator audience) and a limit. "
    "Pick at most `limit` brands that fit best (niche match, history, audience), and for each write "
    "a subject and a friendly, specific message of under 150 words signed by the manager. Answer with "
    'a JSON object: {"drafts": [{"brand_id": int, "subject": str, "message": str, "score": 0..1, '
    '"reasons": [short strings]}]}.'
)


#: At most this many candidates go into a prompt: the rules' best, so the facts fit the request.
PROMPT_CANDIDATES: Final = 40


def outreach_shortlist(talent: OutreachTalent, brands: Sequence[OutreachBrand]) -> list[OutreachBrand]:
    """The PROMPT_CANDIDATES brands the rules rank highest, for the HTTP provider's prompt."""
    return sorted(brands, key=lambda b: (-outreach_fit(talent, b)[0], b.id))[:PROMPT_CANDIDATES]


def drafts_from_answer(
    answer: OutreachAnswer, brands: Sequence[OutreachBrand], *, limit: int
) -> list[OutreachDraft]:
    """The answer's drafts, checked: only brands offered, each once, at most ``limit``."""
    offered = {brand.id for brand in brands}
    seen: set[int] = set()
    drafts = []
    for item in answer.drafts:
        if item.brand_id not in offered:
            raise ValueError(f"draft for brand {item.brand_id}, which was not among the candidates")
        if item.brand_id in seen:
            raise ValueError(f"two drafts for brand {item.brand_id}")
        seen.add(item.brand_id)
        drafts.append(OutreachDraft(item.brand_id, item.subject, item.message, item.score, item.reasons))
    return drafts[: max(limit, 0)]


class StrategyAnswer(BaseModel):
    predicted_spend_minor: int | None = Field(default=None, ge=0, le=10**14)
    currency: str
    category: str | None = Field(default=None, max_length=100)
    timing: str | None = Field(default=None, max_length=100)
    confidence: float = Field(ge=0, le=1)
    reasons: list[str] = Field(default_factory=list)

    @field_validator("currency")
    @classmethod
    def _iso(cls, value: str) -> str:
        if not is_currency(value):
            raise ValueError(f"{value!r} is not an ISO 4217 currency code")
        return value


STRATEGY_PROMPT: Final = (
    "You predict what a brand will spend on creator marketing with a talent agency. You get the brand "
    "(name, category if known), its past deals with the agency and deals of similar brands (fee in minor "
    "units with ISO currency, stage, start date) and today's date. Never add fees of different "
    "currencies. Answer with a JSON object: "
    '{"predicted_spend_minor": int or null, "currency": ISO 4217 code, "category": str or null, '
    '"timing": the month they will likely spend next, like "June 2027", or null, "confidence": 0..1, '
    '"reasons": [short strings]}.'
)


def forecast_from_answer(answer: StrategyAnswer) -> StrategyForecast:
    return StrategyForecast(
        answer.predicted_spend_minor,
        answer.currency,
        answer.category,
        answer.timing,
        answer.confidence,
        answer.reasons,
    )


class CreatorFitAnswerItem(BaseModel):
    talent_id: int
    score: float = Field(ge=0, le=1)
    reasons: list[str] = Field(default_factory=list)


class CreatorFitAnswer(BaseModel):
    scores: list[CreatorFitAnswerItem]


CREATOR_FIT_PROMPT: Final = (
    "You score how well each creator fits a brand, from 0 to 1. You get the brand (name, category, "
    "predicted spend) and the creators (niches, audience size, past deals with the brand and with its "
    "category, deliverables due in the next three weeks). Score every creator once. Answer with a JSON "
    'object: {"scores": [{"talent_id": int, "score": 0..1, "reasons": [short strings]}]}.'
)


def fits_from_answer(answer: CreatorFitAnswer, talents: Sequence[FitTalent]) -> list[CreatorFit]:
    """The answer's scores, checked: exactly one per talent given."""
    wanted = {talent.id for talent in talents}
    got = [item.talent_id for item in answer.scores]
    if sorted(got) != sorted(wanted):
        raise ValueError(f"scored talents {sorted(got)}, expected each of {sorted(wanted)} once")
    return [CreatorFit(item.talent_id, item.score, item.reasons) for item in answer.scores]


class BundleAnswer(BaseModel):
    talent_ids: list[int] = Field(max_length=MAX_BUNDLE)
    rationale: list[str] = Field(default_factory=list)


BUNDLE_PROMPT: Final = (
    "You put together a bundle of complementary creators (different niches and platforms) for a brand "
    f"campaign, at most {MAX_BUNDLE} creators, whose fees (in minor units, given per creator) add up to "
    "no more than the budget. You get the brand, the budget and the candidates. Answer with a JSON "
    'object: {"talent_ids": [int], "rationale": [short strings]}.'
)


def bundle_shortlist(category: str | None, candidates: Sequence[BundleCandidate]) -> list[BundleCandidate]:
    """The PROMPT_CANDIDATES candidates the rules rank highest, for the HTTP provider's prompt."""
    return sorted(candidates, key=lambda c: (-bundle_rank(category, c), c.talent_id))[:PROMPT_CANDIDATES]


def bundle_from_answer(
    answer: BundleAnswer, candidates: Sequence[BundleCandidate], *, budget_minor: int, currency: str
) -> Bundle:
    """The answer's bundle, checked: known creators, each once, within the budget."""
    fees = {c.talent_id: c.fee_minor for c in candidates}
    unknown = [t for t in answer.talent_ids if t not in fees]
    if unknown:
        raise ValueError(f"talents {unknown} were not among the candidates")
    if len(set(answer.talent_ids)) != len(answer.talent_ids):
        raise ValueError(f"a talent appears twice in {answer.talent_ids}")
    total = sum(fees[t] for t in answer.talent_ids)
    if total > budget_minor:
        raise ValueError(
            f"the bundle costs {format_minor(total, currency)}, "
            f"over the {format_minor(budget_minor, currency)} budget"
        )
    return Bundle(list(answer.talent_ids), total, answer.rationale)


def _pitching_request(q: Pitching) -> str:
    return facts_json(talent=q.talent, brands=q.shortlist, limit=q.limit)


def _strategy_request(q: Strategy) -> str:
    return facts_json(
        brand={"name": q.brand_name, "category": q.category},
        history=q.history[:PROMPT_CANDIDATES],  # the most recent deals come first
        similar=q.similar[:PROMPT_CANDIDATES],
        today=q.today,
    )


def _bundling_request(q: Bundling) -> str:
    return facts_json(
        brand={"name": q.brand_name, "category": q.category},
        budget={"minor": q.budget_minor, "currency": q.currency},
        candidates=q.shortlist,
    )


DRAFT_OUTREACH: Final[Capability[Pitching, OutreachAnswer, list[OutreachDraft]]] = Capability(
    name="draft_outreach",
    rules=lambda q: draft_outreach(q.talent, list(q.brands), limit=q.limit),
    prompt=OUTREACH_PROMPT,
    request=_pitching_request,
    answer=OutreachAnswer,
    read=lambda answer, q: drafts_from_answer(answer, q.shortlist, limit=q.limit),
    what=lambda _: "outreach drafts",
)
PREDICT_STRATEGY: Final[Capability[Strategy, StrategyAnswer, StrategyForecast]] = Capability(
    name="predict_strategy",
    rules=lambda q: predict_strategy(
        q.brand_name, q.category, list(q.history), list(q.similar), today=q.today
    ),
    prompt=STRATEGY_PROMPT,
    request=_strategy_request,
    answer=StrategyAnswer,
    read=lambda answer, _: forecast_from_answer(answer),
    what=lambda _: "strategy forecast",
)
SCORE_CREATOR_FIT: Final[Capability[Fit, CreatorFitAnswer, list[CreatorFit]]] = Capability(
    name="score_creator_fit",
    rules=lambda q: score_creator_fit(q.brand, list(q.talents)),
    prompt=CREATOR_FIT_PROMPT,
    request=lambda q: facts_json(brand=q.brand, talents=list(q.talents)),
    answer=CreatorFitAnswer,
    read=lambda answer, q: fits_from_answer(answer, q.talents),
    what=lambda _: "creator-fit scores",
)
BUILD_BUNDLE: Final[Capability[Bundling, BundleAnswer, Bundle]] = Capability(
    name="build_bundle",
    rules=lambda q: build_bundle(
        q.brand_name, q.category, list(q.candidates), budget_minor=q.budget_minor, currency=q.currency
    ),
    prompt=BUNDLE_PROMPT,
    request=_bundling_request,
    answer=BundleAnswer,
    read=lambda answer, q: bundle_from_answer(
        answer, q.shortlist, budget_minor=q.budget_minor, currency=q.currency
    ),
    what=lambda _: "bundle",
)
