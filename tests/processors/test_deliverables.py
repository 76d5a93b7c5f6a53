"""deliverable-reminders and deliverable-review on the real Redis and PostgreSQL, mail through aiosmtpd."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import hashlib
from datetime import datetime, timedelta
from typing import Any, cast

import pytest
from arq.connections import ArqRedis
from arq.constants import default_queue_name, job_key_prefix, result_key_prefix
from arq.jobs import Job
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from talentq.client import Producer
from talentq.db.models import FailedJob, pk, utcnow
from talentq.db.tables import Brand, Contract, Deal, Deliverable, OutboundEmail, Talent, User
from talentq.deadletter import replay
from talentq.domain.deliverables import reminder_key
from talentq.errors import QueueRefusedError
from talentq.jobs import JobContext
from talentq.processors import deliverable_reminders, deliverable_review, email_send
from talentq.queues import CATALOGUE, MAX_REVIEW_CONTENT_CHARS, DeliverableReview, RetryPolicy
from talentq.registry import Binding
from talentq.serialization import deserialize

from ..conftest import MakeWorker, clients, service_settings
from ..test_jobs import result_of
from .test_email_send import Recorder, smtp, smtp_settings  # noqa: F401  (smtp: the aiosmtpd fixture)

pytestmark = pytest.mark.integration

FAST = RetryPolicy(2, 0.05, 0.1)
QUEUES = {
    name: dataclasses.replace(CATALOGUE[name], retry=FAST)
    for name in ("deliverable-reminders", "deliverable-review", "email-send")
}
BINDINGS: list[Binding] = [
    ("deliverable-reminders", deliverable_reminders.handle),
    ("deliverable-review", deliverable_review.handle),
    ("email-send", email_send.handle),
]
TERMS = {
    "fee_minor": 800_000,
    "currency": "USD",
    "requiredHandle": "@glossier",
    "requiredLinks": ["https://glossier.com/you"],
    "forbiddenClaims": ["whitening"],
}
GOOD_CAPTION = (
    "#ad My morning routine with @glossier: Glossier You, two sprays and out the door. "
    "Shop it at glossier.com/you?utm_source=priya"
)


@dataclasses.dataclass(frozen=True)
class World:
    manager_id: int
    talent_id: int
    deal_id: int


async def world(
    sessions: async_sessionmaker[AsyncSession],
    *,
    terms: dict[str, Any] | None = TERMS,
    zone: str = "Europe/London",
    brand_handle: str | None = "glossier",
) -> World:
    """A manager, her talent, a brand and a contracted deal; a signed contract unless ``terms`` is None."""
    async with sessions.begin() as session:
        manager = User(name="Maya Okafor", email="maya@northstar.test", time_zone=zone)
        brand = Brand(name="Glossier", domain="glossier.com", instagram_handle=brand_handle)
        session.add_all([manager, brand])
        await session.flush()
        talent = Talent(name="Priya Nair", handle="priyaglow", manager_id=pk(manager))
        session.add(talent)
        await session.flush()
        deal = Deal(talent_id=pk(talent), brand_id=pk(brand), stage="contracted", fee_minor=800_000)
        session.add(deal)
        await session.flush()
        if terms is not None:
            # A superseded draft with other terms: the signed contract is the one that binds.
            session.add(
                Contract(deal_id=pk(deal), terms={"requiredHandle": "@someoneelse"}, status="drafting")
            )
            session.add(Contract(deal_id=pk(deal), terms=terms, status="signed"))
        return World(pk(manager), pk(talent), pk(deal))


async def deliverable(
    sessions: async_sessionmaker[AsyncSession], w: World, *, due_in: timedelta, **values: Any
) -> int:
    async with sessions.begin() as session:
        row = Deliverable(
            deal_id=w.deal_id,
            talent_id=w.talent_id,
            title=values.pop("title", "IG reel: morning routine"),
            platform=values.pop("platform", "instagram"),
            due_at=utcnow() + due_in,
            **values,
        )
        session.add(row)
        await session.flush()
        return pk(row)


async def load(sessions: async_sessionmaker[AsyncSession], deliverable_id: int) -> Deliverable:
    async with sessions() as session:
        row = await session.get(Deliverable, deliverable_id)
    assert row is not None
    return row


def job_ctx(
    sessions: async_sessionmaker[AsyncSession],
    redis: ArqRedis,
    job_id: str,
    producer: Any = None,
    *,
    enqueued: datetime | None = None,
) -> JobContext:
    """What the worker hands a processor, for calling one directly (a retry: same id and enqueue time)."""
    return cast(
        JobContext,
        {
            "job_id": job_id,
            "job_try": 1,
            "enqueue_time": enqueued or utcnow(),
            "redis": redis,
            "sessions": sessions,
            "settings": service_settings(),
            **clients(service_settings()),
            "producer": producer or Producer(redis),
        },
    )


async def queued(redis: ArqRedis, queue: str) -> dict[str, dict[str, Any]]:
    """Job id -> payload of every job of ``queue`` waiting in Redis."""
    found: dict[str, dict[str, Any]] = {}
    for raw in await redis.zrange(default_queue_name, 0, -1):
        job_id = raw.decode()
        info = await Job(job_id, redis, _deserializer=deserialize).info()
        if info is not None and info.function == queue:
            found[job_id] = info.args[0]
    return found


async def letters(sessions: async_sessionmaker[AsyncSession]) -> dict[str, FailedJob]:
    async with sessions() as session:
        return {f.job_id: f for f in (await session.execute(select(FailedJob))).scalars()}


async def outbox(sessions: async_sessionmaker[AsyncSession]) -> list[OutboundEmail]:
    async with sessions() as session:
        return list((await session.execute(select(OutboundEmail))).scalars())


def body_of(message: Any) -> str:
    """A received message's text, quoted-printable decoded (long lines arrive soft-wrapped)."""
    return str(message.get_payload(decode=True).decode())


async def email_jobs(redis: ArqRedis) -> set[str]:
    """The ids of every email-send job in Redis, queued or (by a worker without email-send) done."""
    keys = [k.decode() for k in await redis.keys("arq:*email-send:*")]
    return {k.removeprefix(job_key_prefix).removeprefix(result_key_prefix) for k in keys}


async def review_worker(make_worker: MakeWorker) -> None:
    """A burst worker of deliverable-review alone: the email jobs it enqueues stay in Redis to inspect."""
    only = {"deliverable-review": QUEUES["deliverable-review"]}
    await make_worker([("deliverable-review", deliverable_review.handle)], catalogue=only).async_run()


def remind(deliverable_id: int) -> Any:
    return CATALOGUE["deliverable-reminders"].validate({"deliverableId": deliverable_id})


def submit(deliverable_id: int, content: str) -> Any:
    return CATALOGUE["deliverable-review"].validate({"deliverableId": deliverable_id, "content": content})


# --- deliverable-reminders --------------------------------------------------------------------


async def test_an_overdue_deliverable_reminds_the_manager_once(
    make_worker: MakeWorker,
    redis: ArqRedis,
    sessions: async_sessionmaker[AsyncSession],
    smtp: tuple[Recorder, int],  # noqa: F811  (the fixture imported above)
) -> None:
    """Two jobs for one overdue deliverable, run together: one email to the manager, in her time zone."""
    # Given a deliverable two days late, for a manager in New York
    recorder, port = smtp
    w = await world(sessions, zone="America/New_York")
    late = await deliverable(sessions, w, due_in=-timedelta(days=2), status="overdue")

    # When the cron's job and a manual one for it run in the same burst (concurrently)
    await redis.enqueue_job("deliverable-reminders", {"deliverableId": late}, _job_id="remind-a")
    await redis.enqueue_job("deliverable-reminders", {"deliverableId": late}, _job_id="remind-b")
    await make_worker(BINDINGS, catalogue=QUEUES, settings_=smtp_settings(port)).async_run()

    # Then the row lock let exactly one of them remind
    results = sorted([(await result_of(redis, j)).result["result"] for j in ("remind-a", "remind-b")])
    assert results == ["recently_reminded", "reminded"]
    (message,) = recorder.received
    # Priya has no email on file here: the reminder goes to her manager alone
    assert message["To"] == "Maya Okafor <maya@northstar.test>"
    assert message["Cc"] is None
    assert message["Subject"] == "Overdue: IG reel: morning routine (Priya Nair)"
    body = body_of(message)
    assert "was due" in body
    assert "(2 days ago)" in body
    assert ("EST" in body) or ("EDT" in body)  # the due time in the manager's zone, not UTC
    row = await load(sessions, late)
    assert row.reminded_at is not None
    assert utcnow() - row.reminded_at < timedelta(minutes=1)
    assert await letters(sessions) == {}


async def test_two_reminders_at_once_wait_for_the_row_lock(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Two jobs for one deliverable in two concurrent transactions: one reminds, the other sees it."""
    w = await world(sessions)
    late = await deliverable(sessions, w, due_in=-timedelta(hours=3), status="overdue")

    class SlowProducer(Producer):
        async def enqueue(self, queue: Any, payload: Any, **kwargs: Any) -> str | None:
            # The first job holds its transaction open here: without the row lock the second
            # reads reminded_at (still empty) meanwhile and reminds too.
            await asyncio.sleep(0.3)
            return await super().enqueue(queue, payload, **kwargs)

    results = await asyncio.gather(
        *(
            deliverable_reminders.handle(job_ctx(sessions, redis, job, SlowProducer(redis)), remind(late))
            for job in ("remind-a", "remind-b")
        )
    )

    assert sorted(r["result"] for r in results) == ["recently_reminded", "reminded"]
    assert list(await queued(redis, "email-send")) == [f"email-send:deliverable-reminder:{late}:first"]
    assert (await load(sessions, late)).reminded_at is not None


async def test_a_crash_between_enqueue_and_commit_still_sends_one_reminder(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """The email is enqueued, then the worker dies before reminded_at commits: the retry adds nothing."""
    w = await world(sessions)
    soon = await deliverable(sessions, w, due_in=timedelta(hours=20))

    class DiesAfterEnqueue(Producer):
        async def enqueue(self, queue: Any, payload: Any, **kwargs: Any) -> str | None:
            await super().enqueue(queue, payload, **kwargs)
            raise ConnectionError("worker killed")

    with pytest.raises(ConnectionError):
        await deliverable_reminders.handle(
            job_ctx(sessions, redis, "r-1", DiesAfterEnqueue(redis)), remind(soon)
        )
    assert (await load(sessions, soon)).reminded_at is None  # rolled back with the crash
    first_jobs = await queued(redis, "email-send")

    retried = await deliverable_reminders.handle(job_ctx(sessions, redis, "r-1"), remind(soon))
    again = await deliverable_reminders.handle(job_ctx(sessions, redis, "r-1"), remind(soon))

    assert retried["result"] == "reminded"
    assert retried["overdue"] is False
    assert again["result"] == "recently_reminded"
    jobs = await queued(redis, "email-send")
    assert list(jobs) == list(first_jobs) == [f"email-send:deliverable-reminder:{soon}:first"]
    (mail,) = jobs.values()
    assert mail["subject"] == "Due soon: IG reel: morning routine (Priya Nair)"
    assert "(in 19 hours)" in mail["body"] or "(in 20 hours)" in mail["body"]
    assert (await load(sessions, soon)).reminded_at is not None


async def test_reminders_follow_the_deliverable_s_state_and_the_24_hour_rule(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Approved, submitted, far off, reminded lately, deal over or 15 days late: no email; 25 h: a new one."""
    w = await world(sessions)
    now = utcnow()
    async with sessions.begin() as session:
        over = {stage: Deal(talent_id=w.talent_id, stage=stage) for stage in ("lost", "delivered")}
        session.add_all(over.values())
    of_lost = await deliverable(
        sessions, dataclasses.replace(w, deal_id=pk(over["lost"])), due_in=-timedelta(hours=5)
    )
    of_delivered = await deliverable(
        sessions, dataclasses.replace(w, deal_id=pk(over["delivered"])), due_in=-timedelta(hours=5)
    )
    abandoned = await deliverable(sessions, w, due_in=-timedelta(days=15), status="overdue")
    approved = await deliverable(sessions, w, due_in=-timedelta(days=1), status="approved")
    submitted = await deliverable(sessions, w, due_in=-timedelta(days=1), status="submitted")
    far = await deliverable(sessions, w, due_in=timedelta(days=6))
    lately = await deliverable(
        sessions, w, due_in=-timedelta(hours=3), status="overdue", reminded_at=now - timedelta(hours=2)
    )
    last_reminded = now - timedelta(hours=25)
    yesterday = await deliverable(
        sessions, w, due_in=timedelta(hours=5), status="changes_requested", reminded_at=last_reminded
    )

    outcomes = {
        name: await deliverable_reminders.handle(job_ctx(sessions, redis, f"r-{name}"), remind(i))
        for name, i in [
            ("approved", approved),
            ("submitted", submitted),
            ("far", far),
            ("lately", lately),
            ("yesterday", yesterday),
            ("of_lost", of_lost),
            ("of_delivered", of_delivered),
            ("abandoned", abandoned),
        ]
    }

    assert outcomes["approved"] == {
        "deliverableId": approved,
        "status": "approved",
        "result": "not_needed",
        "reason": "the deliverable is approved",
    }
    assert outcomes["submitted"]["result"] == "not_needed"
    assert outcomes["far"]["result"] == "not_due_soon"
    assert outcomes["lately"]["result"] == "recently_reminded"
    assert outcomes["yesterday"]["result"] == "reminded"
    assert (outcomes["of_lost"]["result"], outcomes["of_lost"]["reason"]) == (
        "not_needed",
        f"deal {pk(over['lost'])} is lost",
    )
    assert outcomes["of_delivered"]["reason"] == f"deal {pk(over['delivered'])} is delivered"
    assert (outcomes["abandoned"]["result"], outcomes["abandoned"]["reason"]) == (
        "not_needed",
        "over 14 days past due: reminders have stopped",
    )
    key = reminder_key(last_reminded)
    jobs = await queued(redis, "email-send")
    assert list(jobs) == [f"email-send:deliverable-reminder:{yesterday}:{key}"]
    assert "asked for changes" in jobs[f"email-send:deliverable-reminder:{yesterday}:{key}"]["body"]
    for untouched, before in [
        (approved, None),
        (submitted, None),
        (far, None),
        (of_lost, None),
        (of_delivered, None),
        (abandoned, None),
    ]:
        assert (await load(sessions, untouched)).reminded_at == before
    lately_row = await load(sessions, lately)
    assert lately_row.reminded_at is not None
    assert abs(lately_row.reminded_at - (now - timedelta(hours=2))) < timedelta(seconds=1)


async def test_reminder_bad_input_is_permanent(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """An unknown deliverable, a missing or invalid deliverableId: one try each, dead letters naming them."""
    await redis.enqueue_job("deliverable-reminders", {"deliverableId": 424242}, _job_id="unknown")
    await redis.enqueue_job("deliverable-reminders", {}, _job_id="missing")
    await redis.enqueue_job("deliverable-reminders", {"deliverableId": "seven"}, _job_id="invalid")

    await make_worker(BINDINGS, catalogue=QUEUES).async_run()

    dead = await letters(sessions)
    assert {job: (f.reason, f.tries) for job, f in dead.items()} == {
        "unknown": ("permanent", 1),
        "missing": ("permanent", 1),
        "invalid": ("permanent", 1),
    }
    assert dead["unknown"].message == "deliverable 424242 not found"
    assert "deliverableId: Field required" in dead["missing"].message
    assert "deliverableId" in dead["invalid"].message
    assert await queued(redis, "email-send") == {}


# --- deliverable-review -----------------------------------------------------------------------


async def test_compliant_content_is_approved_and_a_repeat_notifies_no_one(
    make_worker: MakeWorker,
    redis: ArqRedis,
    sessions: async_sessionmaker[AsyncSession],
    smtp: tuple[Recorder, int],  # noqa: F811  (the fixture imported above)
) -> None:
    """Disclosed, tagged, linked, short: approved, stored, one email; the same content again: no change."""
    recorder, port = smtp
    w = await world(sessions)
    reel = await deliverable(sessions, w, due_in=timedelta(days=1), status="submitted")

    await redis.enqueue_job("deliverable-review", {"deliverableId": reel, "content": GOOD_CAPTION})
    await make_worker(BINDINGS, catalogue=QUEUES, settings_=smtp_settings(port)).async_run()
    first = await load(sessions, reel)

    # The same submission again (a retried producer): the stored review stands, no second email.
    await redis.enqueue_job("deliverable-review", {"deliverableId": reel, "content": GOOD_CAPTION})
    await make_worker(BINDINGS, catalogue=QUEUES, settings_=smtp_settings(port)).async_run()
    second = await load(sessions, reel)

    assert (first.status, first.content) == ("approved", GOOD_CAPTION)
    assert first.review is not None
    assert first.review["findings"] == []
    assert first.review["verdict"] == "approved"
    assert first.review["previousStatus"] == "submitted"
    assert first.review["contractId"] is not None
    assert "brand handle @glossier from the contract" in first.review["basis"]
    assert (second.status, second.content, second.review) == (first.status, first.content, first.review)
    (message,) = recorder.received
    assert message["Subject"] == "Approved: IG reel: morning routine"
    assert "No findings" in body_of(message)
    assert len(await outbox(sessions)) == 1
    assert await letters(sessions) == {}


async def test_every_rule_reports_its_finding(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """No disclosure, handle or link, a term's and a built-in claim, too long for X: changes requested."""
    w = await world(sessions)
    post = await deliverable(sessions, w, due_in=timedelta(days=1), platform="x")
    content = (
        "Obsessed with Glossier You — it's clinically proven to make you glow and my new whitening "
        "routine is unreal. " + "So good. " * 30
    )

    result = await deliverable_review.handle(job_ctx(sessions, redis, "rv-1"), submit(post, content))

    row = await load(sessions, post)
    assert row.review is not None
    assert (result["status"], row.status, result["errors"]) == ("changes_requested", "changes_requested", 6)
    by_rule = {(f["rule"], f["severity"]) for f in row.review["findings"]}
    assert by_rule == {
        ("disclosure", "error"),
        ("brand_handle", "error"),
        ("required_link", "error"),
        ("forbidden_claim", "error"),
        ("length", "error"),
    }
    details = [f["detail"] for f in row.review["findings"]]
    assert (
        'the claim "clinically proven" is not allowed: Obsessed with Glossier You — it\'s clinically proven '
        "to make you glow and my new whitening r…"
    ) in details
    assert any(d.startswith('the claim "whitening" is not allowed') for d in details)
    # The payload model strips the trailing space: the review counts what was stored.
    assert f"{len(content.strip()):,} characters; a post on X takes at most 280" in details
    assert "the required link https://glossier.com/you is missing" in details
    (mail,) = (await queued(redis, "email-send")).values()
    assert mail["subject"] == "Changes requested: IG reel: morning routine"
    assert "- [error] disclosure: no ad disclosure" in mail["body"]
    assert "Deliverable" in mail["body"]


async def test_a_new_submission_is_reviewed_and_notified_again(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Changes requested, then fixed content: approved, and a second email (its job id has the new hash)."""
    w = await world(sessions)
    reel = await deliverable(sessions, w, due_in=-timedelta(hours=1), status="overdue")
    draft = "Loving my Glossier You routine @glossier glossier.com/you"

    first = await deliverable_review.handle(job_ctx(sessions, redis, "rv-a"), submit(reel, draft))
    retry = await deliverable_review.handle(job_ctx(sessions, redis, "rv-a"), submit(reel, draft))
    fixed = await deliverable_review.handle(job_ctx(sessions, redis, "rv-b"), submit(reel, GOOD_CAPTION))

    assert (first["result"], first["status"]) == ("reviewed", "changes_requested")
    assert (retry["result"], retry["status"], retry["emailJobId"]) == (
        "already_reviewed",
        "changes_requested",
        first["emailJobId"],
    )
    assert (fixed["result"], fixed["status"]) == ("reviewed", "approved")
    assert set(await queued(redis, "email-send")) == {first["emailJobId"], fixed["emailJobId"]}
    row = await load(sessions, reel)
    assert row.review is not None
    assert (row.status, row.content, row.review["previousStatus"]) == (
        "approved",
        GOOD_CAPTION,
        "changes_requested",
    )


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


DRAFT_CAPTION = "Loving my Glossier You routine @glossier glossier.com/you"  # no disclosure: changes


async def test_a_retried_older_submission_never_overwrites_a_newer_one(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """A's email cannot be enqueued, B is reviewed, A is retried: B stays stored, A is superseded."""
    # Given a draft (A) submitted a minute before the fixed caption (B)
    w = await world(sessions)
    reel = await deliverable(sessions, w, due_in=timedelta(days=1), status="submitted")
    a_sent = utcnow() - timedelta(minutes=5)
    b_sent = a_sent + timedelta(minutes=1)

    class RedisDown(Producer):
        async def enqueue(self, queue: Any, payload: Any, **kwargs: Any) -> str | None:
            raise ConnectionError("Redis unavailable")

    # When A's first try fails at the enqueue, B is reviewed, and then A's retry runs
    with pytest.raises(ConnectionError):
        await deliverable_review.handle(
            job_ctx(sessions, redis, "rv-a", RedisDown(redis), enqueued=a_sent), submit(reel, DRAFT_CAPTION)
        )
    assert (await load(sessions, reel)).content is None  # the review rolled back with the enqueue
    newer = await deliverable_review.handle(
        job_ctx(sessions, redis, "rv-b", enqueued=b_sent), submit(reel, GOOD_CAPTION)
    )
    retried = await deliverable_review.handle(
        job_ctx(sessions, redis, "rv-a", enqueued=a_sent), submit(reel, DRAFT_CAPTION)
    )

    # Then B's review stands, A completes without touching it, and only B's email is queued
    assert (newer["result"], newer["status"]) == ("reviewed", "approved")
    assert retried == {
        "result": "superseded",
        "deliverableId": reel,
        "status": "approved",
        "submittedAt": a_sent.isoformat(),
        "supersededBy": b_sent.isoformat(),
        "reviewedBefore": False,
    }
    row = await load(sessions, reel)
    assert row.review is not None
    assert (row.status, row.content, row.review["submittedAt"]) == (
        "approved",
        GOOD_CAPTION,
        b_sent.isoformat(),
    )
    assert list(await queued(redis, "email-send")) == [newer["emailJobId"]]
    assert await letters(sessions) == {}


async def test_a_stored_submission_retried_after_a_newer_one_is_superseded(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """A stored and mailed, B after it, A's job again (its worker died before the ack): A is superseded."""
    w = await world(sessions)
    reel = await deliverable(sessions, w, due_in=timedelta(days=1), status="submitted")
    a_sent = utcnow() - timedelta(minutes=5)

    first = await deliverable_review.handle(
        job_ctx(sessions, redis, "rv-a", enqueued=a_sent), submit(reel, DRAFT_CAPTION)
    )
    newer = await deliverable_review.handle(
        job_ctx(sessions, redis, "rv-b", enqueued=a_sent + timedelta(minutes=1)), submit(reel, GOOD_CAPTION)
    )
    retried = await deliverable_review.handle(
        job_ctx(sessions, redis, "rv-a", enqueued=a_sent), submit(reel, DRAFT_CAPTION)
    )

    assert (first["status"], newer["status"]) == ("changes_requested", "approved")
    assert (retried["result"], retried["status"], retried["reviewedBefore"]) == (
        "superseded",
        "approved",
        True,
    )
    row = await load(sessions, reel)
    assert row.review is not None
    assert (row.status, row.content) == ("approved", GOOD_CAPTION)
    assert [(h["sha256"], h["verdict"]) for h in row.review["history"]] == [
        (sha256(GOOD_CAPTION), "approved"),
        (sha256(DRAFT_CAPTION), "changes_requested"),
    ]
    assert set(await queued(redis, "email-send")) == {first["emailJobId"], newer["emailJobId"]}


async def test_a_replayed_older_submission_keeps_its_time_and_is_superseded(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """A died (dead letter), B was reviewed, A is replayed as a new job: its submittedAt keeps it older."""
    # Given A's job dead-lettered with the payload its producer sent (submittedAt included), and B,
    # submitted a minute after A, reviewed and mailed meanwhile
    w = await world(sessions)
    reel = await deliverable(sessions, w, due_in=timedelta(days=1), status="submitted")
    a_sent = utcnow() - timedelta(minutes=5)
    b_sent = a_sent + timedelta(minutes=1)
    spec = QUEUES["deliverable-review"]
    a_wire = spec.wire(
        spec.validate({"deliverableId": reel, "content": DRAFT_CAPTION, "submittedAt": a_sent.isoformat()})
    )
    async with sessions.begin() as session:
        session.add(
            FailedJob(
                job_id="rv-a",
                queue="deliverable-review",
                payload=a_wire,
                reason="exhausted",
                error_type="ConnectionError",
                message="Redis unavailable",
                traceback="",
                tries=2,
                first_failed_at=a_sent,
                last_failed_at=a_sent,
            )
        )
    b = DeliverableReview(deliverable_id=reel, content=GOOD_CAPTION, submitted_at=b_sent)
    newer = await deliverable_review.handle(job_ctx(sessions, redis, "rv-b"), b)

    # When A is replayed (a new job id, enqueued now) and a worker runs it
    replayed = await replay(sessions, Producer(redis, catalogue=QUEUES), "rv-a")
    await review_worker(make_worker)

    # Then A completes as superseded by B; B's review stands and only B's email was queued
    assert (newer["result"], newer["status"]) == ("reviewed", "approved")
    done = await result_of(redis, replayed)
    assert done.success
    assert (done.result["result"], done.result["submittedAt"], done.result["supersededBy"]) == (
        "superseded",
        a_sent.isoformat(),
        b_sent.isoformat(),
    )
    row = await load(sessions, reel)
    assert row.review is not None
    assert (row.status, row.content, row.review["submittedAt"]) == (
        "approved",
        GOOD_CAPTION,
        b_sent.isoformat(),
    )
    assert await email_jobs(redis) == {newer["emailJobId"]}


async def test_a_submission_retried_by_the_worker_keeps_its_place_behind_a_newer_one(
    make_worker: MakeWorker,
    redis: ArqRedis,
    sessions: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A's first try fails transiently, B is reviewed meanwhile; arq's retry of A is superseded."""
    # Given A enqueued (no submittedAt: its enqueue time stands in), whose first try loses its
    # database connection while holding the row; B is submitted at that moment (its review waits for
    # the row), and A's retry starts only once B's review is stored
    w = await world(sessions)
    reel = await deliverable(sessions, w, due_in=timedelta(days=1), status="submitted")
    producer = Producer(redis, catalogue=QUEUES)
    await producer.enqueue(
        "deliverable-review", {"deliverableId": reel, "content": DRAFT_CAPTION}, job_id="rv-a"
    )
    real = deliverable_review._contract
    newer: list[asyncio.Task[dict[str, Any]]] = []

    async def flaky(session: AsyncSession, deal_id: int) -> Contract | None:
        if not newer:
            b_ctx = job_ctx(sessions, redis, "rv-b", enqueued=utcnow())
            newer.append(asyncio.create_task(deliverable_review.handle(b_ctx, submit(reel, GOOD_CAPTION))))
            raise ConnectionError("database connection reset")
        return await real(session, deal_id)

    @functools.wraps(deliverable_review.handle)
    async def review_after_b(ctx: JobContext, payload: DeliverableReview) -> dict[str, Any]:
        if ctx["job_try"] > 1:
            await newer[0]
        return await deliverable_review.handle(ctx, payload)

    monkeypatch.setattr(deliverable_review, "_contract", flaky)

    # When a worker runs A: its first try fails, arq retries it
    only = {"deliverable-review": QUEUES["deliverable-review"]}
    await make_worker([("deliverable-review", review_after_b)], catalogue=only).async_run()

    # Then the retry (try 2) knows A is older than B and leaves B's review and email alone
    b = await newer[0]
    assert (b["result"], b["status"]) == ("reviewed", "approved")
    done = await result_of(redis, "rv-a")
    assert (done.success, done.job_try, done.result["result"]) == (True, 2, "superseded")
    row = await load(sessions, reel)
    assert (row.status, row.content) == ("approved", GOOD_CAPTION)
    assert await email_jobs(redis) == {b["emailJobId"]}
    # Nothing of A's is a dead letter. (B's email job lands on this worker's lane too, and this
    # worker runs deliverable-review only: it dead-letters that job as one it has no function for.)
    dead = await letters(sessions)
    assert "rv-a" not in dead
    assert {letter.queue for letter in dead.values()} <= {"email-send"}


async def test_without_a_contract_the_brand_and_built_in_rules_apply(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """No contract: the brand's Instagram handle is required, the review says what it was held to."""
    w = await world(sessions, terms=None, brand_handle="GlossierOfficial")
    video = await deliverable(sessions, w, due_in=timedelta(days=3), platform="youtube_video")
    content = "Paid partnership with @glossierofficial. " + "Long description. " * 200

    result = await deliverable_review.handle(job_ctx(sessions, redis, "rv-1"), submit(video, content))

    row = await load(sessions, video)
    assert row.review is not None
    assert (result["status"], row.review["findings"]) == ("approved", [])
    assert row.review["contractId"] is None
    assert (
        row.review["basis"][0]
        == "no contract for this deal: reviewed against the brand and the built-in rules"
    )
    assert "brand handle @GlossierOfficial from the brand's Instagram handle" in row.review["basis"]
    assert (row.review["platform"], row.review["limit"]) == ("youtube", 5_000)


async def test_a_megabyte_of_content_is_reviewed_fast_and_mailed_short(
    make_worker: MakeWorker,
    redis: ArqRedis,
    sessions: async_sessionmaker[AsyncSession],
    smtp: tuple[Recorder, int],  # noqa: F811  (the fixture imported above)
) -> None:
    """1 MB through the worker: a length finding, a claim at its very end, under a second, a short email."""
    recorder, port = smtp
    w = await world(sessions)
    reel = await deliverable(sessions, w, due_in=timedelta(days=1))
    # Near-misses all the way (#adventure, @glossierx, glossier.com/youth) keep every pattern busy.
    filler = "a" * 50 + " " + "#adventure @glossierx glossier.com/youth " * 26_000
    content = (GOOD_CAPTION + " " + filler)[: 1_048_576 - len(" cures acne")] + " cures acne"
    assert len(content) == 1_048_576

    await redis.enqueue_job(
        "deliverable-review", {"deliverableId": reel, "content": content}, _job_id="review-1mb"
    )
    await make_worker(BINDINGS, catalogue=QUEUES, settings_=smtp_settings(port)).async_run()

    info = await result_of(redis, "review-1mb")
    elapsed = (info.finish_time - info.start_time).total_seconds()
    assert info.success
    assert elapsed < 1.0, elapsed
    row = await load(sessions, reel)
    assert row.review is not None
    assert row.content == content
    assert row.status == "changes_requested"
    assert [(f["rule"], f["detail"][:37]) for f in row.review["findings"]] == [
        ("forbidden_claim", 'the claim "cures acne" is not allowed'),
        ("length", "1,048,576 characters; an Instagram ca"),
    ]
    (message,) = recorder.received
    body = body_of(message)
    assert len(body) < 2_000
    assert "[... 1,048,576 characters in all]" in body
    print(f"\n1 MB review job: {elapsed:.3f}s")


async def test_review_bad_input_is_permanent(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """0 bytes, blank or no content, no or unknown id, an approved deliverable: each dead-lettered once."""
    w = await world(sessions)
    done = await deliverable(
        sessions, w, due_in=-timedelta(days=1), status="approved", content="#ad old @glossier"
    )
    bad = {
        "empty": {"deliverableId": done, "content": ""},
        "blank": {"deliverableId": done, "content": "  \n "},
        "no-content": {"deliverableId": done},
        "no-id": {"content": GOOD_CAPTION},
        "unknown": {"deliverableId": 424242, "content": GOOD_CAPTION},
        "approved": {"deliverableId": done, "content": GOOD_CAPTION},
    }
    for job_id, payload in bad.items():
        await redis.enqueue_job("deliverable-review", payload, _job_id=job_id)

    await make_worker(BINDINGS, catalogue=QUEUES).async_run()

    dead = await letters(sessions)
    assert set(dead) == set(bad)
    assert all((f.reason, f.tries) == ("permanent", 1) for f in dead.values())
    for job_id in ("empty", "blank"):
        assert "content: String should have at least 1 character" in dead[job_id].message
    assert "content: Field required" in dead["no-content"].message
    assert "deliverableId: Field required" in dead["no-id"].message
    assert dead["unknown"].message == "deliverable 424242 not found"
    assert dead["approved"].message == (
        f"deliverable {done} is already approved; a new submission is not reviewed"
    )
    row = await load(sessions, done)
    assert (row.status, row.content) == ("approved", "#ad old @glossier")
    assert await queued(redis, "email-send") == {}


async def test_content_past_the_limit_is_refused_by_the_client_and_the_worker(
    make_worker: MakeWorker, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """100 MB: the producer refuses it naming content; one character past the limit: dead-lettered once."""
    w = await world(sessions)
    reel = await deliverable(sessions, w, due_in=timedelta(days=1))
    huge = "#ad @glossier " + "x" * 100_000_000
    just_over = "#ad @glossier " + "x" * (MAX_REVIEW_CONTENT_CHARS - 13)
    limit = f"content: String should have at most {MAX_REVIEW_CONTENT_CHARS} characters"

    with pytest.raises(QueueRefusedError) as refused:
        await Producer(redis).enqueue("deliverable-review", {"deliverableId": reel, "content": huge})
    assert refused.value.fields == ["content"]
    assert limit in refused.value.reason
    assert await redis.dbsize() == 0

    # A job that reached Redis another way (a raw enqueue_job): one try, a permanent dead letter. The
    # worker applies the same model; past the limit it makes no difference how far (100 MB would only
    # spend seconds in Redis and in the dead letter's copy of the payload).
    await redis.enqueue_job(
        "deliverable-review", {"deliverableId": reel, "content": just_over}, _job_id="huge"
    )
    await make_worker(BINDINGS, catalogue=QUEUES).async_run()

    dead = await letters(sessions)
    assert (dead["huge"].reason, dead["huge"].tries, dead["huge"].error_type) == (
        "permanent",
        1,
        "InvalidPayloadError",
    )
    assert limit in dead["huge"].message
    row = await load(sessions, reel)
    assert (row.status, row.content, row.review) == ("pending", None, None)
    assert await queued(redis, "email-send") == {}


# --- the rules on their own -------------------------------------------------------------------
