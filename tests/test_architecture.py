"""The import graph against the layer table of docs/architecture.md.

Every import of the package's own modules is read from the source with ``ast`` —
those inside functions too, which a cycle or an upward arrow hides behind at import
time — and checked: it points to the importer's own unit or to a lower layer, never
up and never across to another unit of the same layer; the graph has no cycle; every
module sits in a unit the table places; ``config`` imports only ``errors``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "aggregator"
DOC = ROOT / "docs" / "architecture.md"


def module_names() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = module_names()


def _resolve(name: str) -> str | None:
    """The package module ``name`` refers to (a name inside a module: the module)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str) -> set[str]:
    """The package's modules ``module`` imports, anywhere in its source."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package
                for _ in range(node.level - 1):
                    anchor = anchor.rpartition(".")[0]
                base = f"{anchor}.{base}" if base else anchor
            # `from aggregator import compose` imports a module; `from x import name`
            # imports from x.
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base
                     for a in node.names]  # fmt: skip
        else:
            continue
        for name in names:
            if name == "aggregator" or name.startswith("aggregator."):
                target = _resolve(name)
                if target is not None and target != module:
                    found.add(target)
    return found


GRAPH = {module: imports_of(module) for module in MODULES}


def unit_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def layer_table(text: str) -> dict[str, int]:
    """unit → layer, from the table's rows: ``| 3 | `store` | ... |``."""
    layers: dict[str, int] = {}
    for line in text.splitlines():
        row = re.match(r"^\|\s*(\d+)\s*\|([^|]*)\|", line)
        if row:
            for unit in re.findall(r"`([\w.]+)`", row.group(2)):
                assert unit not in layers, f"{unit} is placed twice in {DOC.name}"
                layers[unit] = int(row.group(1))
    return layers


LAYERS = layer_table(DOC.read_text(encoding="utf-8"))


def wrong_arrows(graph: dict[str, set[str]], layers: dict[str, int]) -> list[str]:
    """Every import that points up the table or across to another unit of its layer."""
    wrong = []
    for source, targets in sorted(graph.items()):
        for target in sorted(targets):
            a, b = unit_of(source), unit_of(target)
            if a != b and layers[b] >= layers[a]:
                way = "across" if layers[b] == layers[a] else "up"
                wrong.append(f"{source} -> {target} ({way}: {a} is {layers[a]}, {b} {layers[b]})")
    return wrong


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Depth-first search: an edge back to a module on the current path closes a cycle."""
    on_path: list[str] = []
    state: dict[str, int] = {}  # 1: on the path, 2: done
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        state[module] = 1
        on_path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                cycles.append([*on_path[on_path.index(target) :], target])
            elif target not in state:
                visit(target)
        on_path.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
    return cycles


def test_the_table_is_read_and_every_module_is_placed() -> None:
    assert len(LAYERS) >= 15  # the table parsed: a silent empty table would pass anything
    unplaced = sorted({unit_of(m) for m in MODULES} - set(LAYERS))
    assert not unplaced, f"not in the layer table of {DOC.name}: {unplaced}"
    assert not set(LAYERS) - {unit_of(m) for m in MODULES}, "the table names a unit not found"


def test_imports_inside_functions_are_seen() -> None:
    # The CLI imports compose inside a function (to keep `--help` light).
    assert "aggregator.compose" in GRAPH["aggregator.cli"]


def test_arrows_point_down_the_table() -> None:
    wrong = wrong_arrows(GRAPH, LAYERS)
    assert not wrong, "\n".join(wrong)


def test_there_is_no_import_cycle() -> None:
    cycles = find_cycles(GRAPH)
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


def test_config_imports_only_errors_and_links() -> None:
    # links: a feed URL is checked as the fetcher will send it (docs/architecture.md).
    assert GRAPH["aggregator.config"] == {"aggregator.errors", "aggregator.links"}


@pytest.mark.parametrize(
    ("source", "forbidden"),
    [
        ("aggregator.store.archive", "aggregator.query"),  # search goes through store.search
        ("aggregator.poll.poller", "aggregator.process.match"),  # the halves meet in the db
        ("aggregator.process.dedup", "aggregator.poll.normalize"),  # text helpers: text.py
        ("aggregator.poll.extract", "aggregator.poll.normalize"),
    ],
)
def test_rules_the_layers_alone_would_allow(source: str, forbidden: str) -> None:
    assert forbidden not in GRAPH[source]


def test_the_checks_find_an_upward_arrow_a_crossing_and_a_cycle() -> None:
    graph = {
        "aggregator.config": {"aggregator.compose"},  # up
        "aggregator.poll.fetch": {"aggregator.alerts.rules"},  # across: the two halves
        "aggregator.compose": {"aggregator.config"},  # down, fine; closes a cycle
        "aggregator.alerts.rules": set(),
    }
    assert wrong_arrows(graph, LAYERS) == [
        "aggregator.config -> aggregator.compose (up: config is 2, compose 8)",
        "aggregator.poll.fetch -> aggregator.alerts.rules (across: poll is 5, alerts 5)",
    ]
    assert find_cycles(graph) == [["aggregator.compose", "aggregator.config", "aggregator.compose"]]
