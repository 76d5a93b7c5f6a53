"""What processors ask of an AI provider, each question defined once, and how a provider fails.

``AIProvider`` is the interface processors use: one typed method per capability, each written
here once. A provider implements only ``ask`` (answer any ``Capability``); adding a capability
means its rules in ``talentq.domain``, its prompt and answer model in ``prompts/``, and its
method here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import date
from typing import Any, TypeVar

from talentq.domain.agents import AgentContext, AgentPlan
from talentq.domain.contracts import ContractDraft, ContractReview, ContractTerms
from talentq.domain.mail import Classification, DealTerms
from talentq.domain.outreach import (
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
)
from talentq.domain.pricing import (
    Comparables,
    NegotiationFacts,
    NegotiationInsights,
    NegotiationReply,
    PricingFacts,
)
from talentq.errors import ServiceRefusedError
from talentq.integrations.ai.capability import Capability
from talentq.integrations.ai.prompts import agents, deals, mail, outreach

Q = TypeVar("Q")
R = TypeVar("R")


class AIError(Exception):
    """The AI provider could not answer."""


class AIUnavailable(AIError):
    """Try later: the provider is down, rate limited, or gave an answer that does not validate."""


class AIRejected(AIError, ServiceRefusedError):
    """Retrying cannot help: the provider refused the credentials or the request."""


class AIProvider(ABC):
    """What processors ask of an AI. A provider answers ``ask``; the methods below are the questions."""

    @abstractmethod
    async def ask(self, capability: Capability[Q, Any, R], question: Q) -> R:
        """The answer to ``question``; ``AIUnavailable`` (try later) or ``AIRejected`` (never)."""

    # mail
    async def classify_message(self, subject: str, body: str, *, sender: str = "") -> Classification:
        return await self.ask(mail.CLASSIFY_MESSAGE, mail.Mail(subject, body, sender=sender))

    async def extract_deal(
        self, subject: str, body: str, *, sender: str = "", reference: date | None = None
    ) -> DealTerms:
        return await self.ask(mail.EXTRACT_DEAL, mail.Mail(subject, body, reference, sender))

    # agent tasks
    async def plan_agent_steps(self, context: AgentContext) -> AgentPlan:
        return await self.ask(agents.PLAN_AGENT_STEPS, context)

    # negotiation and contracts
    async def negotiation_insights(self, deal: PricingFacts, comparables: Comparables) -> NegotiationInsights:
        return await self.ask(deals.NEGOTIATION_INSIGHTS, deals.Pricing(deal, tuple(comparables)))

    async def draft_negotiation_reply(self, facts: NegotiationFacts) -> NegotiationReply:
        return await self.ask(deals.DRAFT_NEGOTIATION_REPLY, facts)

    async def draft_contract(self, terms: ContractTerms) -> ContractDraft:
        return await self.ask(deals.DRAFT_CONTRACT, terms)

    async def review_contract(self, draft: str, terms: ContractTerms) -> ContractReview:
        return await self.ask(deals.REVIEW_CONTRACT, deals.Draft(draft, terms))

    # outreach, strategy, creator fit and bundles
    async def draft_outreach(
        self, talent: OutreachTalent, brands: list[OutreachBrand], *, limit: int
    ) -> list[OutreachDraft]:
        return await self.ask(outreach.DRAFT_OUTREACH, outreach.Pitching(talent, tuple(brands), limit))

    async def predict_strategy(
        self,
        brand_name: str,
        category: str | None,
        history: list[DealFact],
        similar: list[DealFact],
        *,
        today: date,
    ) -> StrategyForecast:
        question = outreach.Strategy(brand_name, category, tuple(history), tuple(similar), today)
        return await self.ask(outreach.PREDICT_STRATEGY, question)

    async def score_creator_fit(self, brand: FitBrand, talents: list[FitTalent]) -> list[CreatorFit]:
        return await self.ask(outreach.SCORE_CREATOR_FIT, outreach.Fit(brand, tuple(talents)))

    async def build_bundle(
        self,
        brand_name: str,
        category: str | None,
        candidates: list[BundleCandidate],
        *,
        budget_minor: int,
        currency: str,
    ) -> Bundle:
        question = outreach.Bundling(brand_name, category, tuple(candidates), budget_minor, currency)
        return await self.ask(outreach.BUILD_BUNDLE, question)
