"""deliverable-review: review submitted content against the contract, store it, notify the manager.

Reads ``deliverables``, ``deals``, ``contracts``, ``brands``, ``talents`` and ``users``; writes the
deliverable's content, review and status (``approved`` or ``changes_requested``) and enqueues
``email-send`` in the same locked transaction. Safe to re-run: a stored submission is not reviewed
twice, a submission older than the stored one (by its ``submittedAt``, else its enqueue time) completes
as ``superseded`` without touching it.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import case, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from talentq import job_ids
from talentq.db.deliverables import locked_deliverable
from talentq.db.models import pk, utcnow
from talentq.db.tables import (
    Brand,
    Contract,
    ContractStatus,
    Deal,
    Deliverable,
    DeliverableStatus,
    Talent,
    User,
)
from talentq.domain.addresses import named_address
from talentq.domain.content_review import ContentReview, Finding, requirements, review
from talentq.domain.time import local_text, tick_ms, zone_or
from talentq.errors import PermanentJobError
from talentq.jobs import JobContext, uses_tables
from talentq.queues import EMAIL_SEND, DeliverableReview, EmailSend

#: The email quotes this much of the content; the stored review has the rest.
EMAIL_EXCERPT_CHARS: Final = 280
#: Findings listed in the email; the stored review has them all.
EMAIL_FINDINGS: Final = 20
#: Past submissions the stored review remembers (digest, time, verdict), newest first.
HISTORY: Final = 20


@uses_tables(Deliverable, Deal, Contract, Brand, Talent, User)
async def handle(ctx: JobContext, payload: DeliverableReview) -> dict[str, Any]:
    digest = hashlib.sha256(payload.content.encode()).hexdigest()
    # A submission's time is the producer's submittedAt, which a replay from the dead letters keeps
    # (it reuses the payload); else its job's enqueue time, which arq keeps across retries. Either way
    # a retried or replayed older submission knows it is older than one reviewed in the meantime.
    submitted = (payload.submitted_at or ctx["enqueue_time"]).astimezone(UTC)
    async with ctx["sessions"].begin() as session:
        # The row lock serialises two reviews of one deliverable: the second sees the first's result.
        found = await locked_deliverable(session, payload.deliverable_id)
        deliverable, talent, manager_id = found.deliverable, found.talent_name, found.manager_id
        manager, manager_email, zone_name = found.manager_name, found.manager_email, found.manager_zone
        brand, brand_handle = found.brand_name, found.brand_handle
        stored = deliverable.review or {}
        if deliverable.content == payload.content and stored.get("contentSha256") == digest:
            # Its email went out with the commit that stored it: nothing left to do.
            findings = [Finding(**f) for f in stored.get("findings", [])]
            return _result(
                "already_reviewed", payload, deliverable.status, findings, stored.get("emailJobId")
            )
        newest = _stored_submission(stored)
        if newest is not None and submitted < newest:
            return {
                "result": "superseded",
                "deliverableId": deliverable.id,
                "status": deliverable.status,
                "submittedAt": submitted.isoformat(),
                "supersededBy": stored["submittedAt"],
                "reviewedBefore": any(h.get("sha256") == digest for h in stored.get("history", [])),
            }
        if deliverable.status == DeliverableStatus.APPROVED:
            raise PermanentJobError(
                f"deliverable {deliverable.id} is already approved; a new submission is not reviewed"
            )

        contract = await _contract(session, deliverable.deal_id)
        rules = requirements(
            platform=deliverable.platform,
            terms=None if contract is None else contract.terms,
            contract_label=None if contract is None else f"contract {contract.id} ({contract.status})",
            brand_handle=brand_handle,
        )
        outcome = review(payload.content, rules)
        # Keyed by the submission: a retry finds its job, a later submission (even of content
        # reviewed before) notifies again.
        email_job = job_ids.review_email(pk(deliverable), tick_ms(submitted), digest)
        await session.execute(
            update(Deliverable)
            .where(col(Deliverable.id) == deliverable.id)
            .values(
                content=payload.content,
                status=outcome.verdict,
                review=_review_json(
                    outcome,
                    rules.basis,
                    contract,
                    digest=digest,
                    submitted=submitted,
                    email_job=email_job,
                    previous=deliverable.status,
                    history=stored.get("history", []),
                ),
            )
        )
        # Enqueued before the commit, like deliverable-reminders: if Redis fails, the review rolls
        # back with it and the retry reviews again; if the commit fails after the enqueue, the
        # retry's enqueue of the same job id adds nothing. A stored review always has its email.
        verdict = "Approved" if outcome.verdict == "approved" else "Changes requested"
        await ctx["producer"].enqueue(
            EMAIL_SEND,
            EmailSend(
                to=named_address(manager, manager_email),
                subject=f"{verdict}: {deliverable.title}"[:300],
                body=_email_body(
                    deliverable,
                    talent,
                    brand,
                    outcome,
                    rules.basis,
                    payload.content,
                    manager,
                    local_text(deliverable.due_at, zone_or(zone_name, owner=f"user {manager_id}")),
                ),
            ),
            job_id=email_job,
        )
    return _result("reviewed", payload, outcome.verdict, outcome.findings, email_job)


def _result(
    result: str, payload: DeliverableReview, status: str, findings: list[Finding], email_job: str | None
) -> dict[str, Any]:
    errors = sum(f.severity == "error" for f in findings)
    return {
        "result": result,
        "deliverableId": payload.deliverable_id,
        "status": status,
        "errors": errors,
        "warnings": len(findings) - errors,
        "emailJobId": email_job,
    }


def _stored_submission(stored: dict[str, Any]) -> datetime | None:
    """When the stored content was submitted; None for a review written before that was recorded."""
    at = stored.get("submittedAt")
    return datetime.fromisoformat(at) if isinstance(at, str) else None


async def _contract(session: AsyncSession, deal_id: int) -> Contract | None:
    """The deal's contract that binds: signed before finalised before a draft, the latest of each."""
    rank = case(
        (col(Contract.status) == ContractStatus.SIGNED, 0),
        (col(Contract.status) == ContractStatus.FINALISED, 1),
        else_=2,
    )
    return (
        await session.execute(
            select(Contract)
            .where(col(Contract.deal_id) == deal_id)
            .order_by(rank, col(Contract.id).desc())
            .limit(1)
        )
    ).scalar_one_or_none()


def _review_json(
    outcome: ContentReview,
    basis: list[str],
    contract: Contract | None,
    *,
    digest: str,
    submitted: datetime,
    email_job: str,
    previous: str,
    history: list[dict[str, Any]],
) -> dict[str, Any]:
    entry = {"sha256": digest, "submittedAt": submitted.isoformat(), "verdict": outcome.verdict}
    return {
        "verdict": outcome.verdict,
        "findings": outcome.findings_json(),
        "basis": basis,
        "contractId": None if contract is None else contract.id,
        "platform": outcome.platform,
        "limit": outcome.limit,
        "contentChars": outcome.chars,
        "contentSha256": digest,
        "submittedAt": submitted.isoformat(),
        "emailJobId": email_job,
        "previousStatus": previous,
        "reviewedAt": utcnow().isoformat(),
        "history": [entry, *history][:HISTORY],
    }


def _email_body(
    deliverable: Deliverable,
    talent: str,
    brand: str | None,
    outcome: ContentReview,
    basis: list[str],
    content: str,
    manager: str,
    due: str,
) -> str:
    verdict = "approved" if outcome.verdict == "approved" else "needs changes"
    findings = outcome.findings
    lines = [
        f"Hi {manager.split()[0] if manager.split() else 'there'},",
        "",
        f'{talent}\'s content for "{deliverable.title}"'
        f"{f' ({brand})' if brand else ''} on {deliverable.platform or 'an unnamed platform'} {verdict}.",
        "",
    ]
    if findings:
        lines.append("Findings:")
        lines += [f"- [{f.severity}] {f.rule}: {f.detail}" for f in findings[:EMAIL_FINDINGS]]
        if len(findings) > EMAIL_FINDINGS:
            lines.append(f"- ... and {len(findings) - EMAIL_FINDINGS} more in the stored review")
    else:
        lines.append("No findings: disclosure, brand handle, links, claims and length all pass.")
    lines += ["", *(f"Basis: {line}" for line in basis), ""]
    excerpt = content[:EMAIL_EXCERPT_CHARS]
    more = f"\n[... {len(content):,} characters in all]" if len(content) > EMAIL_EXCERPT_CHARS else ""
    lines += ["Submitted content:", excerpt + more, "", f"Deliverable {deliverable.id}, due {due}."]
    return "\n".join(lines)
