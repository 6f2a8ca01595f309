"""Record the workflow histories that CI replays: ``python -m tests.record_histories``.

``python -m tests.record_histories NAME ...`` records only the named scenarios. Record new
scenarios when the workflow gains a path; re-record an old one only after a deliberate, versioned
change to ``AgentWorkflow``, never to make a failing replay pass by accident. Each scenario is
scripted, so the recorded history is the same shape every time.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from pydantic import SecretStr
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from examples.store.clerk import StoreClerk
from examples.store.database import create_store
from examples.store.settings import store_db_path
from examples.store.worker import running_worker, store_settings
from handrail import search_attributes
from handrail.cli.process_exit import exit_now
from handrail.client.core import HandrailClient
from handrail.contracts import AgentTask, TaskResult
from handrail.names import WORKFLOW_TYPE
from handrail.runtime.devserver import find_temporal_binary
from handrail.settings import HandrailSettings
from handrail.testing.scripted_model import (
    Brain,
    Scenario,
    ScriptedModelServer,
    TextReply,
    ToolCallReply,
)
from tests.review_helpers import wait_for_pending

HISTORIES = Path(__file__).parent / "histories"
_WHY = {"rationale": "recorded scenario", "confidence": 0.7}
_SURE = {"rationale": "recorded scenario", "confidence": 0.95}

SCENARIOS: dict[str, tuple[str, Brain]] = {
    "pricing_answered": ("How much are the Trail Runner Shoes?", StoreClerk()),
    # Started as a foreign client would, naming no profile: the worker's default runs (issue 20).
    "default_profile_answered": ("How much is the Rain Jacket?", StoreClerk()),
    "committed_with_email": (
        "Please refund 10.00 EUR on order 1001 and email the customer.",
        StoreClerk(),
    ),
    "rolled_back": (
        "A discount of 5.00 on order 1002 and a refund of 20.00 on order 1002; then a manager.",
        StoreClerk(),
    ),
    "malformed_then_answered": (
        "Rain Jacket price?",
        Scenario(
            [
                ToolCallReply("no_such_tool", {**_WHY}),
                ToolCallReply("lookup_price", '{"product": '),
                ToolCallReply("lookup_price", {"product": "Rain Jacket", **_WHY}),
                ToolCallReply("final_answer", {"answer": "129.00 EUR", **_WHY}),
            ]
        ),
    ),
    "escalated": ("Can you write me a poem?", StoreClerk()),
    "review_approved_by_update": ("Please refund 80.00 USD on order 1003.", StoreClerk()),
    "review_edited_by_signal": ("Please refund 80.00 USD on order 1003.", StoreClerk()),
    "review_rejected_rolled_back": (
        "Apply a discount of 5.00 on order 1002 and a refund of 60.00 on order 1002.",
        StoreClerk(),
    ),
    # Recorded with run-scoped keys, gated final answers and the refusal limit.
    "plain_answer_reviewed_rejected": (
        "Refund order 1001.",
        Scenario(
            [
                ToolCallReply(
                    "issue_refund",
                    {"order_id": 1001, "amount": "5.00", "reason": "late", **_WHY},
                ),
                TextReply("All refunded, 1000 EUR is on its way."),
            ]
        ),
    ),
    # Recorded after tools were declared once and ran through Handrail's effect journal, and
    # the workflow was split into loop, effects and typed stubs.
    "declared_tools_committed": (
        "Please refund 10.00 EUR on order 1001 and email the customer.",
        StoreClerk(),
    ),
    "refusals_escalated": (
        "Refund order 1001.",
        Scenario([ToolCallReply("drop_tables", {**_WHY})] * 3),
    ),
    # Recorded after decide heartbeated (patch heartbeats-v1: decide scheduled with a heartbeat
    # timeout); tools declaring no timeout are scheduled as before.
    "decide_heartbeats_committed": (
        "Please refund 10.00 EUR on order 1001 and email the customer.",
        StoreClerk(),
    ),
    # Recorded after edits counted what the task spent (patch edit-within-task-limit-v1): a
    # signalled edit past the task's limit is ignored, then the step is rejected.
    "edit_past_task_limit_ignored": (
        "Please refund 50.00 USD on order 1003 and a refund of 60.00 USD on order 1003.",
        StoreClerk(),
    ),
    # Recorded after an edit kept sensitive values shown redacted (edit-keeps-hidden-values-v1).
    "review_edited_keeps_hidden": ("Please refund 80.00 USD on order 1003.", StoreClerk()),
    # Recorded after negative amounts were denied (patch negative-money-denied-v1).
    "negative_money_check_committed": (
        "Please give a discount of 5.00 EUR on order 1001 and email the customer.",
        StoreClerk(),
    ),
    # Recorded after a bound money argument compared as a number (scope-amounts-as-numbers-v1).
    "amounts_as_numbers_committed": (
        "Please refund 10.00 EUR on order 1001 and email the customer.",
        StoreClerk(),
    ),
    # Recorded after a deferred action that fails at the commit point stopped the commit
    # (patch commit-point-truth-v1): the email is refused there, the answer is not delivered,
    # the refund is rolled back, the task ends commit_failed.
    "commit_failed_rolled_back": (
        "Refund 10.00 on order 1001 and email the customer.",
        Scenario(
            [
                ToolCallReply(
                    "issue_refund",
                    {"order_id": 1001, "amount": "10.00", "reason": "late", **_SURE},
                ),
                ToolCallReply(
                    "send_email",
                    {"order_id": 9999, "subject": "Sorry", "body": "Refunded.", **_SURE},
                ),
                ToolCallReply("final_answer", {"answer": "Refunded and emailed.", **_SURE}),
            ]
        ),
    ),
    # Recorded after an edit was held to the task's scope (patch edit-within-task-scope-v1):
    # the task names order 1003; a signalled edit to order 1001 is ignored, then rejected.
    "edit_outside_scope_ignored": ("Please refund 80.00 USD on order 1003.", StoreClerk()),
}
# The task's context, for scenarios that have one (the others start without).
CONTEXTS: dict[str, dict[str, object]] = {"edit_outside_scope_ignored": {"order_id": 1003}}

Reviewer = Callable[[HandrailClient, str, int], Awaitable[None]]


async def _approve(handrail: HandrailClient, task_id: str, step: int) -> None:
    await handrail.review(task_id, {"reviewer": "alice", "step": step, "verdict": "approve"})


async def _edit_by_signal(handrail: HandrailClient, task_id: str, step: int) -> None:
    # An unauthorised signal first (recorded and ignored), then a valid edit.
    await handrail.signal_review(
        task_id, {"reviewer": "mallory", "step": step, "verdict": "approve"}
    )
    arguments = {"order_id": 1003, "amount": "30.00", "reason": "partial"}
    await handrail.signal_review(
        task_id, {"reviewer": "bob", "step": step, "verdict": "edit", "arguments": arguments}
    )


async def _reject(handrail: HandrailClient, task_id: str, step: int) -> None:
    await handrail.review(task_id, {"reviewer": "bob", "step": step, "verdict": "reject"})


async def _malformed_signal_then_reject(handrail: HandrailClient, task_id: str, step: int) -> None:
    # A signal with no step is recorded as ignored; then a valid rejection.
    handle = handrail.temporal.get_workflow_handle(task_id)
    await handle.signal("submit_review", {"reviewer": "alice", "verdict": "approve"})
    await _reject(handrail, task_id, step)


async def _edit_past_limit_then_reject(handrail: HandrailClient, task_id: str, step: int) -> None:
    # 50 already refunded; 190 more would pass the task's limit of 200: ignored, then rejected.
    arguments = {"order_id": 1003, "amount": "190.00", "reason": "the whole order"}
    await handrail.signal_review(
        task_id, {"reviewer": "bob", "step": step, "verdict": "edit", "arguments": arguments}
    )
    await _reject(handrail, task_id, step)


async def _edit_outside_scope_then_reject(
    handrail: HandrailClient, task_id: str, step: int
) -> None:
    arguments = {"order_id": 1001, "amount": "80.00", "reason": "another order"}
    await handrail.signal_review(
        task_id, {"reviewer": "bob", "step": step, "verdict": "edit", "arguments": arguments}
    )
    await _reject(handrail, task_id, step)


REVIEWERS: dict[str, Reviewer] = {
    "review_approved_by_update": _approve,
    "review_edited_by_signal": _edit_by_signal,
    "review_rejected_rolled_back": _reject,
    "plain_answer_reviewed_rejected": _malformed_signal_then_reject,
    "edit_past_task_limit_ignored": _edit_past_limit_then_reject,
    "review_edited_keeps_hidden": _edit_by_signal,
    "edit_outside_scope_ignored": _edit_outside_scope_then_reject,
}


NO_PROFILE = {"default_profile_answered"}
"""Scenarios started without a profile, straight through Temporal's client."""


async def record(names: list[str]) -> dict[str, str]:
    """Run the named scenarios; return each history as JSON, by scenario name."""
    recorded: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as scratch, ScriptedModelServer() as model:
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=str(find_temporal_binary()),
            data_converter=pydantic_data_converter,
            search_attributes=search_attributes.ALL,
        )
        try:
            settings = store_settings(
                HandrailSettings(
                    _env_file=None,
                    temporal_address=env.client.service_client.config.target_host,
                    task_queue=f"record-{uuid.uuid4().hex[:8]}",
                    data_dir=Path(scratch),
                    openai_base_url=model.base_url,
                    openai_api_key=SecretStr("recording"),
                    embedded_server=False,
                )
            )
            create_store(store_db_path(settings))
            handrail = HandrailClient(env.client, settings)
            async with running_worker(env.client, settings):
                for name in names:
                    goal, brain = SCENARIOS[name]
                    model.brain = brain
                    # The actions profile is a superset: read-only questions run the same way.
                    task: dict[str, object] = {
                        "goal": goal,
                        "task_id": f"recorded-{name}",
                        "profile": "store_actions",
                    }
                    if name in CONTEXTS:
                        task["context"] = CONTEXTS[name]
                    if name in NO_PROFILE:
                        # A foreign client's start: no profile, no Handrail client to fill one.
                        del task["profile"]
                        handle = await env.client.start_workflow(
                            WORKFLOW_TYPE,
                            AgentTask.model_validate(task),
                            id=str(task["task_id"]),
                            task_queue=settings.task_queue,
                            result_type=TaskResult,
                        )
                    else:
                        handle = await handrail.start_task(task)
                    reviewer = REVIEWERS.get(name)
                    if reviewer is not None:
                        pending = await wait_for_pending(handrail, handle.id)
                        await reviewer(handrail, handle.id, pending.step)
                    await handrail.get_result(handle.id)
                    recorded[name] = (await handle.fetch_history()).to_json()
        finally:
            await env.shutdown()
    return recorded


if __name__ == "__main__":
    # Name the scenarios to (re-)record; histories recorded by older code are kept on purpose:
    # they stand for runs started before a deploy, which the new code must still replay.
    chosen = sys.argv[1:] or list(SCENARIOS)
    unknown = sorted(set(chosen) - set(SCENARIOS))
    if unknown:
        raise SystemExit(f"unknown scenario(s) {unknown}; known: {sorted(SCENARIOS)}")
    HISTORIES.mkdir(parents=True, exist_ok=True)
    for name, history in asyncio.run(record(chosen)).items():
        path = HISTORIES / f"{name}.json"
        path.write_text(history)
        print(f"wrote {path}")
    exit_now(0)
