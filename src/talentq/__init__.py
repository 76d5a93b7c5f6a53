"""talentq: the background-job worker of a talent-management platform, on arq.

Run the worker with ``arq talentq.WorkerSettings`` (or ``talentq worker``). The
producer side is ``talentq.client``; the catalogue of queues is ``talentq.queues``.

``WorkerSettings`` is built on first access, not at import, so that the web API can
import ``talentq.client`` without pulling in worker code; building it runs the static
registry check, and a bad registry raises ``RegistryError`` there. That access is the
worker's entry point (arq's CLI makes its event loop right after), so it also installs
uvloop's event loop policy unless ``WORKER_UVLOOP=false``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["WorkerSettings"]


def __getattr__(name: str) -> Any:
    if name == "WorkerSettings":
        from talentq.registry import install_event_loop, worker_settings
        from talentq.settings import get_settings

        settings_cls = worker_settings()
        install_event_loop(get_settings())
        globals()["WorkerSettings"] = settings_cls
        return settings_cls
    raise AttributeError(f"module 'talentq' has no attribute {name!r}")
