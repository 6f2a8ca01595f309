"""``billable_actions`` on a saved Handrail history, and on copies changed to carry what the
saved ones lack (retries, a child workflow, local-activity retries, a reset), each expected
count taken from Temporal Cloud's published rules (``benchmarks/billing.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory

from benchmarks.billing import action_counts, billable_actions

HISTORIES = Path(__file__).parent.parent / "histories"


def _history(name: str) -> WorkflowHistory:
    path = HISTORIES / f"{name}.json"
    return WorkflowHistory.from_json(path.stem, path.read_text())


def _events(name: str) -> list[HistoryEvent]:
    return list(_history(name).events)


def test_a_reviewed_task_counts_what_the_rules_bill() -> None:
    # A refund edited past the task's limit: six activities, one review timer, one signal and
    # one update from the reviewer, one local-activity marker (the run record), six upserts of
    # Handrail's own attributes, and seven `workflow.patched` pairs (a `core_patch` marker and a
    # `TemporalChangeVersion` upsert) that the rules exempt.
    counts = action_counts(_history("edit_past_task_limit_ignored"))
    assert dict(counts) == {
        "workflow_started": 1,
        "activity_scheduled": 6,
        "search_attribute_upsert": 6,
        "local_activity_markers": 1,
        "timer_started": 1,
        "signal": 1,
        "update_accepted": 1,
    }
    assert billable_actions(_history("edit_past_task_limit_ignored")) == 17


def test_local_activity_markers_of_one_workflow_task_are_one_action() -> None:
    events = _events("edit_past_task_limit_ignored")
    marker = next(
        e
        for e in events
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        and e.marker_recorded_event_attributes.marker_name == "core_local_activity"
    )
    same_task, next_task = HistoryEvent(), HistoryEvent()
    same_task.CopyFrom(marker)
    next_task.CopyFrom(marker)
    next_task.marker_recorded_event_attributes.workflow_task_completed_event_id += 100
    before = action_counts(events)["local_activity_markers"]
    assert action_counts([*events, same_task])["local_activity_markers"] == before
    assert action_counts([*events, same_task, next_task])["local_activity_markers"] == before + 1


def test_retries_children_and_resets_add_what_the_rules_say() -> None:
    events = _events("committed_with_email")
    base = billable_actions(events)
    started = next(e for e in events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED)
    started.activity_task_started_event_attributes.attempt = 3  # the first try and two retries
    task_done = next(
        e for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    )
    task_done.workflow_task_completed_event_attributes.metering_metadata.nonfirst_local_activity_execution_attempts = 4  # noqa: E501
    child = HistoryEvent(event_type=EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED)
    reset = HistoryEvent(event_type=EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED)
    reset.workflow_task_failed_event_attributes.cause = (
        WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW
    )
    other_failure = HistoryEvent(event_type=EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED)
    counts = action_counts([*events, child, reset, other_failure])
    assert counts["activity_retry"] == 2
    assert counts["local_activity_retry"] == 4
    assert counts["child_workflow_started"] == 2
    assert counts["workflow_reset"] == 1
    assert sum(counts.values()) == base + 2 + 4 + 2 + 1


@pytest.mark.parametrize(
    ("names", "billed"),
    [(["TemporalChangeVersion"], 0), (["TemporalChangeVersion", "HandrailStatus"], 1)],
)
def test_only_a_versioning_upsert_is_free(names: list[str], billed: int) -> None:
    upsert = HistoryEvent(event_type=EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES)
    fields = upsert.upsert_workflow_search_attributes_event_attributes.search_attributes
    for name in names:
        fields.indexed_fields[name].data = b'"x"'
    assert billable_actions([upsert]) == billed
