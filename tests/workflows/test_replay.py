"""Saved histories replay against today's workflow code: a nondeterministic change fails CI."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from handrail.contracts import AgentTask, LoadProfileRequest, Profile, TaskResult
from handrail.names import WORKFLOW_TYPE
from handrail.workflows.agent import AgentWorkflow

HISTORIES = sorted((Path(__file__).parents[1] / "histories").glob("*.json"))


def _load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text())


def test_histories_are_committed() -> None:
    assert {path.stem for path in HISTORIES} >= {
        "pricing_answered",
        "malformed_then_answered",
        "escalated",
        "committed_with_email",
        "rolled_back",
        "review_approved_by_update",
        "review_edited_by_signal",
        "review_rejected_rolled_back",
        "plain_answer_reviewed_rejected",
        "refusals_escalated",
        "declared_tools_committed",
        "commit_failed_rolled_back",
        "edit_outside_scope_ignored",
    }


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_saved_history_replays(path: Path) -> None:
    replayer = Replayer(workflows=[AgentWorkflow], data_converter=pydantic_data_converter)
    await replayer.replay_workflow(_load(path))


@workflow.defn(name=WORKFLOW_TYPE, sandboxed=False)
class _ReorderedAgentWorkflow:
    """A deliberately incompatible change: it skips the recorded decide step."""

    @workflow.run
    async def run(self, task: AgentTask) -> TaskResult:
        await workflow.execute_activity(
            "load_profile",
            LoadProfileRequest(name=task.profile),
            result_type=Profile,
            start_to_close_timeout=timedelta(seconds=10),
        )
        await workflow.execute_activity(
            "lookup_price", {}, start_to_close_timeout=timedelta(seconds=10)
        )
        return TaskResult(task_id="x", status="answered")


async def test_replay_catches_a_nondeterministic_change() -> None:
    replayer = Replayer(workflows=[_ReorderedAgentWorkflow], data_converter=pydantic_data_converter)
    with pytest.raises(NondeterminismError):
        await replayer.replay_workflow(_load(HISTORIES[0]))
