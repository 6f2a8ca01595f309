"""Never a silent truncation, never an endless retry: a step too big for history fails clearly
(or is told to the model), and a worker that cannot see a task's whole conversation fails the
task naming it instead of deciding on a fragment."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from temporalio.client import Client

from examples.store.database import create_store
from examples.store.settings import store_db_path
from examples.store.worker import running_worker
from handrail import ToolContext, UndoContext, compensation, tool
from handrail.errors import TaskFailedError
from handrail.names import MAX_STEP_PAYLOAD_BYTES, OMITTED_STEPS_NOTE
from handrail.settings import HandrailSettings
from handrail.testing import FunctionModel, Scenario, ToolCallReply, agent_worker
from handrail.testing.scripted_model import ScriptedModelServer
from handrail.tools import Tool
from tests.review_helpers import PROFILE, WHY, answer, refund, wait_for_pending

BIG = "x" * (MAX_STEP_PAYLOAD_BYTES + 10)


class Nothing(BaseModel):
    pass


def _tools(effects: list[str]) -> tuple[list[Tool], Any]:
    @tool(read_only=True)
    async def dump(args: Nothing, ctx: ToolContext) -> dict[str, Any]:
        """Return a huge result."""
        return {"data": BIG}

    @tool(compensated_by="undo_write")
    async def write(args: Nothing, ctx: ToolContext) -> dict[str, Any]:
        """Change something, then return a huge result."""
        effects.append(ctx.idempotency_key)
        return {"data": BIG}

    @compensation(undoes="write")
    async def undo_write(ctx: UndoContext) -> bool:
        """Undo the write by its key."""
        if ctx.idempotency_key in effects:
            effects.remove(ctx.idempotency_key)
            return True
        return False

    return [dump, write], undo_write


def _profile(folder: Path) -> Path:
    folder.mkdir()
    (folder / "big.toml").write_text(
        'name = "big"\nmodel = "m"\nsystem_prompt = "s"\ntools = ["dump", "write"]\n'
        '[rules.write]\nautonomy = "autonomous"\n'
    )
    return folder


async def test_oversized_results_and_replies_fail_the_step_clearly(
    client: Client, tmp_path: Path
) -> None:
    effects: list[str] = []
    tools, undo = _tools(effects)
    call = {**WHY}
    model = FunctionModel(
        Scenario(
            [
                ToolCallReply("final_answer", {"answer": BIG, **WHY}),  # a reply too big
                ToolCallReply("dump", call),  # a read-only result too big
                ToolCallReply("write", call),  # an effect whose result is too big
            ]
        )
    )
    async with agent_worker(
        client,
        tmp_path / "data",
        tools=tools,
        compensations=[undo],
        model=model,
        profiles=[_profile(tmp_path / "profiles")],
    ) as handrail:
        handle = await handrail.start_task({"goal": "Be big", "profile": "big"})
        try:
            await handrail.get_result(handle.id)
            failure = ""
        except TaskFailedError as error:
            failure = str(error)
        trace = await handrail.get_trace(handle.id)

    first, second = trace.steps[0], trace.steps[1]
    assert first.decision.kind == "invalid"
    assert "above the 1,048,576 a step may carry" in (first.decision.problem or "")
    assert second.outcome is not None
    assert not second.outcome.ok
    assert "ask for less" in (second.outcome.error or "")
    assert "PayloadTooLarge" in failure or "took effect but returned" in failure
    assert [c.status for c in trace.compensations] == ["undone"]  # rolled back, not retried
    assert effects == []


async def test_a_worker_without_the_conversation_fails_the_task_naming_it(
    client: Client, settings: HandrailSettings, model_server: ScriptedModelServer
) -> None:
    # Two worker hosts on one task queue, each with its own data folder (no shared state):
    # the second must not decide on the fragment it can see.
    first_host = settings
    second_host = settings.model_copy(update={"data_dir": settings.data_dir.parent / "other"})
    for host in (first_host, second_host):
        create_store(store_db_path(host))
    model_server.brain = Scenario([refund(1003, "80.00"), answer("Refunded")])
    async with running_worker(client, first_host):
        from handrail.client.core import HandrailClient

        handrail = HandrailClient(client, first_host)
        handle = await handrail.start_task({"goal": "Refund order 1003", "profile": PROFILE})
        await wait_for_pending(handrail, handle.id)
    async with running_worker(client, second_host):
        await handrail.review(handle.id, {"reviewer": "alice", "step": 1, "verdict": "approve"})
        try:
            await handrail.get_result(handle.id)
            failure = ""
        except TaskFailedError as error:
            failure = str(error)

    assert "is incomplete in Handrail's state store" in failure
    assert f"{handle.id}/" in failure  # names the task's conversation
    assert "at step 2" in failure
    with sqlite3.connect(store_db_path(second_host)) as db:  # the refund ran on the second host
        assert db.execute("SELECT COUNT(*) FROM refunds").fetchone() == (0,)  # and was undone


async def test_the_model_sees_a_window_of_the_newest_steps(
    client: Client, settings: HandrailSettings, model_server: ScriptedModelServer
) -> None:
    narrow = settings.model_copy(update={"context_steps": 2})
    create_store(store_db_path(narrow))
    lookup = ToolCallReply("get_order", {"order_id": 1001, **WHY})
    model_server.brain = Scenario([lookup] * 4 + [answer("Order 1001 is shipped.")])
    async with running_worker(client, narrow):
        from handrail.client.core import HandrailClient

        handrail = HandrailClient(client, narrow)
        handle = await handrail.start_task({"goal": "Order 1001?", "profile": PROFILE})
        result = await handrail.get_result(handle.id)
        trace = await handrail.get_trace(handle.id)

    assert result.status == "answered", trace.error
    last = [r for r in model_server.requests if r["messages"][1]["content"] == "Order 1001?"][-1]
    roles = [m["role"] for m in last["messages"]]
    # system, goal, the omission note, then two whole steps: each reply with its tool answer
    assert roles == ["system", "user", "user", "assistant", "tool", "assistant", "tool"]
    assert last["messages"][2]["content"] == OMITTED_STEPS_NOTE.format(count=2)
    calls = {m["tool_calls"][0]["id"] for m in last["messages"] if m["role"] == "assistant"}
    assert {m["tool_call_id"] for m in last["messages"] if m["role"] == "tool"} == calls
