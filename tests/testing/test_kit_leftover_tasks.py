"""Tasks a test leaves waiting on a shared server: ``agent_worker`` ends those it started when
its block exits (a reason naming the kit), unless told to leave them; and ``handrail pending``
says in one line what it cannot list because no worker answers for it, not an error per task.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle

from handrail.client.core import HandrailClient
from handrail.contracts import PendingReview
from handrail.testing import FunctionModel, Scenario, ToolCallReply, agent_worker
from handrail.testing.kit import LEFT_RUNNING_REASON

# A final answer below 0.95 waits for a person.
PROFILE = """
name = "careful"
system_prompt = "Answer."
tools = []

[final_answer]
min_confidence = 0.95

[[review_tiers]]
name = "desk"
reviewers = ["dana"]
deadline = "P1D"
"""


def _unsure(answer: str) -> ToolCallReply:
    return ToolCallReply("final_answer", {"answer": answer, "rationale": "r", "confidence": 0.5})


def _sure(answer: str) -> ToolCallReply:
    return ToolCallReply("final_answer", {"answer": answer, "rationale": "r", "confidence": 0.99})


def _sure_to_finish(request: dict[str, Any]) -> ToolCallReply:
    """Sure of the task whose goal says Finish, unsure of any other."""
    return _sure("done") if "Finish" in json.dumps(request["messages"]) else _unsure("maybe")


def _profiles(tmp_path: Path) -> Path:
    folder = tmp_path / "profiles"
    folder.mkdir(exist_ok=True)
    (folder / "careful.toml").write_text(PROFILE)
    return folder


async def _pending(handrail: HandrailClient, task_id: str) -> PendingReview:
    for _ in range(200):
        pending = (await handrail.get_trace(task_id)).pending_review
        if pending is not None:
            return pending
        await asyncio.sleep(0.05)
    raise AssertionError(f"{task_id} never asked for a review")


async def _termination_reason(handle: WorkflowHandle[object, object]) -> str | None:
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
            return event.workflow_execution_terminated_event_attributes.reason
    return None


async def test_agent_worker_ends_the_tasks_it_left_running(client: Client, tmp_path: Path) -> None:
    model = FunctionModel(_sure_to_finish)
    async with agent_worker(
        client, tmp_path, tools=[], model=model, profiles=[_profiles(tmp_path)]
    ) as handrail:
        finished = await handrail.start_task({"goal": "Finish", "profile": "careful"})
        assert (await handrail.get_result(finished.id)).status == "answered"
        waiting = await handrail.start_task({"goal": "Wait", "profile": "careful"})
        await _pending(handrail, waiting.id)

    ended = client.get_workflow_handle(waiting.id)
    assert (await ended.describe()).status == WorkflowExecutionStatus.TERMINATED
    assert await _termination_reason(ended) == LEFT_RUNNING_REASON
    # What had ended by itself is left as it was.
    done = await client.get_workflow_handle(finished.id).describe()
    assert done.status == WorkflowExecutionStatus.COMPLETED


async def test_agent_worker_can_leave_its_tasks_running(client: Client, tmp_path: Path) -> None:
    model = FunctionModel(Scenario([_unsure("maybe")]))
    async with agent_worker(
        client,
        tmp_path,
        tools=[],
        model=model,
        profiles=[_profiles(tmp_path)],
        leave_tasks_running=True,
    ) as handrail:
        waiting = await handrail.start_task({"goal": "Wait", "profile": "careful"})
        await _pending(handrail, waiting.id)

    kept = client.get_workflow_handle(waiting.id)
    assert (await kept.describe()).status == WorkflowExecutionStatus.RUNNING
    await kept.terminate(reason="test over")


async def _handrail_cli(*args: str, address: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HANDRAIL_", "OPENAI_"))}
    env |= {"HANDRAIL_TEMPORAL_ADDRESS": address, "HANDRAIL_EMBEDDED_SERVER": "false"}
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "handrail"),
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_pending_says_once_what_no_worker_answers_for(
    client: Client, tmp_path: Path, temporal_address: str
) -> None:
    """Two tasks waiting on a queue whose worker has just stopped (the server still lists it as
    polling for a minute, so each trace query waits in vain)."""
    model = FunctionModel(Scenario([_unsure("one"), _unsure("two")]))
    async with agent_worker(
        client,
        tmp_path,
        tools=[],
        model=model,
        profiles=[_profiles(tmp_path)],
        leave_tasks_running=True,
    ) as handrail:
        queue = handrail.settings.task_queue
        left = [await handrail.start_task({"goal": g, "profile": "careful"}) for g in "ab"]
        for handle in left:
            await _pending(handrail, handle.id)
    try:
        code, out, err = await _handrail_cli("pending", address=temporal_address)
        assert code == 0, err
        assert "cannot list a pending review" not in err
        [line] = [line for line in err.splitlines() if line.startswith("not listed:")]
        assert f"{queue} (2)" in line
        assert all(handle.id not in out for handle in left)

        code, out, err = await _handrail_cli("pending", "--json", address=temporal_address)
        assert code == 0, err
        assert all(row["task_id"] not in {h.id for h in left} for row in json.loads(out))
        assert f"{queue} (2)" in err
    finally:
        for handle in left:
            await client.get_workflow_handle(handle.id).terminate(reason="test over")
