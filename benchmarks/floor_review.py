"""The review floor: a bare Temporal workflow that pauses for a person the way a Handrail task
does, with none of Handrail's policy, trace, conversation store, saga or notices.

``FloorReviewWorkflow`` makes one model call (the proposal), sets ``AwaitingReview = true``
(so a paused floor is counted by the same visibility query as a paused task), waits on the
``review`` update or the ``submit_review`` signal, then runs one write (the approved action)
and one more model call (the answer) as regular activities, and returns. Its activities are
``benchmarks.floor.FloorActivities``' ``floor_model`` and ``floor_write``.

The workflow is imported by the sandbox, so nothing but Temporal and pydantic at the top.
``python -m benchmarks.floor_review`` runs a floor worker (settings from ``FLOOR_*`` variables,
see ``main``) so that a benchmark can measure the worker's own memory in a subprocess.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import SearchAttributeKey

from benchmarks.floor_workflow import FloorCall

FLOOR_REVIEW_WORKFLOW = "FloorReviewWorkflow"
REVIEW_UPDATE = "review"
REVIEW_SIGNAL = "submit_review"
_TIMEOUT = timedelta(seconds=30)
_AWAITING = SearchAttributeKey.for_bool("AwaitingReview")


class FloorReviewTask(BaseModel):
    marker: str


@workflow.defn(name=FLOOR_REVIEW_WORKFLOW)
class FloorReviewWorkflow:
    def __init__(self) -> None:
        self._approved_by: str | None = None

    @workflow.run
    async def run(self, task: FloorReviewTask) -> str:
        await workflow.execute_activity(  # the proposal: step 0
            "floor_model",
            FloorCall(marker=task.marker, step=0),
            result_type=str,
            start_to_close_timeout=_TIMEOUT,
        )
        workflow.upsert_search_attributes([_AWAITING.value_set(True)])
        await workflow.wait_condition(lambda: self._approved_by is not None)
        workflow.upsert_search_attributes([_AWAITING.value_set(False)])
        await workflow.execute_activity(  # the approved action
            "floor_write",
            FloorCall(marker=task.marker, step=0),
            result_type=str,
            start_to_close_timeout=_TIMEOUT,
        )
        await workflow.execute_activity(  # the answer: step 1
            "floor_model",
            FloorCall(marker=task.marker, step=1),
            result_type=str,
            start_to_close_timeout=_TIMEOUT,
        )
        return f"approved by {self._approved_by}"

    @workflow.signal(name=REVIEW_SIGNAL)
    def submit_review(self, reviewer: str) -> None:
        if self._approved_by is None:
            self._approved_by = reviewer

    @workflow.update(name=REVIEW_UPDATE)
    def review(self, reviewer: str) -> str:
        self._approved_by = reviewer
        return "approved"

    @review.validator
    def _validate_review(self, reviewer: str) -> None:
        if self._approved_by is not None:
            raise ValueError("stale: already decided")


async def main() -> None:
    """A floor worker in its own process: ``FLOOR_ADDRESS``, ``FLOOR_TASK_QUEUE``,
    ``FLOOR_STORE`` (a store database file) and ``FLOOR_MODEL_URL`` (the model's base URL).
    Prints ``ready`` once it polls; runs until terminated."""
    # Imported here, not at the top: the sandbox re-imports this module for the workflow.
    import asyncio
    import os
    from pathlib import Path

    from openai import AsyncOpenAI
    from temporalio.client import Client
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.worker import Worker

    from benchmarks.floor import FloorActivities

    client = await Client.connect(
        os.environ["FLOOR_ADDRESS"], data_converter=pydantic_data_converter
    )
    model = AsyncOpenAI(base_url=os.environ["FLOOR_MODEL_URL"], api_key="floor", max_retries=0)
    activities = FloorActivities(model, Path(os.environ["FLOOR_STORE"]))
    async with Worker(
        client,
        task_queue=os.environ["FLOOR_TASK_QUEUE"],
        workflows=[FloorReviewWorkflow],
        activities=[activities.floor_model, activities.floor_write],
    ):
        print("ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    import asyncio

    # Through the package, so the sandbox finds the workflow's module by name (not __main__).
    from benchmarks.floor_review import main as floor_main

    asyncio.run(floor_main())
