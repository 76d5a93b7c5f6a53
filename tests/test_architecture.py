"""The import rules, kept by a tool: import-linter's contracts (``pyproject.toml``) hold, and break.

Each contract is run on the code as it is (all kept), and on a copy of the package with one
forbidden import added (that contract broken), so a contract that could never fail is caught
too. The last test draws the house: the package's rooms (subpackages and top-level modules) on
floors by their imports, with ``domain/`` on the ground floor and nothing of talentq under it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp
import pytest

import talentq

REPO = Path(__file__).resolve().parents[1]
PACKAGE = Path(talentq.__file__).parent
LINT_IMPORTS = str(Path(sys.executable).with_name("lint-imports"))
CONTRACTS = {
    c["id"]: c
    for c in tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
}


def lint_imports(*args: str, src: Path | None = None) -> subprocess.CompletedProcess[str]:
    """lint-imports with the project's contracts, on ``src`` (a copy of the package's parent) if given."""
    env = {**os.environ, "PYTHONPATH": str(src)} if src is not None else dict(os.environ)
    return subprocess.run(
        [LINT_IMPORTS, "--config", str(REPO / "pyproject.toml"), "--no-cache", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
        check=False,
    )


def test_every_contract_is_kept() -> None:
    """All contracts hold on the code as it is."""
    done = lint_imports()
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Contracts: {len(CONTRACTS)} kept, 0 broken." in done.stdout


def test_the_domain_contract_forbids_every_other_part_of_talentq() -> None:
    """A module added to talentq is forbidden to the domain too: the list names every one."""
    rooms = {f"talentq.{p.stem}" for p in PACKAGE.iterdir() if p.suffix == ".py" and p.stem != "__init__"}
    rooms |= {f"talentq.{p.name}" for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert set(CONTRACTS["domain-pure"]["forbidden_modules"]) == rooms - {"talentq.domain"}


#: Per contract, a module of its sources and an import it forbids.
BREACHES = {
    "domain-pure": ("domain/money.py", "talentq.db.tables"),
    "client-no-worker": ("client.py", "talentq.jobs"),
    "integrations-no-jobs": ("integrations/mail.py", "talentq.processors.email_send"),
    "crons-no-processors": ("crons/mail.py", "talentq.processors.gmail_ingest"),
    "db-below-jobs": ("db/deals.py", "talentq.integrations.ai"),
    "processors-leaf": ("processors/inbox.py", "talentq.processors.inbox_triage"),
    "processors-no-registry": ("processors/inbox.py", "talentq.registry"),
    "dev-tooling-apart": ("worker/boot.py", "talentq.dev.sample_agency"),
}


def test_every_contract_has_a_breach_to_show_it_fails() -> None:
    assert set(BREACHES) == set(CONTRACTS)


@pytest.mark.parametrize("contract", sorted(BREACHES))
def test_a_forbidden_import_breaks_its_contract(contract: str, tmp_path: Path) -> None:
    """One forbidden import added to a copy of the package: that contract is broken, naming it."""
    module, forbidden = BREACHES[contract]
    copy = tmp_path / "src" / "talentq"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    with (copy / module).open("a") as source:
        source.write(f"\nimport {forbidden}  # the breach\n")

    done = lint_imports("--contract", contract, src=tmp_path / "src")

    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{CONTRACTS[contract]['name']} BROKEN" in " ".join(done.stdout.split())
    assert forbidden in done.stdout


def floors() -> dict[str, int]:
    """Each room of talentq (a subpackage, or a top-level module) on its floor: 0 imports no other room,
    and every room stands one floor above the highest room it imports."""
    graph = grimp.build_graph("talentq", cache_dir=None)
    room_of = {m: ".".join(m.split(".")[:2]) for m in graph.modules}
    below: dict[str, set[str]] = {room: set() for room in room_of.values() if room != "talentq"}
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            here, there = room_of[module], room_of[imported]
            if here != there and "talentq" not in (here, there):
                below[here].add(there)
    floor: dict[str, int] = {}

    def place(room: str, path: tuple[str, ...]) -> int:
        assert room not in path, f"rooms import each other in a cycle: {' -> '.join((*path, room))}"
        if room not in floor:
            floor[room] = 1 + max((place(r, (*path, room)) for r in below[room]), default=-1)
        return floor[room]

    for room in below:
        place(room, ())
    return floor


def test_the_domain_is_the_ground_floor_with_nothing_of_talentq_under_it() -> None:
    """The rooms form no cycle, and domain/ stands on the ground floor."""
    house = floors()
    assert house["talentq.domain"] == 0
    for level in range(max(house.values()), -1, -1):  # shown with pytest -s: the house, top floor first
        rooms = sorted(room.removeprefix("talentq.") for room, at in house.items() if at == level)
        print(f"floor {level:2}: {', '.join(rooms)}")
