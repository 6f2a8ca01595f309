"""OpenTelemetry: spans with the GenAI conventions under the workflow's trace, metric points by
action type, no duplicates on replay, no secrets anywhere, SDK metrics on Prometheus."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import urllib.request
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, NumberDataPoint
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from examples.store.database import create_store
from examples.store.settings import store_db_path
from examples.store.worker import running_worker
from handrail.client.core import HandrailClient, connect_temporal
from handrail.contracts import TaskResult
from handrail.reports.export import export_jsonl
from handrail.settings import HandrailSettings
from handrail.storage.ledger import RunLedger, ledger_url
from handrail.telemetry.core import Telemetry
from handrail.testing.scripted_model import Scenario, ScriptedModelServer, ToolCallReply
from tests.conftest import TEST_API_KEY

WHY = {"rationale": "r", "confidence": 0.95}
SECRET_BODY = "Your card ending 4242 was charged twice"  # send_email marks `body` sensitive


class Recorded:
    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.metrics = InMemoryMetricReader()
        self.telemetry = Telemetry(tracer_provider, MeterProvider(metric_readers=[self.metrics]))

    def named(self, prefix: str) -> list[ReadableSpan]:
        return [s for s in self.spans.get_finished_spans() if s.name.startswith(prefix)]

    def points(self, metric: str) -> dict[tuple[tuple[str, Any], ...], float]:
        """Sum (counters) or count (histograms) per attribute set."""
        found: dict[tuple[tuple[str, Any], ...], float] = {}
        data = self.metrics.get_metrics_data()
        for resource in data.resource_metrics if data else []:
            for scope in resource.scope_metrics:
                for item in scope.metrics:
                    if item.name != metric:
                        continue
                    for point in item.data.data_points:
                        key = tuple(sorted((point.attributes or {}).items()))
                        if isinstance(point, NumberDataPoint):
                            found[key] = float(point.value)
                        else:  # histograms: how many values were recorded
                            found[key] = float(point.count)
        return found


@pytest.fixture
def recorded() -> Recorded:
    return Recorded()


def _scenario() -> Scenario:
    return Scenario(
        [
            ToolCallReply("lookup_price", {"product": "Headlamp", **WHY}),
            ToolCallReply(
                "issue_refund", {"order_id": 1001, "amount": "10.00", "reason": "r", **WHY}
            ),
            ToolCallReply(
                "send_email", {"order_id": 1001, "subject": "Refund", "body": SECRET_BODY, **WHY}
            ),
            ToolCallReply("final_answer", {"answer": "done", **WHY}),
        ]
    )


async def _run(
    settings: HandrailSettings, server: ScriptedModelServer, recorded: Recorded, **worker: Any
) -> TaskResult:
    create_store(store_db_path(settings))
    server.brain = _scenario()
    client = await connect_temporal(settings, recorded.telemetry)
    handrail = HandrailClient(client, settings)
    async with running_worker(client, settings, telemetry=recorded.telemetry, **worker):
        handle = await handrail.start_task(
            {"goal": "Refund and tell them", "profile": "store_actions"}
        )
        # The handle's own result: these tests are about telemetry, not about how the client
        # waits for a task.
        return await handle.result()


async def test_spans_follow_the_genai_conventions_under_the_workflow_trace(
    settings: HandrailSettings, model_server: ScriptedModelServer, recorded: Recorded
) -> None:
    result = await _run(settings, model_server, recorded)
    assert result.status == "answered"

    chats = recorded.named("chat ")
    assert len(chats) == 4
    attributes = dict(chats[0].attributes or {})
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.request.model"] == "gpt-4o-mini"
    assert isinstance(attributes["gen_ai.usage.input_tokens"], int)
    assert attributes["gen_ai.usage.input_tokens"] > 0
    assert isinstance(attributes["gen_ai.usage.output_tokens"], int)
    assert attributes["gen_ai.usage.output_tokens"] > 0
    assert attributes["handrail.decision.tool"] == "lookup_price"

    tools = {s.name: dict(s.attributes or {}) for s in recorded.named("execute_tool ")}
    assert set(tools) == {
        "execute_tool lookup_price",
        "execute_tool issue_refund",
        "execute_tool send_email",
    }
    assert tools["execute_tool issue_refund"]["gen_ai.tool.name"] == "issue_refund"
    assert tools["execute_tool issue_refund"]["handrail.tool.ok"] is True

    # Every span of the task shares the trace the client started, and the GenAI spans sit
    # under the activity spans of the contrib interceptor.
    start = recorded.named("StartWorkflow:AgentWorkflow")
    assert len(start) == 1
    trace_id = start[0].context.trace_id
    assert {s.context.trace_id for s in chats + recorded.named("execute_tool ")} == {trace_id}
    by_id = {s.context.span_id: s for s in recorded.spans.get_finished_spans()}
    parent = by_id[chats[0].parent.span_id] if chats[0].parent else None
    assert parent is not None
    assert parent.name == "RunActivity:decide"


async def test_model_calls_are_client_spans_and_tool_actions_internal(
    settings: HandrailSettings, model_server: ScriptedModelServer, recorded: Recorded
) -> None:
    """The GenAI conventions: a model call is a request to another service (CLIENT); a tool
    runs here (INTERNAL)."""
    await _run(settings, model_server, recorded)
    assert {s.kind for s in recorded.named("chat ")} == {SpanKind.CLIENT}
    assert {s.kind for s in recorded.named("execute_tool ")} == {SpanKind.INTERNAL}


async def test_metric_points_by_action_type_and_outcome(
    settings: HandrailSettings, model_server: ScriptedModelServer, recorded: Recorded
) -> None:
    await _run(settings, model_server, recorded)
    actions = recorded.points("handrail.actions")
    assert actions[(("handrail.action", "issue_refund"), ("handrail.outcome", "success"))] == 1
    assert actions[(("handrail.action", "lookup_price"), ("handrail.outcome", "success"))] == 1
    assert actions[(("handrail.action", "send_email"), ("handrail.outcome", "success"))] == 1
    assert len(actions) == 3
    tasks = recorded.points("handrail.tasks")
    assert tasks == {(("handrail.profile", "store_actions"), ("handrail.status", "answered")): 1}
    tokens = recorded.points("gen_ai.client.token.usage")
    assert tokens[(("gen_ai.request.model", "gpt-4o-mini"), ("gen_ai.token.type", "input"))] == 4


async def test_replay_emits_no_duplicate_spans_or_points(
    settings: HandrailSettings, model_server: ScriptedModelServer, recorded: Recorded
) -> None:
    """With no workflow cache every activation replays the whole history so far; telemetry
    must still count each step once."""
    cached = Recorded()
    await _run(settings, model_server, cached)
    replaying = settings.model_copy(update={"task_queue": settings.task_queue + "-replay"})
    await _run(replaying, model_server, recorded, max_cached_workflows=0)

    def shape(r: Recorded) -> tuple[list[str], dict[Any, float], dict[Any, float]]:
        names = sorted(
            s.name for s in r.spans.get_finished_spans() if not s.name.startswith("HandleQuery")
        )
        return names, r.points("handrail.actions"), r.points("handrail.tasks")

    assert shape(recorded) == shape(cached)
    assert len(recorded.named("RunWorkflow:AgentWorkflow")) == 1


async def test_no_secret_or_redacted_value_in_spans_logs_trace_or_export(
    settings: HandrailSettings,
    model_server: ScriptedModelServer,
    recorded: Recorded,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Every logger at INFO (the worker's level) and Handrail's own at DEBUG. (The Temporal SDK's
    # and the OpenAI client's DEBUG logs print payloads and requests verbatim: not for
    # production, as docs/architecture.md says.)
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="handrail")
    result = await _run(settings, model_server, recorded)
    email = next(s for s in result.steps if s.decision.tool == "send_email")
    assert email.decision.arguments["body"] == "[redacted]"
    assert email.outcome is not None
    assert email.outcome.ok  # the real body reached the tool

    client = await connect_temporal(settings)
    async with running_worker(client, settings):  # a closed run's query replays on a worker
        trace = await HandrailClient(client, settings).get_trace(result.task_id)
    export = settings.data_dir / "export.jsonl"
    export_jsonl(RunLedger(ledger_url(settings)), export)

    span_text = json.dumps(
        [dict(s.attributes or {}) | {"name": s.name} for s in recorded.spans.get_finished_spans()],
        default=str,
    )
    everything = {
        "spans": span_text,
        "logs": "\n".join(r.getMessage() for r in caplog.records),
        "trace": trace.model_dump_json(),
        "result": result.model_dump_json(),
        "export": export.read_text(),
    }
    assert "[redacted]" in everything["export"]
    for where, text in everything.items():
        assert TEST_API_KEY not in text, where
        assert SECRET_BODY not in text, where


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def test_sdk_runtime_metrics_are_served_on_prometheus(
    settings: HandrailSettings, model_server: ScriptedModelServer
) -> None:
    address = f"127.0.0.1:{_free_port()}"
    exposed = settings.model_copy(update={"prometheus_address": address})
    await _run(exposed, model_server, Recorded())
    body = await asyncio.to_thread(
        lambda: urllib.request.urlopen(f"http://{address}/metrics", timeout=5).read().decode()
    )
    assert "temporal_workflow_completed" in body or "temporal_request" in body
