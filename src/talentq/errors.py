"""Every exception talentq raises on purpose, under one base class.

::

    TalentqError                  base: catch this to catch anything talentq raised on purpose
    ├── ConfigError               a setting is missing or invalid; names the environment variable
    ├── ServiceRefusedError       an external service refused the request or the credentials
    ├── RegistryError             the worker registry is inconsistent; the worker refuses to boot
    ├── QueueRefusedError         the producer refused an enqueue; nothing reached Redis
    ├── ApprovalError             an approval cannot be decided so (wrong person, expired, ...)
    ├── JobTimeoutError           a job outlived its queue's timeout (also a TimeoutError); transient
    └── PermanentJobError         a job that no retry can fix; dead-lettered at once
        ├── InvalidPayloadError   a payload failed its queue's model; names the fields
        └── JobInterruptedError   shutdowns or crashes used up the job's tries; not run again

Anything else a processor raises (a lost connection, a timeout, an upstream 5xx) is
transient: the job wrapper retries it with backoff and dead-letters it when tries run out.

A ``TalentqError`` that ends a command or a worker's start is shown as its message alone
(``install_brief_errors``); ``TALENTQ_DEBUG=1`` (or ``talentq --debug``) shows the traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from types import TracebackType


class TalentqError(Exception):
    """Base class of every error talentq raises on purpose."""


class ConfigError(TalentqError):
    """A setting is missing or invalid; the message names the environment variable to set."""


class ServiceRefusedError(TalentqError):
    """An external service refused the request or the credentials: retrying as is cannot help.

    Integrations raise subclasses of it (``MailRejected``, ``MailboxRejected``, ...); the job
    wrapper dead-letters them on the first failure, like a missing setting.
    """


class RegistryError(TalentqError):
    """The registry binding queues, processors and crons is inconsistent."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"worker registry has {len(self.problems)} problem(s):\n{lines}")


class QueueRefusedError(TalentqError):
    """The producer refused to enqueue a job: the queue or the payload is not acceptable."""

    def __init__(self, queue: str, reason: str, *, fields: Sequence[str] = ()) -> None:
        self.queue = queue
        self.reason = reason
        self.fields = list(fields)
        super().__init__(f"refused to enqueue into {queue!r}: {reason}")


class ApprovalError(TalentqError):
    """An approval cannot be decided as asked: not the approver, decided or expired, nothing to send."""


class LabelledSetError(TalentqError):
    """A labelled mail set (``talentq ai eval``) that cannot be read: file, line, field, and what is wrong."""


class JobTimeoutError(TalentqError, TimeoutError):
    """A job ran past its queue's timeout; retried like any transient error."""


class PermanentJobError(TalentqError):
    """The job cannot succeed by retrying; it is dead-lettered on its first failure."""


class InvalidPayloadError(PermanentJobError):
    """A payload failed validation against its queue's model."""

    def __init__(self, queue: str, problems: Sequence[tuple[str, str]]) -> None:
        self.queue = queue
        self.problems = list(problems)
        self.fields = [field for field, _ in self.problems]
        detail = "; ".join(f"{field}: {message}" for field, message in self.problems)
        super().__init__(f"invalid payload for queue {queue!r}: {detail}")


class JobInterruptedError(PermanentJobError):
    """Worker shutdowns or crashes used up the job's tries; it is dead-lettered without running."""


def debug_requested() -> bool:
    """``TALENTQ_DEBUG`` is set to something other than 0/false/no: show tracebacks."""
    return os.environ.get("TALENTQ_DEBUG", "").strip().lower() not in {"", "0", "false", "no", "off"}


def install_brief_errors() -> None:
    """Make an uncaught ``TalentqError`` end the process with its message alone, exit status 1.

    For entry points talentq does not own (``arq talentq.WorkerSettings``: arq's command line
    lets the error through). Any other exception, or any with ``TALENTQ_DEBUG=1``, keeps
    Python's traceback.
    """
    previous = sys.excepthook
    if getattr(previous, "talentq_brief", False):
        return

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if isinstance(exc, TalentqError) and not debug_requested():
            print(f"talentq: {exc}", file=sys.stderr)
        else:
            previous(kind, exc, tb)

    hook.talentq_brief = True  # type: ignore[attr-defined]  # marks ours: installed once
    sys.excepthook = hook
