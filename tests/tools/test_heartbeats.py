"""Heartbeats for long activities: a declared long tool and the model call (``decide``) heartbeat,
so a worker that dies mid-call is noticed after the heartbeat timeout, not the start-to-close.

The crash tests run the first worker in a subprocess (``python -m tests.tools.test_heartbeats
PROFILES``, below), SIGKILL it while the long call runs, and let a second worker finish: on a
real Temporal dev server, with the real scripted model server.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Worker

from handrail.client.core import HandrailClient, connect_temporal
from handrail.contracts import TaskResult, ToolBinding, ToolCall
from handrail.model.openai_chat import OpenAIChatModel
from handrail.plugin import HandrailPlugin
from handrail.profiles.catalog import ProfileCatalog
from handrail.runtime.worker import make_openai_client
from handrail.settings import HandrailSettings
from handrail.storage.journal import EffectJournal
from handrail.testing.scripted_model import Reply, Scenario, ScriptedModelServer, ToolCallReply
from handrail.tools import ToolContext, ToolRegistry, UndoContext, compensation, tool
from handrail.tools.runner import ToolActivities
from handrail.workflows import options
from handrail.workflows.stubs import tool_timeouts
from tests.worker_process import worker_env, worker_process

ROOT = Path(__file__).resolve().parents[2]
WHY = {"rationale": "heartbeat test", "confidence": 0.9}
CHUNK_SECONDS = 0.5
TOOL_TIMEOUT = timedelta(seconds=60)
# Core sends heartbeats at most every 0.8 x the heartbeat timeout: 3 s leaves a healthy attempt
# room on a busy machine, and still retries a dead one within seconds.
TOOL_HEARTBEAT = timedelta(seconds=3)

PROFILE = """
name = "exports"
description = "Exports reports (slowly)."
max_steps = 4
tools = ["export_report"]
system_prompt = "Export what is asked, then answer."

[rules.export_report]
autonomy = "autonomous"
"""


class ExportArgs(BaseModel):
    folder: str
    chunks: int = Field(ge=1, le=100)


@tool(
    compensated_by="delete_export",
    timeout=TOOL_TIMEOUT,
    heartbeat=TOOL_HEARTBEAT.total_seconds(),
    summary="{chunks} chunks",
)
async def export_report(args: ExportArgs, ctx: ToolContext) -> dict[str, Any]:
    """Export a report chunk by chunk; a retried attempt resumes after the last chunk done."""
    folder = Path(args.folder)
    start = int(ctx.heartbeat_details[0]) if ctx.heartbeat_details else 0
    for chunk in range(start, args.chunks):
        await asyncio.sleep(CHUNK_SECONDS)
        with (folder / "progress.log").open("a") as log:
            log.write(f"{ctx.attempt} {chunk}\n")
        ctx.heartbeat(chunk + 1)
    with (folder / "exports.log").open("a") as log:  # the effect: one line per export
        log.write(json.dumps({"attempt": ctx.attempt, "resumed_at": start}) + "\n")
    return {"chunks": args.chunks, "resumed_at": start}


@compensation(undoes=export_report)
async def delete_export(ctx: UndoContext) -> bool:
    """Nothing to undo in these tests (they never roll back)."""
    return False


# --- Declaring timeouts -----------------------------------------------------------------------


class NoArgs(BaseModel):
    pass


def _declare(**timeouts: Any) -> None:
    @tool(read_only=True, **timeouts)
    async def slow_read(args: NoArgs, ctx: ToolContext) -> dict[str, Any]:
        """A read."""
        return {}


def test_declared_timeouts_are_checked_naming_the_tool() -> None:
    with pytest.raises(ValueError, match="'slow_read': timeout must be positive"):
        _declare(timeout=0)
    with pytest.raises(ValueError, match="'slow_read': heartbeat must be positive"):
        _declare(timeout=60, heartbeat=-1)
    with pytest.raises(
        ValueError, match=r"'slow_read': heartbeat \(30 s\) must be shorter than its timeout"
    ):
        _declare(timeout=30, heartbeat=timedelta(seconds=30))
    with pytest.raises(ValueError, match="shorter than the default timeout"):
        _declare(heartbeat=10)
    _declare(timeout=timedelta(minutes=5))
    _declare(timeout=5, heartbeat=2)


def test_a_tool_declaring_nothing_is_scheduled_as_before() -> None:
    """No declared timeout: the same timeouts, kind of activity and payload as before."""
    read = ToolBinding(name="lookup", read_only=True)
    action = ToolBinding(name="refund", compensation="void")
    assert tool_timeouts(read) == (options.READ_TOOL_TIMEOUT, None)
    assert tool_timeouts(action) == (options.ACTION_TIMEOUT, None)
    assert "timeout" not in action.model_dump()
    assert "heartbeat" not in action.model_dump()
    long_read = ToolBinding(name="scan", read_only=True, timeout=timedelta(minutes=2))
    assert tool_timeouts(long_read) == (timedelta(minutes=2), options.TOOL_HEARTBEAT_TIMEOUT)
    declared = ToolBinding(name="x", timeout=TOOL_TIMEOUT, heartbeat=TOOL_HEARTBEAT)
    assert tool_timeouts(declared) == (TOOL_TIMEOUT, TOOL_HEARTBEAT)


# --- The runner's background heartbeat ----------------------------------------------------------


RESUMED_FROM: list[Any] = []


@tool(read_only=True, timeout=60, heartbeat=0.3)
async def wait_forever(args: NoArgs, ctx: ToolContext) -> dict[str, Any]:
    """Reports progress once, then waits until cancelled."""
    RESUMED_FROM.extend(ctx.heartbeat_details)
    await asyncio.sleep(0.25)
    ctx.heartbeat("halfway")
    await asyncio.Event().wait()
    return {}


async def test_background_heartbeats_stop_with_a_cancelled_tool(tmp_path: Path) -> None:
    journal = EffectJournal(tmp_path / "state.db")
    runner = ToolActivities(ToolRegistry([wait_forever]), journal)
    (run,) = runner.activities()
    env = ActivityEnvironment()
    env.info = replace(
        env.info,
        heartbeat_timeout=timedelta(seconds=0.3),
        heartbeat_details=["from the last attempt"],
    )
    beats: list[tuple[Any, ...]] = []
    env.on_heartbeat = lambda *details: beats.append(details)
    call = ToolCall(task_id="t", step=0, idempotency_key="t/r/0")
    running = asyncio.ensure_future(env.run(run, call))
    await asyncio.sleep(0.5)
    env.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert RESUMED_FROM == ["from the last attempt"]
    # The previous attempt's details are re-sent until the tool reports its own, then those.
    assert beats[0] == ("from the last attempt",)
    assert beats[-1] == ("halfway",)
    after = len(beats)
    await asyncio.sleep(0.5)  # more than one beat interval: no beat outlives the call
    assert len(beats) == after
    await journal.aclose()


# --- On a real server ---------------------------------------------------------------------------


def _profiles(tmp_path: Path) -> Path:
    folder = tmp_path / "profiles"
    folder.mkdir(exist_ok=True)
    (folder / "exports.toml").write_text(PROFILE)
    return folder


async def _start(
    client: Client, settings: HandrailSettings, tmp_path: Path, goal: str
) -> WorkflowHandle[Any, TaskResult]:
    handrail = HandrailClient(client, settings, profiles=ProfileCatalog([_profiles(tmp_path)]))
    return await handrail.start_task({"goal": goal, "profile": "exports"})


@asynccontextmanager
async def _worker(
    client: Client, settings: HandrailSettings, profiles: Path
) -> AsyncIterator[None]:
    """A worker with the long tool, talking to the scripted model server over HTTP."""
    model_client = make_openai_client(settings)
    plugin = HandrailPlugin(
        settings,
        tools=[export_report],
        compensations=[delete_export],
        model=OpenAIChatModel(model_client),
        profiles=[profiles],
    )
    config = client.config()
    config["plugins"] = [*config.get("plugins", []), plugin]
    try:
        async with Worker(Client(**config), task_queue=settings.task_queue):
            yield
    finally:
        await model_client.close()


def _export_reply(folder: Path, chunks: int) -> list[Reply]:
    return [
        ToolCallReply("export_report", {"folder": str(folder), "chunks": chunks, **WHY}),
        ToolCallReply("final_answer", {"answer": "exported", **WHY}),
    ]


def _scheduled(events: list[HistoryEvent], activity_type: str) -> list[Any]:
    return [
        e.activity_task_scheduled_event_attributes
        for e in events
        if e.HasField("activity_task_scheduled_event_attributes")
        and e.activity_task_scheduled_event_attributes.activity_type.name == activity_type
    ]


def _attempts(events: list[HistoryEvent]) -> list[int]:
    return [
        e.activity_task_started_event_attributes.attempt
        for e in events
        if e.HasField("activity_task_started_event_attributes")
    ]


async def _events(handle: WorkflowHandle[Any, Any]) -> list[HistoryEvent]:
    return list((await handle.fetch_history()).events)


async def test_a_long_tool_runs_with_a_heartbeat_timeout(
    client: Client, settings: HandrailSettings, model_server: ScriptedModelServer, tmp_path: Path
) -> None:
    marker = f"long-tool-{uuid.uuid4().hex[:8]}"
    model_server.route(marker, Scenario(_export_reply(tmp_path, chunks=6)))  # 3 s
    try:
        async with _worker(client, settings, _profiles(tmp_path)):
            handle = await _start(client, settings, tmp_path, marker)
            result = await handle.result()
    finally:
        model_server.unroute(marker)
    assert result.status == "answered", result
    (scheduled,) = _scheduled(await _events(handle), "export_report")
    assert scheduled.start_to_close_timeout.ToTimedelta() == TOOL_TIMEOUT
    assert scheduled.heartbeat_timeout.ToTimedelta() == TOOL_HEARTBEAT
    assert len((tmp_path / "exports.log").read_text().splitlines()) == 1


# --- A worker dies mid-call ---------------------------------------------------------------------


async def _until(check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.05)


def _progress(folder: Path) -> list[tuple[int, int]]:
    path = folder / "progress.log"
    lines = path.read_text().splitlines() if path.exists() else []
    return [(int(attempt), int(chunk)) for attempt, chunk in (line.split() for line in lines)]


@asynccontextmanager
async def _killed_mid_call(
    client: Client,
    settings: HandrailSettings,
    profiles: Path,
    goal: str,
    running: Callable[[], bool],
) -> AsyncIterator[tuple[WorkflowHandle[Any, TaskResult], float]]:
    """Start the task on a worker subprocess, SIGKILL it once ``running()``, and start a
    second worker; yields the task's handle and when the first worker died."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    env = worker_env(settings, "heartbeat-test")
    async with worker_process(env, str(profiles), module="tests.tools.test_heartbeats") as doomed:
        handle = await _start(client, settings, profiles.parent, goal)
        await _until(running, timeout=30)
        doomed.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        assert await doomed.wait() == -signal.SIGKILL
    async with _worker(client, settings, profiles):
        yield handle, killed_at


async def test_a_dead_workers_long_tool_is_retried_after_the_heartbeat_timeout(
    client: Client, settings: HandrailSettings, model_server: ScriptedModelServer, tmp_path: Path
) -> None:
    marker = f"long-crash-{uuid.uuid4().hex[:8]}"
    # 6 s of work, killed after 3.5 s: past the first throttled heartbeat carrying progress
    # (Temporal's core sends one at most every 0.8 x the heartbeat timeout, 2.4 s here).
    chunks = 12
    model_server.route(marker, Scenario(_export_reply(tmp_path, chunks)))
    try:
        async with _killed_mid_call(
            client, settings, _profiles(tmp_path), marker, lambda: len(_progress(tmp_path)) >= 7
        ) as (handle, killed_at):
            result = await asyncio.wait_for(handle.result(), timeout=45)
            finished_in = time.monotonic() - killed_at
    finally:
        model_server.unroute(marker)
    assert result.status == "answered", result
    # The heartbeat timeout (3 s), not the tool's start-to-close (60 s), let the retry start.
    assert finished_in < TOOL_TIMEOUT.total_seconds() / 2, finished_in
    exports = [json.loads(line) for line in (tmp_path / "exports.log").read_text().splitlines()]
    assert len(exports) == 1, exports  # the effect took place once
    assert exports[0]["attempt"] == 2
    # The retry resumed from the dead attempt's last heartbeat details, not from the start.
    resumed_at = exports[0]["resumed_at"]
    assert resumed_at >= 1
    progress = _progress(tmp_path)
    assert [chunk for attempt, chunk in progress if attempt == 2] == list(range(resumed_at, chunks))
    assert {chunk for _, chunk in progress} == set(range(chunks))


class _SlowFirstCall:
    """A reply that takes until ``release`` the first time it is asked for (a slow model), and
    comes at once when the call is retried."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.asked = threading.Event()
        self.release = threading.Event()
        self._calls = 0
        self._lock = threading.Lock()

    def __call__(self, request: dict[str, Any]) -> Reply:
        with self._lock:
            self._calls += 1
            first = self._calls == 1
        if first:
            self.asked.set()
            self.release.wait(timeout=120)
        return self.reply


async def test_a_dead_workers_model_call_is_retried_after_the_heartbeat_timeout(
    client: Client, settings: HandrailSettings, model_server: ScriptedModelServer, tmp_path: Path
) -> None:
    marker = f"slow-model-{uuid.uuid4().hex[:8]}"
    slow = _SlowFirstCall(ToolCallReply("final_answer", {"answer": "done", **WHY}))
    model_server.route(marker, Scenario([slow]))
    try:
        async with _killed_mid_call(
            client, settings, _profiles(tmp_path), marker, slow.asked.is_set
        ) as (handle, killed_at):
            result = await asyncio.wait_for(handle.result(), timeout=90)
            finished_in = time.monotonic() - killed_at
    finally:
        slow.release.set()
        model_server.unroute(marker)
    assert result.status == "answered", result
    events = await _events(handle)
    (scheduled,) = _scheduled(events, "decide")
    assert scheduled.heartbeat_timeout.ToTimedelta() == options.DECIDE_HEARTBEAT_TIMEOUT
    assert scheduled.start_to_close_timeout.ToTimedelta() == options.DECIDE_TIMEOUT
    assert 2 in _attempts(events)  # the call was retried, on the second worker
    # Within about the heartbeat timeout (15 s), not the start-to-close (120 s).
    assert finished_in < options.DECIDE_TIMEOUT.total_seconds() / 2, finished_in


# --- The doomed worker: ``python -m tests.tools.test_heartbeats PROFILES`` ---


async def _serve(profiles: Path) -> None:
    settings = HandrailSettings()
    client = await connect_temporal(settings)
    async with _worker(client, settings, profiles):
        print("ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(_serve(Path(sys.argv[1])))
