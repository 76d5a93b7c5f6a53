"""whatsapp-sync against the provider's API (httpx MockTransport): set-based, idempotent, honest if unset."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from arq.connections import ArqRedis
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlmodel import col

from talentq.cron import run_cron_job
from talentq.db.models import CronRun, pk
from talentq.db.tables import User, WhatsAppMessage, WhatsAppNumber
from talentq.settings import Settings

from ..conftest import clients, service_settings, shipped_cron

pytestmark = pytest.mark.integration

WHATSAPP_SYNC = shipped_cron("whatsapp-sync")


class FakeProvider:
    def __init__(self) -> None:
        self.status = 200
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.status != 200:
            return httpx.Response(self.status)
        number = request.url.path.split("/")[-2]
        after = int(request.url.params.get("after", "0"))
        backlog = [
            {
                "id": f"{number}-{n}",
                "from": "+447700900123",
                "to": number,
                "text": f"msg {n}",
                "timestamp": 1764316800 + n,
            }
            for n in range(1, 6)
            if n > after
        ]
        page, rest = backlog[:3], backlog[3:]
        body: dict[str, Any] = {"messages": page, "cursor": str(after + len(page))}
        if rest:
            body["next"] = str(after + len(page))
        return httpx.Response(200, json=body)


def configured() -> Settings:
    return service_settings(whatsapp_api_url="https://wa.test/v1", whatsapp_api_token="token-1")


async def numbers(sessions: async_sessionmaker[AsyncSession], count: int) -> None:
    async with sessions.begin() as session:
        user = User(name="Maya", email="maya@agency.test")
        session.add(user)
        await session.flush()
        user_id = pk(user)
        session.add_all(WhatsAppNumber(user_id=user_id, phone_number=f"+4470000000{n}") for n in range(count))


def ctx_for(
    sessions: async_sessionmaker[AsyncSession],
    redis: ArqRedis,
    settings: Settings,
    provider: Callable[[httpx.Request], httpx.Response],
    tick: int,
) -> dict[str, Any]:
    http = httpx.AsyncClient(transport=httpx.MockTransport(provider))
    return {
        "job_id": f"whatsapp-sync:{tick}",
        "sessions": sessions,
        "redis": redis,
        "settings": settings,
        "http": http,
        **clients(settings, http),
    }


async def test_messages_are_pulled_once_with_a_fixed_number_of_statements(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], redis: ArqRedis
) -> None:
    """Three numbers, paged backlogs: every message stored once, cursors advanced, three statements."""
    await numbers(sessions, 3)
    provider = FakeProvider()
    statements: list[str] = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731  (conn, cursor, statement, ...)
    event.listen(engine.sync_engine, "before_cursor_execute", listener)
    try:
        result = await run_cron_job(WHATSAPP_SYNC)(ctx_for(sessions, redis, configured(), provider, 1))
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", listener)

    assert result == {"count": 15, "numbers": 3}
    work = [s for s in statements if "cron_runs" not in s]
    assert len(work) == 3, work
    again = await run_cron_job(WHATSAPP_SYNC)(ctx_for(sessions, redis, configured(), provider, 2))
    assert again == {"count": 0, "numbers": 3}
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(WhatsAppMessage)) == 15
        cursors = set((await session.execute(select(col(WhatsAppNumber.sync_cursor)))).scalars())
        synced = set((await session.execute(select(col(WhatsAppNumber.last_synced_at)))).scalars())
    assert cursors == {"5"}
    # Stamped with the second run's tick (ms 2 since the epoch), not the wall clock
    assert synced == {datetime.fromtimestamp(0.002, UTC)}


async def test_unconfigured_provider_skips_saying_what_to_set(
    sessions: async_sessionmaker[AsyncSession], redis: ArqRedis
) -> None:
    """Without WHATSAPP_* settings the run is a recorded skip naming them, not a failure."""
    result = await run_cron_job(WHATSAPP_SYNC)(
        ctx_for(sessions, redis, service_settings(), FakeProvider(), 1)
    )
    assert result == {
        "count": 0,
        "skipped": "WhatsApp is not configured: set WHATSAPP_API_URL and WHATSAPP_API_TOKEN",
    }


async def test_provider_outage_fails_the_run_loudly(
    sessions: async_sessionmaker[AsyncSession], redis: ArqRedis
) -> None:
    """A 503 fails the run (recorded as failed, re-raised); nothing is half-stored."""
    await numbers(sessions, 1)
    provider = FakeProvider()
    provider.status = 503
    with pytest.raises(Exception, match="answered 503"):
        await run_cron_job(WHATSAPP_SYNC)(ctx_for(sessions, redis, configured(), provider, 1))
    async with sessions() as session:
        run = (await session.execute(select(CronRun))).scalar_one()
        assert await session.scalar(select(func.count()).select_from(WhatsAppMessage)) == 0
    assert run.status == "failed"


async def test_a_number_the_provider_refuses_is_recorded_and_the_others_sync(
    sessions: async_sessionmaker[AsyncSession], redis: ArqRedis
) -> None:
    """One refused number (403): its error is kept on it, its cursor stays; the other two are synced."""
    await numbers(sessions, 3)
    provider = FakeProvider()
    refused = "+44700000001"
    real = provider.__call__

    def refusing(request: httpx.Request) -> httpx.Response:
        if refused in request.url.path:
            return httpx.Response(403, json={"error": "number not registered"})
        return real(request)

    ctx = ctx_for(sessions, redis, configured(), refusing, 1)
    result = await run_cron_job(WHATSAPP_SYNC)(ctx)

    async with sessions() as session:
        by_phone = {n.phone_number: n for n in (await session.execute(select(WhatsAppNumber))).scalars()}
        stored = await session.scalar(select(func.count()).select_from(WhatsAppMessage))
    assert (result["count"], result["numbers"], result["failed"]) == (10, 3, 1)
    assert result["failedNumbers"] == [by_phone[refused].id]
    assert stored == 10
    assert "403" in (by_phone[refused].last_error or "")
    assert (by_phone[refused].sync_cursor, by_phone[refused].last_synced_at) == (None, None)
    others = [n for phone, n in by_phone.items() if phone != refused]
    assert {(n.sync_cursor, n.last_error) for n in others} == {("5", None)}
