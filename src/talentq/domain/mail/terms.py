"""What mail understanding answers: a message's category, and the terms of an offer.

Plain frozen dataclasses, shared by the rules engine, the AI provider's answers and the processors
that store them. Every answer lists the cues behind it (``reasons``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal

#: How an offer states its fee: one total, a range, no cash at all, or not at all (or with no
#: currency, which is never guessed).
FeeKind = Literal["exact", "range", "none", "unstated"]
#: Why an offer pays no cash.
NoFeeWhy = Literal["gifted", "product_only", "commission_only"]


@dataclass(frozen=True)
class Classification:
    category: str
    confidence: float
    reasons: list[str]


@dataclass(frozen=True)
class Fee:
    """The fee an offer makes now, for what it asks, in minor units of ``currency``."""

    kind: FeeKind
    currency: str | None = None
    minor: int | None = None  # kind "exact"
    min_minor: int | None = None  # kind "range"
    max_minor: int | None = None  # kind "range"
    why: NoFeeWhy | None = None  # kind "none"
    #: The words the fee was read from, as written ("$800 per post, 3 posts", "zwischen 2.000 und 3.000 €").
    text: str = ""


UNSTATED = Fee("unstated")


@dataclass(frozen=True)
class Deliverable:
    platform: str  # one of talentq.domain.vocabulary.PLATFORMS
    count: int
    optional: bool = False


@dataclass(frozen=True)
class DealTerms:
    fee: Fee = UNSTATED
    deliverables: list[Deliverable] = field(default_factory=list)
    brand: str | None = None
    talent: str | None = None
    reasons: list[str] = field(default_factory=list)
    #: The campaign window the offer names (the first and last day), when it names one.
    starts_on: date | None = None
    ends_on: date | None = None

    @property
    def fee_minor(self) -> int | None:
        """The exact fee in minor units; None for a range, no cash fee, or none stated."""
        return self.fee.minor if self.fee.kind == "exact" else None

    @property
    def currency(self) -> str | None:
        return self.fee.currency
