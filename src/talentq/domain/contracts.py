"""Contract rules: the terms a contract states, how they are read and stored, its text, its
payment schedule, and the review of a brand's draft against the agreed terms."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any, Final, Literal, TypeGuard

from pydantic.alias_generators import to_camel, to_snake

from talentq.domain.content_review import RULE_TERMS, read_rule_term
from talentq.domain.mail.terms import DealTerms
from talentq.domain.money import format_minor, is_currency, split_minor, to_major
from talentq.domain.vocabulary import ContentLine, describe_content, parse_content, platform_label

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


#: ``ContractTerms``' fields that set content review rules (``content_review.RULE_TERMS``, snake_case).
CONTENT_RULES: Final = ("required_handle", "required_links", "approved_claims", "forbidden_claims")


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
    #: The rules the talent's content is reviewed by (deliverable-review), which the contract
    #: states: the brand's handle to tag ("@glossier"), links to include, claims the brand
    #: approves and claims it forbids. None and empty set no rule.
    required_handle: str | None = None
    required_links: tuple[str, ...] = ()
    approved_claims: tuple[str, ...] = ()
    forbidden_claims: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        """The terms as JSON; a review rule only when set.

        ai-contract fingerprints this to decide whether a contract needs drafting again: a
        contract without rules keeps the fingerprint it had before contracts could set them.
        """
        data = asdict(self)
        data["content"] = [line.as_json() for line in self.content]
        for key in ("starts_on", "ends_on"):
            data[key] = data[key] and data[key].isoformat()
        data["assumptions"] = list(self.assumptions)
        for key in CONTENT_RULES:
            rule = data.pop(key)
            if rule:
                data[key] = list(rule) if isinstance(rule, tuple) else rule
        return data

    @property
    def has_content_rules(self) -> bool:
        """Whether the contract sets any content review rule (and so states them)."""
        return any(getattr(self, key) for key in CONTENT_RULES)


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
    if terms.has_content_rules:
        lines += ["", "6. Content requirements", *_content_rules(terms)]
    if not final and terms.assumptions:
        lines += ["", "To confirm before signing:", *(f"- {note}" for note in terms.assumptions)]
    lines += [
        "",
        "Signed for the Brand: ______________    Signed for the Creator (by the Agency): ______________",
    ]
    return "\n".join(lines) + "\n"


def _content_rules(terms: ContractTerms) -> list[str]:
    """The contract's content review rules as sentences, each list entry on a line of its own.

    Claims and links are quoted as given, one per line, so that no entry runs into a sentence
    the brand-draft review reads for fees, usage or payment.
    """
    lines = []
    if terms.required_handle:
        lines.append(f"Every post tags the Brand as {terms.required_handle}.")
    if terms.required_links:
        lines += ["Every post includes these links:", *(f"- {link}" for link in terms.required_links)]
    if terms.forbidden_claims:
        lines += ["The Creator shall not claim:", *(f'- "{claim}"' for claim in terms.forbidden_claims)]
    if terms.approved_claims:
        lines += [
            "The Brand holds the evidence for, and approves, these claims:",
            *(f'- "{claim}"' for claim in terms.approved_claims),
        ]
    return lines


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


def _months(months: int | None) -> str:
    if months is None:
        return "not stated"
    return "in perpetuity" if months < 0 else f"{months} months"


def review_contract(draft: str, terms: ContractTerms, found: DealTerms) -> ContractReview:
    """Each agreed term the brand's draft gets wrong or omits; ``found`` is extraction's reading of it."""
    cur = terms.currency
    mismatches: list[Mismatch] = []
    agreed_fee = format_minor(terms.fee_minor, cur)
    # The amount the draft names and its currency are one reading, in the minor units of its own
    # currency (JPY has none, USD two), never of the agreed one.
    found_cur = found.currency or cur
    found_fee = found.fee_minor
    stated_verbatim = agreed_fee.split(" ", 1)[1] in draft
    if found_cur != cur:
        mismatches.append(Mismatch("currency", cur, found_cur))
    if found_fee is None and not stated_verbatim:
        mismatches.append(Mismatch("fee", agreed_fee, "not stated"))
    elif found_fee is not None and to_major(found_fee, found_cur) != to_major(terms.fee_minor, cur):
        # Across currencies the amounts are compared as written: "EUR 8,570" for "USD 8,570" is
        # the currency finding alone; "EUR 7,500" is a wrong amount as well.
        mismatches.append(Mismatch("fee", agreed_fee, format_minor(found_fee, found_cur)))

    agreed_content = {line.platform: line.count for line in terms.content}
    found_content: dict[str, int] = {}
    for item in found.deliverables:
        found_content[item.platform] = found_content.get(item.platform, 0) + item.count
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


# --- agreed terms ---------------------------------------------------------------------------

#: Terms a contract can carry, camelCase as on the wire (snake_case is accepted too): the
#: commercial ones, then the rules its deliverables' content is reviewed by (``RULE_TERMS``).
TERM_NAMES: Final = (
    "contractId", "dealId", "feeMinor", "currency", "deliverables", "startsOn", "endsOn",
    "usageRights", "paymentTerms", *RULE_TERMS,
)  # fmt: skip


def _positive_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _int_in(value: object, low: int, high: int) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def read_terms(raw: Mapping[str, Any], *, prefix: str = "terms.") -> tuple[dict[str, Any], list[str]]:
    """The terms present in ``raw``, parsed (camelCase name -> value), and a problem per bad or unknown one.

    Values: ids and ``feeMinor`` ints, ``currency`` an ISO code, ``deliverables`` content lines,
    dates ``date``, ``usageRights`` a ``UsageRights``, ``paymentTerms`` a ``PaymentTerms``; the
    review rules as ``content_review.read_rule_term`` normalises them (``requiredHandle`` a
    ``"@handle"`` or None, the lists tuples of strings).
    """
    values: dict[str, Any] = {}
    problems: list[str] = []
    for key, value in raw.items():
        name = to_camel(key) if "_" in key else key
        where = f"{prefix}{key}"
        if name not in TERM_NAMES:
            # "fee" is too short for difflib to see "feeMinor" in it; a prefix is the likelier slip.
            close = [t for t in TERM_NAMES if len(name) >= 3 and t.lower().startswith(name.lower())]
            close = close or difflib.get_close_matches(name, TERM_NAMES, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f"; known terms: {', '.join(TERM_NAMES)}"
            problems.append(f"{where} is not a contract term{hint}")
            continue
        try:
            values[name] = _read_term(name, value, where)
        except ValueError as exc:
            problems.append(str(exc))
    starts, ends = values.get("startsOn"), values.get("endsOn")
    if starts is not None and ends is not None and starts > ends:
        problems.append(f"{prefix}startsOn {starts} is after {prefix}endsOn {ends}")
    return values, problems


def _read_term(name: str, value: Any, where: str) -> Any:
    """One term's parsed value; ValueError naming ``where`` and what it must be."""
    if name in RULE_TERMS:
        return read_rule_term(name, value, where)
    if name in ("contractId", "dealId", "feeMinor"):
        if not _positive_int(value):
            unit = " of minor units (cents)" if name == "feeMinor" else ""
            raise ValueError(f"{where} must be a positive integer{unit}, got {value!r}")
        return value
    if name == "currency":
        if not is_currency(value):
            raise ValueError(f"{where} {value!r} is not an ISO 4217 currency code (like 'USD')")
        return value
    if name == "deliverables":
        content, problems = parse_content(value, field_name=where)
        if problems:
            raise ValueError("; ".join(problems))
        return content
    if name in ("startsOn", "endsOn"):
        try:
            return date.fromisoformat(value)
        except (TypeError, ValueError):
            raise ValueError(f"{where} must be a date as YYYY-MM-DD, got {value!r}") from None
    parts = value if isinstance(value, dict) else {}
    if name == "usageRights":
        months, paid = parts.get("months"), _either(parts, "paidMedia", "paid_media", False)
        if not (_int_in(months, 1, 120) and isinstance(paid, bool)):
            raise ValueError(f"{where} must be {{months: 1..120, paidMedia: true/false}}, got {value!r}")
        return UsageRights(months=months, paid_media=paid)
    deposit, net = _either(parts, "depositPercent", "deposit_percent"), _either(parts, "netDays", "net_days")
    if not (_int_in(deposit, 0, 100) and _int_in(net, 0, 365)):
        raise ValueError(f"{where} must be {{depositPercent: 0..100, netDays: 0..365}}, got {value!r}")
    return PaymentTerms(deposit_percent=deposit, net_days=net)


def _either(parts: Mapping[str, Any], camel: str, snake: str, default: Any = None) -> Any:
    return parts.get(camel, parts.get(snake, default))


def stored_terms(values: Mapping[str, Any]) -> dict[str, Any]:
    """Parsed terms as ``contracts.terms`` keeps them: snake_case JSON, usage and payment made explicit.

    A review rule is stored only when it is set (``required_handle``, ``required_links``, ...,
    which content review reads); one that is None or empty leaves no key behind.
    """
    usage: UsageRights = values.get("usageRights", DEFAULT_USAGE)
    payment: PaymentTerms = values.get("paymentTerms", DEFAULT_PAYMENT)
    stored: dict[str, Any] = {
        "fee_minor": values["feeMinor"],
        "currency": values["currency"],
        "deliverables": [line.as_json() for line in values["deliverables"]],
        "starts_on": values["startsOn"].isoformat(),
        "ends_on": values["endsOn"].isoformat(),
        "usage_rights": {"months": usage.months, "paid_media": usage.paid_media},
        "payment_terms": {"deposit_percent": payment.deposit_percent, "net_days": payment.net_days},
    }
    for name in RULE_TERMS:
        rule = values.get(name)
        if rule:
            # Lists, not tuples: JSONB gives lists back, and a re-run compares what it reads with this.
            stored[to_snake(name)] = list(rule) if isinstance(rule, tuple) else rule
    return stored
