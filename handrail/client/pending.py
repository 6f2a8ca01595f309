"""Listing what waits for a person: a visibility query for the tasks awaiting review, then each
task's trace for the details (the trace has the last word: the visibility store lags).

A task that cannot be asked (no worker polls its queue, or the server does not answer in time)
is left out and said, never allowed to hide the others or fail the listing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Final

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from handrail import search_attributes
from handrail.contracts import PendingReview, Trace
from handrail.errors import NoWorkerError

log = logging.getLogger("handrail.client.core")  # where operators have always found these lines

_TRACES_AT_ONCE: Final = 16
"""Trace queries in flight while listing: a task whose worker just stopped costs a query
timeout, and asked one by one, N such tasks would cost N timeouts."""

_NOT_ANSWERED_IN_TIME: Final = (
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.CANCELLED,
    RPCStatusCode.UNAVAILABLE,
)


async def list_pending(
    temporal: Client,
    get_trace: Callable[[str], Awaitable[Trace]],
    *,
    tier: str | None = None,
    tool: str | None = None,
    task_queue: str | None = None,
    on_no_worker: Callable[[str, str], None] | None = None,
) -> list[tuple[str, PendingReview]]:
    """``HandrailClient.pending_reviews``: the tasks waiting for a reviewer, oldest request
    first, filtered by ``tier``, ``tool`` and ``task_queue`` when given."""
    found: list[tuple[str, PendingReview]] = []
    query = f"{search_attributes.PENDING_QUERY} AND ExecutionStatus = 'Running'"
    for key, value in (
        (search_attributes.REVIEW_TIER, tier),
        (search_attributes.REVIEW_TOOL, tool),
        ("TaskQueue", task_queue),
    ):
        if value is not None:
            name = key if isinstance(key, str) else key.name
            quoted = value.replace("\\", "\\\\").replace("'", "\\'")
            query += f" AND {name} = '{quoted}'"
    gate = asyncio.Semaphore(_TRACES_AT_ONCE)

    async def pending_of(task_id: str, queue: str) -> None:
        async with gate:
            try:
                trace = await get_trace(task_id)
            except NoWorkerError as error:
                # One task queue without a worker must not hide every other pending review.
                if on_no_worker is None:
                    log.warning("cannot list a pending review: %s", error)
                else:
                    on_no_worker(task_id, queue)
                return
            except RPCError as error:
                # Nor one question the server did not answer in time (a loaded server
                # cancels a slow describe): that task is left out, said in the log.
                if error.status not in _NOT_ANSWERED_IN_TIME:
                    raise
                log.warning(
                    "cannot list a pending review: task %s did not answer in time (%s)",
                    task_id,
                    error.message,
                )
                return
        pending = trace.pending_review
        # The visibility store lags the task: the trace has the last word on the filters.
        if pending is None or tier not in (None, pending.tier) or tool not in (None, pending.tool):
            return
        found.append((task_id, pending))

    listed = [(run.id, run.task_queue) async for run in temporal.list_workflows(query)]
    await asyncio.gather(*(pending_of(task_id, queue) for task_id, queue in listed))
    return sorted(found, key=lambda item: item[1].requested_at)
