"""Settings: one object, parsed from the environment, normalised, with clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from talentq.errors import ConfigError
from talentq.settings import Settings, describe_invalid, get_settings


def make(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def test_postgres_url_is_normalised_to_asyncpg() -> None:
    """postgres:// and postgresql:// URLs get the asyncpg driver."""
    assert make(database_url="postgres://u@h:5432/db").database_url == "postgresql+asyncpg://u@h:5432/db"
    assert make(database_url="postgresql://u@h/db").database_url == "postgresql+asyncpg://u@h/db"
    assert make(database_url="postgresql+asyncpg://u@h/db").database_url == "postgresql+asyncpg://u@h/db"


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every setting comes from its environment variable; QUEUE_TIMEOUTS takes name=seconds pairs."""
    monkeypatch.setenv("REDIS_URL", "redis://example:6380/2")
    monkeypatch.setenv("WORKER_MAX_JOBS", "42")
    monkeypatch.setenv("QUEUE_TIMEOUTS", "gmail-ingest=600, ai-agent=90.5")
    monkeypatch.setenv("LOG_JSON", "true")
    settings = make()
    assert settings.redis_url == "redis://example:6380/2"
    assert settings.worker_max_jobs == 42
    assert settings.queue_timeouts == {"gmail-ingest": 600.0, "ai-agent": 90.5}
    assert settings.log_json is True


def test_bad_values_name_the_variable() -> None:
    """A bad value fails with a message naming what to fix."""
    with pytest.raises(ValidationError, match="REDIS_URL must start with redis://"):
        make(redis_url="http://nope")
    with pytest.raises(ValidationError, match="CRON_TIMEZONE 'Mars/Olympus' is not an IANA time zone"):
        make(cron_timezone="Mars/Olympus")
    with pytest.raises(ValidationError, match="not queue=seconds"):
        make(queue_timeouts="gmail-ingest")


def test_missing_urls_say_which_setting_to_set() -> None:
    """Asking for an unset URL raises ConfigError naming the environment variable."""
    settings = make()
    with pytest.raises(ConfigError, match="REDIS_URL is not set"):
        settings.require_redis_url()
    with pytest.raises(ConfigError, match="DATABASE_URL is not set"):
        settings.require_database_url()


def test_defaults_suit_io_bound_jobs() -> None:
    """The shipped defaults are not arq's: many concurrent jobs, short poll, health in seconds."""
    settings = make()
    assert settings.worker_max_jobs >= 100
    assert settings.worker_poll_delay <= 0.1
    assert settings.worker_health_check_interval <= 60
    assert settings.worker_shutdown_wait > 0


def test_the_process_settings_refuse_in_one_line_naming_each_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """get_settings(): one ConfigError line listing every bad variable with its value and the reason."""
    monkeypatch.setenv("REDIS_URL", "localhost:6379")
    monkeypatch.setenv("WORKER_MAX_JOBS", "-3")
    monkeypatch.setenv("SMTP_PORT", "not-a-port")
    get_settings.cache_clear()
    with pytest.raises(ConfigError) as caught:
        get_settings()
    message = str(caught.value)
    assert "\n" not in message
    assert message == (
        "invalid setting "
        "REDIS_URL='localhost:6379': REDIS_URL must start with redis://, rediss:// or unix://; "
        "WORKER_MAX_JOBS='-3': Input should be greater than 0; "
        "SMTP_PORT='not-a-port': Input should be a valid integer, unable to parse string as an integer"
    )


def test_secrets_are_never_repeated_in_the_message() -> None:
    """An invalid secret is named, its value left out."""
    with pytest.raises(ValidationError) as caught:
        make(smtp_password=["not", "a", "string"])
    assert describe_invalid(caught.value) == "invalid setting SMTP_PASSWORD: Input should be a valid string"


def test_env_example_copied_to_env_parses() -> None:
    """`.env.example` as a newcomer's `.env`: its blank optional settings count as unset."""
    example = Path(__file__).parents[1] / ".env.example"
    settings = Settings(_env_file=example)
    assert settings.mail_transport is None
    assert settings.queue_timeouts == {}
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
