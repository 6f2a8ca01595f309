"""The project's own promises about itself: the README's two set-up commands, and CI running
the same test command a newcomer copies."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _setup_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    return [line for line in readme.splitlines() if line.startswith("python3 -m venv .venv")]


def test_readme_has_exactly_two_setup_commands() -> None:
    commands = _setup_commands()
    assert len(commands) == 2, commands
    demo, tests = commands
    assert demo.endswith("starter.py demo")
    assert re.search(r"pip install -e '\.\[dev\]' && .* -m pytest$", tests)


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert _setup_commands()[1] in ci.splitlines()


def test_starter_help_lists_every_command() -> None:
    shown = subprocess.run(
        [sys.executable, str(ROOT / "starter.py"), "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    for command in ("demo", "start", "result", "trace", "server"):
        assert command in shown.stdout
