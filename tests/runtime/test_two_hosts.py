"""Two worker hosts, one PostgreSQL, one of them killed mid-run (issue 12).

Two worker processes with different data folders poll one task queue; Handrail's state and the
store example's own tables are on one PostgreSQL, so every effect is counted in one place. 50
multi-step tasks run (40 commit a refund and an email, 10 refund and then escalate, so their
refund is undone); one worker is killed with SIGKILL while tasks are in flight. Then, from the
databases and Temporal, not from Handrail's own counters: every task ended once as expected, every
model request carried the whole conversation, every effect happened once and every undo undid,
and ``stats`` on each host counts all 50.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import create_engine, text
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from examples.store.database import create_store
from examples.store.worker import store_settings
from handrail.client.core import HandrailClient
from handrail.settings import HandrailSettings
from handrail.testing.scripted_model import (
    Reply,
    Scenario,
    ScriptedModelServer,
    ToolCallReply,
    messages_of,
)
from tests.review_helpers import WHY, answer, email, refund
from tests.worker_process import start_worker, stop_worker, worker_env

ROOT = Path(__file__).resolve().parents[2]
TASKS = 50
ROLLED_BACK = 10  # the last ten escalate after their refund


def _commit() -> list[Reply]:
    return [
        ToolCallReply("get_order", {"order_id": 1001, **WHY}),
        refund(1001, "1.00"),
        email(1001),
        answer("Refunded 1.00 EUR and told the customer"),
    ]


def _roll_back() -> list[Reply]:
    return [
        ToolCallReply("get_order", {"order_id": 1002, **WHY}),
        refund(1002, "1.00"),
        ToolCallReply("escalate", {"reason": "a manager must decide", **WHY}),
    ]


class WholeConversations:
    """A brain that answers from ``scenario`` and notes every request that does not carry its
    task's whole conversation: the system prompt, the goal, then each reply with its answer."""

    def __init__(self, scenario: Scenario, busy: threading.Semaphore) -> None:
        self.scenario = scenario
        self.busy = busy
        self.broken: list[str] = []

    def __call__(self, request: dict[str, Any]) -> Reply:
        self.busy.release()
        messages = messages_of(request)
        roles = [message.get("role") for message in messages]
        pairs = roles[2:]
        whole = (
            roles[:2] == ["system", "user"]
            and len(pairs) % 2 == 0
            and all(pairs[i : i + 2] == ["assistant", "tool"] for i in range(0, len(pairs), 2))
        )
        if not whole:
            self.broken.append(f"{messages[1:2]}: roles {roles}")
        return self.scenario(request)


async def _host(env: dict[str, str], data: Path) -> asyncio.subprocess.Process:
    return await start_worker({**env, "HANDRAIL_DATA_DIR": str(data)})


def _hosts_env(
    temporal_address: str, model_server: ScriptedModelServer, postgres_url: str
) -> dict[str, str]:
    settings = store_settings(
        HandrailSettings(
            _env_file=None,
            temporal_address=temporal_address,
            task_queue=f"two-hosts-{uuid.uuid4().hex[:8]}",
            openai_base_url=model_server.base_url,
        )
    )
    return worker_env(
        settings, "two-hosts", HANDRAIL_STATE_URL=postgres_url, HANDRAIL_STORE_URL=postgres_url
    )


async def _stats(env: dict[str, str], data: Path) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "starter.py",
        "stats",
        "--json",
        cwd=ROOT,
        env={**env, "HANDRAIL_DATA_DIR": str(data)},
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate()
    assert process.returncode == 0
    report: dict[str, Any] = json.loads(out)
    return report


async def test_two_hosts_one_killed_lose_and_double_nothing(
    client: Client,
    model_server: ScriptedModelServer,
    temporal_address: str,
    postgres_url: str,
    tmp_path: Path,
) -> None:
    hosts_env = _hosts_env(temporal_address, model_server, postgres_url)
    create_store(postgres_url)
    marker = f"two-hosts-{uuid.uuid4().hex[:8]}"
    model_requests = threading.Semaphore(0)  # released once per model request
    commit = WholeConversations(Scenario(_commit()), model_requests)
    roll_back = WholeConversations(Scenario(_roll_back()), model_requests)
    model_server.route(f"{marker} commit", commit)
    model_server.route(f"{marker} roll back", roll_back)
    settings = store_settings(
        HandrailSettings(
            _env_file=None,
            task_queue=hosts_env["HANDRAIL_TASK_QUEUE"],
            data_dir=tmp_path / "client",
            state_url=SecretStr(postgres_url),
        )
    )
    handrail = HandrailClient(client, settings)
    first, second = tmp_path / "host-a", tmp_path / "host-b"
    doomed = await _host(hosts_env, first)
    survivor = await _host(hosts_env, second)
    try:
        handles = [
            await handrail.start_task(
                {
                    "goal": f"{marker} {'roll back' if n >= TASKS - ROLLED_BACK else 'commit'} "
                    f"task {n}",
                    "profile": "store_actions",
                }
            )
            for n in range(TASKS)
        ]
        # Kill one host while tasks are in flight on it.
        for _ in range(TASKS):
            assert await asyncio.to_thread(model_requests.acquire, timeout=60)
        doomed.send_signal(signal.SIGKILL)
        assert await doomed.wait() == -signal.SIGKILL
        results = await asyncio.wait_for(
            asyncio.gather(*(handrail.get_result(h.id) for h in handles)), timeout=240
        )
    finally:
        model_server.unroute(f"{marker} commit")
        model_server.unroute(f"{marker} roll back")
        await stop_worker(doomed)
        await stop_worker(survivor)

    statuses = [r.status for r in results]
    assert statuses == ["answered"] * (TASKS - ROLLED_BACK) + ["escalated"] * ROLLED_BACK
    interrupted = 0  # steps the kill cut short: picked up again after a timeout
    for handle in handles:  # ended once: one run, no duplicate of the workflow
        runs = [w async for w in client.list_workflows(f"WorkflowId = '{handle.id}'")]
        assert len(runs) == 1, handle.id
        history = await client.get_workflow_handle(handle.id).fetch_history()
        for event in history.events:
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
                interrupted += 1
            started = event.activity_task_started_event_attributes
            if event.HasField("activity_task_started_event_attributes") and started.attempt > 1:
                interrupted += 1
    assert interrupted > 0  # the kill did land mid-run
    assert commit.broken == []
    assert roll_back.broken == []

    ids = [h.id for h in handles]
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as db:
            counts: dict[str, dict[str, int]] = {
                table: dict(
                    db.execute(
                        text(f"SELECT task_id, COUNT(*) FROM {table} GROUP BY task_id")
                    ).all()
                )
                for table in ("refunds", "outbox")
            }
            undone = db.execute(
                text(
                    "SELECT COUNT(*) FROM effect_journal WHERE compensated_at IS NOT NULL"
                    " AND task_id = ANY(:ids)"
                ),
                {"ids": ids[TASKS - ROLLED_BACK :]},
            ).scalar_one()
    finally:
        engine.dispose()
    for n, task in enumerate(ids):
        expected = 0 if n >= TASKS - ROLLED_BACK else 1
        assert counts["refunds"].get(task, 0) == expected, (task, counts)
        assert counts["outbox"].get(task, 0) == expected, (task, counts)
    assert undone == ROLLED_BACK

    for host in (first, second):  # each host's stats read the one shared ledger
        report = await _stats(hosts_env, host)
        assert report["tasks"] == TASKS, report
