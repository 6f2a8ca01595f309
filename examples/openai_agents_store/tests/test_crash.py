"""A worker SIGKILLed mid-action (a short crash matrix, as ``tests/crash_matrix.py`` runs for
Handrail's own loop): a fresh worker finishes the task and each effect is there exactly once, or,
when the task is rejected, not at all (the discount's undo killed mid-way too)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from temporalio.client import Client

from examples.openai_agents_store.tests.helpers import discount, refund, start, wait_for_pending
from examples.store.settings import store_db_path
from handrail import HandrailSettings
from handrail.client.core import HandrailClient
from handrail.testing.scripted_model import Scenario, ScriptedModelServer, TextReply

ROOT = Path(__file__).resolve().parents[3]
READY_TIMEOUT = 60.0  # seconds: a cold start imports Temporal, the SDK, SQLAlchemy
RUN_TIMEOUT = 120.0  # a dead worker's activity is retried after its start-to-close timeout
WORKER = "examples.openai_agents_store.tests.crash_worker"


@asynccontextmanager
async def worker_process(
    settings: HandrailSettings, *kill_at: str
) -> AsyncIterator[asyncio.subprocess.Process]:
    """The agent's worker in a process of its own (killed at the end if it still runs)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HANDRAIL_", "OPENAI_"))}
    env.update(
        HANDRAIL_TEMPORAL_ADDRESS=settings.temporal_address,
        HANDRAIL_TASK_QUEUE=settings.task_queue,
        HANDRAIL_DATA_DIR=str(settings.data_dir),
        HANDRAIL_EMBEDDED_SERVER="false",
        OPENAI_BASE_URL=settings.openai_base_url or "",
        OPENAI_API_KEY="sk-crash-test",
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", WORKER, *kill_at, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        await asyncio.wait_for(process.stdout.readline(), timeout=READY_TIMEOUT)
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def _effects(settings: HandrailSettings, task_id: str) -> dict[str, int]:
    with sqlite3.connect(store_db_path(settings)) as db:
        return {
            table: db.execute(
                f"SELECT COUNT(*) FROM {table} WHERE task_id = ?", (task_id,)
            ).fetchone()[0]
            for table in ("discounts", "refunds")
        }


async def _killed(process: asyncio.subprocess.Process) -> None:
    code = await asyncio.wait_for(process.wait(), timeout=60)
    assert code == -9, f"the worker was not killed (exit {code})"


@pytest.mark.parametrize(
    ("point", "tool", "step"),
    [("before_commit", "apply_discount", 0), ("after_commit", "issue_refund", 1)],
)
async def test_a_killed_worker_leaves_each_effect_exactly_once(
    client: Client,
    settings: HandrailSettings,
    handrail: HandrailClient,
    model_server: ScriptedModelServer,
    point: str,
    tool: str,
    step: int,
) -> None:
    script = Scenario([discount("5.00"), refund("10.00"), TextReply("Credited order 1001.")])
    with model_server.routed(script) as marker:
        async with worker_process(settings, point, tool, str(step)) as doomed:
            handle = await start(client, settings, f"{marker} Late and broken.")
            await _killed(doomed)
        async with worker_process(settings):
            # The answer follows actions that changed the world: a person approves it.
            pending = await wait_for_pending(handrail, handle.id, timeout=RUN_TIMEOUT)
            assert pending.tool == "final_answer"
            await handrail.review(
                handle.id, {"reviewer": "alice", "step": pending.step, "verdict": "approve"}
            )
            result = await asyncio.wait_for(handle.result(), timeout=RUN_TIMEOUT)
    assert result.status == "answered", result
    assert _effects(settings, handle.id) == {"discounts": 1, "refunds": 1}


@pytest.mark.parametrize("point", ["before_commit", "after_commit"])
async def test_a_worker_killed_while_undoing_still_rolls_back_once(
    client: Client,
    settings: HandrailSettings,
    handrail: HandrailClient,
    model_server: ScriptedModelServer,
    point: str,
) -> None:
    script = Scenario([discount("5.00"), refund("80.00"), TextReply("never reached")])
    with model_server.routed(script) as marker:
        async with worker_process(settings, point, "revoke_discount", "0") as doomed:
            handle = await start(client, settings, f"{marker} Late and broken.")
            pending = await wait_for_pending(handrail, handle.id, timeout=RUN_TIMEOUT)
            assert pending.tool == "issue_refund"
            await handrail.review(handle.id, {"reviewer": "alice", "step": 2, "verdict": "reject"})
            await _killed(doomed)
        async with worker_process(settings):
            result = await asyncio.wait_for(handle.result(), timeout=RUN_TIMEOUT)
    assert result.status == "rejected", result
    [undo] = result.compensations
    # The retried undo finds the discount gone (the killed attempt had deleted it) or the
    # tombstone written: either way undone once, never an error.
    assert undo.tool == "apply_discount"
    assert undo.status in ("undone", "nothing_to_undo", "already_undone"), undo
    assert _effects(settings, handle.id) == {"discounts": 0, "refunds": 0}
