"""The public API is ``handrail`` (and the testing kit, ``handrail.testing``): each name it
exports is documented, and the examples, laid out as a user's project, import nothing else of
Handrail's, but for the ready runtime an app plugs into (``handrail.runtime``)."""

from __future__ import annotations

import ast
import inspect
import itertools
import sys
import typing
from pathlib import Path

import handrail

ROOT = Path(__file__).resolve().parents[1]
PUBLIC_MODULES = {"handrail", "handrail.testing"}
# The testing kit's modules a user imports by name (none private: no leading underscore), and
# the ready runtime an app plugs into (AgentApp, the dev server and scripted model it starts).
PUBLIC_PACKAGES = ("handrail.testing.", "handrail.runtime")
# The store's demo is a command of Handrail's CLI: it prints, and serves the inbox, as the CLI.
DEMO = Path("examples/store/starter.py")
DEMO_ALSO = {
    "handrail.cli.output",
    "handrail.cli.serve",
    "handrail.cli.trace_format",
    "handrail.http",
    "handrail.search_attributes",
}
# The store's tests came from Handrail's own suite and still check library behaviour against
# the store's schemas and policy (the gate's bounds, a tool's retries): they may look inside.
LOOKS_INSIDE = Path("examples/store/tests")


def _public(module: str, path: Path) -> bool:
    if module.split(".")[0] != "handrail" or module in PUBLIC_MODULES:
        return True
    if module.removeprefix("handrail.") in handrail.__all__:
        return True
    if module.startswith(PUBLIC_PACKAGES) and not any(p.startswith("_") for p in module.split(".")):
        return True
    return path == DEMO and module in DEMO_ALSO


def _attribute_docstrings(module: str) -> dict[str, str]:
    """Names of ``module`` assigned at top level with a string literal right after them (an
    attribute docstring), and what it says."""
    source = Path(sys.modules[module].__file__ or "").read_text()
    body = ast.parse(source).body
    found = {}
    for node, after in itertools.pairwise(body):
        target: ast.expr | None = node.target if isinstance(node, ast.AnnAssign) else None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        if (
            isinstance(target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            found[target.id] = after.value.value
    return found


def _documentation(name: str) -> str:
    value = getattr(handrail, name)
    if inspect.isfunction(value):
        return value.__doc__ or ""
    if inspect.isclass(value):
        return value.__dict__.get("__doc__") or ""  # its own, not one inherited from a base
    if typing.get_origin(value) is typing.Annotated:  # a type alias: its module says what it is
        module = sys.modules[handrail._EXPORTS[name]]
        return (module.__doc__ or "") if f"``{name}``" in (module.__doc__ or "") else ""
    return _attribute_docstrings(handrail._EXPORTS[name]).get(name, "")


def test_every_exported_name_is_importable_and_documented() -> None:
    assert sorted(handrail.__all__) == sorted(handrail._EXPORTS)
    undocumented = [name for name in handrail.__all__ if not _documentation(name).strip()]
    assert undocumented == []


def test_the_examples_import_only_the_public_api() -> None:
    offenders = []
    for path in sorted((ROOT / "examples").glob("**/*.py")):
        if path.relative_to(ROOT).is_relative_to(LOOKS_INSIDE):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            modules = []
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
                if node.module == "handrail":  # `from handrail import plugin` is a module too
                    modules += [f"handrail.{a.name}" for a in node.names if a.name.islower()]
            offenders += [
                f"{path.relative_to(ROOT)}: {module}"
                for module in modules
                if not _public(module, path.relative_to(ROOT))
            ]
    assert offenders == []
