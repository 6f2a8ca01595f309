"""Timeouts and retry policies, named once. Temporal owns every retry (the model client has
``max_retries=0``); which errors are final is decided where they are raised (``non_retryable``)."""

from datetime import timedelta
from typing import Final

from temporalio.common import RetryPolicy

PROFILE_TIMEOUT: Final = timedelta(seconds=10)
PROFILE_RETRY: Final = RetryPolicy(maximum_attempts=3)

# Long enough for a slow completion (the client's own timeout is shorter and surfaces as a
# retryable LlmUnavailable); the attempts cap stops a dead endpoint from holding a task forever.
DECIDE_TIMEOUT: Final = timedelta(seconds=120)
DECIDE_RETRY: Final = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=8,
)

# Read-only tools run as local activities: short, idempotent reads, for which one round trip
# to the server less per step is worth the trade-offs (retried inside the workflow task, no
# heartbeats). Side-effecting tools will run as regular activities.
READ_TOOL_TIMEOUT: Final = timedelta(seconds=10)
READ_TOOL_RETRY: Final = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    maximum_interval=timedelta(seconds=5),
    maximum_attempts=5,
)
# Side-effecting tools: regular activities, exactly once through their idempotency key. A short
# start-to-close bounds how long a task waits when a worker dies mid-action.
ACTION_TIMEOUT: Final = timedelta(seconds=10)
ACTION_RETRY: Final = RetryPolicy(
    initial_interval=timedelta(milliseconds=500),
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=10,
)

# Compensations try harder than actions: giving up means a person must repair the effect.
COMPENSATION_TIMEOUT: Final = timedelta(seconds=10)
COMPENSATION_RETRY: Final = RetryPolicy(
    initial_interval=timedelta(milliseconds=500),
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=20,
)

# Telling reviewers is best effort: a few quick tries, then the task waits visibly anyway.
NOTIFY_TIMEOUT: Final = timedelta(seconds=10)
NOTIFY_RETRY: Final = RetryPolicy(maximum_interval=timedelta(seconds=5), maximum_attempts=3)

# Recording a finished run is a short local write; it is retried a little and then given up on
# (logged), never allowed to fail the task.
RECORD_TIMEOUT: Final = timedelta(seconds=10)
RECORD_RETRY: Final = RetryPolicy(maximum_interval=timedelta(seconds=2), maximum_attempts=5)
