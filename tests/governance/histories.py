"""Saved histories of governed foreign workflows (``tests/histories/governed/``), replayed in CI
by ``test_governed_replay.py`` so that a change to the governor cannot break a framework's
running task unnoticed. A test records its run's history with :func:`keep` when
``HANDRAIL_RECORD_HISTORIES=1`` (``HANDRAIL_RECORD_HISTORIES=1 pytest tests/governance``);
otherwise it writes nothing."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHandle

GOVERNED_HISTORIES = Path(__file__).parents[1] / "histories" / "governed"


async def keep(name: str, handle: WorkflowHandle[Any, Any]) -> None:
    """Save ``handle``'s history as ``name`` when recording is asked for."""
    if os.environ.get("HANDRAIL_RECORD_HISTORIES") != "1":
        return
    GOVERNED_HISTORIES.mkdir(parents=True, exist_ok=True)
    history = await handle.fetch_history()
    (GOVERNED_HISTORIES / f"{name}.json").write_text(history.to_json())
