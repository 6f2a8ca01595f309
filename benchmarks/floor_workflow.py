"""The floor's workflow and contracts: imported by the sandbox, so nothing but Temporal and
pydantic here (the floor runs sandboxed, like Handrail's workflow, so both pay the same)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel
from temporalio import workflow

FLOOR_WORKFLOW = "FloorWorkflow"
_TIMEOUT = timedelta(seconds=30)


class FloorTask(BaseModel):
    marker: str
    steps: int
    write: bool = False
    continue_after_events: int | None = None
    """Continue as new between steps once a run's history has this many events (long tasks:
    the floor keeps each run under the same threshold as Handrail)."""
    first_step: int = 0
    runs: int = 1


class FloorCall(BaseModel):
    marker: str
    step: int


class FloorResult(BaseModel):
    steps: int
    runs: int = 1


@workflow.defn(name=FLOOR_WORKFLOW)
class FloorWorkflow:
    @workflow.run
    async def run(self, task: FloorTask) -> FloorResult:
        tool = "floor_write" if task.write else "floor_read"
        limit = task.continue_after_events
        for step in range(task.first_step, task.steps):
            if limit is not None and workflow.info().get_current_history_length() >= limit:
                workflow.continue_as_new(
                    task.model_copy(update={"first_step": step, "runs": task.runs + 1})
                )
            call = FloorCall(marker=task.marker, step=step)
            await workflow.execute_activity(
                "floor_model", call, result_type=str, start_to_close_timeout=_TIMEOUT
            )
            await workflow.execute_activity(
                tool, call, result_type=str, start_to_close_timeout=_TIMEOUT
            )
        # The closing answer, as an agent's last model call.
        await workflow.execute_activity(
            "floor_model",
            FloorCall(marker=task.marker, step=task.steps),
            result_type=str,
            start_to_close_timeout=_TIMEOUT,
        )
        return FloorResult(steps=task.steps, runs=task.runs)
