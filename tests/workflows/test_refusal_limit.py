"""Refused steps in a row (unknown tool, bad JSON, arguments failing the schema, denied by
policy) escalate the task after ``max_consecutive_refusals``, instead of letting the model
spend the whole step budget on them; what was done is rolled back."""

from __future__ import annotations

import sqlite3

import pytest

from examples.store.database import create_store
from examples.store.settings import store_db_path
from handrail.client.core import HandrailClient
from handrail.settings import HandrailSettings
from handrail.testing.scripted_model import Scenario, ScriptedModelServer, ToolCallReply
from tests.review_helpers import PROFILE, WHY, refund

pytestmark = pytest.mark.usefixtures("worker")


async def test_refusals_in_a_row_escalate_with_the_reason(
    handrail: HandrailClient, model_server: ScriptedModelServer, settings: HandrailSettings
) -> None:
    create_store(store_db_path(settings))
    model_server.brain = Scenario(
        [
            refund(1001, "5.00"),  # takes effect, then is rolled back
            ToolCallReply("drop_tables", {"now": True, **WHY}),  # unknown tool
            ToolCallReply("issue_refund", "{not json"),  # arguments that are not JSON
            refund(1001, "900.00"),  # denied: above deny_above
            refund(1001, "5.00"),  # never reached
        ]
    )
    handle = await handrail.start_task({"goal": "Refund order 1001", "profile": PROFILE})
    result = await handrail.get_result(handle.id)

    assert result.status == "escalated"
    assert len(result.steps) == 4  # store_actions allows 8: the budget was not spent
    assert result.steps[-1].note.endswith("escalated: too many refused steps in a row")
    trace = await handrail.get_trace(handle.id)
    assert trace.error is not None
    assert trace.error.startswith("3 refused steps in a row (max_consecutive_refusals = 3)")
    assert "denied by policy: issue_refund of 900.00 is above the limit of 500" in trace.error
    assert [c.status for c in result.compensations] == ["undone"]
    with sqlite3.connect(store_db_path(settings)) as db:
        assert db.execute("SELECT COUNT(*) FROM refunds").fetchone() == (0,)


async def test_a_good_step_resets_the_count(
    handrail: HandrailClient, model_server: ScriptedModelServer, settings: HandrailSettings
) -> None:
    create_store(store_db_path(settings))
    bad = ToolCallReply("drop_tables", {"now": True, **WHY})
    lookup = ToolCallReply("get_order", {"order_id": 1001, **WHY})
    done = ToolCallReply("final_answer", {"answer": "Order 1001 is fine.", **WHY})
    model_server.brain = Scenario([bad, bad, lookup, bad, bad, done])
    handle = await handrail.start_task({"goal": "Check order 1001", "profile": PROFILE})
    result = await handrail.get_result(handle.id)
    assert (result.status, result.answer) == ("answered", "Order 1001 is fine.")
