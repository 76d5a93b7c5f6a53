"""From a draft deal to a finalised contract with its invoices: real worker, Redis, PostgreSQL and SMTP.

negotiation-engine -> campaign-builder -> ai-contract -> contract_finalisation -> email-send,
enqueued through the producer as the web app does, the email received by an aiosmtpd server.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from arq.connections import ArqRedis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from talentq.client import Producer
from talentq.db.tables import Campaign, Contract, Deal, Deliverable, Invoice, User
from talentq.dev.sample_agency import MARKER_EMAIL, seed
from talentq.processors import (
    ai_contract,
    campaign_builder,
    contract_finalisation,
    email_send,
    negotiation_engine,
)
from talentq.queues import CATALOGUE
from talentq.registry import Binding

from ..conftest import MakeWorker
from .test_deals import change, failures, sample_deal
from .test_email_send import Recorder, smtp, smtp_settings  # noqa: F401  (smtp: the aiosmtpd fixture)

pytestmark = pytest.mark.integration

BINDINGS: list[Binding] = [
    ("negotiation-engine", negotiation_engine.handle),
    ("campaign-builder", campaign_builder.handle),
    ("ai-contract", ai_contract.handle),
    ("contract_finalisation", contract_finalisation.handle),
    ("email-send", email_send.handle),
]
QUEUES = {name: CATALOGUE[name] for name, _ in BINDINGS}


async def test_a_draft_deal_ends_as_a_finalised_contract_with_invoices_and_an_email(
    make_worker: MakeWorker,
    redis: ArqRedis,
    sessions: async_sessionmaker[AsyncSession],
    smtp: tuple[Recorder, int],  # noqa: F811  (the fixture imported above)
) -> None:
    """Priced, planned, drafted, finalised on the counter-offer: contracted, 40/60 invoices, one email."""
    # Given the sample draft (Ava Chen x HelloFresh, $5,000 for 2 TikToks and a story) in April,
    # a contract being drafted for it, and the producer the web app enqueues with
    recorder, port = smtp
    await seed(sessions)
    draft = await sample_deal(sessions)
    april = datetime(2027, 4, 1, tzinfo=UTC)
    await change(sessions, Deal, draft.id, starts_at=april, ends_at=april + timedelta(days=14))
    async with sessions.begin() as session:
        contract = Contract(deal_id=draft.id or 0)
        session.add(contract)
        maya = (await session.execute(select(User).where(col(User.email) == MARKER_EMAIL))).scalar_one()
    producer = Producer(redis, catalogue=QUEUES)
    settings = smtp_settings(port)

    # When the agency prices the deal, plans its campaign and drafts its contract
    await producer.enqueue("negotiation-engine", {"dealDraftId": draft.id}, job_id=f"negotiation:{draft.id}")
    await producer.enqueue("campaign-builder", {"dealDraftId": draft.id}, job_id=f"campaign:{draft.id}")
    await producer.enqueue("ai-contract", {"contractId": contract.id}, job_id=f"contract:{contract.id}")
    await make_worker(BINDINGS, catalogue=QUEUES, settings_=settings).async_run()

    # Then the deal has its insights, its campaign of three deliverables, and a draft contract
    async with sessions() as session:
        deal = await session.get(Deal, draft.id)
        drafted = await session.get(Contract, contract.id)
        campaign = (
            await session.execute(select(Campaign).where(col(Campaign.deal_id) == draft.id))
        ).scalar_one()
        planned = (
            await session.execute(select(Deliverable).where(col(Deliverable.deal_id) == draft.id))
        ).all()
    assert deal is not None
    assert deal.insights is not None
    counter = deal.insights["negotiation"]["counter_offer_minor"]
    assert counter == 857_000
    assert len(planned) == 3
    assert campaign.ends_at == april + timedelta(days=14)
    assert drafted is not None
    assert drafted.rendered_text is not None
    assert "DRAFT - " in drafted.rendered_text
    assert "total fee of USD 5,000.00" in drafted.rendered_text
    assert recorder.received == []

    # When the brand accepts the counter-offer and Maya finalises the contract on it
    terms = {
        "contractId": contract.id,
        "feeMinor": counter,
        "currency": "USD",
        "deliverables": deal.deliverables,
        "startsOn": "2027-04-01",
        "endsOn": "2027-04-15",
        "usageRights": {"months": 3, "paidMedia": False},
        "paymentTerms": {"depositPercent": 40, "netDays": 30},
    }
    await producer.enqueue(
        "contract_finalisation", {"userId": maya.id, "terms": terms}, job_id=f"finalise:{contract.id}"
    )
    await make_worker(BINDINGS, catalogue=QUEUES, settings_=settings).async_run()

    # Then the contract is final, the deal contracted, and the fee invoiced 40/60 to the cent
    async with sessions() as session:
        final = await session.get(Contract, contract.id)
        contracted = await session.get(Deal, draft.id)
        invoices = list(
            (
                await session.execute(
                    select(Invoice).where(col(Invoice.deal_id) == draft.id).order_by(col(Invoice.installment))
                )
            ).scalars()
        )
    assert final is not None
    assert contracted is not None
    assert final.status == "finalised"
    assert final.rendered_text is not None
    assert "total fee of USD 8,570.00" in final.rendered_text
    assert "A deposit of 40% (USD 3,428.00) is invoiced on signing" in final.rendered_text
    assert (contracted.stage, contracted.fee_minor) == ("contracted", 857_000)
    assert [(i.number, i.amount_minor, i.status) for i in invoices] == [
        (f"INV-{draft.id}-1", 342_800, "draft"),
        (f"INV-{draft.id}-2", 514_200, "draft"),
    ]
    assert sum(i.amount_minor for i in invoices) == counter
    assert invoices[1].due_at == datetime(2027, 5, 16, tzinfo=UTC)  # the day after the campaign, net 30
    # And Maya received one email saying so
    (message,) = recorder.received
    assert message["To"] == f"Maya Okafor <{MARKER_EMAIL}>"
    assert message["Subject"] == "Contract finalised: Ava Chen x HelloFresh"
    body = message.get_payload(decode=True).decode()
    assert f"INV-{draft.id}-1: USD 3,428.00" in body
    assert f"INV-{draft.id}-2: USD 5,142.00, due 2027-05-16" in body
    assert await failures(sessions) == {}

    # When the web app, unsure, finalises again
    await producer.enqueue(
        "contract_finalisation", {"userId": maya.id, "terms": terms}, job_id="finalise:again"
    )
    await make_worker(BINDINGS, catalogue=QUEUES, settings_=settings).async_run()

    # Then nothing is sent twice
    assert len(recorder.received) == 1
    assert await failures(sessions) == {}
