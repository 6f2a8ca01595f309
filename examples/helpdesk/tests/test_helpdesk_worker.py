"""The example's own worker (``helpdesk.worker``): its plugin with the OpenAI adapter, talking
to an OpenAI-compatible endpoint over real HTTP, on a client connected the way ``main`` does."""

from __future__ import annotations

from pathlib import Path

from helpdesk.scripted import answer_from_lookup
from helpdesk.tickets import TicketSystem
from helpdesk.worker import build_plugin, connect, openai_client
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from handrail import HandrailClient
from handrail.testing import Scenario, ScriptedModelServer, call, settings_for_test


async def test_the_worker_answers_through_an_openai_compatible_endpoint(
    handrail_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    scenario = Scenario([call("lookup_ticket", ticket_id=1), answer_from_lookup])
    with ScriptedModelServer(scenario) as endpoint:
        settings = settings_for_test(
            handrail_env.client,
            tmp_path,
            openai_base_url=endpoint.base_url,
            openai_api_key=SecretStr("sk-test-helpdesk"),
            model="helpdesk-model",
        )
        tickets = TicketSystem(settings.data_dir / "tickets.db")
        await tickets.add("VPN drops every hour", "ana@example.com")
        async with openai_client(settings) as model_client:
            plugin = build_plugin(settings, tickets, model_client)
            client = await connect(settings, plugin)
            async with Worker(client, task_queue=settings.task_queue):  # inherits the plugin
                handrail = HandrailClient(client, settings, profiles=plugin.catalog)
                task = {"goal": "What about ticket 1?", "profile": "helpdesk"}
                handle = await handrail.start_task(task)
                result = await handrail.get_result(handle.id)

    assert result.status == "answered"
    assert result.answer == "#1 VPN drops every hour: open"
    first = endpoint.requests[0]
    assert first["model"] == "helpdesk-model"  # the profile names none: the setting's
    offered = {tool["function"]["name"] for tool in first["tools"]}
    # The profile's tools, and the two Handrail offers every model.
    assert offered == {
        "lookup_ticket",
        "close_ticket",
        "notify_requester",
        "final_answer",
        "escalate",
    }
