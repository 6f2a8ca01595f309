"""A governed foreign workflow's run leaves the same OpenTelemetry record as Handrail's own:
tool spans under the trace the client started, and the task and action metrics."""

from __future__ import annotations

from temporalio.client import Client

from examples.store.database import create_store
from examples.store.settings import store_db_path
from examples.store.worker import running_worker
from handrail.client.core import HandrailClient, connect_temporal
from handrail.contracts import TaskResult
from handrail.settings import HandrailSettings
from tests.governance.scripted_host import (
    HOST_WORKFLOW,
    ProposedCall,
    ScriptedGovernedAgent,
    scripted_task,
)
from tests.review_helpers import PROFILE, wait_for_pending
from tests.telemetry.test_telemetry import Recorded

PRICE = ProposedCall(tool="lookup_price", arguments={"product": "Headlamp"}, confidence=0.95)


async def test_the_host_run_has_tool_spans_and_task_metrics(
    client: Client, settings: HandrailSettings
) -> None:
    recorded = Recorded()
    create_store(store_db_path(settings))
    settings = settings.model_copy(update={"workflow": HOST_WORKFLOW})
    traced = await connect_temporal(settings, recorded.telemetry)
    handrail = HandrailClient(traced, settings)
    async with running_worker(
        traced, settings, telemetry=recorded.telemetry, workflows=[ScriptedGovernedAgent]
    ):
        handle = await handrail.start_task(scripted_task([PRICE], PROFILE))
        # The profile wants a stated confidence on answers; the host's plain answer has none.
        answer = await wait_for_pending(handrail, handle.id)
        await handrail.review(
            handle.id, {"reviewer": "alice", "step": answer.step, "verdict": "approve"}
        )
        result = await traced.get_workflow_handle(handle.id, result_type=TaskResult).result()
    assert result.status == "answered", result

    [start] = recorded.named(f"StartWorkflow:{HOST_WORKFLOW}")
    [tool] = recorded.named("execute_tool lookup_price")
    assert tool.context.trace_id == start.context.trace_id
    assert dict(tool.attributes or {})["handrail.tool.ok"] is True
    actions = recorded.points("handrail.actions")
    assert actions == {(("handrail.action", "lookup_price"), ("handrail.outcome", "success")): 1}
    tasks = recorded.points("handrail.tasks")
    assert tasks == {(("handrail.profile", PROFILE), ("handrail.status", "answered")): 1}
