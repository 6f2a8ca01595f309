"""The store's demo as a person runs it: ``python starter.py demo`` from the checkout, a real
subprocess on free ports, the dev server it starts and stops, the store's database read back."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import sqlite3
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import Worker

from examples.store.starter import demo_settings
from handrail.names import WORKFLOW_TYPE
from handrail.runtime.devserver import is_listening
from handrail.settings import HandrailSettings

ROOT = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _clean_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HANDRAIL_", "OPENAI_"))}
    env.update(overrides)
    return env


async def _starter(*args: str, env: dict[str, str], cwd: Path, timeout: float = 120) -> Run:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "starter.py"),
        *args,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=timeout)
    assert process.returncode is not None
    return Run(process.returncode, stdout.decode(), stderr.decode())


async def test_demo_answers_from_the_database_and_leaves_nothing_running(tmp_path: Path) -> None:
    port, ui_port = _free_port(), _free_port()
    env = _clean_env(HANDRAIL_TEMPORAL_ADDRESS=f"127.0.0.1:{port}", HANDRAIL_UI_PORT=str(ui_port))
    run = await _starter("demo", env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "using Handrail's scripted model" in out
    assert "(started here)" in out
    assert re.search(r"Task queue handrail-demo-[0-9a-f]{8} \(the demo's own\)", out)
    # Prices as the seeded database has them, each with its trace and UI link.
    with sqlite3.connect(tmp_path / "data" / "store.db") as db:
        prices = dict(db.execute("SELECT name, price_cents FROM products").fetchall())
    for name in ("Trail Runner Shoes", "Camping Stove", "Rain Jacket"):
        assert f"{prices[name] / 100:.2f}" in out
        assert f'lookup_price {{"product": "{name}"}}' in out
    assert "Order 1002 is processing" in out
    assert out.count(f"UI: http://127.0.0.1:{ui_port}/namespaces/default/workflows/task-") == 8
    assert out.count("answered · 2 step(s)") == 5  # four questions and the approved refund
    # One task commits a refund and, at the commit point, its email; one is rolled back.
    assert "→ at commit: send_email to the customer of order 1001: About your order 1001" in out
    assert "escalated · 3 step(s)" in out
    assert "↶ void_refund for step 2 (issue_refund) → undone" in out
    assert "↶ revoke_discount for step 1 (apply_discount) → undone" in out
    # Two refunds above the threshold pause, are listed, and are approved / rejected.
    assert "Paused for review" in out
    assert out.count("issue_refund of 80.00 is above 50") >= 2  # the table and the trace
    assert "review: approve by alice (support, via update" in out
    assert "review: reject by bob (support, via update" in out
    assert "rejected · 2 step(s)" in out
    assert "?query=AwaitingReview%20%3D%20true" in out
    assert "discounts: none" in out
    assert "refunds: ['order 1001: 10.00 EUR', 'order 1003: 80.00 USD']" in out
    assert not is_listening("127.0.0.1", port)
    assert not is_listening("127.0.0.1", ui_port)


def test_demo_settings_use_a_task_queue_of_their_own() -> None:
    base = HandrailSettings(_env_file=None)
    first, second = demo_settings(base), demo_settings(base)
    assert first.task_queue.startswith("handrail-demo-")
    assert first.task_queue != second.task_queue
    assert base.task_queue not in (first.task_queue, second.task_queue)


# Workflow ids the decoy below ran: it stands for another checkout's worker (other code, a real
# model) polling the queue the settings name. Unsandboxed, so that it can record them here.
_DECOY_TOOK: list[str] = []


@workflow.defn(name=WORKFLOW_TYPE, sandboxed=False)
class _DecoyAgent:
    @workflow.run
    async def run(self, task: dict[str, Any]) -> dict[str, Any]:
        _DECOY_TOOK.append(workflow.info().workflow_id)
        return {"status": "answered", "answer": "not the demo's worker"}


async def test_the_demo_runs_no_task_on_another_workers_queue(
    client: Client, temporal_address: str, tmp_path: Path
) -> None:
    """A dev server already runs on the address and another worker polls the configured task
    queue: every demo task still runs on the demo's own worker, against its own store."""
    shared = f"test-{uuid.uuid4().hex[:10]}"
    env = _clean_env(HANDRAIL_TEMPORAL_ADDRESS=temporal_address, HANDRAIL_TASK_QUEUE=shared)
    _DECOY_TOOK.clear()
    async with Worker(client, task_queue=shared, workflows=[_DecoyAgent]):
        run = await _starter("demo", env=env, cwd=tmp_path)
    assert _DECOY_TOOK == []
    assert run.returncode == 0, run.stderr
    assert "(already running)" in run.stdout
    assert "refunds: ['order 1001: 10.00 EUR', 'order 1003: 80.00 USD']" in run.stdout
