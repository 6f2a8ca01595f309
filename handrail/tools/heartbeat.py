"""Heartbeats for long activities, sent in the background so the work itself writes nothing.

An activity scheduled with a heartbeat timeout must heartbeat more often than that, or Temporal
takes the attempt for dead and retries it elsewhere: that is the point, a worker that died
mid-call (SIGKILL, a lost host) is noticed after the heartbeat timeout instead of the whole
start-to-close. ``Heartbeat.running()`` beats every third of the attempt's heartbeat timeout
while its block runs, and stops when the block ends, however it ends (returned, raised,
cancelled): a background beat must never outlive the call, or it would report a finished
attempt as alive.

Each beat re-sends the newest progress details (``beat(*details)``), so a background beat never
erases what the work reported; until the work reports its own, it re-sends the previous
attempt's, so a second crash before then does not lose them.

Cancellation reaches an activity through its heartbeats: with the background beats running, a
cancelled task's long read or model call is cancelled within a beat or two. A side-effecting
tool is told instead (``ToolContext.cancel_requested``) and the runner waits for it to end
(``handrail.tools.runner``): the beats go on while it waits, since the attempt is still alive
and may still record its effect, and stop when the runner ends the attempt, as always.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from temporalio import activity

# Beats per heartbeat timeout: one late beat (a busy event loop, a slow network) must not make
# a live attempt look dead.
BEATS_PER_TIMEOUT = 3


class Heartbeat:
    """The heartbeat of the current activity attempt. Built inside the activity."""

    def __init__(self) -> None:
        info = activity.info()
        self.previous: tuple[Any, ...] = tuple(info.heartbeat_details)
        """The last details the previous attempt reported (empty on the first attempt)."""
        self._details: tuple[Any, ...] = self.previous
        # Local activities cannot heartbeat; an activity scheduled without a heartbeat timeout
        # needs no background beats (it may still report progress through ``beat``).
        self._local = info.is_local
        timeout = info.heartbeat_timeout
        self.interval: float | None = (
            None if self._local or timeout is None else timeout.total_seconds() / BEATS_PER_TIMEOUT
        )

    @property
    def details(self) -> Sequence[Any]:
        """The details the next beat sends."""
        return self._details

    def beat(self, *details: Any) -> None:
        """Report progress now; every later background beat re-sends these details."""
        self._details = details
        if not self._local:
            activity.heartbeat(*details)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Heartbeat]:
        """Beat in the background for the duration of the block (when the attempt has a
        heartbeat timeout); the beats stop when the block ends, whatever ends it."""
        if self.interval is None:
            yield self
            return
        beats = asyncio.create_task(self._beat_forever(self.interval))
        try:
            yield self
        finally:
            beats.cancel()
            # Wait until it has stopped, without swallowing a cancellation of our own task
            # (asyncio.wait never raises the waited task's CancelledError).
            await asyncio.wait([beats])

    async def _beat_forever(self, interval: float) -> None:
        while True:
            activity.heartbeat(*self._details)
            await asyncio.sleep(interval)
