"""Safe defaults (issue 19): the bundled ``store_actions`` caps what all tasks together refund or
discount on one order per day, not only what each task does.

Before, six concurrent tasks each refunded 40.00 on one order (each under its own
``task_limit``), 240.00 in all; the shared limit existed but the bundled profile left it off.
"""

from __future__ import annotations

import asyncio
import sqlite3
from decimal import Decimal

import pytest

from examples.store.settings import PROFILES as STORE_PROFILES
from examples.store.settings import store_db_path
from handrail.client.core import HandrailClient
from handrail.contracts import Trace
from handrail.profiles.catalog import ProfileCatalog
from handrail.settings import HandrailSettings
from handrail.testing.scripted_model import Scenario, ScriptedModelServer
from tests.review_helpers import PROFILE, answer, discount, refund

TASKS = 6


def test_the_bundled_profile_caps_each_order_per_day_across_tasks() -> None:
    rules = ProfileCatalog([STORE_PROFILES]).load(PROFILE).rules
    for tool, limit in (("issue_refund", Decimal(200)), ("apply_discount", Decimal(50))):
        rule = rules[tool]
        assert (rule.shared_limit, rule.shared_limit_per) == (limit, "order_id"), tool
        assert rule.shared_limit_window is not None
        assert rule.shared_limit_window.total_seconds() == 86_400
        # Never looser than one task may go: an order gets at most one task's worth a day.
        assert rule.shared_limit is not None
        assert rule.task_limit is not None
        assert rule.shared_limit <= rule.task_limit


def _credits(settings: HandrailSettings, table: str) -> list[int]:
    with sqlite3.connect(store_db_path(settings)) as db:
        rows = db.execute(f"SELECT amount_cents FROM {table} WHERE order_id = 1003").fetchall()
    return [cents for (cents,) in rows]


async def _concurrent(handrail: HandrailClient, goal: str) -> list[Trace]:
    handles = await asyncio.gather(
        *(
            handrail.start_task({"goal": f"{goal} (ticket {n})", "profile": PROFILE})
            for n in range(TASKS)
        )
    )
    await asyncio.gather(*(handrail.get_result(handle.id) for handle in handles))
    return [await handrail.get_trace(handle.id) for handle in handles]


def _refused(traces: list[Trace]) -> list[str]:
    return [
        step.outcome.error or ""
        for trace in traces
        for step in trace.steps
        if step.outcome is not None and not step.outcome.ok
    ]


@pytest.mark.usefixtures("worker")
async def test_six_concurrent_tasks_cannot_credit_one_order_past_the_shared_limit(
    handrail: HandrailClient, model_server: ScriptedModelServer, settings: HandrailSettings
) -> None:
    # Each refund (40.00) and discount (10.00) is below its review threshold and its task's
    # limit, so the policy lets every one run on its own: only the shared limit can bite.
    model_server.route("refund-ticket", Scenario([refund(1003, "40.00"), answer("Done")]))
    model_server.route("discount-ticket", Scenario([discount(1003, "10.00"), answer("Done")]))
    try:
        refund_traces, discount_traces = await asyncio.gather(
            _concurrent(handrail, "refund-ticket: refund 40.00 on order 1003"),
            _concurrent(handrail, "discount-ticket: 10.00 off order 1003"),
        )
    finally:
        model_server.unroute("refund-ticket")
        model_server.unroute("discount-ticket")

    refunds = _credits(settings, "refunds")
    assert sum(refunds) <= 200_00, refunds  # 240.00 before the default
    assert refunds == [40_00] * 5
    assert _refused(refund_traces) == [
        "issue_refund: 40.00 would bring order 1003's refunds in the last 1 day to 240.00, "
        "above the shared limit of 200"
    ]
    discounts = _credits(settings, "discounts")
    assert discounts == [10_00] * 5, discounts  # 50.00 of a 50 limit; the sixth is refused
    [refused] = _refused(discount_traces)
    assert "above the shared limit of 50" in refused, refused
    # The model read the refusal and answered: a refused task does not fail.
    assert {t.status for t in refund_traces + discount_traces} == {"answered"}
