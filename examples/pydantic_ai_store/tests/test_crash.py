"""A worker SIGKILLed in the middle of the pydantic-ai agent's actions: a fresh worker finishes
the task and each effect is in the store exactly once (committed), or not at all (rolled back).
A short matrix over the phases ``tests/crash_matrix.py`` runs for Handrail's own agent: before an
action commits, after it commits but before its completion is reported, during an undo."""

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

from examples.pydantic_ai_store.tests.helpers import (
    discount,
    refund,
    start,
    wait_for_pending,
)
from examples.store.settings import store_db_path
from examples.store.tests.helpers import TEST_API_KEY
from handrail.client.core import HandrailClient
from handrail.settings import HandrailSettings
from handrail.testing.scripted_model import Scenario, ScriptedModelServer, TextReply

ROOT = Path(__file__).resolve().parents[3]
WORKER = "examples.pydantic_ai_store.tests.crash_worker"
READY_TIMEOUT = 60.0  # seconds: a cold start imports Temporal, pydantic-ai, SQLAlchemy, OpenAI
RUN_TIMEOUT = 90.0  # seconds: a dead worker's activity is retried after its start-to-close


def _env(settings: HandrailSettings) -> dict[str, str]:
    """A worker host's environment for ``settings`` (none of the developer's own settings)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HANDRAIL_", "OPENAI_"))}
    env.update(
        HANDRAIL_TEMPORAL_ADDRESS=settings.temporal_address,
        HANDRAIL_TASK_QUEUE=settings.task_queue,
        HANDRAIL_DATA_DIR=str(settings.data_dir),
        HANDRAIL_EMBEDDED_SERVER="false",
        OPENAI_BASE_URL=settings.openai_base_url or "",
        OPENAI_API_KEY=TEST_API_KEY,
    )
    return env


@asynccontextmanager
async def _worker(
    settings: HandrailSettings, *kill_at: str
) -> AsyncIterator[asyncio.subprocess.Process]:
    """A worker process, started and polling, for the block (killed at its end if alive)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        WORKER,
        *kill_at,
        cwd=ROOT,
        env=_env(settings),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert process.stdout is not None
    try:
        await asyncio.wait_for(process.stdout.readline(), timeout=READY_TIMEOUT)
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def _rows(settings: HandrailSettings, task_id: str) -> dict[str, int]:
    with sqlite3.connect(store_db_path(settings)) as db:
        return {
            table: db.execute(
                f"SELECT COUNT(*) FROM {table} WHERE task_id = ?", (task_id,)
            ).fetchone()[0]
            for table in ("discounts", "refunds")
        }


CASES = [
    # (the answer's review verdict, kill point, tool or compensation, its step from 0)
    ("approve", "before_commit", "issue_refund", 1),
    ("approve", "after_commit", "issue_refund", 1),
    ("approve", "after_commit", "apply_discount", 0),
    ("reject", "after_commit", "revoke_discount", 0),
]


@pytest.mark.parametrize(("verdict", "point", "name", "step"), CASES)
async def test_a_killed_worker_leaves_each_effect_exactly_once(
    client: Client,
    settings: HandrailSettings,
    handrail: HandrailClient,
    model_server: ScriptedModelServer,
    verdict: str,
    point: str,
    name: str,
    step: int,
) -> None:
    model_server.brain = Scenario([discount(1001, "5.00"), refund(1001, "10.00"), TextReply("ok")])
    async with _worker(settings, point, name, str(step)) as doomed:
        handle = await start(client, settings)
        if verdict == "reject":  # the undo dies: the answer must be reviewed first
            pending = await wait_for_pending(handrail, handle.id, timeout=RUN_TIMEOUT)
            await handrail.review(
                handle.id, {"reviewer": "alice", "step": pending.step, "verdict": "reject"}
            )
        assert await asyncio.wait_for(doomed.wait(), timeout=RUN_TIMEOUT) == -9
    async with _worker(settings):
        if verdict == "approve":
            pending = await wait_for_pending(handrail, handle.id, timeout=RUN_TIMEOUT)
            assert pending.tool == "final_answer"
            await handrail.review(
                handle.id, {"reviewer": "alice", "step": pending.step, "verdict": "approve"}
            )
        result = await asyncio.wait_for(handle.result(), timeout=RUN_TIMEOUT)
    if verdict == "approve":
        assert result.status == "answered", result
        assert _rows(settings, handle.id) == {"discounts": 1, "refunds": 1}
    else:
        assert result.status == "rejected", result
        # The undo committed before the kill: its retry finds nothing left to undo.
        assert [(c.tool, c.status) for c in result.compensations] == [
            ("issue_refund", "undone"),
            ("apply_discount", "already_undone"),
        ]
        assert _rows(settings, handle.id) == {"discounts": 0, "refunds": 0}
