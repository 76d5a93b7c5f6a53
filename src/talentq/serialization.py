"""JSON job serialization for arq, on the worker and the producer alike.

arq's default is pickle: whoever can write to Redis could then run code in the worker.
JSON only carries data. Job results may hold what JSON lacks (an exception arq stores
for a failed job, a datetime in a summary); those are written as plain objects, never
revived as Python objects on the way back.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID


def _encode_extra(value: Any) -> Any:
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


def deserialize(raw: bytes) -> dict[str, Any]:
    """arq ``job_deserializer``: JSON bytes to a dict; refuses anything that is not an object."""
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError(f"job data must be a JSON object, got {type(value).__name__}")
    return value
