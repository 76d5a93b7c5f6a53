"""Logging: loguru configured once by the entry point (worker start, CLI), never at import.

Lines a job prints carry ``queue``, ``job_id`` and ``job_try`` (the wrapper binds them
with ``logger.contextualize``); crons carry ``cron``. arq and SQLAlchemy log through the
standard library; their records are forwarded into loguru so one format (text or JSON,
``LOG_JSON``) covers every line of the process.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any

from loguru import logger

from talentq.settings import Settings

if TYPE_CHECKING:
    from loguru import Record

_TEXT = "<green>{time:YYYY-MM-DD HH:mm:ss.SSS}</green> <level>{level: <7}</level> "


def _text_format(record: Record) -> str:
    extra = record["extra"]
    if "queue" in extra:
        context = "<cyan>{extra[queue]}</cyan> {extra[job_id]} try={extra[job_try]} "
    elif "cron" in extra:
        context = "<cyan>cron:{extra[cron]}</cyan> "
    else:
        context = ""
    return _TEXT + context + "{message}\n{exception}"


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
    target = sys.stderr if sink is None else sink
    if settings.log_json:
        logger.add(target, level=settings.log_level, serialize=True, backtrace=False, diagnose=False)
    else:
        logger.add(target, level=settings.log_level, format=_text_format, backtrace=False, diagnose=False)
    handler = _InterceptHandler()
    for name in ("arq", "sqlalchemy", "alembic"):
        std = logging.getLogger(name)
        std.handlers = [handler]
        std.propagate = False
    # loguru's TRACE and SUCCESS have no stdlib twin; map them to the nearest stdlib level.
    stdlib_level = {"TRACE": "DEBUG", "SUCCESS": "INFO"}.get(settings.log_level, settings.log_level)
    logging.getLogger("arq").setLevel(stdlib_level)
    logging.getLogger("sqlalchemy").setLevel(logging.WARNING)
