"""ai-contract: draft a contract from its deal, or review the brand's own draft against the agreed terms.

Reads ``contracts`` (a drafting one), its deal, talent, brand and manager; writes the draft to
``rendered_text``, or the review (each mismatched term) to ``review``, which in both modes
records the terms and draft it was made from. Safe to re-run: the same terms and brand draft
are not drafted or reviewed again, and a result whose terms or brand draft changed while it was
made is not written (``DealChanged``: the retry works on what the contract says now).

The contract's terms may set the rules deliverable-review holds the talent's content to
(``requiredHandle``, ``requiredLinks``, ``approvedClaims``, ``forbiddenClaims``, validated like
every other term). They are part of the terms a draft states and a review records, and of the
fingerprint, so a change to them drafts again; ai-contract never writes the terms, so a re-draft
keeps them for contract_finalisation and content review.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from talentq.db.deals import DealChanged, contract_terms, load_deal, require_stage
from talentq.db.tables import Brand, Contract, ContractStatus, Deal, Talent, User
from talentq.domain.contracts import ContractTerms, read_terms
from talentq.domain.vocabulary import DealStage
from talentq.errors import PermanentJobError
from talentq.jobs import JobContext, uses_tables
from talentq.queues import ContractRef


@uses_tables(Contract, Deal, Talent, Brand, User)
async def handle(ctx: JobContext, payload: ContractRef) -> dict[str, Any]:
    # Read, then drafted with no session open: the provider may be a remote model that takes
    # seconds, and a connection (or a row lock) held that long would starve every other job.
    async with ctx["sessions"]() as session:
        contract = await _drafting(session, payload.contract_id, lock=False)
        terms, brand_draft, basis = await _made_from(session, contract)
        mode = "review" if brand_draft else "draft"
        if (contract.review or {}).get("basis") == basis:
            return {"contractId": contract.id, "mode": mode, "status": "unchanged"}
    ai = ctx["ai"]
    values: dict[str, Any]
    notes = {"mode": mode, "basis": basis, "provider": ctx["settings"].ai_provider, "terms": terms.as_json()}
    if brand_draft:
        review = await ai.review_contract(brand_draft, terms)
        values = {"review": {**notes, **review.as_json()}}
        summary: dict[str, Any] = {"mismatches": [m.term for m in review.mismatches]}
    else:
        draft = await ai.draft_contract(terms)
        values = {"rendered_text": draft.text, "review": {**notes, "reasons": draft.reasons}}
        summary = {"chars": len(draft.text)}

    async with ctx["sessions"].begin() as session:
        contract = await _drafting(session, payload.contract_id, lock=True)  # not finalised meanwhile
        # Only "still drafting" is not enough: a brand draft or terms changed meanwhile (and maybe
        # reviewed already by the job for the change) must not be overwritten by this older result.
        _, _, now = await _made_from(session, contract)
        if now != basis:
            raise DealChanged(
                f"contract {contract.id}: its terms or brand draft changed while its {mode} was made: "
                f"the retry {'reviews' if mode == 'review' else 'drafts'} what it says now"
            )
        for name, value in values.items():
            setattr(contract, name, value)
    return {"contractId": payload.contract_id, "mode": mode, "status": "written", **summary}


async def _drafting(session: AsyncSession, contract_id: int, *, lock: bool) -> Contract:
    query = select(Contract).where(col(Contract.id) == contract_id)
    contract = (await session.execute(query.with_for_update() if lock else query)).scalar_one_or_none()
    if contract is None:
        raise PermanentJobError(f"contract {contract_id} (contractId) not found")
    if contract.status != ContractStatus.DRAFTING:
        raise PermanentJobError(
            f"contract {contract_id} is {contract.status!r}, not {ContractStatus.DRAFTING.value!r}: "
            "only a contract being drafted is drafted or reviewed"
        )
    return contract


async def _made_from(session: AsyncSession, contract: Contract) -> tuple[ContractTerms, str, str]:
    """The contract's terms (with its deal's parties), its brand draft, and their fingerprint."""
    field = f"deal of contract {contract.id}"
    parties = await load_deal(session, contract.deal_id, field=field, lock=False)
    require_stage(parties.deal, DealStage.DRAFT, DealStage.NEGOTIATING, field=field)
    agreed, problems = read_terms(contract.terms, prefix=f"contract {contract.id} terms.")
    if problems:
        raise PermanentJobError("; ".join(problems))
    terms = contract_terms(contract, parties, agreed)
    brand_draft = (contract.brand_draft or "").strip()
    return terms, brand_draft, _basis(terms, brand_draft)


def _basis(terms: ContractTerms, brand_draft: str) -> str:
    """A fingerprint of what the draft or review is made from."""
    made_from = json.dumps({"terms": terms.as_json(), "brand_draft": brand_draft}, sort_keys=True)
    return hashlib.sha256(made_from.encode()).hexdigest()
