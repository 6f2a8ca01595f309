"""Engine faults (docs/reliability.md, "Engine faults"): the Temporal server or a worker dies with
SIGKILL, and every task still ends once, with its effects in the store once.

- The dev server is killed while tasks wait for a reviewer and while tasks are mid-step (their
  model calls in flight), then restarted on the same SQLite file: a server of this test's own,
  not the session's, on free loopback ports, stopped at the end whatever happens.
- A worker subprocess (``tests.crash_worker``) is killed while its task waits for a reviewer,
  and while it undoes a rejected task (a kill point in the compensation). The crash matrix
  (``tests/crash_matrix.py``, slow) kills workers at every phase of actions and of an escalated
  task's compensations; these add the review pause and a rollback a reviewer asked for, in the
  default test command.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import threading
import uuid
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from examples.store.database import create_store, snapshot, store_effects
from examples.store.settings import store_db_path
from examples.store.worker import running_worker, store_settings
from handrail.client.core import HandrailClient
from handrail.runtime.devserver import DevServer
from handrail.settings import HandrailSettings
from handrail.testing.scripted_model import Reply, Scenario, ScriptedModelServer
from tests.review_helpers import PROFILE, answer, discount, refund, wait_for_pending
from tests.worker_process import worker_env, worker_process

ROOT = Path(__file__).resolve().parents[2]
PAUSED = 3  # tasks waiting for a reviewer when the server dies
RUNNING = 3  # tasks whose next model call is in flight when the server dies


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _settings(address: str, model_server: ScriptedModelServer, data: Path) -> HandrailSettings:
    return store_settings(
        HandrailSettings(
            _env_file=None,
            temporal_address=address,
            task_queue=f"engine-{uuid.uuid4().hex[:8]}",
            data_dir=data,
            openai_base_url=model_server.base_url,
            openai_api_key=SecretStr("engine-faults"),
            embedded_server=False,
        )
    )


class Held:
    """A reply that waits until ``release`` (a slow model): counts the calls that are waiting."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.release = threading.Event()
        self.waiting = threading.Semaphore(0)

    def __call__(self, request: dict[str, Any]) -> Reply:
        self.waiting.release()
        self.release.wait(timeout=120)
        return self.reply


async def _kill_and_restart(server: DevServer) -> None:
    """SIGKILL the server (no shutdown of any kind), then start it again on its database."""
    pid = server.pid
    assert pid is not None
    os.killpg(pid, signal.SIGKILL)  # its own session: the group is the server alone
    await server.stop()  # reaps the dead process; nothing left to signal
    await server.start()
    assert server.pid not in (None, pid)  # a new server process, on the same database file


async def test_a_killed_temporal_server_restarted_on_its_database_loses_and_doubles_nothing(
    model_server: ScriptedModelServer, tmp_path: Path
) -> None:
    server = DevServer(db_file=tmp_path / "temporal.db", port=_free_port(), ui_port=None)
    marker = f"engine-{uuid.uuid4().hex[:8]}"
    held = Held(answer("Discounted 5.00 EUR"))
    # 60.00 each: above the review threshold (50), and three of them stay under the bundled
    # profile's shared limit per order (200 a day), so every paused task's refund can commit.
    model_server.route(f"{marker} review", Scenario([refund(1003, "60.00"), answer("Refunded")]))
    model_server.route(f"{marker} running", Scenario([discount(1002, "5.00"), held]))
    try:
        await server.start()
        client = await Client.connect(server.address, data_converter=pydantic_data_converter)
        settings = _settings(server.address, model_server, tmp_path / "data")
        create_store(store_db_path(settings))
        handrail = HandrailClient(client, settings)
        async with running_worker(client, settings):
            paused = [
                await handrail.start_task({"goal": f"{marker} review task {n}", "profile": PROFILE})
                for n in range(PAUSED)
            ]
            running = [
                await handrail.start_task(
                    {"goal": f"{marker} running task {n}", "profile": PROFILE}
                )
                for n in range(RUNNING)
            ]
            for handle in paused:
                await wait_for_pending(handrail, handle.id)
            for _ in running:  # each has its discount done and its next model call waiting
                assert await asyncio.to_thread(held.waiting.acquire, timeout=30)

            await _kill_and_restart(server)

            held.release.set()
            for handle in paused:
                await handrail.review(
                    handle.id, {"reviewer": "alice", "step": 1, "verdict": "approve"}
                )
            results = await asyncio.wait_for(
                asyncio.gather(*(handrail.get_result(h.id) for h in [*paused, *running])),
                timeout=60,
            )
            runs = {
                h.id: [w async for w in client.list_workflows(f"WorkflowId = '{h.id}'")]
                for h in [*paused, *running]
            }
    finally:
        held.release.set()
        model_server.unroute(f"{marker} review")
        model_server.unroute(f"{marker} running")
        await server.stop()

    assert [r.status for r in results] == ["answered"] * (PAUSED + RUNNING), results
    assert all(len(found) == 1 for found in runs.values()), runs  # each task ran once
    for result in results[:PAUSED]:
        assert store_effects(store_db_path(settings), [result.task_id]) == {
            "discounts": [],
            "refunds": ["order 1003: 60.00 USD"],
            "outbox": [],
        }
        review = result.steps[0].review
        assert review is not None
        assert review.reviewer == "alice"
    for result in results[PAUSED:]:
        assert store_effects(store_db_path(settings), [result.task_id]) == {
            "discounts": ["order 1002: 5.00 EUR"],
            "refunds": [],
            "outbox": [],
        }
    with sqlite3.connect(settings.state_db_path) as state:  # Handrail's journal: once each
        journal = state.execute("SELECT COUNT(*), COUNT(DISTINCT task_id) FROM effect_journal")
        assert journal.fetchone() == (PAUSED + RUNNING, PAUSED + RUNNING)


# --- A worker killed ------------------------------------------------------------------------------


def _doomed_worker(settings: HandrailSettings, *kill: str) -> AbstractAsyncContextManager[Any]:
    """``tests.crash_worker`` in a subprocess (with a kill point, if given); killed at the end if
    it is still alive, whatever happens."""
    return worker_process(worker_env(settings, "engine-faults"), *kill)


async def test_a_worker_killed_while_its_task_waits_for_review(
    client: Client, settings: HandrailSettings, model_server: ScriptedModelServer
) -> None:
    create_store(store_db_path(settings))
    model_server.brain = Scenario([refund(1003, "80.00"), answer("Refunded")])
    handrail = HandrailClient(client, settings)
    async with _doomed_worker(settings) as doomed:
        handle = await handrail.start_task({"goal": "Refund order 1003", "profile": PROFILE})
        pending = await wait_for_pending(handrail, handle.id)
        doomed.send_signal(signal.SIGKILL)
        assert await doomed.wait() == -signal.SIGKILL

    async with running_worker(client, settings):  # a fresh worker; the reviewer approves
        await handrail.review(
            handle.id, {"reviewer": "alice", "step": pending.step, "verdict": "approve"}
        )
        result = await asyncio.wait_for(handrail.get_result(handle.id), timeout=60)

    assert result.status == "answered", result
    assert store_effects(store_db_path(settings), [handle.id])["refunds"] == [
        "order 1003: 80.00 USD"
    ]
    review = result.steps[0].review
    assert review is not None
    assert review.reviewer == "alice"


async def test_a_worker_killed_mid_rollback_of_a_rejected_task(
    client: Client, settings: HandrailSettings, model_server: ScriptedModelServer
) -> None:
    # A refund runs on its own (10.00 is under review_above), then a discount waits for a
    # reviewer, who rejects it: the task rolls back, and the worker dies in void_refund, after
    # the refund's row is gone and the journal says so, before Temporal hears of it.
    create_store(store_db_path(settings))
    before = snapshot(store_db_path(settings))
    model_server.brain = Scenario([refund(1001, "10.00"), discount(1003, "30.00"), answer()])
    handrail = HandrailClient(client, settings)
    async with _doomed_worker(settings, "after_commit", "void_refund", "0") as doomed:
        handle = await handrail.start_task({"goal": "Make it right", "profile": PROFILE})
        pending = await wait_for_pending(handrail, handle.id)
        assert pending.tool == "apply_discount"
        assert len(snapshot(store_db_path(settings))["refunds"]) == 1
        # The review update returns once the verdict is recorded; the rollback runs after it.
        await handrail.review(
            handle.id, {"reviewer": "alice", "step": pending.step, "verdict": "reject"}
        )
        assert await asyncio.wait_for(doomed.wait(), timeout=30) == -signal.SIGKILL
    assert snapshot(store_db_path(settings))["refunds"] == []  # undone before the kill

    async with running_worker(client, settings):  # retried after its start-to-close (10 s)
        result = await asyncio.wait_for(handrail.get_result(handle.id), timeout=60)

    assert result.status == "rejected", result
    assert [(c.tool, c.status) for c in result.compensations] == [
        ("issue_refund", "already_undone")
    ]
    assert snapshot(store_db_path(settings)) == before
    with sqlite3.connect(settings.state_db_path) as state:
        rows = state.execute("SELECT tool, compensated_at IS NOT NULL FROM effect_journal")
        assert rows.fetchall() == [("issue_refund", 1)]
