"""Recording the histories a project replays in CI (``handrail.testing.histories``).

A test that runs a scenario worth replaying later calls :func:`keep_history` with its
workflow's handle; it writes the history only when ``HANDRAIL_RECORD_HISTORIES=1`` (a
deliberate recording run, e.g. ``HANDRAIL_RECORD_HISTORIES=1 pytest tests/governance``) and does
nothing otherwise. A replay test then runs each saved history through
``temporalio.worker.Replayer`` with today's workflow code: a change that alters a recorded
run's commands fails CI instead of a running task.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHandle

RECORD_VARIABLE = "HANDRAIL_RECORD_HISTORIES"


async def keep_history(handle: WorkflowHandle[Any, Any], folder: Path, name: str) -> Path | None:
    """Save ``handle``'s history as ``folder/name.json`` when recording is asked for; the
    path written, or None."""
    if os.environ.get(RECORD_VARIABLE) != "1":
        return None
    history = await handle.fetch_history()
    return _write(folder / f"{name}.json", history.to_json())


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
