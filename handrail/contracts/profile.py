"""How a profile configures an agent: its tools, their autonomy rules and the review ladder."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from handrail.contracts._base import _Contract

Autonomy = Literal["suggest", "supervised", "autonomous"]
OutsideScope = Literal["deny", "review"]
"""What the policy does with an action outside the task's scope (or a task with no scope)."""
EditsOutsideScope = Literal["refuse", "allow"]
"""Whether a reviewer's edit may move a bound argument outside the task's scope."""
CommitFailure = Literal["roll_back", "keep"]
"""What a task keeps when an action held back to its commit point fails there."""


class ShadowRule(_Contract):
    """A rule's shadow: fields that override the enforced rule's in a second, log-only gate
    (the profile's ``[rules.TOOL.shadow]``). Every action of the tool is gated twice, by the
    enforced rule and by this one over it; only the enforced verdict acts, the shadow's is
    recorded on the step (``StepRecord.shadow_gate``) so that ``stats`` can show what it would
    have let through or stopped before anyone enforces it. ``autonomy`` alone runs a whole
    autonomy level in shadow (e.g. the promotion ``stats`` recommends).

    Only the fields the gate reads: shared limits, effects and compensations act outside the
    gate (in the state store, in the saga) and have nothing to shadow. Unset fields (None) are
    the enforced rule's.
    """

    autonomy: Autonomy | None = None
    min_confidence: float | None = Field(default=None, ge=0, le=1)
    review_above: Decimal | None = Field(default=None, ge=0)
    deny_above: Decimal | None = Field(default=None, ge=0)
    task_limit: Decimal | None = Field(default=None, ge=0)
    review_sample: float | None = Field(default=None, ge=0, le=1)
    outside_scope: OutsideScope | None = None

    @model_validator(mode="after")
    def _overrides_something(self) -> ShadowRule:
        if not self.overrides():
            fields = ", ".join(type(self).model_fields)
            raise ValueError(f"a shadow rule sets nothing: give at least one of {fields}")
        return self

    def overrides(self) -> dict[str, Any]:
        """The fields this shadow sets, as the enforced rule's update."""
        return {name: value for name, value in self if value is not None}


class ToolRule(_Contract):
    """How much a tool may do on its own: the policy's input, set per tool in the profile.

    - ``suggest``: never runs without a reviewer's approval;
    - ``supervised``: runs when the model is confident enough and the action is within limits
      and reversible; otherwise a reviewer decides;
    - ``autonomous``: runs; a sampled share still goes to review so agreement keeps being
      measured. Deny limits apply at every level.
    """

    autonomy: Autonomy = "supervised"
    min_confidence: float = Field(default=0.8, ge=0, le=1)
    review_above: Decimal | None = Field(
        default=None, ge=0, description="An amount above this needs a reviewer (supervised)."
    )
    deny_above: Decimal | None = Field(
        default=None, ge=0, description="An amount above this is refused at any level."
    )
    task_limit: Decimal | None = Field(
        default=None, ge=0, description="Refused when this task's total for the tool would pass it."
    )
    effect: Literal["read_only", "compensated", "irreversible"] | None = Field(
        default=None,
        description="For a tool the worker did not declare (an MCP tool): what it does to the "
        "world. Unset for such a tool: irreversible, so it never runs unreviewed or before "
        "the commit point. Declared tools state their own effect.",
    )
    compensation: str | None = Field(
        default=None,
        description="With effect 'compensated': the registered compensation that undoes it.",
    )
    review_sample: float = Field(
        default=0.0, ge=0, le=1, description="Share of autonomous actions sent to review anyway."
    )
    shared_limit: Decimal | None = Field(
        default=None,
        ge=0,
        description="Refused when live amounts across ALL tasks (per scope, in the window) "
        "would pass it; enforced in the state store before the effect.",
    )
    shared_limit_per: str | None = Field(
        default=None,
        description="The argument whose value scopes the shared limit (e.g. 'order_id'); "
        "unset: one scope for the tool.",
    )
    shared_limit_window: timedelta | None = Field(
        default=None,
        gt=timedelta(0),
        description="How far back the shared limit looks (ISO 8601 duration, e.g. 'P1D').",
    )

    scope: dict[str, str | list[str]] = Field(
        default_factory=dict,
        description="Arguments bound to the task's scope: argument name → the key (or keys) "
        "of the task's `context` whose value(s) the argument must equal, e.g. "
        "{order_id = 'order_id'}. Empty: the tool is not bound (gated as before).",
    )
    scope_required: bool = Field(
        default=True,
        description="A task whose context lacks every bound key is outside the scope (true), "
        "or not bound at all (false: for tasks that come without a scope, e.g. free chat).",
    )
    outside_scope: OutsideScope | None = Field(
        default=None,
        description="What an action outside the scope gets: 'deny' or 'review'. Unset: the "
        "profile's `outside_scope` (filled in when the profile loads; 'deny' without one).",
    )
    edits_outside_scope: EditsOutsideScope = Field(
        default="refuse",
        description="A reviewer's edit is held to the rule's `scope` like the model's proposal: "
        "'refuse' (the default) refuses an edit naming something outside the task's scope; "
        "'allow' lets a person send the action elsewhere (the edit still meets every limit).",
    )
    shadow: ShadowRule | None = Field(
        default=None,
        description="A log-only variant of this rule, gated beside it and recorded, never "
        "enforced (None: no shadow; the gate runs once, as before).",
    )

    def shadow_rule(self) -> ToolRule | None:
        """This rule with its shadow's fields over it (the shadow gate's rule), or None."""
        if self.shadow is None:
            return None
        return self.model_copy(update={**self.shadow.overrides(), "shadow": None})

    @field_validator("scope", mode="before")
    @classmethod
    def _scope_names_keys(cls, scope: Any) -> Any:
        # One clear message per mistake, instead of pydantic's two for a failed union.
        if not isinstance(scope, dict):
            return scope
        for argument, keys in scope.items():
            if not isinstance(argument, str) or not argument.strip():
                raise PydanticCustomError("scope", "an argument name must be a non-empty string")
            listed = keys if isinstance(keys, list) else [keys]
            if not listed or not all(isinstance(key, str) and key.strip() for key in listed):
                raise PydanticCustomError(
                    "scope",
                    "{argument} is bound to {keys}: a task context key must be a non-empty "
                    "string, or a non-empty list of them (one of several keys)",
                    {"argument": argument, "keys": repr(keys)},
                )
        return scope

    @model_validator(mode="after")
    def _shared_limit_complete(self) -> ToolRule:
        if self.shared_limit is None:
            if self.shared_limit_per is not None or self.shared_limit_window is not None:
                raise ValueError("shared_limit_per and shared_limit_window need a shared_limit")
        elif self.shared_limit_window is None:
            raise ValueError("a shared_limit needs a shared_limit_window (e.g. 'P1D')")
        return self


class ToolBinding(_Contract):
    """A tool as a profile enables it, with the facts the workflow needs to run it."""

    name: str
    read_only: bool = Field(
        default=False,
        description="Reads only: run as a local activity (one round trip less per step).",
    )
    compensation: str | None = Field(
        default=None, description="Activity that undoes this tool's effect, by idempotency key."
    )
    irreversible: bool = Field(
        default=False,
        description="Cannot be undone: runs only when the task commits, after every reversible "
        "step has succeeded (see handrail/policy/gate.py).",
    )
    parameters: dict[str, Any] = Field(
        default_factory=dict, description="JSON schema of the arguments, checked by the policy."
    )
    amount_field: str | None = Field(
        default=None, description="The argument that carries money, for the risk limits."
    )
    rule: ToolRule = Field(default_factory=ToolRule)
    sensitive: list[str] = Field(
        default_factory=list, description="Arguments redacted in traces, logs and exports."
    )
    activity: str | None = Field(
        default=None,
        description="The activity that runs the tool when it is not the tool's own name "
        "(an MCP server's `<server>-call-tool`).",
    )
    summary: str = Field(
        default="",
        description="One-line description template, e.g. '{amount} on order {order_id}'.",
    )
    # Both None unless the tool declares them: a run recorded before they existed, and any tool
    # that declares neither, schedules its activity exactly as before (no patch needed).
    timeout: timedelta | None = Field(
        default=None,
        gt=timedelta(0),
        description="The tool's declared start-to-close per attempt (None: the default, 10 s).",
    )
    heartbeat: timedelta | None = Field(
        default=None,
        gt=timedelta(0),
        description="The tool's declared heartbeat timeout (None: the workflow's default for a "
        "tool longer than the default timeout, else none).",
    )
    description: str = Field(default="", description="What the model is told the tool does.")
    framework: bool = Field(
        default=False,
        description="Defined and run by the agent's framework (`framework_tools`), not by a "
        "Handrail activity: the governor gates, reviews and records it; the adapter runs it.",
    )


class FinalAnswerRule(_Contract):
    """How the policy gates a final answer (the profile's ``[final_answer]`` table).

    A final answer is a decision too, whatever form it arrives in: a plain-text reply counts as
    a final answer with no stated confidence. Besides these settings one rule always holds: a
    task that changed the world and ends with an answer stating no confidence goes to review.
    """

    min_confidence: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="A final answer below this stated confidence (or with none) needs a reviewer.",
    )
    review_if_changed: bool = Field(
        default=False,
        description="Every final answer of a task that changed the world needs a reviewer.",
    )


class CommitRule(_Contract):
    """The commit point (the profile's ``[commit]`` table): after the final answer, the actions
    held back because they cannot be undone run in order. If one fails there (the tool says no,
    or fails for good), the commit stops, the later ones never run, the answer is not delivered
    and the task ends ``commit_failed``; ``on_failure`` says what happens to the reversible
    effects the task already made."""

    on_failure: CommitFailure = Field(
        default="roll_back",
        description="'roll_back' (the default): undo the task's earlier reversible effects, as "
        "any ending without a delivered answer does; 'keep': leave them for a person to judge.",
    )


class McpServer(_Contract):
    """An MCP server a profile takes tools from: a stdio command or a streamable-HTTP URL.

    No credentials here (a profile is recorded in workflow history): a server's token comes
    from the worker's settings (``HANDRAIL_MCP_TOKENS``) by the server's ``name``.
    """

    name: str = Field(
        pattern=r"^[A-Za-z0-9_-]{1,32}$",
        description="Stable id: names the server's activities (`<name>-call-tool`).",
    )
    command: list[str] = Field(
        default_factory=list, description="stdio: the command line that starts the server."
    )
    env: dict[str, str] = Field(
        default_factory=dict,
        description="stdio: environment variables for the server (settings, not secrets).",
    )
    url: str | None = Field(default=None, description="streamable HTTP: the endpoint URL.")
    prefix: str = Field(
        default="",
        pattern=r"^[A-Za-z0-9_-]{0,16}$",
        description="Prepended to the server's tool names, to keep two servers' tools apart.",
    )

    @model_validator(mode="after")
    def _one_transport(self) -> McpServer:
        if bool(self.command) == bool(self.url):
            raise ValueError(f"MCP server {self.name!r}: give exactly one of `command` and `url`")
        return self


class ReviewTier(_Contract):
    """One rung of the review ladder: who may decide, and how long they have."""

    name: str
    reviewers: list[str] = Field(min_length=1)
    deadline: timedelta = Field(gt=timedelta(0))


class Profile(_Contract):
    """A named agent configuration as the run recorded it (output of ``load_profile``)."""

    name: str
    description: str = ""
    model: str
    system_prompt: str
    tools: list[ToolBinding] = Field(default_factory=list)
    max_steps: int = Field(default=8, ge=1)
    max_tokens: int | None = Field(default=None, ge=1, description="Budget: tokens in + out.")
    max_duration_seconds: float | None = Field(
        default=None, gt=0, description="Budget: wall time from the task's start."
    )
    review_tiers: list[ReviewTier] = Field(
        default_factory=list, description="Escalation ladder; none means review fails safe."
    )
    final_answer: FinalAnswerRule = Field(default_factory=FinalAnswerRule)
    commit: CommitRule = Field(
        default_factory=CommitRule, description="What a failure at the commit point keeps."
    )
    mcp_servers: list[McpServer] = Field(
        default_factory=list, description="MCP servers whose tools this profile may call."
    )
    continue_after_events: int | None = Field(
        default=None,
        ge=100,
        description="Continue as new between steps once a run's history has this many events "
        "(the worker's setting), or when Temporal suggests it, whichever comes first.",
    )
    max_consecutive_refusals: int = Field(
        default=3,
        ge=1,
        description="Refused steps in a row (unknown tool, bad JSON or arguments, denied by "
        "policy) after which the task escalates to a person instead of spending its budget.",
    )

    @property
    def tool_names(self) -> list[str]:
        return [tool.name for tool in self.tools]

    def binding(self, name: str) -> ToolBinding | None:
        return next((tool for tool in self.tools if tool.name == name), None)


class LoadProfileRequest(_Contract):
    name: str
    describe_tools: bool = Field(
        default=False,
        description="Fill each declared tool's `description` (for a framework adapter's agent).",
    )
