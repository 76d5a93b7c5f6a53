"""talentq: the background-job worker of a talent-management platform, on arq.

Run the worker with ``arq talentq.WorkerSettings`` (or ``talentq worker``). The
producer side is ``talentq.client``; the catalogue of queues is ``talentq.queues``.

``WorkerSettings`` is built on first access, not at import, so that the web API can
import ``talentq.client`` without pulling in worker code. That access is the worker's entry
point (arq's CLI makes its event loop right after), so it does what ``talentq worker`` does
first (``talentq.worker.boot.boot``): the static registry check (a bad registry raises ``RegistryError``),
Redis and PostgreSQL reached once, uvloop's event loop policy unless ``WORKER_UVLOOP=false``;
and it makes arq build talentq's own worker loop (``talentq.worker.loop.install``).
An error there ends arq's command with its message alone, not a traceback
(``errors.install_brief_errors``; ``TALENTQ_DEBUG=1`` shows it).
"""

from __future__ import annotations

from typing import Any

__all__ = ["WorkerSettings"]


def __getattr__(name: str) -> Any:
    if name == "WorkerSettings":
        from talentq.errors import install_brief_errors
        from talentq.worker.boot import boot
        from talentq.worker.loop import install

        install_brief_errors()
        settings_cls = boot()
        install()
        globals()["WorkerSettings"] = settings_cls
        return settings_cls
    raise AttributeError(f"module 'talentq' has no attribute {name!r}")
