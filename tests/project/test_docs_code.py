"""Every code block of README.md and docs/*.md runs or is checked here, so the docs cannot drift
from the code (issue 20: a newcomer followed them and they did not work).

- Python blocks run (one with a top-level ``await`` beside a worker of the store example on the
  test's dev server, with the settings in the environment, as a reader's shell has them);
  markers for the few that cannot run alone are in ``tests/docs_blocks.py``.
- TOML blocks parse; a profile, or an excerpt of one laid over the store example's
  ``store_actions``, loads through the real profile catalog; a ``pyproject.toml`` block is the
  project's own pytest settings, and a project with only those settings runs the testing kit's
  fixtures.
- JSON blocks parse; an export record has the export's keys.
- Shell blocks: each command is judged by its program's own parser without running it
  (``starter.py``/``handrail``/``worker.py``), by the ``temporal`` binary's ``--help``, or by
  the options its module declares; paths, extras and ``HANDRAIL_*`` names must exist.
"""

from __future__ import annotations

import ast
import inspect
import json
import os
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path
from typing import Any

import pytest
import tomlkit
from temporalio.worker import Worker

import handrail
from handrail.profiles.catalog import ProfileCatalog
from handrail.reports.export import KEYS as EXPORT_KEYS
from handrail.settings import HandrailSettings
from handrail.testing.scripted_model import ScriptedModelServer
from tests.conftest import TEST_API_KEY
from tests.docs_blocks import (
    PAGES,
    ROOT,
    Block,
    blocks,
    chain,
    commands,
    merged,
    python_source,
)
from tests.docs_blocks import of_language as of
from tests.docs_commands import problems

STORE_PROFILES = ROOT / "examples" / "store" / "profiles"
LANGUAGES = {"python", "toml", "json", "bash", "console", "text"}  # text: output and diagrams
MARKERS = {"", "agent", "quote", "continues", "signature", "not run"}
MAX_NOT_RUN = 3


def _id(block: Block) -> str:
    return block.id


def _compiled(block: Block) -> Any:
    source = python_source(block)
    return compile(source, block.page, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


def _awaits(block: Block) -> bool:
    try:
        return any(bool(_compiled(p).co_flags & inspect.CO_COROUTINE) for p in chain(block))
    except SyntaxError:  # its test reports it; collecting the others goes on
        return False


async def _run(block: Block) -> None:
    namespace: dict[str, Any] = {"__name__": "docs_block"}
    for part in chain(block):
        result = eval(_compiled(part), namespace)  # the block's code, as a reader runs it
        if inspect.iscoroutine(result):
            await result


def _reader_environment(monkeypatch: pytest.MonkeyPatch, **settings: str) -> None:
    for name in list(os.environ):
        if name.startswith(("HANDRAIL_", "OPENAI_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("OPENAI_API_KEY", TEST_API_KEY)
    for name, value in settings.items():
        monkeypatch.setenv(name, value)


RUNNABLE = [b for b in of("python") if b.marker in ("", "continues")]
WITH_TEMPORAL = [b for b in RUNNABLE if _awaits(b)]


@pytest.mark.parametrize("block", [b for b in RUNNABLE if b not in WITH_TEMPORAL], ids=_id)
async def test_a_python_block_runs(
    block: Block, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _reader_environment(monkeypatch)
    monkeypatch.chdir(tmp_path)
    await _run(block)


@pytest.mark.parametrize("block", WITH_TEMPORAL, ids=_id)
async def test_a_python_block_runs_against_a_worker(
    block: Block,
    worker: Worker,
    settings: HandrailSettings,
    model_server: ScriptedModelServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    _reader_environment(
        monkeypatch,
        HANDRAIL_TEMPORAL_ADDRESS=settings.temporal_address,
        HANDRAIL_TASK_QUEUE=settings.task_queue,
        HANDRAIL_EMBEDDED_SERVER="false",
        HANDRAIL_DATA_DIR=str(settings.data_dir),
        OPENAI_BASE_URL=model_server.base_url,
        # A reader in the checkout, whose worker hosts the store example (README).
        HANDRAIL_APP="examples.store.app:STORE_APP",
    )
    monkeypatch.chdir(tmp_path)
    await _run(block)


@pytest.mark.parametrize("block", [b for b in of("python") if b.marker == "signature"], ids=_id)
def test_a_signature_block_names_real_parameters(block: Block) -> None:
    function = getattr(handrail, block.argument)
    parameters = inspect.signature(function).parameters
    calls = [n for n in ast.walk(ast.parse(block.body)) if isinstance(n, ast.Call)]
    named = [c for c in calls if getattr(c.func, "id", None) == block.argument]
    shown = [keyword.arg for c in named for keyword in c.keywords]
    assert shown, f"{block.id} shows no call of {block.argument}"
    assert [name for name in shown if name not in parameters] == []


def test_every_block_is_checked_one_way_or_another() -> None:
    found = blocks()
    assert len(found) > 40, "the docs lost their blocks, or the parser lost them"
    assert {b.id: b.language for b in found if b.language not in LANGUAGES} == {}
    assert {b.id: b.marker for b in found if b.marker not in MARKERS} == {}
    not_run = [f"{b.id}: {b.argument}" for b in found if b.marker == "not run"]
    assert all(reason.split(": ", 1)[1] for reason in not_run), "say why a block is not run"
    assert len(not_run) <= MAX_NOT_RUN, not_run
    quoted = [b for b in found if b.marker in ("agent", "quote")]
    assert all((ROOT / b.argument).is_file() for b in quoted)


# --- TOML and JSON ----------------------------------------------------------------------------


def _is_pyproject(data: dict[str, Any]) -> bool:
    return bool({"tool", "project", "build-system"} & set(data))


@pytest.mark.parametrize("block", of("toml"), ids=_id)
def test_a_toml_block_parses_and_a_profile_loads(block: Block, tmp_path: Path) -> None:
    data = tomllib.loads(block.body)
    if _is_pyproject(data):
        ours = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]
        shown = data["tool"]["pytest"]["ini_options"]
        assert {k: ours["ini_options"].get(k) for k in shown} == shown
        return
    if "name" not in data:  # an excerpt: laid over a whole profile that has those tools
        data = merged(tomllib.loads((STORE_PROFILES / "store_actions.toml").read_text()), data)
    (tmp_path / f"{data['name']}.toml").write_text(tomlkit.dumps(data))
    ProfileCatalog([tmp_path]).load(data["name"])


PYPROJECT_BLOCKS = [b for b in of("toml") if _is_pyproject(tomllib.loads(b.body))]


def test_the_documented_pytest_settings_run_the_fixtures(tmp_path: Path) -> None:
    """A project with only the documented settings and conftest line runs two tests on the
    kit's dev server. (Without ``asyncio_mode`` neither would run; with the fixture loop scope
    unset, pytest-asyncio's warning fails the run under ``filterwarnings``.)"""
    assert len(PYPROJECT_BLOCKS) == 1
    (tmp_path / "pyproject.toml").write_text(PYPROJECT_BLOCKS[0].body)
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "conftest.py").write_text('pytest_plugins = ["handrail.testing.fixtures"]\n')
    one_test = textwrap.dedent(
        """
        async def test_{n}(handrail_client):
            assert await handrail_client.count_workflows() is not None
        """
    )
    (tests / "test_kit.py").write_text(one_test.format(n=1) + one_test.format(n=2))
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if not k.startswith("PYTEST")},
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 passed" in run.stdout


@pytest.mark.parametrize("block", of("json"), ids=_id)
def test_a_json_block_parses(block: Block) -> None:
    data = json.loads(block.body)
    if isinstance(data, dict) and data.get("schema") == "handrail.decision/1":
        assert set(data) <= set(EXPORT_KEYS)
        assert set(EXPORT_KEYS) - set(data) <= {"context"}  # present only when a task had one


# --- shell blocks and paths -------------------------------------------------------------------


@pytest.mark.parametrize("block", of("bash", "console"), ids=_id)
def test_a_shell_block_uses_commands_and_options_that_exist(block: Block) -> None:
    found = [problem for words in commands(block.body) for problem in problems(words)]
    assert found == []


@pytest.mark.parametrize(
    "command",
    [
        ".venv/bin/python starter.py review TASK approve --by alice",
        "python starter.py nothing",
        "python worker.py --queue x",
        "temporal workflow start --type AgentWorkflow --queue q",
        "temporal workflo list",
        "python -m tests.reliability_load --unsafe-mode idempotency",
        "python -m benchmarks.nothing",
        ".venv/bin/pip install -e '.[devx]'",
        ".venv/bin/python -m pytest tests/test_nothing.py",
        "HANDRAIL_TEMPORAL_ADRESS=127.0.0.1:7233 python starter.py trace t",
        "export HANDRAIL_REVIEWERS='{}'",
        "frobnicate --all",
    ],
)
def test_a_command_a_reader_would_trip_over_is_caught(command: str) -> None:
    assert [problem for words in commands(command) for problem in problems(words)]


_REPO_PATH = re.compile(
    r"`((?:handrail|workflows|activities|tests|examples|docs|benchmarks|deploy)/[^`\s]*?"
    r"(?:\.(?:py|md|toml|json|yml|yaml|html|env)|/))`"
)


def test_the_files_the_docs_name_exist() -> None:
    missing = []
    for page in PAGES:
        for path in _REPO_PATH.findall(page.read_text(encoding="utf-8")):
            if not any(ROOT.glob(path.rstrip("/"))):
                missing.append(f"{page.name}: {path}")
    assert missing == []
