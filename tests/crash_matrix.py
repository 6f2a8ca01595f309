"""The crash matrix: ``python -m tests.crash_matrix`` (slow; run on purpose).

For each run, a worker in a subprocess is killed with SIGKILL at one phase — before an action
commits, after it commits but before its completion is reported, or during a compensation — and
a fresh worker must finish the task. Then the store's database is read, per task:

- lost: a committed task is missing an effect it made;
- doubled: an effect appears more than once;
- left uncompensated: a rolled-back task left an effect behind.

Prints ``N runs, 0 lost, 0 doubled, 0 left uncompensated`` and exits non-zero otherwise.
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from examples.store.database import create_store
from examples.store.worker import store_settings
from handrail import search_attributes
from handrail.cli.process_exit import exit_now
from handrail.client.core import HandrailClient
from handrail.errors import TaskFailedError
from handrail.runtime.devserver import find_temporal_binary
from handrail.settings import HandrailSettings
from handrail.testing.scripted_model import Reply, Scenario, ScriptedModelServer, ToolCallReply
from tests.worker_process import start_worker, stop_worker, worker_env

WHY = {"rationale": "crash matrix", "confidence": 0.9}
_RUN_TIMEOUT = 180.0  # seconds: a dead worker's activity is retried after its start-to-close

ACTIONS: list[Reply] = [
    ToolCallReply("apply_discount", {"order_id": 1001, "amount": "5.00", "reason": "r", **WHY}),
    ToolCallReply("issue_refund", {"order_id": 1001, "amount": "10.00", "reason": "r", **WHY}),
    ToolCallReply("apply_discount", {"order_id": 1002, "amount": "3.00", "reason": "r", **WHY}),
]
EMAIL = ToolCallReply("send_email", {"order_id": 1001, "subject": "s", "body": "b", **WHY})
COMMIT: list[Reply] = [*ACTIONS, EMAIL, ToolCallReply("final_answer", {"answer": "ok", **WHY})]
ROLLBACK: list[Reply] = [*ACTIONS, ToolCallReply("escalate", {"reason": "stop", **WHY})]
EXPECTED_COMMITTED = {"discounts": 2, "refunds": 1, "outbox": 1}
COMPENSATIONS = {0: "revoke_discount", 1: "void_refund", 2: "revoke_discount"}


@dataclass(frozen=True)
class Case:
    scenario: str  # "commit" | "rollback"
    point: str
    name: str
    step: int

    @property
    def label(self) -> str:
        return f"{self.scenario}: kill {self.point} of {self.name} at step {self.step}"


def cases() -> list[Case]:
    found = []
    for scenario in ("commit", "rollback"):
        for step, reply in enumerate(ACTIONS):
            assert isinstance(reply, ToolCallReply)
            for point in ("before_commit", "after_commit"):
                found.append(Case(scenario, point, reply.name, step))
    for point in ("before_commit", "after_commit"):
        found.append(Case("commit", point, "send_email", 3))
        for step, compensation in COMPENSATIONS.items():
            found.append(Case("rollback", point, compensation, step))
    return found


@dataclass
class Outcome:
    case: Case
    status: str
    killed: bool
    rows: dict[str, int]
    problems: list[str]


def _rows(store: Path, task_id: str) -> dict[str, int]:
    with sqlite3.connect(store) as db:
        return {
            table: db.execute(
                f"SELECT COUNT(*) FROM {table} WHERE task_id = ?", (task_id,)
            ).fetchone()[0]
            for table in ("discounts", "refunds", "outbox")
        }


async def run_case(
    case: Case, client: Client, address: str, model: ScriptedModelServer, scratch: Path
) -> Outcome:
    data = scratch / uuid.uuid4().hex[:8]
    create_store(data / "store.db")
    marker = f"crash-run-{uuid.uuid4().hex[:8]}"
    model.route(marker, Scenario(COMMIT if case.scenario == "commit" else ROLLBACK))
    settings = store_settings(
        HandrailSettings(
            _env_file=None,
            temporal_address=address,
            task_queue=marker,
            data_dir=data,
            openai_base_url=model.base_url,
        )
    )
    env = worker_env(settings, "crash-matrix")
    handrail = HandrailClient(client, settings)
    doomed = await start_worker(env, case.point, case.name, str(case.step))
    handle = await handrail.start_task(
        {"goal": f"{marker} resolve the order", "profile": "store_actions"}
    )
    try:
        code = await asyncio.wait_for(doomed.wait(), timeout=60)
    except TimeoutError:
        code = None
        await stop_worker(doomed)
    fresh = await start_worker(env)
    try:
        result = await asyncio.wait_for(handrail.get_result(handle.id), timeout=_RUN_TIMEOUT)
        status: str = result.status
    except TaskFailedError as error:
        status = f"failed: {error}"
    finally:
        await stop_worker(fresh)
        model.unroute(marker)
    rows = _rows(data / "store.db", handle.id)
    expected_status = "answered" if case.scenario == "commit" else "escalated"
    problems = [
        f"{table}: {count} row(s), expected {_expected(case, table)}"
        for table, count in rows.items()
        if count != _expected(case, table)
    ]
    if code != -9:
        problems.append(f"the worker was not killed (exit {code})")
    if status != expected_status:
        problems.append(f"ended {status}, expected {expected_status}")
    return Outcome(case, status, code == -9, rows, problems)


def _expected(case: Case, table: str) -> int:
    return EXPECTED_COMMITTED[table] if case.scenario == "commit" else 0


def summarize(outcomes: list[Outcome]) -> tuple[str, bool]:
    lost = doubled = uncompensated = 0
    for outcome in outcomes:
        for table, count in outcome.rows.items():
            expected = _expected(outcome.case, table)
            if outcome.case.scenario == "commit":
                lost += max(0, expected - count)
                doubled += max(0, count - expected)
            else:
                uncompensated += count
    line = (
        f"{len(outcomes)} runs, {lost} lost, {doubled} doubled, {uncompensated} left uncompensated"
    )
    clean = lost == doubled == uncompensated == 0 and not any(o.problems for o in outcomes)
    return line, clean


def short_cases() -> list[Case]:
    """One case per phase (before and after commit, of an action and of a compensation): the
    short matrix the default test run includes."""
    chosen: dict[tuple[str, bool], Case] = {}
    for case in cases():
        chosen.setdefault((case.point, case.name in COMPENSATIONS.values()), case)
    return list(chosen.values())


async def run_matrix(
    client: Client, model: ScriptedModelServer, chosen: list[Case], concurrency: int = 5
) -> tuple[str, bool]:
    """Run ``chosen`` cases on ``client``'s server; the summary line and whether it is clean."""
    address = client.service_client.config.target_host
    gate = asyncio.Semaphore(concurrency)
    with tempfile.TemporaryDirectory() as scratch:

        async def bounded(case: Case) -> Outcome:
            async with gate:
                outcome = await run_case(case, client, address, model, Path(scratch))
                mark = "ok " if not outcome.problems else "BAD"
                print(f"{mark} {case.label}: {outcome.status} {outcome.rows} {outcome.problems}")
                return outcome

        outcomes = await asyncio.gather(*(bounded(case) for case in chosen))
    return summarize(list(outcomes))


async def main(concurrency: int = 5) -> int:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(find_temporal_binary()),
        data_converter=pydantic_data_converter,
        search_attributes=search_attributes.ALL,
    )
    try:
        with ScriptedModelServer() as model:
            line, clean = await run_matrix(env.client, model, cases(), concurrency)
    finally:
        await env.shutdown()
    print(line)
    return 0 if clean else 1


if __name__ == "__main__":
    exit_now(asyncio.run(main()))
