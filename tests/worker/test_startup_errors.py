"""A wrong or missing setting at start: one or two lines naming it, within seconds, exit status 1.

Each entry point is run as a newcomer runs it (the installed ``talentq`` and ``arq`` commands, a
fresh working directory, only the settings under test in the environment), and what it prints is
read whole: the setting's name, what was tried, no traceback unless ``TALENTQ_DEBUG=1``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from talentq.settings import Settings

from ..conftest import DATABASE_URL, REDIS_URL

BIN = Path(sys.executable).parent
#: The issue's budget from start to the error: Redis is one round trip, PostgreSQL a handshake.
REDIS_BUDGET_S = 5.0
POSTGRES_BUDGET_S = 10.0


def nothing_listens() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Run:
    code: int
    output: str
    seconds: float

    @property
    def lines(self) -> list[str]:
        return [line for line in self.output.splitlines() if line.strip()]


def start(command: str, *args: str, cwd: Path, **settings: str) -> Run:
    """``command`` (talentq or arq) from this venv, in ``cwd``, with only ``settings`` of talentq's set."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
    env.pop("TALENTQ_DEBUG", None)
    env.update(settings, COLUMNS="200")
    started = time.monotonic()
    done = subprocess.run(
        [str(BIN / command), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=60, check=False
    )
    return Run(done.returncode, done.stdout + done.stderr, time.monotonic() - started)


def assert_brief(run: Run, *, names: str, within: float) -> None:
    """Exit 1, at most two lines, the setting named, no traceback, inside the budget."""
    assert run.code == 1, run.output
    assert "Traceback" not in run.output, run.output
    assert 1 <= len(run.lines) <= 2, run.output
    assert names in run.output, run.output
    assert run.seconds < within, f"{run.seconds:.1f}s: {run.output}"


@pytest.mark.parametrize("command", [("talentq", "worker"), ("arq", "talentq.WorkerSettings")])
def test_redis_where_nothing_listens(command: tuple[str, ...], tmp_path: Path, database_url: str) -> None:
    """A REDIS_URL port nothing listens on: named, with the reason, in under 5 s (arq alone: ~20 s)."""
    port = nothing_listens()
    run = start(*command, cwd=tmp_path, REDIS_URL=f"redis://127.0.0.1:{port}/0", DATABASE_URL=database_url)
    assert_brief(
        run, names=f"cannot reach Redis at REDIS_URL=redis://127.0.0.1:{port}/0", within=REDIS_BUDGET_S
    )
    assert "Connection refused" in run.output or "Connect call failed" in run.output


@pytest.mark.parametrize("command", [("talentq", "worker"), ("arq", "talentq.WorkerSettings")])
def test_a_redis_url_without_a_scheme(command: tuple[str, ...], tmp_path: Path) -> None:
    """REDIS_URL=127.0.0.1:6379: pydantic's reason in one line, naming the variable and the value."""
    run = start(*command, cwd=tmp_path, REDIS_URL="127.0.0.1:6379")
    assert_brief(
        run,
        names="invalid setting REDIS_URL='127.0.0.1:6379': REDIS_URL must start with redis://",
        within=REDIS_BUDGET_S,
    )


@pytest.mark.integration
def test_check_with_a_database_where_nothing_listens(tmp_path: Path) -> None:
    """`talentq check` with a DATABASE_URL port nothing listens on: named, password hidden, under 10 s."""
    port = nothing_listens()
    run = start(
        "talentq",
        "check",
        cwd=tmp_path,
        REDIS_URL=REDIS_URL,
        DATABASE_URL=f"postgresql://talentq:s3cret@127.0.0.1:{port}/talentq",
    )
    assert_brief(
        run,
        names=f"cannot reach PostgreSQL at DATABASE_URL=postgresql+asyncpg://talentq:***@127.0.0.1:{port}/talentq",
        within=POSTGRES_BUDGET_S,
    )
    assert "s3cret" not in run.output


@pytest.mark.integration
def test_the_worker_with_a_database_that_does_not_exist(tmp_path: Path, database_url: str) -> None:
    """PostgreSQL answers but has no such database: the server's own reason, naming DATABASE_URL."""
    missing = DATABASE_URL.rsplit("/", 1)[0] + "/no_such_database"
    run = start("arq", "talentq.WorkerSettings", cwd=tmp_path, REDIS_URL=REDIS_URL, DATABASE_URL=missing)
    assert_brief(run, names="DATABASE_URL=", within=POSTGRES_BUDGET_S)
    assert 'database "no_such_database" does not exist' in run.output


def test_arq_with_nothing_set(tmp_path: Path) -> None:
    """`arq talentq.WorkerSettings` with no settings: REDIS_URL named, how to set it, no traceback."""
    run = start("arq", "talentq.WorkerSettings", cwd=tmp_path)
    assert_brief(run, names="REDIS_URL is not set: set it to the Redis URL", within=REDIS_BUDGET_S)
    assert ". .talentq-dev/env" in run.output  # the way to reach a running `talentq dev`


@pytest.mark.integration
def test_dev_with_a_wrong_database_url_stops_its_embedded_redis(tmp_path: Path) -> None:
    """`talentq dev` with DATABASE_URL set wrong: named within 10 s, and the Redis it started is gone."""
    port = nothing_listens()
    run = start(
        "talentq", "dev", "--burst", cwd=tmp_path, DATABASE_URL=f"postgresql://postgres@127.0.0.1:{port}/x"
    )
    # Its own log line says which Redis it started; the error is the last line(s)
    assert run.code == 1, run.output
    assert "Traceback" not in run.output, run.output
    assert (
        f"cannot reach PostgreSQL at DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:{port}/x"
        in (run.lines[-2])
    )
    assert run.seconds < POSTGRES_BUDGET_S, run.output
    assert not (tmp_path / ".talentq-dev" / "redis" / "redis.sock").exists()
    assert not (tmp_path / ".talentq-dev" / "env").exists()


@pytest.mark.parametrize(
    "how", [{"TALENTQ_DEBUG": "1"}, {"args": "--debug"}], ids=["TALENTQ_DEBUG=1", "talentq --debug"]
)
def test_debug_shows_the_traceback(how: dict[str, str], tmp_path: Path) -> None:
    """Asked for, the traceback is there, ending in the same message."""
    if "args" in how:
        run = start("talentq", "--debug", "worker", cwd=tmp_path)
    else:
        run = start("arq", "talentq.WorkerSettings", cwd=tmp_path, **how)
    assert run.code == 1, run.output
    assert "Traceback" in run.output
    assert "REDIS_URL is not set" in run.output
