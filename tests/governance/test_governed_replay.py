"""Saved histories of workflows that host a governor replay against today's code."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from tests.governance.histories import GOVERNED_HISTORIES
from tests.governance.scripted_host import ScriptedGovernedAgent

HISTORIES = sorted(GOVERNED_HISTORIES.glob("scripted_*.json"))


def test_the_scripted_host_has_saved_histories() -> None:
    assert {path.stem for path in HISTORIES} >= {"scripted_approved", "scripted_rejected"}


def _load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text())


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_a_saved_governed_history_replays(path: Path) -> None:
    replayer = Replayer(workflows=[ScriptedGovernedAgent], data_converter=pydantic_data_converter)
    await replayer.replay_workflow(_load(path))
