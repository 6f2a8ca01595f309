"""``handrail.Money``: the JSON schema the policy checks inside the workflow refuses exactly the
amounts the tool's pydantic model refuses, and the policy reads the amount for its limits."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import jsonschema
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, ValidationError

from handrail import ToolContext, tool
from handrail.activities.profiles import declared_binding
from handrail.contracts import Profile, ToolRule
from handrail.policy.gate import gate
from handrail.tools import Money
from handrail.tools import Money as MoneyFromTools


class RefundArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: Money


@tool(compensated_by="void_refund", amount_field="amount")
async def refund(args: RefundArgs, ctx: ToolContext) -> dict[str, Any]:
    """Refund an amount."""
    return {}


SCHEMA = RefundArgs.model_json_schema()


def _schema_accepts(value: object) -> bool:
    return jsonschema.Draft202012Validator(SCHEMA).is_valid({"amount": value})


def _model_accepts(value: object) -> bool:
    try:
        RefundArgs.model_validate({"amount": value})
    except ValidationError:
        return False
    return True


@given(st.from_regex(r"\A-?[0-9]{0,10}(\.[0-9]{0,3})?\Z") | st.text(max_size=12))
@example("12.50")
@example("0")
@example("0.00")
@example("00.01")
@example("-1.00")
@example("1.234")
@example("1.000")
@example("99999999.99")
@example("100000000")
@example("1e3")
@example(" 12.50")
def test_the_schema_refuses_what_the_type_refuses(text: str) -> None:
    # Never let through what the tool would refuse; a plain decimal string, both alike. (The
    # schema also refuses forms the type would parse, "1e3", " 12.50", "007", and "1.000", whose
    # third place pydantic drops as a trailing zero: refused at the gate.)
    if _schema_accepts(text):
        assert _model_accepts(text), text
    if re.fullmatch(r"-?(0|[1-9][0-9]*)(\.[0-9]{1,2})?", text):  # no leading zeros
        assert _schema_accepts(text) == _model_accepts(text), text


def test_numbers_are_refused_by_the_schema_before_the_tool() -> None:
    # A float cannot state an exact amount: the gate refuses it, the tool never sees it.
    assert not _schema_accepts(12.5)
    assert _schema_accepts("12.5")


def test_the_policy_reads_the_amount_for_its_limits() -> None:
    rule = ToolRule(autonomy="autonomous", deny_above=100)
    profile = Profile(
        name="p", model="m", system_prompt="s", tools=[declared_binding(refund.spec, rule)]
    )
    over = gate(profile, "refund", {"amount": "150.00"}, 0.9)
    under = gate(profile, "refund", {"amount": "15.00"}, 0.9)
    zero = gate(profile, "refund", {"amount": "0"}, 0.9)
    assert over.action == "deny"
    assert "150.00" in over.reason
    assert under.action == "auto"
    assert zero.action == "deny"
    assert "amount" in zero.reason


def test_one_type_from_both_public_places() -> None:
    assert Money is MoneyFromTools
    assert RefundArgs(amount=Decimal("12.5")).amount == Decimal("12.50")
