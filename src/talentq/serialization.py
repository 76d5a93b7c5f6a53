"""JSON job serialization for arq, on the worker and the producer alike, and the job envelope's check.

arq's default is pickle: whoever can write to Redis could then run code in the worker.
JSON only carries data. Job results may hold what JSON lacks (an exception arq stores
for a failed job, a datetime in a summary, a pydantic model a processor returned); those
are written as plain objects, never revived as Python objects on the way back.

Whatever is in Redis under a job key may have been written by anyone: ``read_envelope`` turns
it into arq's five fields (function, args, kwargs, try, enqueue time) or says precisely what is
wrong with it (``MalformedJob``), before any of arq's code would trip over it.
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

#: The largest job data the worker decodes: far past deliverable-review's 2,000,000 characters
#: of content, escaped, and small enough that one job cannot exhaust a worker's memory.
MAX_JOB_BYTES: Final = 16 * 1024 * 1024
#: How deep JSON may nest in a job: payloads are a few levels deep; far deeper is an attack or a
#: bug, and would overflow the recursion of whatever walks it later (validation, dead letters).
MAX_JSON_DEPTH: Final = 64
#: Bounds of the try counter ("t") and enqueue time ("et", unix ms, up to the year 9999) arq reads.
MAX_TRY: Final = 10_000
MAX_TIME_MS: Final = 253_402_300_799_999
#: The longest function (queue) name the envelope takes.
MAX_FUNCTION_CHARS: Final = 200
#: How much of a malformed job's data its dead-letter record quotes.
SAMPLE_CHARS: Final = 2_000


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
    """arq ``job_deserializer``: ``decode``; data that is not a JSON object raises ``ValueError``.

    The worker does not rely on it for job data (``read_envelope`` checks that first); the
    producer's pool uses it to read jobs and results back. Nothing is ever executed.
    """
    return decode(raw)


class MalformedJob(ValueError):
    """Job data the worker cannot run: ``defect`` says what is wrong, ``function`` names it if it can."""

    def __init__(self, defect: str, *, function: str | None = None, raw: bytes = b"") -> None:
        super().__init__(defect)
        self.defect = defect
        self.function = function
        self.sample = raw[:SAMPLE_CHARS].decode("utf-8", errors="replace")
        self.size = len(raw)


@dataclasses.dataclass(frozen=True, slots=True)
class Envelope:
    """arq's job fields, checked: what ``deserialize_job_raw`` returns, with the types it assumes."""

    function: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    job_try: int | None
    enqueue_time_ms: int


def nested_deeper_than(value: Any, limit: int) -> bool:
    """Whether lists and objects in ``value`` nest more than ``limit`` deep (iteratively: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _an_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def read_envelope(raw: bytes) -> Envelope:
    """arq's five job fields from ``raw``, each of the type arq assumes; ``MalformedJob`` names a defect."""
    if len(raw) > MAX_JOB_BYTES:
        raise MalformedJob(
            f"job data is {len(raw):,} bytes, over the {MAX_JOB_BYTES:,} a job may be", raw=raw
        )
    try:
        data = json.loads(raw)
    except RecursionError:
        raise MalformedJob(f"JSON nested deeper than {MAX_JSON_DEPTH} levels", raw=raw) from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError: not JSON (arq's pickle, say)
        raise MalformedJob(
            f"not JSON ({type(exc).__name__}: {exc}); pickle from arq's default serializer?", raw=raw
        ) from None
    if not isinstance(data, dict):
        raise MalformedJob(f"job data must be a JSON object, got {type(data).__name__}", raw=raw)
    function = data.get("f")
    name = function if isinstance(function, str) and 0 < len(function) <= MAX_FUNCTION_CHARS else None
    problems = []
    if "f" not in data:
        problems.append('"f" (the function) is missing')
    elif name is None:
        problems.append(
            f'"f": expected a function name (1-{MAX_FUNCTION_CHARS} characters), got {_shown(function)}'
        )
    if "a" not in data:
        problems.append('"a" is missing')
    elif not isinstance(data["a"], list):
        problems.append(f'"a": expected a list, got {_shown(data["a"])}')
    if "k" not in data:
        problems.append('"k" is missing')
    elif not isinstance(data["k"], dict):
        problems.append(f'"k": expected an object, got {_shown(data["k"])}')
    job_try = data.get("t")
    if job_try is not None and not (_an_int(job_try) and 0 <= job_try <= MAX_TRY):
        problems.append(f'"t": expected an int from 0 to {MAX_TRY:,}, got {_shown(job_try)}')
    enqueue_time = data.get("et")
    if enqueue_time is not None and not (_an_int(enqueue_time) and 0 <= enqueue_time <= MAX_TIME_MS):
        problems.append(f'"et": expected an int of unix milliseconds, got {_shown(enqueue_time)}')
    if not problems and nested_deeper_than(data, MAX_JSON_DEPTH):
        problems.append(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    if problems:
        raise MalformedJob("; ".join(problems), function=name, raw=raw)
    return Envelope(
        function=data["f"],
        args=tuple(data["a"]),
        kwargs=data["k"],
        job_try=job_try,
        enqueue_time_ms=round(time.time() * 1000) if enqueue_time is None else enqueue_time,
    )


def _shown(value: Any) -> str:
    """A value as an error message shows it: JSON, cut short."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        text = type(value).__name__
    return text if len(text) <= 60 else text[:59] + "…"
