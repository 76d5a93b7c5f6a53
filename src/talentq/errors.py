"""Every exception talentq raises on purpose, under one base class.

::

    TalentqError                  base: catch this to catch anything talentq raised on purpose
    ├── ConfigError               a setting is missing or invalid; names the environment variable
    ├── ServiceRefusedError       an external service refused the request or the credentials
    ├── RegistryError             the worker registry is inconsistent; the worker refuses to boot
    ├── QueueRefusedError         the producer refused an enqueue; nothing reached Redis
    ├── JobTimeoutError           a job outlived its queue's timeout (also a TimeoutError); transient
    └── PermanentJobError         a job that no retry can fix; dead-lettered at once
        ├── InvalidPayloadError   a payload failed its queue's model; names the fields
        └── JobInterruptedError   shutdowns or crashes used up the job's tries; not run again

Anything else a processor raises (a lost connection, a timeout, an upstream 5xx) is
transient: the job wrapper retries it with backoff and dead-letters it when tries run out.
"""

from __future__ import annotations

from collections.abc import Sequence


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
