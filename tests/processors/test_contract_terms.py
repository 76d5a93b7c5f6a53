"""A contract's own content review rules, from its terms to the review of a post.

``requiredHandle``, ``requiredLinks``, ``approvedClaims`` and ``forbiddenClaims`` are contract
terms: validated like the others, drafted into the contract's text by ai-contract, stored by
contract_finalisation, and what deliverable-review holds the talent's posts to. The flows run
on a real worker, Redis and PostgreSQL.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest
from arq.connections import ArqRedis
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from talentq.db.models import pk, utcnow
from talentq.db.tables import Contract, Deliverable
from talentq.dev.sample_agency import seed
from talentq.domain.contracts import render_contract
from talentq.integrations.ai.rules import RulesProvider
from talentq.processors import ai_contract, contract_finalisation, deliverable_review, email_send
from talentq.queues import CATALOGUE, QueueSpec, RetryPolicy
from talentq.registry import Binding

from ..conftest import MakeWorker
from ..domain.test_contract_rules import terms as contract_terms
from ..test_jobs import result_of
from .test_contracts import MAIL, agreed, maya, new_contract
from .test_deals import failures, sample_deal, snapshot

pytestmark = pytest.mark.integration

FAST = RetryPolicy(3, 0.05, 0.2)
BINDINGS: list[Binding] = [
    ("ai-contract", ai_contract.handle),
    ("contract_finalisation", contract_finalisation.handle),
    ("deliverable-review", deliverable_review.handle),
    ("email-send", email_send.handle),
]
QUEUES: dict[str, QueueSpec[Any]] = {
    name: dataclasses.replace(CATALOGUE[name], retry=FAST) for name, _ in BINDINGS
}

#: HelloFresh's brief for Ava, as the web app sets it on the contract being drafted (the wire's
#: camelCase): tag its UK account (not the brand's own "hellofresh"), link Ava's code page, never
#: call it the cheapest, and "risk-free" (a claim the built-in rules block) is theirs to make.
RULES: dict[str, Any] = {
    "requiredHandle": "hellofresh_uk",
    "requiredLinks": ["hellofresh.co.uk/ava"],
    "approvedClaims": ["Risk-free"],
    "forbiddenClaims": ["cheapest meal kit"],
}
#: The same rules as ``contracts.terms`` keeps them: snake_case, the handle with its "@".
STORED_RULES: dict[str, Any] = {
    "required_handle": "@hellofresh_uk",
    "required_links": ["hellofresh.co.uk/ava"],
    "approved_claims": ["Risk-free"],
    "forbidden_claims": ["cheapest meal kit"],
}
RULES_TEXT = (
    "6. Content requirements\n"
    "Every post tags the Brand as @hellofresh_uk.\n"
    "Every post includes these links:\n"
    "- hellofresh.co.uk/ava\n"
    "The Creator shall not claim:\n"
    '- "cheapest meal kit"\n'
    "The Brand holds the evidence for, and approves, these claims:\n"
    '- "Risk-free"\n'
)


async def run(
    make_worker: MakeWorker, redis: ArqRedis, queue: str, payload: dict[str, Any], job_id: str
) -> Any:
    await redis.enqueue_job(queue, payload, _job_id=job_id)
    await make_worker(BINDINGS, catalogue=QUEUES, settings_=MAIL).async_run()
    return await result_of(redis, job_id)


async def contract_row(sessions: async_sessionmaker[AsyncSession], contract_id: int) -> Contract:
    async with sessions() as session:
        contract = await session.get(Contract, contract_id)
    assert contract is not None
    return contract


async def set_terms(sessions: async_sessionmaker[AsyncSession], contract_id: int, **values: Any) -> None:
    async with sessions.begin() as session:
        await session.execute(update(Contract).where(col(Contract.id) == contract_id).values(**values))


# --- the terms on their own ---------------------------------------------------------------------


async def test_the_rules_review_reads_a_contract_with_content_rules_as_matching() -> None:
    """The content requirements are stated once, after the commercial terms, without disturbing them."""
    rules = contract_terms(
        required_handle="@hellofresh_uk",
        required_links=("hellofresh.co.uk/ava",),
        approved_claims=("Risk-free",),
        forbidden_claims=("cheapest meal kit",),
    )
    text = render_contract(rules, final=True)
    assert RULES_TEXT in text
    assert text.count("6. Content requirements") == 1
    review = await RulesProvider().review_contract(text, rules)
    assert review.mismatches == [], review.reasons
    # Without rules, the section is not there at all, and the terms' JSON has no rule keys
    assert "Content requirements" not in render_contract(contract_terms(), final=True)
    assert not {"required_handle", "required_links"} & contract_terms().as_json().keys()
    assert rules.as_json()["forbidden_claims"] == ["cheapest meal kit"]


# --- through the processors -------------------------------------------------------------------


async def test_a_contracts_own_rules_survive_a_redraft_and_decide_the_content_review(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Drafted, re-drafted on a new fee, finalised: the contract's handle, link and claims judge a post."""
    # Given the sample draft (Ava Chen x HelloFresh) with a contract being drafted on HelloFresh's brief
    await seed(sessions)
    draft = await sample_deal(sessions)
    contract_id = await new_contract(sessions, draft.id, terms=dict(RULES))

    # When ai-contract drafts it
    first = await run(make_worker, redis, "ai-contract", {"contractId": contract_id}, "draft-1")

    # Then the draft states the rules, and the draft's record keeps them with the other terms
    assert (first.success, first.result["status"]) == (True, "written")
    drafted = await contract_row(sessions, contract_id)
    assert drafted.rendered_text is not None
    assert RULES_TEXT in drafted.rendered_text
    assert drafted.review is not None
    assert {k: drafted.review["terms"][k] for k in STORED_RULES} == STORED_RULES

    # When the brand agrees $6,000 and the contract is drafted again
    await set_terms(sessions, contract_id, terms={**RULES, "feeMinor": 600_000})
    second = await run(make_worker, redis, "ai-contract", {"contractId": contract_id}, "draft-2")

    # Then the new draft has the new fee and still every rule; the terms are as they were set
    assert (second.success, second.result["status"]) == (True, "written")
    redrafted = await contract_row(sessions, contract_id)
    assert redrafted.rendered_text is not None
    assert "total fee of USD 6,000.00" in redrafted.rendered_text
    assert RULES_TEXT in redrafted.rendered_text
    assert redrafted.terms == {**RULES, "feeMinor": 600_000}

    # When Maya finalises it on the agreed terms, the rules among them
    manager = await maya(sessions)
    finalise = {"userId": manager.id, "terms": {**agreed(contract_id, feeMinor=600_000), **RULES}}
    final = await run(make_worker, redis, "contract_finalisation", finalise, "finalise")

    # Then the contract stores them, snake_case like every other term, and its final text states them
    assert (final.success, final.result["status"]) == (True, "finalised")
    finalised = await contract_row(sessions, contract_id)
    assert finalised.status == "finalised"
    assert {k: finalised.terms.get(k) for k in STORED_RULES} == STORED_RULES
    assert finalised.terms["fee_minor"] == 600_000
    assert finalised.rendered_text is not None
    assert RULES_TEXT in finalised.rendered_text
    # And a second run of the same finalisation finds nothing to change
    before = await snapshot(sessions, Contract)
    again = await run(make_worker, redis, "contract_finalisation", finalise, "finalise-again")
    assert again.result["status"] == "already_finalised"
    assert await snapshot(sessions, Contract) == before

    # When Ava's TikTok tags the brand's own account, calls it the cheapest, says "risk-free", no link
    async with sessions.begin() as session:
        tiktok = Deliverable(
            deal_id=draft.id or 0,
            talent_id=draft.talent_id or 0,
            title="TikTok 1: weeknight dinners",
            platform="tiktok",
            due_at=utcnow() + timedelta(days=3),
        )
        session.add(tiktok)
        await session.flush()
        tiktok_id = pk(tiktok)
    post = (
        "#ad Weeknight dinners sorted with @hellofresh, the cheapest meal kit I've tried. "
        "Risk-free first box!"
    )
    await run(
        make_worker,
        redis,
        "deliverable-review",
        {"deliverableId": tiktok_id, "content": post, "submittedAt": "2027-04-02T10:00:00Z"},
        "review-1",
    )

    # Then the contract's rules decide: its handle and link are missing, its forbidden claim is made,
    # and the "risk-free" it approves (which the built-in rules block) is not reported
    async with sessions() as session:
        reviewed = await session.get(Deliverable, tiktok_id)
    assert reviewed is not None
    assert reviewed.review is not None
    assert reviewed.status == "changes_requested"
    findings = [
        (f["rule"], f["severity"], f["detail"].partition(":")[0]) for f in reviewed.review["findings"]
    ]
    assert findings == [
        ("brand_handle", "error", "the brand handle @hellofresh_uk is missing"),
        ("required_link", "error", "the required link hellofresh.co.uk/ava is missing"),
        ("forbidden_claim", "error", 'the claim "cheapest meal kit" is not allowed'),
    ]
    assert reviewed.review["contractId"] == contract_id
    assert reviewed.review["basis"] == [
        f"reviewed against contract {contract_id} (finalised)",
        "brand handle @hellofresh_uk from the contract",
        "claims the contract forbids: cheapest meal kit",
        "claims the contract approves: risk-free",
    ]

    # When she fixes the post the way the contract asks
    fixed = "#ad Weeknight dinners sorted with @hellofresh_uk. Risk-free first box: hellofresh.co.uk/ava"
    await run(
        make_worker,
        redis,
        "deliverable-review",
        {"deliverableId": tiktok_id, "content": fixed, "submittedAt": "2027-04-02T11:00:00Z"},
        "review-2",
    )

    # Then it is approved with no finding at all
    async with sessions() as session:
        approved = await session.get(Deliverable, tiktok_id)
    assert approved is not None
    assert approved.review is not None
    assert (approved.status, approved.review["findings"]) == ("approved", [])
    assert await failures(sessions) == {}


async def test_a_brand_draft_review_keeps_the_rules_and_a_changed_rule_drafts_again(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Reviewing the brand's draft records the rules; a new forbidden claim alone makes the draft stale."""
    # Given a contract with the brief's rules and the brand's own draft
    await seed(sessions)
    draft = await sample_deal(sessions)
    contract_id = await new_contract(
        sessions,
        draft.id,
        terms=dict(RULES),
        brand_draft="HelloFresh will pay a fee of $5,000 for 2 TikToks and 1 Instagram story.",
    )

    # When ai-contract reviews it
    reviewed = await run(make_worker, redis, "ai-contract", {"contractId": contract_id}, "review-1")

    # Then the review's record of the terms it checked against keeps every rule
    assert (reviewed.result["mode"], reviewed.result["status"]) == ("review", "written")
    contract = await contract_row(sessions, contract_id)
    assert contract.review is not None
    assert {k: contract.review["terms"][k] for k in STORED_RULES} == STORED_RULES

    # When the brief forbids one more claim, and nothing else changes
    await set_terms(
        sessions, contract_id, terms={**RULES, "forbiddenClaims": ["cheapest meal kit", "lose weight"]}
    )
    again = await run(make_worker, redis, "ai-contract", {"contractId": contract_id}, "review-2")

    # Then the brand's draft is reviewed again, against the new rules
    assert again.result["status"] == "written"
    contract = await contract_row(sessions, contract_id)
    assert contract.review is not None
    assert contract.review["terms"]["forbidden_claims"] == ["cheapest meal kit", "lose weight"]


async def test_finalising_keeps_the_drafted_rules_it_does_not_state(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Terms stating only fee and content keep the contract's rules; a rule stated as [] or null goes."""
    # Given a contract drafted with the brief's rules
    await seed(sessions)
    draft = await sample_deal(sessions)
    contract_id = await new_contract(sessions, draft.id, terms=dict(RULES))
    manager = await maya(sessions)

    # When Maya finalises it on commercial terms that drop the approved claim and set no handle
    terms = agreed(contract_id, approvedClaims=[], requiredHandle=None)
    result = await run(
        make_worker, redis, "contract_finalisation", {"userId": manager.id, "terms": terms}, "cf"
    )

    # Then the link and the forbidden claim are kept from the draft; the others are not stored at all
    assert result.result["status"] == "finalised"
    contract = await contract_row(sessions, contract_id)
    assert {k: contract.terms.get(k) for k in STORED_RULES} == {
        "required_handle": None,
        "required_links": ["hellofresh.co.uk/ava"],
        "approved_claims": None,
        "forbidden_claims": ["cheapest meal kit"],
    }
    assert not {"required_handle", "approved_claims"} & contract.terms.keys()


async def test_review_rules_of_the_wrong_shape_fail_permanently_naming_the_term(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """In finalisation's terms, in those ai-contract drafts from, and kept from a draft: each named, once."""
    await seed(sessions)
    draft = await sample_deal(sessions)
    manager = await maya(sessions)
    to_finalise = await new_contract(sessions, draft.id)
    to_draft = await new_contract(sessions, draft.id, terms={"required_links": "hellofresh.co.uk"})
    kept_bad = await new_contract(sessions, draft.id, terms={"forbiddenClaims": [""]})

    bad = agreed(to_finalise, requiredHandle=["@hellofresh"], forbiddenClaims="cheapest")
    await redis.enqueue_job("contract_finalisation", {"userId": manager.id, "terms": bad}, _job_id="finalise")
    await redis.enqueue_job("ai-contract", {"contractId": to_draft}, _job_id="draft")
    await redis.enqueue_job(
        "contract_finalisation", {"userId": manager.id, "terms": agreed(kept_bad)}, _job_id="kept"
    )
    await make_worker(BINDINGS, catalogue=QUEUES, settings_=MAIL).async_run()

    assert await failures(sessions) == {
        "finalise": (
            "contract_finalisation terms are not valid: terms.requiredHandle must be a handle like "
            "'@glossier' or 'glossier' (letters, digits, '.', '_' or '-', at most 30), or null for none, "
            "got ['@hellofresh']; terms.forbiddenClaims must be a list of claims, got 'cheapest'",
            1,
        ),
        "draft": (
            f"contract {to_draft} terms.required_links must be a list of URLs or domains "
            "(like 'https://glossier.com/you'), got 'hellofresh.co.uk'",
            1,
        ),
        "kept": (
            f"contract {kept_bad}'s own review rules are not valid: contract {kept_bad} "
            "terms.forbiddenClaims[0] must be a non-empty string, got '' (state the rule in the "
            "finalisation's terms to replace it)",
            1,
        ),
    }
    for contract_id in (to_finalise, to_draft, kept_bad):
        contract = await contract_row(sessions, contract_id)
        assert (contract.status, contract.rendered_text) == ("drafting", None)
