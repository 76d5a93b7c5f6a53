"""JSON job serialization for arq, on the worker and the producer alike.

arq's default is pickle: whoever can write to Redis could then run code in the worker.
JSON only carries data. Job results may hold what JSON lacks (an exception arq stores
for a failed job, a datetime in a summary, a pydantic model a processor returned); those
are written as plain objects, never revived as Python objects on the way back.
"""

from __future__ import annotations

import dataclasses
import json
import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Final
from uuid import UUID

from pydantic import BaseModel

#: The job name that undecodable job data is given (see ``deserialize``).
UNDECODABLE_JOB: Final = "talentq:undecodable-job"
UNDECODABLE_SAMPLE: Final = 300


def _encode_extra(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, BaseException):
        return {"error": type(value).__name__, "message": str(value)}
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def serialize(data: dict[str, Any]) -> bytes:
    """arq ``job_serializer``: a job or result dict to JSON bytes."""
    return json.dumps(data, default=_encode_extra, separators=(",", ":")).encode()


def decode(raw: bytes) -> dict[str, Any]:
    """JSON bytes to a dict; refuses anything that is not a JSON object."""
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError(f"job data must be a JSON object, got {type(value).__name__}")
    return value


def deserialize(raw: bytes) -> dict[str, Any]:
    """arq ``job_deserializer``: job data that is not a JSON object becomes an ``UNDECODABLE_JOB``.

    arq would fail such a job before any code of ours runs, leaving a log line and an
    hour-long result. As a job for the registry's ``UNDECODABLE_JOB`` function, which
    dead-letters it with the first bytes of the data, it is kept like any failure.
    Nothing in the data is ever executed.
    """
    try:
        return decode(raw)
    except ValueError as exc:  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
        sample = raw[:UNDECODABLE_SAMPLE].decode("latin-1")
        payload = {"error": f"{type(exc).__name__}: {exc}", "sample": sample, "bytes": len(raw)}
        return {"f": UNDECODABLE_JOB, "a": [payload], "k": {}, "t": None, "et": round(time.time() * 1000)}
