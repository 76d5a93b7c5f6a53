"""contract_finalisation: finalise a contract on agreed terms, contract the deal, schedule its invoices.

Reads ``contracts``, ``deals``, ``talents``, ``brands`` and ``users``; writes the contract
(``finalised``, terms, final text), the deal (``contracted``, with the agreed terms) and its
``invoices`` in one transaction under both row locks, then enqueues ``email-send`` to the
talent's manager with a job id of the contract's. Safe to re-run: a contract already finalised
on the same terms is left as it is and its email is enqueued under the same id, which email-send
never sends twice.

The terms may also set the rules deliverable-review holds the talent's content to
(``requiredHandle``, ``requiredLinks``, ``approvedClaims``, ``forbiddenClaims``): they are
stored with the other terms and stated in the final text. A rule the payload does not state is
kept from the contract's own terms, where it was set while the contract was drafted.
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

from talentq import job_ids
from talentq.db.deals import DealParties, contract_terms, load_deal
from talentq.db.models import utcnow
from talentq.db.tables import Brand, Contract, ContractStatus, Deal, Invoice, InvoiceStatus, Talent, User
from talentq.domain.addresses import named_address
from talentq.domain.content_review import RULE_TERMS
from talentq.domain.contracts import (
    ContractTerms,
    payment_schedule,
    read_terms,
    render_contract,
    stored_terms,
)
from talentq.domain.money import format_minor
from talentq.domain.time import midnight
from talentq.domain.vocabulary import DealStage, describe_content
from talentq.errors import PermanentJobError
from talentq.jobs import JobContext, uses_tables
from talentq.queues import EMAIL_SEND, ContractFinalisation, EmailSend

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
    email_job = job_ids.contract_finalised_email(done.contract_id)
    await ctx["producer"].enqueue(
        EMAIL_SEND,
        EmailSend(
            # Quoted: a comma in "Reyes, Daniel" would make two addresses of one; a name too long
            # to fit the 320 characters of "to" leaves the bare address rather than no email.
            to=named_address(done.manager.name, done.manager.email),
            subject=f"Contract finalised: {done.terms.talent_name} x {done.terms.brand_name}",
            body=_email_body(done),
        ),
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
    agreed = _with_kept_rules(contract, agreed)
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


def _with_kept_rules(contract: Contract, agreed: dict[str, Any]) -> dict[str, Any]:
    """``agreed`` with each review rule it does not state taken from the contract's own terms.

    The rules are the brand's brief, set on the contract while it was drafted (and drafted into
    its text by ai-contract). A finalisation that states only the commercial terms must not drop
    them silently: content review would fall back to the brand's handle and the built-in rules,
    and pass posts the brand's brief forbids. Stating a rule, even as null or [], replaces it.
    """
    own = {
        key: value
        for key, value in contract.terms.items()
        if (name := to_camel(key) if "_" in key else key) in RULE_TERMS and name not in agreed
    }
    kept, problems = read_terms(own, prefix=f"contract {contract.id} terms.")
    if problems:
        raise PermanentJobError(
            f"contract {contract.id}'s own review rules are not valid: {'; '.join(problems)} "
            "(state the rule in the finalisation's terms to replace it)"
        )
    return {**kept, **agreed}


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
