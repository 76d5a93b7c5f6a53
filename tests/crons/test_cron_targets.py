"""The registry trusts each cron's declared ``enqueues``; this holds the crons to what they declare.

Every active cron of the shipped schedule runs on the sample agency, at ticks where each finds
work, with a producer that notes every queue a cron enqueues into: no cron may enqueue into a
queue it does not declare (the startup check would not see a dead queue it feeds), and each
declared queue must be one the cron really feeds on that data.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from arq.connections import ArqRedis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from talentq.client import FanOut, Producer
from talentq.cron import CRONS
from talentq.dev.sample_agency import seed
from talentq.domain.time import tick_ms

from ..conftest import clients
from .test_whatsapp_sync import FakeProvider, configured

pytestmark = pytest.mark.integration

#: A Monday 09:00 UTC: the weekly and the 09:00 daily crons are due, and it is 08:00 or later in
#: every sample manager's zone for the daily brief.
MONDAY = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class NotingProducer(Producer):
    """The real producer, noting which queues each call enqueued into (whatever the outcome)."""

    def __init__(self, redis: ArqRedis) -> None:
        super().__init__(redis)
        self.queues: set[str] = set()

    async def enqueue(self, queue: Any, payload: Any, **kwargs: Any) -> str | None:
        self.queues.add(queue if isinstance(queue, str) else queue.name)
        return await super().enqueue(queue, payload, **kwargs)

    async def enqueue_many(self, queue: Any, payloads: Any, **kwargs: Any) -> list[str | None]:
        payloads = list(payloads)
        if payloads:
            self.queues.add(queue if isinstance(queue, str) else queue.name)
        return await super().enqueue_many(queue, payloads, **kwargs)

    async def fan_out(self, queue: Any, rows: Any, **kwargs: Any) -> FanOut:
        rows = list(rows)
        if rows:
            self.queues.add(queue.name)
        return await super().fan_out(queue, rows, **kwargs)


async def work_for_every_cron(sessions: async_sessionmaker[AsyncSession]) -> None:
    """The sample agency, seeded a day before the tick, plus what it lacks for the agent crons."""
    await seed(sessions, now=MONDAY - timedelta(days=1))
    async with sessions.begin() as session:
        # A task of each kind each agent cron hands on (planless, planned, a triage), stuck in
        # running for recovery and failed for retry
        await session.execute(
            text(
                "INSERT INTO agent_tasks "
                "(kind, status, attempts, max_attempts, started_at, finished_at, steps) "
                "SELECT kind, status, 1, 3, :long_ago, :long_ago, CAST(steps AS jsonb) "
                "FROM (VALUES ('reply_to_brand', NULL), ('reply_to_brand', '[]'), ('inbox_triage', NULL)) "
                "AS k(kind, steps), (VALUES ('running'), ('failed')) AS s(status)"
            ),
            {"long_ago": MONDAY - timedelta(days=2)},
        )
        await session.execute(text("UPDATE mail_connections SET active = true, last_synced_at = NULL"))
        await session.execute(
            text(
                "INSERT INTO whatsapp_numbers (user_id, phone_number) "
                "SELECT min(id), '+44700900001' FROM users"
            )
        )


async def test_each_cron_enqueues_into_exactly_the_queues_it_declares(
    redis: ArqRedis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Run on data that gives each its work, every cron feeds the queues it declares and no other."""
    await work_for_every_cron(sessions)
    fed: dict[str, set[str]] = {}
    async with httpx.AsyncClient(transport=httpx.MockTransport(FakeProvider())) as http:
        for entry in CRONS:
            if entry.run is None:
                continue
            producer = NotingProducer(redis)
            ctx: Any = {
                "job_id": f"{entry.name}:{tick_ms(MONDAY)}",
                "job_try": 1,
                "redis": redis,
                "sessions": sessions,
                "producer": producer,
                "settings": configured(),
                "http": http,
                **clients(configured(), http),
            }
            await entry.run(ctx)
            fed[entry.name] = producer.queues

    declared = {entry.name: set(entry.enqueues) for entry in CRONS if entry.run is not None}
    undeclared = {name: queues - declared[name] for name, queues in fed.items() if queues - declared[name]}
    assert undeclared == {}, f"crons enqueue into queues they do not declare: {undeclared}"
    unfed = {name: declared[name] - queues for name, queues in fed.items() if declared[name] - queues}
    assert unfed == {}, f"crons declare queues they did not feed on the sample agency: {unfed}"
