"""A tool's facts, derived once (``handrail.tools.facts``): the loaded profile's bindings, the
worker's declarations and the trust engine's facts say the same of every tool, declared or
known only by a profile rule (an MCP tool)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from handrail import ToolContext, UndoContext, compensation, tool
from handrail.activities.profiles import _mcp_binding, declared_binding
from handrail.contracts import ToolRule
from handrail.plugin import declared_tools
from handrail.tools import ToolRegistry, ToolSpec
from handrail.tools.facts import EffectFacts, effect_of, effect_of_rule
from handrail.trust.tool_facts import ToolFact, ToolFacts, profile_facts


class Account(BaseModel):
    account: int
    credit: float = 0


@tool(read_only=True)
async def look_up_account(args: Account, ctx: ToolContext) -> dict[str, Any]:
    """Look an account up."""
    return {}


@tool(compensated_by="revoke_credit", amount_field="credit")
async def grant_credit(args: Account, ctx: ToolContext) -> dict[str, Any]:
    """Credit an account."""
    return {}


@compensation(undoes="grant_credit")
async def revoke_credit(ctx: UndoContext) -> bool:
    """Take the credit back."""
    return True


@tool(irreversible=True)
async def close_account(args: Account, ctx: ToolContext) -> dict[str, Any]:
    """Close an account for good."""
    return {}


def test_declared_tools_are_described_alike_everywhere() -> None:
    registry = ToolRegistry([look_up_account, grant_credit, close_account], [revoke_credit])
    declared = {row.name: row for row in declared_tools(registry)}
    facts = ToolFacts.from_registry(registry, registry.names)
    for name in registry.names:
        spec = registry.get(name)
        assert spec is not None
        binding = declared_binding(spec, None)
        stated = effect_of(spec)
        assert effect_of(binding) == effect_of(declared[name]) == stated
        assert ToolFacts.from_bindings([binding])[name] == facts[name] == ToolFact(name, **stated)
        assert binding.amount_field == declared[name].amount_field == spec.amount_field
        assert binding.parameters == declared[name].parameters == spec.parameters
    assert effect_of(declared["grant_credit"]) == {
        "read_only": False,
        "compensation": "revoke_credit",
        "irreversible": False,
    }


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (
            ToolRule(effect="read_only"),
            {"read_only": True, "compensation": None, "irreversible": False},
        ),
        (
            ToolRule(effect="compensated", compensation="undo_it"),
            {"read_only": False, "compensation": "undo_it", "irreversible": False},
        ),
        (
            ToolRule(effect="irreversible"),
            {"read_only": False, "compensation": None, "irreversible": True},
        ),
        (ToolRule(), {"read_only": False, "compensation": None, "irreversible": True}),
    ],
)
def test_a_rule_gives_an_undeclared_tool_its_effect(
    rule: ToolRule, expected: EffectFacts, tmp_path: Path
) -> None:
    spec = ToolSpec(name="docs_search", description="An MCP tool.", schema={}, irreversible=True)
    assert effect_of(_mcp_binding(spec, rule)) == effect_of_rule(rule) == expected
    # The profile files say the same to the trust engine; a rule naming no effect says nothing.
    rules = f'[rules.docs_search]\neffect = "{rule.effect}"\n' if rule.effect else ""
    if rule.compensation:
        rules += f'compensation = "{rule.compensation}"\n'
    (tmp_path / "docs.toml").write_text(
        'name = "docs"\nsystem_prompt = "Search."\ntools = []\n'
        f'[[mcp_servers]]\nname = "docs"\nurl = "http://127.0.0.1:9/mcp"\n{rules}'
    )
    known = profile_facts([tmp_path])
    if rule.effect is None:
        assert "docs_search" not in known
    else:
        assert known["docs_search"] == ToolFact("docs_search", **expected)
