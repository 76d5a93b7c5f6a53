"""Logging: loguru configured once by the entry point (worker start, CLI), never at import.

Lines a job prints carry ``queue``, ``job_id`` and ``job_try`` (``job_context``, bound by
the wrapper); crons carry ``cron`` (``cron_context``). arq and SQLAlchemy log through the
standard library; their records are forwarded into loguru so one format (text or JSON,
``LOG_JSON``) covers every line of the process.
"""

from __future__ import annotations

import logging
import sys
from contextlib import AbstractContextManager
from typing import Any

from loguru import logger

from talentq.settings import Settings

# A static format string: loguru compiles it once. (A format function is parsed per line,
# which doubled the cost of every job's log line; see bench/.) ``extra[ctx]`` is the job's or
# cron's prefix, set by ``job_context``/``cron_context``, empty elsewhere.
_TEXT = (
    "<green>{time:YYYY-MM-DD HH:mm:ss.SSS}</green> <level>{level: <7}</level> "
    "<cyan>{extra[ctx]}</cyan>{message}"
)

# arq logs each job's start ("→", with the whole payload, so e-mail bodies too) and end
# ("←"). The wrapper's own line says the same with queue, job id and try, so these two
# are dropped; arq's retry, failure and lifecycle lines are kept.
_ARQ_PER_JOB_LINES = frozenset({"%6.2fs → %s(%s)%s", "%6.2fs ← %s ● %s"})


def job_context(queue: str, job_id: str, job_try: int) -> AbstractContextManager[None]:
    """Bind queue, job id and try to every line logged inside (the job wrapper uses it)."""
    return logger.contextualize(
        queue=queue, job_id=job_id, job_try=job_try, ctx=f"{queue} {job_id} try={job_try} "
    )


def cron_context(name: str) -> AbstractContextManager[None]:
    """Bind the cron's name to every line logged inside (``run_cron_job`` uses it)."""
    return logger.contextualize(cron=name, ctx=f"cron:{name} ")


class _DropArqPerJobLines(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg not in _ARQ_PER_JOB_LINES


class _InterceptHandler(logging.Handler):
    """Forwards standard-library records (arq, SQLAlchemy) into loguru."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        logger.opt(depth=6, exception=record.exc_info).log(level, "{}: {}", record.name, record.getMessage())


def configure_logging(settings: Settings, *, sink: Any = None) -> None:
    """Install the one loguru sink (stderr unless ``sink`` is given) and the stdlib bridge."""
    logger.remove()
    logger.configure(extra={"ctx": ""})
    target = sys.stderr if sink is None else sink
    if settings.log_json:
        logger.add(target, level=settings.log_level, serialize=True, backtrace=False, diagnose=False)
    else:
        logger.add(target, level=settings.log_level, format=_TEXT, backtrace=False, diagnose=False)
    arq_worker = logging.getLogger("arq.worker")
    if not any(isinstance(f, _DropArqPerJobLines) for f in arq_worker.filters):
        arq_worker.addFilter(_DropArqPerJobLines())
    handler = _InterceptHandler()
    for name in ("arq", "sqlalchemy", "alembic"):
        std = logging.getLogger(name)
        std.handlers = [handler]
        std.propagate = False
    # loguru's TRACE and SUCCESS have no stdlib twin; map them to the nearest stdlib level.
    stdlib_level = {"TRACE": "DEBUG", "SUCCESS": "INFO"}.get(settings.log_level, settings.log_level)
    logging.getLogger("arq").setLevel(stdlib_level)
    logging.getLogger("sqlalchemy").setLevel(logging.WARNING)
