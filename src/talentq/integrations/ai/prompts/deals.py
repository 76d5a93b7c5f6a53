"""Asking about deals and contracts: pricing a deal, a negotiation reply, drafting and reviewing a contract.

Each capability's prompt, request (the facts as JSON) and validated answer model; the rules that
answer offline are ``talentq.domain.pricing`` and ``talentq.domain.contracts``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Final, Literal

from pydantic import BaseModel, Field, model_validator

from talentq.domain.contracts import (
    ContractDraft,
    ContractReview,
    ContractTerms,
    Mismatch,
    draft_contract,
    review_contract,
)
from talentq.domain.mail import extract_deal
from talentq.domain.pricing import (
    RATE_CARD_PARITY,
    RATE_CARD_USD,
    ComparableDeal,
    NegotiationFacts,
    NegotiationInsights,
    NegotiationReply,
    PlatformRate,
    PricingFacts,
    draft_negotiation_reply,
    negotiation_insights,
)
from talentq.domain.vocabulary import MAX_UNITS, Platform
from talentq.integrations.ai.capability import Capability


@dataclass(frozen=True)
class Pricing:
    """A deal to price, and the agency's comparable deals to price it against."""

    deal: PricingFacts
    comparables: tuple[ComparableDeal, ...]


@dataclass(frozen=True)
class Draft:
    """A brand's contract draft, to review against the agreed terms."""

    text: str
    terms: ContractTerms


def _facts(**parts: Any) -> str:
    return json.dumps(parts, default=_json_default, sort_keys=True)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


INSIGHTS_PROMPT: Final = (
    "You advise a talent agency negotiating a brand deal for a creator. From the deal, the agency's "
    "comparable past deals (same currency) and the fallback rate card (per unit of content per 100,000 "
    "followers, USD, with currency parities), price the deal. All amounts are integers in minor units "
    "of the deal's currency. Answer with a JSON object: "
    '{"market_rate_minor": int, "counter_offer_minor": int, "floor_minor": int (at most the counter), '
    '"recommendation": "accept" or "counter", "platforms": [{"platform": str, "count": int, '
    '"rate_per_100k_minor": int, "source": "deals" or "rate_card", "observations": int}], '
    '"reasons": [short strings explaining the numbers]}.'
)
REPLY_PROMPT: Final = (
    "You draft a talent agency's next email in a fee negotiation with a brand. Never propose a fee "
    "below floor_minor. Amounts are integers in minor units of the currency. Answer with a JSON object: "
    '{"action": "accept" or "counter", "fee_minor": int, "message": the email text, signed by the '
    'manager, "reasons": [short strings]}.'
)
CONTRACT_PROMPT: Final = (
    "You draft an influencer marketing agreement from agreed terms: parties, fee (minor units of the "
    "currency; write it in major units with the ISO code), deliverables, campaign dates, usage rights "
    "and payment terms, and, when the terms give them, the content requirements (the brand handle "
    "every post tags, the links it includes, the claims the creator must not make and the claims the "
    "brand approves), stating each exactly as given. Answer with a JSON object: "
    '{"text": the contract text, "reasons": [short strings]}.'
)
REVIEW_PROMPT: Final = (
    "You review a brand's draft influencer contract against the agreed terms and list every term "
    "the draft states differently or omits. Answer with a JSON object: "
    '{"mismatches": [{"term": one of fee, currency, deliverables, usage_rights, payment_terms; '
    '"agreed": what was agreed; "found": what the draft says, or "not stated"}], "reasons": [strings]}.'
)


def insights_request(deal: PricingFacts, comparables: Sequence[ComparableDeal]) -> str:
    return _facts(
        deal=asdict(deal),
        comparable_deals=[asdict(c) for c in comparables],
        rate_card_usd_per_100k=RATE_CARD_USD,
        rate_card_parities=RATE_CARD_PARITY,
    )


def reply_request(facts: NegotiationFacts) -> str:
    return _facts(**asdict(facts))


def contract_request(terms: ContractTerms) -> str:
    return _facts(terms=terms.as_json())


def review_request(draft: str, terms: ContractTerms) -> str:
    agreed = terms.as_json()
    return f"Agreed terms: {_facts(terms=agreed)}\n\nThe brand's draft:\n{draft}"


class _RateAnswer(BaseModel):
    platform: Platform
    count: int = Field(ge=1, le=MAX_UNITS)
    rate_per_100k_minor: int = Field(ge=0)
    source: Literal["deals", "rate_card"]
    observations: int = Field(ge=0)


class InsightsAnswer(BaseModel):
    market_rate_minor: int = Field(gt=0)
    counter_offer_minor: int = Field(gt=0)
    floor_minor: int = Field(gt=0)
    recommendation: Literal["accept", "counter"]
    platforms: list[_RateAnswer] = Field(default_factory=list)
    reasons: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _floor_under_counter(self) -> InsightsAnswer:
        if self.floor_minor > self.counter_offer_minor:
            raise ValueError(
                f"floor {self.floor_minor} is above the counter-offer {self.counter_offer_minor}"
            )
        return self

    def result(self, deal: PricingFacts) -> NegotiationInsights:
        return NegotiationInsights(
            currency=deal.currency,
            audience=deal.audience,
            offer_minor=deal.fee_minor,
            market_rate_minor=self.market_rate_minor,
            counter_offer_minor=self.counter_offer_minor,
            floor_minor=self.floor_minor,
            recommendation=self.recommendation,
            platforms=[PlatformRate(**p.model_dump()) for p in self.platforms],
            reasons=self.reasons,
            method="the AI provider's estimate from the deal, the comparable deals and the rate card",
        )


class ReplyAnswer(BaseModel):
    action: Literal["accept", "counter"]
    fee_minor: int = Field(gt=0)
    message: str = Field(min_length=1, max_length=10_000)
    reasons: list[str] = Field(default_factory=list)

    def result(self, facts: NegotiationFacts) -> NegotiationReply:
        """The reply; ValueError when it proposes less than the floor (the one rule a reply cannot break)."""
        if self.fee_minor < facts.floor_minor:
            raise ValueError(f"it proposes {self.fee_minor}, below the floor {facts.floor_minor}")
        return NegotiationReply(self.action, self.fee_minor, self.message, self.reasons)


class ContractAnswer(BaseModel):
    text: str = Field(min_length=1, max_length=100_000)
    reasons: list[str] = Field(default_factory=list)

    def result(self) -> ContractDraft:
        return ContractDraft(self.text, self.reasons)


class _MismatchAnswer(BaseModel):
    term: Literal["fee", "currency", "deliverables", "usage_rights", "payment_terms"]
    agreed: str
    found: str


class ReviewAnswer(BaseModel):
    mismatches: list[_MismatchAnswer]
    reasons: list[str] = Field(default_factory=list)

    def result(self) -> ContractReview:
        return ContractReview([Mismatch(**m.model_dump()) for m in self.mismatches], reasons=self.reasons)


def _review_by_rules(draft: Draft) -> ContractReview:
    # The draft's fee, currency and content, read by the same rules that read an offer.
    return review_contract(draft.text, draft.terms, found=extract_deal("", draft.text))


NEGOTIATION_INSIGHTS: Final[Capability[Pricing, InsightsAnswer, NegotiationInsights]] = Capability(
    name="negotiation_insights",
    rules=lambda q: negotiation_insights(q.deal, q.comparables),
    prompt=INSIGHTS_PROMPT,
    request=lambda q: insights_request(q.deal, q.comparables),
    answer=InsightsAnswer,
    read=lambda answer, q: answer.result(q.deal),
    what=lambda q: f"pricing of deal {q.deal.deal_id}",
)
DRAFT_NEGOTIATION_REPLY: Final[Capability[NegotiationFacts, ReplyAnswer, NegotiationReply]] = Capability(
    name="draft_negotiation_reply",
    rules=draft_negotiation_reply,
    prompt=REPLY_PROMPT,
    request=reply_request,
    answer=ReplyAnswer,
    read=lambda answer, facts: answer.result(facts),
    what=lambda _: "negotiation reply",
)
DRAFT_CONTRACT: Final[Capability[ContractTerms, ContractAnswer, ContractDraft]] = Capability(
    name="draft_contract",
    rules=draft_contract,
    prompt=CONTRACT_PROMPT,
    request=contract_request,
    answer=ContractAnswer,
    read=lambda answer, _: answer.result(),
    what=lambda _: "contract draft",
)
REVIEW_CONTRACT: Final[Capability[Draft, ReviewAnswer, ContractReview]] = Capability(
    name="review_contract",
    rules=_review_by_rules,
    prompt=REVIEW_PROMPT,
    request=lambda q: review_request(q.text, q.terms),
    answer=ReviewAnswer,
    read=lambda answer, _: answer.result(),
    what=lambda _: "contract review",
)
