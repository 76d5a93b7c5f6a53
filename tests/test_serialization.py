"""JSON job serialization: arq's job format round-trips; pickle payloads are refused."""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from arq.jobs import deserialize_job, serialize_job

from talentq.queues import EmailSend
from talentq.serialization import UNDECODABLE_JOB, decode, deserialize, serialize


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


def test_pickle_is_never_unpickled() -> None:
    """A pickled job (arq's default format) becomes an undecodable-job job; nothing is unpickled."""
    raw = pickle.dumps({"f": "email-send", "a": (), "k": {}, "t": 1, "et": 0})
    job = deserialize_job(raw, deserializer=deserialize)
    assert job.function == UNDECODABLE_JOB
    (payload,) = job.args
    assert payload["bytes"] == len(raw)
    assert payload["error"].startswith("UnicodeDecodeError") or payload["error"].startswith("JSONDecodeError")
    assert "email-send" in payload["sample"]


def test_non_object_json_is_refused() -> None:
    """Job data must be a JSON object: decode refuses it, deserialize turns it into an undecodable job."""
    with pytest.raises(ValueError, match="JSON object"):
        decode(b"[1, 2]")
    assert deserialize(b"[1, 2]")["f"] == UNDECODABLE_JOB


def test_results_that_are_models_or_dataclasses_are_plain_json() -> None:
    """A processor may return a pydantic model or a dataclass; arq stores it as its JSON form."""

    @dataclass
    class Summary:
        sent: int

    data = deserialize(serialize({"r": EmailSend(to="a@b.co", subject="s", body="b"), "s": Summary(sent=2)}))
    mail = {"to": "a@b.co", "subject": "s", "body": "b", "html": None, "replyTo": None}
    assert data == {"r": mail, "s": {"sent": 2}}


def test_unknown_types_still_fail_loudly() -> None:
    """Anything else is a TypeError, never a silent str()."""
    with pytest.raises(TypeError, match="object is not JSON serializable"):
        serialize({"r": object()})
