"""Installing Handrail puts one package into site-packages: ``handrail``. The repository keeps
``workflows/``, ``activities/``, ``worker.py`` and ``starter.py`` at its top level, but a wheel
must not install modules under those generic names, where they would collide with a user's
project laid out like samples-python. Nor does it install an example: the store agent and its
profiles stay in the checkout's ``examples/``, and the library names no store."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GENERIC = ("workflows", "activities", "worker", "starter")


def test_the_wheel_installs_only_the_handrail_package(tmp_path: Path) -> None:
    source = tmp_path / "src"
    tracked = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in tracked:  # a clean copy, so the build leaves nothing in the checkout
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        origin = ROOT / name
        if origin.is_symlink():
            target.symlink_to(origin.readlink())
        elif origin.is_file():
            shutil.copy2(origin, target)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("handrail-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert tops == {"handrail"}
    assert "handrail/workflows/agent.py" in names
    # No example, no store module, no bundled profile.
    example = re.compile(r"examples/|/store/|/store\.py$|/store_\w+\.(py|toml)$|\.toml$")
    assert [n for n in names if example.search(n)] == []
    assert [n for n in names if n.endswith(".toml")] == []
    assert "handrail/activities/llm.py" in names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    scripts = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "handrail = handrail.cli.main:entry" in scripts
    assert "handrail-worker = handrail.cli.worker:entry" in scripts


def test_no_code_imports_the_top_level_folders_by_their_generic_names() -> None:
    # From the checkout `import workflows` would still work (the repository root is on the
    # path), loading a second copy of AgentWorkflow beside handrail.workflows'.
    offenders = []
    for path in ROOT.glob("**/*.py"):
        if ".venv" in path.parts or "build" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            offenders += [
                f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] in GENERIC
            ]
    assert offenders == []


def test_workflow_code_imports_no_client_telemetry_sdk_or_model_client() -> None:
    # The sandbox re-imports workflow modules for every run: what they import is paid per run,
    # and a client or exporter there would be I/O within reach of deterministic code.
    probe = (
        "import sys, temporalio.workflow\n"
        "before = set(sys.modules)\n"
        "import handrail.workflows.agent\n"
        "print('\\n'.join(sorted(set(sys.modules) - before)))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.split()
    heavy = (
        *(
            "handrail.client.core",
            "handrail.client.connection",
            "handrail.telemetry.core",
            "handrail.testing",
        ),
        *("temporalio.client", "temporalio.worker", "opentelemetry.sdk", "openai", "mcp"),
        *("sqlalchemy", "httpx"),
        # What starts processes: the dev server and its reaper (the stdlib's subprocess comes
        # with asyncio, before this probe starts counting).
        *("handrail.runtime.worker", "handrail.cli", "subprocess"),
    )
    assert [m for m in loaded if m.startswith(heavy)] == []
    assert "handrail.workflows.agent" in loaded


def _module_imports(path: Path) -> set[str]:
    """The handrail modules ``path`` imports when it is imported (module level, passed-through
    workflow imports included; ``TYPE_CHECKING`` and function-level imports are not)."""
    found: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        nodes = ast.walk(node) if isinstance(node, ast.With) else [node]
        for sub in nodes:
            if isinstance(sub, ast.ImportFrom) and sub.level == 0 and sub.module:
                # `from handrail import x`: x may be a module; owner() falls back if it is not.
                found.update(f"{sub.module}.{alias.name}" for alias in sub.names)
            elif isinstance(sub, ast.Import):
                found.update(alias.name for alias in sub.names)
    return {name for name in found if name.startswith("handrail")}


def test_no_import_cycle_among_handrail_modules() -> None:
    package = ROOT / "handrail"
    modules = {}
    for path in package.glob("**/*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path

    def owner(name: str) -> str | None:  # `from handrail.x import y`: y may be a name in x
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph = {
        name: {m for m in map(owner, _module_imports(path)) if m and m != name}
        for name, path in modules.items()
    }

    def related(a: str, b: str) -> bool:  # a package and its own modules may import each other
        return a.startswith(b + ".") or b.startswith(a + ".")

    def cycle_from(start: str) -> list[str] | None:
        stack, seen = [(start, [start])], {start}
        while stack:
            node, trail = stack.pop()
            for nxt in graph.get(node, ()):
                if related(node, nxt):
                    continue
                if nxt == start:
                    return [*trail, start]
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*trail, nxt]))
        return None

    cycles = [c for c in map(cycle_from, sorted(graph)) if c]
    assert cycles == []


STORE_WORDS = re.compile(r"store_support|store_actions|StoreClerk|store_url|store_db")


def test_the_library_names_no_example() -> None:
    # The store is an example built on the public API: the package knows none of its names.
    found = [
        f"{path.relative_to(ROOT)}: {line.strip()}"
        for path in (ROOT / "handrail").rglob("*")
        if path.is_file() and path.suffix in {".py", ".toml", ".html", ".md"}
        for line in path.read_text().splitlines()
        if STORE_WORDS.search(line)
    ]
    assert found == []
