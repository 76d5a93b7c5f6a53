"""JSON job serialization: arq's job format round-trips; pickle payloads are refused."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime

import pytest
from arq.jobs import DeserializationError, deserialize_job, serialize_job

from talentq.serialization import deserialize, serialize


def test_job_round_trip_in_arq_format() -> None:
    """A job serialised with talentq's serializer deserialises to the same job."""
    raw = serialize_job("email-send", ({"to": "a@b.co"},), {}, None, 1_700_000_000_000, serializer=serialize)
    assert raw.startswith(b"{")
    job = deserialize_job(raw, deserializer=deserialize)
    assert job.function == "email-send"
    assert list(job.args) == [{"to": "a@b.co"}]


def test_results_with_exceptions_and_datetimes_are_written_as_data() -> None:
    """A failed job's exception and datetimes in summaries become plain JSON."""
    when = datetime(2026, 1, 2, tzinfo=UTC)
    data = deserialize(serialize({"r": ValueError("bad"), "at": when, "ids": {1}}))
    assert data == {"r": {"error": "ValueError", "message": "bad"}, "at": when.isoformat(), "ids": [1]}


def test_pickle_is_refused() -> None:
    """A pickled job (what arq's default would write) is not deserialised, let alone executed."""
    raw = pickle.dumps({"f": "email-send", "a": (), "k": {}, "t": 1, "et": 0})
    with pytest.raises(DeserializationError):
        deserialize_job(raw, deserializer=deserialize)


def test_non_object_json_is_refused() -> None:
    """Job data must be a JSON object."""
    with pytest.raises(ValueError, match="JSON object"):
        deserialize(b"[1, 2]")
