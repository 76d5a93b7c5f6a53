"""The producer: refusals leave Redis untouched; jobs are arq's format; enqueue_many is equivalent."""

from __future__ import annotations

from datetime import timedelta

import pytest
from arq.connections import ArqRedis
from arq.constants import default_queue_name, job_key_prefix
from arq.jobs import deserialize_job

from talentq.client import Producer
from talentq.errors import QueueRefusedError
from talentq.queues import EmailSend
from talentq.serialization import deserialize

MAIL = {"to": "ana@agency.test", "subject": "Offer", "body": "Hello"}


@pytest.mark.parametrize(
    ("queue", "payload", "reason"),
    [
        ("deal-package", {"dealId": 1}, "queue was removed (dealPackage schema removed)"),
        ("email-sned", MAIL, "unknown queue; did you mean 'email-send'? (the queues: gmail-ingest, "),
        ("send-email", MAIL, "unknown queue; did you mean 'email-send'?"),
        ("negotiation_engine", {"dealDraftId": 1}, "did you mean 'negotiation-engine'?"),
        ("nope", MAIL, "unknown queue (the queues: gmail-ingest, social-refresh, email-send, "),
        (
            "email-send",
            {**MAIL, "to": "not-an-email"},
            "to: Value error, address 'not-an-email' is malformed: need exactly one name@domain",
        ),
        (
            "email-send",
            {**MAIL, "replyTo": "a@b@c.co"},
            "replyTo: Value error, address 'a@b@c.co' is malformed",
        ),
        ("social-refresh", {"talentId": 1}, "queue is disabled (the social feature is disabled"),
        (
            "email-send",
            {"to": "a@b.co", "subject": "Hi"},
            "invalid payload for queue 'email-send': body: Field required",
        ),
    ],
)
async def test_refusals_name_the_queue_and_leave_redis_untouched(
    fake_redis: ArqRedis, queue: str, payload: dict[str, object], reason: str
) -> None:
    """Removed, unknown, disabled queues and a missing field are refused before Redis is touched."""
    producer = Producer(fake_redis)
    with pytest.raises(QueueRefusedError) as caught:
        await producer.enqueue(queue, payload)
    assert caught.value.queue == queue
    assert reason in str(caught.value)
    with pytest.raises(QueueRefusedError):
        await producer.enqueue_many(queue, [payload])
    assert await fake_redis.dbsize() == 0


async def test_addresses_the_worker_takes_are_taken(fake_redis: ArqRedis) -> None:
    """A bare address and the named form ("Maya Okafor <maya@agency.test>") pass the client's check."""
    producer = Producer(fake_redis)
    for to in ("ana@agency.test", "Maya Okafor <maya@agency.test>", '"Reyes, Daniel" <dan@agency.test>'):
        assert await producer.enqueue("email-send", {**MAIL, "to": to}) is not None


async def test_refusal_lists_the_fields(fake_redis: ArqRedis) -> None:
    """The error carries the offending field names."""
    with pytest.raises(QueueRefusedError) as caught:
        await Producer(fake_redis).enqueue("contract_finalisation", {})
    assert caught.value.fields == ["userId", "terms"]


async def test_enqueue_writes_an_arq_job(fake_redis: ArqRedis) -> None:
    """A validated payload is written in arq's job format, as JSON, camelCase, on its arq queue."""
    producer = Producer(fake_redis)
    job_id = await producer.enqueue("brand-crm", {"user_id": 1, "brand_id": 2}, job_id="crm-1")
    assert job_id == "crm-1"
    raw = await fake_redis.get(job_key_prefix + "crm-1")
    job = deserialize_job(raw, deserializer=deserialize)
    assert (job.function, list(job.args), job.kwargs) == ("brand-crm", [{"userId": 1, "brandId": 2}], {})
    assert await fake_redis.zcard(default_queue_name) == 1
    assert await producer.enqueue("brand-crm", {"userId": 1, "brandId": 2}, job_id="crm-1") is None


async def test_enqueue_accepts_a_model(fake_redis: ArqRedis) -> None:
    """A payload model instance of the right type is accepted; the wrong type is refused."""
    producer = Producer(fake_redis)
    assert await producer.enqueue("email-send", EmailSend.model_validate(MAIL))
    with pytest.raises(QueueRefusedError, match="takes MessageRef"):
        await producer.enqueue("inbox", EmailSend.model_validate(MAIL))


async def test_enqueue_many_matches_enqueue(fake_redis: ArqRedis) -> None:
    """enqueue_many writes what a loop of enqueue_job writes: same job data, expiry and score."""
    producer = Producer(fake_redis)
    await producer.enqueue("inbox", {"messageId": 7}, job_id="single")
    (many_id,) = await producer.enqueue_many("inbox", [{"messageId": 7}], job_ids=["many"])
    assert many_id == "many"

    single = deserialize_job(await fake_redis.get(job_key_prefix + "single"), deserializer=deserialize)
    many = deserialize_job(await fake_redis.get(job_key_prefix + "many"), deserializer=deserialize)
    assert (many.function, list(many.args), many.kwargs, many.job_try) == (
        single.function, list(single.args), single.kwargs, single.job_try,
    )  # fmt: skip
    ttl_single = await fake_redis.pttl(job_key_prefix + "single")
    ttl_many = await fake_redis.pttl(job_key_prefix + "many")
    assert abs(ttl_single - ttl_many) < 2000
    scores = dict(await fake_redis.zrange(default_queue_name, 0, -1, withscores=True))
    assert abs(scores[b"single"] - scores[b"many"]) < 2000


async def test_enqueue_many_keeps_the_no_duplicate_id_rule(fake_redis: ArqRedis) -> None:
    """An id that exists (queued, or within the batch) is skipped and reported as None."""
    producer = Producer(fake_redis)
    await producer.enqueue("inbox", {"messageId": 1}, job_id="a")
    result = await producer.enqueue_many(
        "inbox", [{"messageId": 1}, {"messageId": 2}, {"messageId": 3}], job_ids=["a", "b", "b"]
    )
    assert result == [None, "b", None]
    assert await fake_redis.zcard(default_queue_name) == 2


async def test_enqueue_many_refuses_the_whole_batch_on_one_bad_payload(fake_redis: ArqRedis) -> None:
    """One invalid payload names its index and nothing is written."""
    with pytest.raises(QueueRefusedError, match=r"payload #2: invalid payload .*messageId"):
        await Producer(fake_redis).enqueue_many("inbox", [{"messageId": 1}, {"messageId": 2}, {}])
    assert await fake_redis.dbsize() == 0


async def test_enqueue_many_in_batches_with_deferral(fake_redis: ArqRedis) -> None:
    """More jobs than one batch all land, deferred by the same delay."""
    producer = Producer(fake_redis)
    ids = await producer.enqueue_many(
        "inbox", ({"messageId": n} for n in range(1, 2502)), defer_by=timedelta(hours=1)
    )
    assert len(ids) == 2501
    assert all(ids)
    assert await fake_redis.zcard(default_queue_name) == 2501
    now_ms = (await fake_redis.time())[0] * 1000
    ((_, lowest),) = await fake_redis.zrange(default_queue_name, 0, 0, withscores=True)
    assert lowest > now_ms + 3_500_000


async def test_defer_by_must_not_be_negative(fake_redis: ArqRedis) -> None:
    """A negative delay is a caller's mistake, refused with the value."""
    with pytest.raises(ValueError, match=r"defer_by must not be negative"):
        await Producer(fake_redis).enqueue("inbox", {"messageId": 1}, defer_by=-5)


async def test_pickle_pool_is_refused(fake_redis: ArqRedis) -> None:
    """A pool left on arq's pickle serializer cannot be used to enqueue."""
    pickle_pool = ArqRedis(pool_or_conn=fake_redis.connection_pool)
    with pytest.raises(ValueError, match=r"must use talentq\.serialization\.serialize"):
        Producer(pickle_pool)
