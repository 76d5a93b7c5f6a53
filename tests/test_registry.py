"""The registry's static check and the WorkerSettings it builds (no services needed)."""

from __future__ import annotations

import inspect
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from arq.cron import CronJob
from arq.worker import Function, Worker

import talentq
import talentq.processors
from talentq import registry
from talentq.cron import CRONS, CronEntry
from talentq.errors import RegistryError
from talentq.jobs import ARQ_TIMEOUT_MARGIN_S, INTERRUPTED_GRACE, JobContext
from talentq.queues import CATALOGUE, DEFAULT_ARQ_QUEUE, BrandCrm, MessageRef
from talentq.serialization import deserialize, serialize
from talentq.worker.boot import worker_settings

from .conftest import service_settings


async def route(ctx: JobContext, payload: MessageRef) -> str:
    return "routed"


async def other_route(ctx: JobContext, payload: MessageRef) -> str:
    return "routed again"


async def crm(ctx: JobContext, payload: BrandCrm) -> None:
    return None


async def count_nothing(ctx: JobContext) -> int:
    return 0


def complete_bindings() -> list[registry.Binding]:
    """One binding per catalogue queue (all to the same coroutine: enough for the check)."""

    async def anything(ctx: JobContext, payload: Any) -> None:
        return None

    return [(name, anything) for name in CATALOGUE]


def test_check_reports_every_problem_together() -> None:
    """A duplicate, a missing processor, an unknown name, deal-package and a bad cron target: one error."""
    bindings = [b for b in complete_bindings() if b[0] not in {"inbox", "outreach"}]
    bindings += [("inbox", route), ("inbox", other_route), ("deal-package", route), ("email-sned", route)]
    crons = [CronEntry("gmail-sync", "*/15 * * * *", count_nothing, enqueues=("gmail-ingets", "outreach"))]

    with pytest.raises(RegistryError) as caught:
        registry.check(bindings, crons)

    problems = caught.value.problems
    assert "queue 'inbox' is bound 2 times (route, other_route); arq would keep only the last" in problems
    assert "queue 'deal-package' is removed (dealPackage schema removed); delete its binding" in problems
    assert "queue 'email-sned' is not in the catalogue (queues.py); did you mean 'email-send'?" in problems
    assert "queue 'outreach' has no processor: nothing would consume it (a dead queue)" in problems
    assert any(
        "cron 'gmail-sync' enqueues into queue 'gmail-ingets'" in p and "'gmail-ingest'" in p
        for p in problems
    )
    assert any(
        "cron 'gmail-sync' enqueues into queue 'outreach', which is not registered" in p for p in problems
    )
    assert len(problems) == 6
    message = str(caught.value)
    assert message.startswith("worker registry has 6 problem(s):")
    assert all(f"  - {p}" in message for p in problems)


def test_check_passes_a_complete_registry() -> None:
    """Every catalogue queue bound once and valid crons: no problem."""
    crons = [CronEntry("gmail-sync", "*/15 * * * *", count_nothing, enqueues=("gmail-ingest",))]
    registry.check(complete_bindings(), crons)


def test_cron_problems() -> None:
    """Crons sharing a name, named like a queue, with bad schedules, or active without work are refused."""
    crons = [
        CronEntry("nightly", "0 3 * * *", count_nothing),
        CronEntry("nightly", "0 4 * * *", count_nothing),
        CronEntry("inbox", "0 4 * * *", count_nothing),
        CronEntry("broken", "61 * * * *", count_nothing),
        CronEntry("both-days", "0 9 1 * 1", count_nothing),
        CronEntry("lazy", "0 9 * * *", None),
        CronEntry("social", "0 9 * * *", count_nothing, enqueues=("social-refresh",)),
    ]
    found = registry.problems(complete_bindings(), crons)
    assert "cron 'nightly' is defined 2 times; arq would keep only the last" in found
    assert "cron 'inbox' has the name of a queue; crons and queues share arq's name space" in found
    assert any(p.startswith("cron 'broken': schedule '61 * * * *' is not a valid cron string") for p in found)
    assert any("restricts both day of month and day of week" in p for p in found)
    assert "cron 'lazy' is active but has no coroutine to run" in found
    assert "cron 'social' enqueues into disabled queue 'social-refresh'" in found


def test_payload_model_mismatch_is_a_problem() -> None:
    """A processor annotated with another queue's model is refused."""
    bindings = [b for b in complete_bindings() if b[0] != "inbox"] + [("inbox", crm)]
    found = registry.problems(bindings)
    assert found == [
        "processor crm for queue 'inbox' takes BrandCrm, but the catalogue's model is MessageRef"
    ]


def test_non_coroutine_is_a_problem() -> None:
    """arq needs coroutine functions; a plain function is refused with its name."""

    def sync(ctx: JobContext, payload: MessageRef) -> None:
        return None

    bindings: list[Any] = [b for b in complete_bindings() if b[0] != "inbox"] + [("inbox", sync)]
    (problem,) = registry.problems(bindings)
    assert problem.startswith("queue 'inbox' is bound to <function")
    assert "not an async function" in problem


def test_the_shipped_registry_is_complete() -> None:
    """Every catalogue queue has its processor and every seed cron its entry: nothing to refuse."""
    assert registry.problems(registry.BINDINGS, CRONS) == []
    assert sorted(name for name, _ in registry.BINDINGS) == sorted(CATALOGUE)
    settings_cls = worker_settings(settings=service_settings())
    functions: list[Function] = settings_cls.functions  # type: ignore[attr-defined]
    cron_jobs: list[CronJob] = settings_cls.cron_jobs  # type: ignore[attr-defined]
    assert set(CATALOGUE) <= {fn.name for fn in functions}
    assert {job.name for job in cron_jobs} == {entry.name for entry in CRONS}


def test_worker_refuses_to_boot_naming_a_missing_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    """Drop a binding and importing WorkerSettings raises, naming the dead queue."""
    monkeypatch.setattr(registry, "BINDINGS", tuple(b for b in registry.BINDINGS if b[0] != "outreach"))
    monkeypatch.delitem(vars(talentq), "WorkerSettings", raising=False)

    with pytest.raises(RegistryError) as caught:
        _ = talentq.WorkerSettings

    assert caught.value.problems == [
        "queue 'outreach' has no processor: nothing would consume it (a dead queue)",
        # The crons that fan out to it are named too: they would fill a queue nobody reads.
        *[
            f"cron {entry.name!r} enqueues into queue 'outreach', which is not registered "
            "(no processor is bound to it)"
            for entry in CRONS
            if "outreach" in entry.enqueues
        ],
    ]


def test_processor_modules_match_bindings() -> None:
    """Every module in processors/ is bound and every bound queue has its module (a-b -> a_b.py)."""
    folder = Path(inspect.getfile(talentq.processors)).parent
    modules = {p.stem for p in folder.glob("*.py") if p.stem != "__init__"}
    bound = {name.replace("-", "_") for name, _ in registry.BINDINGS}
    assert modules == bound
    for name, fn in registry.BINDINGS:
        assert fn.__module__ == f"talentq.processors.{name.replace('-', '_')}"


def test_worker_settings_are_complete_and_safe() -> None:
    """WorkerSettings carries JSON, retries, completion wait, short health checks, I/O concurrency."""
    settings = service_settings(worker_max_jobs=150, queue_timeouts={"inbox": 42})
    crons = [CronEntry("gmail-sync", "*/15 * * * *", count_nothing, enqueues=("gmail-ingest",))]
    cls = worker_settings(complete_bindings(), crons, settings=settings)

    attrs = vars(cls)
    assert set(attrs) - {"__module__", "__dict__", "__weakref__", "__doc__"} <= set(
        inspect.signature(Worker).parameters
    )
    assert attrs["job_serializer"] is serialize
    assert attrs["job_deserializer"] is deserialize
    assert attrs["max_jobs"] == 150
    assert attrs["poll_delay"] == settings.worker_poll_delay
    assert attrs["health_check_interval"] <= 60
    assert attrs["job_completion_wait"] == settings.worker_shutdown_wait > 0
    rs = attrs["redis_settings"]
    assert rs.retry is not None
    assert rs.retry_on_error
    assert rs.retry_on_timeout
    functions = {f.name: f for f in attrs["functions"]}
    # Every catalogue queue and nothing else: talentq's worker loop dead-letters jobs for any other
    # name (a removed queue, a typo) itself
    assert list(functions) == list(CATALOGUE)
    assert functions["inbox"].timeout_s == 42 + ARQ_TIMEOUT_MARGIN_S  # the wrapper's 42 s fires first
    assert (
        functions["email-send"].max_tries == CATALOGUE["email-send"].retry.max_tries + INTERRUPTED_GRACE + 1
    )
    (cron_job,) = attrs["cron_jobs"]
    assert cron_job.name == "gmail-sync"
    assert cron_job.keep_result_s
    assert cron_job.keep_result_s > 0
    assert cron_job.minute == {0, 15, 30, 45}
    assert cron_job.unique
    assert cron_job.max_tries == 1 + INTERRUPTED_GRACE  # a cron cancelled by a shutdown runs again


def test_misspelt_override_and_unknown_timeout_queue_are_refused() -> None:
    """arq drops unknown settings silently; talentq refuses them, and QUEUE_TIMEOUTS typos too."""
    with pytest.raises(RegistryError, match=re.escape("'max_job' is not an arq Worker setting")):
        worker_settings(complete_bindings(), settings=service_settings(), max_job=5)
    settings = service_settings(queue_timeouts={"gmail-ingets": 10})
    with pytest.raises(
        RegistryError, match=r"QUEUE_TIMEOUTS names 'gmail-ingets'.*did you mean 'gmail-ingest'"
    ):
        worker_settings(complete_bindings(), settings=settings)


def test_a_lane_worker_serves_only_its_queues() -> None:
    """A queue moved to a lane of its own is served by that lane's worker only; crons stay on the default."""
    heavy = replace(CATALOGUE["gmail-ingest"], arq_queue="talentq:lane:mail")
    catalogue = {**CATALOGUE, "gmail-ingest": heavy}
    crons = [CronEntry("gmail-sync", "*/15 * * * *", count_nothing, enqueues=("gmail-ingest",))]
    settings = service_settings()

    def build(lane: str) -> dict[str, Any]:
        cls = worker_settings(complete_bindings(), crons, catalogue=catalogue, settings=settings, lane=lane)
        return dict(vars(cls))

    mail, default = build("talentq:lane:mail"), build(DEFAULT_ARQ_QUEUE)

    assert mail["queue_name"] == "talentq:lane:mail"
    mail_names = [f.name for f in mail["functions"]]
    assert mail_names[0] == "gmail-ingest"
    assert "inbox" not in mail_names
    assert mail["cron_jobs"] == []
    assert "gmail-ingest" not in {f.name for f in default["functions"]}
    assert [c.name for c in default["cron_jobs"]] == ["gmail-sync"]
