"""JSON job serialization: arq's job format round-trips; pickle and malformed envelopes are refused."""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from arq.jobs import deserialize_job, serialize_job

from talentq.queues import EmailSend
from talentq.serialization import (
    MAX_JOB_BYTES,
    Envelope,
    MalformedJob,
    decode,
    deserialize,
    read_envelope,
    serialize,
)


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
    """A pickled job (arq's default format) is refused with what it looks like; nothing is unpickled."""
    raw = pickle.dumps({"f": "email-send", "a": (), "k": {}, "t": 1, "et": 0})
    with pytest.raises(MalformedJob) as caught:
        read_envelope(raw)
    assert "not JSON" in caught.value.defect
    assert caught.value.size == len(raw)
    assert "email-send" in caught.value.sample
    with pytest.raises(ValueError, match=r"decode|Expecting value"):
        deserialize(raw)


def test_non_object_json_is_refused() -> None:
    """Job data must be a JSON object: decode and the envelope refuse anything else."""
    with pytest.raises(ValueError, match="JSON object"):
        decode(b"[1, 2]")
    with pytest.raises(MalformedJob, match="job data must be a JSON object, got list"):
        read_envelope(b"[1, 2]")


def job(**fields: Any) -> bytes:
    """arq's job data, as its enqueue_job writes it, with ``fields`` replaced (None: removed)."""
    data: dict[str, Any] = {"t": 1, "f": "inbox", "a": [{"messageId": 1}], "k": {}, "et": 1_764_316_800_000}
    for name, value in fields.items():
        if value is None:
            data.pop(name)
        else:
            data[name] = value
    return json.dumps(data).encode()


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"x": value}
    return value


@pytest.mark.parametrize(
    ("raw", "defect", "function"),
    [
        (job(t="oops"), '"t": expected an int from 0 to 10,000, got "oops"', "inbox"),
        (job(t=True), '"t": expected an int from 0 to 10,000, got true', "inbox"),
        (job(et="oops"), '"et": expected an int of unix milliseconds, got "oops"', "inbox"),
        (job(et=10**20), '"et": expected an int of unix milliseconds, got 100000000000000000000', "inbox"),
        (job(f=["work"]), '"f": expected a function name (1-200 characters), got ["work"]', None),
        (job(f=""), '"f": expected a function name (1-200 characters), got ""', None),
        (job(f=None), '"f" (the function) is missing', None),
        (job(a=5), '"a": expected a list, got 5', "inbox"),
        (job(k=[1]), '"k": expected an object, got [1]', "inbox"),
        (job(a=None, k=None), '"a" is missing; "k" is missing', "inbox"),
        (job(a=[nested(900)]), "JSON nested deeper than 64 levels", "inbox"),
        (
            b'{"f": "inbox", "a": [' + b"[" * 5000 + b"]" * 5000 + b'], "k": {}}',
            "JSON nested deeper than 64 levels",
            None,
        ),
        (b"\x80\x04not json", "not JSON (UnicodeDecodeError", None),
        (b"x" * (MAX_JOB_BYTES + 1), "job data is 16,777,217 bytes, over the 16,777,216 a job may be", None),
    ],
    ids=lambda v: v[:40] if isinstance(v, str) else None,
)
def test_the_envelope_names_each_defect(raw: bytes, defect: str, function: str | None) -> None:
    """Each field arq assumes is checked before its code sees it; the defect says what and where."""
    with pytest.raises(MalformedJob) as caught:
        read_envelope(raw)
    assert defect in caught.value.defect
    assert caught.value.function == function


def test_a_good_envelope_reads_as_arq_would() -> None:
    """The five fields, typed; a missing enqueue time stands for now."""
    envelope = read_envelope(job())
    assert envelope == Envelope("inbox", ({"messageId": 1},), {}, 1, 1_764_316_800_000)
    assert read_envelope(job(et=None, t=None)).job_try is None
    assert read_envelope(job(a=[nested(60)])).function == "inbox"


def test_results_that_are_models_or_dataclasses_are_plain_json() -> None:
    """A processor may return a pydantic model or a dataclass; arq stores it as its JSON form."""

    @dataclass
    class Summary:
        sent: int

    data = deserialize(serialize({"r": EmailSend(to="a@b.co", subject="s", body="b"), "s": Summary(sent=2)}))
    mail: dict[str, object] = {
        "to": "a@b.co",
        "subject": "s",
        "body": "b",
        "html": None,
        "replyTo": None,
        "cc": [],
    }
    assert data == {"r": mail, "s": {"sent": 2}}


def test_unknown_types_still_fail_loudly() -> None:
    """Anything else is a TypeError, never a silent str()."""
    with pytest.raises(TypeError, match="object is not JSON serializable"):
        serialize({"r": object()})
