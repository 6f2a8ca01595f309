"""starter.py as a person uses it: real subprocesses, real servers."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from handrail.devserver import is_listening
from handrail.settings import HandrailSettings

ROOT = Path(__file__).resolve().parents[1]


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


def _clean_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HANDRAIL_", "OPENAI_"))}
    env.update(overrides)
    return env


async def test_demo_answers_from_the_database_and_leaves_nothing_running(tmp_path: Path) -> None:
    port, ui_port = _free_port(), _free_port()
    env = _clean_env(HANDRAIL_TEMPORAL_ADDRESS=f"127.0.0.1:{port}", HANDRAIL_UI_PORT=str(ui_port))
    run = await _starter("demo", env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "using Handrail's scripted model" in out
    assert "(started here)" in out
    # Prices as the seeded database has them, each with its trace and UI link.
    with sqlite3.connect(tmp_path / "data" / "store.db") as db:
        prices = dict(db.execute("SELECT name, price_cents FROM products").fetchall())
    for name in ("Trail Runner Shoes", "Camping Stove", "Rain Jacket"):
        assert f"{prices[name] / 100:.2f}" in out
        assert f'lookup_price {{"product": "{name}"}}' in out
    assert "Order 1002 is processing" in out
    assert out.count(f"UI: http://127.0.0.1:{ui_port}/namespaces/default/workflows/task-") == 6
    assert out.count("answered · 2 step(s)") == 4
    # One task commits a refund and, at the commit point, its email; one is rolled back.
    assert "→ at commit: send_email to ada@example.com" in out
    assert "escalated · 3 step(s)" in out
    assert "↶ void_refund for step 2 (issue_refund) → undone" in out
    assert "↶ revoke_discount for step 1 (apply_discount) → undone" in out
    assert "discounts: none" in out
    assert "refunds: ['order 1001: 10.00 EUR']" in out
    assert not is_listening("127.0.0.1", port)
    assert not is_listening("127.0.0.1", ui_port)


@pytest.mark.usefixtures("worker")
async def test_start_wait_trace_and_result(
    settings: HandrailSettings, temporal_address: str, tmp_path: Path
) -> None:
    env = _clean_env(
        HANDRAIL_TEMPORAL_ADDRESS=temporal_address,
        HANDRAIL_TASK_QUEUE=settings.task_queue,
        HANDRAIL_EMBEDDED_SERVER="false",
    )
    started = await _starter(
        "start",
        "How much is the Wool Socks?",
        "--task-id",
        "cli-socks",
        "--wait",
        env=env,
        cwd=tmp_path,
    )
    assert started.returncode == 0, started.stderr
    assert "started cli-socks" in started.stdout
    assert re.search(r"tool_call\s+lookup_price", started.stdout)  # progress, step by step
    assert "answered: The price of the Wool Socks is 14.50 EUR." in started.stdout

    trace = await _starter("trace", "cli-socks", env=env, cwd=tmp_path)
    assert "task cli-socks · profile store_support · answered" in trace.stdout
    result = await _starter("result", "cli-socks", "--json", env=env, cwd=tmp_path)
    assert '"status": "answered"' in result.stdout


async def test_bad_input_exits_2_naming_the_problem(temporal_address: str, tmp_path: Path) -> None:
    env = _clean_env(HANDRAIL_TEMPORAL_ADDRESS=temporal_address, HANDRAIL_EMBEDDED_SERVER="false")
    no_goal = await _starter(
        "start", "--input", '{"profile": "store_support"}', env=env, cwd=tmp_path
    )
    assert no_goal.returncode == 2
    assert "error: invalid task: goal: Field required" in no_goal.stderr
    bad_json = await _starter("start", "--input", "{goal", env=env, cwd=tmp_path)
    assert bad_json.returncode == 2
    assert "not valid JSON" in bad_json.stderr
    bad_profile = await _starter("start", "Hi", "--profile", "nope", env=env, cwd=tmp_path)
    assert bad_profile.returncode == 2
    assert "unknown profile 'nope'" in bad_profile.stderr


async def test_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    env = _clean_env(
        HANDRAIL_TEMPORAL_ADDRESS=f"127.0.0.1:{_free_port()}", HANDRAIL_EMBEDDED_SERVER="false"
    )
    run = await _starter("trace", "whatever", env=env, cwd=tmp_path)
    assert run.returncode == 2
    assert "cannot reach Temporal" in run.stderr
