"""Declaring a tool once: ``@tool`` and ``@compensation``.

One definition gives a tool's name, argument model, description, effect kind, money field,
sensitive fields and UI summary; the worker turns it into the Temporal activity of that name
(``handrail.tools.runner``), the model sees its schema, and the policy reads its facts::

    class CloseTicket(BaseModel):
        ticket_id: int

    @tool(compensated_by="reopen_ticket", summary="close ticket {ticket_id}")
    async def close_ticket(args: CloseTicket, ctx: ToolContext) -> dict[str, Any]:
        \"\"\"Close a ticket as resolved.\"\"\"
        await helpdesk.close(args.ticket_id, idempotency_key=ctx.idempotency_key)
        return {"ticket_id": args.ticket_id, "status": "closed"}

    @compensation(undoes=close_ticket)
    async def reopen_ticket(ctx: UndoContext) -> bool:
        \"\"\"True if something was undone, False if there was nothing to undo.\"\"\"
        return await helpdesk.reopen_if_closed_by(ctx.idempotency_key)

A tool returns its result as a JSON object (what the model reads) or raises ``ToolRefused`` for
an answer the model should read as a refusal (not found, out of stock); any other exception is
an infrastructure failure that Temporal retries, except one that the same arguments would raise
again (an overflow, a database's "numeric value out of range": ``handrail.tools.permanent``),
which fails the step at once, naming the field. Bound numeric arguments in the model
(``Field(le=...)``), so that the policy refuses such a value before the tool runs and the model
is told.

A tool that may run longer than the default 10 s declares ``timeout=`` (and optionally
``heartbeat=``); the runner heartbeats while it runs. ``ctx.heartbeat(progress)`` records how
far it got, and a retried attempt reads it back from ``ctx.heartbeat_details`` to resume.

Cancelling a side-effecting tool is cooperative: when its attempt is cancelled (the task was,
the attempt timed out, the worker is shutting down) the runner does not cancel the call under
its feet, because an effect already under way (a write in a thread, a request sent) would land
after the coroutine was gone and never reach the effect journal. It sets
``ctx.cancel_requested`` instead and waits for the call to end; a long tool checks the flag
between chunks and stops by raising ``asyncio.CancelledError``::

    for chunk in range(start, args.chunks):
        if ctx.cancel_requested:
            raise asyncio.CancelledError  # progress is in the heartbeat: a retry resumes
        await export(chunk, key=ctx.idempotency_key)
        ctx.heartbeat(chunk + 1)
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, get_type_hints

from pydantic import BaseModel

from handrail.tools.heartbeat import Heartbeat
from handrail.tools.spec import ToolSpec


# N818 wants an "Error" suffix: this is a refusal the model reads, not an error of ours.
class ToolRefused(Exception):  # noqa: N818
    """The tool answers "no" (not found, not allowed by the business, out of stock): the model
    reads the message as the tool's result (``ok=False``). Not retried."""


@dataclass(frozen=True)
class ToolContext:
    """What a tool knows of the call besides its arguments."""

    task_id: str
    """The task (workflow id) the call belongs to."""
    step: int
    """The step of the task, numbered from 1 as the trace shows it."""
    idempotency_key: str
    """Unique per task run and step, stable across retries: pass it to any outside system that
    takes one (Stripe-style), or store it with the effect, so a retried call takes effect once."""
    attempt: int
    """Which attempt of the activity this is (1 on the first)."""
    heartbeat_details: Sequence[Any] = ()
    """What the previous attempt last passed to ``heartbeat`` (empty on the first attempt, or
    when it passed nothing): where a retried long tool resumes. Decoded as plain JSON values."""
    beats: Heartbeat | None = field(default=None, repr=False, compare=False)
    """The attempt's heartbeat (set by the runner; None outside an activity)."""
    cancellation: asyncio.Event = field(default_factory=asyncio.Event, repr=False, compare=False)
    """Set by the runner when the attempt of a side-effecting tool is cancelled while the tool
    runs (read ``cancel_requested``; ``await ctx.cancellation.wait()`` to race work against
    it)."""

    @property
    def cancel_requested(self) -> bool:
        """True once this attempt is cancelled: the task was cancelled, the attempt timed out,
        or the worker is shutting down. A side-effecting tool is never cancelled under its feet:
        the runner lets the call finish (until the attempt's deadline, then for
        ``CANCELLED_CALL_GRACE`` in the background) and records its effect, so a tool that is not
        done should stop at its next safe point by raising ``asyncio.CancelledError``, after
        ``heartbeat`` has recorded where a retry resumes. Never return a partial result: it
        would be recorded as the action's result. A read-only tool is cancelled at its current
        ``await`` as usual (it has nothing to lose), so for it this stays False."""
        return self.cancellation.is_set()

    def heartbeat(self, *details: Any) -> None:
        """Record progress (JSON-ready values) for a retried attempt to resume from. The runner
        already heartbeats in the background while the tool runs: call this for the details,
        never to stay alive. Later background beats re-send them."""
        if self.beats is not None:
            self.beats.beat(*details)


@dataclass(frozen=True)
class UndoContext:
    """What a compensation is told of the action it undoes."""

    task_id: str
    tool: str
    idempotency_key: str
    recorded: Mapping[str, Any] | None
    """The action's result as the effect journal recorded it; None when the journal holds no
    record of it taking effect (it never ran, or it crashed before its result was recorded: undo
    by the key anyway if the effect may exist)."""
    arguments: Mapping[str, Any] = field(default_factory=dict)
    """The arguments the action ran with, given for a tool an agent's framework runs itself
    (the profile's ``framework_tools``): it never saw the idempotency key, so its undo finds the
    effect by these. Empty for a declared tool (undo by the key)."""


ToolFunction = Callable[[Any, ToolContext], Awaitable[Mapping[str, Any]]]
UndoFunction = Callable[[UndoContext], Awaitable[bool]]


@dataclass(frozen=True, eq=False)
class Tool:
    """A declared tool: its spec and the function that runs it."""

    spec: ToolSpec
    function: ToolFunction

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass(frozen=True, eq=False)
class Compensation:
    """A declared compensation: undoes ``undoes``' effect by its idempotency key."""

    name: str
    undoes: str
    function: UndoFunction


def _arguments_model(function: Callable[..., Any]) -> type[BaseModel]:
    parameters = list(inspect.signature(function).parameters)
    hints = get_type_hints(function)
    model = hints.get(parameters[0]) if parameters else None
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise TypeError(
            f"tool {function.__name__!r}: its first parameter must be annotated with the "
            "pydantic model of its arguments"
        )
    return model


def _duration(value: timedelta | float | None) -> timedelta | None:
    if value is None or isinstance(value, timedelta):
        return value
    return timedelta(seconds=value)


def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    read_only: bool = False,
    compensated_by: str | None = None,
    irreversible: bool = False,
    amount_field: str | None = None,
    sensitive: Sequence[str] = (),
    summary: str = "",
    timeout: timedelta | float | None = None,
    heartbeat: timedelta | float | None = None,
) -> Callable[[ToolFunction], Tool]:
    """Declare a tool. Exactly one effect kind: ``read_only``, ``compensated_by`` (the name of
    the compensation that undoes it) or ``irreversible`` (deferred to the task's commit point).
    The name defaults to the function's, the description to its docstring.

    ``timeout`` (a timedelta or seconds) bounds one attempt (default 10 s); longer than that,
    the tool runs as a regular activity with a heartbeat timeout: ``heartbeat`` (shorter than
    ``timeout``) or the workflow's default (10 s)."""

    def declare(function: ToolFunction) -> Tool:
        arguments = _arguments_model(function)
        text = description or inspect.getdoc(function)
        if not text:
            raise TypeError(f"tool {function.__name__!r}: give it a description or a docstring")
        if amount_field is not None and amount_field not in arguments.model_fields:
            raise TypeError(f"tool {function.__name__!r}: no argument {amount_field!r}")
        spec = ToolSpec(
            name=name or function.__name__,
            description=text,
            arguments=arguments,
            read_only=read_only,
            compensation=compensated_by,
            irreversible=irreversible,
            amount_field=amount_field,
            sensitive=tuple(sensitive),
            summary=summary,
            timeout=_duration(timeout),
            heartbeat=_duration(heartbeat),
        )
        return Tool(spec=spec, function=function)

    return declare


def compensation(
    *, undoes: Tool | str, name: str | None = None
) -> Callable[[UndoFunction], Compensation]:
    """Declare the compensation of a tool; its name defaults to the function's and must be the
    ``compensated_by`` the tool names."""

    def declare(function: UndoFunction) -> Compensation:
        tool_name = undoes.name if isinstance(undoes, Tool) else undoes
        declared = Compensation(name=name or function.__name__, undoes=tool_name, function=function)
        if isinstance(undoes, Tool) and undoes.spec.compensation != declared.name:
            raise TypeError(
                f"compensation {declared.name!r} undoes {tool_name!r}, which names "
                f"{undoes.spec.compensation!r} as its compensation"
            )
        return declared

    return declare
