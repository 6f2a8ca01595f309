"""What a load run left behind, counted from the sources, not from Handrail's own counters.

- **lost**: a task that did not end (still running, terminated, timed out), or a committed task
  whose journaled, uncompensated effect is missing from the store;
- **doubled**: more store rows for a task's tool than effects the journal applied for it;
- **left uncompensated**: a task that did not commit but left a credit in the store;
- **unreviewed risky actions**: an effect the journal applied above the policy of record's
  review threshold with no reviewer's approval of that step in the task's history, or above its
  deny threshold at all;
- **leaked secrets**: the model key in any history, any SQLite file of the run (the state
  database with its ledger, the store) or worker log record (``handrail.testing.secrets``).

The policy of record is the bundled profile as shipped (``handrail/profiles``), read here on its
own: a run whose profile was loosened on purpose still counts against the shipped thresholds.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHistory

from examples.store.database import discounts, outbox, refunds, store_database
from handrail.profiles.catalog import ProfileFile
from handrail.storage.engine import StateDatabase
from handrail.storage.schema import effect_journal
from handrail.testing.secrets import Leak, find_secrets, scan_files

CREDIT_TABLES = {"issue_refund": refunds, "apply_discount": discounts}
EFFECT_TABLES = {**CREDIT_TABLES, "send_email": outbox}
APPROVALS = {"approve", "edit"}


@dataclass
class Audit:
    tasks: int = 0
    lost: list[str] = field(default_factory=list)
    doubled: list[str] = field(default_factory=list)
    uncompensated: list[str] = field(default_factory=list)
    unreviewed: list[str] = field(default_factory=list)
    leaks: list[str] = field(default_factory=list)
    endings: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    """Why the failed tasks failed (a failure is an ending, not a loss: it rolled back)."""

    def line(self) -> str:
        return (
            f"{self.tasks} tasks, {len(self.lost)} lost, {len(self.doubled)} doubled, "
            f"{len(self.unreviewed)} unreviewed risky actions, {len(self.leaks)} leaked secrets"
        )

    @property
    def clean(self) -> bool:
        return not (
            self.lost or self.doubled or self.uncompensated or self.unreviewed or self.leaks
        )


@dataclass(frozen=True)
class JournalRow:
    key: str
    tool: str
    task_id: str
    amount: Decimal | None
    applied: bool
    compensated: bool

    @property
    def step(self) -> int:
        """The step the key names, 1-based as reviewers see it (keys end in the 0-based step)."""
        return int(self.key.rsplit("/", 1)[1]) + 1


def _journal(state_url: str) -> list[JournalRow]:
    state = StateDatabase(state_url)
    rows: list[JournalRow] = []
    with state.sync_engine.connect() as db:
        for key, tool, task_id, result, applied_at, compensated_at in db.execute(
            select(
                effect_journal.c.idempotency_key,
                effect_journal.c.tool,
                effect_journal.c.task_id,
                effect_journal.c.result,
                effect_journal.c.applied_at,
                effect_journal.c.compensated_at,
            )
        ):
            amount = None
            if result:
                value = (json.loads(result).get("result") or {}).get("amount")
                amount = Decimal(str(value)) if value is not None else None
            rows.append(
                JournalRow(key, tool, task_id, amount, applied_at is not None, bool(compensated_at))
            )
    return rows


def _store_rows(store_url: Path | str) -> dict[str, list[tuple[str, str]]]:
    """Per tool, the (task id, idempotency key) of every row its table holds."""
    database = store_database(store_url)
    with database.sync_engine.connect() as db:
        return {
            tool: [
                (task, key) for task, key in db.execute(select(t.c.task_id, t.c.idempotency_key))
            ]
            for tool, t in EFFECT_TABLES.items()
        }


def _approved_steps(history: WorkflowHistory) -> set[int]:
    """The steps a reviewer approved (or edited), from the accepted updates and the signals
    the history holds."""
    approved: set[int] = set()
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            payloads = event.workflow_execution_update_accepted_event_attributes
            inputs = payloads.accepted_request.input.args.payloads
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            inputs = event.workflow_execution_signaled_event_attributes.input.payloads
        else:
            continue
        for payload in inputs:
            try:
                decision = json.loads(payload.data)
            except ValueError:
                continue
            if isinstance(decision, dict) and decision.get("verdict") in APPROVALS:
                approved.add(int(decision.get("step", 0)))
    return approved


def _scan_folder(folder: Path, secrets: Mapping[str, str]) -> tuple[int, list[Leak]]:
    return scan_files(sorted(folder.rglob("*")), secrets)  # folders are skipped


async def audit(
    client: Client,
    task_ids: Sequence[str],
    *,
    state_url: str,
    store_url: Path | str,
    policy: ProfileFile,
    secrets: Mapping[str, str],
    data_dir: Path,
    log_leaks: Iterable[Leak],
) -> Audit:
    """Count what the run of ``task_ids`` left in Temporal, the journal, the store, the ledger
    and the logs. ``data_dir`` holds the run's SQLite files (the state database with the
    ledger); ``log_leaks`` are what a ``SecretLogHandler`` saw while the run went on."""
    result = Audit(tasks=len(task_ids))
    journal = [row for row in _journal(state_url) if row.task_id in set(task_ids)]
    store = _store_rows(store_url)
    histories: list[WorkflowHistory] = []
    committed: set[str] = set()
    approvals: dict[str, set[int]] = {}
    for task in task_ids:
        handle = client.get_workflow_handle(task)
        described = await handle.describe()
        history = await handle.fetch_history()
        histories.append(history)
        approvals[task] = _approved_steps(history)
        last = history.events[-1]
        if described.status == WorkflowExecutionStatus.FAILED:
            result.endings["failed"] += 1
            message = last.workflow_execution_failed_event_attributes.failure.message
            result.failures[message[:160]] += 1
            continue
        if described.status != WorkflowExecutionStatus.COMPLETED:
            state = described.status.name if described.status else "unknown"
            result.lost.append(f"{task}: {state}")
            result.endings["did not end"] += 1
            continue
        ending = json.loads(
            last.workflow_execution_completed_event_attributes.result.payloads[0].data
        )
        result.endings[ending["status"]] += 1
        if ending["status"] == "answered":
            committed.add(task)

    for tool, rows in store.items():
        kept = Counter(task for task, _ in rows)
        journaled = Counter(r.task_id for r in journal if r.tool == tool and r.applied)
        for task in set(task_ids):
            extra = kept[task] - journaled[task]
            if extra > 0:
                result.doubled.append(
                    f"{task}: {extra} more {tool} row(s) than the journal applied"
                )
            if tool in CREDIT_TABLES and task not in committed and kept[task]:
                result.uncompensated.append(f"{task}: {kept[task]} {tool} row(s) after no commit")
        keys = {key for _, key in rows}
        for row in journal:
            if (
                row.tool == tool
                and row.task_id in committed
                and row.applied
                and not row.compensated
                and row.key not in keys
            ):
                result.lost.append(
                    f"{row.task_id}: {tool} {row.key} journaled but not in the store"
                )

    for row in journal:
        rule = policy.rules.get(row.tool)
        if not row.applied or rule is None or row.amount is None:
            continue
        if rule.deny_above is not None and row.amount > Decimal(str(rule.deny_above)):
            result.unreviewed.append(f"{row.key}: {row.tool} {row.amount} above deny_above")
        elif (
            rule.review_above is not None
            and row.amount > Decimal(str(rule.review_above))
            and row.step not in approvals.get(row.task_id, set())
        ):
            result.unreviewed.append(f"{row.key}: {row.tool} {row.amount} ran unreviewed")

    _, in_files = await asyncio.to_thread(_scan_folder, data_dir, secrets)
    leaks = [*find_secrets(histories, secrets), *in_files, *log_leaks]
    result.leaks = [str(leak) for leak in leaks]
    return result
