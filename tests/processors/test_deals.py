"""negotiation-engine, campaign-builder, ai-negotiation on the sample agency, with a real worker."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from arq.connections import ArqRedis
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlmodel import SQLModel, col

from talentq.db.deals import DealChanged
from talentq.db.models import FailedJob
from talentq.db.tables import (
    Approval,
    Campaign,
    Contract,
    Deal,
    Deliverable,
    NegotiationSession,
    Talent,
    User,
)
from talentq.dev.sample_agency import MARKER_EMAIL, seed
from talentq.domain.pricing import (
    Comparables,
    NegotiationFacts,
    NegotiationInsights,
    NegotiationReply,
    PricingFacts,
)
from talentq.errors import PermanentJobError
from talentq.integrations.ai.rules import RulesProvider
from talentq.processors import ai_negotiation, campaign_builder, negotiation_engine
from talentq.queues import CATALOGUE, DealDraftRef, SessionRef
from talentq.registry import Binding

from ..conftest import MakeWorker, clients, service_settings
from ..test_jobs import result_of

pytestmark = pytest.mark.integration

QUEUES = {name: CATALOGUE[name] for name in ("negotiation-engine", "campaign-builder", "ai-negotiation")}
BINDINGS: list[Binding] = [
    ("negotiation-engine", negotiation_engine.handle),
    ("campaign-builder", campaign_builder.handle),
    ("ai-negotiation", ai_negotiation.handle),
]


async def run(
    make_worker: MakeWorker, redis: ArqRedis, queue: str, payload: dict[str, Any], job_id: str
) -> Any:
    """Enqueue one job, drain the queue with a burst worker, return the job's result record."""
    await redis.enqueue_job(queue, payload, _job_id=job_id)
    await make_worker(BINDINGS, catalogue=QUEUES).async_run()
    return await result_of(redis, job_id)


async def snapshot(sessions: async_sessionmaker[AsyncSession], *models: type[SQLModel]) -> dict[str, Any]:
    """Every row of ``models``, as plain values: what "run it twice, compare the database" compares."""
    state: dict[str, Any] = {}
    async with sessions() as session:
        for model in models:
            table = model.__table__  # type: ignore[attr-defined]  # every table model has one
            rows = (await session.execute(select(model).order_by(*table.primary_key))).scalars()
            state[table.name] = [row.model_dump() for row in rows]
    return state


async def failures(sessions: async_sessionmaker[AsyncSession]) -> dict[str, tuple[str, int]]:
    """Dead letters by job id: (message, tries)."""
    async with sessions() as session:
        return {f.job_id: (f.message, f.tries) for f in (await session.execute(select(FailedJob))).scalars()}


async def sample_deal(sessions: async_sessionmaker[AsyncSession], stage: str = "draft") -> Deal:
    """The sample agency's first deal in ``stage`` (the draft: Ava Chen x HelloFresh, $5,000)."""
    async with sessions() as session:
        deal = (
            (await session.execute(select(Deal).where(col(Deal.stage) == stage).order_by(col(Deal.id))))
            .scalars()
            .first()
        )
    assert deal is not None
    return deal


async def change(
    sessions: async_sessionmaker[AsyncSession], model: Any, row_id: int | None, **values: Any
) -> None:
    async with sessions.begin() as session:
        await session.execute(update(model).where(model.id == row_id).values(**values))


async def test_a_draft_is_priced_from_the_rate_card_and_keeps_its_extraction(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """No comparable deals: the rate card prices Ava's 2 TikToks and a story; a re-run writes nothing."""
    # Given the sample draft (Ava Chen, 820k followers, $5,000 offered) with its extraction notes
    await seed(sessions)
    draft = await sample_deal(sessions)
    await change(sessions, Deal, draft.id, insights={"extraction": ["fee '$5,000'"]})

    # When negotiation-engine runs on it
    first = await run(make_worker, redis, "negotiation-engine", {"dealDraftId": draft.id}, "ne-1")

    # Then the insights are stored beside the extraction notes, each number explained
    async with sessions() as session:
        deal = await session.get(Deal, draft.id)
    assert deal is not None
    assert deal.insights is not None
    assert deal.insights["extraction"] == ["fee '$5,000'"]
    insights = deal.insights["negotiation"]
    assert (insights["market_rate_minor"], insights["counter_offer_minor"], insights["floor_minor"]) == (
        779_000,
        857_000,
        663_000,
    )
    assert (insights["currency"], insights["offer_minor"], insights["recommendation"]) == (
        "USD",
        500_000,
        "counter",
    )
    assert {p["source"] for p in insights["platforms"]} == {"rate_card"}
    assert insights["method"].startswith("market rate = for each deliverable, a rate per unit per 100,000")
    assert first.result["sources"] == ["rate_card"]
    assert first.result["changed"] is True
    # And running it again changes nothing, not even updated_at
    before = await snapshot(sessions, Deal)
    again = await run(make_worker, redis, "negotiation-engine", {"dealDraftId": draft.id}, "ne-2")
    assert again.result["changed"] is False
    assert await snapshot(sessions, Deal) == before


async def test_the_agencys_contracted_deals_set_the_market_rate(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Three contracted USD TikTok deals price the TikToks; lost and EUR deals are not compared."""
    await seed(sessions)
    draft = await sample_deal(sessions)
    async with sessions.begin() as session:
        talents = {t.handle: t.id for t in (await session.execute(select(Talent))).scalars()}
        tiktok = [{"platform": "tiktok", "count": 1}]
        comparables = [
            Deal(
                talent_id=talents["jonahplays"], stage="contracted", fee_minor=1_380_000, deliverables=tiktok
            ),
            Deal(talent_id=talents["noahcodes"], stage="delivered", fee_minor=360_000, deliverables=tiktok),
            Deal(
                talent_id=talents["hanastudies"], stage="contracted", fee_minor=216_000, deliverables=tiktok
            ),
            Deal(talent_id=talents["isamoves"], stage="lost", fee_minor=9_000_000, deliverables=tiktok),
            Deal(
                talent_id=talents["isamoves"],
                stage="contracted",
                currency="EUR",
                fee_minor=9_000_000,
                deliverables=tiktok,
            ),
        ]
        malformed = Deal(talent_id=talents["isamoves"], stage="delivered", fee_minor=100, deliverables=tiktok)
        session.add_all([*comparables, malformed])
    await change(sessions, Deal, malformed.id, deliverables={"tiktok": 1})  # not a list: not a comparison
    # per 100k: 1,380,000 / 23 = 60,000; 360,000 / 7.2 = 50,000; 216,000 / 3.6 = 60,000 -> median 60,000

    await run(make_worker, redis, "negotiation-engine", {"dealDraftId": draft.id}, "ne-1")

    async with sessions() as session:
        deal = await session.get(Deal, draft.id)
    assert deal is not None
    assert deal.insights is not None
    insights = deal.insights["negotiation"]
    tiktoks, story = insights["platforms"]
    assert (tiktoks["source"], tiktoks["rate_per_100k_minor"], tiktoks["observations"]) == (
        "deals",
        60_000,
        3,
    )
    assert story["source"] == "rate_card"
    assert insights["comparable_deal_ids"] == [d.id for d in comparables[:3]]
    assert insights["market_rate_minor"] == 2 * 60_000 * 82 // 10 + 15_000 * 82 // 10


async def test_wrong_ids_and_stages_fail_permanently_naming_them(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Unknown ids, a contract's id, a contracted deal, a missing field, no talent, an offer with no
    currency: one try each, named."""
    # Given the sample agency (deal 3 is contracted, deal 5 lost) and a contract whose id is no deal's
    await seed(sessions)
    draft = await sample_deal(sessions)
    async with sessions.begin() as session:
        orphan = Deal(stage="draft", fee_minor=100_000, deliverables=[{"platform": "tiktok", "count": 1}])
        # deal-extraction's answer to an amount with no currency: kept as written, never priced in USD
        unpriced = Deal(
            stage="draft",
            talent_id=draft.talent_id,
            fee_text="2.500",
            deliverables=[{"platform": "tiktok", "count": 1}],
        )
        session.add_all([orphan, unpriced])
        await session.flush()
        assert orphan.id is not None
        contract = Contract(id=orphan.id + 100, deal_id=draft.id or 0)
        session.add(contract)
    async with sessions() as session:
        assert await session.get(Deal, contract.id) is None  # an id of the wrong kind, not a deal's

    # When each bad job runs
    jobs = {
        "unknown": ("negotiation-engine", {"dealDraftId": 4242}),
        "contract-id": ("negotiation-engine", {"dealDraftId": contract.id}),
        "contracted-deal": ("negotiation-engine", {"dealDraftId": 3}),
        "wrong-field": ("negotiation-engine", {"dealId": draft.id}),
        "no-talent": ("negotiation-engine", {"dealDraftId": orphan.id}),
        "no-currency": ("negotiation-engine", {"dealDraftId": unpriced.id}),
        "lost": ("campaign-builder", {"dealDraftId": 5}),
        "plan-unknown": ("campaign-builder", {"dealDraftId": 4243}),
        "plan-no-talent": ("campaign-builder", {"dealDraftId": orphan.id}),
    }
    for job_id, (queue, payload) in jobs.items():
        await redis.enqueue_job(queue, payload, _job_id=job_id)
    await make_worker(BINDINGS, catalogue=QUEUES).async_run()

    # Then each is dead-lettered at its first try with a message naming the id or field
    dead = await failures(sessions)
    assert {job: tries for job, (_, tries) in dead.items()} == dict.fromkeys(jobs, 1)
    assert dead["unknown"][0] == "deal 4242 (dealDraftId) not found"
    assert dead["contract-id"][0] == f"deal {contract.id} (dealDraftId) not found"
    assert dead["contracted-deal"][0] == "deal 3 (dealDraftId) is in stage 'contracted', not 'draft'"
    assert "dealDraftId: Field required" in dead["wrong-field"][0]
    assert dead["no-talent"][0].startswith(f"deal {orphan.id} has no talent, which pricing by audience needs")
    assert dead["no-currency"][0] == (
        f"deal {unpriced.id}'s offer '2.500' has no currency: "
        "set the deal's fee_minor and currency, then replay"
    )
    assert (
        dead["lost"][0]
        == "deal 5 (dealDraftId) is in stage 'lost', not 'draft' or 'negotiating' or 'contracted'"
    )
    assert dead["plan-unknown"][0] == "deal 4243 (dealDraftId) not found"
    assert dead["plan-no-talent"][0].startswith(f"deal {orphan.id} has no talent")


async def test_a_campaign_spreads_one_deliverable_per_unit_over_the_window(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """2 TikToks and a story over 1-15 April: interleaved, evenly due, the last on the window's end."""
    await seed(sessions)
    draft = await sample_deal(sessions)
    april = datetime(2027, 4, 1, tzinfo=UTC)
    await change(sessions, Deal, draft.id, starts_at=april, ends_at=april + timedelta(days=14))

    result = await run(make_worker, redis, "campaign-builder", {"dealDraftId": draft.id}, "cb-1")

    state = await snapshot(sessions, Campaign, Deliverable)
    (campaign,) = [c for c in state["campaigns"] if c["deal_id"] == draft.id]
    planned = [d for d in state["deliverables"] if d["deal_id"] == draft.id]
    assert [(d["title"], d["platform"], d["due_at"], d["status"]) for d in planned] == [
        ("TikTok 1 of 2 for HelloFresh", "tiktok", datetime(2027, 4, 5, 16, tzinfo=UTC), "pending"),
        (
            "Instagram story 1 of 1 for HelloFresh",
            "instagram_story",
            datetime(2027, 4, 10, 8, tzinfo=UTC),
            "pending",
        ),
        ("TikTok 2 of 2 for HelloFresh", "tiktok", datetime(2027, 4, 15, tzinfo=UTC), "pending"),
    ]
    assert {d["campaign_id"] for d in planned} == {campaign["id"]}
    assert campaign["plan"]["window"]["source"] == "deal"
    assert (campaign["starts_at"], campaign["ends_at"]) == (april, april + timedelta(days=14))
    assert result.result == {
        "dealId": draft.id,
        "campaignId": campaign["id"],
        "units": 3,
        "created": 3,
        "updated": 0,
        "deleted": 0,
        "kept": 0,
    }
    # A re-run replaces the plan with itself: same rows, same ids
    again = await run(make_worker, redis, "campaign-builder", {"dealDraftId": draft.id}, "cb-2")
    assert (again.result["created"], again.result["updated"], again.result["deleted"]) == (0, 0, 0)
    assert await snapshot(sessions, Campaign, Deliverable) == state


async def test_a_re_plan_keeps_submitted_work_and_reuses_open_rows(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """New content and dates: the submitted TikTok stays as it is; the open rows become the new reels."""
    # Given a plan whose first TikTok is submitted
    await seed(sessions)
    draft = await sample_deal(sessions)
    await run(make_worker, redis, "campaign-builder", {"dealDraftId": draft.id}, "cb-1")
    first = [d for d in (await snapshot(sessions, Deliverable))["deliverables"] if d["deal_id"] == draft.id]
    submitted = first[0]
    await change(sessions, Deliverable, submitted["id"], status="submitted", content="#ad my TikTok")

    # When the deal changes to 1 TikTok and 2 reels in May and the campaign is re-planned
    may = datetime(2027, 5, 1, tzinfo=UTC)
    await change(
        sessions,
        Deal,
        draft.id,
        deliverables=[{"platform": "tiktok", "count": 1}, {"platform": "instagram_reel", "count": 2}],
        starts_at=may,
        ends_at=may + timedelta(days=20),
    )
    result = await run(make_worker, redis, "campaign-builder", {"dealDraftId": draft.id}, "cb-2")

    # Then one campaign, the submitted row untouched, the two open rows re-used as the reels
    state = await snapshot(sessions, Campaign, Deliverable)
    assert len([c for c in state["campaigns"] if c["deal_id"] == draft.id]) == 1
    rows = {d["id"]: d for d in state["deliverables"] if d["deal_id"] == draft.id}
    assert rows[submitted["id"]] == {**submitted, "status": "submitted", "content": "#ad my TikTok"}
    assert set(rows) == {d["id"] for d in first}
    reels = sorted(
        (d["title"], d["due_at"], d["status"]) for d in rows.values() if d["id"] != submitted["id"]
    )
    assert reels == [
        ("Instagram reel 1 of 2 for HelloFresh", datetime(2027, 5, 14, 8, tzinfo=UTC), "pending"),
        ("Instagram reel 2 of 2 for HelloFresh", datetime(2027, 5, 21, tzinfo=UTC), "pending"),
    ]
    assert (result.result["kept"], result.result["updated"], result.result["created"]) == (1, 2, 0)


async def test_without_dates_the_default_window_is_kept_by_later_plans(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """No dates: a week from today for 28 days, stated in the plan; re-planning does not move it."""
    await seed(sessions)
    draft = await sample_deal(sessions)

    await run(make_worker, redis, "campaign-builder", {"dealDraftId": draft.id}, "cb-1")
    state = await snapshot(sessions, Campaign, Deliverable)
    (campaign,) = [c for c in state["campaigns"] if c["deal_id"] == draft.id]

    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    assert campaign["starts_at"] == today + timedelta(days=7)
    assert campaign["ends_at"] == today + timedelta(days=35)
    assert campaign["plan"]["window"]["source"].startswith("default: the deal names no dates")
    await run(make_worker, redis, "campaign-builder", {"dealDraftId": draft.id}, "cb-2")
    assert await snapshot(sessions, Campaign, Deliverable) == state


async def open_session(
    sessions: async_sessionmaker[AsyncSession], deal_id: int | None, *thread: dict[str, Any]
) -> int:
    async with sessions.begin() as session:
        chat = NegotiationSession(deal_id=deal_id or 0, thread=list(thread))
        session.add(chat)
    assert chat.id is not None
    return chat.id


async def test_a_negotiation_step_is_a_pending_approval_within_the_floor(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """The brand offers $7,000: insights priced on the way, a counter meeting halfway stored for approval."""
    # Given a negotiation on the sample draft, which has no insights yet
    await seed(sessions)
    draft = await sample_deal(sessions)
    sid = await open_session(
        sessions,
        draft.id,
        {"from": "brand", "body": "We could stretch to $7,000 for the TikToks and the story."},
    )

    # When ai-negotiation takes the next step
    result = await run(make_worker, redis, "ai-negotiation", {"sessionId": sid}, "an-1")

    # Then the deal is priced (floor $6,630) and a counter of $7,790 waits for Maya's approval
    async with sessions() as session:
        approvals = [
            a
            for a in (await session.execute(select(Approval))).scalars()
            if a.source_key == f"negotiation:{sid}:1"
        ]
        deal = await session.get(Deal, draft.id)
        maya = (await session.execute(select(User).where(col(User.email) == MARKER_EMAIL))).scalar_one()
        chat = await session.get(NegotiationSession, sid)
    (approval,) = approvals
    assert (approval.status, approval.requested_by_id) == ("pending", maya.id)
    assert approval.subject == "Counter-offer to HelloFresh: USD 7,790.00 for Ava Chen"
    assert approval.payload["fee_minor"] == 779_000 >= approval.payload["floor_minor"] == 663_000
    assert "we would propose USD 7,790.00 for 2 TikToks and 1 Instagram story" in approval.payload["message"]
    assert timedelta(days=1) < approval.expires_at - datetime.now(UTC) <= timedelta(days=2)
    assert deal is not None
    assert deal.insights is not None
    assert deal.insights["negotiation"]["floor_minor"] == 663_000
    assert chat is not None
    assert chat.last_step_at is not None
    assert result.result["insightsComputed"] is True
    # And a retry of the same step finds its approval: nothing drafted, nothing changed
    before = await snapshot(sessions, Approval, NegotiationSession, Deal)
    again = await run(make_worker, redis, "ai-negotiation", {"sessionId": sid}, "an-2")
    assert again.result == {"sessionId": sid, "approvalId": approval.id, "status": "exists"}
    assert await snapshot(sessions, Approval, NegotiationSession, Deal) == before


async def test_each_thread_state_gets_its_own_approval(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """After our $7,790 and their $7,500, the next step meets halfway again: a second approval, $7,650."""
    await seed(sessions)
    draft = await sample_deal(sessions)
    thread: list[dict[str, Any]] = [
        {"from": "brand", "body": "We could stretch to $7,000."},
        {"from": "agency", "body": "We would propose USD 7,790.00.", "fee_minor": 779_000},
        {"from": "brand", "body": "Final offer: $7,500 all in."},
    ]
    sid = await open_session(sessions, draft.id, *thread)

    result = await run(make_worker, redis, "ai-negotiation", {"sessionId": sid}, "an-1")

    async with sessions() as session:
        approval = (
            await session.execute(select(Approval).where(col(Approval.source_key) == f"negotiation:{sid}:3"))
        ).scalar_one()
    assert (result.result["action"], result.result["feeMinor"]) == ("counter", 765_000)
    assert approval.payload["thread_length"] == 3


async def test_closed_missing_or_malformed_sessions_fail_permanently(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """A closed session, an unknown one, a thread message without a sender, a lost deal: each named."""
    await seed(sessions)
    draft = await sample_deal(sessions)
    lost = await sample_deal(sessions, "lost")
    closed = await open_session(sessions, draft.id)
    await change(sessions, NegotiationSession, closed, status="closed")
    malformed = await open_session(sessions, draft.id, {"body": "who am I?"})
    on_lost = await open_session(sessions, lost.id)

    for job_id, sid in {"closed": closed, "unknown": 4242, "malformed": malformed, "lost": on_lost}.items():
        await redis.enqueue_job("ai-negotiation", {"sessionId": sid}, _job_id=job_id)
    await make_worker(BINDINGS, catalogue=QUEUES).async_run()

    dead = {job: message for job, (message, _) in (await failures(sessions)).items()}
    assert dead == {
        "closed": f"negotiation session {closed} is 'closed', not 'open'",
        "unknown": "negotiation session 4242 (sessionId) not found",
        "malformed": f'negotiation session {malformed}: thread[0] needs "from": "brand" or "agency", '
        "got {'body': 'who am I?'}",
        "lost": f"deal {lost.id} (deal of negotiation session {on_lost}) is in stage 'lost', "
        "not 'draft' or 'negotiating'",
    }
    async with sessions() as session:
        drafted = await session.execute(
            select(Approval).where(col(Approval.source_key).like("negotiation:%"))
        )
        assert drafted.all() == []


async def approvals_by_key(
    sessions: async_sessionmaker[AsyncSession], sid: int
) -> dict[str, tuple[int, str]]:
    async with sessions() as session:
        found = (await session.execute(select(Approval).order_by(col(Approval.id)))).scalars()
        return {
            a.source_key: (a.id, a.status)
            for a in found
            if a.id is not None and a.source_key and a.source_key.startswith(f"negotiation:{sid}:")
        }


async def test_an_expired_or_rejected_draft_is_drafted_again_under_a_revision(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Expired: the step is drafted again as :r2; r2 rejected: :r3; a pending draft stands."""
    # Given the brand's $7,000 offer and the first draft for it, which expired undecided
    await seed(sessions)
    draft = await sample_deal(sessions)
    sid = await open_session(sessions, draft.id, {"from": "brand", "body": "We could stretch to $7,000."})
    key = f"negotiation:{sid}:1"
    first = await run(make_worker, redis, "ai-negotiation", {"sessionId": sid}, "an-1")
    await change(sessions, Approval, first.result["approvalId"], status="expired")

    # When the step runs again: a second revision, pending
    second = await run(make_worker, redis, "ai-negotiation", {"sessionId": sid}, "an-2")
    assert (second.result["status"], second.result["key"]) == ("pending_approval", f"{key}:r2")
    # And once the manager rejects that one, a third
    await change(sessions, Approval, second.result["approvalId"], status="rejected")
    third = await run(make_worker, redis, "ai-negotiation", {"sessionId": sid}, "an-3")
    assert (third.result["status"], third.result["key"]) == ("pending_approval", f"{key}:r3")

    # Then a run while the third is pending drafts nothing
    fourth = await run(make_worker, redis, "ai-negotiation", {"sessionId": sid}, "an-4")
    assert fourth.result == {"sessionId": sid, "approvalId": third.result["approvalId"], "status": "exists"}
    assert await approvals_by_key(sessions, sid) == {
        key: (first.result["approvalId"], "expired"),
        f"{key}:r2": (second.result["approvalId"], "rejected"),
        f"{key}:r3": (third.result["approvalId"], "pending"),
    }


class Killed(BaseException):
    """The worker process dying: nothing after it runs, no except clause sees it."""


def direct_ctx(sessions: async_sessionmaker[AsyncSession], redis: ArqRedis) -> Any:
    """What the worker hands a processor, for calling it directly (the rules need no HTTP)."""
    return {
        "sessions": sessions,
        "settings": service_settings(),
        "http": None,
        **clients(service_settings()),
        "redis": redis,
        "job_id": "direct",
        "job_try": 1,
    }


async def test_ai_negotiation_killed_mid_write_leaves_nothing_and_the_rerun_drafts_once(
    make_worker: MakeWorker,
    redis: ArqRedis,
    sessions: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Killed while writing the approval and the fresh insights: neither is stored; the re-run stores both."""
    # Given a negotiation whose deal has no insights yet, and a run that dies inside its write
    await seed(sessions)
    draft = await sample_deal(sessions)
    sid = await open_session(sessions, draft.id, {"from": "brand", "body": "We could stretch to $7,000."})
    before = await snapshot(sessions, Approval, NegotiationSession, Deal)

    def die(*args: Any) -> dict[str, Any]:
        raise Killed

    monkeypatch.setattr(ai_negotiation, "_approval_payload", die)
    with pytest.raises(Killed):
        await ai_negotiation.handle(direct_ctx(sessions, redis), SessionRef(session_id=sid))
    monkeypatch.undo()

    # Then nothing was written: no approval, no insights on the deal, the session untouched
    assert await snapshot(sessions, Approval, NegotiationSession, Deal) == before

    # When the job runs again, and once more
    result = await run(make_worker, redis, "ai-negotiation", {"sessionId": sid}, "an-1")
    stored = await snapshot(sessions, Approval, NegotiationSession, Deal)
    again = await run(make_worker, redis, "ai-negotiation", {"sessionId": sid}, "an-2")

    # Then one approval and the insights, stored by the first re-run; the second changes nothing
    assert (result.result["status"], result.result["insightsComputed"]) == ("pending_approval", True)
    assert list(await approvals_by_key(sessions, sid)) == [f"negotiation:{sid}:1"]
    assert again.result["status"] == "exists"
    assert await snapshot(sessions, Approval, NegotiationSession, Deal) == stored


class Watched(RulesProvider):
    """The rules, noting how many database connections the job holds while the provider works."""

    def __init__(self, engine: AsyncEngine, during: Callable[[], Awaitable[None]] | None = None) -> None:
        self.engine, self.during, self.held = engine, during, list[int]()

    async def _watch(self) -> None:
        self.held.append(self.engine.sync_engine.pool.checkedout())  # type: ignore[attr-defined]
        if self.during is not None:
            await self.during()

    async def negotiation_insights(self, deal: PricingFacts, comparables: Comparables) -> NegotiationInsights:
        await self._watch()
        return await super().negotiation_insights(deal, comparables)

    async def draft_negotiation_reply(self, facts: NegotiationFacts) -> NegotiationReply:
        await self._watch()
        return await super().draft_negotiation_reply(facts)


async def test_no_connection_is_held_while_the_ai_provider_works(
    redis: ArqRedis,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ai-negotiation (to price, then to reply) and negotiation-engine ask the AI with no session open."""
    await seed(sessions)
    draft = await sample_deal(sessions)
    sid = await open_session(sessions, draft.id, {"from": "brand", "body": "We could stretch to $7,000."})
    ai = Watched(engine)
    ctx: Any = {**direct_ctx(sessions, redis), "ai": ai}

    replied = await ai_negotiation.handle(ctx, SessionRef(session_id=sid))
    await change(sessions, Deal, draft.id, insights={})
    priced = await negotiation_engine.handle(ctx, DealDraftRef(deal_draft_id=draft.id))

    assert (replied["status"], priced["changed"]) == ("pending_approval", True)
    assert ai.held == [0, 0, 0]  # pricing and reply of ai-negotiation, pricing of negotiation-engine


async def test_a_deal_changed_while_it_is_priced_is_priced_again(
    redis: ArqRedis,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The offer rises to $6,000 while the provider prices $5,000: nothing stored, the retry prices $6,000."""
    await seed(sessions)
    draft = await sample_deal(sessions)

    async def brand_raises_its_offer() -> None:
        await change(sessions, Deal, draft.id, fee_minor=600_000)

    ai = Watched(engine, during=brand_raises_its_offer)
    ctx: Any = {**direct_ctx(sessions, redis), "ai": ai}
    payload = DealDraftRef(deal_draft_id=draft.id)

    with pytest.raises(DealChanged, match=f"deal {draft.id} changed while it was priced"):
        await negotiation_engine.handle(ctx, payload)
    async with sessions() as session:
        unpriced = await session.get(Deal, draft.id)
    assert unpriced is not None
    assert not unpriced.insights  # nothing stored from the stale pricing
    ai.during = None
    result = await negotiation_engine.handle(ctx, payload)

    async with sessions() as session:
        deal = await session.get(Deal, draft.id)
    assert deal is not None
    assert deal.insights is not None
    assert (result["changed"], deal.insights["negotiation"]["offer_minor"]) == (True, 600_000)


async def test_a_reply_to_a_thread_that_grew_meanwhile_is_not_stored(
    redis: ArqRedis,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The brand writes again while the reply is drafted: that reply is superseded; the next run answers."""
    await seed(sessions)
    draft = await sample_deal(sessions)
    offer = {"from": "brand", "body": "We could stretch to $7,000."}
    sid = await open_session(sessions, draft.id, offer)

    async def brand_writes_again() -> None:
        await change(
            sessions, NegotiationSession, sid, thread=[offer, {"from": "brand", "body": "Or $7,200?"}]
        )

    ai = Watched(engine, during=brand_writes_again)
    ctx: Any = {**direct_ctx(sessions, redis), "ai": ai}

    stale = await ai_negotiation.handle(ctx, SessionRef(session_id=sid))
    assert (stale["status"], stale["approvalId"]) == ("superseded", None)
    assert await approvals_by_key(sessions, sid) == {}
    ai.during = None
    fresh = await ai_negotiation.handle(ctx, SessionRef(session_id=sid))
    assert (fresh["status"], fresh["key"]) == ("pending_approval", f"negotiation:{sid}:2")


async def test_a_pending_draft_past_its_expiry_no_longer_stands(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Pending but past expires_at (flush-stale-approvals not run yet): the step is drafted again as :r2."""
    # Given a draft for the brand's offer, left pending past its expiry
    await seed(sessions)
    draft = await sample_deal(sessions)
    sid = await open_session(sessions, draft.id, {"from": "brand", "body": "We could stretch to $7,000."})
    ctx = direct_ctx(sessions, redis)
    first = await ai_negotiation.handle(ctx, SessionRef(session_id=sid))
    await change(sessions, Approval, first["approvalId"], expires_at=datetime.now(UTC) - timedelta(minutes=1))

    # When the step runs again
    second = await ai_negotiation.handle(ctx, SessionRef(session_id=sid))

    # Then a new revision waits for approval; the stale one is left for the flush cron to mark
    key = f"negotiation:{sid}:1"
    assert (second["status"], second["key"]) == ("pending_approval", f"{key}:r2")
    assert await approvals_by_key(sessions, sid) == {
        key: (first["approvalId"], "pending"),
        f"{key}:r2": (second["approvalId"], "pending"),
    }
    # And one still within its expiry stands
    third = await ai_negotiation.handle(ctx, SessionRef(session_id=sid))
    assert third == {"sessionId": sid, "approvalId": second["approvalId"], "status": "exists"}


class BelowTheFloor(RulesProvider):
    """A provider whose reply ignores the floor (what a broken model answer would be)."""

    async def draft_negotiation_reply(self, facts: NegotiationFacts) -> NegotiationReply:
        return NegotiationReply("accept", facts.floor_minor - 100, "Deal at any price.", ["no floor"])


async def test_a_reply_below_the_floor_is_refused_permanently_and_not_stored(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Below the floor: an explicit check (python -O strips asserts), permanent, naming all three."""
    await seed(sessions)
    draft = await sample_deal(sessions)
    sid = await open_session(sessions, draft.id, {"from": "brand", "body": "We could stretch to $7,000."})
    ctx: Any = {**direct_ctx(sessions, redis), "ai": BelowTheFloor()}

    with pytest.raises(PermanentJobError) as refused:
        await ai_negotiation.handle(ctx, SessionRef(session_id=sid))

    assert str(refused.value) == (
        f"negotiation session {sid}: the drafted reply (accept) names USD 6,629.00, "
        "below the deal's floor of USD 6,630.00: not stored"
    )
    assert await approvals_by_key(sessions, sid) == {}
