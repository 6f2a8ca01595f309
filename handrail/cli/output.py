"""Printing for the command line: every untrusted string goes through ``printable``."""

from __future__ import annotations

import sys

from handrail.cli.trace_format import format_result, printable
from handrail.contracts import TaskResult
from handrail.errors import ReviewRefusedError
from handrail.settings import HandrailSettings


def print_result(result: TaskResult, settings: HandrailSettings, goal: str | None = None) -> None:
    print("\n".join(format_result(result, settings.ui_url(result.task_id), goal)))


def print_error(prefix: str, error: BaseException) -> None:
    """One line on stderr; an error's message may quote a goal, an answer or a model's output.

    A refused review decision ends with its type as the ``temporal`` CLI prints it, ``(type:
    ReviewUnauthorised, retryable: false)``: a script tells the reasons apart by it, and the
    same decision sent again is refused again.
    """
    line = f"{prefix}: {printable(str(error))}"
    if isinstance(error, ReviewRefusedError) and error.error_type:
        line += f" (type: {printable(error.error_type)}, retryable: false)"
    print(line, file=sys.stderr)
