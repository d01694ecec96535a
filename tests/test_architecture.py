"""The layout keeps its shape: imports point one way, nothing imports in a
circle, and no module grows past what a person can hold in their head.

The graph is read from the source (every import, also those inside
functions and under ``TYPE_CHECKING``): an import that only type checkers
see still ties two modules together for the reader.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.fast  # no servers: part of the quick inner loop

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("bot", "flows", "integrations")
MAX_LINES = 500

# Lower layers never import higher ones. Within a layer, modules may use each
# other as long as there is no cycle. Web, the command line and the channel
# integrations sit on top; the pure dialogue at the bottom.
LAYERS: tuple[tuple[str, int], ...] = (
    ("flows", 0),
    ("bot.domain", 1),
    ("bot.infra", 2),
    ("bot.store", 2),
    ("bot.settings", 2),
    ("bot.services", 2),
    ("bot.delivery", 3),
    ("bot.requests", 4),
    ("bot.staff", 5),
    ("bot.conversation", 6),
    ("bot.housekeeping", 7),
    ("bot.core", 7),
    ("bot.app", 7),
    ("integrations", 8),
    ("bot.web", 8),
    ("bot.cli", 9),
)
# Known exceptions, each to be removed by moving the code where it belongs.
UPWARD_ALLOWED: set[tuple[str, str]] = set()
OVERSIZED_ALLOWED: set[str] = set()
DRIVERS = {"aiosqlite", "sqlite3", "asyncio"}


def _name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_name(p): p for top in PRODUCT for p in (ROOT / top).rglob("*.py")}


def _imported(path: Path) -> set[str]:
    """Every dotted name imported, with ``from a import b`` also as ``a.b``."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def _graph() -> dict[str, set[str]]:
    modules = _modules()

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found = {resolve(n) for n in _imported(path)} - {None, name}
        # An empty package __init__ ties nothing together.
        graph[name] = {m for m in found if m and (modules[m].name != "__init__.py" or m in PRODUCT)}
        graph[name] -= set(PRODUCT)
    return {name: deps for name, deps in graph.items() if name not in PRODUCT}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _layer(module: str) -> tuple[str, int]:
    for prefix, rank in LAYERS:
        if module == prefix or module.startswith(prefix + "."):
            return prefix, rank
    raise AssertionError(f"{module} belongs to no layer: add it to LAYERS")


def test_no_import_cycles() -> None:
    assert _cycles(_graph()) == []


def test_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_imports_point_one_way() -> None:
    upward = set()
    for module, deps in _graph().items():
        here, rank = _layer(module)
        for dep in deps:
            there, dep_rank = _layer(dep)
            if dep_rank > rank and here != there:
                upward.add((module, dep))
    assert upward == UPWARD_ALLOWED


def test_the_dialogue_is_pure_and_the_core_knows_no_integration() -> None:
    for name, path in _modules().items():
        imported = {n.split(".")[0] for n in _imported(path)}
        if name.startswith("flows"):
            assert not imported & {"bot", "integrations", *DRIVERS}, name
        elif name.startswith("bot") and name != "bot.cli":  # the CLI starts the channels
            assert "integrations" not in imported, name


def test_modules_stay_small() -> None:
    sizes = {
        str(path.relative_to(ROOT)): len(path.read_text().splitlines())
        for path in _modules().values()
    }
    oversized = {path for path, lines in sizes.items() if lines > MAX_LINES}
    assert oversized == OVERSIZED_ALLOWED, {p: sizes.get(p) for p in oversized ^ OVERSIZED_ALLOWED}
