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

An action is never abandoned half way. Temporal cancels an attempt (the task was cancelled and
the cancellation reached a heartbeating tool, the SDK gives up a timed-out attempt, the worker
shuts down) by cancelling its coroutine, but an effect under way does not stop with it: a write
in ``asyncio.to_thread`` cannot be cancelled, a request already sent is served. Cancelled at its
``await``, the action would land its effect without reaching the journal, and if its task's
compensation had already run (found nothing, left a tombstone) the effect would outlive the
rollback. So the tool call and its journal write run as a task of their own that the
cancellation does not reach: the runner sets ``ToolContext.cancel_requested`` for the tool to
stop at its next safe point, waits for the call to end (until the attempt's deadline,
``_time_left``), records it as usual (a tombstone found means the compensation came first: the
late effect is undone), and only then re-raises the cancellation. A call still running at the
deadline is given ``CANCELLED_CALL_GRACE`` more in the background, then cancelled, loudly.
Read-only tools are cancelled at once, as before.

``FaultHook`` is a testing seam (the crash matrix kills the worker at each point: before the
tool's effect, after the effect but before the journal write, and after the journal write but
before the activity's completion reaches Temporal); in production it is a no-op.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Mapping
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Literal, Protocol

from pydantic import ValidationError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from handrail.contracts import CompensationOutcome, CompensationRequest, ToolCall, ToolOutcome
from handrail.errors import ErrorType, describe_validation_error
from handrail.names import MAX_STEP_PAYLOAD_BYTES
from handrail.redaction import fill_summary
from handrail.storage.journal import EffectJournal, JournalEntry
from handrail.storage.limits import SharedLimits
from handrail.tools.declare import Compensation, Tool, ToolContext, ToolRefused, UndoContext
from handrail.tools.heartbeat import Heartbeat
from handrail.tools.registry import ToolRegistry

FaultPoint = Literal["before_effect", "before_commit", "after_commit"]

# How long a cancelled action still running at its attempt's deadline keeps running in the
# background (the attempt itself has ended) before it is cancelled. The SDK gives up a timed-out
# attempt only after its deadline, and the write in flight may be the one that lands after the
# compensation: it still gets as long as one default action attempt (10 s) to reach the journal
# and its tombstone. Held past the deadline by the attempt instead, it would hold up a worker's
# shutdown and keep a slot for an attempt Temporal has already retried.
CANCELLED_CALL_GRACE: Final = timedelta(seconds=10)


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


def _time_left(started: float) -> float:
    """Seconds the current attempt, begun at ``started`` (``time.monotonic()``), has left of its
    start-to-close; zero when past it (a timed-out attempt). A cancelled action is waited for no
    longer, so that a worker's shutdown still ends: after its graceful period the SDK cancels
    what runs, and each attempt ends by its deadline. Measured on this worker's clock, not from
    ``info.started_time``: that is the server's clock (skewed, or virtual on the time-skipping
    test server, where it runs ahead by every skipped backoff)."""
    timeout = activity.info().start_to_close_timeout
    if timeout is None:
        return 0.0
    return max(timeout.total_seconds() - (time.monotonic() - started), 0.0)


def _report(acting: asyncio.Task[ToolOutcome], name: str, key: str) -> None:
    """Log how a cancelled attempt's action ended (and mark its exception as seen)."""
    if acting.cancelled():
        activity.logger.info("%s (%s) stopped at its cancellation: nothing recorded", name, key)
        return
    error = acting.exception()
    if error is None:
        activity.logger.info("%s (%s) finished after its cancellation: recorded", name, key)
    elif isinstance(error, ApplicationError) and error.type == ErrorType.COMPENSATED_BEFORE_COMMIT:
        activity.logger.warning(
            "%s (%s) took effect after its compensation ran: its late effect was undone", name, key
        )
    else:
        activity.logger.error("%s (%s) failed after its cancellation", name, key, exc_info=error)


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
        self._finishing: set[asyncio.Task[ToolOutcome]] = set()

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
        return await self._shielded(act, context, spec.name, started)

    async def _shielded(
        self, act: Coroutine[Any, Any, ToolOutcome], context: ToolContext, name: str, started: float
    ) -> ToolOutcome:
        """Run ``act`` (an action, up to its journal record) so that a cancellation of the
        attempt does not abandon it: the tool is told, the action finishes within its bound and
        is recorded, then the cancellation goes on."""
        acting = asyncio.create_task(act)  # copies the context: activity.info() works in it
        try:
            return await asyncio.shield(acting)
        except asyncio.CancelledError:
            if acting.done():  # the action itself ended cancelled (a cooperative stop)
                raise
            context.cancellation.set()
            await self._finish_cancelled(acting, name, context.idempotency_key, started)
            raise

    async def _finish_cancelled(
        self, acting: asyncio.Task[ToolOutcome], name: str, key: str, started: float
    ) -> None:
        """Wait for a cancelled attempt's action until the attempt's deadline; past it, let the
        action finish in the background for ``CANCELLED_CALL_GRACE``. Never raises what the
        action raised: the attempt ends with its cancellation."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _time_left(started)
        while not acting.done() and (left := deadline - loop.time()) > 0:
            try:
                await asyncio.wait([acting], timeout=left)  # never cancels ``acting``
            except asyncio.CancelledError:
                # Cancelled again (the worker shuts down after the task's cancellation reached
                # us): the same answer, within the same deadline.
                continue
        if acting.done():
            _report(acting, name, key)
            return
        grace = CANCELLED_CALL_GRACE.total_seconds()
        activity.logger.warning(
            "%s (%s) still runs at its attempt's deadline: %g s more to finish", name, key, grace
        )
        self._finishing.add(acting)
        acting.add_done_callback(self._finishing.discard)
        acting.add_done_callback(lambda done: _report(done, name, key))
        loop.call_later(grace, self._abandon, acting, name, key)

    @staticmethod
    def _abandon(acting: asyncio.Task[ToolOutcome], name: str, key: str) -> None:
        if acting.done():
            return
        acting.cancel()  # a coroutine stops; a thread under it cannot, and may write later
        activity.logger.error(
            "%s (%s) did not finish within %g s of its attempt's deadline and was abandoned: "
            "an effect it lands before its compensation runs is undone by key, and a retried "
            "attempt finds it by key; one it lands after the compensation is not undone: check "
            "key %s by hand",
            name,
            key,
            CANCELLED_CALL_GRACE.total_seconds(),
            key,
        )

    async def _act(
        self, tool: Tool, args: Any, context: ToolContext, call: ToolCall
    ) -> ToolOutcome:
        """An action from its reservation to its journal record: the part a cancellation must
        not cut short (``_shielded``)."""
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
        summary = fill_summary(tool.spec.summary, {**raw, **result})
        return ToolOutcome(ok=True, result=dict(result), summary=f"{name} {summary}".strip())

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
