"""OpenTelemetry for Handrail: traces, metrics, and the Temporal SDK's own runtime metrics.

- **Traces.** ``temporalio.contrib.opentelemetry.TracingInterceptor`` on every client that
  ``connect_temporal`` makes (a worker built on the client inherits it) links client, workflow
  and activity spans; ``GenAiSpans`` adds one span per model call (``chat {model}``, kind CLIENT)
  and per tool action (``execute_tool {name}``, INTERNAL) with the OpenTelemetry GenAI semantic
  conventions, inside the activity's span. Spans come only from activity code and the contrib
  interceptor (which makes none on replay), so a replayed workflow adds none.
- **Metrics.** ``TaskMetrics`` (``handrail.telemetry.metrics``) counts each finished task once.
- **Export.** With ``HANDRAIL_OTLP_ENDPOINT`` set, spans and metrics go there over OTLP/HTTP;
  without it nothing is set up and the API's no-op providers cost nothing. ``shutdown`` flushes
  both (metrics are otherwise exported once a minute); it is also registered with ``atexit``.
  With ``HANDRAIL_PROMETHEUS_ADDRESS`` set, the Temporal SDK serves its runtime metrics there.

Nothing here records arguments, prompts or answers: only names, counts, durations and outcomes,
so no secret or redacted value can reach a span or a metric.
"""

from __future__ import annotations

import atexit
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, Protocol

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
    ToolCall,
    ToolOutcome,
)
from handrail.settings import HandrailSettings
from handrail.telemetry.metrics import INSTRUMENTATION, TaskMetrics

__all__ = ["INSTRUMENTATION", "GenAiSpans", "TaskMetrics", "Telemetry", "runtime_for"]

GEN_AI_PROVIDER = "openai"
FLUSH_TIMEOUT_MILLIS = 5_000
"""Per provider: a worker being stopped has a grace period (30 s by default in Kubernetes), and
an unreachable collector must not use it all up."""


class _SdkProvider(Protocol):
    """What the SDK's tracer and meter providers have and the API's do not."""

    def force_flush(self, timeout_millis: int = ...) -> bool: ...

    def shutdown(self) -> None: ...


@dataclass
class Telemetry:
    """The providers Handrail reports to, built once at an entry point and passed down."""

    tracer_provider: TracerProvider = field(default_factory=otel_trace.NoOpTracerProvider)
    meter_provider: MeterProvider = field(default_factory=otel_metrics.NoOpMeterProvider)
    _shutdown: list[_SdkProvider] = field(default_factory=list)

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
        """Export what is still buffered, then stop the exporters. Safe to call again (and from
        the ``atexit`` backstop); a no-op when nothing is exported."""
        # Taken one by one with list.pop, which is atomic: a second call, even from a signal
        # handler or another thread while the first runs, finds each provider gone (no lock,
        # which a signal handler on the same thread could deadlock on).
        providers: list[_SdkProvider] = []
        with suppress(IndexError):
            while True:
                providers.append(self._shutdown.pop(0))
        if not providers:
            return
        atexit.unregister(self.shutdown)
        # Both flushed before either is shut down, each within a bound of our own: the SDK's
        # shutdown would flush too, but may wait 30 s on an unreachable collector.
        for provider in providers:
            provider.force_flush(FLUSH_TIMEOUT_MILLIS)
        for provider in providers:
            provider.shutdown()

    @classmethod
    def ambient(cls) -> Telemetry:
        """The process's global providers: the API's no-ops unless the application set its own.
        A no-op tracer still carries the caller's current span on to what it starts."""
        return cls(otel_trace.get_tracer_provider(), otel_metrics.get_meter_provider())

    @classmethod
    def from_settings(cls, settings: HandrailSettings) -> Telemetry:
        """Exporters to ``otlp_endpoint``, or the no-op providers when it is unset. Call
        ``shutdown`` on every exit path; ``atexit`` calls it too, as a backstop for a normal
        interpreter exit (``os._exit`` and fatal signals skip it)."""
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
        # shutdown_on_exit=False: one atexit hook, ours, so that exiting takes the same path as
        # an explicit shutdown (flush both, then shut both down) and never runs it twice.
        tracer_provider = SdkTracerProvider(resource=resource, shutdown_on_exit=False)
        tracer_provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces"))
        )
        reader = PeriodicExportingMetricReader(
            OTLPMetricExporter(endpoint=f"{endpoint}/v1/metrics")
        )
        meter_provider = SdkMeterProvider(
            resource=resource, metric_readers=[reader], shutdown_on_exit=False
        )
        telemetry = cls(tracer_provider, meter_provider, [tracer_provider, meter_provider])
        atexit.register(telemetry.shutdown)
        return telemetry


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
        # The GenAI conventions: a model call is a request to a remote service (CLIENT); tools
        # and compensations run in this process (INTERNAL).
        kind = SpanKind.INTERNAL
        common: dict[str, AttributeValue] = {
            "handrail.task_id": info.workflow_id or "",
            "handrail.activity.attempt": info.attempt,
        }
        if isinstance(arg, DecideRequest):
            kind = SpanKind.CLIENT
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
                    "handrail.step": arg.step,
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
            name, kind=kind, attributes={**attributes, **common}
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
