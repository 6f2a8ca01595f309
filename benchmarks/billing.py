"""Temporal Cloud billable actions, counted from a workflow run's event history.

Temporal Cloud bills per *action*. The published list, with the history event each action
shows as, is "Temporal Cloud Actions" (https://docs.temporal.io/cloud/actions; source
``docs/evaluate/cloud/actions.mdx`` in temporalio/documentation). From a history we count:

- ``workflow_started``: ``WORKFLOW_EXECUTION_STARTED`` (client start, continue-as-new, child).
- ``child_workflow_started``: ``START_CHILD_WORKFLOW_EXECUTION_INITIATED``, *two* actions (the
  durable intent and the attempt to start).
- ``workflow_options_updated``: ``WORKFLOW_EXECUTION_OPTIONS_UPDATED``.
- ``workflow_reset``: ``WORKFLOW_TASK_FAILED`` whose cause is ``RESET_WORKFLOW``.
- ``search_attribute_upsert``: ``UPSERT_WORKFLOW_SEARCH_ATTRIBUTES``, one per command however
  many attributes it sets, except a command that sets only ``TemporalChangeVersion`` (the
  versioning attribute ``workflow.patched`` writes is exempt).
- ``activity_scheduled``: ``ACTIVITY_TASK_SCHEDULED``, one per activity.
- ``activity_retry``: ``ACTIVITY_TASK_STARTED``'s ``attempt`` minus one (retries write no
  events of their own; the started event carries the last attempt's number).
- ``local_activity_markers``: all local-activity ``MARKER_RECORDED`` events of one workflow task
  count as one action, and ``WORKFLOW_TASK_COMPLETED``'s
  ``metering_metadata.nonfirst_local_activity_execution_attempts`` adds the local retries.
  Version markers (``core_patch`` from the Python/core SDKs, ``Version`` from Go/Java) are not
  counted: the page lists markers under "Local Activity started", and versioning's search
  attribute is exempt; this is our reading, stated here so a different one is easy to see.
- ``timer_started``: ``TIMER_STARTED`` (explicit timers and the SDK's implicit ones).
- ``signal``: ``WORKFLOW_EXECUTION_SIGNALED``. A signal from another workflow is counted in the
  history it lands in, as Temporal's UI does, not at ``SIGNAL_EXTERNAL_..._INITIATED``.
- ``update_accepted``: ``WORKFLOW_EXECUTION_UPDATE_ACCEPTED``.
- ``nexus_operation``: ``NEXUS_OPERATION_SCHEDULED`` and ``NEXUS_OPERATION_CANCEL_REQUESTED``.

Not in any history, so not counted here (the page says the same of its own history estimate):
queries, activity heartbeats that reach the server, rejected updates, schedules and exports.
Everything the benchmarks compare runs without queries or schedules; heartbeats are throttled
by the SDK and, against a zero-latency model, rarely reach the server.

One history is one run: a task that continues as new is the sum over its runs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory

VERSIONING_ATTRIBUTE = "TemporalChangeVersion"
VERSION_MARKERS = frozenset({"core_patch", "Version"})
"""Markers that record a ``patched``/``GetVersion`` decision, not a local activity."""

_ONE_PER_EVENT: dict[EventType.ValueType, str] = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED: "workflow_started",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_OPTIONS_UPDATED: "workflow_options_updated",
    EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: "activity_scheduled",
    EventType.EVENT_TYPE_TIMER_STARTED: "timer_started",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED: "signal",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED: "update_accepted",
    EventType.EVENT_TYPE_NEXUS_OPERATION_SCHEDULED: "nexus_operation",
    EventType.EVENT_TYPE_NEXUS_OPERATION_CANCEL_REQUESTED: "nexus_operation",
}
CHILD_WORKFLOW_ACTIONS = 2


def action_counts(history: WorkflowHistory | Iterable[HistoryEvent]) -> Counter[str]:
    """Billable actions in one run's history, by kind (the module docstring lists the kinds)."""
    events = history.events if isinstance(history, WorkflowHistory) else history
    counts: Counter[str] = Counter()
    marker_tasks: set[int] = set()  # workflow tasks that recorded a local-activity marker
    for event in events:
        kind = _ONE_PER_EVENT.get(event.event_type)
        if kind is not None:
            counts[kind] += 1
        elif event.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
            counts["child_workflow_started"] += CHILD_WORKFLOW_ACTIONS
        elif event.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            attributes = event.upsert_workflow_search_attributes_event_attributes
            names = set(attributes.search_attributes.indexed_fields)
            if names - {VERSIONING_ATTRIBUTE}:
                counts["search_attribute_upsert"] += 1
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            attempt = event.activity_task_started_event_attributes.attempt
            counts["activity_retry"] += max(attempt - 1, 0)
        elif event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
            marker = event.marker_recorded_event_attributes
            if marker.marker_name not in VERSION_MARKERS:
                marker_tasks.add(marker.workflow_task_completed_event_id)
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            metering = event.workflow_task_completed_event_attributes.metering_metadata
            counts["local_activity_retry"] += metering.nonfirst_local_activity_execution_attempts
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            cause = event.workflow_task_failed_event_attributes.cause
            if cause == WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW:
                counts["workflow_reset"] += 1
    counts["local_activity_markers"] += len(marker_tasks)
    return +counts  # drop the kinds that counted nothing


def billable_actions(history: WorkflowHistory | Iterable[HistoryEvent]) -> int:
    """The number of Temporal Cloud billable actions one run's history shows."""
    return sum(action_counts(history).values())


def describe(counts: Counter[str]) -> str:
    """``"activity_scheduled 20, workflow_started 1"``: the kinds, most actions first."""
    return ", ".join(f"{kind} {count}" for kind, count in counts.most_common())
