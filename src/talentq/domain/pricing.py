"""Deal pricing and negotiation rules: the rate card, negotiation insights from comparable deals,
and the replies of a negotiation thread.

Templates and integer arithmetic over plain facts the processors gather (comparable deals, the
thread), each answer carrying the reasons behind it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from statistics import median
from typing import Any, Final, Literal

from pydantic import BaseModel, Field

from talentq.domain import Refused
from talentq.domain.money import format_minor, minor_units
from talentq.domain.vocabulary import ContentLine, describe_content, platform_label

#: Market rates are quoted per unit of content per this many followers.
AUDIENCE_UNIT: Final = 100_000
#: Fewer comparable deals than this showing a platform, and the rate card prices it instead.
MIN_COMPARABLES: Final = 3
#: The fallback rate card: USD per unit per 100k audience (mid-market list prices for creator
#: content; a YouTube integration takes a day of work, a story minutes). Also the weights that
#: split a comparable deal's fee across its mixed deliverables.
RATE_CARD_USD: Final[dict[str, Decimal]] = {
    "tiktok": Decimal(400),
    "instagram_post": Decimal(450),
    "instagram_reel": Decimal(500),
    "instagram_story": Decimal(150),
    "youtube_video": Decimal(1500),
    "youtube_short": Decimal(300),
    "twitch_stream": Decimal(800),
    "blog_post": Decimal(250),
    "podcast": Decimal(600),
    "x_post": Decimal(200),
    "threads_post": Decimal(200),
    "pinterest_pin": Decimal(150),
    "linkedin_post": Decimal(350),
}
#: The currencies the rate card is published in, at its fixed list-price parities. A deal in
#: any other currency is priced from comparable deals only: no exchange rates are guessed.
RATE_CARD_PARITY: Final[dict[str, Decimal]] = {
    "USD": Decimal("1.00"),
    "EUR": Decimal("0.92"),
    "GBP": Decimal("0.79"),
    "CAD": Decimal("1.36"),
    "AUD": Decimal("1.52"),
}
#: The first counter-offer anchors this far above market; the floor sits this far below it.
COUNTER_MARKUP: Final = Decimal("1.10")
FLOOR_SHARE: Final = Decimal("0.85")
#: Fees proposed to a brand are rounded up to this many major units (USD 8,570, not 8,563.42).
ROUND_TO_MAJOR: Final = 10
#: After this many counters of ours, an offer that clears the floor is accepted.
MAX_COUNTERS: Final = 2


def _round_up(value: Decimal, step: int) -> int:
    """``value`` rounded up to a multiple of ``step``."""
    return int((value / step).to_integral_value(rounding=ROUND_CEILING)) * step


def _whole(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_HALF_UP))


def fee_step(currency: str) -> int:
    """Minor units in ``ROUND_TO_MAJOR`` major units of ``currency`` (1000 for USD, 10 for JPY)."""
    return int(ROUND_TO_MAJOR * 10 ** minor_units(currency))


def _percent(part: int, whole: int) -> str:
    return f"{_whole(Decimal(part) * 100 / whole)}%" if whole else "n/a"


# --- negotiation insights ---------------------------------------------------------------------


#: What ``negotiation_insights`` prices against.
Comparables = Sequence["ComparableDeal"]


class NoMarketRate(Refused):
    """Neither comparable deals nor the rate card price some of the deal's content."""


@dataclass(frozen=True)
class PricingFacts:
    """The draft deal to price: its offer, its talent's audience, its content."""

    deal_id: int
    currency: str
    fee_minor: int | None
    audience: int
    content: tuple[ContentLine, ...]


@dataclass(frozen=True)
class ComparableDeal:
    """A past contracted or delivered deal of the agency: what it paid for what, for how big an audience."""

    deal_id: int
    currency: str
    fee_minor: int
    audience: int
    content: tuple[ContentLine, ...]


@dataclass(frozen=True)
class PlatformRate:
    platform: str
    count: int
    #: Minor units per unit of content per ``AUDIENCE_UNIT`` followers.
    rate_per_100k_minor: int
    source: Literal["deals", "rate_card"]
    #: How many comparable deals showed this platform.
    observations: int


@dataclass(frozen=True)
class NegotiationInsights:
    currency: str
    audience: int
    offer_minor: int | None
    market_rate_minor: int
    counter_offer_minor: int
    floor_minor: int
    recommendation: Literal["accept", "counter"]
    platforms: list[PlatformRate] = field(default_factory=list)
    comparable_deal_ids: list[int] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    #: How the numbers were reached, for whoever reads them on the deal.
    method: str = ""

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class StoredInsights(BaseModel):
    """The parts of a deal's stored ``insights["negotiation"]`` that a negotiation step relies on."""

    currency: str
    market_rate_minor: int = Field(gt=0)
    counter_offer_minor: int = Field(gt=0)
    floor_minor: int = Field(gt=0)


METHOD: Final = (
    f"market rate = for each deliverable, a rate per unit per {AUDIENCE_UNIT:,} audience times the "
    "units times the talent's audience; the rate is the median over the agency's contracted and "
    "delivered deals in the same currency (each deal's fee split across its deliverables by "
    f"rate-card weights), or the rate card when fewer than {MIN_COMPARABLES} such deals show the "
    f"platform; counter-offer = market + {_whole((COUNTER_MARKUP - 1) * 100)}% (or the offer, when "
    f"higher); floor = the higher of {_whole(FLOOR_SHARE * 100)}% of market and the offer"
)


def _observed_rates(
    currency: str, comparables: Sequence[ComparableDeal]
) -> dict[str, list[tuple[int, Decimal]]]:
    """Platform -> [(deal id, minor units per unit per 100k audience)] from the comparable deals."""
    observed: dict[str, list[tuple[int, Decimal]]] = {}
    for deal in comparables:
        if deal.currency != currency or deal.fee_minor <= 0 or deal.audience <= 0 or not deal.content:
            continue  # never mix currencies; a deal without fee, audience or content says nothing
        weight = sum(RATE_CARD_USD[line.platform] * line.count for line in deal.content)
        for line in deal.content:
            per_unit = Decimal(deal.fee_minor) * RATE_CARD_USD[line.platform] / weight
            observed.setdefault(line.platform, []).append(
                (deal.deal_id, per_unit * AUDIENCE_UNIT / deal.audience)
            )
    return observed


def negotiation_insights(deal: PricingFacts, comparables: Sequence[ComparableDeal]) -> NegotiationInsights:
    """Market rate, counter-offer and floor for ``deal``; ``NoMarketRate`` if its content has no price."""
    if deal.audience <= 0 or not deal.content:
        raise ValueError(f"deal {deal.deal_id}: pricing needs an audience and content")
    currency = deal.currency
    observed = _observed_rates(currency, comparables)
    reach = Decimal(deal.audience) / AUDIENCE_UNIT
    reasons = [f"audience {deal.audience:,} = {reach.normalize():f} x {AUDIENCE_UNIT:,}"]
    rates: list[PlatformRate] = []
    used: set[int] = set()
    market = Decimal(0)
    for line in deal.content:
        seen = observed.get(line.platform, [])
        label = platform_label(line.platform)
        if len(seen) >= MIN_COMPARABLES:
            rate = Decimal(median(value for _, value in seen))
            used.update(deal_id for deal_id, _ in seen)
            source: Literal["deals", "rate_card"] = "deals"
            why = f"median of {len(seen)} comparable {currency} deals"
        elif currency in RATE_CARD_PARITY:
            rate = RATE_CARD_USD[line.platform] * RATE_CARD_PARITY[currency] * 10 ** minor_units(currency)
            source = "rate_card"
            why = f"rate card: {len(seen)} comparable {currency} deal(s) show it, {MIN_COMPARABLES} needed"
        else:
            raise NoMarketRate(
                f"deal {deal.deal_id}: cannot price {label} in {currency}: "
                f"{len(seen)} comparable {currency} deal(s) show it "
                f"({MIN_COMPARABLES} needed) and the rate card is only in {', '.join(RATE_CARD_PARITY)}"
            )
        price = rate * line.count * reach
        market += price
        rates.append(PlatformRate(line.platform, line.count, _whole(rate), source, len(seen)))
        reasons.append(
            f"{label}: {format_minor(_whole(rate), currency)} per unit per {AUDIENCE_UNIT:,} ({why}); "
            f"x{line.count} = {format_minor(_whole(price), currency)}"
        )
    market_minor = _whole(market)
    step = fee_step(currency)
    reasons.append(f"market rate {format_minor(market_minor, currency)} for {describe_content(deal.content)}")
    anchor = _round_up(market * COUNTER_MARKUP, step)
    floor = _round_up(market * FLOOR_SHARE, step)
    offer = deal.fee_minor
    recommendation: Literal["accept", "counter"]
    if offer is None:
        reasons.append("the brand named no fee: we quote first")
        counter, recommendation = anchor, "counter"
    else:
        reasons.append(
            f"the offer {format_minor(offer, currency)} is {_percent(offer, market_minor)} of market"
        )
        floor = max(floor, offer)  # never settle below what the brand already offered
        if offer >= anchor:
            counter, recommendation = offer, "accept"
        else:
            counter, recommendation = anchor, "counter"
    if recommendation == "accept":
        reasons.append(f"accept: the offer is at least market + {_whole((COUNTER_MARKUP - 1) * 100)}%")
    else:
        reasons.append(
            f"counter at {format_minor(counter, currency)}: market + {_whole((COUNTER_MARKUP - 1) * 100)}%, "
            f"rounded up to {format_minor(step, currency)}"
        )
    reasons.append(
        f"floor {format_minor(floor, currency)}: the higher of {_whole(FLOOR_SHARE * 100)}% of market "
        "and the brand's offer"
    )
    return NegotiationInsights(
        currency=currency,
        audience=deal.audience,
        offer_minor=offer,
        market_rate_minor=market_minor,
        counter_offer_minor=counter,
        floor_minor=floor,
        recommendation=recommendation,
        platforms=rates,
        comparable_deal_ids=sorted(used),
        reasons=reasons,
        method=METHOD,
    )


# --- negotiation replies ----------------------------------------------------------------------


@dataclass(frozen=True)
class ThreadMessage:
    sender: Literal["brand", "agency"]
    body: str
    #: The fee the message names, when it names one in the deal's currency.
    fee_minor: int | None = None


@dataclass(frozen=True)
class NegotiationFacts:
    session_id: int
    talent_name: str
    #: Empty when the deal's brand is unknown.
    brand_name: str
    manager_name: str
    currency: str
    audience: int
    content: tuple[ContentLine, ...]
    market_rate_minor: int
    counter_offer_minor: int
    floor_minor: int
    #: The brand's latest offer: its last message's fee, else the deal's fee.
    brand_offer_minor: int | None
    thread: tuple[ThreadMessage, ...] = ()


@dataclass(frozen=True)
class NegotiationReply:
    action: Literal["accept", "counter"]
    fee_minor: int
    message: str
    reasons: list[str] = field(default_factory=list)


def draft_negotiation_reply(facts: NegotiationFacts) -> NegotiationReply:
    """The agency's next message: accept, meet halfway or hold, never below the floor."""
    cur, floor, step = facts.currency, facts.floor_minor, fee_step(facts.currency)
    asks = [m.fee_minor for m in facts.thread if m.sender == "agency" and m.fee_minor is not None]
    ask = max(asks[-1] if asks else facts.counter_offer_minor, floor)
    rounds = sum(1 for m in facts.thread if m.sender == "agency")
    offer = facts.brand_offer_minor
    reasons = [
        f"floor {format_minor(floor, cur)}, our standing ask {format_minor(ask, cur)}, {rounds} message(s) "
        f"of ours so far, the brand's offer {'none' if offer is None else format_minor(offer, cur)}"
    ]
    action: Literal["accept", "counter"]
    waiting = bool(facts.thread) and facts.thread[-1].sender == "agency"
    if waiting:
        action, fee = "counter", ask
        reasons.append("the brand has not answered our last message: follow up on our standing ask")
    elif offer is not None and offer >= ask:
        action, fee = "accept", offer
        reasons.append("accept: the offer meets our ask")
    elif offer is not None and offer >= floor and rounds >= MAX_COUNTERS:
        action, fee = "accept", offer
        reasons.append(f"accept: {rounds} counters already, and the offer clears the floor")
    elif offer is not None and offer >= floor:
        action, fee = "counter", min(ask, max(floor, _round_up(Decimal(offer + ask) / 2, step)))
        reasons.append("counter: meet halfway between the offer and our ask")
    elif rounds == 0:
        action, fee = "counter", ask
        reasons.append("counter at the recommended counter-offer")
    else:
        action, fee = "counter", min(ask, max(floor, _round_up(Decimal(ask + floor) / 2, step)))
        reasons.append("counter: the offer is below the floor; concede half the way to the floor, no further")
    return NegotiationReply(action, fee, _reply_text(facts, action, fee, follow_up=waiting), reasons)


def _reply_text(facts: NegotiationFacts, action: str, fee: int, *, follow_up: bool) -> str:
    scope = describe_content(facts.content)
    price = format_minor(fee, facts.currency)
    if follow_up:
        middle = (
            f"Just following up on our proposal of {price} for {scope} with {facts.talent_name}. "
            "Let us know if you have any questions."
        )
    elif action == "accept":
        middle = (
            f"{facts.talent_name} is happy to go ahead at {price} for {scope}. "
            "We will send the contract over for your review."
        )
    else:
        offered = (
            f"your offer of {format_minor(facts.brand_offer_minor, facts.currency)}"
            if facts.brand_offer_minor is not None
            else "your interest"
        )
        middle = (
            f"Thank you for {offered}. With an audience of {facts.audience:,} and what comparable "
            f"campaigns pay for this scope (around {format_minor(facts.market_rate_minor, facts.currency)}), "
            f"we would propose {price} for {scope}."
        )
    greeting = f"Hi {facts.brand_name} team," if facts.brand_name else "Hi,"
    return f"{greeting}\n\n{middle}\n\nBest,\n{facts.manager_name}"
