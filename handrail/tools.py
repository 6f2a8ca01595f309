"""The tool registry: what each tool is called, what it takes, and how it is run.

A tool is a pydantic model of its arguments plus a few facts. The registry turns it into the
OpenAI function schema the model sees and validates what the model sends back, so that a tool
activity only ever receives arguments that passed the tool's own schema.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ValidationError

from handrail.errors import describe_validation_error

# Every tool the model calls also states why and how sure it is. They are stripped before the
# arguments are validated; the policy reads them, the tool never does.
RATIONALE_FIELD = "rationale"
CONFIDENCE_FIELD = "confidence"
_DECISION_FIELDS: dict[str, Any] = {
    RATIONALE_FIELD: {"type": "string", "description": "Why this is the right next step."},
    CONFIDENCE_FIELD: {
        "type": "number",
        "minimum": 0,
        "maximum": 1,
        "description": "How sure you are that this step is right, from 0 to 1.",
    },
}


@dataclass(frozen=True)
class ToolSpec:
    """A tool the agent may call. Its activity is registered under ``name``."""

    name: str
    description: str
    arguments: type[BaseModel]
    read_only: bool = False
    compensation: str | None = None
    """Name of the activity that undoes this tool's effect, given the action's idempotency key."""
    irreversible: bool = False
    """No undo exists (an email): the workflow runs it only when the task commits."""
    amount_field: str | None = None
    """The argument that carries money, read by the policy's risk limits."""
    sensitive: tuple[str, ...] = ()
    """Arguments never shown in traces, logs, summaries or exports (personal data, secrets)."""
    summary: str = ""
    """How the UI names one call, e.g. ``"{amount} on order {order_id}"`` (missing keys show
    as ``?``)."""

    def __post_init__(self) -> None:
        # A side effect must be undoable or declared irreversible: nothing falls in between.
        effects = (self.compensation is not None) + self.irreversible
        if self.read_only and effects:
            raise ValueError(f"read-only tool {self.name!r} cannot have a compensation")
        if not self.read_only and effects != 1:
            raise ValueError(
                f"tool {self.name!r} changes the world: give it a compensation "
                "or mark it irreversible (exactly one)"
            )

    def openai_schema(self) -> dict[str, Any]:
        """The Chat Completions ``tools`` entry, decision fields included (built once: pydantic's
        schema generation costs milliseconds, and the decide activity needs it every step)."""
        return _openai_schema(self)

    def validate_arguments(self, raw: dict[str, Any]) -> BaseModel:
        """The arguments as the tool's model; raises ``ValueError`` naming the bad field."""
        try:
            return self.arguments.model_validate(raw)
        except ValidationError as error:
            raise ValueError(
                describe_validation_error(f"arguments for {self.name}", error)
            ) from None


@lru_cache(maxsize=512)
def _openai_schema(spec: ToolSpec) -> dict[str, Any]:
    return function_schema(spec.name, spec.description, spec.arguments.model_json_schema())


def function_schema(name: str, description: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """A Chat Completions function tool whose parameters also ask for rationale and confidence."""
    properties = dict(parameters.get("properties", {}))
    properties.update(_DECISION_FIELDS)
    required = [*parameters.get("required", []), RATIONALE_FIELD, CONFIDENCE_FIELD]
    schema = {k: v for k, v in parameters.items() if k not in ("properties", "required", "title")}
    schema.update({"type": "object", "properties": properties, "required": required})
    return {
        "type": "function",
        "function": {"name": name, "description": description, "parameters": schema},
    }


class ToolRegistry:
    """Tools by name. Built once by the worker; not imported by workflow code."""

    def __init__(self, tools: Iterable[ToolSpec]) -> None:
        self._tools: dict[str, ToolSpec] = {}
        for tool in tools:
            if tool.name in self._tools:
                raise ValueError(f"tool {tool.name!r} is registered twice")
            self._tools[tool.name] = tool

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def get(self, name: str) -> ToolSpec | None:
        return self._tools.get(name)

    @property
    def names(self) -> list[str]:
        return sorted(self._tools)
