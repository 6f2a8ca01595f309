"""The run ledger on both backends (a SQLite file, PostgreSQL): idempotent writes, outcome
categories, reads, and the ``record_run`` activity calling its observers once per stored run."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, NumberDataPoint
from sqlalchemy import Float, Integer, Text, text
from temporalio.testing import ActivityEnvironment

from handrail.activities.ledger import RunRecorder
from handrail.contracts import RunRecord
from handrail.settings import HandrailSettings
from handrail.storage.engine import StateDatabase
from handrail.storage.ledger import RunLedger, ledger_url
from handrail.storage.ledger_rows import as_utc_text
from handrail.storage.schema import run_steps, runs
from handrail.telemetry.metrics import TaskMetrics
from tests.ledger_factory import (
    T0,
    answer_step,
    email_args,
    escalate_step,
    invalid_step,
    refund_args,
    run,
    tool_step,
    undone,
)


@pytest.fixture
def ledger(state_url: str) -> RunLedger:
    return RunLedger(StateDatabase(state_url))


def _rows(ledger: RunLedger, sql: str) -> list[tuple[object, ...]]:
    with ledger.database.sync_engine.connect() as db:
        return [tuple(row) for row in db.execute(text(sql))]


def _every_category() -> RunRecord:
    """One task whose steps land in every outcome category but ``compensated``."""
    return run(
        "task-all",
        [
            tool_step(0, "get_order", {"order_id": 1003}, tool_ms=4.0),  # success
            tool_step(1, "issue_refund", refund_args("80.00"), gate="review", verdict="approve"),
            tool_step(2, "issue_refund", refund_args("900.00"), gate="deny", ok=None),  # denied
            invalid_step(3),  # failure
            tool_step(4, "get_order", {"order_id": 9}, ok=False),  # failure
            tool_step(5, "send_email", email_args(), deferred=True, ok=None),  # skipped
            answer_step(6),  # success
        ],
    )


async def test_a_retried_write_stores_once(ledger: RunLedger) -> None:
    record = _every_category()
    assert await ledger.write(record) is True
    assert await ledger.write(record) is False
    assert await ledger.write(record.model_copy(update={"status": "failed"})) is False
    assert _rows(ledger, "SELECT task_id, run_id, status, steps FROM runs") == [
        ("task-all", "run-1", "answered", 7)
    ]
    assert _rows(ledger, "SELECT COUNT(*) FROM run_steps") == [(7,)]
    # Another run of the same workflow id is another row.
    assert await ledger.write(record.model_copy(update={"run_id": "run-2"})) is True
    assert ledger.count() == 2


async def test_concurrent_writes_of_one_run_store_it_once(ledger: RunLedger) -> None:
    record = _every_category()
    stored = await asyncio.gather(*(ledger.write(record) for _ in range(8)))
    assert sorted(stored) == [False] * 7 + [True]
    assert _rows(ledger, "SELECT COUNT(*) FROM run_steps") == [(7,)]


async def test_each_step_gets_one_outcome_category(ledger: RunLedger) -> None:
    await ledger.write(_every_category())
    rolled_back = run(
        "task-rolled-back",
        [
            tool_step(0, "apply_discount", refund_args("5.00")),  # compensated
            tool_step(
                1, "issue_refund", refund_args("60.00"), gate="review", verdict="reject", ok=None
            ),
            escalate_step(2),
        ],
        status="rejected",
        compensations=[undone(0, "apply_discount", "revoke_discount")],
    )
    expired = run(
        "task-expired",
        [
            tool_step(
                0,
                "issue_refund",
                refund_args("80.00"),
                gate="review",
                ok=None,
                escalations=["support", "managers"],
            ),
        ],
        status="review_expired",
    )
    answered = run(
        "task-answered-by-reviewer",
        [
            tool_step(
                0, "issue_refund", refund_args("80.00"), gate="review", verdict="answer", ok=None
            )
        ],
    )
    for record in (rolled_back, expired, answered):
        assert await ledger.write(record)
    assert _rows(ledger, "SELECT task_id, step, action, outcome FROM run_steps ORDER BY 1, 2") == [
        ("task-all", 1, "get_order", "success"),
        ("task-all", 2, "issue_refund", "approved"),
        ("task-all", 3, "issue_refund", "denied"),
        ("task-all", 4, "invalid", "failure"),
        ("task-all", 5, "get_order", "failure"),
        ("task-all", 6, "send_email", "skipped"),
        ("task-all", 7, "final_answer", "success"),
        ("task-answered-by-reviewer", 1, "issue_refund", "skipped"),
        ("task-expired", 1, "issue_refund", "escalated"),
        ("task-rolled-back", 1, "apply_discount", "compensated"),
        ("task-rolled-back", 2, "issue_refund", "rejected"),
        ("task-rolled-back", 3, "escalate", "escalated"),
    ]
    assert _rows(
        ledger, "SELECT task_id, needed_review, escalated, reviews FROM runs ORDER BY 1"
    ) == [
        ("task-all", 1, 0, 1),
        ("task-answered-by-reviewer", 1, 0, 1),
        ("task-expired", 1, 1, 0),
        ("task-rolled-back", 1, 0, 1),
    ]


async def test_records_come_back_as_written_and_since_filters(ledger: RunLedger) -> None:
    old = _every_category()
    new = run("task-new", [answer_step(0)], finished_at=T0 + timedelta(days=2))
    assert ledger.write_many([new, old, old]) == 2
    assert [r.task_id for r in ledger.records()] == ["task-all", "task-new"]
    assert next(ledger.records()) == old
    since = T0 + timedelta(days=1)
    assert [r.task_id for r in ledger.records(since=since)] == ["task-new"]
    assert ledger.count(since=since) == 1
    assert ledger.aggregates(since=since).tasks == 1


def test_times_are_stored_in_utc_text_that_sorts() -> None:
    assert as_utc_text(T0) == "2025-03-01T09:00:00.000000Z"
    later = T0 + timedelta(microseconds=1)
    assert as_utc_text(T0) < as_utc_text(later)


def test_the_ledger_lives_in_the_state_database(tmp_path: Path) -> None:
    settings = HandrailSettings(_env_file=None, data_dir=tmp_path / "d")
    assert ledger_url(settings) == f"sqlite+aiosqlite:///{tmp_path / 'd' / 'handrail.db'}"
    assert RunLedger(ledger_url(settings)).path == tmp_path / "d" / "handrail.db"


def test_the_schema_uses_portable_types() -> None:
    """Text, integers and floats only: the same columns on SQLite and PostgreSQL."""
    for table in (runs, run_steps):
        for column in table.columns:
            assert type(column.type) in {Text, Integer, Float}, (table.name, column.name)


async def test_record_run_calls_observers_only_for_a_new_run(ledger: RunLedger) -> None:
    seen: list[str] = []

    def broken(_record: RunRecord) -> None:
        raise RuntimeError("metrics backend down")

    recorder = RunRecorder(ledger, observers=[lambda r: seen.append(r.task_id), broken])
    env = ActivityEnvironment()
    record = _every_category()
    first = await env.run(recorder.record_run, record)
    retried = await env.run(recorder.record_run, record)
    assert (first.stored, retried.stored) == (True, False)
    assert seen == ["task-all"]  # once, and a failing observer did not fail the activity


def _action_points(reader: InMemoryMetricReader) -> dict[tuple[str, str], int]:
    found: dict[tuple[str, str], int] = {}
    data = reader.get_metrics_data()
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name != "handrail.actions":
                    continue
                for point in metric.data.data_points:
                    assert isinstance(point, NumberDataPoint)
                    labels = point.attributes or {}
                    key = (str(labels["handrail.action"]), str(labels["handrail.outcome"]))
                    found[key] = int(point.value)
    return found


async def test_metrics_and_the_ledger_agree_on_compensated_steps(ledger: RunLedger) -> None:
    """One classifier: the ``handrail.actions`` counter and ``stats`` count the same outcome for
    every step (final answers aside, which the metric leaves to ``handrail.tasks``). They used
    to disagree: the metric missed an ``already_undone`` compensation, and counted an undone
    approved step as approved, success and compensated at once."""
    rolled_back = run(
        "task-rolled-back",
        [
            tool_step(0, "get_order", {"order_id": 1003}),
            tool_step(1, "apply_discount", refund_args("5.00")),
            tool_step(2, "issue_refund", refund_args("80.00"), gate="review", verdict="approve"),
            escalate_step(3),
        ],
        status="escalated",
        compensations=[
            undone(2, "issue_refund", "void_refund"),
            undone(1, "apply_discount", "revoke_discount", status="already_undone"),
        ],
    )
    reader = InMemoryMetricReader()
    TaskMetrics(MeterProvider(metric_readers=[reader])).observe(rolled_back)
    assert await ledger.write(rolled_back)

    stored = {(a, o): n for a, o, n in ledger.aggregates().outcomes if a != "final_answer"}
    assert _action_points(reader) == stored
    assert stored == {
        ("get_order", "success"): 1,
        ("apply_discount", "compensated"): 1,
        ("issue_refund", "compensated"): 1,
        ("escalate", "escalated"): 1,
    }
