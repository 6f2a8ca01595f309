"""The public API: ``handrail``'s dozen names (the rule is in its docstring), the concept modules
it sends users to for the rest, and the testing kit. Each name the root exports is documented,
and so is each name the examples import; the examples, laid out as a user's project, import
nothing else of Handrail's."""

from __future__ import annotations

import ast
import importlib
import inspect
import itertools
import sys
import typing
from pathlib import Path

import pytest

import handrail
import handrail.testing

ROOT = Path(__file__).resolve().parents[2]
# The root, and the concept modules its docstring sends users to.
PUBLIC_MODULES = {
    "handrail",
    "handrail.testing",
    "handrail.tools",
    "handrail.contracts",
    "handrail.errors",
    "handrail.model.adapter",
    "handrail.policy.text_types",
    "handrail.names",
    "handrail.client.core",
    "handrail.client.connection",
    "handrail.profiles.catalog",
    "handrail.storage.engine",
    "handrail.runtime.app",
    "handrail.telemetry.core",
    "handrail.governance",
    "handrail.frameworks.openai_agents",
    "handrail.frameworks.pydantic_ai",
}
# The testing kit's modules a user imports by name (none private), and the ready runtime an app
# plugs into (AgentApp, the dev server and the scripted model endpoint it starts).
PUBLIC_PACKAGES = ("handrail.testing.", "handrail.runtime.")
# The store's demo is a command of Handrail's CLI: it prints, and serves the inbox, as the CLI.
DEMO = Path("examples/store/starter.py")
DEMO_ALSO = {
    "handrail.cli.output",
    "handrail.cli.serve",
    "handrail.cli.trace_format",
    "handrail.http",
    "handrail.search_attributes",
}
# The store's tests check library behaviour against the store's schemas and policy (the gate's
# bounds, a tool's retries), and the framework examples' tests check that reviewers' surfaces
# (the gateway, the inbox, stats) serve a framework's agent: they may look inside.
LOOKS_INSIDE = (
    Path("examples/store/tests"),
    Path("examples/openai_agents_store/tests"),
    Path("examples/pydantic_ai_store/tests"),
)


def _public(module: str, path: Path) -> bool:
    if module in PUBLIC_MODULES:
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


def _documentation(module: str, name: str) -> str:
    value = getattr(importlib.import_module(module), name)
    if inspect.isfunction(value):
        return value.__doc__ or ""
    if inspect.isclass(value):
        return value.__dict__.get("__doc__") or ""  # its own, not one inherited from a base
    if typing.get_origin(value) is typing.Annotated:  # a type alias: its module says what it is
        text = sys.modules[module].__doc__ or ""
        return text if f"``{name}``" in text else ""
    return _attribute_docstrings(module).get(name, "")


def _typing_imports(package: str = "handrail") -> dict[str, str]:
    """What the ``if TYPE_CHECKING:`` block of ``package``'s ``__init__.py`` imports: name →
    module, each as an explicit re-export (``import X as X``)."""
    init = ROOT.joinpath(*package.split("."), "__init__.py")
    tree = ast.parse(init.read_text())
    block = next(
        node
        for node in tree.body
        if isinstance(node, ast.If)
        and isinstance(node.test, ast.Name)
        and node.test.id == "TYPE_CHECKING"
    )
    found = {}
    for node in block.body:
        assert isinstance(node, ast.ImportFrom)
        assert node.module
        for alias in node.names:
            assert alias.asname == alias.name, f"{alias.name}: re-export it as itself"
            found[alias.name] = node.module
    return found


def _examples_imports() -> list[tuple[Path, str, str]]:
    """Every Handrail import of the examples: (file, module, name); ``name`` is empty for
    ``import handrail.x``."""
    found = []
    for path in sorted((ROOT / "examples").glob("**/*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found += [(path, alias.name, "") for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found += [(path, node.module, alias.name) for alias in node.names]
    return [item for item in found if item[1].split(".")[0] == "handrail"]


def test_the_root_names_a_dozen_things_each_documented() -> None:
    assert handrail.__all__ == list(handrail._EXPORTS)
    assert 9 <= len(handrail.__all__) <= 12, "the root stays small: see its docstring's rule"
    undocumented = [
        name
        for name, module in handrail._EXPORTS.items()
        if not _documentation(module, name).strip()
    ]
    assert undocumented == []
    assert set(handrail.__all__) <= set(dir(handrail))


def test_type_checkers_see_the_same_table_as_the_runtime() -> None:
    # The TYPE_CHECKING block is the table's only copy: a name added to one and not the other
    # would be importable and untyped, or typed and missing at run time.
    assert _typing_imports() == handrail._EXPORTS
    assert _typing_imports("handrail.testing") == handrail.testing._EXPORTS
    assert handrail.testing.__all__ == list(handrail.testing._EXPORTS)


def test_a_name_that_left_the_root_is_not_answered_for() -> None:
    with pytest.raises(AttributeError, match="ToolSpec"):
        _ = handrail.ToolSpec  # type: ignore[attr-defined]  # handrail.tools has it
    from handrail.tools import ToolSpec  # noqa: F401  (where it lives)


@pytest.mark.parametrize("module", sorted(PUBLIC_MODULES - {"handrail"}))
def test_each_public_module_is_named_in_the_roots_docstring(module: str) -> None:
    importlib.import_module(module)
    assert f"``{module}``" in (handrail.__doc__ or "")


def test_the_examples_import_only_the_public_api_and_it_is_documented() -> None:
    offenders, undocumented = [], []
    for path, module, name in _examples_imports():
        relative = path.relative_to(ROOT)
        if any(relative.is_relative_to(inside) for inside in LOOKS_INSIDE):
            continue
        where = f"{relative}: {module}"
        if module == "handrail" and name not in handrail.__all__:
            offenders.append(f"{where}.{name}")  # a module of handrail, or a name it dropped
        elif not _public(module, relative):
            offenders.append(where)
        elif module in PUBLIC_MODULES and name and not _documentation(module, name).strip():
            undocumented.append(f"{where}.{name}")
    assert offenders == []
    assert undocumented == []
