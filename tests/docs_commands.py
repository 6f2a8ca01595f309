"""Judging a documented shell command without running it: ``problems(words)`` says what a
reader who typed it would trip over (an unknown subcommand or option, a missing file, a setting
that does not exist), or nothing.

- ``starter.py``, ``handrail`` and ``worker.py``: parsed by their real argument parsers;
- ``python -m MODULE``: the module exists and declares each ``--option`` used (its source is
  read, not run: some of those modules start long runs, with or without ``--help``);
- ``temporal ...``: the subcommand's ``--help`` (or ``temporal options``) lists each option;
- ``pip install -e '.[extra]'``: the extras exist; ruff, mypy and pytest: the paths exist;
- ``HANDRAIL_*=...`` (alone, before a command, or exported): a setting ``HandrailSettings``
  reads.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib.util
import io
import re
import subprocess
import tomllib
from collections.abc import Callable
from pathlib import Path

from pydantic import AliasChoices

from examples.store.app import STORE_APP
from handrail.cli.main import build_parser
from handrail.cli.worker import build_parser as worker_parser
from handrail.runtime.devserver import find_temporal_binary
from handrail.settings import HandrailSettings
from tests.docs_blocks import ROOT, flags

OTHER_PROGRAMS = {"docker", "curl", "tcld", "sqlite3", "git", "tar", "grep", "cp", "cd", "for"}
"""Not this project's programs (or shell syntax): their manuals judge them, not this test."""


def starter_parser() -> argparse.ArgumentParser:
    """The checkout's ``starter.py``: Handrail's CLI hosting the store example (its ``demo``)."""
    return build_parser(STORE_APP)


_ASSIGNMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=")
_PYTHONS = {"python", "python3"}


def problems(words: list[str]) -> list[str]:
    program, args = words[0], words[1:]
    name = Path(program).name
    assigned = _ASSIGNMENT.match(program)
    if assigned:
        return _setting_problems(assigned.group(1))
    checks: dict[str, Callable[[list[str]], list[str]]] = {
        "handrail": functools.partial(_parse_problems, starter_parser),
        "temporal": _temporal_problems,
        "pip": _pip_problems,
        "ruff": _path_problems,
        "mypy": _path_problems,
        "pytest": _path_problems,
        "export": lambda rest: [p for word in rest for p in problems([word])],
        **dict.fromkeys(_PYTHONS, _python_problems),
    }
    if name in checks:
        return checks[name](args)
    if name in OTHER_PROGRAMS:
        return []
    return [f"{program!r}: no check for this program (add one to tests/docs_commands.py)"]


def _python_problems(args: list[str]) -> list[str]:
    if args[:1] == ["-m"]:
        return _module_problems(args[1], args[2:])
    scripts = {"starter.py": starter_parser, "worker.py": worker_parser}
    if args and args[0] in scripts:
        return _parse_problems(scripts[args[0]], args[1:])
    return [f"python {' '.join(args)}: no check for this script"]


def _parse_problems(parser: Callable[[], argparse.ArgumentParser], argv: list[str]) -> list[str]:
    said = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(said):
        try:
            parser().parse_args(argv)
        except SystemExit as exit_:
            if exit_.code not in (0, None):
                return [f"{' '.join(argv)}: {said.getvalue().strip()}"]
    return []


def _module_problems(module: str, args: list[str]) -> list[str]:
    if module == "pytest":
        return _path_problems(args)
    if module == "venv":
        return []
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return [f"no module {module}"]
    origin = Path(spec.origin)
    source = (origin.parent / "__main__.py" if origin.name == "__init__.py" else origin).read_text()
    return [f"{module} has no option {flag}" for flag in flags(args) if f'"{flag}"' not in source]


@functools.cache
def _temporal(*argv: str) -> str:
    """What the ``temporal`` binary prints for ``argv``, or "" if it refuses them."""
    run = subprocess.run(
        [str(find_temporal_binary()), *argv], capture_output=True, text=True, timeout=30
    )
    return run.stdout if run.returncode == 0 else ""


def _temporal_problems(args: list[str]) -> list[str]:
    subcommand = tuple(args[: _first_option(args)])
    shown = _temporal(*subcommand, "--help")
    if f"temporal {' '.join(subcommand)} [flags]" not in shown:  # else the root's help
        return [f"temporal {' '.join(subcommand)}: no such command"]
    shown += _temporal("options")  # the global and connection options every command takes
    return [f"temporal {' '.join(subcommand)}: no {f}" for f in flags(args) if f not in shown]


def _first_option(args: list[str]) -> int:
    return next((i for i, word in enumerate(args) if word.startswith("-")), len(args))


def _pip_problems(args: list[str]) -> list[str]:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    known = set(extras["optional-dependencies"])
    found = []
    for word in args:
        wanted = re.fullmatch(r"\.\[([\w,]+)\]", word)
        if wanted:
            found += [f"no extra {e!r}" for e in wanted.group(1).split(",") if e not in known]
    return found


def _path_problems(args: list[str]) -> list[str]:
    named = [w for w in args if not w.startswith("-") and ("/" in w or w.endswith(".py"))]
    return [f"no file {path}" for path in named if not (ROOT / path).exists()]


@functools.cache
def _setting_names() -> frozenset[str]:
    names = set()
    for field_name, field in HandrailSettings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names |= {str(choice) for choice in alias.choices}
        else:
            names.add(f"HANDRAIL_{field_name.upper()}")
    return frozenset(names)


def _setting_problems(variable: str) -> list[str]:
    if not variable.startswith("HANDRAIL_") or variable in _setting_names():
        return []
    return [f"{variable} is no setting of HandrailSettings"]
