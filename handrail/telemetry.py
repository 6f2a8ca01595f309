"""OpenTelemetry for Handrail: traces, metrics, and the Temporal SDK's own runtime metrics.

- **Traces.** ``temporalio.contrib.opentelemetry.TracingInterceptor`` on the client (the worker
  inherits it) links client, workflow and activity spans; ``GenAiSpans`` adds one span per model
  call (``chat {model}``) and per tool action (``execute_tool {name}``) with the OpenTelemetry
  GenAI semantic conventions, inside the activity's span. Spans come only from activity code and
  the contrib interceptor (which makes none on replay), so a replayed workflow adds none.
- **Metrics.** ``TaskMetrics.observe`` turns a finished task's record into counters and
  histograms. It is called by the ``record_run`` activity only when the run ledger stored the
  record for the first time, so each task counts once however often its workflow is replayed or
  the activity is retried.
- **Export.** With ``HANDRAIL_OTLP_ENDPOINT`` set, spans and metrics go there over OTLP/HTTP;
  without it nothing is set up and the API's no-op providers cost nothing. With
  ``HANDRAIL_PROMETHEUS_ADDRESS`` set, the Temporal SDK serves its runtime metrics there.

Nothing here records arguments, prompts or answers: only names, counts, durations and outcomes,
so no secret or redacted value can reach a span or a metric.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import metrics as otel_metrics
from opentelemetry import trace as otel_trace
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import SpanKind, Status, StatusCode, TracerProvider
from opentelemetry.util.types import AttributeValue
from temporalio import activity
from temporalio.client import Interceptor as ClientInterceptor
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from handrail.contracts import (
    CompensationOutcome,
    CompensationRequest,
    DecideRequest,
    Decision,
    RunRecord,
    StepRecord,
    ToolCall,
    ToolOutcome,
)
from handrail.settings import HandrailSettings

INSTRUMENTATION = "handrail"
GEN_AI_PROVIDER = "openai"


@dataclass
class Telemetry:
    """The providers Handrail reports to, built once at an entry point and passed down."""

    tracer_provider: TracerProvider = field(default_factory=otel_trace.NoOpTracerProvider)
    meter_provider: MeterProvider = field(default_factory=otel_metrics.NoOpMeterProvider)
    _shutdown: list[Any] = field(default_factory=list)

    @property
    def tracer(self) -> otel_trace.Tracer:
        return self.tracer_provider.get_tracer(INSTRUMENTATION)

    def client_interceptors(self) -> list[ClientInterceptor]:
        # Also a worker interceptor: a worker built on this client inherits it.
        return [TracingInterceptor(self.tracer)]

    def worker_interceptors(self) -> list[Interceptor]:
        return [GenAiSpans(self.tracer)]

    def task_metrics(self) -> TaskMetrics:
        return TaskMetrics(self.meter_provider)

    def shutdown(self) -> None:
        """Flush and stop exporters (a no-op when nothing is exported)."""
        for provider in self._shutdown:
            provider.shutdown()

    @classmethod
    def from_settings(cls, settings: HandrailSettings) -> Telemetry:
        if not settings.otlp_endpoint:
            return cls()
        # Imported here: the exporters are only needed (and only loaded) when configured.
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        endpoint = settings.otlp_endpoint.rstrip("/")
        resource = Resource.create({"service.name": settings.service_name})
        tracer_provider = SdkTracerProvider(resource=resource)
        tracer_provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces"))
        )
        reader = PeriodicExportingMetricReader(
            OTLPMetricExporter(endpoint=f"{endpoint}/v1/metrics")
        )
        meter_provider = SdkMeterProvider(resource=resource, metric_readers=[reader])
        return cls(tracer_provider, meter_provider, [tracer_provider, meter_provider])


def runtime_for(settings: HandrailSettings) -> Runtime | None:
    """A Temporal runtime serving the SDK's own metrics on Prometheus, if configured."""
    if not settings.prometheus_address:
        return None
    return Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(bind_address=settings.prometheus_address)
        )
    )


# --- spans ----------------------------------------------------------------------------------


class GenAiSpans(Interceptor):
    """Adds GenAI spans around the model call and tool activities (and compensations)."""

    def __init__(self, tracer: otel_trace.Tracer) -> None:
        self._tracer = tracer

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _GenAiActivitySpans(next, self._tracer)


class _GenAiActivitySpans(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, tracer: otel_trace.Tracer) -> None:
        super().__init__(next)
        self._tracer = tracer

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        arg = input.args[0] if input.args else None
        info = activity.info()
        attributes: dict[str, AttributeValue]
        common: dict[str, AttributeValue] = {
            "handrail.task_id": info.workflow_id or "",
            "handrail.activity.attempt": info.attempt,
        }
        if isinstance(arg, DecideRequest):
            name, attributes = (
                f"chat {arg.model}",
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": GEN_AI_PROVIDER,
                    "gen_ai.request.model": arg.model,
                    "handrail.step": arg.step + 1,
                },
            )
        elif isinstance(arg, ToolCall):
            name, attributes = (
                f"execute_tool {info.activity_type}",
                {
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": info.activity_type,
                    "gen_ai.tool.type": "function",
                    "handrail.step": arg.step + 1,
                },
            )
        elif isinstance(arg, CompensationRequest):
            name, attributes = (
                f"compensate {info.activity_type}",
                {
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": info.activity_type,
                    "handrail.compensates": arg.tool,
                },
            )
        else:
            return await super().execute_activity(input)

        with self._tracer.start_as_current_span(
            name, kind=SpanKind.INTERNAL, attributes={**attributes, **common}
        ) as span:
            try:
                result = await super().execute_activity(input)
            except BaseException as error:
                span.set_status(Status(StatusCode.ERROR, type(error).__name__))
                span.set_attribute("error.type", type(error).__name__)
                raise
            _describe_result(span, result)
            return result


def _describe_result(span: otel_trace.Span, result: object) -> None:
    if isinstance(result, Decision):
        span.set_attribute("gen_ai.response.model", result.model)
        span.set_attribute("gen_ai.usage.input_tokens", result.tokens_in)
        span.set_attribute("gen_ai.usage.output_tokens", result.tokens_out)
        span.set_attribute("handrail.decision.kind", result.kind)
        if result.tool:
            span.set_attribute("handrail.decision.tool", result.tool)
            if result.tool_call_id:
                span.set_attribute("gen_ai.tool.call.id", result.tool_call_id)
        if result.confidence is not None:
            span.set_attribute("handrail.decision.confidence", result.confidence)
    elif isinstance(result, ToolOutcome):
        span.set_attribute("handrail.tool.ok", result.ok)
        if not result.ok:
            span.set_status(Status(StatusCode.ERROR, "tool refused"))
    elif isinstance(result, CompensationOutcome):
        span.set_attribute("handrail.compensation.status", result.status)


# --- metrics --------------------------------------------------------------------------------


class TaskMetrics:
    """Counters and histograms of finished tasks (see the module docstring for when)."""

    def __init__(self, provider: MeterProvider) -> None:
        meter = provider.get_meter(INSTRUMENTATION)
        self.tasks = meter.create_counter(
            "handrail.tasks", unit="{task}", description="Finished tasks by profile and status."
        )
        self.actions = meter.create_counter(
            "handrail.actions",
            unit="{action}",
            description="Proposed actions by action type and outcome: success, failure, "
            "denied, escalated, approved, rejected, compensated.",
        )
        self.tokens = meter.create_histogram(
            "gen_ai.client.token.usage", unit="{token}", description="Tokens per model call."
        )
        self.operation = meter.create_histogram(
            "gen_ai.client.operation.duration", unit="s", description="Model call duration."
        )
        self.tool_duration = meter.create_histogram(
            "handrail.tool.duration", unit="s", description="Tool activity duration."
        )
        self.review_wait = meter.create_histogram(
            "handrail.review.wait", unit="s", description="Time from review request to verdict."
        )

    def observe(self, record: RunRecord) -> None:
        self.tasks.add(1, {"handrail.profile": record.profile, "handrail.status": record.status})
        compensated = {c.step for c in record.compensations if c.status == "undone"}
        for step in record.steps:
            decision = step.decision
            model = {"gen_ai.request.model": decision.model or record.model}
            self.tokens.record(decision.tokens_in, {**model, "gen_ai.token.type": "input"})
            self.tokens.record(decision.tokens_out, {**model, "gen_ai.token.type": "output"})
            self.operation.record(
                decision.latency_ms / 1000, {**model, "gen_ai.operation.name": "chat"}
            )
            action = (
                decision.tool if decision.kind == "tool_call" and decision.tool else decision.kind
            )
            for outcome in _outcomes(step, step.index in compensated):
                self.actions.add(1, {"handrail.action": action, "handrail.outcome": outcome})
            if step.outcome is not None:
                self.tool_duration.record(
                    step.outcome.latency_ms / 1000, {"gen_ai.tool.name": action}
                )
            if step.review is not None:
                self.review_wait.record(
                    step.review.wait_seconds,
                    {"gen_ai.tool.name": action, "handrail.verdict": step.review.verdict},
                )


def _outcomes(step: StepRecord, compensated: bool) -> Sequence[str]:
    """The outcome labels one step earns (a step can be approved, then succeed, then be
    compensated)."""
    labels: list[str] = []
    if step.gate is not None and step.gate.action == "deny":
        labels.append("denied")
    if step.escalations:
        labels.append("escalated")
    if step.decision.kind == "escalate":
        labels.append("escalated")
    if step.review is not None:
        labels.append("rejected" if step.review.verdict == "reject" else "approved")
    if step.outcome is not None:
        labels.append("success" if step.outcome.ok else "failure")
    elif step.decision.kind == "invalid":
        labels.append("failure")
    if compensated:
        labels.append("compensated")
    return labels
