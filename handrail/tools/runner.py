"""Declared tools and compensations as Temporal activities, exactly once through the journal.

Each tool becomes an activity named after it that takes a ``ToolCall`` and returns a
``ToolOutcome``; each compensation an activity named after it that takes a
``CompensationRequest``. A side-effecting tool's result is recorded in the effect journal under
its idempotency key: a retried or re-executed action returns that result without running again,
and a compensation knows whether its action took effect.

A call that carries a shared limit (``ToolCall.limit``, from the profile's rule) reserves its
amount across tasks before the effect (``handrail.storage.limits``); over the limit, the action
is refused as an answer the model reads. The reservation is released when the action is refused
and when its compensation has run.

A tool scheduled with a heartbeat timeout (one declared longer than the default) is heartbeated
in the background for the whole attempt (``handrail.tools.heartbeat``); the tool reports
progress with ``ToolContext.heartbeat`` and a retried attempt reads it back.

An action is never abandoned half way: its tool call and journal write run shielded from the
attempt's cancellation (``handrail.tools.shield``).

A tool's exception is retried by Temporal, except one that the same arguments would raise on
every attempt (an overflow, a database's "numeric value out of range"): that fails the step at
once, non-retryably, naming the tool and the field (``handrail.tools.permanent``).

``FaultHook`` is a testing seam (the crash matrix kills the worker at each point: before the
tool's effect, after the effect but before the journal write, and after the journal write but
before the activity's completion reaches Temporal); in production it is a no-op.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, Protocol

from pydantic import ValidationError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from handrail.contracts import CompensationOutcome, CompensationRequest, ToolCall, ToolOutcome
from handrail.errors import ErrorType, describe_validation_error
from handrail.names import MAX_STEP_PAYLOAD_BYTES
from handrail.policy.redaction import fill_summary, named_summary
from handrail.storage.journal import EffectJournal, JournalEntry
from handrail.storage.limits import SharedLimits
from handrail.tools.declare import Compensation, Tool, ToolContext, ToolRefused, UndoContext
from handrail.tools.heartbeat import Heartbeat
from handrail.tools.permanent import permanent_failure
from handrail.tools.registry import ToolRegistry
from handrail.tools.shield import CancellationShield

FaultPoint = Literal["before_effect", "before_commit", "after_commit"]


class FaultHook(Protocol):
    """Called at each point of an action or compensation; may raise or kill the process."""

    def __call__(self, point: FaultPoint, name: str, idempotency_key: str) -> None: ...


def no_faults(point: FaultPoint, name: str, idempotency_key: str) -> None:
    """The production hook: nothing happens."""


def replayed(seen: JournalEntry | None, name: str) -> ToolOutcome | None:
    """What a retried or re-executed action answers from the journal without running: its
    first result, or a refusal if its compensation came first. None: it must run."""
    if seen is not None and seen.compensated:
        return ToolOutcome(
            ok=False,
            error="this action was compensated before it ran; it will not run now",
            summary=f"{name}: already compensated",
        )
    if seen is not None and seen.result is not None:
        return ToolOutcome.model_validate(seen.result)  # took effect once already
    return None


def _too_large(outcome: ToolOutcome) -> int | None:
    size = len(outcome.model_dump_json())
    return size if size > MAX_STEP_PAYLOAD_BYTES else None


class ToolActivities:
    """The activities of ``registry``'s declared tools and compensations."""

    def __init__(
        self,
        registry: ToolRegistry,
        journal: EffectJournal,
        faults: FaultHook = no_faults,
        *,
        limits: SharedLimits | None = None,
    ) -> None:
        """``limits``: where shared limits are reserved (default: the journal's database)."""
        self._registry = registry
        self._journal = journal
        self._faults = faults
        self._limits = limits or SharedLimits(journal.database)
        # Cancelled actions finishing after their attempt ended (asyncio keeps weak references).
        self._shield = CancellationShield()

    def activities(self) -> list[Callable[..., Any]]:
        made: list[Callable[..., Any]] = [self._tool_activity(t) for t in self._registry.tools]
        made += [self._undo_activity(c) for c in self._registry.compensations]
        return made

    def _tool_activity(self, tool: Tool) -> Callable[..., Any]:
        async def run_tool(call: ToolCall) -> ToolOutcome:
            started = time.monotonic()
            # Beats in the background when the workflow set a heartbeat timeout (a long tool),
            # for the whole attempt and not a moment longer.
            async with Heartbeat().running() as beats:
                outcome = await self._run(tool, call, beats, started)
            return outcome.model_copy(
                update={
                    "latency_ms": (time.monotonic() - started) * 1000,
                    "attempt": activity.info().attempt,
                }
            )

        return activity.defn(name=tool.spec.activity_name)(run_tool)

    async def _run(
        self, tool: Tool, call: ToolCall, beats: Heartbeat, started: float
    ) -> ToolOutcome:
        spec = tool.spec
        # Validated again: the activity may be called by any client, not only the workflow.
        assert spec.arguments is not None  # declared tools always have a model
        try:
            args = spec.arguments.model_validate(call.arguments)
        except ValidationError as error:
            problem = describe_validation_error(f"arguments for {spec.name}", error)
            return ToolOutcome(ok=False, error=problem, summary=f"{spec.name}: bad arguments")
        context = ToolContext(
            task_id=call.task_id,
            step=call.step,
            idempotency_key=call.idempotency_key,
            attempt=activity.info().attempt,
            heartbeat_details=beats.previous,
            beats=beats,
        )
        if spec.read_only:
            outcome = await self._call(tool, args, context, call.arguments)
            size = _too_large(outcome)
            if size is not None:  # nothing happened: the model may ask for less
                return ToolOutcome(
                    ok=False,
                    error=f"the result is {size:,} bytes, above the {MAX_STEP_PAYLOAD_BYTES:,} "
                    "a step may carry: ask for less",
                    summary=f"{spec.name}: result too large",
                )
            return outcome

        earlier = replayed(await self._journal.lookup(call.idempotency_key), spec.name)
        if earlier is not None:
            return earlier
        act = self._act(tool, args, context, call)
        return await self._shield.run(act, context, spec.name, started)

    async def _act(
        self, tool: Tool, args: Any, context: ToolContext, call: ToolCall
    ) -> ToolOutcome:
        """An action from its reservation to its journal record: the part a cancellation must
        not cut short (``CancellationShield``)."""
        spec = tool.spec
        key = call.idempotency_key
        if call.limit is not None:
            refusal = await self._reserve(spec.name, call)
            if refusal is not None:
                return refusal
        if context.cancel_requested:
            # Cancelled before the effect began: do not begin it. A reservation stays, as for
            # any unfinished attempt (the compensation releases it, a retry reuses it): released
            # here, it would free the amount of an earlier attempt of this key still under way.
            raise asyncio.CancelledError
        self._faults("before_effect", spec.name, key)
        outcome = await self._call(tool, args, context, call.arguments)
        if not outcome.ok:
            if call.limit is not None:
                await self._limits.release(key)
            return outcome  # a refusal changed nothing: nothing to record
        size = _too_large(outcome)
        if size is not None:
            # The effect took place: fail the step for good, so the task rolls back (its
            # compensation was pushed before it ran) rather than retrying forever.
            raise ApplicationError(
                f"{spec.name} took effect but returned {size:,} bytes, above the "
                f"{MAX_STEP_PAYLOAD_BYTES:,} a step may carry in history",
                type=ErrorType.PAYLOAD_TOO_LARGE,
                non_retryable=True,
            )
        self._faults("before_commit", spec.name, key)
        recorded = await self._journal.record_applied(
            key, tool=spec.name, task_id=call.task_id, result=outcome.model_dump(mode="json")
        )
        if not recorded:
            await self._undo_late_effect(tool, call)
        self._faults("after_commit", spec.name, key)
        return outcome

    async def _reserve(self, name: str, call: ToolCall) -> ToolOutcome | None:
        """Reserve the call's amount against its shared limit; the refusal, if refused."""
        limit = call.limit
        assert limit is not None
        problem = None
        amount = Decimal(0)
        try:
            amount = Decimal(str(call.arguments[limit.amount_field or ""]))
        except (KeyError, InvalidOperation):
            problem = f"{name}: no readable {limit.amount_field!r} for its shared limit"
        if limit.per is not None and limit.per not in call.arguments:
            problem = f"{name}: no {limit.per!r} to scope its shared limit by"
        if problem is None:
            scope = "" if limit.per is None else str(call.arguments[limit.per])
            reservation = await self._limits.reserve(
                limit,
                tool=name,
                scope=scope,
                amount=amount,
                idempotency_key=call.idempotency_key,
                task_id=call.task_id,
            )
            if reservation.granted:
                return None
            problem = reservation.reason
        activity.logger.info("%s refused: %s", call.idempotency_key, problem)
        return ToolOutcome(ok=False, error=problem, summary=f"{name}: over its shared limit")

    async def _call(
        self, tool: Tool, args: Any, context: ToolContext, raw: Mapping[str, Any]
    ) -> ToolOutcome:
        name = tool.spec.name
        try:
            result = await tool.function(args, context)
        except ToolRefused as refusal:
            return ToolOutcome(ok=False, error=str(refusal), summary=f"{name}: refused")
        except Exception as error:
            # Failing on the arguments themselves (an overflow) fails every attempt alike: once,
            # naming the field, rather than retried for minutes. Anything else is retried.
            permanent = permanent_failure(error, name, raw)
            if permanent is not None:
                raise permanent from error
            raise
        summary = named_summary(name, fill_summary(tool.spec.summary, {**raw, **result}))
        return ToolOutcome(ok=True, result=dict(result), summary=summary)

    async def _undo_late_effect(self, tool: Tool, call: ToolCall) -> None:
        """The compensation ran while this attempt was in flight (it timed out, say): the effect
        it just made must not outlive its undo."""
        undo = self._registry.compensation(tool.spec.compensation or "")
        if undo is None:
            raise ApplicationError(
                f"{tool.name} took effect after its task rolled back and has no compensation: "
                f"repair by hand (key {call.idempotency_key})",
                type=ErrorType.NEEDS_MANUAL_RECOVERY,
                non_retryable=True,
            )
        await undo.function(
            UndoContext(
                task_id=call.task_id,
                tool=tool.name,
                idempotency_key=call.idempotency_key,
                recorded=None,
            )
        )
        if call.limit is not None:  # its compensation released it before this attempt took it
            await self._limits.release(call.idempotency_key)
        raise ApplicationError(
            f"{tool.name} was compensated while this attempt ran; its late effect was undone",
            type=ErrorType.COMPENSATED_BEFORE_COMMIT,
            non_retryable=True,
        )

    def _undo_activity(self, undo: Compensation) -> Callable[..., Any]:
        # Not shielded like an action: the workflow never cancels a compensation (the rollback
        # runs shielded), so only a timed-out attempt or a worker shutdown cancels one, and a
        # cancelled undo whose delete lands later is harmless: undos are idempotent by key, the
        # retried attempt undoes again or finds nothing left (it may then report
        # "nothing_to_undo" for what the cancelled attempt undid), and it writes the tombstone.
        async def run_undo(request: CompensationRequest) -> CompensationOutcome:
            key = request.idempotency_key
            seen = await self._journal.lookup(key)
            if seen is not None and seen.compensated:
                return CompensationOutcome(status="already_undone")
            # The journal keeps the whole ToolOutcome; a compensation is told its result.
            outcome = seen.result if seen is not None and seen.applied else None
            context = UndoContext(
                task_id=request.task_id,
                tool=request.tool,
                idempotency_key=key,
                recorded=outcome.get("result") if outcome else None,
                arguments=request.arguments,
            )
            self._faults("before_effect", undo.name, key)
            undone = await undo.function(context)
            self._faults("before_commit", undo.name, key)
            await self._journal.record_compensated(
                key, tool=request.tool, task_id=request.task_id, compensation=undo.name
            )
            # After the undo, never before: until then the amount still counts against the limit.
            await self._limits.release(key)
            self._faults("after_commit", undo.name, key)
            activity.logger.info("%s for %s: %s", undo.name, key, "undone" if undone else "none")
            if undone:
                return CompensationOutcome(status="undone", detail=f"{request.tool} undone")
            return CompensationOutcome(
                status="nothing_to_undo", detail=f"{request.tool} never took effect"
            )

        return activity.defn(name=undo.name)(run_undo)
