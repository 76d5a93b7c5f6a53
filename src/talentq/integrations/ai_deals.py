"""Deal and contract rules for the AI provider: negotiation insights and replies, contract drafts and reviews.

The deterministic side of four provider methods: templates and integer arithmetic over
plain facts the processors gather from the database (comparable deals, the negotiation
thread, the agreed terms), each answer carrying the reasons behind it. Also the pydantic
answers, prompts and request builders of their OpenAI-compatible versions, and the tables
both share (platforms, the fallback rate card, default usage and payment terms).
``talentq.integrations.ai`` imports this module, never the reverse.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from statistics import median
from typing import Any, Final, Literal, Protocol

from pydantic import BaseModel, Field, model_validator

from talentq.money import format_minor, minor_units, split_minor

# --- shared tables --------------------------------------------------------------------------

#: Content platforms, named as deal-extraction names them in ``deals.deliverables``.
PLATFORMS: Final = (
    "tiktok", "instagram_post", "instagram_reel", "instagram_story", "youtube_video",
    "youtube_short", "twitch_stream", "blog_post", "podcast",
)  # fmt: skip
Platform = Literal[
    "tiktok", "instagram_post", "instagram_reel", "instagram_story", "youtube_video",
    "youtube_short", "twitch_stream", "blog_post", "podcast",
]  # fmt: skip
#: (singular, plural): written so that deal-extraction's rules read them back ("2 TikToks").
_LABELS: Final = {
    "tiktok": ("TikTok", "TikToks"),
    "instagram_post": ("Instagram post", "Instagram posts"),
    "instagram_reel": ("Instagram reel", "Instagram reels"),
    "instagram_story": ("Instagram story", "Instagram stories"),
    "youtube_video": ("YouTube video", "YouTube videos"),
    "youtube_short": ("YouTube Short", "YouTube Shorts"),
    "twitch_stream": ("Twitch stream", "Twitch streams"),
    "blog_post": ("blog post", "blog posts"),
    "podcast": ("podcast spot", "podcast spots"),
}
#: Most units of one platform a deal may ask for; more is a typo or a different kind of deal.
MAX_UNITS: Final = 50

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


@dataclass(frozen=True)
class ContentLine:
    """``count`` units of content on ``platform`` ("2 TikToks")."""

    platform: str
    count: int

    def as_json(self) -> dict[str, Any]:
        return {"platform": self.platform, "count": self.count}


def parse_content(
    raw: object, *, field_name: str = "deliverables"
) -> tuple[tuple[ContentLine, ...], list[str]]:
    """Deliverables as ``[{"platform": "tiktok", "count": 2}]`` -> content lines, and every problem found.

    Lines of one platform are merged, keeping the order of first appearance.
    """
    if not isinstance(raw, list) or not raw:
        return (), [f"{field_name} must be a non-empty list of {{platform, count}}, got {raw!r}"]
    problems: list[str] = []
    counts: dict[str, int] = {}
    for index, item in enumerate(raw):
        where = f"{field_name}[{index}]"
        if not isinstance(item, dict):
            problems.append(f"{where} must be an object with platform and count, got {item!r}")
            continue
        platform, count = item.get("platform"), item.get("count")
        if platform not in PLATFORMS:
            close = difflib.get_close_matches(str(platform), PLATFORMS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f"; one of {', '.join(PLATFORMS)}"
            problems.append(f"{where}.platform {platform!r} is not a platform{hint}")
        # bool is an int to Python, not a count to anyone.
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_UNITS:
            problems.append(f"{where}.count must be an integer from 1 to {MAX_UNITS}, got {count!r}")
        if isinstance(platform, str) and platform in PLATFORMS and isinstance(count, int):
            counts[platform] = counts.get(platform, 0) + count
    if problems:
        return (), problems
    return tuple(ContentLine(p, n) for p, n in counts.items()), []


def describe_content(content: Sequence[ContentLine]) -> str:
    """ "2 TikToks and 1 Instagram story"."""
    parts = [f"{line.count} {platform_label(line.platform, line.count)}" for line in content]
    if len(parts) <= 1:
        return "".join(parts) or "no content"
    return f"{', '.join(parts[:-1])} and {parts[-1]}"


def platform_label(platform: str, count: int = 1) -> str:
    """A platform's label: "TikTok", or "TikToks" for a count other than 1; an unknown one as named."""
    return _LABELS.get(platform, (platform, platform))[0 if count == 1 else 1]


def _round_up(value: Decimal, step: int) -> int:
    """``value`` rounded up to a multiple of ``step``."""
    return int((value / step).to_integral_value(rounding=ROUND_CEILING)) * step


def _whole(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_HALF_UP))


def fee_step(currency: str) -> int:
    """Minor units in ``ROUND_TO_MAJOR`` major units of ``currency`` (1000 for USD, 10 for JPY)."""
    return int(ROUND_TO_MAJOR * 10 ** minor_units(currency))


def from_hundredths(amount: int, currency: str) -> int:
    """An amount extraction read (as hundredths, whatever the currency) in ``currency``'s minor units."""
    return int(amount * 10 ** minor_units(currency) // 100)


def _percent(part: int, whole: int) -> str:
    return f"{_whole(Decimal(part) * 100 / whole)}%" if whole else "n/a"


# --- negotiation insights ---------------------------------------------------------------------


#: What ``negotiation_insights`` prices against.
Comparables = Sequence["ComparableDeal"]


class NoMarketRate(ValueError):
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
                f"cannot price {label} in {currency}: {len(seen)} comparable {currency} deal(s) show it "
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


# --- contracts --------------------------------------------------------------------------------


@dataclass(frozen=True)
class UsageRights:
    months: int
    paid_media: bool


@dataclass(frozen=True)
class PaymentTerms:
    deposit_percent: int
    net_days: int


#: What a contract says when the parties agreed nothing else (and what a draft asks to confirm).
DEFAULT_USAGE: Final = UsageRights(months=3, paid_media=False)
DEFAULT_PAYMENT: Final = PaymentTerms(deposit_percent=50, net_days=30)


@dataclass(frozen=True)
class ContractTerms:
    """Everything a contract states: the parties and the agreed terms."""

    contract_id: int
    deal_id: int
    brand_name: str
    talent_name: str
    talent_handle: str
    manager_name: str
    fee_minor: int
    currency: str
    content: tuple[ContentLine, ...]
    starts_on: date | None
    ends_on: date | None
    usage: UsageRights = DEFAULT_USAGE
    payment: PaymentTerms = DEFAULT_PAYMENT
    #: Terms taken from defaults rather than agreed: a draft lists them to confirm.
    assumptions: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["content"] = [line.as_json() for line in self.content]
        for key in ("starts_on", "ends_on"):
            data[key] = data[key] and data[key].isoformat()
        data["assumptions"] = list(self.assumptions)
        return data


@dataclass(frozen=True)
class Installment:
    number: int
    amount_minor: int
    #: When it is invoiced: on signing, or after the campaign ends.
    after: Literal["signing", "campaign_end"]


def payment_schedule(fee_minor: int, payment: PaymentTerms) -> list[Installment]:
    """The fee as invoices: a deposit on signing and the balance after the campaign, split exactly."""
    if payment.deposit_percent >= 100:
        return [Installment(1, fee_minor, "signing")]
    if payment.deposit_percent <= 0:
        return [Installment(1, fee_minor, "campaign_end")]
    deposit, balance = split_minor(fee_minor, [payment.deposit_percent, 100 - payment.deposit_percent])
    return [Installment(1, deposit, "signing"), Installment(2, balance, "campaign_end")]


def _day(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


def render_contract(terms: ContractTerms, *, final: bool) -> str:
    """The contract's text from its terms: the draft ai-contract proposes, the text finalisation fixes.

    Each deliverable's count and the fee are stated once, so the review rules read a
    rendered contract back as exactly its terms.
    """
    cur = terms.currency
    if terms.starts_on and terms.ends_on:
        window = f"The campaign runs from {_day(terms.starts_on)} to {_day(terms.ends_on)}."
    else:
        window = "The campaign dates are to be agreed in writing."
    usage = (
        f"Usage rights: the Brand may use the content on its own channels for {terms.usage.months} "
        "months from publication."
    )
    usage += (
        " Paid media usage (ads, whitelisting) is included for the same period."
        if terms.usage.paid_media
        else " Paid media usage (ads, whitelisting) is not included."
    )
    schedule = payment_schedule(terms.fee_minor, terms.payment)
    if len(schedule) == 2:
        deposit, balance = schedule
        payment = (
            f"A deposit of {terms.payment.deposit_percent}% ({format_minor(deposit.amount_minor, cur)}) is "
            f"invoiced on signing and the balance ({format_minor(balance.amount_minor, cur)}) after the "
            "campaign ends"
        )
    elif schedule[0].after == "signing":
        payment = "The amount is invoiced in full on signing"
    else:
        payment = "The amount is invoiced in full after the campaign ends"
    payment += f"; each invoice is payable net {terms.payment.net_days} days."
    lines = [
        ("" if final else "DRAFT - ") + "INFLUENCER MARKETING AGREEMENT",
        f"Contract {terms.contract_id}, deal {terms.deal_id}",
        "",
        "Parties",
        f'Brand: {terms.brand_name} ("the Brand").',
        f"Creator: {terms.talent_name} (@{terms.talent_handle}), represented by {terms.manager_name} "
        '("the Agency").',
        "",
        "1. Fee",
        f"The Brand shall pay the Creator a total fee of {format_minor(terms.fee_minor, cur)}, "
        "exclusive of taxes.",
        "",
        "2. Deliverables",
        f"The Creator shall publish {describe_content(terms.content)}.",
        window,
        "",
        "3. Usage",
        usage,
        "",
        "4. Payment terms",
        payment,
        "",
        "5. Disclosure",
        "Every post is disclosed as a paid partnership (#ad), as platform rules and the law require.",
    ]
    if not final and terms.assumptions:
        lines += ["", "To confirm before signing:", *(f"- {note}" for note in terms.assumptions)]
    lines += [
        "",
        "Signed for the Brand: ______________    Signed for the Creator (by the Agency): ______________",
    ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class ContractDraft:
    text: str
    reasons: list[str] = field(default_factory=list)


def draft_contract(terms: ContractTerms) -> ContractDraft:
    """A draft from the agreed terms: the contract template, its assumptions listed to confirm."""
    reasons = [
        f"fee {format_minor(terms.fee_minor, terms.currency)} and {describe_content(terms.content)} "
        f"from deal {terms.deal_id}",
        *terms.assumptions,
    ]
    return ContractDraft(render_contract(terms, final=False), reasons)


class ExtractedTerms(Protocol):
    """What deal-extraction's rules read from a text (``talentq.integrations.ai.DealTerms``)."""

    @property
    def fee_minor(self) -> int | None: ...

    @property
    def currency(self) -> str | None: ...

    @property
    def deliverables(self) -> list[dict[str, object]]: ...


REVIEWED_TERMS: Final = ("fee", "currency", "deliverables", "usage_rights", "payment_terms")


@dataclass(frozen=True)
class Mismatch:
    term: Literal["fee", "currency", "deliverables", "usage_rights", "payment_terms"]
    agreed: str
    found: str


@dataclass(frozen=True)
class ContractReview:
    mismatches: list[Mismatch]
    checked: list[str] = field(default_factory=lambda: list(REVIEWED_TERMS))
    reasons: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


_NUMBER_WORDS: Final = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "eighteen": 18, "twenty-four": 24,
}  # fmt: skip
_SENTENCES: Final = re.compile(r"(?<=[.!?;])\s+|\n+")
_USAGE: Final = re.compile(r"\b(usage|use|licen[cs]ed?|rights?|repurpos\w*)\b", re.I)
_DURATION: Final = re.compile(
    r"\b(\d{1,3}|" + "|".join(_NUMBER_WORDS) + r")\s*(?:\(\d{1,3}\)\s*)?(months?|years?)\b", re.I
)
_PERPETUAL: Final = re.compile(r"\bperpetu\w*|\bin perpetuity\b|\bunlimited (time|duration|period)\b", re.I)
_PAID: Final = re.compile(
    r"\bpaid (media|social|ads?|advertising|amplification)\b|\bwhitelist\w*|\bspark ads?\b", re.I
)
_NEGATION: Final = re.compile(r"\b(no|not|without|excluding|excludes?|excluded)\b", re.I)
_DEPOSIT: Final = re.compile(
    r"(\d{1,3})\s?%[^\n;]{0,80}?\b(?:on|upon|at)\s+(?:signing|signature|execution)", re.I
)
_IN_FULL_ON_SIGNING: Final = re.compile(r"\bin full (?:on|upon|at) (?:signing|signature|execution)", re.I)
_NET: Final = re.compile(r"\bnet[ -]?(\d{1,3})\b|\bwithin (\d{1,3}) days\b", re.I)


def _usage_found(draft: str) -> tuple[int | None, bool]:
    """(months of usage the draft grants, None if it names no duration (-1: perpetual); paid media?)"""
    months: int | None = None
    paid = False
    for sentence in _SENTENCES.split(draft):
        if not _USAGE.search(sentence):
            continue
        if months is None and _PERPETUAL.search(sentence):
            months = -1
        if months is None and (match := _DURATION.search(sentence)):
            raw = match.group(1).lower()
            number = int(raw) if raw.isdigit() else _NUMBER_WORDS[raw]
            months = number * (12 if match.group(2).lower().startswith("year") else 1)
        if _PAID.search(sentence) and not _NEGATION.search(sentence):
            paid = True
    return months, paid


def _payment_found(draft: str) -> tuple[int | None, int | None]:
    """(deposit percent on signing, payment days) the draft states, each None when it states none."""
    deposit: int | None = None
    if match := _DEPOSIT.search(draft):
        deposit = int(match.group(1))
    elif _IN_FULL_ON_SIGNING.search(draft):
        deposit = 100
    net = _NET.search(draft)
    return deposit, (int(net.group(1) or net.group(2)) if net else None)


def _major(amount_minor: int, currency: str) -> Decimal:
    """An amount in major units of its currency (8570.00 for USD 857,000 minor)."""
    return Decimal(amount_minor).scaleb(-minor_units(currency))


def _months(months: int | None) -> str:
    if months is None:
        return "not stated"
    return "in perpetuity" if months < 0 else f"{months} months"


def review_contract(draft: str, terms: ContractTerms, found: ExtractedTerms) -> ContractReview:
    """Each agreed term the brand's draft gets wrong or omits; ``found`` is extraction's reading of it."""
    cur = terms.currency
    mismatches: list[Mismatch] = []
    agreed_fee = format_minor(terms.fee_minor, cur)
    # The amount the draft names and its currency are one reading: an amount is scaled to
    # minor units by its own currency (JPY has none, USD two), never by the agreed one.
    found_cur = found.currency or cur
    found_fee = None if found.fee_minor is None else from_hundredths(found.fee_minor, found_cur)
    stated_verbatim = agreed_fee.split(" ", 1)[1] in draft
    if found_cur != cur:
        mismatches.append(Mismatch("currency", cur, found_cur))
    if found_fee is None and not stated_verbatim:
        mismatches.append(Mismatch("fee", agreed_fee, "not stated"))
    elif found_fee is not None and _major(found_fee, found_cur) != _major(terms.fee_minor, cur):
        # Across currencies the amounts are compared as written: "EUR 8,570" for "USD 8,570" is
        # the currency finding alone; "EUR 7,500" is a wrong amount as well.
        mismatches.append(Mismatch("fee", agreed_fee, format_minor(found_fee, found_cur)))

    agreed_content = {line.platform: line.count for line in terms.content}
    found_content: dict[str, int] = {}
    for item in found.deliverables:
        platform, count = str(item.get("platform")), item.get("count")
        if isinstance(count, int):
            found_content[platform] = found_content.get(platform, 0) + count
    for platform in [*agreed_content, *(p for p in found_content if p not in agreed_content)]:
        want, got = agreed_content.get(platform, 0), found_content.get(platform, 0)
        if want != got:
            label = platform_label(platform, count=2)
            mismatches.append(Mismatch("deliverables", f"{want} {label}", f"{got} {label}"))

    months, paid = _usage_found(draft)
    agreed_usage = (
        f"{terms.usage.months} months, paid media {'included' if terms.usage.paid_media else 'excluded'}"
    )
    if months != terms.usage.months or paid != terms.usage.paid_media:
        mismatches.append(
            Mismatch(
                "usage_rights",
                agreed_usage,
                f"{_months(months)}, paid media {'included' if paid else 'excluded'}",
            )
        )

    deposit, net = _payment_found(draft)
    if (deposit or 0) != terms.payment.deposit_percent or net != terms.payment.net_days:
        mismatches.append(
            Mismatch(
                "payment_terms",
                f"{terms.payment.deposit_percent}% on signing, net {terms.payment.net_days} days",
                f"{'no deposit' if deposit is None else f'{deposit}% on signing'}, "
                f"{'no payment days' if net is None else f'net {net} days'}",
            )
        )
    reasons = [f"checked {', '.join(REVIEWED_TERMS)} against contract {terms.contract_id}'s agreed terms"]
    reasons += [f"{m.term}: agreed {m.agreed}, the draft says {m.found}" for m in mismatches]
    if not mismatches:
        reasons.append("the draft matches every agreed term")
    return ContractReview(mismatches, list(REVIEWED_TERMS), reasons)


# --- the OpenAI-compatible side: prompts, requests, validated answers --------------------------


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
    "and payment terms, stating each exactly as given. Answer with a JSON object: "
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
