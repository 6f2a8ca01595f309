"""OpenTelemetry for Handrail: ``core`` (``Telemetry``: tracer and meter providers, the tracing
interceptor, OTLP export, shutdown) and ``metrics`` (the task and action instruments)."""
