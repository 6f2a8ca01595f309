"""Printing for the command line: every untrusted string goes through ``printable``."""

from __future__ import annotations

import sys

from handrail.cli.trace_format import format_result, printable
from handrail.contracts import TaskResult
from handrail.settings import HandrailSettings


def print_result(result: TaskResult, settings: HandrailSettings, goal: str | None = None) -> None:
    print("\n".join(format_result(result, settings.ui_url(result.task_id), goal)))


def print_error(prefix: str, error: BaseException) -> None:
    """One line on stderr; an error's message may quote a goal, an answer or a model's output."""
    print(f"{prefix}: {printable(str(error))}", file=sys.stderr)
