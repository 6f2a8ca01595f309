"""What a tool is, derived once: the facts the workflow, the gate, the worker's declarations
and the trust engine all read.

A declared tool states its own effect (``@tool``: read-only, undone by a compensation, or
irreversible); a tool nobody declared (an MCP server's) has the effect its profile rule gives it,
and none given is irreversible: never run unreviewed, and only at the commit point. Those who
carry the facts further (the profile's ``ToolBinding``, the worker's ``DeclaredTool`` row, the
trust engine's ``ToolFact``) take them from here as keyword arguments, so a fact added to a tool
is added in one place.
"""

from __future__ import annotations

from typing import Any, Protocol, TypedDict

from handrail.contracts import ToolRule
from handrail.tools.spec import ToolSpec


class EffectFacts(TypedDict):
    """What a tool does to the world."""

    read_only: bool
    compensation: str | None
    """The compensation that undoes it (``None``: read-only or irreversible)."""
    irreversible: bool


class DeclaredFacts(EffectFacts):
    """A declared tool's facts, as the worker writes them and a loaded profile binds them."""

    name: str
    amount_field: str | None
    parameters: dict[str, Any]


class StatesItsEffect(Protocol):
    """Anything that carries a tool's effect (``ToolSpec``, ``ToolBinding``, ``DeclaredTool``)."""

    @property
    def read_only(self) -> bool: ...
    @property
    def compensation(self) -> str | None: ...
    @property
    def irreversible(self) -> bool: ...


def effect_of(tool: StatesItsEffect) -> EffectFacts:
    """The effect ``tool`` states."""
    return {
        "read_only": tool.read_only,
        "compensation": tool.compensation,
        "irreversible": tool.irreversible,
    }


def effect_of_rule(rule: ToolRule) -> EffectFacts:
    """The effect a profile rule gives a tool nobody declared: its ``effect``, irreversible
    when it names none; the compensation only of a compensated one."""
    effect = rule.effect or "irreversible"
    return {
        "read_only": effect == "read_only",
        "compensation": rule.compensation if effect == "compensated" else None,
        "irreversible": effect == "irreversible",
    }


def declared_facts(spec: ToolSpec) -> DeclaredFacts:
    """A declared tool's facts: its effect, the argument that carries money, its schema."""
    return {
        "name": spec.name,
        **effect_of(spec),
        "amount_field": spec.amount_field,
        "parameters": spec.parameters,
    }
