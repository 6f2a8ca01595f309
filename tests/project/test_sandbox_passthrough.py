"""The plugin passes Handrail's workflow module through the sandbox (a memory and CPU lever for
many paused tasks, docs/benchmarks.md): every saved history still replays through that sandbox,
a new instance runs the module's code once for the process rather than once per instance, and
a runner that is no sandbox is left as the team set it."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

import handrail.workflows.agent
from handrail.plugin import PASSED_THROUGH_WORKFLOW_MODULES, pass_workflow_modules_through
from handrail.workflows.agent import AgentWorkflow

HISTORIES = sorted((Path(__file__).parents[1] / "histories").glob("*.json"))


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_saved_history_replays_with_the_module_passed_through(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())  # noqa: ASYNC240  # tiny file
    replayer = Replayer(
        workflows=[AgentWorkflow],
        data_converter=pydantic_data_converter,
        workflow_runner=pass_workflow_modules_through(None),
    )
    await replayer.replay_workflow(history)


async def test_replayed_instances_use_the_one_imported_module() -> None:
    """Passed through, the class a replayed instance runs is this process's own: the module was
    not executed again for it (in the SDK's default sandbox it would be a fresh copy)."""
    history = WorkflowHistory.from_json("h", HISTORIES[0].read_text())
    seen: list[type] = []
    original = AgentWorkflow.__init__

    @functools.wraps(original)  # keeps the SDK's @workflow.init mark: it passes the task
    def spy(self: AgentWorkflow, *args: Any, **kwargs: Any) -> None:
        seen.append(type(self))
        original(self, *args, **kwargs)

    AgentWorkflow.__init__ = spy  # type: ignore[method-assign]  # restored below
    try:
        replayer = Replayer(
            workflows=[AgentWorkflow],
            data_converter=pydantic_data_converter,
            workflow_runner=pass_workflow_modules_through(None),
        )
        await replayer.replay_workflow(history)
    finally:
        AgentWorkflow.__init__ = original  # type: ignore[method-assign]
    assert seen == [handrail.workflows.agent.AgentWorkflow]


def test_a_team_sandbox_keeps_its_own_restrictions() -> None:
    theirs = SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules("their_module")
    )
    runner = pass_workflow_modules_through(theirs)
    assert isinstance(runner, SandboxedWorkflowRunner)
    passed = runner.restrictions.passthrough_modules
    assert {"their_module", *PASSED_THROUGH_WORKFLOW_MODULES} <= passed


def test_a_runner_that_is_no_sandbox_is_left_alone() -> None:
    unsandboxed = UnsandboxedWorkflowRunner()
    assert pass_workflow_modules_through(unsandboxed) is unsandboxed
