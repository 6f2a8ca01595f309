"""Handrail's metrics: counters and histograms of finished tasks, observed once per task.

``TaskMetrics.observe`` is called by the ``record_run`` activity only when the run ledger stored
the record for the first time, so each task counts once however often its workflow is replayed
or the activity is retried.

Durations are recorded in seconds (the unit the OpenTelemetry conventions ask for), so every
histogram advises its own bucket boundaries: the SDK's defaults (0, 5, 10, 25 ... 10000) are
meant for milliseconds and would put every model call and tool in one bucket. The advice is
what an exporter uses unless the application configures a View of its own.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.metrics import MeterProvider

from handrail.contracts import RunRecord
from handrail.contracts.outcomes import action_of, step_outcomes

INSTRUMENTATION = "handrail"
"""The instrumentation scope of Handrail's spans and metrics."""

GEN_AI_DURATION_BUCKETS: Sequence[float] = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92
)  # fmt: skip
"""Seconds; the GenAI semantic conventions' advice for ``gen_ai.client.operation.duration``."""

GEN_AI_TOKEN_BUCKETS: Sequence[int] = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864
)  # fmt: skip
"""Tokens; the GenAI semantic conventions' advice for ``gen_ai.client.token.usage``."""

TOOL_DURATION_BUCKETS: Sequence[float] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60
)  # fmt: skip
"""Seconds: a local database write takes milliseconds; tools time out at 10 s today
(workflows/options.py), and the last buckets leave room for slower tools."""

_MINUTE, _HOUR, _DAY = 60, 3600, 86400
REVIEW_WAIT_BUCKETS: Sequence[float] = (
    10, 30, _MINUTE, 2 * _MINUTE, 5 * _MINUTE, 15 * _MINUTE, 30 * _MINUTE,
    _HOUR, 2 * _HOUR, 4 * _HOUR, 8 * _HOUR, 16 * _HOUR,
    _DAY, 2 * _DAY, 4 * _DAY, 7 * _DAY, 14 * _DAY,
)  # fmt: skip
"""Seconds: a reviewer at the screen answers in seconds, one in another timezone the next day;
review deadlines run to days."""


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
            description="Proposed actions (every step but final answers) by action type and "
            "outcome, one per step, as the run ledger classifies it: success, approved, failure, "
            "denied, rejected, escalated, compensated, skipped.",
        )
        self.tokens = meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="Tokens per model call.",
            explicit_bucket_boundaries_advisory=GEN_AI_TOKEN_BUCKETS,
        )
        self.operation = meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="Model call duration.",
            explicit_bucket_boundaries_advisory=GEN_AI_DURATION_BUCKETS,
        )
        self.tool_duration = meter.create_histogram(
            "handrail.tool.duration",
            unit="s",
            description="Tool activity duration.",
            explicit_bucket_boundaries_advisory=TOOL_DURATION_BUCKETS,
        )
        self.review_wait = meter.create_histogram(
            "handrail.review.wait",
            unit="s",
            description="Time from review request to verdict.",
            explicit_bucket_boundaries_advisory=REVIEW_WAIT_BUCKETS,
        )

    def observe(self, record: RunRecord) -> None:
        self.tasks.add(1, {"handrail.profile": record.profile, "handrail.status": record.status})
        # The ledger's classifier (handrail.contracts.outcomes), so that this counter and `stats`
        # agree on every step, compensated ones included.
        for step, outcome in step_outcomes(record):
            decision = step.decision
            model = {"gen_ai.request.model": decision.model or record.model}
            self.tokens.record(decision.tokens_in, {**model, "gen_ai.token.type": "input"})
            self.tokens.record(decision.tokens_out, {**model, "gen_ai.token.type": "output"})
            self.operation.record(
                decision.latency_ms / 1000, {**model, "gen_ai.operation.name": "chat"}
            )
            action = action_of(step)
            if decision.kind != "final_answer":  # an answer is a task's end: handrail.tasks
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
