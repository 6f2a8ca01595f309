"""The package's shape, checked from the source: no import circles, and who may import what.

An import circle makes start-up order matter and hides which concept depends on which; the
layers keep the workflow sandbox free of I/O and the worker free of the report renderers.
Imports are read statically: every import but those under ``TYPE_CHECKING`` (which only the type
checker follows). An import deferred into a function still counts: deferring it hides a circle,
it does not remove the dependency.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "handrail"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    # rglob does not follow the workflows/activities symlinks: walk them explicitly.
    found: dict[str, Path] = {}
    for root in [PACKAGE, PACKAGE / "workflows", PACKAGE / "activities"]:
        for path in root.rglob("*.py"):
            found[_module_name(path)] = path
    return found


def _imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, but those under ``if TYPE_CHECKING``."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
        else:
            stack.extend(ast.iter_child_nodes(node))


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in _imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                # `from package import module` depends on the module, not on the package's
                # __init__; `from module import name` on the module.
                targets = [
                    f"{node.module}.{alias.name}"
                    if f"{node.module}.{alias.name}" in modules
                    else node.module or ""
                    for alias in node.names
                ]
            graph[name].update(target for target in targets if target in modules)
    return graph


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            # A package importing its own submodule is not a circle unless the submodule
            # imports the package back: both directions are edges, so Tarjan sees them.
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        node = todo.pop()
        for nxt in graph[node] - seen:
            seen.add(nxt)
            todo.append(nxt)
    return seen


def test_the_graph_sees_the_package() -> None:
    graph = _graph()
    assert "handrail.workflows.agent" in graph
    assert "handrail.activities.llm" in graph
    assert "handrail.contracts" in graph["handrail.workflows.agent"] or any(
        target.startswith("handrail.contracts") for target in graph["handrail.workflows.agent"]
    )


def test_no_import_circles() -> None:
    assert _circles(_graph()) == []


def test_a_circle_is_found() -> None:
    # The detector itself, on a made-up graph: a test that cannot fail is a defect.
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _circles(graph) == [["a", "b", "c"]]


@pytest.mark.parametrize(
    ("importer", "forbidden"),
    [
        # The worker's side renders nothing: reports are for people and the CLI.
        ("handrail.plugin", "handrail.reports"),
        ("handrail.activities", "handrail.reports"),
        # Storage holds tables and queries; the trust engine builds on it, never the reverse.
        ("handrail.storage", "handrail.trust"),
        ("handrail.storage", "handrail.reports"),
        # The library knows no example, and the kit no runtime of one.
        ("handrail", "examples"),
    ],
)
def test_layers(importer: str, forbidden: str) -> None:
    graph = _graph()
    starts = [name for name in graph if name == importer or name.startswith(importer + ".")]
    crossing = sorted(
        f"{start} -> {target}"
        for start in starts
        for target in _reachable(graph, start) | graph[start]
        if target == forbidden or target.startswith(forbidden + ".")
    )
    assert crossing == [], crossing


def test_workflow_code_imports_no_io() -> None:
    graph = _graph()
    heavy = ("handrail.storage", "handrail.client", "handrail.telemetry", "handrail.http")
    for module in (name for name in graph if name.startswith("handrail.workflows")):
        reached = _reachable(graph, module)
        assert not [target for target in reached if target.startswith(heavy)], module


def test_the_trust_engine_reads_through_storage() -> None:
    # trust/ computes, storage/ reads and writes: no table or SQL in the trust engine (the
    # reachability test above cannot say it: trust may reach the tables through storage).
    sql = ("sqlalchemy", "handrail.storage.schema")
    found = []
    for name, path in _modules().items():
        if not name.startswith("handrail.trust"):
            continue
        for node in _imports(ast.parse(path.read_text(), str(path))):
            modules = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
            )
            found += [f"{name} -> {module}" for module in modules if module.startswith(sql)]
    assert found == [], found
