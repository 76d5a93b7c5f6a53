"""ai-contract and contract_finalisation on the sample agency, with a real worker, Redis and PostgreSQL."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from arq.connections import ArqRedis
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from talentq.client import Producer
from talentq.db.deals import DealChanged
from talentq.db.tables import Contract, Deal, Invoice, OutboundEmail, User
from talentq.dev.sample_agency import MARKER_EMAIL, seed
from talentq.domain.contracts import ContractReview, ContractTerms
from talentq.integrations.ai.rules import RulesProvider
from talentq.processors import ai_contract, contract_finalisation, email_send
from talentq.queues import CATALOGUE, ContractRef, QueueSpec, RetryPolicy
from talentq.registry import Binding

from ..conftest import MakeWorker, clients, service_settings
from ..test_jobs import result_of
from .test_deals import failures, sample_deal, snapshot

pytestmark = pytest.mark.integration

FAST = RetryPolicy(3, 0.05, 0.2)
QUEUES: dict[str, QueueSpec[Any]] = {
    name: dataclasses.replace(CATALOGUE[name], retry=FAST)
    for name in ("ai-contract", "contract_finalisation", "email-send")
}
BINDINGS: list[Binding] = [
    ("ai-contract", ai_contract.handle),
    ("contract_finalisation", contract_finalisation.handle),
    ("email-send", email_send.handle),
]
#: email-send records instead of sending: these tests are about what is enqueued, not SMTP.
MAIL = service_settings(mail_transport="log", mail_from="Northstar Talent <agency@northstar-talent.test>")
CONTENT = [{"platform": "tiktok", "count": 2}, {"platform": "instagram_story", "count": 1}]


async def run(
    make_worker: MakeWorker, redis: ArqRedis, queue: str, payload: dict[str, Any], job_id: str
) -> Any:
    await redis.enqueue_job(queue, payload, _job_id=job_id)
    await make_worker(BINDINGS, catalogue=QUEUES, settings_=MAIL).async_run()
    return await result_of(redis, job_id)


async def new_contract(sessions: async_sessionmaker[AsyncSession], deal_id: int | None, **values: Any) -> int:
    async with sessions.begin() as session:
        contract = Contract(deal_id=deal_id or 0, **values)
        session.add(contract)
    assert contract.id is not None
    return contract.id


async def maya(sessions: async_sessionmaker[AsyncSession]) -> User:
    async with sessions() as session:
        return (await session.execute(select(User).where(col(User.email) == MARKER_EMAIL))).scalar_one()


def agreed(contract_id: int, **changes: Any) -> dict[str, Any]:
    return {
        "contractId": contract_id,
        "feeMinor": 857_001,
        "currency": "USD",
        "deliverables": CONTENT,
        "startsOn": "2027-04-01",
        "endsOn": "2027-04-15",
        **changes,
    }


async def test_a_contract_is_drafted_from_its_deal_once(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """No brand draft: the text states parties, fee and content, and lists the defaults to confirm."""
    await seed(sessions)
    draft = await sample_deal(sessions)
    contract_id = await new_contract(sessions, draft.id)

    result = await run(make_worker, redis, "ai-contract", {"contractId": contract_id}, "ac-1")

    async with sessions() as session:
        contract = await session.get(Contract, contract_id)
    assert contract is not None
    assert contract.rendered_text is not None
    text = contract.rendered_text
    assert text.startswith("DRAFT - INFLUENCER MARKETING AGREEMENT")
    assert "Brand: HelloFresh" in text
    assert "Creator: Ava Chen (@avacooks), represented by Maya Okafor" in text
    assert "total fee of USD 5,000.00" in text
    assert "publish 2 TikToks and 1 Instagram story." in text
    assert "- usage rights not agreed: the standard 3 months" in text
    assert "- campaign dates not agreed" in text
    assert contract.review is not None
    assert (contract.review["mode"], contract.review["provider"]) == ("draft", "rules")
    assert (contract.status, result.result["status"]) == ("drafting", "written")
    # A re-run with nothing changed drafts nothing
    before = await snapshot(sessions, Contract)
    again = await run(make_worker, redis, "ai-contract", {"contractId": contract_id}, "ac-2")
    assert again.result == {"contractId": contract_id, "mode": "draft", "status": "unchanged"}
    assert await snapshot(sessions, Contract) == before


async def test_a_brand_draft_is_reviewed_against_the_agreed_terms(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """The agreed $8,570 and net 30 against the brand's $7,500 and net 60: each mismatch listed."""
    await seed(sessions)
    draft = await sample_deal(sessions)
    contract_id = await new_contract(
        sessions,
        draft.id,
        terms={"fee_minor": 857_000},
        brand_draft=(
            "HelloFresh will pay a fee of $7,500 for 2 TikToks and 1 Instagram story. "
            "Usage rights: 3 months on HelloFresh's own channels, no paid media. "
            "50% is invoiced on signing; invoices are payable net 60."
        ),
    )

    result = await run(make_worker, redis, "ai-contract", {"contractId": contract_id}, "ac-1")

    async with sessions() as session:
        contract = await session.get(Contract, contract_id)
    assert contract is not None
    assert contract.review is not None
    assert [(m["term"], m["agreed"], m["found"]) for m in contract.review["mismatches"]] == [
        ("fee", "USD 8,570.00", "USD 7,500.00"),
        ("payment_terms", "50% on signing, net 30 days", "50% on signing, net 60 days"),
    ]
    assert contract.rendered_text is None  # a review leaves the brand's text to the brand
    assert result.result["mismatches"] == ["fee", "payment_terms"]


async def test_contracts_not_being_drafted_fail_permanently(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """A finalised contract, an unknown one, one for a lost deal, one with malformed terms: each named."""
    await seed(sessions)
    lost = await sample_deal(sessions, "lost")
    draft = await sample_deal(sessions)
    on_lost = await new_contract(sessions, lost.id)
    malformed = await new_contract(sessions, draft.id, terms={"deliverables": ["2 IG reels"]})

    for job_id, cid in {"finalised": 1, "unknown": 4242, "lost": on_lost, "malformed": malformed}.items():
        await redis.enqueue_job("ai-contract", {"contractId": cid}, _job_id=job_id)
    await make_worker(BINDINGS, catalogue=QUEUES, settings_=MAIL).async_run()

    dead = {job: message for job, (message, _) in (await failures(sessions)).items()}
    assert dead == {
        "finalised": "contract 1 is 'finalised', not 'drafting': "
        "only a contract being drafted is drafted or reviewed",
        "unknown": "contract 4242 (contractId) not found",
        "lost": f"deal {lost.id} (deal of contract {on_lost}) is in stage 'lost', "
        "not 'draft' or 'negotiating'",
        "malformed": f"contract {malformed} terms.deliverables[0] must be an object with platform and count, "
        "got '2 IG reels'",
    }


async def test_a_fee_is_never_taken_in_a_currency_it_was_not_agreed_in(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Terms in EUR without a fee, on a USD deal: refused, naming feeMinor; with an EUR fee, it is drafted."""
    # Given the USD 5,000 draft and two contracts agreeing euros, one without a fee
    await seed(sessions)
    draft = await sample_deal(sessions)
    no_fee = await new_contract(sessions, draft.id, terms={"currency": "EUR"})
    with_fee = await new_contract(sessions, draft.id, terms={"currency": "EUR", "fee_minor": 460_000})

    # When ai-contract drafts each
    for job_id, cid in {"no-fee": no_fee, "with-fee": with_fee}.items():
        await redis.enqueue_job("ai-contract", {"contractId": cid}, _job_id=job_id)
    await make_worker(BINDINGS, catalogue=QUEUES, settings_=MAIL).async_run()

    # Then the one without a fee is refused at once, naming the term to add
    dead = await failures(sessions)
    assert dead == {
        "no-fee": (
            f"contract {no_fee} cannot be written: terms.currency is EUR but deal {draft.id}'s fee is in "
            "USD, and terms.feeMinor is missing: state the fee in EUR",
            1,
        )
    }
    # And the other states the euro fee, not the deal's dollars
    async with sessions() as session:
        contract = await session.get(Contract, with_fee)
    assert contract is not None
    assert contract.rendered_text is not None
    assert "total fee of EUR 4,600.00" in contract.rendered_text


async def test_finalising_contracts_the_deal_and_schedules_exact_invoices(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Final text, deal contracted on the agreed terms, deposit + balance adding up to the fee, one email."""
    # Given the sample draft with a contract being drafted
    await seed(sessions)
    draft = await sample_deal(sessions)
    contract_id = await new_contract(sessions, draft.id)
    manager = await maya(sessions)
    started = datetime.now(UTC)

    # When Maya finalises it on the agreed terms
    payload = {"userId": manager.id, "terms": agreed(contract_id)}
    result = await run(make_worker, redis, "contract_finalisation", payload, "cf-1")

    # Then the contract is final, with the agreed terms and text
    async with sessions() as session:
        contract = await session.get(Contract, contract_id)
        deal = await session.get(Deal, draft.id)
        invoices = list(
            (await session.execute(select(Invoice).where(col(Invoice.deal_id) == draft.id))).scalars()
        )
        (mail,) = (await session.execute(select(OutboundEmail))).scalars()
    assert contract is not None
    assert deal is not None
    assert contract.status == "finalised"
    assert contract.finalised_at is not None
    assert contract.finalised_at >= started
    assert contract.terms["fee_minor"] == 857_001
    assert contract.terms["payment_terms"] == {"deposit_percent": 50, "net_days": 30}
    assert contract.rendered_text is not None
    assert contract.rendered_text.startswith("INFLUENCER MARKETING AGREEMENT")
    assert "from 1 April 2027 to 15 April 2027" in contract.rendered_text
    # And the deal is contracted on those terms
    assert (deal.stage, deal.fee_minor, deal.deliverables) == ("contracted", 857_001, CONTENT)
    assert deal.stage_changed_at >= started
    assert (deal.starts_at, deal.ends_at) == (
        datetime(2027, 4, 1, tzinfo=UTC),
        datetime(2027, 4, 15, tzinfo=UTC),
    )
    # And the invoices are a deposit and a balance that add up to the fee exactly, as drafts
    assert [(i.number, i.installment, i.amount_minor, i.currency, i.status) for i in invoices] == [
        (f"INV-{draft.id}-1", 1, 428_500, "USD", "draft"),
        (f"INV-{draft.id}-2", 2, 428_501, "USD", "draft"),
    ]
    assert invoices[0].due_at == contract.finalised_at + timedelta(days=30)
    assert invoices[1].due_at == datetime(2027, 4, 16, tzinfo=UTC) + timedelta(days=30)
    # And Maya was told, once, under the contract's job id
    assert (mail.job_id, mail.status) == (f"email-send:contract:{contract_id}", "sent")
    assert mail.to_address == f"Maya Okafor <{MARKER_EMAIL}>"
    assert mail.subject == "Contract finalised: Ava Chen x HelloFresh"
    assert f"INV-{draft.id}-1: USD 4,285.00" in mail.body
    assert result.result["status"] == "finalised"

    # When the same finalisation runs again
    before = await snapshot(sessions, Contract, Deal, Invoice, OutboundEmail)
    again = await run(make_worker, redis, "contract_finalisation", payload, "cf-2")

    # Then nothing changes and no second email goes out
    assert again.result["status"] == "already_finalised"
    assert await snapshot(sessions, Contract, Deal, Invoice, OutboundEmail) == before


#: A manager's name at users.name's limit (200), with an address long enough that "name <address>"
#: is over the 320 characters an email's "to" takes: the named form cannot be sent, the address can.
LONG_NAME = ("Maya Okafor-Adeyemi " * 10).strip()
LONG_EMAIL = (
    "maya.okafor@creator-partnerships.london.uk.managers.talent-division."
    "northstar-talent-and-brand-partnerships-agency.test"
)


@pytest.mark.parametrize(
    ("name", "email", "to"),
    [
        ("Reyes, Daniel", MARKER_EMAIL, f'"Reyes, Daniel" <{MARKER_EMAIL}>'),
        ('Maya "M" Okafor', MARKER_EMAIL, f'"Maya \\"M\\" Okafor" <{MARKER_EMAIL}>'),
        (LONG_NAME, LONG_EMAIL, LONG_EMAIL),
    ],
    ids=["comma", "quotes", "too-long"],
)
async def test_the_finalisation_email_reaches_a_manager_whatever_her_name(
    make_worker: MakeWorker,
    redis: ArqRedis,
    sessions: async_sessionmaker[AsyncSession],
    name: str,
    email: str,
    to: str,
) -> None:
    """A comma or quotes in the name are quoted; a name too long to fit leaves the bare address."""
    # Given the manager finalising the sample draft's contract goes by ``name`` at ``email``
    assert len(LONG_NAME) <= 200 < 320 < len(f"{LONG_NAME} <{LONG_EMAIL}>")
    await seed(sessions)
    draft = await sample_deal(sessions)
    contract_id = await new_contract(sessions, draft.id)
    manager = await maya(sessions)
    async with sessions.begin() as session:
        await session.execute(update(User).where(col(User.id) == manager.id).values(name=name, email=email))

    # When she finalises it
    payload = {"userId": manager.id, "terms": agreed(contract_id)}
    result = await run(make_worker, redis, "contract_finalisation", payload, "cf")

    # Then the email job is taken, addressed to her, and sent once; nothing is dead-lettered
    assert result.success, result.result
    assert result.result["status"] == "finalised"
    assert await failures(sessions) == {}
    async with sessions() as session:
        (mail,) = (await session.execute(select(OutboundEmail))).scalars()
    assert (mail.job_id, mail.status, mail.to_address) == (f"email-send:contract:{contract_id}", "sent", to)


async def test_invalid_terms_are_one_permanent_failure_naming_each(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Negative fee, unknown currency, no deliverables, dates reversed, a typo, missing terms: all named."""
    await seed(sessions)
    draft = await sample_deal(sessions)
    contract_id = await new_contract(sessions, draft.id)
    manager = await maya(sessions)
    bad = {
        "contractId": contract_id,
        "feeMinor": -500,
        "currency": "XYZ",
        "deliverables": [],
        "startsOn": "2027-05-01",
        "endsOn": "2027-04-01",
        "fee": 1,
    }

    await redis.enqueue_job("contract_finalisation", {"userId": manager.id, "terms": bad}, _job_id="bad")
    await redis.enqueue_job(
        "contract_finalisation", {"userId": manager.id, "terms": {"dealId": 1}}, _job_id="bare"
    )
    await redis.enqueue_job("contract_finalisation", {"terms": agreed(contract_id)}, _job_id="no-user")
    await make_worker(BINDINGS, catalogue=QUEUES, settings_=MAIL).async_run()

    dead = await failures(sessions)
    assert dead["bad"] == (
        "contract_finalisation terms are not valid: "
        "terms.feeMinor must be a positive integer of minor units (cents), got -500; "
        "terms.currency 'XYZ' is not an ISO 4217 currency code (like 'USD'); "
        "terms.deliverables must be a non-empty list of {platform, count}, got []; "
        "terms.fee is not a contract term (did you mean 'feeMinor'?); "
        "terms.startsOn 2027-05-01 is after terms.endsOn 2027-04-01",
        1,
    )
    assert dead["bare"] == (
        "contract_finalisation terms are not valid: terms.contractId is missing; terms.feeMinor is missing; "
        "terms.currency is missing; terms.deliverables is missing; terms.startsOn is missing; "
        "terms.endsOn is missing",
        1,
    )
    assert "userId: Field required" in dead["no-user"][0]
    async with sessions() as session:
        contract = await session.get(Contract, contract_id)
    assert contract is not None
    assert contract.status == "drafting"


async def test_only_the_talents_manager_finalises_and_only_once(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Another manager, a deal id that is not the contract's, other terms after finalising: each refused."""
    await seed(sessions)
    draft = await sample_deal(sessions)
    contract_id = await new_contract(sessions, draft.id)
    manager = await maya(sessions)
    async with sessions() as session:
        daniel = (await session.execute(select(User).where(col(User.name) == "Daniel Reyes"))).scalar_one()
    await run(
        make_worker,
        redis,
        "contract_finalisation",
        {"userId": manager.id, "terms": agreed(contract_id)},
        "ok",
    )

    jobs = {
        "other-manager": {"userId": daniel.id, "terms": agreed(contract_id)},
        "other-deal": {"userId": manager.id, "terms": agreed(contract_id, dealId=3)},
        "other-terms": {"userId": manager.id, "terms": agreed(contract_id, feeMinor=900_000)},
        "unknown": {"userId": manager.id, "terms": agreed(4242)},
    }
    for job_id, payload in jobs.items():
        await redis.enqueue_job("contract_finalisation", payload, _job_id=job_id)
    await make_worker(BINDINGS, catalogue=QUEUES, settings_=MAIL).async_run()

    dead = {job: message for job, (message, _) in (await failures(sessions)).items()}
    assert dead == {
        "other-manager": f"user {daniel.id} is not the manager of talent {draft.talent_id} "
        f"(deal {draft.id}); "
        f"its manager is user {manager.id}",
        "other-deal": f"terms.dealId 3 does not match contract {contract_id}, which is deal {draft.id}'s",
        "other-terms": f"contract {contract_id} is already 'finalised' with other terms "
        "(differing: fee_minor)",
        "unknown": "contract 4242 (terms.contractId) not found",
    }


async def test_a_crash_between_commit_and_email_is_healed_by_the_retry(
    make_worker: MakeWorker,
    redis: ArqRedis,
    sessions: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The email enqueue fails after the commit: the retry finds the contract final and enqueues it once."""
    # Given the first enqueue of the email fails as if the worker died right after the commit
    await seed(sessions)
    draft = await sample_deal(sessions)
    contract_id = await new_contract(sessions, draft.id)
    manager = await maya(sessions)
    real_enqueue = Producer.enqueue
    calls: list[str] = []

    async def flaky(self: Producer, queue: Any, *args: Any, **kwargs: Any) -> str | None:
        calls.append(queue if isinstance(queue, str) else queue.name)
        if len(calls) == 1:
            raise ConnectionError("redis went away")
        return await real_enqueue(self, queue, *args, **kwargs)

    monkeypatch.setattr(Producer, "enqueue", flaky)

    # When the job runs (and is retried by the wrapper)
    result = await run(
        make_worker,
        redis,
        "contract_finalisation",
        {"userId": manager.id, "terms": agreed(contract_id)},
        "cf",
    )

    # Then the second try completes the first one's work without redoing it: one schedule, one email
    assert result.result["status"] == "already_finalised"
    assert calls == ["email-send", "email-send"]
    state = await snapshot(sessions, Invoice, OutboundEmail)
    assert [i["number"] for i in state["invoices"] if i["deal_id"] == draft.id] == [
        f"INV-{draft.id}-1",
        f"INV-{draft.id}-2",
    ]
    assert [(m["job_id"], m["status"]) for m in state["outbound_emails"]] == [
        (f"email-send:contract:{contract_id}", "sent")
    ]
    assert await failures(sessions) == {}


class BrandRedrafts(RulesProvider):
    """The rules' review, while the brand sends a new draft and its own job reviews it first."""

    def __init__(self, during: Callable[[], Awaitable[None]]) -> None:
        self.during: Callable[[], Awaitable[None]] | None = during

    async def review_contract(self, draft: str, terms: ContractTerms) -> ContractReview:
        review = await super().review_contract(draft, terms)
        if self.during is not None:
            during, self.during = self.during, None
            await during()
        return review


async def test_a_review_of_a_brand_draft_replaced_meanwhile_is_not_written(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stale review never overwrites the newer draft's: DealChanged (retried), whose retry finds it done."""
    # Given a contract whose brand draft ($7,500) is under review
    await seed(sessions)
    draft = await sample_deal(sessions)
    old = "We pay $7,500 for 2 TikToks and 1 Instagram story."
    new = "We pay $8,570 for 2 TikToks and 1 Instagram story."
    contract_id = await new_contract(sessions, draft.id, terms={"fee_minor": 857_000}, brand_draft=old)
    ctx: Any = {
        "sessions": sessions,
        "settings": MAIL,
        "http": None,
        **clients(MAIL),
        "redis": redis,
        "job_id": "d",
        "job_try": 1,
    }
    payload = ContractRef(contract_id=contract_id)
    newer: dict[str, Any] = {}

    async def brand_redrafts() -> None:
        # The brand sends its $8,570 draft, and the job for it reviews it before the old one ends
        async with sessions.begin() as session:
            await session.execute(
                update(Contract).where(col(Contract.id) == contract_id).values(brand_draft=new)
            )
        newer.update(await ai_contract.handle(ctx, payload))

    # One provider: the inner job's review does not redraft again
    ctx["ai"] = BrandRedrafts(brand_redrafts)

    # When the old review finishes
    with pytest.raises(DealChanged, match=f"contract {contract_id}: its terms or brand draft changed"):
        await ai_contract.handle(ctx, payload)

    # Then the newer review stands: no fee mismatch from the $7,500 draft
    async with sessions() as session:
        contract = await session.get(Contract, contract_id)
    assert contract is not None
    assert contract.review is not None
    assert newer["status"] == "written"
    assert "fee" not in newer["mismatches"]
    assert [m["term"] for m in contract.review["mismatches"]] == newer["mismatches"]
    # And the retry finds the current draft reviewed already
    retried = await ai_contract.handle(ctx, payload)
    assert (retried["mode"], retried["status"]) == ("review", "unchanged")
