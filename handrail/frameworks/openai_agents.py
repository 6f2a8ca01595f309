"""An OpenAI Agents SDK agent under Handrail's governance (extra: ``handrail[openai-agents]``).

An ``agents.Agent`` run by ``Runner.run`` inside a Temporal workflow (Temporal's
``OpenAIAgentsPlugin`` makes its model calls activities) keeps its instructions, model and
loop; :func:`governed` gives the run a copy of it whose every function tool goes through the
workflow's :class:`~handrail.governance.Governor`:

- the agent's own function tools (``function_tool``, ``activity_as_tool``), listed in the
  profile's ``framework_tools``, are proposed to the governor and, if the gate (and perhaps a
  reviewer) lets them, run as the SDK would have run them (their ``on_invoke_tool``);
- the profile's Handrail tools (declared with ``@tool``, or an MCP server's) are added as
  function tools that propose and then run as Handrail's own tool activities (journal,
  idempotency key, compensation pushed first, shared limits, irreversible ones held to the
  commit point);
- the SDK's own approval (``needs_approval``) becomes a Handrail review: a person decides in the
  inbox, the CLI or the API, and the SDK never interrupts the run for it.

Every tool is offered to the model with Handrail's ``rationale`` and ``confidence`` fields
(``handrail.tools.spec``); they are taken off before the tool runs and handed to the policy.
When governance ends the task (a reviewer rejected, a budget is spent), the tool raises
:class:`~handrail.governance.TaskEndedError`; the SDK re-raises it as its ``UserError`` and the
run stops; ``Governor.govern`` then ends the task as governance said.

Workflow code: import it inside the workflow sandbox (it does no I/O).
"""

from __future__ import annotations

import copy
import json
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from agents import Agent, FunctionTool
    from agents.tool_context import ToolContext

    from handrail.contracts import Profile, ToolBinding, ToolCall, ToolOutcome
    from handrail.governance import FRAMEWORK_OUTPUT, Governor
    from handrail.tools.spec import decision_fields, function_schema

__all__ = ["governed"]

ContextT = TypeVar("ContextT")

NEEDS_APPROVAL = "{tool} asks for approval (needs_approval in its OpenAI Agents SDK definition)"
"""The review reason when the SDK's own definition of a tool asks for approval."""


def governed(agent: Agent[ContextT], governor: Governor, profile: Profile) -> Agent[ContextT]:
    """A copy of ``agent`` (and of the agents it hands off to) whose function tools propose
    to ``governor``, plus the profile's Handrail tools. ``profile``: the one
    ``Governor.govern`` hands the agent. Raises ``TypeError`` for a tool this seam cannot
    govern (a hosted, computer or shell tool, an MCP server of the SDK's own)."""
    return _Governing(governor, profile).agent(agent)


class _Governing:
    def __init__(self, governor: Governor, profile: Profile) -> None:
        self._governor = governor
        self._profile = profile
        self._copies: dict[int, Agent[Any]] = {}  # handoffs may form a circle

    def agent(self, agent: Agent[ContextT]) -> Agent[ContextT]:
        done = self._copies.get(id(agent))
        if done is not None:
            return done
        if agent.mcp_servers:
            raise TypeError(
                f"agent {agent.name!r} has MCP servers of its own, whose tools Handrail cannot "
                "gate: name them in the profile's mcp_servers instead"
            )
        own = {tool.name for tool in agent.tools if isinstance(tool, FunctionTool)}
        handrail = [b for b in self._profile.tools if not b.framework]
        clash = sorted(own & {b.name for b in handrail})
        if clash:
            raise ValueError(
                f"agent {agent.name!r} defines {', '.join(clash)}, which the profile also "
                "declares as Handrail tools: keep one definition"
            )
        copied = agent.clone(tools=[])
        self._copies[id(agent)] = copied
        copied.tools = [
            *(self._framework_tool(agent.name, tool) for tool in agent.tools),
            *(self._handrail_tool(binding) for binding in handrail),
        ]
        copied.handoffs = [
            self.agent(target) if isinstance(target, Agent) else target for target in agent.handoffs
        ]
        return copied

    def _framework_tool(self, agent: str, tool: object) -> FunctionTool:
        """The agent's own tool, proposed before the SDK runs it (a tool the profile does not
        list is denied by the gate, and the model told so)."""
        if not isinstance(tool, FunctionTool):
            raise TypeError(
                f"agent {agent!r}: {type(tool).__name__} {getattr(tool, 'name', '')!r} is not a "
                "function tool, so Handrail cannot gate it: remove it, or wrap its work in a "
                "function_tool or activity_as_tool"
            )
        governor = self._governor
        original = tool

        async def invoke(ctx: ToolContext[Any], raw: str) -> str:
            arguments, rationale, confidence = _split(raw)
            if arguments is None:
                return _malformed(original.name, raw)

            async def run(call: ToolCall) -> ToolOutcome:
                return await _run_original(original, ctx, call)

            return await governor.propose(
                original.name,
                arguments,
                run=run,
                tool_call_id=ctx.tool_call_id,
                rationale=rationale,
                confidence=confidence,
                review_reason=await _approval_asked(original, ctx, arguments),
            )

        wrapped = copy.copy(original)
        wrapped.params_json_schema = _with_decision_fields(original)
        wrapped.on_invoke_tool = invoke
        # Approval is Handrail's review now: the SDK must not interrupt the run for it.
        wrapped.needs_approval = False
        # A review may take a day: the SDK's per-call timeout would cut it short.
        wrapped.timeout_seconds = None
        return wrapped

    def _handrail_tool(self, binding: ToolBinding) -> FunctionTool:
        """A Handrail tool offered to the SDK's model: proposed, then run as its activity."""
        governor = self._governor

        async def invoke(ctx: ToolContext[Any], raw: str) -> str:
            arguments, rationale, confidence = _split(raw)
            if arguments is None:
                return _malformed(binding.name, raw)
            return await governor.propose(
                binding.name,
                arguments,
                tool_call_id=ctx.tool_call_id,
                rationale=rationale,
                confidence=confidence,
            )

        schema = function_schema(binding.name, binding.description, binding.parameters)
        return FunctionTool(
            name=binding.name,
            description=binding.description,
            params_json_schema=schema["function"]["parameters"],
            on_invoke_tool=invoke,
            # The policy checks the arguments against the tool's own schema, which may have
            # optional fields that strict mode cannot express.
            strict_json_schema=False,
        )


def _with_decision_fields(tool: FunctionTool) -> dict[str, Any]:
    """The tool's schema with Handrail's rationale and confidence fields added."""
    parameters: dict[str, Any] = function_schema(
        tool.name, tool.description, tool.params_json_schema
    )["function"]["parameters"]
    return parameters


def _split(raw: str) -> tuple[dict[str, Any] | None, str, float | None]:
    """The model's arguments without the decision fields, its rationale and its confidence
    (None arguments: not a JSON object)."""
    try:
        arguments = json.loads(raw or "{}")
    except ValueError:
        return None, "", None
    if not isinstance(arguments, dict):
        return None, "", None
    return decision_fields(arguments)


def _malformed(tool: str, raw: str) -> str:
    return json.dumps({"error": f"the arguments for {tool} are not a JSON object: {raw[:200]}"})


async def _approval_asked(
    tool: FunctionTool, ctx: ToolContext[Any], arguments: dict[str, Any]
) -> str | None:
    """The review reason when the SDK's definition of ``tool`` asks for approval of this call."""
    setting = tool.needs_approval
    asked = await setting(ctx, arguments, ctx.tool_call_id) if callable(setting) else setting
    return NEEDS_APPROVAL.format(tool=tool.name) if asked else None


async def _run_original(tool: FunctionTool, ctx: ToolContext[Any], call: ToolCall) -> ToolOutcome:
    """Run the SDK's own tool with the arguments governance let through (a reviewer's edit
    included); what it says is what the agent is told."""
    try:
        output = await tool.on_invoke_tool(ctx, json.dumps(call.arguments))
    except ActivityError as error:  # an activity_as_tool's activity failed for good
        cause = error.cause or error
        return ToolOutcome(ok=False, error=str(getattr(cause, "message", None) or cause))
    return ToolOutcome(ok=True, result={FRAMEWORK_OUTPUT: str(output)})
