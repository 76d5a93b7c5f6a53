"""whatsapp-sync against the provider's API (httpx MockTransport): set-based, idempotent, honest if unset."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from arq.connections import ArqRedis
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlmodel import col

from talentq.cron import CRONS, run_cron_job
from talentq.db.domain import User, WhatsAppMessage, WhatsAppNumber
from talentq.db.models import CronRun
from talentq.sample_agency import pk
from talentq.settings import Settings

from .conftest import service_settings

pytestmark = pytest.mark.integration

WHATSAPP_SYNC = next(entry for entry in CRONS if entry.name == "whatsapp-sync")


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
    provider: FakeProvider,
    tick: int,
) -> dict[str, Any]:
    http = httpx.AsyncClient(transport=httpx.MockTransport(provider))
    return {
        "job_id": f"whatsapp-sync:{tick}",
        "sessions": sessions,
        "redis": redis,
        "settings": settings,
        "http": http,
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
    assert cursors == {"5"}


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
