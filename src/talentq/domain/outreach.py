"""Outreach rules: which brands fit a talent and the pitch to them, a brand's likely spend,
creator fit and creator bundles.

Processors gather the database facts and pass them here as plain dataclasses; the rules answer
with templates and arithmetic, every answer carrying the reasons behind it."""

from __future__ import annotations

import calendar
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from statistics import median_low
from typing import Final

from talentq.domain.money import format_minor, minor_units

# --- shared rules ------------------------------------------------------------------------------

#: Niches that sell a category without being it: a skincare creator fits a beauty brand.
RELATED_NICHES: Final[dict[str, frozenset[str]]] = {
    "beauty": frozenset({"skincare", "fashion", "makeup"}),
    "fashion": frozenset({"beauty", "lifestyle", "style"}),
    "fitness": frozenset({"wellness", "dance", "sports", "running"}),
    "food": frozenset({"cooking", "lifestyle", "travel"}),
    "tech": frozenset({"gaming", "education", "productivity"}),
    "gaming": frozenset({"tech"}),
    "travel": frozenset({"lifestyle", "outdoors", "food"}),
    "home": frozenset({"diy", "lifestyle"}),
    "outdoors": frozenset({"cycling", "travel", "fitness"}),
    "productivity": frozenset({"education", "tech"}),
}
#: Audience sizes scored on a log scale between these two (0 below, 1 above).
AUDIENCE_FLOOR: Final = 10_000
AUDIENCE_TOP: Final = 5_000_000


def niche_affinity(category: str | None, niches: Sequence[str]) -> tuple[float, str]:
    """1.0 when a niche is the category, 0.5 when a niche is related to it, else 0; with the reason."""
    if not category:
        return 0.0, "no brand category to match niches against"
    wanted = category.strip().lower()
    own = [n.strip().lower() for n in niches]
    if wanted in own:
        return 1.0, f"niche {wanted!r} is the brand's category"
    related = sorted(set(own) & RELATED_NICHES.get(wanted, frozenset()))
    if related:
        return 0.5, f"niche {related[0]!r} is related to the brand's category {wanted!r}"
    return 0.0, f"no niche ({', '.join(own) or 'none'}) matches the brand's category {wanted!r}"


def audience_scale(audience: int) -> float:
    """0..1 on a log scale: 10k followers is 0, 5M is 1; ten times the audience is not ten times the fit."""
    if audience <= AUDIENCE_FLOOR:
        return 0.0
    span = math.log10(AUDIENCE_TOP) - math.log10(AUDIENCE_FLOOR)
    return min(1.0, (math.log10(audience) - math.log10(AUDIENCE_FLOOR)) / span)


# --- who may be pitched: the agency's rules of restraint --------------------------------------

#: A brand any of the agency's talents pitched (drafted or sent), or that replied, this recently is
#: not pitched again: one brand must not hear from several of the agency's talents in one week.
AGENCY_RECENT: Final = timedelta(days=30)
#: A pending pitch holds its brand (no other talent of the agency pitches it) only while it can go
#: out: its talent is active with a daily cap above 0, and it was drafted this recently. Past that it
#: is stuck (its sends failed and rotation found no other talent), and a pitch that can never be sent
#: (talent paused, cap 0) must not keep the brand from the whole agency forever. Drafts younger than
#: AGENCY_RECENT hold their brand anyway, whatever their state.
OPEN_PITCH_HOLDS_FOR: Final = timedelta(days=60)
#: A brand this talent pitched this recently is not pitched by them again ("not twice a quarter").
TALENT_RECENT: Final = timedelta(days=90)


# --- draft_outreach ----------------------------------------------------------------------------


@dataclass(frozen=True)
class OutreachTalent:
    """The talent a pitch is written for."""

    id: int
    name: str
    handle: str
    niches: list[str]
    audience_size: int
    manager_name: str


@dataclass(frozen=True)
class OutreachBrand:
    """A brand the talent may pitch: one not contacted lately and without an open deal with them."""

    id: int
    name: str
    category: str | None
    #: This talent's past deals with the brand (not lost), and how many of those were won.
    deals_with_talent: int = 0
    wins_with_talent: int = 0
    #: This talent's deals (not lost) with other brands of the brand's category.
    category_deals: int = 0
    #: Median audience of the creators the brand has done deals with, if any.
    typical_audience: int | None = None


@dataclass(frozen=True)
class OutreachDraft:
    brand_id: int
    subject: str
    message: str
    score: float
    reasons: list[str]


#: A brand scoring below this is not pitched: no niche relation and no history with it.
MIN_OUTREACH_SCORE: Final = 0.3


def outreach_fit(talent: OutreachTalent, brand: OutreachBrand) -> tuple[float, list[str]]:
    """score = 0.5 * niche affinity + 0.3 * history + 0.2 * audience match, each 0..1.

    history: 1.0 for a brand the talent has won a deal with, 0.6 for one they dealt with,
    else 0.25 per deal with the brand's category (at most 0.5). audience match: the smaller
    of the talent's audience and the brand's typical creator audience over the larger
    (0.5, neutral, when the brand has no deals yet).
    """
    niche, niche_reason = niche_affinity(brand.category, talent.niches)
    reasons = [niche_reason]
    if brand.wins_with_talent:
        history = 1.0
        reasons.append(f"won {brand.wins_with_talent} deal(s) with {brand.name} before")
    elif brand.deals_with_talent:
        history = 0.6
        reasons.append(f"{brand.deals_with_talent} earlier deal(s) with {brand.name}")
    else:
        history = min(0.5, 0.25 * brand.category_deals)
        if brand.category_deals:
            reasons.append(f"{brand.category_deals} deal(s) with other {brand.category} brands")
    if brand.typical_audience:
        small, large = sorted((max(talent.audience_size, 1), brand.typical_audience))
        audience = small / large
        reasons.append(
            f"audience {talent.audience_size:,} vs the brand's typical creator {brand.typical_audience:,}"
        )
    else:
        audience = 0.5
    score = round(0.5 * niche + 0.3 * history + 0.2 * audience, 3)
    return score, reasons


def draft_outreach(
    talent: OutreachTalent, brands: Sequence[OutreachBrand], *, limit: int
) -> list[OutreachDraft]:
    """Pitches to the ``limit`` best-fitting brands (score >= MIN_OUTREACH_SCORE), best first."""
    scored = sorted(
        ((outreach_fit(talent, brand), brand) for brand in brands),
        key=lambda item: (-item[0][0], item[1].name.lower(), item[1].id),
    )
    drafts = []
    for (score, reasons), brand in scored[: max(limit, 0)]:
        if score < MIN_OUTREACH_SCORE:
            break
        subject, message = _pitch(talent, brand)
        drafts.append(OutreachDraft(brand.id, subject, message, score, [f"fit {score:.2f}", *reasons]))
    return drafts


def _pitch(talent: OutreachTalent, brand: OutreachBrand) -> tuple[str, str]:
    first = talent.name.split()[0]
    niches = ", ".join(talent.niches) or "lifestyle"
    niche, _ = niche_affinity(brand.category, talent.niches)
    if brand.wins_with_talent:
        hook = f"After our last collaboration with {brand.name}, {first} would love to work with you again."
    elif brand.deals_with_talent:
        hook = f"{first} has worked with {brand.name} before and would love to pick that up again."
    elif niche == 1.0:
        hook = f"{first}'s {brand.category} content is a natural home for {brand.name}."
    elif niche > 0:
        hook = f"{first}'s {niches} audience overlaps closely with {brand.name}'s {brand.category} customers."
    else:
        hook = f"{first} has partnered with {brand.category_deals} {brand.category} brands already."
    subject = f"{talent.name} x {brand.name}: partnership idea"
    message = (
        f"Hi {brand.name} team,\n\n"
        f"I manage {talent.name} (@{talent.handle}), a {niches} creator with an audience of "
        f"{talent.audience_size:,}. {hook}\n\n"
        "Would you be open to a short call about a partnership this quarter? "
        "I'm happy to share rates and recent results.\n\n"
        f"Best,\n{talent.manager_name}"
    )
    return subject[:300], message


# --- predict_strategy --------------------------------------------------------------------------


@dataclass(frozen=True)
class DealFact:
    """One of the agency's deals as the strategy rules see it."""

    brand_name: str
    category: str | None
    stage: str
    fee_minor: int | None
    currency: str
    #: When the campaign started (or, without a start date, when the deal was made).
    started_on: date


@dataclass(frozen=True)
class StrategyForecast:
    predicted_spend_minor: int | None
    currency: str
    category: str | None
    timing: str | None
    confidence: float
    reasons: list[str]


#: What a brand with no history anywhere in the agency is assumed to spend: USD 3,000.
DEFAULT_SPEND_MINOR: Final = 300_000
DEFAULT_CURRENCY: Final = "USD"


def predict_strategy(
    brand_name: str,
    category: str | None,
    history: Sequence[DealFact],
    similar: Sequence[DealFact],
    *,
    today: date,
) -> StrategyForecast:
    """Spend and timing from the brand's own deals, else similar brands', else a default.

    category: the brand's, as given (its own deals carry the same one, so they cannot tell more).
    spend: the median fee (lower middle) of the deals in their most frequent currency;
    currencies are never mixed. timing: the month most of those deals started in, as its
    next occurrence. confidence: 0.5 + 0.1 per own deal (at most 0.9); from similar brands
    0.2 + 0.05 per deal (at most 0.5; at most 0.3 when the category is unknown, as the
    "similar" deals are then the whole agency's); 0.1 for the default.
    """
    own = [d for d in history if d.fee_minor is not None]
    peers = [d for d in similar if d.fee_minor is not None]
    if own:
        currency, spend, reason = _median_spend(own, f"{brand_name}'s own deals")
        confidence = min(0.9, 0.5 + 0.1 * len(own))
        timed = history
    elif peers:
        where = f"deals with other {category} brands" if category else "the agency's deals (category unknown)"
        currency, spend, reason = _median_spend(peers, where)
        confidence = min(0.5 if category else 0.3, 0.2 + 0.05 * len(peers))
        timed = similar
    else:
        currency, spend = DEFAULT_CURRENCY, DEFAULT_SPEND_MINOR
        reason = f"no deals to learn from: the default {format_minor(spend, currency)}"
        confidence, timed = 0.1, []
    timing, timing_reason = _timing(timed, today)
    reasons = [reason, timing_reason]
    if category:
        reasons.append(f"category {category!r}")
    return StrategyForecast(spend, currency, category, timing, round(confidence, 2), reasons)


def _median_spend(deals: Sequence[DealFact], where: str) -> tuple[str, int, str]:
    by_currency = Counter(d.currency for d in deals)
    latest = max(deals, key=lambda d: d.started_on).currency
    # The most frequent currency; a tie goes to the one of the latest deal.
    currency = max(by_currency, key=lambda c: (by_currency[c], c == latest, c))
    fees = sorted(d.fee_minor for d in deals if d.currency == currency and d.fee_minor is not None)
    spend = int(median_low(fees))
    others = len(deals) - len(fees)
    reason = f"median of {len(fees)} {currency} fee(s) in {where}: {format_minor(spend, currency)}"
    if others:
        reason += f" ({others} deal(s) in other currencies not mixed in)"
    return currency, spend, reason


def _timing(deals: Sequence[DealFact], today: date) -> tuple[str | None, str]:
    if not deals:
        return None, "no past deals to read a season from"
    counts = Counter(d.started_on.month for d in deals)
    # The most frequent month; a tie goes to the one that comes round soonest.
    month = min(counts, key=lambda m: (-counts[m], (m - today.month) % 12))
    year = today.year + (1 if month < today.month else 0)
    name = calendar.month_name[month]
    return f"{name} {year}", f"{counts[month]} of {len(deals)} deal(s) started in {name}"


# --- score_creator_fit -------------------------------------------------------------------------


@dataclass(frozen=True)
class FitBrand:
    """A brand prediction as creator-fit scores against it."""

    name: str
    category: str | None
    predicted_spend_minor: int | None = None
    currency: str | None = None


@dataclass(frozen=True)
class FitTalent:
    id: int
    name: str
    niches: list[str]
    audience_size: int
    #: Deals (not lost) with the brand, and how many of those were won (contracted or delivered).
    brand_deals: int = 0
    brand_wins: int = 0
    #: Deals (not lost) with other brands of the brand's category.
    category_deals: int = 0
    #: Deliverables not yet approved that fall due in the next ``AVAILABILITY_DAYS``.
    due_soon: int = 0


@dataclass(frozen=True)
class CreatorFit:
    talent_id: int
    score: float
    reasons: list[str]


#: How far ahead creator-fit looks for deliverables that keep a talent busy.
AVAILABILITY_DAYS: Final = 21


def score_creator_fit(brand: FitBrand, talents: Sequence[FitTalent]) -> list[CreatorFit]:
    """score = 0.4 * niche + 0.2 * audience + 0.25 * history + 0.15 * availability, each 0..1.

    niche: ``niche_affinity``; audience: ``audience_scale``; history: 1.0 after a won deal
    with the brand, 0.7 after any deal with it, else 0.2 per deal in its category (at most
    0.6); availability: 1 - 0.2 per deliverable due in the next three weeks (at least 0.2).
    """
    fits = []
    for talent in talents:
        niche, niche_reason = niche_affinity(brand.category, talent.niches)
        audience = audience_scale(talent.audience_size)
        if talent.brand_wins:
            history, history_reason = 1.0, f"won {talent.brand_wins} deal(s) with {brand.name}"
        elif talent.brand_deals:
            history, history_reason = 0.7, f"{talent.brand_deals} deal(s) with {brand.name}"
        elif talent.category_deals:
            history = min(0.6, 0.2 * talent.category_deals)
            history_reason = f"{talent.category_deals} deal(s) with {brand.category} brands"
        else:
            history, history_reason = 0.0, f"no deals with {brand.name} or its category yet"
        availability = max(0.2, 1.0 - 0.2 * talent.due_soon)
        score = round(0.4 * niche + 0.2 * audience + 0.25 * history + 0.15 * availability, 3)
        reasons = [
            f"{niche_reason} ({niche:.1f})",
            f"audience {talent.audience_size:,} ({audience:.2f})",
            f"{history_reason} ({history:.1f})",
            f"{talent.due_soon} deliverable(s) due in the next {AVAILABILITY_DAYS} days ({availability:.1f})",
        ]
        fits.append(CreatorFit(talent.id, score, reasons))
    return fits


# --- build_bundle ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BundleCandidate:
    talent_id: int
    name: str
    niches: list[str]
    #: Platforms the talent has delivered on (from past deliverables).
    platforms: list[str]
    audience_size: int
    #: What the talent is expected to cost, in the budget's currency, and how that was estimated.
    fee_minor: int
    fee_basis: str
    #: The best stored creator-fit score for the brand, when creator-fit has scored the talent.
    fit: float | None = None


@dataclass(frozen=True)
class Bundle:
    talent_ids: list[int]
    total_minor: int
    rationale: list[str] = field(default_factory=list)


#: A bundle has at most this many creators; a candidate ranked below MIN_BUNDLE_FIT is left out.
MAX_BUNDLE: Final = 4
MIN_BUNDLE_FIT: Final = 0.3
#: What a creator without past fees in the budget's currency is assumed to cost:
#: 10 major units of that currency per 1,000 followers.
CPM_MAJOR: Final = 10


def estimated_fee(audience_size: int, currency: str) -> int:
    """A creator's expected fee from their audience: CPM_MAJOR per 1,000 followers, in minor units."""
    scale: int = 10 ** minor_units(currency)
    return audience_size * CPM_MAJOR * scale // 1000


def bundle_rank(category: str | None, candidate: BundleCandidate) -> float:
    """The stored fit score, else 0.7 * niche affinity + 0.3 * audience scale."""
    if candidate.fit is not None:
        return candidate.fit
    niche, _ = niche_affinity(category, candidate.niches)
    return round(0.7 * niche + 0.3 * audience_scale(candidate.audience_size), 3)


def build_bundle(
    brand_name: str,
    category: str | None,
    candidates: Sequence[BundleCandidate],
    *,
    budget_minor: int,
    currency: str,
) -> Bundle:
    """Greedy by rank: take a creator who fits the remaining budget and brings a new niche or platform.

    Complementary means each creator after the first adds a niche or a platform the bundle
    does not cover yet; at most MAX_BUNDLE creators; the total never exceeds the budget.
    """
    ranked = sorted(candidates, key=lambda c: (-bundle_rank(category, c), c.fee_minor, c.talent_id))
    chosen: list[BundleCandidate] = []
    niches: set[str] = set()
    platforms: set[str] = set()
    remaining = budget_minor
    rationale = [f"budget {format_minor(budget_minor, currency)} for {brand_name}"]
    for candidate in ranked:
        if len(chosen) == MAX_BUNDLE:
            break
        rank = bundle_rank(category, candidate)
        if rank < MIN_BUNDLE_FIT:
            break  # ranked: everyone after fits even less
        if candidate.fee_minor > remaining:
            rationale.append(
                f"{candidate.name}: {format_minor(candidate.fee_minor, currency)} is over the "
                f"{format_minor(remaining, currency)} left"
            )
            continue
        new_niches = {n.lower() for n in candidate.niches} - niches
        new_platforms = {p.lower() for p in candidate.platforms} - platforms
        if chosen and not new_niches and not new_platforms:
            rationale.append(f"{candidate.name}: adds no niche or platform the bundle lacks")
            continue
        chosen.append(candidate)
        niches |= new_niches
        platforms |= new_platforms
        remaining -= candidate.fee_minor
        brings = ", ".join(sorted(new_niches | new_platforms)) or "the first pick"
        rationale.append(
            f"{candidate.name}: fit {rank:.2f}, {format_minor(candidate.fee_minor, currency)} "
            f"({candidate.fee_basis}), brings {brings}"
        )
    total = budget_minor - remaining
    if chosen:
        rationale.append(f"total {format_minor(total, currency)} of {format_minor(budget_minor, currency)}")
    else:
        rationale.append("no creator fits the brand within the budget")
    return Bundle([c.talent_id for c in chosen], total, rationale)
