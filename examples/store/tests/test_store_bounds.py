"""Values the store cannot hold (issue 19): refused at once, naming the field, never retried.

Two layers. The store example's argument schemas bound every number (``maximum``), so the
policy refuses an ``order_id`` of 10**40 before any tool runs and the model is told which field.
And for a user's own tool with no bound, the tool runner classifies the failure such a value
causes (``OverflowError``, a driver's ``DataError``, ``decimal.InvalidOperation``) as permanent:
one attempt, a non-retryable ``ArgumentOutOfRange`` naming the tool and the field, within
seconds, instead of minutes of retries with a message that names nothing. A locked database,
a partner that went away and an ordinary ``ValueError`` stay retryable
(``tests/tools/test_permanent_errors.py``).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle

from examples.store.database import snapshot
from examples.store.settings import PROFILES as STORE_PROFILES
from examples.store.settings import store_db_path
from examples.store.tests.helpers import PROFILE, WHY, activity_attempts, answer
from examples.store.tools import MAX_ORDER_ID, STORE_TOOL_SPECS
from handrail.activities.profiles import declared_binding
from handrail.client.core import HandrailClient
from handrail.contracts import Profile
from handrail.errors import ErrorType
from handrail.model.openai_chat import OpenAIChatModel
from handrail.policy.gate import gate
from handrail.profiles.catalog import ProfileCatalog
from handrail.runtime.worker import make_openai_client
from handrail.settings import HandrailSettings
from handrail.testing.kit import agent_worker
from handrail.testing.scripted_model import Scenario, ScriptedModelServer, ToolCallReply
from handrail.tools import ToolContext, UndoContext, compensation, tool

HUGE = 10**40

# --- the schema layer: the store's own tools ----------------------------------------------------


def test_the_store_schemas_bound_every_order_id_for_the_policy() -> None:
    # A reviewer's edit is checked inside the workflow against the JSON schema alone.
    rules = ProfileCatalog([STORE_PROFILES]).load(PROFILE).rules
    bindings = [declared_binding(spec, rules.get(spec.name)) for spec in STORE_TOOL_SPECS]
    profile = Profile(name=PROFILE, model="m", system_prompt="s", tools=bindings)
    checks: list[tuple[str, dict[str, object]]] = [
        ("get_order", {"order_id": HUGE}),
        ("issue_refund", {"order_id": HUGE, "amount": "10.00", "reason": "damaged"}),
        ("apply_discount", {"order_id": MAX_ORDER_ID + 1, "amount": "5.00", "reason": "late"}),
        ("send_email", {"order_id": HUGE, "subject": "Sorry", "body": "Refunded."}),
    ]
    for tool_name, arguments in checks:
        verdict = gate(profile, tool_name, arguments, 0.99)
        assert verdict.action == "deny", (tool_name, verdict)
        assert verdict.reason.startswith("invalid arguments: order_id: "), verdict.reason
    # Amounts were bounded already (a decimal string of at most 8 digits): still so.
    for amount in ("1" * 40, 1e300, "1e400"):
        refund = {"order_id": 1003, "amount": amount, "reason": "damaged"}
        verdict = gate(profile, "issue_refund", refund, 0.99)
        assert verdict.action == "deny", (amount, verdict)
        assert "amount: " in verdict.reason, verdict.reason
    assert gate(profile, "get_order", {"order_id": MAX_ORDER_ID}, 0.99).action == "auto"


@pytest.mark.usefixtures("worker")
async def test_an_order_id_the_store_cannot_hold_is_refused_before_anything_runs(
    handrail: HandrailClient, model_server: ScriptedModelServer, settings: HandrailSettings
) -> None:
    refund = {"order_id": HUGE, "amount": "10.00", "reason": "damaged", **WHY}
    model_server.brain = Scenario(
        [
            ToolCallReply("get_order", {"order_id": HUGE, **WHY}),
            ToolCallReply("issue_refund", refund),
            # A good step between: three refusals in a row would escalate the task.
            ToolCallReply("get_order", {"order_id": 1003, **WHY}),
            # 1e400 and 40 digits as JSON numbers, as a model may write them.
            ToolCallReply(
                "issue_refund",
                '{"order_id": 1003, "amount": 1e400, "reason": "r", "confidence": 0.9}',
            ),
            ToolCallReply(
                "issue_refund",
                '{"order_id": 1003, "amount": 1234567890123456789012345678901234567890, '
                '"reason": "r", "confidence": 0.9}',
            ),
            answer("I could not find that order."),
        ]
    )
    before = snapshot(store_db_path(settings))
    started = time.monotonic()
    handle = await handrail.start_task({"goal": "Refund order 10**40", "profile": PROFILE})
    result = await asyncio.wait_for(handrail.get_result(handle.id), timeout=30)

    assert time.monotonic() - started < 15
    assert result.status == "answered", result
    refused = [result.steps[i] for i in (0, 1, 3, 4)]
    problems = [step.decision.problem or "" for step in refused]
    for problem in problems[:2]:
        assert "order_id: Input should be less than or equal to 2147483647" in problem, problem
    for problem in problems[2:]:
        assert "amount: " in problem, problem
    assert all(step.outcome is None for step in refused)  # nothing ran
    # The model was told, in the observation of its own call.
    observations = [m for m in model_server.requests[-1]["messages"] if m["role"] == "tool"]
    assert "order_id" in observations[0]["content"]
    assert snapshot(store_db_path(settings)) == before


# --- the runner layer: a user's own tools, with no bound ---------------------------------------

UNBOUNDED = "unbounded"
PROFILE_TEXT = f"""
name = "{UNBOUNDED}"
description = "Tools whose numbers have no bound."
max_steps = 4
tools = ["count_stock", "reserve_units"]
system_prompt = "Do what is asked."

[rules.count_stock]
autonomy = "autonomous"

[rules.reserve_units]
autonomy = "autonomous"
"""


class StockArgs(BaseModel):
    warehouse: int  # no bound: the schema lets 10**40 through


class ReserveArgs(BaseModel):
    label: str
    units: int


def _warehouse_db(path: Path) -> Path:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE IF NOT EXISTS stock (warehouse INTEGER, units INTEGER)")
        db.execute("CREATE TABLE IF NOT EXISTS holds (key TEXT PRIMARY KEY, units INTEGER)")
    return path


@asynccontextmanager
async def _unbounded_worker(
    client: Client, tmp_path: Path, settings: HandrailSettings, calls: dict[str, int]
) -> AsyncIterator[HandrailClient]:
    store = _warehouse_db(tmp_path / "warehouse.db")
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / f"{UNBOUNDED}.toml").write_text(PROFILE_TEXT)

    def read(warehouse: int) -> int:
        with sqlite3.connect(store) as db:
            row = db.execute("SELECT SUM(units) FROM stock WHERE warehouse = ?", (warehouse,))
            return int(row.fetchone()[0] or 0)

    def hold(key: str, units: int) -> None:
        with sqlite3.connect(store) as db:
            db.execute("INSERT OR IGNORE INTO holds (key, units) VALUES (?, ?)", (key, units))

    def release(key: str) -> bool:
        with sqlite3.connect(store) as db:
            return db.execute("DELETE FROM holds WHERE key = ?", (key,)).rowcount > 0

    @tool(read_only=True, summary="stock in {warehouse}")
    async def count_stock(args: StockArgs, ctx: ToolContext) -> dict[str, Any]:
        """Count the units in a warehouse."""
        calls["count_stock"] = calls.get("count_stock", 0) + 1
        return {"units": await asyncio.to_thread(read, args.warehouse)}

    @tool(compensated_by="release_units", summary="{units} units for {label}")
    async def reserve_units(args: ReserveArgs, ctx: ToolContext) -> dict[str, Any]:
        """Hold units for an order."""
        calls["reserve_units"] = calls.get("reserve_units", 0) + 1
        await asyncio.to_thread(hold, ctx.idempotency_key, args.units)
        return {"label": args.label, "units": args.units}

    @compensation(undoes=reserve_units)
    async def release_units(ctx: UndoContext) -> bool:
        """Release the held units."""
        return await asyncio.to_thread(release, ctx.idempotency_key)

    model_client = make_openai_client(settings)
    try:
        async with agent_worker(
            client,
            tmp_path,
            tools=[count_stock, reserve_units],
            compensations=[release_units],
            model=OpenAIChatModel(model_client),
            profiles=[profiles],
            settings=settings,
        ) as handrail:
            yield handrail
    finally:
        await model_client.close()


async def _fails_at_once(
    handrail: HandrailClient, goal: str
) -> tuple[str, str, WorkflowHandle[Any, Any], float]:
    """Start a task that must fail; its failure message and type, handle and duration. Bounded
    in time: without the classification the task would retry for minutes."""
    started = time.monotonic()
    handle = await handrail.start_task({"goal": goal, "profile": UNBOUNDED})
    with pytest.raises(WorkflowFailureError) as failure:
        await asyncio.wait_for(handle.result(), timeout=20)
    cause = failure.value.cause
    message = str(getattr(cause, "message", None) or cause)
    return message, str(getattr(cause, "type", "")), handle, time.monotonic() - started


async def test_an_action_whose_argument_overflows_fails_once_naming_the_field(
    client: Client,
    settings: HandrailSettings,
    model_server: ScriptedModelServer,
    tmp_path: Path,
) -> None:
    calls: dict[str, int] = {}
    reserve = ToolCallReply("reserve_units", {"label": "order-7", "units": HUGE, **WHY})
    with model_server.routed(Scenario([reserve, answer()])) as goal:
        async with _unbounded_worker(client, tmp_path, settings, calls) as handrail:
            message, kind, handle, seconds = await _fails_at_once(handrail, goal)
            attempts = await activity_attempts(handle, "reserve_units")

    assert kind == ErrorType.ARGUMENT_OUT_OF_RANGE, (kind, message)
    assert "reserve_units cannot take its arguments: units (an integer of 41 digits" in message
    assert "OverflowError" in message, message
    assert "rolled back 1 step(s)" in message, message  # its compensation ran, found nothing
    assert calls == {"reserve_units": 1}  # one attempt, not ten
    assert attempts == [1]
    assert seconds < 10, seconds


async def test_a_read_whose_argument_overflows_fails_once_naming_the_field(
    client: Client,
    settings: HandrailSettings,
    model_server: ScriptedModelServer,
    tmp_path: Path,
) -> None:
    calls: dict[str, int] = {}
    count = ToolCallReply("count_stock", {"warehouse": HUGE, **WHY})
    with model_server.routed(Scenario([count, answer()])) as goal:
        async with _unbounded_worker(client, tmp_path, settings, calls) as handrail:
            message, kind, _handle, seconds = await _fails_at_once(handrail, goal)

    assert kind == ErrorType.ARGUMENT_OUT_OF_RANGE, (kind, message)
    assert "count_stock cannot take its arguments: warehouse (an integer of 41 digits" in message
    assert calls == {"count_stock": 1}  # a local activity, retried by the workflow task: once
    assert seconds < 10, seconds
