"""One clock for crons: every cron body decides and stamps with its tick, never the wall clock.

A cron that read the wall clock would decide differently when its tick runs late, runs again, or
runs on another worker, and its tests would pass or fail with the hour they run at. Two checks:
the source of ``talentq/crons/`` names no wall clock (Python or SQL), and every active cron of
the shipped schedule, run on the sample agency with talentq's ``utcnow`` and ``datetime.now``
made to fail, sends SQL that reads no clock of the database's.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Callable
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest
from arq.connections import ArqRedis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

import talentq.crons
from talentq.client import Producer
from talentq.cron import CRONS
from talentq.db import models
from talentq.db.tables import User, WhatsAppNumber
from talentq.dev.sample_agency import MARKER_EMAIL, seed
from talentq.domain.time import tick_ms

from ..conftest import clients
from .test_whatsapp_sync import FakeProvider, configured

#: SQL that reads the database server's clock.
WALL_CLOCK_SQL = re.compile(
    r"\b(now|clock_timestamp|statement_timestamp|transaction_timestamp|timeofday)\s*\("
    r"|\b(current_timestamp|current_date|current_time|localtimestamp|localtime)\b",
    re.IGNORECASE,
)
#: Python calls that read the wall clock: ``utcnow()``, ``datetime.now()``, ``date.today()``, ``time.time()``.
WALL_CLOCK_CALLS = {"utcnow", "now", "today", "time", "time_ns"}
CRON_SOURCES = sorted(Path(talentq.crons.__file__).parent.glob("*.py"))


def _docstrings(tree: ast.Module) -> set[int]:
    """ids of the docstring nodes: prose may say "now()" when it explains why a cron does not."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def wall_clock_reads(source: str) -> list[str]:
    """Each place in ``source`` that reads the wall clock, as "line N: what"."""
    tree = ast.parse(source)
    prose = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = (
                func.id
                if isinstance(func, ast.Name)
                else func.attr
                if isinstance(func, ast.Attribute)
                else ""
            )
            if name in WALL_CLOCK_CALLS:
                found.append(f"line {node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in prose:
            for match in WALL_CLOCK_SQL.finditer(node.value):
                found.append(f"line {node.lineno}: SQL {match.group(0)!r}")
    return found


def test_the_guard_sees_each_way_of_reading_the_clock() -> None:
    """The scan finds utcnow(), datetime.now(), date.today(), time.time() and SQL's clocks; not prose."""
    source = '''
"""Explains why the crons never say now() in SQL."""
a = utcnow()
b = datetime.now(UTC)
c = date.today()
d = time.time()
e = "UPDATE t SET at = now() WHERE x"
f = "SELECT CURRENT_TIMESTAMP, localtimestamp"
g = "SELECT :now, known_at FROM t"
'''
    assert wall_clock_reads(source) == [
        "line 3: utcnow()",
        "line 4: datetime.now(UTC)",
        "line 5: date.today()",
        "line 6: time.time()",
        "line 7: SQL 'now('",
        "line 8: SQL 'CURRENT_TIMESTAMP'",
        "line 8: SQL 'localtimestamp'",
    ]


@pytest.mark.parametrize("path", CRON_SOURCES, ids=lambda path: path.name)
def test_no_cron_module_reads_the_wall_clock(path: Path) -> None:
    """talentq/crons/*.py: the tick (``talentq.jobs.tick_time``) is the only "now", in Python and SQL."""
    assert wall_clock_reads(path.read_text()) == []


def _refuse(what: str) -> Callable[..., NoReturn]:
    def refuse(*args: object, **kwargs: object) -> NoReturn:
        raise AssertionError(f"a cron body read the wall clock: {what}")

    return refuse


class _NoNowDatetime(datetime):
    @classmethod
    def now(cls, tz: tzinfo | None = None) -> NoReturn:
        _refuse("datetime.now()")()

    @classmethod
    def utcnow(cls) -> NoReturn:
        _refuse("datetime.utcnow()")()

    @classmethod
    def today(cls) -> NoReturn:
        _refuse("datetime.today()")()


class _NoTodayDate(date):
    @classmethod
    def today(cls) -> NoReturn:
        _refuse("date.today()")()


@pytest.mark.integration
async def test_every_cron_decides_with_its_tick_alone(
    redis: ArqRedis,
    sessions: async_sessionmaker[AsyncSession],
    sql_statements: list[str],
    monkeypatch: pytest.MonkeyPatch,
    cron_now: datetime,
) -> None:
    """Each active cron runs on the sample agency with the wall clock refused: no SQL reads the server's."""
    # Given the sample agency a day before the tick, with a WhatsApp number to sync
    await seed(sessions, now=cron_now - timedelta(days=1))
    async with sessions.begin() as session:
        maya = await session.scalar(select(col(User.id)).where(col(User.email) == MARKER_EMAIL))
        assert maya is not None
        session.add(WhatsAppNumber(user_id=maya, phone_number="+447700900001"))
    # And talentq's utcnow refusing to tell the time wherever it is imported, and datetime and
    # date in the crons' modules and the clock's (the producer's enqueue time is arq's business)
    for name, module in list(sys.modules.items()):
        if not name.startswith("talentq"):
            continue
        if getattr(module, "utcnow", None) is models.utcnow:
            monkeypatch.setattr(module, "utcnow", _refuse(f"{name}.utcnow()"))
        if name.startswith("talentq.crons.") or name == "talentq.domain.time":
            if getattr(module, "datetime", None) is datetime:
                monkeypatch.setattr(module, "datetime", _NoNowDatetime)
            if getattr(module, "date", None) is date:
                monkeypatch.setattr(module, "date", _NoTodayDate)

    # When each cron body runs at its tick
    results: dict[str, Any] = {}
    async with httpx.AsyncClient(transport=httpx.MockTransport(FakeProvider())) as http:
        for entry in CRONS:
            if entry.run is None:
                continue
            sql_statements.clear()
            ctx = {
                "job_id": f"{entry.name}:{tick_ms(cron_now)}",
                "job_try": 1,
                "redis": redis,
                "sessions": sessions,
                "producer": Producer(redis),
                "settings": configured(),
                "http": http,
                **clients(configured(), http),
            }
            results[entry.name] = await entry.run(ctx)  # type: ignore[arg-type]
            reads = [s for s in sql_statements if WALL_CLOCK_SQL.search(s)]
            assert reads == [], f"cron {entry.name!r} sent SQL that reads the server's clock: {reads}"

    # Then all 16 active crons ran, and some of them did real work on the agency
    assert len(results) == sum(entry.disabled is None for entry in CRONS) == 16
    assert sum(int(result["count"]) for result in results.values()) > 0, results
