"""``/reviews``: what waits for a person, and deciding it as the authenticated reviewer."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError, RPCStatusCode

from handrail.contracts import PendingReview, ReviewDecision
from handrail.errors import HandrailError
from handrail.http.auth import Principal, require
from handrail.http.errors import ApiError, decision_timeout, error_responses
from handrail.http.gateway import Gateway, api_caller, gateway_of, may_read
from handrail.http.models import PendingItem, ReviewDone, ReviewRequest
from handrail.http.tasks import TaskId, links

router = APIRouter(tags=["reviews"])

Caller = Annotated[Principal, Depends(api_caller)]
Shared = Annotated[Gateway, Depends(gateway_of)]
Filter = Annotated[str | None, Query(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]


async def listed_for(
    caller: Principal, gateway: Gateway, task_id: str, review: PendingReview
) -> bool:
    """Whether ``caller``'s list shows this pending review: a reviewer's, when the pending
    tier lets them decide it (what they may not decide is someone else's work); a service's,
    when it may read the task (``may_read``)."""
    if caller.kind == "reviewer":
        return caller.name in review.reviewers
    if caller.read_all:
        return True
    try:
        return await may_read(caller, await gateway.describe(task_id))
    except HandrailError:  # gone since it was listed
        return False


async def pending(
    gateway: Gateway,
    caller: Principal,
    *,
    tier: str | None = None,
    tool: str | None = None,
) -> list[PendingItem]:
    rows = await gateway.handrail.pending_reviews(
        tier=tier, tool=tool, task_queue=gateway.task_queue
    )
    return [
        PendingItem(
            **review.model_dump(),
            task_id=task_id,
            amount=await gateway.amount(review.tool, review.arguments),
            links=links(gateway, task_id),
        )
        for task_id, review in rows
        if await listed_for(caller, gateway, task_id, review)
    ]


async def decide(
    gateway: Gateway, task_id: str, reviewer: Principal, request: ReviewRequest
) -> ReviewDone:
    """Send ``request`` as ``reviewer`` through the ``review`` update: the workflow's validator
    refuses a stale step (409), a reviewer outside the tier (403) or an unfit edit (422)."""
    require(reviewer, "reviewer", "decide reviews")
    await gateway.running_with_worker(task_id)
    decision = ReviewDecision(reviewer=reviewer.name, **request.model_dump())
    timeout = gateway.review_timeout
    try:
        receipt = await asyncio.wait_for(gateway.handrail.review(task_id, decision), timeout)
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        # Either of the two, by who noticed first: asyncio's timer, or the SDK turning the
        # cancelled RPC into its own error (a worker that stopped moments ago still looks
        # alive to the server, which then holds the update for it).
        raise decision_timeout(task_id, timeout) from None
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
        # It ended between the check and the update: someone else's decision, or a deadline.
        raise ApiError(
            409, "TaskNotRunning", f"task {task_id} has ended: nothing to decide"
        ) from None
    return ReviewDone(
        task_id=task_id,
        step=receipt.step,
        verdict=receipt.verdict,
        tier=receipt.tier,
        reviewer=reviewer.name,
    )


@router.get(
    "/reviews",
    response_model=list[PendingItem],
    responses=error_responses(401, 422),
    summary="Steps awaiting review, oldest first",
)
async def list_reviews(
    caller: Caller, gateway: Shared, tier: Filter = None, tool: Filter = None
) -> list[PendingItem]:
    """A reviewer sees the steps they may decide; a service those of the tasks it may read."""
    return await pending(gateway, caller, tier=tier, tool=tool)


@router.post(
    "/reviews/{task_id}",
    response_model=ReviewDone,
    responses=error_responses(401, 403, 404, 409, 422, 503, 504),
    summary="Decide the step a task awaits, as the token's reviewer",
)
async def post_review(
    task_id: TaskId, request: ReviewRequest, caller: Caller, gateway: Shared
) -> ReviewDone:
    return await decide(gateway, task_id, caller, request)
