"""The ``record_run`` activity: a finished task into the run ledger, once.

The workflow calls it (as a local activity) with the task's redacted :class:`RunRecord`. The
ledger stores a ``(task_id, run_id)`` once, so a retried attempt stores nothing new; observers
(metrics, for example) are called only when this call stored the run, which is what makes them
count each task once however often the activity is retried.

A state database that is away fails the attempt retryably with one log line
(``RunLedger.write``, ``handrail.storage.outage``); ``RECORD_RETRY`` waits minutes for it, so an
outage does not leave a finished task out of the ledger.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence

from temporalio import activity

from handrail.contracts import RecordedRun, RunRecord
from handrail.storage.ledger import RunLedger

RunObserver = Callable[[RunRecord], Awaitable[None] | None]
"""Told of each run the ledger stored, once; may be a coroutine function."""


class RunRecorder:
    def __init__(self, ledger: RunLedger, observers: Sequence[RunObserver] = ()) -> None:
        self._ledger = ledger
        self._observers = tuple(observers)

    @activity.defn(name="record_run")
    async def record_run(self, record: RunRecord) -> RecordedRun:
        stored = await self._ledger.write(record)
        if stored:
            for observer in self._observers:
                # The run is stored: an observer that fails must not fail the activity, whose
                # retry would find the run stored and call no observer at all.
                try:
                    called = observer(record)
                    if inspect.isawaitable(called):
                        await called
                except Exception:
                    activity.logger.exception(
                        "run observer %r failed for %s", observer, record.task_id
                    )
        return RecordedRun(stored=stored)
