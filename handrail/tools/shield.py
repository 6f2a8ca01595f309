"""A side-effecting tool call that its attempt's cancellation does not abandon.

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
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any, Final

from temporalio import activity
from temporalio.exceptions import ApplicationError

from handrail.contracts import ToolOutcome
from handrail.errors import ErrorType
from handrail.tools.declare import ToolContext

# How long a cancelled action still running at its attempt's deadline keeps running in the
# background (the attempt itself has ended) before it is cancelled. The SDK gives up a timed-out
# attempt only after its deadline, and the write in flight may be the one that lands after the
# compensation: it still gets as long as one default action attempt (10 s) to reach the journal
# and its tombstone. Held past the deadline by the attempt instead, it would hold up a worker's
# shutdown and keep a slot for an attempt Temporal has already retried.
CANCELLED_CALL_GRACE: Final = timedelta(seconds=10)


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


class CancellationShield:
    """Runs actions shielded from their attempt's cancellation; keeps the ones finishing in the
    background after their attempt's deadline alive until they end."""

    def __init__(self) -> None:
        self._finishing: set[asyncio.Task[ToolOutcome]] = set()

    async def run(
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
