"""Saved histories of governed foreign workflows (``tests/histories/governed/``), replayed in CI
by ``test_governed_replay.py`` so that a change to the governor cannot break a framework's
running task unnoticed. Tests record them with ``handrail.testing.histories.keep_history``
(``HANDRAIL_RECORD_HISTORIES=1 pytest tests/governance examples/openai_agents_store
examples/pydantic_ai_store``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHandle

from handrail.testing.histories import keep_history

GOVERNED_HISTORIES = Path(__file__).parents[1] / "histories" / "governed"


async def keep(name: str, handle: WorkflowHandle[Any, Any]) -> None:
    await keep_history(handle, GOVERNED_HISTORIES, name)
