"""starter.py as a person uses it: real subprocesses, real servers."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from examples.store.database import create_store
from examples.store.settings import store_db_path
from handrail.settings import HandrailSettings
from handrail.testing.scripted_model import Scenario, ScriptedModelServer, ToolCallReply

ROOT = Path(__file__).resolve().parents[2]


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


def _worker_env(settings: HandrailSettings, temporal_address: str) -> dict[str, str]:
    """The environment of a starter.py that talks to the test's server and worker."""
    return _clean_env(
        HANDRAIL_TEMPORAL_ADDRESS=temporal_address,
        HANDRAIL_TASK_QUEUE=settings.task_queue,
        HANDRAIL_EMBEDDED_SERVER="false",
    )


def _clean_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HANDRAIL_", "OPENAI_"))}
    env.update(overrides)
    return env


@pytest.mark.usefixtures("worker")
async def test_start_wait_trace_and_result(
    settings: HandrailSettings, temporal_address: str, tmp_path: Path
) -> None:
    env = _worker_env(settings, temporal_address)
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


@pytest.mark.usefixtures("worker")
async def test_pending_and_review_commands(
    settings: HandrailSettings,
    temporal_address: str,
    tmp_path: Path,
    model_server: ScriptedModelServer,
) -> None:
    create_store(store_db_path(settings))
    model_server.brain = Scenario(
        [
            ToolCallReply(
                "issue_refund",
                {"order_id": 1003, "amount": "80.00", "reason": "r", "confidence": 0.9},
            ),
            ToolCallReply("final_answer", {"answer": "ok", "confidence": 0.9}),
        ]
    )
    env = _worker_env(settings, temporal_address)
    started = await _starter(
        "start",
        "Refund order 1003",
        "--profile",
        "store_actions",
        "--task-id",
        "cli-review",
        env=env,
        cwd=tmp_path,
    )
    assert started.returncode == 0, started.stderr
    listed = None
    for _ in range(50):
        listed = await _starter("pending", env=env, cwd=tmp_path)
        if "cli-review" in listed.stdout:
            break
    assert listed is not None
    shown = re.search(
        r"cli-review\s+1\s+([0-9a-f]{12})\s+issue_refund .*support\s+alice,bob,carol",
        listed.stdout,
    )
    assert shown is not None, listed.stdout
    stale = await _starter(
        "review",
        "cli-review",
        "approve",
        "--as",
        "bob",
        "--proposal",
        "0123456789ab",
        env=env,
        cwd=tmp_path,
    )  # a proposal the reviewer did not see: refused before anything is sent
    assert stale.returncode == 2
    assert f"is not what step 1 proposes now ({shown.group(1)}" in stale.stderr

    refused = await _starter(
        "review", "cli-review", "approve", "--as", "mallory", env=env, cwd=tmp_path
    )
    assert refused.returncode == 2
    assert "refused: 'mallory' may not review at tier 'support'" in refused.stderr
    assert refused.stderr.rstrip().endswith("(type: ReviewUnauthorised, retryable: false)")
    no_name = await _starter("review", "cli-review", "approve", env=env, cwd=tmp_path)
    assert no_name.returncode == 2
    assert "--as NAME" in no_name.stderr
    edited = await _starter(
        "review",
        "cli-review",
        "edit",
        "--as",
        "bob",
        "--args",
        '{"order_id": 1003, "amount": "30.00", "reason": "partial"}',
        "--proposal",
        shown.group(1),
        env=env,
        cwd=tmp_path,
    )
    assert edited.returncode == 0, edited.stderr
    assert "edit recorded for step 1 of cli-review (support)" in edited.stdout
    trace = await _starter("trace", "cli-review", env=env, cwd=tmp_path)
    assert (
        'review: edit to {"amount": "30.00", "order_id": 1003, "reason": "partial"} by bob'
        in trace.stdout
    )


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
