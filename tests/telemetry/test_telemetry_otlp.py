"""OpenTelemetry as a real OTLP/HTTP receiver sees it: one trace per task whichever way it was
started, and histogram buckets fit for seconds."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import HistogramDataPoint, Metric
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from examples.store.database import create_store
from examples.store.settings import store_db_path
from examples.store.worker import running_worker
from handrail.client.core import HandrailClient, connect_temporal
from handrail.settings import HandrailSettings
from handrail.telemetry.core import Telemetry
from handrail.testing.scripted_model import Scenario, ScriptedModelServer, ToolCallReply

WHY = {"rationale": "r", "confidence": 0.95}
TASK = {"goal": "How much is the Headlamp?", "profile": "store_actions"}
GEN_AI_DURATION_BOUNDS = [
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92
]  # fmt: skip


class OtlpReceiver:
    """A local OTLP/HTTP collector that keeps every span and metric posted to it."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.metrics: list[Metric] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                reply = receiver.receive(self.path, body)
                self.send_response(200 if reply is not None else 404)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply or b"")))
                self.end_headers()
                self.wfile.write(reply or b"")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def receive(self, path: str, body: bytes) -> bytes | None:
        with self._lock:
            if path == "/v1/traces":
                traces = ExportTraceServiceRequest.FromString(body)
                for resource in traces.resource_spans:
                    for scope in resource.scope_spans:
                        self.spans.extend(scope.spans)
                return ExportTraceServiceResponse().SerializeToString()
            if path == "/v1/metrics":
                metrics = ExportMetricsServiceRequest.FromString(body)
                for resource_metrics in metrics.resource_metrics:
                    for scope_metrics in resource_metrics.scope_metrics:
                        self.metrics.extend(scope_metrics.metrics)
                return ExportMetricsServiceResponse().SerializeToString()
        return None

    def histogram(self, name: str) -> list[HistogramDataPoint]:
        """The data points of the last export of histogram ``name`` (cumulative: the latest
        export holds everything)."""
        with self._lock:
            found = [m for m in self.metrics if m.name == name]
        return list(found[-1].histogram.data_points) if found else []

    def counter(self, name: str) -> dict[tuple[tuple[str, str], ...], int]:
        """The latest value of counter ``name`` per attribute set."""
        values: dict[tuple[tuple[str, str], ...], int] = {}
        with self._lock:
            for metric in self.metrics:
                if metric.name == name:
                    for point in metric.sum.data_points:
                        values[attributes_of(point.attributes)] = point.as_int
        return values

    def __enter__(self) -> OtlpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def attributes_of(pairs: Iterable[KeyValue]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((pair.key, pair.value.string_value) for pair in pairs))


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as running:
        yield running


@pytest.fixture
def exported(settings: HandrailSettings, receiver: OtlpReceiver) -> HandrailSettings:
    """The test's settings, exporting to the local receiver."""
    create_store(store_db_path(settings))
    return settings.model_copy(update={"otlp_endpoint": receiver.url})


def lookup_then_answer() -> Scenario:
    return Scenario(
        [
            ToolCallReply("lookup_price", {"product": "Headlamp", **WHY}),
            ToolCallReply("final_answer", {"answer": "24.99", **WHY}),
        ]
    )


def _assert_one_trace(spans: list[Span], root: str) -> None:
    assert len({s.trace_id for s in spans}) == 1, sorted({s.name for s in spans})
    roots = [s.name for s in spans if not s.parent_span_id]
    assert roots == [root]


# --- one trace per task -----------------------------------------------------------------------


async def test_a_task_started_through_handrail_client_connect_is_one_trace(
    exported: HandrailSettings, model_server: ScriptedModelServer, receiver: OtlpReceiver
) -> None:
    model_server.brain = lookup_then_answer()
    # Worker and starter are separate processes in production, each with its own providers: the
    # trace crosses between them only through Temporal's headers.
    worker_telemetry = Telemetry.from_settings(exported)
    starter_telemetry = Telemetry.from_settings(exported)
    try:
        client = await connect_temporal(exported, worker_telemetry)
        async with running_worker(client, exported, telemetry=worker_telemetry):
            handrail = await HandrailClient.connect(exported, telemetry=starter_telemetry)
            handle = await handrail.start_task(TASK)
            assert (await handle.result()).status == "answered"
    finally:
        worker_telemetry.shutdown()
        starter_telemetry.shutdown()

    names = {s.name for s in receiver.spans}
    assert {
        "StartWorkflow:AgentWorkflow",
        "RunWorkflow:AgentWorkflow",
        "StartActivity:decide",
        "RunActivity:decide",
        "chat gpt-4o-mini",
        "StartActivity:lookup_price",
        "RunActivity:lookup_price",
        "execute_tool lookup_price",
    } <= names
    _assert_one_trace(receiver.spans, root="StartWorkflow:AgentWorkflow")
    span_ids = {s.span_id for s in receiver.spans}
    assert all(s.parent_span_id in span_ids for s in receiver.spans if s.parent_span_id)


async def test_a_task_started_without_telemetry_joins_the_callers_trace(
    exported: HandrailSettings, model_server: ScriptedModelServer, receiver: OtlpReceiver
) -> None:
    """A service that starts tasks inside its own span (an HTTP request, say) but gives
    Handrail no telemetry: the client still carries that span's context to the workflow."""
    model_server.brain = lookup_then_answer()
    telemetry = Telemetry.from_settings(exported)
    try:
        client = await connect_temporal(exported, telemetry)
        async with running_worker(client, exported, telemetry=telemetry):
            handrail = await HandrailClient.connect(exported)
            with telemetry.tracer.start_as_current_span("POST /tasks"):
                handle = await handrail.start_task(TASK)
            await handle.result()
    finally:
        telemetry.shutdown()

    assert {"RunActivity:decide", "chat gpt-4o-mini"} <= {s.name for s in receiver.spans}
    _assert_one_trace(receiver.spans, root="POST /tasks")


# --- histogram buckets ------------------------------------------------------------------------


def _filled_buckets_start_at(point: HistogramDataPoint) -> list[float]:
    """The lower bound of every bucket holding a value (bucket 0 starts at minus infinity)."""
    bounds = [float("-inf"), *point.explicit_bounds]
    return [bounds[i] for i, count in enumerate(point.bucket_counts) if count]


async def test_duration_histograms_have_buckets_for_seconds(
    exported: HandrailSettings, receiver: OtlpReceiver
) -> None:
    with ScriptedModelServer(lookup_then_answer(), latency=0.3) as slow_model:
        slow = exported.model_copy(update={"openai_base_url": slow_model.base_url})
        telemetry = Telemetry.from_settings(slow)
        try:
            client = await connect_temporal(slow, telemetry)
            async with running_worker(client, slow, telemetry=telemetry):
                await (await HandrailClient(client, slow).start_task(TASK)).result()
        finally:
            telemetry.shutdown()

    (model_calls,) = receiver.histogram("gen_ai.client.operation.duration")
    assert list(model_calls.explicit_bounds) == GEN_AI_DURATION_BOUNDS
    assert model_calls.count == 2
    # Both calls took at least 0.3 s: they sit in (0.16, 0.32] or above, not in a first bucket
    # that starts at zero.
    assert min(_filled_buckets_start_at(model_calls)) >= 0.16
    (tools,) = receiver.histogram("handrail.tool.duration")
    assert tools.explicit_bounds[0] <= 0.005  # a local database write takes milliseconds
    assert tools.explicit_bounds[-1] >= 60
    for tokens in receiver.histogram("gen_ai.client.token.usage"):
        assert tokens.explicit_bounds[:3] == [1, 4, 16]  # the GenAI conventions' advice


def test_review_wait_buckets_run_from_minutes_to_days(
    exported: HandrailSettings, receiver: OtlpReceiver
) -> None:
    telemetry = Telemetry.from_settings(exported)
    metrics = telemetry.task_metrics()
    metrics.review_wait.record(90, {"handrail.verdict": "approve"})  # a minute and a half
    metrics.review_wait.record(30 * 3600, {"handrail.verdict": "reject"})  # the next day
    telemetry.shutdown()

    points = {attributes_of(p.attributes): p for p in receiver.histogram("handrail.review.wait")}
    quick = points[(("handrail.verdict", "approve"),)]
    slow = points[(("handrail.verdict", "reject"),)]
    assert quick.explicit_bounds[-1] >= 7 * 86400
    assert 60 <= min(_filled_buckets_start_at(quick)) < 90
    assert 86400 <= min(_filled_buckets_start_at(slow)) < 30 * 3600
