"""Timeouts and retry policies, named once. Temporal owns every retry (the model client has
``max_retries=0``); which errors are final is decided where they are raised (``non_retryable``)."""

from datetime import timedelta
from typing import Final

from temporalio.common import RetryPolicy

PROFILE_TIMEOUT: Final = timedelta(seconds=10)
# A missing or broken profile fails at once (non-retryable); what is retried is the state
# database (autonomy levels) or an MCP server being away: about 3 minutes, past a restart.
PROFILE_RETRY: Final = RetryPolicy(maximum_interval=timedelta(seconds=10), maximum_attempts=20)

# Long enough for a slow completion (the client's own timeout is shorter and surfaces as a
# retryable LlmUnavailable); the attempts cap stops a dead endpoint from holding a task forever.
DECIDE_TIMEOUT: Final = timedelta(seconds=120)
DECIDE_RETRY: Final = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=8,
)
# A worker that dies mid model call (SIGKILL, a lost host) would otherwise hold the call for the
# whole DECIDE_TIMEOUT before Temporal retries it elsewhere. ``decide`` heartbeats every
# DECIDE_HEARTBEAT_TIMEOUT / 3 (activities/llm.py), so a silent attempt is given up on after
# this instead: a few missed beats, never one slow beat. Runs recorded before the
# ``heartbeats-v1`` patch (workflows/stubs.py) schedule decide without it.
DECIDE_HEARTBEAT_TIMEOUT: Final = timedelta(seconds=15)

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

# A declared tool may take longer than ACTION_TIMEOUT (``@tool(timeout=...)``): it then runs as a
# regular activity (a read too: local activities cannot heartbeat) with that start-to-close and a
# heartbeat timeout, its own ``heartbeat=`` or this one. The runner heartbeats for it
# (handrail/tools/heartbeat.py), so a dead worker's long tool is retried elsewhere as soon as a
# dead worker's short action is today, not after the tool's whole timeout.
TOOL_HEARTBEAT_TIMEOUT: Final = ACTION_TIMEOUT

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

# Recording a finished run is a short local write; it is never allowed to fail the task. It
# waits about 10 minutes for a state database that is away (a restart, a failover), so that an
# outage does not leave finished tasks out of the ledger, then is given up on (logged).
RECORD_TIMEOUT: Final = timedelta(seconds=10)
RECORD_RETRY: Final = RetryPolicy(maximum_interval=timedelta(seconds=10), maximum_attempts=60)
