"""Where queue names meet processors: the bindings and the startup check.

``BINDINGS`` is an explicit list of (queue name, processor); nothing registers itself by
being imported. ``check()`` collects every problem and raises one ``RegistryError``:
a name bound twice (arq would silently keep the last; crons share the name space), a
catalogue queue with no processor (a dead queue), a binding for an unknown or removed
name, a cron fanning out to a queue with no processor. The database part — tables that
a processor or cron declares and the connected database lacks — runs in the worker's
``on_startup``, before any job is taken.

The worker that runs them is built in ``talentq.worker.boot``."""

from __future__ import annotations

import inspect
import typing
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Final

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from talentq.cron import CronEntry
from talentq.db.models import CORE_TABLES
from talentq.errors import RegistryError
from talentq.jobs import Processor, tables_used
from talentq.processors import (
    agent_tasks,
    ai_agent,
    ai_contract,
    ai_negotiation,
    ai_outreach,
    brand_crm,
    campaign_builder,
    contract_finalisation,
    creator_bundle,
    creator_fit,
    deal_extraction,
    deliverable_reminders,
    deliverable_review,
    email_send,
    gmail_ingest,
    inbox,
    inbox_triage,
    negotiation_engine,
    outreach,
    social_refresh,
    strategy_engine,
)
from talentq.queues import (
    CATALOGUE,
    REMOVED,
    Payload,
    QueueSpec,
    did_you_mean,
)
from talentq.settings import Settings

Binding = tuple[str, Processor[Any]]

#: The shipped bindings, one per catalogue queue, in the catalogue's (the seed's) order.
#: Nothing registers itself: a processor module that is not listed here is not run, and
#: ``tests/test_registry.py`` checks that every module in ``processors/`` is listed.
BINDINGS: Final[tuple[Binding, ...]] = (
    ("gmail-ingest", gmail_ingest.handle),
    ("social-refresh", social_refresh.handle),
    ("email-send", email_send.handle),
    ("inbox-triage", inbox_triage.handle),
    ("deal-extraction", deal_extraction.handle),
    ("negotiation-engine", negotiation_engine.handle),
    ("campaign-builder", campaign_builder.handle),
    ("ai-agent", ai_agent.handle),
    ("ai-outreach", ai_outreach.handle),
    ("ai-negotiation", ai_negotiation.handle),
    ("ai-contract", ai_contract.handle),
    ("deliverable-reminders", deliverable_reminders.handle),
    ("agent-tasks", agent_tasks.handle),
    ("contract_finalisation", contract_finalisation.handle),
    ("outreach", outreach.handle),
    ("brand-crm", brand_crm.handle),
    ("strategy-engine", strategy_engine.handle),
    ("creator-fit", creator_fit.handle),
    ("creator-bundle", creator_bundle.handle),
    ("deliverable-review", deliverable_review.handle),
    ("inbox", inbox.handle),
)


def _payload_mismatch(spec: QueueSpec[Any], fn: Processor[Any]) -> str | None:
    # Only when the annotation resolves: processors defined inside tests may not.
    try:
        hints = typing.get_type_hints(fn)
    except Exception:
        return None
    params = list(inspect.signature(fn).parameters)
    if len(params) < 2:
        return None
    annotation = hints.get(params[1])
    if (
        isinstance(annotation, type)
        and issubclass(annotation, Payload)
        and not issubclass(spec.payload, annotation)
    ):
        return (
            f"processor {fn.__qualname__} for queue {spec.name!r} takes {annotation.__name__}, "
            f"but the catalogue's model is {spec.payload.__name__}"
        )
    return None


def problems(
    bindings: Sequence[Binding],
    crons: Sequence[CronEntry] = (),
    *,
    catalogue: Mapping[str, QueueSpec[Any]] = CATALOGUE,
    settings: Settings | None = None,
) -> list[str]:
    """Every static problem of ``bindings``, ``crons`` (and ``settings``), one line each."""
    found: list[str] = []
    if settings is not None:
        found += [
            f"QUEUE_TIMEOUTS names {name!r}, which is not a queue{did_you_mean(name, catalogue)}"
            for name in settings.queue_timeouts
            if name not in catalogue
        ]
    bound = Counter(name for name, _ in bindings)
    known = sorted(catalogue)

    for name, count in sorted(bound.items()):
        if count > 1:
            owners = ", ".join(getattr(fn, "__qualname__", repr(fn)) for n, fn in bindings if n == name)
            found.append(f"queue {name!r} is bound {count} times ({owners}); arq would keep only the last")
    for name, fn in bindings:
        if name in REMOVED:
            found.append(f"queue {name!r} is removed ({REMOVED[name]}); delete its binding")
        elif name not in catalogue:
            found.append(f"queue {name!r} is not in the catalogue (queues.py){did_you_mean(name, known)}")
        elif not inspect.iscoroutinefunction(fn):
            found.append(f"queue {name!r} is bound to {fn!r}, which is not an async function")
        elif (mismatch := _payload_mismatch(catalogue[name], fn)) is not None:
            found.append(mismatch)
    for name in known:
        if name not in bound:
            found.append(f"queue {name!r} has no processor: nothing would consume it (a dead queue)")

    cron_names = Counter(entry.name for entry in crons)
    for name, count in sorted(cron_names.items()):
        if count > 1:
            found.append(f"cron {name!r} is defined {count} times; arq would keep only the last")
        if name in bound or name in catalogue:
            found.append(f"cron {name!r} has the name of a queue; crons and queues share arq's name space")
    for entry in crons:
        found += entry.problems()
        for target in entry.enqueues:
            if target not in bound:
                if target in REMOVED:
                    reason = f"removed ({REMOVED[target]})"
                elif target in catalogue:
                    reason = "not registered (no processor is bound to it)"
                else:
                    reason = "not registered" + did_you_mean(target, known)
                found.append(f"cron {entry.name!r} enqueues into queue {target!r}, which is {reason}")
            elif target in catalogue and catalogue[target].disabled is not None:
                found.append(f"cron {entry.name!r} enqueues into disabled queue {target!r}")
    return found


def check(
    bindings: Sequence[Binding],
    crons: Sequence[CronEntry] = (),
    *,
    catalogue: Mapping[str, QueueSpec[Any]] = CATALOGUE,
    settings: Settings | None = None,
) -> None:
    """Raise one ``RegistryError`` listing every static problem; return quietly if there is none."""
    found = problems(bindings, crons, catalogue=catalogue, settings=settings)
    if found:
        raise RegistryError(found)


def required_tables(bindings: Sequence[Binding], crons: Sequence[CronEntry]) -> dict[str, set[str]]:
    """Table name -> who needs it ("queue 'x'", "cron 'y'", "the worker core")."""
    needs: dict[str, set[str]] = {table: {"the worker core"} for table in CORE_TABLES}
    for name, fn in bindings:
        for table in tables_used(fn):
            needs.setdefault(table, set()).add(f"queue {name!r}")
    for entry in crons:
        declared = entry.tables | (tables_used(entry.run) if entry.run is not None else frozenset())
        for table in declared:
            needs.setdefault(table, set()).add(f"cron {entry.name!r}")
    return needs


async def missing_tables(engine: AsyncEngine, needs: Mapping[str, set[str]]) -> list[str]:
    """One problem line per required table the connected database does not have."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")
        )
        present = {row[0] for row in rows}
    return [
        f"table {table!r} is missing from the database, needed by {', '.join(sorted(who))} "
        "(run `talentq db upgrade`)"
        for table, who in sorted(needs.items())
        if table not in present
    ]
