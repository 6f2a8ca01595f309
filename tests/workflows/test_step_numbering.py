"""One step numbering, from 1, everywhere a person or a caller sees it: the trace, the result,
the compensations, ``pending``, reviews and the inbox. Results and continuations recorded
before (steps under ``index``, from 0) read as numbered from 1."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from examples.store.database import create_store
from examples.store.settings import store_db_path
from handrail.client.core import HandrailClient
from handrail.contracts import Continuation, RunRecord, TaskResult
from handrail.settings import HandrailSettings
from handrail.testing.scripted_model import Scenario, ScriptedModelServer
from tests.review_helpers import PROFILE, answer, discount, refund, wait_for_pending

HISTORIES = sorted((Path(__file__).parents[1] / "histories").glob("*.json"))


def _recorded_result(path: Path) -> dict[str, Any] | None:
    """The workflow result a saved history recorded, as the JSON it was written in."""
    for event in json.loads(path.read_text())["events"]:
        completed = event.get("workflowExecutionCompletedEventAttributes")
        if completed:
            payload = completed["result"]["payloads"][0]
            data: dict[str, Any] = json.loads(base64.b64decode(payload["data"]))
            return data
    return None


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
def test_a_recorded_result_reads_numbered_from_one(path: Path) -> None:
    data = _recorded_result(path)
    if data is None:
        pytest.skip("this history did not complete (it failed or continued as new)")
    # Histories recorded before the numbering from 1 wrote ``index`` (from 0); newer ones ``step``.
    shift = 1 if all("index" in step for step in data["steps"]) else 0
    result = TaskResult.model_validate(data)
    first = data["earlier_steps"] + 1 if "earlier_steps" in data else 1
    assert [s.step for s in result.steps] == list(range(first, first + len(result.steps)))
    # A compensation names the step whose action it undid, in the same numbering.
    acted = {s.step for s in result.steps if s.outcome is not None and s.outcome.ok}
    assert {c.step for c in result.compensations} <= acted
    assert [c.step for c in result.compensations] == [
        c["step"] + shift for c in data.get("compensations", [])
    ]
    # Written again, it is in the new numbering and reads back the same.
    again = TaskResult.model_validate_json(result.model_dump_json())
    assert [s.step for s in again.steps] == [s.step for s in result.steps]
    assert [c.step for c in again.compensations] == [c.step for c in result.compensations]


def _legacy_step(index: int) -> dict[str, Any]:
    return {
        "index": index,
        "started_at": "2026-11-24T08:00:00Z",
        "decision": {"kind": "tool_call", "tool": "apply_discount", "arguments": {}},
        "outcome": {"ok": True},
    }


def test_a_continuation_and_a_ledger_record_written_before_read_numbered_from_one() -> None:
    pending = {"step": 3, "tool": "apply_discount", "compensation": "revoke_discount"}
    continuation = Continuation.model_validate(
        {
            "profile": {"name": "p", "model": "m", "system_prompt": "s"},
            "next_step": 4,
            "recent_steps": [_legacy_step(2), _legacy_step(3)],
            "saga": [{**pending, "idempotency_key": "t/r/3"}],
            "compensations": [],
            "deferred": [{"record": _legacy_step(3)}],
        }
    )
    assert [s.step for s in continuation.recent_steps] == [3, 4]
    assert [p.step for p in continuation.saga] == [4]  # the step it undoes, as the trace shows
    assert continuation.deferred[0].record.step == 4
    undone = {
        **pending,
        "idempotency_key": "t/r/3",
        "status": "undone",
        "at": "2026-11-24T08:01:00Z",
    }
    record = RunRecord.model_validate(
        {
            "task_id": "t",
            "goal": "g",
            "profile": "p",
            "status": "failed",
            "steps": [_legacy_step(0), _legacy_step(3)],
            "compensations": [undone],
            "run_id": "r",
            "started_at": "2026-11-24T08:00:00Z",
            "finished_at": "2026-11-24T08:02:00Z",
        }
    )
    assert [s.step for s in record.steps] == [1, 4]
    assert [c.step for c in record.compensations] == [4]
    # Written in the new numbering, the compensations are not shifted a second time.
    assert [
        c.step for c in RunRecord.model_validate_json(record.model_dump_json()).compensations
    ] == [4]


@pytest.mark.usefixtures("worker")
async def test_the_number_a_trace_shows_is_the_number_a_review_takes(
    handrail: HandrailClient, model_server: ScriptedModelServer, settings: HandrailSettings
) -> None:
    create_store(store_db_path(settings))
    model_server.brain = Scenario([discount(1003, "5.00"), refund(1003, "80.00"), answer()])
    handle = await handrail.start_task({"goal": "Resolve order 1003", "profile": PROFILE})
    pending = await wait_for_pending(handrail, handle.id)
    trace = await handrail.get_trace(handle.id)
    shown = trace.steps[-1]
    assert (
        (shown.step, shown.decision.tool) == (pending.step, "issue_refund") == (2, "issue_refund")
    )
    # A caller that reviews the step the trace shows as waiting is taken, not refused as stale.
    await handrail.review(
        handle.id, {"reviewer": "alice", "step": shown.step, "verdict": "reject", "comment": "no"}
    )
    result = await handrail.get_result(handle.id)
    assert result.status == "rejected"
    assert [s.step for s in result.steps] == [1, 2]
    # The discount of step 1 was undone, and the compensation says step 1.
    assert [(c.step, c.tool, c.status) for c in result.compensations] == [
        (1, "apply_discount", "undone")
    ]
