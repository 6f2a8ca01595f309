"""Fuzz: on random profiles, tools, arguments, confidences and spending, the policy never
raises and never lets an action run unreviewed past a limit. Every ``auto`` verdict is
checked against each rule it passed, recomputed here rather than read from the policy's own
helpers; the model's confidence may send an action to review but never past a deny."""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from examples.store.tools import STORE_TOOL_SPECS
from handrail.contracts import Decision, FinalAnswerRule, Profile, ToolBinding, ToolRule
from handrail.policy.gate import gate, gate_final_answer
from tests.strategies import json_values

FUZZ = settings(max_examples=200, deadline=None)
ISSUE_REFUND = next(spec for spec in STORE_TOOL_SPECS if spec.name == "issue_refund")
TOOL = "pay_out"

# The argument schemas a tool may come with: a declared tool's exact one (the store's refund:
# a money pattern), loose ones an MCP server or a hand-written profile may bring, and none.
SCHEMAS: list[dict[str, Any]] = [
    ISSUE_REFUND.parameters,
    {"type": "object", "properties": {"amount": {"type": "number"}}},
    {"type": "object", "properties": {"amount": {}}, "additionalProperties": True},
    {},
]

limits = st.none() | st.decimals(min_value=0, max_value=1000, places=2)
amounts = (
    st.decimals(min_value=-1000, max_value=2000, places=2).map(str)
    | st.sampled_from(
        [
            "NaN",
            "-NaN",
            "sNaN",
            "Infinity",
            "-Infinity",
            "1e3",
            "1E+3",
            "-0",
            " 5 ",
            "5e-400",
            "0.001",
            "1_000",
            "١٢",
            "0x10",
            "",
            "10.00",
            "200.00",
            "200.01",
            "500",
            "500.01",
        ]
    )
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.integers(min_value=-(10**20), max_value=10**20)
    | json_values
)
confidences = st.floats(0.5, 1) | st.none() | st.floats(allow_nan=True, allow_infinity=True)


@st.composite
def rules(draw: st.DrawFn) -> ToolRule:
    return ToolRule(
        autonomy=draw(st.sampled_from(["suggest", "supervised", "supervised", "autonomous"])),
        min_confidence=draw(st.floats(0, 1)),
        review_above=draw(limits),
        deny_above=draw(limits),
        task_limit=draw(limits),
        review_sample=draw(st.sampled_from([0.0, 0.0, 0.0, 0.5, 1.0])),
    )


@st.composite
def bindings(draw: st.DrawFn) -> ToolBinding:
    return ToolBinding(
        name=TOOL,
        irreversible=draw(st.booleans()),
        parameters=draw(st.sampled_from(SCHEMAS)),
        amount_field=draw(st.sampled_from(["amount", "amount", None])),
        rule=draw(rules()),
    )


@st.composite
def argument_sets(draw: st.DrawFn) -> dict[str, Any]:
    arguments: dict[str, Any] = draw(
        st.dictionaries(
            st.sampled_from(["order_id", "reason"]) | st.text(max_size=6), json_values, max_size=3
        )
    )
    if draw(st.integers(0, 9)) < 7:  # mostly well-formed, so that the limits get reached
        arguments = {"order_id": draw(st.integers(1, 5000)), "reason": "r"}
        money = st.decimals(min_value=-100, max_value=700, places=2).map(lambda d: f"{d:.2f}")
        arguments["amount"] = draw(money | amounts)
    elif draw(st.integers(0, 9)) > 0:
        arguments["amount"] = draw(amounts)
    return arguments


def _readable_amount(value: Any) -> Decimal | None:
    """The amount as money, recomputed: a finite decimal, or None."""
    if isinstance(value, bool | list | dict) or value is None:
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None


def _assert_within_limits(
    binding: ToolBinding,
    arguments: dict[str, Any],
    confidence: float | None,
    spent: Decimal,
) -> None:
    """What an ``auto`` verdict promises: every rule of the binding holds."""
    rule = binding.rule
    assert rule.autonomy != "suggest"
    if binding.amount_field is not None:
        amount = _readable_amount(arguments.get(binding.amount_field))
        assert amount is not None, "an action with an amount field ran without a readable amount"
        if rule.deny_above is not None:
            assert amount <= rule.deny_above
        if rule.task_limit is not None:
            assert spent + amount <= rule.task_limit
        if rule.autonomy == "supervised" and rule.review_above is not None:
            assert amount <= rule.review_above
    if rule.autonomy == "supervised":
        assert confidence is not None
        assert math.isfinite(confidence)
        assert rule.min_confidence <= confidence <= 1.0
        assert not binding.irreversible
    if rule.autonomy == "autonomous":
        assert rule.review_sample < 1.0


@FUZZ
@given(
    binding=bindings(),
    arguments=argument_sets(),
    confidence=confidences,
    spent=st.decimals(min_value=0, max_value=300, places=2),
    key=st.text(max_size=12),
    tool=st.sampled_from([TOOL, TOOL, TOOL, "other_tool", ""]),
)
@example(  # one refund under every limit but the task's: the total is what passes it
    binding=ToolBinding(
        name=TOOL,
        parameters=SCHEMAS[0],
        amount_field="amount",
        rule=ToolRule(review_above=Decimal(50), deny_above=Decimal(500), task_limit=Decimal(200)),
    ),
    arguments={"order_id": 1003, "amount": "40.00", "reason": "r"},
    confidence=0.99,
    spent=Decimal("170.00"),
    key="",
    tool=TOOL,
)
def test_no_action_runs_unreviewed_past_a_limit(
    binding: ToolBinding,
    arguments: dict[str, Any],
    confidence: float | None,
    spent: Decimal,
    key: str,
    tool: str,
) -> None:
    profile = Profile(name="p", model="m", system_prompt="s", tools=[binding])
    verdict = gate(profile, tool, arguments, confidence, spent={TOOL: spent}, sample_key=key)
    assert verdict.action in ("auto", "review", "deny")
    assert verdict.reason
    if tool != TOOL:
        assert verdict.action == "deny"
    elif verdict.action == "auto":
        _assert_within_limits(binding, arguments, confidence, spent)

    # The model's one input, its confidence, can send an action to review, never past a deny:
    # a deny stays a deny (and a non-deny stays one) whatever confidence it states.
    for other in (None, 0.0, 1.0, math.nan):
        again = gate(profile, tool, arguments, other, spent={TOOL: spent}, sample_key=key)
        assert (again.action == "deny") == (verdict.action == "deny")


@FUZZ
@given(
    confidence=confidences,
    floor=st.none() | st.floats(0, 1),
    review_if_changed=st.booleans(),
    changed_world=st.booleans(),
    answer=st.text(max_size=20),
)
def test_a_final_answer_passes_unreviewed_only_within_its_rules(
    confidence: float | None,
    floor: float | None,
    review_if_changed: bool,
    changed_world: bool,
    answer: str,
) -> None:
    profile = Profile(
        name="p",
        model="m",
        system_prompt="s",
        final_answer=FinalAnswerRule(min_confidence=floor, review_if_changed=review_if_changed),
    )
    decision = Decision(kind="final_answer", answer=answer, confidence=confidence)
    verdict = gate_final_answer(profile, decision, changed_world=changed_world)
    assert verdict.action in ("auto", "review")  # an answer is never refused, only reviewed
    if verdict.action != "auto":
        return
    stated = confidence is not None and math.isfinite(confidence) and 0.0 <= confidence <= 1.0
    if changed_world:
        assert stated
        assert not review_if_changed
    if floor is not None:
        assert stated
        assert confidence is not None
        assert confidence >= floor
