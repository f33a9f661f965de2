"""Dependencies point one way: plugins -> core <- server. Core loads no web or queue library."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).parents[2]
FORBIDDEN_IN_CORE = (
    "litestar",
    "dramatiq",
    "sqlalchemy",
    "httpx",
    "uvicorn",
    "redis",
    "openai",
    "runwire_server",
)


def test_importing_all_of_core_loads_no_web_or_queue_library() -> None:
    modules = sorted(
        "runwire." + ".".join(p.relative_to(REPO / "core/src/runwire").with_suffix("").parts)
        for p in (REPO / "core/src/runwire").rglob("*.py")
        if p.name != "__init__.py"
    )
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "from runwire.plugins import Plugins\n"
        "Plugins.load(blocked=['subprocess', 'http', 'llm_openai', 'auth0', 'task-door', 'execute-door'])\n"
        f"print(sorted({{k.split('.')[0] for k in sys.modules}} & set({FORBIDDEN_IN_CORE!r})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_plugins_and_core_never_import_the_server() -> None:
    offenders = [
        str(p.relative_to(REPO))
        for root in ("core/src", "plugins")
        for p in (REPO / root).rglob("*.py")
        if "/tests/" not in str(p) and re.search(r"^\s*(from|import) runwire_server", p.read_text(), re.M)
    ]
    assert offenders == []


# --- no import cycles -------------------------------------------------------------------------

SOURCES = [
    REPO / "core/src/runwire",
    REPO / "server/src/runwire_server",
    *sorted(REPO.glob("plugins/*/src/runwire_*")),
]


def module_files() -> dict[str, Path]:
    """Every module of core, the server and the plugins by dotted name (a package by its own)."""
    found: dict[str, Path] = {}
    for package in SOURCES:
        for path in package.rglob("*.py"):
            parts = path.relative_to(package.parent).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported_names(module: str, path: Path) -> Iterator[str]:
    """What ``module`` imports, anywhere (function bodies too) but under ``if TYPE_CHECKING:``:
    ``import a.b`` gives ``a.b``; ``from a import b, c`` gives ``a.b``, ``a.c`` and ``a``;
    relative imports are resolved against ``module``'s package."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    pending: list[ast.AST] = [ast.parse(path.read_text(), str(path))]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and is_type_checking(node.test):
            pending.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *filter(None, [node.module])])
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)
        pending.extend(ast.iter_child_nodes(node))


def import_graph() -> dict[str, set[str]]:
    """Module → the modules of ours it imports (a name that is no module: its nearest package)."""
    files = module_files()
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        targets = graph.setdefault(module, set())
        for name in imported_names(module, path):
            while name and name not in files:
                name = name.rpartition(".")[0]
            if name and name != module:
                targets.add(name)
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """The graph's strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while (member := stack.pop()) != node:
                component.append(member)
            if component:
                found.append(sorted([*component, node]))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def one_cycle(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """A shortest cycle through the component's first module: ``[a, b, ..., a]``."""
    start, members = component[0], set(component)
    paths = {start: [start]}
    queue = [start]
    for node in queue:
        for target in sorted(graph[node] & members):
            if target == start:
                return [*paths[node], start]
            if target not in paths:
                paths[target] = [*paths[node], target]
                queue.append(target)
    raise AssertionError(f"no cycle in {component}")


def test_the_graph_sees_local_relative_and_submodule_imports_but_not_type_only_ones() -> None:
    graph = import_graph()
    assert "runwire.records" in graph["runwire_server.store.runs"]  # from runwire.records import ...
    assert "runwire_server.store.runs" in graph["runwire_server.store"]  # from .runs import ...
    assert not any(target.startswith("runwire_server") for target in graph["runwire.plugins"])


def test_no_import_cycles() -> None:
    graph = import_graph()
    cycles = [" -> ".join(one_cycle(graph, component)) for component in strongly_connected(graph)]
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_a_cycle_is_found_and_shown() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert strongly_connected(graph) == [["a", "b", "c"]]
    assert one_cycle(graph, ["a", "b", "c"]) == ["a", "b", "c", "a"]
