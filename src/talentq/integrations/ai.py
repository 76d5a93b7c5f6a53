"""The AI provider: an interface, its default rules engine, and an OpenAI-compatible provider.

The rules engine classifies a message and extracts deal terms deterministically; it works
offline and explains itself (every answer carries the rules behind it) and is measured
against the labelled set in ``tests/data/`` (``tests/test_ai_rules.py``). ``AI_PROVIDER``
chooses; the HTTP provider's JSON answers are validated by pydantic models.
"""

from __future__ import annotations

import re
from calendar import monthrange
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Final, Literal, Protocol, TypeVar

import httpx
from pydantic import BaseModel, Field, ValidationError

from talentq.errors import ConfigError, ServiceRefusedError
from talentq.integrations import ai_agents, ai_deals, ai_outreach
from talentq.integrations.ai_outreach import (
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
from talentq.settings import Settings

CATEGORIES: Final = ("deal_offer", "invoice", "scheduling", "deliverable", "spam", "other")


@dataclass(frozen=True)
class Classification:
    category: str
    confidence: float
    reasons: list[str]


@dataclass(frozen=True)
class DealTerms:
    fee_minor: int | None
    currency: str | None
    deliverables: list[dict[str, object]] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    #: The campaign window the offer names (the first and last day), when it names one.
    starts_on: date | None = None
    ends_on: date | None = None


def _rx(*patterns: str) -> list[re.Pattern[str]]:
    return [re.compile(p, re.IGNORECASE) for p in patterns]


# Weighted cues per category: (weight, pattern). Subject matches count double.
_CUES: Final[dict[str, list[tuple[float, re.Pattern[str]]]]] = {
    "spam": [
        (3.0, p)
        for p in _rx(
            r"\bcrypto\w*|\bbitcoin|\bbtc\b|\bnft\b",
            r"lotter(y|ies)|\bjackpot|you('| ha)ve won|\bwinner\b|claim your (prize|reward)",
            r"(buy|grow|boost|increase|gain|get)\b[^.\n]{0,30}\b(followers|likes|views|subscribers)",
            r"\bseo\b|backlinks?|rank(ing)? (#1|first) on google",
            r"verify your account|account (will be )?(suspended|locked|disabled)|unusual (sign-?in|activity)",
            r"gift ?cards?|wire transfer|western union|processing fee",
            r"guaranteed|100% free|act now|limited time|risk[- ]free|double your",
            r"click (here|the link below)|bit\.ly|tinyurl",
            r"blue (tick|check)|get verified",
            r"you('ve| have) been (selected|chosen)",
            r"registration fee|one-?time [^.\n]{0,20}fee|just pay shipping|spots are limited",
            r"\b\d{2}% off\b|\bcommission on every sale|\bhey babe\b",
            r"policy violation|community standards|appeal now",
            r"(page|account) (will be|has been) (unpublished|reported|disabled)",
        )
    ],
    "invoice": [
        (3.0, p)
        for p in _rx(
            r"\binvoices?\b",
            r"\bremittance|\bpayment (sent|made|received|processed|reminder|confirmation|status|run)",
            r"accounts? payable|\bbilling\b|\breceipt\b|purchase order|\bPO\b ?(number|#)",
            r"overdue|past due|outstanding (balance|amount|payment)|\bnet ?\d{2}\b",
            r"\bIBAN\b|bank details|\bsort code|\bwire\b|\bACH\b|W-?9|VAT (number|invoice)",
        )
    ]
    + [(1.0, p) for p in _rx(r"\bpaid\b", r"\bpay(ment)?\b")],
    "scheduling": [
        (3.0, p)
        for p in _rx(
            r"\b(a|quick|short|intro|kick-?off|discovery) (call|chat|meeting)\b",
            r"\bavailab(le|ility)\b",
            r"\b(re)?schedul(e|ed|ing)\b|\bcalendar\b|calendly|time slots?|book a (time|slot)",
            r"\bzoom\b|google meet|\bteams call\b|hop on a call|\bcatch[- ]up\b|\bcoffee\b",
            r"\b(move|push|postpone)\b[^.\n]{0,25}\b(shoot|call|meeting)\b",
            r"does (monday|tuesday|wednesday|thursday|friday|next week|tomorrow)[^?\n]{0,30}work",
            r"\bwhat time\b|\bwhich day\b|\bwould (\w+ )?work for (you|him|her|them)\b",
            r"\bkick-?off\b",
            r"\b(set up|book|lock in|arrange) (a|an|the) [^.\n]{0,20}(call|meeting|session|hour|date)",
            r"\bdoes that work\b|\bwhich works better\b|\bworks for (us|me)\b|\bfree on\b|\bcan't make\b",
            r"invitation:|invited you to|going\? yes|meet\.google|\bon teams\b|\bstudio slots?\b",
            r"\b(mon|tues|wednes|thurs|fri|satur|sun)day\b[^.\n]{0,40}"
            r"\b(\d{1,2} ?(am|pm)|morning|afternoon|instead|start)\b",
        )
    ],
    "deliverable": [
        (3.0, p)
        for p in _rx(
            r"\bdrafts?\b",
            r"\b(for|your|final) approval\b|\bapprov(e|ed)\b",
            r"\bfeedback\b|\brevisions?\b|\bchanges? (to|on) the\b|\bre-?edit|\bre-?shoot|\bre-?record",
            r"\b(go|goes|went) live\b|\bposting (date|schedule)\b|\bpost(ed)? (it|the video|the reel)\b",
            r"\bcaption\b|\bfinal cut\b|\brough cut\b|\bthumbnail\b|\bscript\b|\bstoryboard\b",
            r"link to the (video|reel|post|draft)|wetransfer|google drive|dropbox",
            r"\bcontent (review|brief|guidelines)\b|\bhashtags?\b|#ad\b|disclosure",
            r"\b(performance|campaign) (insights|report|stats)\b|screenshots of (reach|impressions|stats)",
            r"\boverlay\b|\b(assets|artwork|logo files?|b-roll)\b|\bhigher res",
        )
    ],
    "deal_offer": [
        (3.0, p)
        for p in _rx(
            r"\b(our|the|a|total) budget\b|\b(flat |total )?fee (would be|is|of)\b|\boffer(ing)?\b|"
            r"\bcompensation\b|\byour rates?\b|\bwe (can|could|would) pay\b",
            r"would (love|like) to (work|partner|collaborate|team up|run|send)|\binterested in working\b",
            r"\bfeature (our|the) (new )?\w+|\bintegration\b|\bdedicated (video|post|stream)|\bmid-roll|"
            r"\bhost-read",
            r"\busage rights\b|\bexclusivity\b|\bwhitelisting\b",
        )
    ]
    # Words a newsletter, a thank-you or a scam uses as readily as an offer: weak on their own.
    + [
        (1.0, p)
        for p in _rx(
            r"\bcollab(oration|orate)?\b|\bpartner(ship|ing)?\b|\bsponsor(ship|ed|ing)?\b",
            r"\bambassador|\bcampaign\b|\bbrand deal\b|\binfluencer (program|marketing|campaign)",
        )
    ],
    "other": [
        (3.0, p)
        for p in _rx(
            r"\bunsubscribe\b|\bnewsletter\b|this week in|read the full (issue|story)|view in browser",
            r"\b(wanted to say|just saying) (a (big|huge) )?thank(s| you)\b|\bcongratulations\b",
            r"partner program|creator fund|creativity program",
        )
    ],
}

_MONEY_CODES: Final = {
    "$": "USD", "us$": "USD", "usd": "USD", "dollars": "USD", "dollar": "USD", "bucks": "USD",
    "£": "GBP", "gbp": "GBP", "pounds": "GBP", "pound": "GBP", "quid": "GBP",
    "€": "EUR", "eur": "EUR", "euros": "EUR", "euro": "EUR",
    "ca$": "CAD", "c$": "CAD", "cad": "CAD", "a$": "AUD", "au$": "AUD", "aud": "AUD",
}  # fmt: skip
_NUMBER: Final = r"(\d{1,3}(?:[,\s]\d{3})+(?:\.\d{1,2})?|\d+(?:\.\d+)?)"
_PREFIX: Final = r"(?P<pre>CA\$|C\$|AU\$|A\$|US\$|\$|£|€|\b(?:USD|GBP|EUR|CAD|AUD)\b)"
_MONEY: Final = re.compile(
    # prefix symbol or code: "$5,000", "£2.5k", "CA$3,000", "USD 5000", "EUR 4,000"
    rf"{_PREFIX}\s?{_NUMBER.replace('(', '(?P<n1>', 1)}"
    r"\s?(?P<k1>k\b|K\b|thousand\b)?"
    # or suffix: "5k USD", "2,500 GBP", "3000 euros", "3,500 dollars"
    # (anchored on its left: unanchored, a long run of digits made this branch quadratic)
    rf"|(?<![\d.,]){_NUMBER.replace('(', '(?P<n2>', 1)}\s?(?P<k2>k|K|thousand)?\s?"
    r"(?P<post>USD|GBP|EUR|CAD|AUD|dollars?|euros?|pounds?|quid|bucks)\b",
    re.IGNORECASE,
)

_FEE_WORDS: Final = re.compile(r"\b(fee|pay|paid|budget|offer(ing)?|rate|compensation|total)\b", re.I)
_PRICE_WORDS: Final = re.compile(r"\b(retail|worth|valued?|rrp|price[ds]?|costs?)\b", re.I)
_WORD_NUMBERS: Final = {
    "a": 1,
    "an": 1,
    "one": 1,
    "single": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
}
_PLATFORMS: Final = [
    (r"youtube shorts?|yt shorts?|shorts?", "youtube_short"),
    (r"tik ?toks?(?: videos?)?", "tiktok"),
    (r"(?:ig|instagram|insta) stor(?:y|ies)|stor(?:y|ies)", "instagram_story"),
    (r"(?:ig|instagram|insta) reels?|reels?", "instagram_reel"),
    (r"(?:ig|instagram|insta) (?:feed )?posts?|feed posts?", "instagram_post"),
    (r"(?:dedicated )?youtube (?:videos?|integrations?|vlogs?)|(?:dedicated )?videos?|integrations?|vlogs?",
     "youtube_video"),
    (r"(?:twitch )?(?:live ?)?streams?", "twitch_stream"),
    (r"blog posts?|articles?", "blog_post"),
    (r"podcast(?: episodes?| ads?| spots?)?|(?:mid-roll|pre-roll|host-read) ads?", "podcast"),
]  # fmt: skip
_DELIVERABLE: Final = re.compile(
    r"\b(?P<count>\d+|a|an|one|single|two|three|four|five|six)\s+(?:x\s+)?(?:dedicated\s+|sponsored\s+|short\s+)?"
    r"(?P<what>" + "|".join(f"(?:{p})" for p, _ in _PLATFORMS) + r")\b",
    re.IGNORECASE,
)


#: The rules read at most this much of a body: offers say what matters early, and regexes
#: over a megabyte of text are time the event loop cannot spare.
RULES_TEXT_LIMIT: Final = 20_000


_MONTH = (
    r"(?P<{name}>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\b"
)
_DAY = r"(?P<{name}>[0-3]?\d)(?:st|nd|rd|th)?"
_DATES: Final = [
    # "between 1 and 15 April", "1-15 April", "7 to 21 Oct"
    re.compile(
        rf"\b{_DAY.format(name='d1')}\s*(?:-|\u2013|to|and|until)\s*{_DAY.format(name='d2')}\s+(?:of\s+)?"
        + _MONTH.format(name="m"),
        re.I,
    ),
    # "April 1", "Oct 7th"
    re.compile(rf"\b{_MONTH.format(name='m')}\.?\s+{_DAY.format(name='d1')}\b", re.I),
    # "15 April", "7th of October"
    re.compile(rf"\b{_DAY.format(name='d1')}\s+(?:of\s+)?" + _MONTH.format(name="m"), re.I),
    # "in June", "late August", "first two weeks of June": the whole month
    re.compile(
        r"\b(?:in|during|early|mid|late|of|for|through|throughout)\s+" + _MONTH.format(name="m"), re.I
    ),
]


def _month_number(name: str) -> int:
    return ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"].index(
        name[:3].lower()
    ) + 1


def _campaign_window(text: str, reference: date) -> tuple[date | None, date | None]:
    """The first and last day the text names, each in the year that puts it after ``reference``."""
    days: list[date] = []

    def year_of(month: int) -> int:
        # An offer in November for "March" means next March.
        return reference.year + (1 if month < reference.month else 0)

    def on(month: int, day: int) -> None:
        if 1 <= day <= monthrange(year_of(month), month)[1]:
            days.append(date(year_of(month), month, day))

    for pattern in _DATES:
        for match in pattern.finditer(text):
            month = _month_number(match.group("m"))
            groups = match.groupdict()
            if groups.get("d1"):
                on(month, int(groups["d1"]))
                if groups.get("d2"):
                    on(month, int(groups["d2"]))
            else:
                on(month, 1)
                on(month, monthrange(year_of(month), month)[1])
    if not days:
        return None, None
    return min(days), max(days)


def classify_message(subject: str, body: str) -> Classification:
    """The message's category with the cues that decided it."""
    subject, body = subject[:1000], body[:RULES_TEXT_LIMIT]
    scores = dict.fromkeys(CATEGORIES, 0.0)
    reasons: dict[str, list[str]] = {c: [] for c in CATEGORIES}
    for category, cues in _CUES.items():
        for weight, pattern in cues:
            for text, factor in ((subject, 2.0), (body, 1.0)):
                if match := pattern.search(text):
                    scores[category] += weight * factor
                    reasons[category].append(f"{match.group(0)!r}")
    terms = extract_deal(subject, body)
    if terms.fee_minor is not None:
        scores["deal_offer"] += 2
        reasons["deal_offer"].append("names a fee")
    if terms.deliverables:
        scores["deal_offer"] += 3
        reasons["deal_offer"].append("asks for content")
    # Spam that talks money is still spam; an invoice that names an amount is still an invoice.
    if scores["spam"] >= 6:
        scores["spam"] += scores["deal_offer"]
    if scores["scheduling"] >= 6 and terms.deliverables == []:
        # Logistics about a deal already made mention its fee; with no content asked, it is a date.
        scores["deal_offer"] /= 2
    if re.search(r"\binvoice", subject, re.IGNORECASE):
        scores["invoice"] += 6
    best = max(CATEGORIES, key=lambda c: scores[c])
    total = sum(scores.values())
    if scores[best] < 3:
        return Classification("other", 0.5, ["no category's cues are strong enough"])
    return Classification(best, round(scores[best] / total, 2), reasons[best])


def _amount(number: str, thousands: str | None) -> Decimal | None:
    digits = re.sub(r"[,\s]", "", number)
    try:
        value = Decimal(digits)
    except InvalidOperation:
        return None
    return value * 1000 if thousands else value


def extract_deal(subject: str, body: str, *, reference: date | None = None) -> DealTerms:
    """Fee (minor units) and currency of the amount offered, and the content asked for."""
    text = f"{subject[:1000]}\n{body[:RULES_TEXT_LIMIT]}"
    fee_minor: int | None = None
    currency: str | None = None
    reasons: list[str] = []
    chosen = ""
    best: tuple[int, int] | None = None  # (score, -position) of the chosen amount
    for match in _MONEY.finditer(text):
        symbol = (match.group("pre") or match.group("post") or "").lower()
        amount = _amount(match.group("n1") or match.group("n2"), match.group("k1") or match.group("k2"))
        if amount is None or not 50 <= amount <= 1_000_000_000:  # "$5" is no fee, nor is a phone number
            continue
        # Prefer the amount the brand offers over a product's price quoted beside it.
        before = text[max(0, match.start() - 40) : match.start()]
        score = 1 if _FEE_WORDS.search(before) else 0
        score -= 2 if _PRICE_WORDS.search(before) else 0
        if best is None or (score, -match.start()) > best:
            best = (score, -match.start())
            fee_minor, currency = int(amount * 100), _MONEY_CODES.get(symbol.strip(), None)
            chosen = match.group(0).strip()
    if fee_minor is not None:
        reasons.append(f"fee {chosen!r}")
    deliverables: dict[str, int] = {}
    for match in _DELIVERABLE.finditer(text):
        what = match.group("what").lower()
        platform = next(name for pattern, name in _PLATFORMS if re.fullmatch(pattern, what, re.IGNORECASE))
        raw = match.group("count").lower()
        count = int(raw) if raw.isdigit() else _WORD_NUMBERS[raw]
        if count > 20:  # "30 videos" in a channel description, not an ask
            continue
        deliverables[platform] = deliverables.get(platform, 0) + count
        reasons.append(f"content {match.group(0)!r}")
    starts_on, ends_on = _campaign_window(text, reference or date.today())
    if starts_on is not None:
        reasons.append(f"window {starts_on.isoformat()}..{ends_on}")
    return DealTerms(
        fee_minor=fee_minor,
        currency=currency,
        deliverables=[{"platform": p, "count": n} for p, n in deliverables.items()],
        reasons=reasons,
        starts_on=starts_on,
        ends_on=ends_on,
    )


# --- the provider interface -------------------------------------------------------------------


class AIError(Exception):
    """The AI provider could not answer."""


class AIUnavailable(AIError):
    """Try later: the provider is down, rate limited, or gave an answer that does not validate."""


class AIRejected(AIError, ServiceRefusedError):
    """Retrying cannot help: the provider refused the credentials or the request."""


class AIProvider(Protocol):
    """What processors ask of an AI; later issues add their methods here."""

    async def classify_message(self, subject: str, body: str) -> Classification: ...

    async def extract_deal(self, subject: str, body: str, *, reference: date | None = None) -> DealTerms: ...

    # agent tasks (ai_agents.py)
    async def plan_agent_steps(self, context: ai_agents.AgentContext) -> ai_agents.AgentPlan: ...

    # negotiation and contracts (ai_deals.py)
    async def negotiation_insights(
        self, deal: ai_deals.PricingFacts, comparables: ai_deals.Comparables
    ) -> ai_deals.NegotiationInsights: ...

    async def draft_negotiation_reply(
        self, facts: ai_deals.NegotiationFacts
    ) -> ai_deals.NegotiationReply: ...

    async def draft_contract(self, terms: ai_deals.ContractTerms) -> ai_deals.ContractDraft: ...

    async def review_contract(self, draft: str, terms: ai_deals.ContractTerms) -> ai_deals.ContractReview: ...

    # outreach, strategy, creator fit and bundles (ai_outreach.py)
    async def draft_outreach(
        self, talent: OutreachTalent, brands: list[OutreachBrand], *, limit: int
    ) -> list[OutreachDraft]: ...

    async def predict_strategy(
        self,
        brand_name: str,
        category: str | None,
        history: list[DealFact],
        similar: list[DealFact],
        *,
        today: date,
    ) -> StrategyForecast: ...

    async def score_creator_fit(self, brand: FitBrand, talents: list[FitTalent]) -> list[CreatorFit]: ...

    async def build_bundle(
        self,
        brand_name: str,
        category: str | None,
        candidates: list[BundleCandidate],
        *,
        budget_minor: int,
        currency: str,
    ) -> Bundle: ...


class RulesProvider:
    """The default: the deterministic rules above. Offline, explains itself."""

    async def classify_message(self, subject: str, body: str) -> Classification:
        return classify_message(subject, body)

    async def extract_deal(self, subject: str, body: str, *, reference: date | None = None) -> DealTerms:
        return extract_deal(subject, body, reference=reference)

    async def plan_agent_steps(self, context: ai_agents.AgentContext) -> ai_agents.AgentPlan:
        return ai_agents.plan_agent_steps(context)

    async def negotiation_insights(
        self, deal: ai_deals.PricingFacts, comparables: ai_deals.Comparables
    ) -> ai_deals.NegotiationInsights:
        return ai_deals.negotiation_insights(deal, comparables)

    async def draft_negotiation_reply(self, facts: ai_deals.NegotiationFacts) -> ai_deals.NegotiationReply:
        return ai_deals.draft_negotiation_reply(facts)

    async def draft_contract(self, terms: ai_deals.ContractTerms) -> ai_deals.ContractDraft:
        return ai_deals.draft_contract(terms)

    async def review_contract(self, draft: str, terms: ai_deals.ContractTerms) -> ai_deals.ContractReview:
        # The draft's fee, currency and content, read by the same rules that read an offer.
        return ai_deals.review_contract(draft, terms, found=extract_deal("", draft))

    async def draft_outreach(
        self, talent: OutreachTalent, brands: list[OutreachBrand], *, limit: int
    ) -> list[OutreachDraft]:
        return ai_outreach.draft_outreach(talent, brands, limit=limit)

    async def predict_strategy(
        self,
        brand_name: str,
        category: str | None,
        history: list[DealFact],
        similar: list[DealFact],
        *,
        today: date,
    ) -> StrategyForecast:
        return ai_outreach.predict_strategy(brand_name, category, history, similar, today=today)

    async def score_creator_fit(self, brand: FitBrand, talents: list[FitTalent]) -> list[CreatorFit]:
        return ai_outreach.score_creator_fit(brand, talents)

    async def build_bundle(
        self,
        brand_name: str,
        category: str | None,
        candidates: list[BundleCandidate],
        *,
        budget_minor: int,
        currency: str,
    ) -> Bundle:
        return ai_outreach.build_bundle(
            brand_name, category, candidates, budget_minor=budget_minor, currency=currency
        )


class _ClassificationAnswer(BaseModel):
    category: Literal["deal_offer", "invoice", "scheduling", "deliverable", "spam", "other"]
    confidence: float = Field(ge=0, le=1)
    reasons: list[str] = Field(default_factory=list)


class _Deliverable(BaseModel):
    platform: Literal[
        "tiktok", "instagram_post", "instagram_reel", "instagram_story", "youtube_video",
        "youtube_short", "twitch_stream", "blog_post", "podcast",
    ]  # fmt: skip
    count: int = Field(ge=1, le=100)


class _DealAnswer(BaseModel):
    fee_minor: int | None = Field(default=None, ge=0, le=10**14)
    starts_on: date | None = None
    ends_on: date | None = None
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    deliverables: list[_Deliverable] = Field(default_factory=list)
    reasons: list[str] = Field(default_factory=list)


_CLASSIFY_PROMPT: Final = (
    "You classify email sent to a talent agency. Answer with a JSON object: "
    '{"category": one of deal_offer, invoice, scheduling, deliverable, spam, other; '
    '"confidence": 0..1; "reasons": [short strings]}.'
)
_EXTRACT_PROMPT: Final = (
    "You extract the terms of a brand's sponsorship offer to a creator. Answer with a JSON object: "
    '{"fee_minor": the fee in minor units (cents) or null; "currency": ISO 4217 code or null; '
    '"deliverables": [{"platform": one of tiktok, instagram_post, instagram_reel, instagram_story, '
    'youtube_video, youtube_short, twitch_stream, blog_post, podcast; "count": integer}]; '
    '"starts_on" and "ends_on": the campaign window as YYYY-MM-DD or null; "reasons": [strings]}.'
)

A = TypeVar("A", bound=BaseModel)


class OpenAICompatibleProvider:
    """Any chat-completions API (``AI_BASE_URL``, ``AI_API_KEY``, ``AI_MODEL``); answers validated."""

    def __init__(self, http: httpx.AsyncClient, settings: Settings) -> None:
        if not settings.ai_base_url or not settings.ai_api_key or not settings.ai_model:
            missing = [
                name
                for name, value in (
                    ("AI_BASE_URL", settings.ai_base_url),
                    ("AI_API_KEY", settings.ai_api_key),
                    ("AI_MODEL", settings.ai_model),
                )
                if not value
            ]
            raise ConfigError(f"AI_PROVIDER=openai needs {', '.join(missing)} to be set")
        self._http = http
        self._url = settings.ai_base_url.rstrip("/") + "/chat/completions"
        self._key = settings.ai_api_key.get_secret_value()
        self._model = settings.ai_model

    async def classify_message(self, subject: str, body: str) -> Classification:
        answer = await self._ask(_CLASSIFY_PROMPT, f"Subject: {subject}\n\n{body}", _ClassificationAnswer)
        return Classification(answer.category, answer.confidence, answer.reasons)

    async def extract_deal(self, subject: str, body: str, *, reference: date | None = None) -> DealTerms:
        when = f"Received on {reference.isoformat()}.\n" if reference else ""
        answer = await self._ask(_EXTRACT_PROMPT, f"{when}Subject: {subject}\n\n{body}", _DealAnswer)
        return DealTerms(
            fee_minor=answer.fee_minor,
            currency=answer.currency,
            deliverables=[d.model_dump() for d in answer.deliverables],
            reasons=answer.reasons,
            starts_on=answer.starts_on,
            ends_on=answer.ends_on,
        )

    async def draft_outreach(
        self, talent: OutreachTalent, brands: list[OutreachBrand], *, limit: int
    ) -> list[OutreachDraft]:
        shortlist = ai_outreach.outreach_shortlist(talent, brands)
        facts = ai_outreach.facts_json(talent=talent, brands=shortlist, limit=limit)
        answer = await self._ask(ai_outreach.OUTREACH_PROMPT, facts, ai_outreach.OutreachAnswer)
        try:
            return ai_outreach.drafts_from_answer(answer, shortlist, limit=limit)
        except ValueError as exc:
            raise AIUnavailable(f"AI provider's outreach drafts are unusable: {exc}") from exc

    async def predict_strategy(
        self,
        brand_name: str,
        category: str | None,
        history: list[DealFact],
        similar: list[DealFact],
        *,
        today: date,
    ) -> StrategyForecast:
        cap = ai_outreach.PROMPT_CANDIDATES  # the most recent deals come first
        facts = ai_outreach.facts_json(
            brand={"name": brand_name, "category": category},
            history=history[:cap],
            similar=similar[:cap],
            today=today,
        )
        answer = await self._ask(ai_outreach.STRATEGY_PROMPT, facts, ai_outreach.StrategyAnswer)
        return ai_outreach.forecast_from_answer(answer)

    async def score_creator_fit(self, brand: FitBrand, talents: list[FitTalent]) -> list[CreatorFit]:
        facts = ai_outreach.facts_json(brand=brand, talents=talents)
        answer = await self._ask(ai_outreach.CREATOR_FIT_PROMPT, facts, ai_outreach.CreatorFitAnswer)
        try:
            return ai_outreach.fits_from_answer(answer, talents)
        except ValueError as exc:
            raise AIUnavailable(f"AI provider's creator-fit scores are unusable: {exc}") from exc

    async def build_bundle(
        self,
        brand_name: str,
        category: str | None,
        candidates: list[BundleCandidate],
        *,
        budget_minor: int,
        currency: str,
    ) -> Bundle:
        shortlist = ai_outreach.bundle_shortlist(category, candidates)
        facts = ai_outreach.facts_json(
            brand={"name": brand_name, "category": category},
            budget={"minor": budget_minor, "currency": currency},
            candidates=shortlist,
        )
        answer = await self._ask(ai_outreach.BUNDLE_PROMPT, facts, ai_outreach.BundleAnswer)
        try:
            return ai_outreach.bundle_from_answer(
                answer, shortlist, budget_minor=budget_minor, currency=currency
            )
        except ValueError as exc:
            raise AIUnavailable(f"AI provider's bundle is unusable: {exc}") from exc

    async def negotiation_insights(
        self, deal: ai_deals.PricingFacts, comparables: ai_deals.Comparables
    ) -> ai_deals.NegotiationInsights:
        request = ai_deals.insights_request(deal, comparables)
        answer = await self._ask(ai_deals.INSIGHTS_PROMPT, request, ai_deals.InsightsAnswer)
        return answer.result(deal)

    async def draft_negotiation_reply(self, facts: ai_deals.NegotiationFacts) -> ai_deals.NegotiationReply:
        answer = await self._ask(ai_deals.REPLY_PROMPT, ai_deals.reply_request(facts), ai_deals.ReplyAnswer)
        try:
            return answer.result(facts)
        except ValueError as exc:
            raise AIUnavailable(f"AI provider's negotiation reply is unusable: {exc}") from exc

    async def draft_contract(self, terms: ai_deals.ContractTerms) -> ai_deals.ContractDraft:
        request = ai_deals.contract_request(terms)
        answer = await self._ask(ai_deals.CONTRACT_PROMPT, request, ai_deals.ContractAnswer)
        return answer.result()

    async def review_contract(self, draft: str, terms: ai_deals.ContractTerms) -> ai_deals.ContractReview:
        request = ai_deals.review_request(draft, terms)
        answer = await self._ask(ai_deals.REVIEW_PROMPT, request, ai_deals.ReviewAnswer)
        return answer.result()

    async def plan_agent_steps(self, context: ai_agents.AgentContext) -> ai_agents.AgentPlan:
        ai_agents.check_context(context)  # an unknown kind is refused before any request
        answer = await self._ask(ai_agents.AGENT_PROMPT, context.as_prompt(), ai_agents.AgentPlanAnswer)
        try:
            return ai_agents.plan_from_answer(answer, context)
        except ai_agents.InvalidStep as exc:
            raise AIUnavailable(
                f"AI provider's plan for agent task {context.task_id} is unusable: {exc}"
            ) from exc

    async def _ask(self, system: str, user: str, model: type[A]) -> A:
        request = {
            "model": self._model,
            "temperature": 0,
            "response_format": {"type": "json_object"},
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user[:20_000]}],
        }
        try:
            response = await self._http.post(
                self._url, json=request, headers={"Authorization": f"Bearer {self._key}"}
            )
        except httpx.HTTPError as exc:
            raise AIUnavailable(f"AI provider unreachable: {exc!r}") from exc
        if response.status_code in (401, 403):
            raise AIRejected(
                f"AI provider refused the credentials ({response.status_code}): check AI_API_KEY"
            )
        if response.status_code == 429 or response.status_code >= 500:
            raise AIUnavailable(f"AI provider answered {response.status_code}")
        if response.status_code >= 400:
            raise AIRejected(
                f"AI provider refused the request ({response.status_code}): {response.text[:200]}"
            )
        try:
            content = response.json()["choices"][0]["message"]["content"]
            return model.model_validate_json(content)
        except (ValueError, KeyError, IndexError, TypeError, ValidationError) as exc:
            # A model's malformed answer is usually not repeated: transient, so it is asked again.
            raise AIUnavailable(f"AI provider's answer did not validate as {model.__name__}: {exc}") from exc


def make_ai_provider(settings: Settings, http: httpx.AsyncClient) -> AIProvider:
    """The provider ``AI_PROVIDER`` names: ``rules`` (default) or ``openai``."""
    if settings.ai_provider == "openai":
        return OpenAICompatibleProvider(http, settings)
    return RulesProvider()
