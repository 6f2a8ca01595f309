"""Fuzz: the review validator (``ReviewDesk.refusal``, which the ``review`` update's validator
raises and the ``submit_review`` signal records) never crashes on what a reviewer sends, and
never accepts a decision that is stale, unauthorised, incomplete, or an edit that breaks the
tool's schema or a limit.

And one finding it cannot see on its own, shown end to end: the validator checks an edit
without what the task already spent, so an edit can carry the task past its ``task_limit``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from pydantic import ValidationError

from examples.store.database import create_store
from examples.store.settings import store_db_path
from examples.store.tools import STORE_TOOL_SPECS
from handrail.client.core import HandrailClient
from handrail.contracts import (
    PendingReview,
    Profile,
    ReviewDecision,
    ReviewTier,
    ToolBinding,
    ToolRule,
)
from handrail.errors import ReviewRefusedError
from handrail.names import FINAL_ANSWER_TOOL
from handrail.settings import HandrailSettings
from handrail.testing.scripted_model import Scenario, ScriptedModelServer
from handrail.workflows.review_desk import ReviewDesk
from tests.review_helpers import PROFILE, answer, refund, wait_for_pending
from tests.strategies import json_values

FUZZ = settings(max_examples=200, deadline=None)
SPECS = {spec.name: spec for spec in STORE_TOOL_SPECS}
RULES = {
    "issue_refund": ToolRule(
        review_above=Decimal(50), deny_above=Decimal(500), task_limit=Decimal(200)
    ),
    "apply_discount": ToolRule(
        min_confidence=0.7,
        review_above=Decimal(20),
        deny_above=Decimal(100),
        task_limit=Decimal(50),
    ),
    "send_email": ToolRule(autonomy="autonomous"),
}
PROFILE_UNDER_REVIEW = Profile(
    name="store_actions",
    model="m",
    system_prompt="s",
    tools=[
        ToolBinding(
            name=name,
            irreversible=SPECS[name].irreversible,
            compensation=SPECS[name].compensation,
            parameters=SPECS[name].parameters,
            amount_field=SPECS[name].amount_field,
            rule=rule,
            sensitive=list(SPECS[name].sensitive),
        )
        for name, rule in RULES.items()
    ],
    review_tiers=[
        ReviewTier(name="support", reviewers=["alice", "bob"], deadline=timedelta(hours=1)),
        ReviewTier(name="managers", reviewers=["carol"], deadline=timedelta(days=1)),
    ],
)
PENDING_TOOLS = [*RULES, FINAL_ANSWER_TOOL]

money = st.decimals(min_value=-10, max_value=800, places=2).map(lambda d: f"{d:.2f}") | json_values


@st.composite
def edited_arguments(draw: st.DrawFn) -> Any:
    """What a reviewer may type as new arguments: close to a real call (so that the limits are
    reached), with a field changed, added or dropped; or anything at all."""
    shape = draw(st.sampled_from(["credit", "email", "answer", "anything"]))
    if shape == "anything":
        return draw(json_values)
    if shape == "answer":
        value: dict[str, Any] = {"answer": draw(st.text(max_size=10) | json_values)}
    elif shape == "email":
        value = {
            "order_id": draw(st.integers(-1, 2000)),
            "subject": draw(st.text(max_size=12)),
            "body": draw(st.text(max_size=12)),
        }
    else:
        value = {
            "order_id": draw(st.integers(-1, 2000) | json_values),
            "amount": draw(money),
            "reason": draw(st.text(max_size=10) | json_values),
        }
    if draw(st.integers(0, 4)) == 0:
        value[draw(st.text(max_size=6))] = draw(json_values)
    if value and draw(st.integers(0, 4)) == 0:
        value.pop(draw(st.sampled_from(sorted(value))))
    return value


@st.composite
def reviewer_inputs(draw: st.DrawFn) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "reviewer": draw(
            st.sampled_from(["alice", "bob", "carol", "mallory", "", "Alice "]) | json_values
        ),
        "step": draw(st.sampled_from([1, 2, 3]) | json_values),
        "verdict": draw(
            st.sampled_from(["approve", "edit", "reject", "answer", "APPROVE"]) | json_values
        ),
    }
    if draw(st.booleans()):
        raw["arguments"] = draw(edited_arguments())
    if draw(st.booleans()):
        raw["answer"] = draw(st.text(max_size=10) | json_values)
    if draw(st.booleans()):
        raw["comment"] = draw(st.text(max_size=10) | json_values)
    if draw(st.integers(0, 5)) == 0:
        raw[draw(st.text(max_size=6))] = draw(json_values)
    return raw


def _desk(tool: str, step: int, tier: int) -> ReviewDesk:
    desk = ReviewDesk()
    now = datetime(2026, 11, 26, tzinfo=UTC)
    reviewers = ["alice", "bob", "carol"] if tier == 0 else ["carol"]
    desk.pending = PendingReview(
        step=step,
        tool=tool,
        arguments={},
        reason="r",
        tier=["support", "managers"][tier],
        reviewers=reviewers,
        requested_at=now,
        deadline_at=now + timedelta(hours=1),
    )
    return desk


def _amount(value: Any) -> Decimal:
    assert not isinstance(value, bool | list | dict)
    assert value is not None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise AssertionError(f"an accepted edit carries an unreadable amount {value!r}") from None
    assert amount.is_finite()
    return amount


@FUZZ
@given(
    raw=reviewer_inputs(),
    tool=st.sampled_from(PENDING_TOOLS),
    step=st.integers(1, 3),
    tier=st.integers(0, 1),
)
@example(
    raw={
        "reviewer": "bob",
        "step": 1,
        "verdict": "edit",
        "arguments": {"order_id": 1003, "amount": "500.01", "reason": "r"},
    },
    tool="issue_refund",
    step=1,
    tier=0,
)
@example(
    raw={"reviewer": "bob", "step": 1, "verdict": "edit", "arguments": {"answer": " "}},
    tool=FINAL_ANSWER_TOOL,
    step=1,
    tier=0,
)
def test_the_validator_never_crashes_nor_accepts_what_breaks_a_rule(
    raw: dict[str, Any], tool: str, step: int, tier: int
) -> None:
    try:
        decision = ReviewDecision.model_validate(raw)
    except ValidationError:
        return  # the data converter refuses it before the validator runs: the client is told
    desk = _desk(tool, step, tier)
    refusal = desk.refusal(PROFILE_UNDER_REVIEW, decision)
    if refusal is not None:
        assert refusal.type.startswith("Review")
        assert refusal.reason
        return
    pending = desk.pending
    assert pending is not None
    assert decision.step == pending.step
    assert decision.reviewer in pending.reviewers
    if decision.verdict == "answer":
        assert decision.answer
        assert decision.answer.strip()
    if decision.verdict != "edit":
        return
    edited = decision.arguments
    assert edited is not None
    if tool == FINAL_ANSWER_TOOL:
        assert set(edited) == {"answer"}
        assert isinstance(edited["answer"], str)
        assert edited["answer"].strip()
        return
    binding = PROFILE_UNDER_REVIEW.binding(tool)
    assert binding is not None
    # The schema the workflow checks, and the tool's own model, which will receive it.
    assert Draft202012Validator(binding.parameters).is_valid(edited)
    SPECS[tool].validate_arguments(dict(edited))
    if binding.amount_field is not None:
        amount = _amount(edited.get(binding.amount_field))
        rule = binding.rule
        assert rule.deny_above is None or amount <= rule.deny_above
        assert rule.task_limit is None or amount <= rule.task_limit


@FUZZ
@given(raw=reviewer_inputs())
def test_no_decision_counts_when_nothing_is_pending(raw: dict[str, Any]) -> None:
    try:
        decision = ReviewDecision.model_validate(raw)
    except ValidationError:
        return
    refusal = ReviewDesk().refusal(PROFILE_UNDER_REVIEW, decision)
    assert refusal is not None
    assert refusal.type == "ReviewStale"


# --- the finding: an edit is checked without what the task already spent ----------------------


@pytest.mark.usefixtures("worker")
async def test_an_edit_cannot_carry_the_task_past_its_task_limit(
    handrail: HandrailClient, model_server: ScriptedModelServer, settings: HandrailSettings
) -> None:
    create_store(store_db_path(settings))
    # store_actions: refunds above 50 are reviewed, above 500 refused, 200 per task at most.
    model_server.brain = Scenario([refund(1003, "50.00"), refund(1003, "60.00"), answer()])
    handle = await handrail.start_task({"goal": "Resolve order 1003", "profile": PROFILE})
    pending = await wait_for_pending(handrail, handle.id)
    assert (pending.step, pending.tool) == (2, "issue_refund")  # the first refund ran: 50 spent
    edit = {"order_id": 1003, "amount": "190.00", "reason": "the whole order"}
    try:
        with pytest.raises(ReviewRefusedError, match=r"task_limit|limit of 200"):
            await handrail.review(
                handle.id, {"reviewer": "bob", "step": 2, "verdict": "edit", "arguments": edit}
            )
    finally:
        # End the task either way: a refused edit leaves step 2 pending (rejected here, which
        # rolls the first refund back); an accepted one has already let the task run on.
        if (await handrail.get_trace(handle.id)).pending_review is not None:
            await handrail.review(handle.id, {"reviewer": "bob", "step": 2, "verdict": "reject"})
        result = await handrail.get_result(handle.id)
        refunded = sum(
            Decimal(
                str(
                    (
                        step.review.arguments
                        if step.review and step.review.arguments
                        else step.decision.arguments
                    )["amount"]
                )
            )
            for step in result.steps
            if step.decision.tool == "issue_refund" and step.outcome and step.outcome.ok
        )
        assert refunded <= Decimal(200), f"{refunded} refunded, above the task_limit of 200"
