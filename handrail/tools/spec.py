"""What the model and the policy know of a tool: its name, description, argument schema and the
facts the workflow needs (effect kind, money field, sensitive fields, UI summary, timeouts).

A ``ToolSpec`` comes from a declared tool (``handrail.tools.declare``: a pydantic model of the
arguments) or from an MCP server (a JSON schema the server sends). Either way it turns into the
function schema the model sees and validates what the model sends back, so that a tool activity
only ever receives arguments that passed the tool's own schema.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from typing import Any

from jsonschema import Draft202012Validator
from pydantic import BaseModel, ValidationError

from handrail.errors import describe_validation_error
from handrail.workflows.options import ACTION_TIMEOUT, READ_TOOL_TIMEOUT

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


def read_confidence(value: object) -> float | None:
    """The stated confidence if it is a number in [0, 1]; anything else (a string, a bool,
    out of range, not finite) counts as missing: the policy then treats the call as unsure."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) and 0.0 <= number <= 1.0 else None


def decision_fields(arguments: dict[str, Any]) -> tuple[dict[str, Any], str, float | None]:
    """A tool call's own arguments, and the rationale and confidence the model stated beside
    them (the fields every tool is offered with), read by one rule wherever a call comes from:
    Handrail's loop and every framework adapter."""
    own = dict(arguments)
    rationale = own.pop(RATIONALE_FIELD, "")
    confidence = read_confidence(own.pop(CONFIDENCE_FIELD, None))
    return own, rationale if isinstance(rationale, str) else str(rationale), confidence


@dataclass(frozen=True, eq=False)
class ToolSpec:
    """A tool the agent may call. Its activity is registered under ``activity`` (the tool's name
    unless the tool comes from an MCP server, whose tools share one call activity)."""

    name: str
    description: str
    arguments: type[BaseModel] | None = None
    """The pydantic model of the arguments (declared tools); None for a JSON-schema-only tool."""
    schema: dict[str, Any] | None = None
    """The JSON schema of the arguments when there is no model (MCP tools)."""
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
    activity: str = ""
    """The activity that runs the tool; empty means the tool's own name."""
    timeout: timedelta | None = None
    """How long one attempt may run (None: the default, 10 s). Longer than the default, the
    tool runs as a regular activity with a heartbeat timeout, its reads too."""
    heartbeat: timedelta | None = None
    """How long an attempt may go without a heartbeat before it is retried elsewhere (None: the
    workflow's default for a tool longer than the default timeout, else none). The runner
    heartbeats for the tool: it is how soon a dead worker is noticed, not work for the author."""

    def __post_init__(self) -> None:
        self._check_timeouts()
        if (self.arguments is None) == (self.schema is None):
            raise ValueError(f"tool {self.name!r}: give an argument model or a JSON schema")
        # A side effect must be undoable or declared irreversible: nothing falls in between.
        effects = (self.compensation is not None) + self.irreversible
        if self.read_only and effects:
            raise ValueError(f"read-only tool {self.name!r} cannot have a compensation")
        if not self.read_only and effects != 1:
            raise ValueError(
                f"tool {self.name!r} changes the world: give it a compensation "
                "or mark it irreversible (exactly one)"
            )

    def _check_timeouts(self) -> None:
        default = READ_TOOL_TIMEOUT if self.read_only else ACTION_TIMEOUT
        timeout = self.timeout or default
        for what, value in (("timeout", self.timeout), ("heartbeat", self.heartbeat)):
            if value is not None and value <= timedelta(0):
                raise ValueError(
                    f"tool {self.name!r}: {what} must be positive, not {_seconds(value)}"
                )
        if self.heartbeat is not None and self.heartbeat >= timeout:
            given = "its" if self.timeout else "the default"
            raise ValueError(
                f"tool {self.name!r}: heartbeat ({_seconds(self.heartbeat)}) must be shorter "
                f"than {given} timeout ({_seconds(timeout)}): a dead worker is noticed after "
                "the heartbeat timeout, a hung one after the timeout"
            )

    @property
    def activity_name(self) -> str:
        return self.activity or self.name

    @cached_property
    def parameters(self) -> dict[str, Any]:
        """The JSON schema of the arguments (built once: pydantic's schema generation costs
        milliseconds, and the decide activity and profile loading need it every time)."""
        if self.arguments is not None:
            return self.arguments.model_json_schema()
        assert self.schema is not None
        return self.schema

    def openai_schema(self) -> dict[str, Any]:
        """The Chat Completions ``tools`` entry, decision fields included."""
        return function_schema(self.name, self.description, self.parameters)

    def validate_arguments(self, raw: dict[str, Any]) -> dict[str, Any]:
        """The arguments as JSON-ready values; raises ``ValueError`` naming the bad field."""
        if self.arguments is not None:
            try:
                return self.arguments.model_validate(raw).model_dump(mode="json")
            except ValidationError as error:
                raise ValueError(
                    describe_validation_error(f"arguments for {self.name}", error)
                ) from None
        problems = sorted(
            f"{'.'.join(str(p) for p in e.absolute_path) or '(arguments)'}: {e.message}"
            for e in self._validator.iter_errors(raw)
        )
        if problems:
            raise ValueError(f"invalid arguments for {self.name}: " + "; ".join(problems))
        return raw

    @cached_property
    def _validator(self) -> Draft202012Validator:
        return Draft202012Validator(json.loads(json.dumps(self.parameters)))


def _seconds(value: timedelta) -> str:
    return f"{value.total_seconds():g} s"


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
