"""The one place talentq reads its environment: a pydantic-settings ``Settings``.

Every variable is documented in ``.env.example``. Nothing here connects to anything:
``get_settings()`` only parses, so importing talentq never touches Redis or PostgreSQL.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    Field,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from talentq.errors import ConfigError

LogLevel = Literal["TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"]
#: The kinds of AI-written email an approval holds (``talentq.approvals``).
ApprovalKind = Literal["negotiation_reply", "agent_email", "outreach_pitch", "outreach_follow_up"]


def normalise_database_url(url: str) -> str:
    """Return ``url`` with the asyncpg driver: ``postgres://`` and ``postgresql://`` both map to it."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://", "postgresql+psycopg://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


class Settings(BaseSettings):
    """All of talentq's configuration; see ``.env.example`` for each variable."""

    # An empty variable is unset: `.env.example` copied to `.env` leaves the optional ones blank.
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True
    )

    redis_url: str | None = None
    database_url: str | None = None
    # Connections per worker process; WORKER_MAX_JOBS jobs share them, and a job waits at
    # most DATABASE_POOL_TIMEOUT seconds for one (its own timeout keeps running meanwhile).
    database_pool_size: PositiveInt = 20
    database_max_overflow: NonNegativeInt = 30
    database_pool_timeout: PositiveFloat = 10.0

    # Worker tunables. The defaults suit processors that wait on PostgreSQL, SMTP and HTTP:
    # with arq's own (10 jobs at once, a 0.5 s poll) a worker ran 20-45 jobs/s of 10 ms jobs,
    # as freed slots wait for the next poll (bench/).
    worker_max_jobs: PositiveInt = 100
    worker_poll_delay: PositiveFloat = 0.05
    worker_health_check_interval: PositiveFloat = 10.0
    worker_shutdown_wait: PositiveInt = 30
    queue_timeouts: Annotated[dict[str, PositiveFloat], NoDecode] = Field(default_factory=dict)
    # uvloop's event loop: measured ~25% more jobs per second per worker process (bench/),
    # since arq's per-job cost is mostly event-loop and socket work.
    worker_uvloop: bool = True

    # Redis connection resilience: redis-py retries each command this many times with
    # exponential backoff, so a Redis restart of several seconds does not kill the worker.
    redis_retries: PositiveInt = 12
    redis_retry_cap: PositiveFloat = 2.0

    dead_letter_flush_interval: PositiveFloat = 30.0
    # How long a dead-letter write waits for PostgreSQL before the record goes to Redis: a
    # hanging database must not hold the slots of jobs that have nothing to do with it.
    dead_letter_db_timeout: PositiveFloat = 1.0
    # Seconds a job's claim (its in-progress key) lives unless renewed, every quarter of it, while
    # the job runs: how soon another worker takes over the jobs of one that was killed.
    worker_claim_ttl: Annotated[float, Field(ge=2.0)] = 10.0

    # Mail (email-send): "smtp" sends through SMTP_*, "log" records without sending (talentq dev).
    mail_transport: Literal["smtp", "log"] | None = None
    mail_from: str | None = None
    smtp_host: str | None = None
    smtp_port: PositiveInt = 587
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_timeout: PositiveFloat = 30.0

    # Gmail (gmail-ingest): the OAuth client the mail connections' refresh tokens belong to.
    gmail_client_id: str | None = None
    gmail_client_secret: SecretStr | None = None
    http_timeout: PositiveFloat = 30.0
    # WhatsApp provider (whatsapp-sync): its REST API and bearer token.
    whatsapp_api_url: str | None = None
    whatsapp_api_token: SecretStr | None = None

    # AI provider: "rules" (deterministic, offline) or "openai" (any chat-completions API).
    ai_provider: Literal["rules", "openai"] = "rules"
    ai_base_url: str | None = None
    ai_api_key: SecretStr | None = None
    ai_model: str | None = None
    # When the model is down, rate limited or answers JSON that does not validate, answer with the
    # rules engine (logged, and noted first in the answer's cues) instead of retrying the job later.
    ai_fallback: bool = True

    # Kinds of AI-written email sent without waiting for a person (comma-separated; none by
    # default). outreach_follow_up is auto-sent only when its pitch was approved by a person.
    approval_auto_send: Annotated[frozenset[ApprovalKind], NoDecode] = frozenset()

    log_level: LogLevel = "INFO"
    log_json: bool = False
    cron_timezone: str = "UTC"

    @field_validator("database_url")
    @classmethod
    def _asyncpg_driver(cls, value: str | None) -> str | None:
        return None if value is None else normalise_database_url(value)

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("REDIS_URL must start with redis://, rediss:// or unix://")
        return value

    @field_validator("queue_timeouts", mode="before")
    @classmethod
    def _parse_timeouts(cls, value: object) -> object:
        # QUEUE_TIMEOUTS=gmail-ingest=600,ai-agent=120 : a dict from "name=seconds" pairs.
        if isinstance(value, str):
            pairs = [item.strip() for item in value.split(",") if item.strip()]
            parsed: dict[str, str] = {}
            for pair in pairs:
                name, sep, seconds = pair.partition("=")
                if not sep:
                    raise ValueError(f"QUEUE_TIMEOUTS entry {pair!r} is not queue=seconds")
                parsed[name.strip()] = seconds.strip()
            return parsed
        return value

    @field_validator("approval_auto_send", mode="before")
    @classmethod
    def _kinds(cls, value: object) -> object:
        # APPROVAL_AUTO_SEND=outreach_follow_up,agent_email
        if isinstance(value, str):
            return frozenset(item.strip() for item in value.split(",") if item.strip())
        return value

    @field_validator("cron_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"CRON_TIMEZONE {value!r} is not an IANA time zone") from exc
        return value

    @property
    def cron_zone(self) -> ZoneInfo:
        return ZoneInfo(self.cron_timezone)

    def require_redis_url(self) -> str:
        if self.redis_url is None:
            raise ConfigError(
                f"REDIS_URL is not set: set it to the Redis URL, e.g. redis://127.0.0.1:6379/0{_DEV_HINT}"
            )
        return self.redis_url

    def require_database_url(self) -> str:
        if self.database_url is None:
            raise ConfigError(
                "DATABASE_URL is not set: set it to the PostgreSQL URL, "
                f"e.g. postgresql://postgres@127.0.0.1:5432/talentq{_DEV_HINT}"
            )
        return self.database_url


#: Where ``talentq dev`` writes the URLs of its servers, for a second shell to source.
DEV_ENV_FILE: Final = ".talentq-dev/env"
_DEV_HINT: Final = f"; with `talentq dev` running, run `. {DEV_ENV_FILE}` in this shell first"

#: Settings whose value an error message must not repeat.
_SECRET_FIELDS: Final = frozenset(
    name for name, field in Settings.model_fields.items() if field.annotation in (SecretStr, SecretStr | None)
)


def describe_invalid(exc: ValidationError) -> str:
    """One line per invalid setting: the environment variable, the value given, what is wrong."""
    problems = []
    for error in exc.errors(include_url=False):
        name = str(error["loc"][0]) if error["loc"] else ""
        value = "" if name in _SECRET_FIELDS or error["type"] == "missing" else f"={error['input']!r}"
        message = str(error["msg"]).removeprefix("Value error, ")
        problems.append(f"{name.upper()}{value}: {message}")
    return "invalid setting " + "; ".join(problems)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, parsed once from the environment (and ``.env``).

    An invalid value is a ``ConfigError`` naming the variable, not pydantic's traceback.
    """
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(describe_invalid(exc)) from None
