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


def test_each_host_has_saved_histories() -> None:
    saved = {path.stem for path in GOVERNED_HISTORIES.glob("*.json")}
    assert saved >= {
        "scripted_approved",
        "scripted_rejected",
        "openai_agents_approved",
        "pydantic_ai_approved",
    }


def _load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text())


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_a_saved_governed_history_replays(path: Path) -> None:
    replayer = Replayer(workflows=[ScriptedGovernedAgent], data_converter=pydantic_data_converter)
    await replayer.replay_workflow(_load(path))


async def test_the_openai_agents_sdk_agents_history_replays() -> None:
    from temporalio.contrib.openai_agents import OpenAIAgentsPlugin

    from examples.openai_agents_store.workflow import StoreAgentWorkflow

    # The plugin's workflow side: its converter and sandbox rules (no model is called).
    replayer = Replayer(workflows=[StoreAgentWorkflow], plugins=[OpenAIAgentsPlugin()])
    await replayer.replay_workflow(_load(GOVERNED_HISTORIES / "openai_agents_approved.json"))


async def test_the_pydantic_ai_agents_history_replays() -> None:
    from pydantic_ai.durable_exec.temporal import PydanticAIPlugin

    from examples.pydantic_ai_store.agent import PydanticAIStoreAgent

    replayer = Replayer(workflows=[PydanticAIStoreAgent], plugins=[PydanticAIPlugin()])
    await replayer.replay_workflow(_load(GOVERNED_HISTORIES / "pydantic_ai_approved.json"))
