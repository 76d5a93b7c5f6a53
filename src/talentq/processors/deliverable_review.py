"""deliverable-review: review submitted content against the contract, store it, notify the manager.

Reads ``deliverables``, ``deals``, ``contracts``, ``brands``, ``talents`` and ``users``; writes the
deliverable's content, review and status (``approved`` or ``changes_requested``) and enqueues
``email-send``. Safe to re-run: the same content is reviewed once, and its email's job id
carries the content's hash, so a retry never notifies twice while a new submission does.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from email.utils import formataddr
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import case, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from talentq.content_review import ContentReview, Finding, requirements, review
from talentq.db.domain import (
    Brand,
    Contract,
    ContractStatus,
    Deal,
    Deliverable,
    DeliverableStatus,
    Talent,
    User,
)
from talentq.db.models import utcnow
from talentq.errors import PermanentJobError
from talentq.jobs import JobContext, uses_tables
from talentq.queues import DeliverableReview

#: The email quotes this much of the content; the stored review has the rest.
EMAIL_EXCERPT_CHARS: Final = 280
#: Findings listed in the email; the stored review has them all.
EMAIL_FINDINGS: Final = 20
_MAX_ADDRESS: Final = 320  # email-send's limit for "to"


@uses_tables(Deliverable, Deal, Contract, Brand, Talent, User)
async def handle(ctx: JobContext, payload: DeliverableReview) -> dict[str, Any]:
    digest = hashlib.sha256(payload.content.encode()).hexdigest()
    async with ctx["sessions"].begin() as session:
        # The row lock serialises two reviews of one deliverable: the second sees the first's result.
        row = (
            await session.execute(
                select(
                    Deliverable,
                    col(Talent.name),
                    col(User.name),
                    col(User.email),
                    col(User.time_zone),
                    col(Brand.name),
                    col(Brand.instagram_handle),
                )
                .join(Talent, col(Talent.id) == col(Deliverable.talent_id))
                .join(User, col(User.id) == col(Talent.manager_id))
                .join(Deal, col(Deal.id) == col(Deliverable.deal_id))
                .outerjoin(Brand, col(Brand.id) == col(Deal.brand_id))
                .where(col(Deliverable.id) == payload.deliverable_id)
                .with_for_update(of=Deliverable)
            )
        ).one_or_none()
        if row is None:
            raise PermanentJobError(f"deliverable {payload.deliverable_id} not found")
        deliverable, talent, manager, manager_email, zone, brand, brand_handle = row
        stored = deliverable.review or {}
        if deliverable.content == payload.content and stored.get("contentSha256") == digest:
            result, verdict = "already_reviewed", deliverable.status
            findings = [Finding(**f) for f in stored.get("findings", [])]
            basis = list(stored.get("basis", []))
        elif deliverable.status == DeliverableStatus.APPROVED:
            raise PermanentJobError(
                f"deliverable {deliverable.id} is already approved; a new submission is not reviewed"
            )
        else:
            contract = await _contract(session, deliverable.deal_id)
            rules = requirements(
                platform=deliverable.platform,
                terms=None if contract is None else contract.terms,
                contract_label=None if contract is None else f"contract {contract.id} ({contract.status})",
                brand_handle=brand_handle,
            )
            outcome = review(payload.content, rules)
            result, verdict, findings, basis = "reviewed", outcome.verdict, outcome.findings, rules.basis
            await session.execute(
                update(Deliverable)
                .where(col(Deliverable.id) == deliverable.id)
                .values(
                    content=payload.content,
                    status=outcome.verdict,
                    review=_review_json(outcome, digest, basis, contract, previous=deliverable.status),
                )
            )

    # After the commit: a worker killed here leaves the review stored, and the retry takes the
    # "already_reviewed" path and enqueues the same job id, so the manager hears exactly once.
    email_job = f"email-send:deliverable-review:{deliverable.id}:{digest[:16]}"
    await ctx["producer"].enqueue(
        "email-send",
        {
            "to": _address(manager, manager_email),
            "subject": f"{'Approved' if verdict == DeliverableStatus.APPROVED else 'Changes requested'}: "
            f"{deliverable.title}"[:300],
            "body": _email_body(
                deliverable, talent, brand, verdict, findings, basis, payload.content, manager, zone
            ),
        },
        job_id=email_job,
    )
    errors = sum(f.severity == "error" for f in findings)
    return {
        "result": result,
        "deliverableId": deliverable.id,
        "status": verdict,
        "errors": errors,
        "warnings": len(findings) - errors,
        "emailJobId": email_job,
    }


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
    outcome: ContentReview, digest: str, basis: list[str], contract: Contract | None, *, previous: str
) -> dict[str, Any]:
    return {
        "verdict": outcome.verdict,
        "findings": outcome.findings_json(),
        "basis": basis,
        "contractId": None if contract is None else contract.id,
        "platform": outcome.platform,
        "limit": outcome.limit,
        "contentChars": outcome.chars,
        "contentSha256": digest,
        "previousStatus": previous,
        "reviewedAt": utcnow().isoformat(),
    }


def _address(name: str, email: str) -> str:
    named = formataddr((name, email))
    return named if len(named) <= _MAX_ADDRESS else email


def _email_body(
    deliverable: Deliverable,
    talent: str,
    brand: str | None,
    verdict: str,
    findings: list[Finding],
    basis: list[str],
    content: str,
    manager: str,
    zone: str,
) -> str:
    outcome = "approved" if verdict == DeliverableStatus.APPROVED else "needs changes"
    lines = [
        f"Hi {manager.split()[0] if manager.split() else 'there'},",
        "",
        f'{talent}\'s content for "{deliverable.title}"'
        f"{f' ({brand})' if brand else ''} on {deliverable.platform or 'an unnamed platform'} {outcome}.",
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
    due = _local(deliverable.due_at, zone)
    lines += ["Submitted content:", excerpt + more, "", f"Deliverable {deliverable.id}, due {due}."]
    return "\n".join(lines)


def _local(moment: datetime, zone: str) -> str:
    """``moment`` in the manager's time zone; UTC when the stored zone name is not a known one."""
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo("UTC")
    return moment.astimezone(tz).strftime("%a %d %b %Y, %H:%M %Z")
