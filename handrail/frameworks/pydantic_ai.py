"""pydantic-ai agents under Handrail's governance, through pydantic-ai's own seams.

An existing ``Agent`` with the ``TemporalDurability`` capability, run by a workflow that hosts a
:class:`~handrail.governance.Governor`, gets one more capability::

    agent = Agent(model, tools=[...], capabilities=[TemporalDurability(), HandrailGovernance()])

:class:`HandrailGovernance` contributes two toolsets (the capability hooks ``get_toolset`` and
``get_wrapper_toolset``):

- :class:`HandrailTools`, the profile's tools declared with Handrail's ``@tool``: offered to the
  model with their descriptions and schemas; a call proposes to the governor and runs as
  Handrail's own tool activity (journal, idempotency key, compensation, commit point);
- :class:`GovernedToolset`, a ``WrapperToolset`` around everything the agent has: every call
  (the agent's own tools, named in the profile's ``framework_tools``, and Handrail's) is handed
  to ``Governor.propose``, and a framework tool then runs through the wrapped toolset, which
  ``TemporalDurability`` has made an activity. A tool the profile does not name is denied.

Every tool is offered with Handrail's ``rationale`` and ``confidence`` fields
(``handrail.tools.spec.function_schema``), stripped before the tool runs and passed to the
policy, which otherwise sees no confidence and sends each supervised call to a person.

pydantic-ai's deferred approval (``requires_approval=True``, ``ApprovalRequired``) becomes
Handrail's review instead of ending the run with ``DeferredToolRequests``: the call waits for a
reviewer in the workflow and runs with ``ctx.tool_call_approved`` once approved. Calls run one
at a time (``ToolDefinition.sequential``): each is a step of the task, in order.

Workflow code: the toolsets run in the workflow sandbox and do no I/O themselves.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from pydantic_ai import AbstractToolset, ToolsetTool, WrapperToolset
from pydantic_ai.capabilities import AbstractCapability
from pydantic_ai.exceptions import ApprovalRequired, ModelRetry, UserError
from pydantic_ai.tools import AgentDepsT, RunContext, ToolDefinition
from pydantic_core import to_json
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from handrail.contracts import ToolCall, ToolOutcome
    from handrail.governance import FRAMEWORK_OUTPUT, Governor
    from handrail.tools.spec import (
        CONFIDENCE_FIELD,
        RATIONALE_FIELD,
        decision_fields,
        function_schema,
    )

__all__ = ["GovernedToolset", "HandrailGovernance", "HandrailTools"]

HANDRAIL_TOOLSET_ID = "handrail"
"""The id of :class:`HandrailTools` in pydantic-ai's errors and traces. ``TemporalDurability``
makes no activity of it (not a function, dynamic or MCP toolset): it runs no tool itself."""

_Partial = bool | Literal["off", "on", "trailing-strings"]


def _governor() -> Governor:
    if not workflow.in_workflow():
        raise UserError(
            "HandrailGovernance governs an agent run inside a Temporal workflow that hosts a "
            "Handrail Governor (Governor.host(task)); run the agent from that workflow"
        )
    return Governor.current()


def _with_decision_fields(tool_def: ToolDefinition) -> ToolDefinition:
    """``tool_def`` whose parameters also ask for rationale and confidence (the schema Handrail's
    own loop offers), run one call at a time, never deferred by pydantic-ai itself."""
    schema = function_schema(
        tool_def.name, tool_def.description or "", tool_def.parameters_json_schema
    )
    return replace(
        tool_def,
        parameters_json_schema=schema["function"]["parameters"],
        sequential=True,
        # 'unapproved' would make pydantic-ai end the run with DeferredToolRequests; the governed
        # call asks a person in the workflow instead (GovernedToolset.call_tool).
        kind="function" if tool_def.kind == "unapproved" else tool_def.kind,
        # Handrail's schema is not strict-mode JSON schema (optional fields, bounds).
        strict=None,
    )


@dataclass(frozen=True)
class _KeepDecisionFields:
    """An argument validator that validates the tool's own arguments with ``inner`` and keeps
    the decision fields beside them, for :meth:`GovernedToolset.call_tool` to take out."""

    inner: Any  # SchemaValidator | SchemaValidatorProt

    def validate_json(
        self, input: str | bytes | bytearray, *, allow_partial: _Partial = False, **kwargs: Any
    ) -> Any:
        try:
            raw = json.loads(input or "{}")
        except ValueError:  # the tool's own validator says what is wrong, as without Handrail
            return self.inner.validate_json(input, allow_partial=allow_partial, **kwargs)
        return self.validate_python(raw, allow_partial=allow_partial, **kwargs)

    def validate_python(self, input: Any, *, allow_partial: _Partial = False, **kwargs: Any) -> Any:
        if not isinstance(input, dict):
            return self.inner.validate_python(input, allow_partial=allow_partial, **kwargs)
        fields = {k: input[k] for k in (RATIONALE_FIELD, CONFIDENCE_FIELD) if k in input}
        own = {k: v for k, v in input.items() if k not in fields}
        validated = self.inner.validate_python(own, allow_partial=allow_partial, **kwargs)
        return {**validated, **fields}


class _AnyObject:
    """Handrail's tools take JSON objects: the policy validates them against the tool's schema
    in the workflow (and tells the model which field is wrong) before anything runs."""

    def validate_json(
        self, input: str | bytes | bytearray, *, allow_partial: _Partial = False, **kwargs: Any
    ) -> Any:
        try:
            return self.validate_python(json.loads(input or "{}"))
        except ValueError:
            raise ModelRetry("the arguments are not valid JSON") from None

    def validate_python(self, input: Any, *, allow_partial: _Partial = False, **kwargs: Any) -> Any:
        if not isinstance(input, dict):
            raise ModelRetry("the arguments must be a JSON object")
        return input


class HandrailTools(AbstractToolset[AgentDepsT]):
    """The task profile's tools declared with Handrail's ``@tool`` (its ``tools``), offered to
    the agent. Their calls are run by :class:`GovernedToolset` (it proposes them to the
    governor, which runs them as Handrail activities), never by this toolset."""

    @property
    def id(self) -> str | None:
        return HANDRAIL_TOOLSET_ID

    async def get_tools(self, ctx: RunContext[AgentDepsT]) -> dict[str, ToolsetTool[AgentDepsT]]:
        profile = _governor().loaded_profile()
        return {
            binding.name: ToolsetTool(
                toolset=self,
                tool_def=_with_decision_fields(
                    ToolDefinition(
                        name=binding.name,
                        description=binding.description,
                        parameters_json_schema=binding.parameters or {"type": "object"},
                    )
                ),
                # Only arguments that are not a JSON object come back as a retry: a denial is
                # told to the model as the call's result.
                max_retries=1,
                args_validator=_AnyObject(),
            )
            for binding in profile.tools
            if not binding.framework
        }

    async def call_tool(
        self,
        name: str,
        tool_args: dict[str, Any],
        ctx: RunContext[AgentDepsT],
        tool: ToolsetTool[AgentDepsT],
    ) -> Any:
        raise UserError(
            f"Handrail's tool {name!r} runs only through HandrailGovernance's GovernedToolset: "
            "add HandrailGovernance() to the agent's capabilities rather than this toolset"
        )


@dataclass
class GovernedToolset(WrapperToolset[AgentDepsT]):
    """Every tool call of the agent handed to the hosting workflow's governor."""

    _framework_tools: dict[str, ToolsetTool[AgentDepsT]] = field(default_factory=dict, repr=False)
    """The wrapped toolset's own tools as it listed them (what its ``call_tool`` expects)."""

    async def get_tools(self, ctx: RunContext[AgentDepsT]) -> dict[str, ToolsetTool[AgentDepsT]]:
        tools = await self.wrapped.get_tools(ctx)
        offered: dict[str, ToolsetTool[AgentDepsT]] = {}
        for name, tool in tools.items():
            if isinstance(tool.toolset, HandrailTools):
                offered[name] = tool
                continue
            self._framework_tools[name] = tool
            offered[name] = replace(
                tool,
                tool_def=_with_decision_fields(tool.tool_def),
                args_validator=_KeepDecisionFields(tool.args_validator),
            )
        return offered

    async def call_tool(
        self,
        name: str,
        tool_args: dict[str, Any],
        ctx: RunContext[AgentDepsT],
        tool: ToolsetTool[AgentDepsT],
    ) -> Any:
        governor = _governor()
        arguments, rationale, confidence = decision_fields(tool_args)
        binding = governor.loaded_profile().binding(name)
        original = self._framework_tools.get(name)
        if binding is None or not binding.framework or original is None:
            # Handrail's own tool runs as its activity; any other the gate refuses (not in the
            # profile, or a framework tool the agent does not have), and the model is told why.
            return await governor.propose(
                name,
                arguments,
                tool_call_id=ctx.tool_call_id,
                rationale=rationale,
                confidence=confidence,
            )
        asks = original.tool_def.kind == "unapproved"
        runner = _FrameworkRun(self.wrapped, governor, name, ctx, original, approved=asks)
        told = await governor.propose(
            name,
            arguments,
            run=runner,
            tool_call_id=ctx.tool_call_id,
            rationale=rationale,
            confidence=confidence,
            review_reason=f"{name} requires approval (requires_approval=True)" if asks else None,
        )
        if not runner.asked_for_approval:
            return told
        # The tool itself raised ApprovalRequired (before acting, as pydantic-ai's pattern has
        # it): the same call again, now for a person to decide, and run approved.
        return await governor.propose(
            name,
            arguments,
            run=replace(runner, approved=True),
            tool_call_id=ctx.tool_call_id,
            rationale=rationale,
            confidence=confidence,
            review_reason=f"{name} asked for approval (ApprovalRequired)",
        )


@dataclass
class _FrameworkRun:
    """How the governor runs one framework tool call (a ``RunTool``): through the wrapped
    toolset (``TemporalDurability``'s activity), with the arguments the governor hands it (a
    reviewer's edit included), approved when a person approved it."""

    wrapped: AbstractToolset[Any]
    governor: Governor
    name: str
    ctx: RunContext[Any]
    tool: ToolsetTool[Any]
    approved: bool = False
    asked_for_approval: bool = False

    async def __call__(self, call: ToolCall) -> ToolOutcome:
        reviewed = any(s.step == call.step and s.review is not None for s in self.governor.steps)
        ctx = replace(self.ctx, tool_call_approved=self.approved or reviewed)
        try:
            result = await self.wrapped.call_tool(self.name, call.arguments, ctx, self.tool)
        except ApprovalRequired:
            self.asked_for_approval = not ctx.tool_call_approved
            return ToolOutcome(ok=False, error=f"{self.name} asks for a person's approval first")
        except ModelRetry as retry:  # the tool's message for the model: told, as any result
            return ToolOutcome(ok=False, error=retry.message)
        text = result if isinstance(result, str) else to_json(result).decode()
        return ToolOutcome(ok=True, result={FRAMEWORK_OUTPUT: text})


@dataclass
class HandrailGovernance(AbstractCapability[AgentDepsT]):
    """The capability that puts a pydantic-ai agent under the Handrail governor of the workflow
    that runs it (``Governor.host(task)``; the workflow runs the agent inside
    ``governor.govern``). Add it beside ``TemporalDurability``."""

    @classmethod
    def get_serialization_name(cls) -> str | None:
        return None  # not for agent specs: it needs the hosting workflow

    def get_toolset(self) -> AbstractToolset[AgentDepsT] | None:
        return HandrailTools()

    def get_wrapper_toolset(
        self, toolset: AbstractToolset[AgentDepsT]
    ) -> AbstractToolset[AgentDepsT] | None:
        return GovernedToolset(toolset)
