"""contract_finalisation: finalise a contract on agreed terms, contract the deal, schedule its invoices.

Reads ``contracts``, ``deals``, ``talents``, ``brands`` and ``users``; writes the contract
(``finalised``, terms, final text), the deal (``contracted``, with the agreed terms) and its
``invoices`` in one transaction under both row locks, then enqueues ``email-send`` to the
talent's manager with a job id of the contract's. Safe to re-run: a contract already finalised
on the same terms is left as it is and its email is enqueued under the same id, which email-send
never sends twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from pydantic.alias_generators import to_camel
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from talentq.db.domain import (
    Brand,
    Contract,
    ContractStatus,
    Deal,
    DealStage,
    Invoice,
    InvoiceStatus,
    Talent,
    User,
)
from talentq.db.models import utcnow
from talentq.deals import DealParties, contract_terms, load_deal, midnight, read_terms, stored_terms
from talentq.errors import PermanentJobError
from talentq.integrations.ai_deals import ContractTerms, describe_content, payment_schedule, render_contract
from talentq.jobs import JobContext, uses_tables
from talentq.money import format_minor
from talentq.queues import ContractFinalisation

#: Terms finalisation cannot do without (plus ``contractId``); usage and payment default when absent.
REQUIRED_TERMS: Final = ("feeMinor", "currency", "deliverables", "startsOn", "endsOn")


@dataclass(frozen=True)
class Finalised:
    contract_id: int
    deal_id: int
    already: bool
    invoices: list[Invoice]
    terms: ContractTerms
    manager: User


@uses_tables(Contract, Deal, Talent, Brand, User, Invoice)
async def handle(ctx: JobContext, payload: ContractFinalisation) -> dict[str, Any]:
    agreed = _agreed(payload.terms)
    async with ctx["sessions"].begin() as session:
        done = await _finalise(session, payload.user_id, agreed)
    # After the commit: an email never announces a contract that a rollback undid. A crash
    # right here is healed by the retry, which finds the contract finalised and enqueues again.
    email_job = f"email-send:contract:{done.contract_id}"
    await ctx["producer"].enqueue(
        "email-send",
        {
            "to": f"{done.manager.name} <{done.manager.email}>",
            "subject": f"Contract finalised: {done.terms.talent_name} x {done.terms.brand_name}",
            "body": _email_body(done),
        },
        job_id=email_job,
    )
    return {
        "contractId": done.contract_id,
        "dealId": done.deal_id,
        "status": "already_finalised" if done.already else "finalised",
        "invoices": [invoice.number for invoice in done.invoices],
        "emailJobId": email_job,
    }


def _agreed(raw: dict[str, Any]) -> dict[str, Any]:
    """The payload's terms parsed; every missing or invalid one named in one permanent error."""
    values, problems = read_terms(raw)
    given = {to_camel(key) if "_" in key else key for key in raw}
    missing = [f"terms.{name} is missing" for name in ("contractId", *REQUIRED_TERMS) if name not in given]
    if missing or problems:
        raise PermanentJobError(f"contract_finalisation terms are not valid: {'; '.join(missing + problems)}")
    return values


async def _finalise(session: AsyncSession, user_id: int, agreed: dict[str, Any]) -> Finalised:
    contract_id: int = agreed["contractId"]
    contract = (
        await session.execute(select(Contract).where(col(Contract.id) == contract_id).with_for_update())
    ).scalar_one_or_none()
    if contract is None:
        raise PermanentJobError(f"contract {contract_id} (terms.contractId) not found")
    if "dealId" in agreed and agreed["dealId"] != contract.deal_id:
        raise PermanentJobError(
            f"terms.dealId {agreed['dealId']} does not match contract {contract_id}, which is deal "
            f"{contract.deal_id}'s"
        )
    parties = await load_deal(session, contract.deal_id, field=f"deal of contract {contract_id}", lock=True)
    manager = await _manager(session, user_id, parties)
    terms = contract_terms(contract, parties, agreed)
    stored = stored_terms(agreed)

    if contract.status == ContractStatus.FINALISED and contract.terms == stored:
        invoices = await _invoices(session, parties.deal_id)
        return Finalised(contract_id, parties.deal_id, True, invoices, terms, manager)
    if contract.status != ContractStatus.DRAFTING:
        old = contract.terms
        differing = sorted(k for k in stored.keys() | old.keys() if stored.get(k) != old.get(k))
        detail = f" with other terms (differing: {', '.join(differing)})" if differing else ""
        raise PermanentJobError(f"contract {contract_id} is already {contract.status!r}{detail}")
    deal = parties.deal
    if deal.stage not in (DealStage.DRAFT, DealStage.NEGOTIATING):
        raise PermanentJobError(
            f"deal {deal.id} of contract {contract_id} is in stage {deal.stage!r}: only a draft or "
            "negotiating deal is contracted"
        )
    if parties.brand is None:  # pragma: no cover - contract_terms refuses a deal without a brand
        raise PermanentJobError(f"deal {deal.id} has no brand to invoice")

    now = utcnow()
    contract.status, contract.finalised_at = ContractStatus.FINALISED.value, now
    contract.terms = stored
    contract.rendered_text = render_contract(terms, final=True)
    deal.stage, deal.stage_changed_at = DealStage.CONTRACTED.value, now
    deal.fee_minor, deal.currency = terms.fee_minor, terms.currency
    deal.deliverables = [line.as_json() for line in terms.content]
    deal.starts_at, deal.ends_at = midnight(agreed["startsOn"]), midnight(agreed["endsOn"])
    await _schedule_invoices(session, parties, terms, signed_at=now)
    invoices = await _invoices(session, parties.deal_id)
    return Finalised(contract_id, parties.deal_id, False, invoices, terms, manager)


async def _manager(session: AsyncSession, user_id: int, parties: DealParties) -> User:
    """The user finalising, who must manage the deal's talent."""
    user = await session.get(User, user_id)
    if user is None:
        raise PermanentJobError(f"user {user_id} (userId) not found")
    talent = parties.talent
    if talent is None:
        raise PermanentJobError(f"deal {parties.deal_id} has no talent, so no manager to finalise it")
    if talent.manager_id != user_id:
        raise PermanentJobError(
            f"user {user_id} is not the manager of talent {talent.id} (deal {parties.deal_id}); "
            f"its manager is user {talent.manager_id}"
        )
    return user


async def _schedule_invoices(
    session: AsyncSession, parties: DealParties, terms: ContractTerms, *, signed_at: datetime
) -> None:
    """The fee as draft invoices: the deposit due net days after signing, the balance after the campaign."""
    if parties.brand is None or terms.ends_on is None:  # pragma: no cover - checked by the caller
        raise RuntimeError("invoices need a brand and the campaign's end")
    net = timedelta(days=terms.payment.net_days)
    # Invoiced the day after the last campaign day: its posts are up by then.
    campaign_over = midnight(terms.ends_on) + timedelta(days=1)
    schedule = payment_schedule(terms.fee_minor, terms.payment)
    rows = [
        {
            "deal_id": parties.deal_id,
            "brand_id": parties.brand.id,
            "number": f"INV-{parties.deal_id}-{part.number}",
            "installment": part.number,
            "amount_minor": part.amount_minor,
            "currency": terms.currency,
            # Drafts: nobody has sent them to the brand yet, so the overdue cron must not chase them.
            "status": InvoiceStatus.DRAFT.value,
            "due_at": (signed_at if part.after == "signing" else campaign_over) + net,
        }
        for part in schedule
    ]
    await session.execute(
        insert(Invoice).values(rows).on_conflict_do_nothing(index_elements=["deal_id", "installment"])
    )
    # Invoices the deal had before (another contract's) would make the schedule add up to something else.
    planned = {part.number: (part.amount_minor, terms.currency) for part in schedule}
    found = {i.installment: (i.amount_minor, i.currency) for i in await _invoices(session, parties.deal_id)}
    if found != planned:
        raise PermanentJobError(
            f"deal {parties.deal_id} already has invoices ({_installments(found)}) that differ from "
            f"the schedule of its terms ({_installments(planned)})"
        )


def _installments(parts: dict[int, tuple[int, str]]) -> str:
    return ", ".join(f"#{n} {format_minor(amount, cur)}" for n, (amount, cur) in sorted(parts.items()))


async def _invoices(session: AsyncSession, deal_id: int) -> list[Invoice]:
    return list(
        (
            await session.scalars(
                select(Invoice).where(col(Invoice.deal_id) == deal_id).order_by(col(Invoice.installment))
            )
        ).all()
    )


def _email_body(done: Finalised) -> str:
    terms = done.terms
    cur = terms.currency
    lines = [
        f"Hi {done.manager.name},",
        "",
        f"Contract {done.contract_id} for {terms.talent_name} x {terms.brand_name} is finalised and deal "
        f"{done.deal_id} is contracted.",
        "",
        f"Fee: {format_minor(terms.fee_minor, cur)}",
        f"Deliverables: {describe_content(terms.content)}",
        f"Campaign: {terms.starts_on} to {terms.ends_on}",
        "",
        "Invoice schedule (drafts, ready to send):",
        *(
            f"- {i.number}: {format_minor(i.amount_minor, i.currency)}, due {_day(i.due_at)}"
            for i in done.invoices
        ),
        "",
        "The final text is on the contract, ready for signatures.",
    ]
    return "\n".join(lines)


def _day(when: datetime | None) -> str:
    return when.date().isoformat() if when is not None else "not set"
