"""A deal with its parties and terms, as the deal and contract processors read them.

Loads (and locks) a deal with its talent, brand and the talent's manager, checks its stage
and content, gathers what pricing it needs (its facts and the agency's comparable past deals),
and reads agreed contract terms. What no retry can fix raises ``PermanentJobError`` naming the
id or field and what is wrong, which the processors let through to the dead-letter store.

Pricing is split so that no transaction is open while the AI provider (perhaps a remote model
taking seconds) works: read ``pricing_facts`` and ``comparable_deals`` in one session, close
it, ``price_deal``, then write under the deal's row lock after ``require_priced_facts``.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any, Final, TypeGuard

from pydantic.alias_generators import to_camel
from sqlalchemy import cast, literal, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from talentq.db.domain import Brand, Contract, Deal, DealStage, Talent, User
from talentq.errors import PermanentJobError
from talentq.integrations.ai import AIProvider
from talentq.integrations.ai_deals import (
    DEFAULT_PAYMENT,
    DEFAULT_USAGE,
    ComparableDeal,
    ContentLine,
    ContractTerms,
    NegotiationInsights,
    NoMarketRate,
    PaymentTerms,
    PricingFacts,
    UsageRights,
    parse_content,
)
from talentq.money import is_currency

#: Deals whose fee the market accepted: what pricing compares against.
PRICED_STAGES: Final = (DealStage.CONTRACTED.value, DealStage.DELIVERED.value)
#: The most recent comparable deals read for pricing: enough for a median, bounded for a large agency.
COMPARABLES_LIMIT: Final = 500


class DealChanged(Exception):
    """The deal changed between reading it and writing what was computed from it: transient.

    The retry reads the deal again and computes afresh; a job never stores insights or a reply
    made from terms the deal no longer has.
    """


@dataclass(frozen=True)
class DealParties:
    """A deal with its talent, brand and the talent's manager (each None when the deal has none)."""

    deal: Deal
    talent: Talent | None
    brand: Brand | None
    manager: User | None

    @property
    def deal_id(self) -> int:
        return _pk(self.deal)


def _pk(row: Deal | Contract) -> int:
    if row.id is None:  # pragma: no cover - rows read from the database have ids
        raise RuntimeError(f"{type(row).__name__} has no id")
    return row.id


async def load_deal(session: AsyncSession, deal_id: int, *, field: str, lock: bool) -> DealParties:
    """The deal ``deal_id`` (payload field ``field``) and its parties; ``lock`` takes its row lock."""
    query = select(Deal).where(col(Deal.id) == deal_id)
    deal = (await session.execute(query.with_for_update() if lock else query)).scalar_one_or_none()
    if deal is None:
        raise PermanentJobError(f"deal {deal_id} ({field}) not found")
    talent = await session.get(Talent, deal.talent_id) if deal.talent_id is not None else None
    brand = await session.get(Brand, deal.brand_id) if deal.brand_id is not None else None
    manager = await session.get(User, talent.manager_id) if talent is not None else None
    return DealParties(deal, talent, brand, manager)


def require_stage(deal: Deal, *stages: DealStage, field: str) -> None:
    """Refuse a deal whose stage this job cannot act on, naming the id and both stages."""
    if deal.stage not in {s.value for s in stages}:
        wanted = " or ".join(repr(s.value) for s in stages)
        raise PermanentJobError(f"deal {deal.id} ({field}) is in stage {deal.stage!r}, not {wanted}")


def content_of(deal: Deal) -> tuple[ContentLine, ...]:
    """The deal's deliverables as content lines; a deal with none or with malformed ones is refused."""
    content, problems = parse_content(deal.deliverables, field_name=f"deal {deal.id} deliverables")
    if problems:
        raise PermanentJobError("; ".join(problems))
    return content


def require_talent(parties: DealParties, purpose: str) -> Talent:
    if parties.talent is None:
        raise PermanentJobError(
            f"deal {parties.deal_id} has no talent, which {purpose} needs: set deals.talent_id, then replay"
        )
    return parties.talent


async def comparable_deals(session: AsyncSession, deal: Deal) -> list[ComparableDeal]:
    """The agency's latest contracted or delivered deals in ``deal``'s currency, with fee and audience."""
    rows = (
        await session.execute(
            select(col(Deal.id), col(Deal.fee_minor), col(Talent.audience_size), col(Deal.deliverables))
            .join(Talent, col(Talent.id) == col(Deal.talent_id))
            .where(
                col(Deal.stage).in_(PRICED_STAGES),
                col(Deal.currency) == deal.currency,
                col(Deal.fee_minor) > 0,
                col(Talent.audience_size) > 0,
                # Not jsonb_array_length: it raises on a deal whose deliverables are not an array.
                col(Deal.deliverables) != cast(literal("[]"), JSONB),
                col(Deal.id) != deal.id,
            )
            .order_by(col(Deal.stage_changed_at).desc(), col(Deal.id).desc())
            .limit(COMPARABLES_LIMIT)
        )
    ).all()
    comparables = []
    for deal_id, fee_minor, audience, deliverables in rows:
        content, problems = parse_content(deliverables)
        if not problems:  # another deal's malformed deliverables make it no comparison, not a failure
            comparables.append(ComparableDeal(deal_id, deal.currency, fee_minor, audience, content))
    return comparables


def pricing_facts(parties: DealParties) -> PricingFacts:
    """What the deal is priced on: its offer and content, its talent's audience; refused if one is missing."""
    talent = require_talent(parties, "pricing by audience")
    if talent.audience_size <= 0:
        raise PermanentJobError(
            f"talent {talent.id} of deal {parties.deal_id} has no audience size to price by: "
            "set talents.audience_size, then replay"
        )
    deal = parties.deal
    return PricingFacts(
        parties.deal_id, deal.currency, deal.fee_minor, talent.audience_size, content_of(deal)
    )


async def price_deal(
    ai: AIProvider, facts: PricingFacts, comparables: list[ComparableDeal]
) -> NegotiationInsights:
    """Negotiation insights for the deal from its comparable deals (or the rate card), by ``ai``.

    Call it with no session open: the provider may take seconds.
    """
    try:
        return await ai.negotiation_insights(facts, comparables)
    except NoMarketRate as exc:
        raise PermanentJobError(f"deal {facts.deal_id}: {exc}") from exc


def require_priced_facts(parties: DealParties, priced: PricingFacts) -> None:
    """Refuse to store insights priced on facts the (locked) deal no longer has."""
    now = pricing_facts(parties)
    if now != priced:
        raise DealChanged(
            f"deal {parties.deal_id} changed while it was priced (offer, currency, content or audience): "
            "the retry prices it again"
        )


def with_insights(deal: Deal, insights: NegotiationInsights) -> dict[str, Any]:
    """The deal's insights with ``negotiation`` replaced, every other key (``extraction``) kept."""
    return {**(deal.insights or {}), "negotiation": insights.as_json()}


# --- agreed terms ---------------------------------------------------------------------------

#: Terms a contract can carry, camelCase as on the wire (snake_case is accepted too).
TERM_NAMES: Final = (
    "contractId", "dealId", "feeMinor", "currency", "deliverables", "startsOn", "endsOn",
    "usageRights", "paymentTerms",
)  # fmt: skip


def _positive_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _int_in(value: object, low: int, high: int) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def read_terms(raw: Mapping[str, Any], *, prefix: str = "terms.") -> tuple[dict[str, Any], list[str]]:
    """The terms present in ``raw``, parsed (camelCase name -> value), and a problem per bad or unknown one.

    Values: ids and ``feeMinor`` ints, ``currency`` an ISO code, ``deliverables`` content lines,
    dates ``date``, ``usageRights`` a ``UsageRights``, ``paymentTerms`` a ``PaymentTerms``.
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
    """Parsed terms as ``contracts.terms`` keeps them: snake_case JSON, usage and payment made explicit."""
    usage: UsageRights = values.get("usageRights", DEFAULT_USAGE)
    payment: PaymentTerms = values.get("paymentTerms", DEFAULT_PAYMENT)
    return {
        "fee_minor": values["feeMinor"],
        "currency": values["currency"],
        "deliverables": [line.as_json() for line in values["deliverables"]],
        "starts_on": values["startsOn"].isoformat(),
        "ends_on": values["endsOn"].isoformat(),
        "usage_rights": {"months": usage.months, "paid_media": usage.paid_media},
        "payment_terms": {"deposit_percent": payment.deposit_percent, "net_days": payment.net_days},
    }


def contract_terms(contract: Contract, parties: DealParties, agreed: Mapping[str, Any]) -> ContractTerms:
    """The contract's terms: ``agreed`` (parsed) over the deal's own values over the defaults.

    Refuses, naming each gap, a contract without parties, fee or deliverables to state.
    """
    deal = parties.deal
    gaps = []
    if parties.brand is None:
        gaps.append(f"deal {parties.deal_id} has no brand")
    if parties.talent is None or parties.manager is None:
        gaps.append(f"deal {parties.deal_id} has no talent")
    fee, currency = _fee(parties, agreed, gaps)
    content: tuple[ContentLine, ...] = agreed.get("deliverables", ())
    if not content:
        content, problems = parse_content(
            deal.deliverables, field_name=f"deal {parties.deal_id} deliverables"
        )
        gaps += problems
    if gaps or parties.brand is None or parties.talent is None or parties.manager is None or fee is None:
        raise PermanentJobError(f"contract {contract.id} cannot be written: {'; '.join(gaps)}")
    assumptions = []
    if "usageRights" not in agreed:
        assumptions.append(
            f"usage rights not agreed: the standard {DEFAULT_USAGE.months} months on the Brand's own "
            "channels, no paid media"
        )
    if "paymentTerms" not in agreed:
        assumptions.append(
            f"payment terms not agreed: the standard {DEFAULT_PAYMENT.deposit_percent}% deposit on "
            f"signing, balance after the campaign, net {DEFAULT_PAYMENT.net_days} days"
        )
    starts_on = agreed.get("startsOn") or (deal.starts_at.date() if deal.starts_at else None)
    ends_on = agreed.get("endsOn") or (deal.ends_at.date() if deal.ends_at else None)
    if starts_on is None or ends_on is None:
        assumptions.append("campaign dates not agreed")
    return ContractTerms(
        contract_id=_pk(contract),
        deal_id=parties.deal_id,
        brand_name=parties.brand.name,
        talent_name=parties.talent.name,
        talent_handle=parties.talent.handle,
        manager_name=parties.manager.name,
        fee_minor=fee,
        currency=currency,
        content=content,
        starts_on=starts_on,
        ends_on=ends_on,
        usage=agreed.get("usageRights", DEFAULT_USAGE),
        payment=agreed.get("paymentTerms", DEFAULT_PAYMENT),
        assumptions=tuple(assumptions),
    )


def _fee(parties: DealParties, agreed: Mapping[str, Any], gaps: list[str]) -> tuple[int | None, str]:
    """The fee and its currency as one pair, never the fee of one source and the currency of another.

    The terms' fee is in the terms' currency (else the deal's); without a fee in the terms, the
    deal's fee in the deal's currency, which terms naming another currency cannot use.
    """
    deal = parties.deal
    if "feeMinor" in agreed:
        return agreed["feeMinor"], agreed.get("currency", deal.currency)
    currency = agreed.get("currency", deal.currency)
    if currency != deal.currency:
        gaps.append(
            f"terms.currency is {currency} but deal {parties.deal_id}'s fee is in {deal.currency}, and "
            f"terms.feeMinor is missing: state the fee in {currency}"
        )
    elif deal.fee_minor is None:
        gaps.append(f"no fee: deal {parties.deal_id} names none and the terms do not either")
    return deal.fee_minor, deal.currency


def midnight(day: date) -> datetime:
    """``day`` at 00:00 UTC."""
    return datetime.combine(day, time.min, UTC)
