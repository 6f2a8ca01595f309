"""The policy gate: every branch, and properties no input can break."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from examples.store.tools import STORE_TOOL_SPECS
from handrail.activities.profiles import declared_binding
from handrail.contracts import Decision, Profile, ToolBinding, ToolRule
from handrail.policy.gate import (
    gate,
    gate_decision,
    sampled_for_review,
    shadow_gate_decision,
    when_to_run,
)
from handrail.policy.scope import scope_problems
from handrail.tools.spec import ToolSpec
from tests.strategies import json_values

ISSUE_REFUND, LOOKUP_PRICE, SEND_EMAIL = (
    next(spec for spec in STORE_TOOL_SPECS if spec.name == name)
    for name in ("issue_refund", "lookup_price", "send_email")
)


def binding(spec: ToolSpec, **rule: Any) -> ToolBinding:
    return declared_binding(spec, ToolRule(**rule))


REFUND_RULE = {"review_above": Decimal(50), "deny_above": Decimal(500), "task_limit": Decimal(200)}


def profile(*tools: ToolBinding) -> Profile:
    return Profile(name="p", model="m", system_prompt="s", tools=list(tools))


def refund(amount: str = "10.00") -> dict[str, Any]:
    return {"order_id": 1001, "amount": amount, "reason": "broken"}


SUPERVISED = profile(binding(ISSUE_REFUND, **REFUND_RULE), binding(SEND_EMAIL))


@pytest.mark.parametrize(
    ("tool", "arguments", "confidence", "spent", "action", "reason"),
    [
        ("wire_money", {}, 0.99, {}, "deny", "'wire_money' is not allowed by profile 'p'"),
        (
            "issue_refund",
            {"order_id": 1001},
            0.99,
            {},
            "deny",
            "invalid arguments: (arguments): 'amount' is a required property",
        ),
        (
            "issue_refund",
            refund() | {"extra": 1},
            0.99,
            {},
            "deny",
            "Additional properties are not allowed",
        ),
        (
            "issue_refund",
            refund("600"),
            0.99,
            {},
            "deny",
            "issue_refund of 600 is above the limit of 500",
        ),
        (
            "issue_refund",
            refund("60"),
            0.99,
            {"issue_refund": Decimal(150)},
            "deny",
            "task's total to 210, above its limit of 200",
        ),
        ("issue_refund", refund("60"), 0.99, {}, "review", "issue_refund of 60 is above 50"),
        ("issue_refund", refund(), 0.5, {}, "review", "confidence 0.50 is below 0.80"),
        ("issue_refund", refund(), None, {}, "review", "the model stated no usable confidence"),
        ("issue_refund", refund(), 1.5, {}, "review", "the model stated no usable confidence"),
        ("issue_refund", refund(), 0.9, {}, "auto", "confident and within limits"),
        (
            "send_email",
            {"order_id": 1, "subject": "s", "body": "b"},
            0.99,
            {},
            "review",
            "send_email cannot be undone",
        ),
    ],
)
def test_supervised_branches(
    tool: str,
    arguments: dict[str, Any],
    confidence: float | None,
    spent: dict[str, Decimal],
    action: str,
    reason: str,
) -> None:
    verdict = gate(SUPERVISED, tool, arguments, confidence, spent=spent)
    assert verdict.action == action
    assert reason in verdict.reason


def test_suggest_always_reviews_and_deny_limits_still_apply() -> None:
    suggest = profile(binding(ISSUE_REFUND, autonomy="suggest", **REFUND_RULE))
    assert (
        gate(suggest, "issue_refund", refund(), 1.0).reason
        == "issue_refund is at autonomy 'suggest'"
    )
    assert gate(suggest, "issue_refund", refund("501"), 1.0).action == "deny"


def test_autonomous_runs_without_confidence_but_a_sample_is_reviewed() -> None:
    autonomous = profile(
        binding(ISSUE_REFUND, autonomy="autonomous", review_sample=0.5, **REFUND_RULE)
    )
    verdicts = [
        gate(autonomous, "issue_refund", refund("100"), None, sample_key=f"task/{i}").action
        for i in range(400)
    ]
    reviewed = verdicts.count("review") / len(verdicts)
    assert set(verdicts) == {"auto", "review"}
    assert 0.4 < reviewed < 0.6  # about the configured share
    assert gate(autonomous, "issue_refund", refund("501"), 1.0).action == "deny"


def test_sampling_is_stable_per_key() -> None:
    assert [sampled_for_review("k/1", 0.3) for _ in range(5)] == [
        sampled_for_review("k/1", 0.3)
    ] * 5
    assert not sampled_for_review("anything", 0.0)
    assert sampled_for_review("anything", 1.0)


def test_read_only_autonomous_tool_runs() -> None:
    reads = profile(binding(LOOKUP_PRICE, autonomy="autonomous"))
    assert gate(reads, "lookup_price", {"product": "Headlamp"}, None).action == "auto"


def test_irreversible_actions_wait_for_the_commit_point() -> None:
    assert when_to_run(binding(SEND_EMAIL)) == "at_commit"
    assert when_to_run(binding(ISSUE_REFUND)) == "now"


# --- properties ------------------------------------------------------------------------------

arguments = st.dictionaries(
    st.sampled_from(["order_id", "amount", "reason", "x"]) | st.text(max_size=8),
    json_values,
    max_size=5,
)
confidences = st.none() | st.floats(allow_nan=True, allow_infinity=True)
autonomy = st.sampled_from(["suggest", "supervised", "autonomous"])


@settings(max_examples=300, deadline=None)
@given(tool=st.text(max_size=20), args=arguments, confidence=confidences, level=autonomy)
def test_a_disallowed_tool_is_never_auto(
    tool: str, args: dict[str, Any], confidence: float | None, level: str
) -> None:
    allowed = profile(binding(ISSUE_REFUND, autonomy=level, review_sample=0.0))
    if tool != "issue_refund":
        assert gate(allowed, tool, args, confidence).action == "deny"


@settings(max_examples=300, deadline=None)
@given(args=arguments, confidence=confidences, level=autonomy, key=st.text(max_size=10))
def test_invalid_arguments_are_never_auto(
    args: dict[str, Any], confidence: float | None, level: str, key: str
) -> None:
    allowed = profile(binding(ISSUE_REFUND, autonomy=level, review_sample=0.0))
    verdict = gate(allowed, "issue_refund", args, confidence, sample_key=key)
    try:
        from examples.store.tools import IssueRefundArgs

        IssueRefundArgs.model_validate(args)
        valid = True
    except ValueError:
        valid = False
    if not valid:
        assert verdict.action != "auto", (args, verdict)


@settings(max_examples=300, deadline=None)
@given(
    amount=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("100000"), places=2),
    confidence=confidences,
    spent=st.decimals(min_value=0, max_value=1000, places=2),
)
def test_a_suggest_tool_is_never_auto(
    amount: Decimal, confidence: float | None, spent: Decimal
) -> None:
    suggest = profile(binding(ISSUE_REFUND, autonomy="suggest"))
    verdict = gate(
        suggest, "issue_refund", refund(str(amount)), confidence, spent={"issue_refund": spent}
    )
    assert verdict.action == "review"


@pytest.mark.parametrize("amount", ["0.001", "0", "abc", "123456789.00", 12.5, "-3"])
def test_money_the_tool_would_refuse_is_never_auto(amount: object) -> None:
    verdict = gate(SUPERVISED, "issue_refund", refund() | {"amount": amount}, 0.99)
    assert verdict.action == "deny"


@settings(max_examples=300, deadline=None)
@given(amount=st.text(max_size=12) | st.floats() | st.integers())
def test_the_policy_and_the_tool_agree_on_money(amount: object) -> None:
    from examples.store.tools import IssueRefundArgs

    args = refund() | {"amount": amount}
    verdict = gate(SUPERVISED, "issue_refund", args, 0.99)
    try:
        IssueRefundArgs.model_validate(args)
    except ValueError:
        assert verdict.action == "deny"


# --- scope: arguments bound to the task's context ---------------------------------------------

ORDER_SCOPE = {"scope": {"order_id": "order_id"}}
BOUND = profile(binding(ISSUE_REFUND, **REFUND_RULE, **ORDER_SCOPE))
REVIEWED = profile(binding(ISSUE_REFUND, **REFUND_RULE, **ORDER_SCOPE, outside_scope="review"))
OTHER_ORDER = refund() | {"order_id": 1003}


@pytest.mark.parametrize(
    ("context", "arguments", "action", "reason"),
    [
        ({"order_id": 1001}, refund(), "auto", "confident and within limits"),
        ({"order_id": " 1001 "}, refund(), "auto", "confident and within limits"),  # JSON text
        ({"order_id": 1001.0}, refund(), "auto", "confident and within limits"),
        (
            {"order_id": 1001},
            OTHER_ORDER,
            "deny",
            "order_id 1003 is outside the task's scope (order_id 1001)",
        ),
        (
            {"order_id": [1001, "1002"]},
            OTHER_ORDER,
            "deny",
            "order_id 1003 is outside the task's scope (order_id one of 1001, 1002)",
        ),
        ({"order_id": [1001, 1003]}, OTHER_ORDER, "auto", "confident and within limits"),
        (
            {"order_id": []},
            refund(),
            "deny",
            "order_id 1001 is outside the task's scope (order_id: none)",
        ),
        (
            {"order_id": {"id": 1001}},  # present but no identifier: a scope of nothing
            refund(),
            "deny",
            "order_id 1001 is outside the task's scope (order_id: none)",
        ),
        (
            {"customer": 1},
            refund(),
            "deny",
            "issue_refund's order_id is bound to the task's 'order_id', which its context "
            "does not name",
        ),
        ({"order_id": None}, refund(), "deny", "which its context does not name"),
        (None, OTHER_ORDER, "auto", "confident and within limits"),  # a reviewer's edit
    ],
)
def test_a_bound_argument_must_stay_in_the_tasks_scope(
    context: dict[str, Any] | None, arguments: dict[str, Any], action: str, reason: str
) -> None:
    verdict = gate(BOUND, "issue_refund", arguments, 0.9, context=context)
    assert (verdict.action, reason in verdict.reason) == (action, True), verdict


def test_review_mode_asks_a_person_but_deny_limits_still_refuse() -> None:
    outside = gate(REVIEWED, "issue_refund", OTHER_ORDER, 0.99, context={"order_id": 1001})
    assert outside.action == "review"
    assert outside.reason == "order_id 1003 is outside the task's scope (order_id 1001)"
    too_much = OTHER_ORDER | {"amount": "600"}
    assert gate(REVIEWED, "issue_refund", too_much, 0.99, context={"order_id": 1001}).action == (
        "deny"
    )
    # An autonomous tool outside the scope still goes to the person.
    autonomous = profile(
        binding(ISSUE_REFUND, autonomy="autonomous", outside_scope="review", **ORDER_SCOPE)
    )
    assert gate(autonomous, "issue_refund", OTHER_ORDER, 1.0, context={}).action == "review"


def test_several_context_keys_and_an_optional_scope() -> None:
    either = profile(binding(ISSUE_REFUND, scope={"order_id": ["order_id", "related_orders"]}))
    context = {"order_id": 1001, "related_orders": [1002]}
    assert (
        gate(either, "issue_refund", refund() | {"order_id": 1002}, 0.9, context=context).action
        == "auto"
    )
    verdict = gate(either, "issue_refund", OTHER_ORDER, 0.9, context=context)
    assert verdict.reason == (
        "order_id 1003 is outside the task's scope (order_id 1001; related_orders one of 1002)"
    )
    optional = profile(binding(ISSUE_REFUND, scope_required=False, **ORDER_SCOPE))
    assert gate(optional, "issue_refund", OTHER_ORDER, 0.9, context={}).action == "auto"
    assert gate(optional, "issue_refund", OTHER_ORDER, 0.9, context={"order_id": 1}).action == (
        "deny"
    )


@pytest.mark.parametrize(
    ("requested", "proposed", "allowed"),
    [
        ("12.50", "12.5", True),
        (12.5, "12.50", True),  # the caller's JSON number, the tool's money string
        ("100", "100.00", True),
        ("1E+2", "100", True),
        ("12.50", "12.51", False),
        ("12.50", "1250", False),
        ("twelve", "12.50", False),  # a context value that is no amount: a scope of nothing
    ],
)
def test_a_bound_amount_compares_as_a_number(
    requested: object, proposed: object, allowed: bool
) -> None:
    """The caller writes the requested amount one way, the model another: the same amount is
    within the scope; an identifier still compares as text (order 0007 is not order 7)."""
    bound = profile(binding(ISSUE_REFUND, scope={"order_id": "order_id", "amount": "requested"}))
    context = {"order_id": 1001, "requested": requested}
    arguments = refund() | {"amount": proposed}
    verdict = gate(bound, "issue_refund", arguments, 0.9, context=context, amounts_as_numbers=True)
    assert (verdict.action == "auto") is allowed, verdict
    if not allowed:
        assert verdict.reason.startswith("amount "), verdict
    # Runs recorded before the patch compared the text, and still do on replay.
    if requested == "12.50" and proposed == "12.5":
        assert gate(bound, "issue_refund", arguments, 0.9, context=context).action == "deny"
    other = refund() | {"order_id": "1001.0", "amount": "12.50"}
    assert gate(
        bound, "issue_refund", other, 0.9, context={"order_id": 1001, "requested": "12.50"},
        amounts_as_numbers=True,
    ).action == "deny"  # fmt: skip


def test_a_scope_naming_an_argument_the_tool_lacks_is_refused() -> None:
    wrong = binding(ISSUE_REFUND, scope={"order": "order_id"})
    takes = "it takes amount, order_id, reason"
    problem = f"rules.issue_refund.scope binds 'order', which issue_refund does not take ({takes})"
    assert scope_problems("issue_refund", wrong.rule, ISSUE_REFUND.parameters) == [problem]
    verdict = gate(profile(wrong), "issue_refund", refund(), 0.9, context={"order_id": 1001})
    assert (verdict.action, verdict.reason) == ("deny", problem)


@settings(max_examples=300, deadline=None)
@given(
    args=arguments,
    confidence=confidences,
    level=autonomy,
    context=st.dictionaries(st.sampled_from(["order_id", "x"]), json_values, max_size=2),
)
def test_a_rule_without_a_scope_ignores_the_context(
    args: dict[str, Any], confidence: float | None, level: str, context: dict[str, Any]
) -> None:
    """What keeps recorded runs replaying: without a scope the verdict is today's."""
    unbound = profile(binding(ISSUE_REFUND, autonomy=level, **REFUND_RULE))
    with_context = gate(unbound, "issue_refund", args, confidence, context=context)
    assert with_context == gate(unbound, "issue_refund", args, confidence)


@settings(max_examples=300, deadline=None)
@given(args=arguments, confidence=confidences, level=autonomy)
def test_an_action_outside_the_scope_is_never_auto(
    args: dict[str, Any], confidence: float | None, level: str
) -> None:
    bound = profile(binding(ISSUE_REFUND, autonomy=level, outside_scope="review", **ORDER_SCOPE))
    verdict = gate(bound, "issue_refund", args, confidence, context={"order_id": 1001})
    order = args.get("order_id")
    if isinstance(order, bool) or order not in (1001, "1001"):  # 1001.0 == 1001: in scope
        assert verdict.action != "auto", (args, verdict)


def test_a_negative_amount_is_denied_so_it_cannot_lower_the_task_total() -> None:
    # A user's tool whose schema lets an amount be negative: -150 would bring the running
    # total down, and the next refunds could then pass task_limit one by one.
    loose = {**ISSUE_REFUND.parameters}
    loose["properties"] = {**loose["properties"], "amount": {"type": "string"}}
    tool = ToolBinding(
        name="issue_refund",
        compensation="void_refund",
        parameters=loose,
        amount_field="amount",
        rule=ToolRule(**REFUND_RULE),
    )
    verdict = gate(profile(tool), "issue_refund", refund("-150.00"), 0.99, refuse_negative=True)
    assert (verdict.action, verdict.reason) == (
        "deny",
        "issue_refund of -150.00: an amount cannot be negative",
    )
    # Runs recorded before the check replay the verdict they got.
    assert gate(profile(tool), "issue_refund", refund("-150.00"), 0.99).action == "auto"


# --- shadow rules: a second, log-only verdict ----------------------------------------------


def _shadowed(**shadow: Any) -> Profile:
    return profile(binding(ISSUE_REFUND, **REFUND_RULE, shadow=shadow), binding(SEND_EMAIL))


def _decision(amount: str, confidence: float | None = 0.95) -> Decision:
    return Decision(
        kind="tool_call", tool="issue_refund", arguments=refund(amount), confidence=confidence
    )


@pytest.mark.parametrize(
    ("shadow", "amount", "enforced", "shadowed"),
    [
        ({"autonomy": "autonomous"}, "80", "review", "auto"),  # a promotion, let through
        ({"review_above": Decimal(100)}, "80", "review", "auto"),  # a looser threshold
        ({"review_above": Decimal(20)}, "30", "auto", "review"),  # a stricter one, stopped
        ({"autonomy": "suggest"}, "10", "auto", "review"),
        ({"deny_above": Decimal(25)}, "30", "auto", "deny"),
        ({"autonomy": "autonomous"}, "600", "deny", "deny"),  # deny limits hold in shadow too
    ],
)
def test_the_shadow_rule_gates_beside_the_enforced_one(
    shadow: dict[str, Any], amount: str, enforced: str, shadowed: str
) -> None:
    shadow_profile = _shadowed(**shadow)
    decision = _decision(amount)
    assert gate_decision(shadow_profile, decision).action == enforced
    verdict = shadow_gate_decision(shadow_profile, decision)
    assert verdict is not None
    assert verdict.action == shadowed


def test_no_shadow_no_second_verdict() -> None:
    assert shadow_gate_decision(SUPERVISED, _decision("80")) is None
    # Another tool's shadow does not shadow this one.
    other = profile(binding(ISSUE_REFUND), binding(SEND_EMAIL, shadow={"autonomy": "suggest"}))
    assert shadow_gate_decision(other, _decision("80")) is None


def test_the_shadow_reads_the_same_inputs() -> None:
    shadowed = _shadowed(autonomy="autonomous", review_sample=1.0)
    verdict = shadow_gate_decision(shadowed, _decision("10"), sample_key="k")
    assert verdict is not None
    assert verdict.reason == "sampled to measure reviewer agreement"
    spent = {"issue_refund": Decimal(190)}
    verdict = shadow_gate_decision(_shadowed(autonomy="autonomous"), _decision("20"), spent=spent)
    assert verdict is not None
    assert verdict.action == "deny"


def test_a_shadow_rule_keeps_the_enforced_rule_unchanged() -> None:
    rule = ToolRule(autonomy="supervised", review_above=Decimal(50), shadow={"autonomy": "suggest"})
    shadow = rule.shadow_rule()
    assert shadow is not None
    assert shadow.autonomy == "suggest"
    assert shadow.shadow is None
    assert shadow.review_above == Decimal(50)
    assert rule.autonomy == "supervised"
    assert rule.shadow is not None
    # Recorded in history and read back, it is the same rule.
    assert ToolRule.model_validate_json(rule.model_dump_json()) == rule


@given(
    amount=st.decimals(min_value=-100, max_value=1000, places=2),
    confidence=st.one_of(st.none(), st.floats(min_value=0, max_value=1)),
    level=st.sampled_from(["suggest", "supervised", "autonomous"]),
)
def test_the_enforced_verdict_never_depends_on_the_shadow(
    amount: Decimal, confidence: float | None, level: str
) -> None:
    decision = _decision(str(amount), confidence)
    assert gate_decision(_shadowed(autonomy=level), decision) == gate_decision(SUPERVISED, decision)
