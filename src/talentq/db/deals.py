"""A deal with its parties, as the deal and contract processors load and lock it.

Loads (and locks) a deal with its talent, brand and the talent's manager, checks its stage and
content, and gathers what pricing needs (its facts and the agency's comparable past deals). What
no retry can fix raises ``PermanentJobError`` naming the id or field and what is wrong.

Pricing is split so that no transaction is open while the AI provider (perhaps a remote model
taking seconds) works: read ``pricing_facts`` and ``comparable_deals`` in one session, close it,
ask the provider, then write under the deal's row lock after ``require_priced_facts``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import cast, literal, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from talentq.db.tables import Brand, Contract, Deal, Talent, User
from talentq.domain.contracts import DEFAULT_PAYMENT, DEFAULT_USAGE, ContractTerms
from talentq.domain.pricing import ComparableDeal, NegotiationInsights, PricingFacts
from talentq.domain.vocabulary import ContentLine, DealStage, parse_content
from talentq.errors import PermanentJobError

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
    if deal.fee_minor is None and deal.fee_text:
        # The offer named an amount but no currency: deals.currency is only the column default
        # then, and pricing in it would be the silent guess deal-extraction refuses to make.
        raise PermanentJobError(
            f"deal {parties.deal_id}'s offer {deal.fee_text!r} has no currency: set the deal's "
            "fee_minor and currency, then replay"
        )
    return PricingFacts(
        parties.deal_id, deal.currency, deal.fee_minor, talent.audience_size, content_of(deal)
    )


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
        required_handle=agreed.get("requiredHandle"),
        required_links=agreed.get("requiredLinks", ()),
        approved_claims=agreed.get("approvedClaims", ()),
        forbidden_claims=agreed.get("forbiddenClaims", ()),
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
