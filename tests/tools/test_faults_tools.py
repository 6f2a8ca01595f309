"""One test per tool-side fault class (docs/reliability.md, "Tool-side faults").

Every test runs the real workflow and the real worker, with the store example's tools over a real
SQLite store beside two test-only tools declared here through the public API (``@tool``): one
that can sleep past its declared timeout, one that can raise an unexpected exception. Their effect
is a row in a SQLite file of their own, written idempotently by key as docs/extending.md asks, so
the test counts effects where they happen, not in Handrail's journal.

Faults that stop after N attempts run on the Temporal dev server. Faults that never stop must
outlast the workflow's retry policies (``workflows/options.py``: 10 attempts with backoff up to
30 s for an action, 20 up to 60 s for a compensation, minutes of backoff): those run on the
time-skipping test server, which keeps every attempt and every timeout in real time (a timed-out
attempt still takes its whole timeout) and skips only the backoff between attempts.
"""

from __future__ import annotations

import asyncio
import math
import re
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field, SecretStr
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from examples.store.database import StoreDatabase, create_store, snapshot
from examples.store.settings import store_db_path
from examples.store.tools import store_compensations, store_tools
from handrail.client.core import HandrailClient
from handrail.contracts import TaskResult
from handrail.errors import ErrorType
from handrail.model.openai_chat import OpenAIChatModel
from handrail.plugin import HandrailPlugin
from handrail.profiles.catalog import ProfileCatalog
from handrail.runtime.worker import make_openai_client
from handrail.settings import HandrailSettings
from handrail.storage.sqlite import BUSY_TIMEOUT_MS
from handrail.testing.kit import settings_for_test
from handrail.testing.scripted_model import Reply, Scenario, ScriptedModelServer, ToolCallReply
from handrail.tools import Compensation, Tool, ToolContext, UndoContext, compensation, tool
from handrail.tools.runner import FaultHook, FaultPoint, no_faults
from handrail.workflows import options
from tests.history_tools import activity_attempts
from tests.review_helpers import WHY, answer, discount, refund

PROFILE_NAME = "faulty"
PROFILE = """
name = "faulty"
description = "The store's actions beside two tools that misbehave on purpose."
max_steps = 6
tools = ["get_order", "apply_discount", "issue_refund", "slow_export", "flaky_sync", "archive"]
system_prompt = "Do what is asked, then answer."

[rules.get_order]
autonomy = "autonomous"

[rules.apply_discount]
autonomy = "autonomous"

[rules.issue_refund]
autonomy = "autonomous"

[rules.slow_export]
autonomy = "autonomous"

[rules.flaky_sync]
autonomy = "autonomous"

[rules.archive]
autonomy = "autonomous"
"""

# The slow tool's declared start-to-close, and how long a slow attempt sleeps before it writes:
# well past the timeout, so the server times the attempt out, and past the next retry's start
# (3.5 s in), but before the SDK cancels the abandoned attempt in the worker (it does, about 5 s
# after the start-to-close passed).
TOOL_TIMEOUT_SECONDS = 1.0
SLOW_SECONDS = 4.5
# ``archive`` is a long tool (heartbeats, so a cancellation reaches it) whose write takes this
# long in a thread, as a database write waiting on a lock does.
ARCHIVE_WRITE_SECONDS = 3.0


class ExportArgs(BaseModel):
    label: str = Field(min_length=1, max_length=50)


class SyncArgs(BaseModel):
    label: str = Field(min_length=1, max_length=50)


@dataclass
class Misbehaviour:
    """What the test tools do, per test. The first ``failing`` attempts (None: every attempt)
    of ``flaky_sync`` raise, and those of ``slow_export`` sleep ``slow_seconds`` (``math.inf``:
    until cancelled) and then write.
    ``started`` and ``finished`` count attempts that entered and left a tool: a timed-out attempt
    keeps running in the worker (Temporal cannot stop it), and a test waits for the late ones."""

    effects: Path
    failing: int | None = None
    slow_seconds: float = SLOW_SECONDS
    started: dict[str, int] = field(default_factory=dict)
    finished: dict[str, int] = field(default_factory=dict)
    written: threading.Event = field(default_factory=threading.Event)

    def fails(self, attempt: int) -> bool:
        return self.failing is None or attempt <= self.failing

    def rows(self) -> list[tuple[str, str]]:
        """The effects the test tools left: (tool, idempotency key)."""
        with sqlite3.connect(self.effects) as db:
            return db.execute("SELECT tool, key FROM effects ORDER BY tool, key").fetchall()

    def settled(self) -> bool:
        return self.started == self.finished


def _write_effect(path: Path, tool_name: str, key: str) -> None:
    # Idempotent by key: a retried or late attempt finds its own row and adds nothing.
    with sqlite3.connect(path) as db:
        db.execute("INSERT OR IGNORE INTO effects (tool, key) VALUES (?, ?)", (tool_name, key))


def _delete_effect(path: Path, key: str) -> bool:
    with sqlite3.connect(path) as db:
        return db.execute("DELETE FROM effects WHERE key = ?", (key,)).rowcount > 0


def misbehaving_tools(faults: Misbehaviour) -> tuple[list[Tool], list[Compensation]]:
    """``slow_export`` (declares a 1 s timeout) and ``flaky_sync``, with their compensations."""
    with sqlite3.connect(faults.effects) as db:
        db.execute("CREATE TABLE IF NOT EXISTS effects (tool TEXT, key TEXT PRIMARY KEY)")

    def enter(name: str) -> None:
        faults.started[name] = faults.started.get(name, 0) + 1

    def leave(name: str) -> None:
        faults.finished[name] = faults.finished.get(name, 0) + 1

    @tool(compensated_by="delete_export", timeout=TOOL_TIMEOUT_SECONDS, summary="{label}")
    async def slow_export(args: ExportArgs, ctx: ToolContext) -> dict[str, Any]:
        """Export a report; slow on its failing attempts."""
        enter("slow_export")
        try:
            if faults.fails(ctx.attempt):
                if math.isinf(faults.slow_seconds):
                    await asyncio.Event().wait()  # hangs until cancelled
                await asyncio.sleep(faults.slow_seconds)
            await asyncio.to_thread(
                _write_effect, faults.effects, "slow_export", ctx.idempotency_key
            )
            return {"label": args.label, "attempt": ctx.attempt}
        finally:
            leave("slow_export")

    @compensation(undoes=slow_export)
    async def delete_export(ctx: UndoContext) -> bool:
        """Delete the export by its key."""
        return await asyncio.to_thread(_delete_effect, faults.effects, ctx.idempotency_key)

    @tool(compensated_by="undo_sync", summary="{label}")
    async def flaky_sync(args: SyncArgs, ctx: ToolContext) -> dict[str, Any]:
        """Sync a record to a partner; raises on its failing attempts."""
        enter("flaky_sync")
        try:
            if faults.fails(ctx.attempt):
                # Not ToolRefused: an infrastructure failure, which Temporal retries.
                raise ConnectionError(f"partner API went away (attempt {ctx.attempt})")
            await asyncio.to_thread(
                _write_effect, faults.effects, "flaky_sync", ctx.idempotency_key
            )
            return {"label": args.label, "attempt": ctx.attempt}
        finally:
            leave("flaky_sync")

    @compensation(undoes=flaky_sync)
    async def undo_sync(ctx: UndoContext) -> bool:
        """Delete the synced record by its key."""
        return await asyncio.to_thread(_delete_effect, faults.effects, ctx.idempotency_key)

    def slow_write(key: str) -> None:
        time.sleep(ARCHIVE_WRITE_SECONDS)
        _write_effect(faults.effects, "archive", key)
        faults.written.set()

    @tool(compensated_by="delete_archive", timeout=30, heartbeat=1, summary="{label}")
    async def archive(args: ExportArgs, ctx: ToolContext) -> dict[str, Any]:
        """Archive a report; its write is slow."""
        enter("archive")
        try:
            await asyncio.to_thread(slow_write, ctx.idempotency_key)
            return {"label": args.label}
        finally:
            leave("archive")

    @compensation(undoes=archive)
    async def delete_archive(ctx: UndoContext) -> bool:
        """Delete the archive by its key."""
        return await asyncio.to_thread(_delete_effect, faults.effects, ctx.idempotency_key)

    return [slow_export, flaky_sync, archive], [delete_export, undo_sync, delete_archive]


def _export(label: str = "weekly") -> ToolCallReply:
    return ToolCallReply("slow_export", {"label": label, **WHY})


def _sync(label: str = "order-1001") -> ToolCallReply:
    return ToolCallReply("flaky_sync", {"label": label, **WHY})


class FailCompensation:
    """A fault hook: ``compensation`` raises an unexpected (retryable) error at the start of its
    first ``times`` attempts (None: every attempt), as a store that is down would."""

    def __init__(self, compensation_name: str, times: int | None) -> None:
        self.name, self.times = compensation_name, times
        self.fired = 0

    def __call__(self, point: FaultPoint, name: str, idempotency_key: str) -> None:
        if (point, name) != ("before_effect", self.name):
            return
        if self.times is None or self.fired < self.times:
            self.fired += 1
            raise sqlite3.OperationalError("disk I/O error (injected)")


@dataclass
class Rig:
    """One test's world: settings, profiles, the test tools' misbehaviour."""

    settings: HandrailSettings
    profiles: Path
    faults: Misbehaviour

    def handrail(self, client: Client) -> HandrailClient:
        return HandrailClient(client, self.settings, profiles=ProfileCatalog([self.profiles]))


def _rig(settings: HandrailSettings, tmp_path: Path) -> Rig:
    profiles = tmp_path / "profiles"
    profiles.mkdir(exist_ok=True)
    (profiles / f"{PROFILE_NAME}.toml").write_text(PROFILE)
    create_store(store_db_path(settings))
    return Rig(settings, profiles, Misbehaviour(effects=tmp_path / "effects.db"))


@asynccontextmanager
async def _worker(
    client: Client, rig: Rig, *, faults: FaultHook = no_faults
) -> AsyncIterator[None]:
    """A worker with the store's tools and the misbehaving ones, as a user's project builds it."""
    store = StoreDatabase(store_db_path(rig.settings))
    tools, compensations = misbehaving_tools(rig.faults)
    model_client = make_openai_client(rig.settings)
    plugin = HandrailPlugin(
        rig.settings,
        tools=[*store_tools(store), *tools],
        compensations=[*store_compensations(store), *compensations],
        model=OpenAIChatModel(model_client),
        profiles=[rig.profiles],
        faults=faults,
        on_worker_stop=[store.database.aclose],
    )
    config = client.config()
    config["plugins"] = [*config.get("plugins", []), plugin]
    try:
        async with Worker(Client(**config), task_queue=rig.settings.task_queue):
            yield
    finally:
        await model_client.close()


async def _until(
    check: Callable[[], bool], what: Callable[[], object], timeout: float = 30
) -> None:
    """Wait until ``check()`` holds (a behaviour, never a duration, is what is waited for);
    ``what()`` says what was seen if it never does."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting: {what()}"
        await asyncio.sleep(0.05)


def _journal(settings: HandrailSettings) -> list[tuple[str, bool]]:
    """Handrail's effect journal: (tool, compensated) per recorded action."""
    with sqlite3.connect(settings.state_db_path) as state:
        rows = state.execute(
            "SELECT tool, compensated_at IS NOT NULL FROM effect_journal ORDER BY applied_at"
        ).fetchall()
    return [(tool_name, bool(done)) for tool_name, done in rows]


# --- Database locked ----------------------------------------------------------------------------


@contextmanager
def _store_locked(path: Path) -> Iterator[sqlite3.Connection]:
    """Another process's write lock on the store: BEGIN EXCLUSIVE (in WAL mode it stops every
    writer, readers go on), held until the block ends."""
    holder = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        yield holder
    finally:
        holder.execute("ROLLBACK")
        holder.close()


async def _pending_attempt(handle: WorkflowHandle[Any, Any], activity_type: str) -> int:
    """The attempt of ``activity_type`` now running (0: none is)."""
    description = await handle.describe()
    for pending in description.raw_description.pending_activities:
        if pending.activity_type.name == activity_type and pending.HasField("last_started_time"):
            return pending.attempt
    return 0


async def _run_under_lock(
    client: Client, rig: Rig, server: ScriptedModelServer, *, until_attempt: int
) -> TaskResult:
    """A discount whose store write meets the lock; the lock is let go once attempt
    ``until_attempt`` of the discount is running (so it waited on the lock, and every attempt
    before it was given up on while waiting)."""
    with server.routed(
        Scenario([discount(1001, "5.00"), answer("Discounted")]), "tool-fault"
    ) as goal:
        handrail = rig.handrail(client)
        async with _worker(client, rig):
            with _store_locked(store_db_path(rig.settings)):
                handle = await handrail.start_task({"goal": goal, "profile": PROFILE_NAME})
                deadline = asyncio.get_running_loop().time() + 60
                while await _pending_attempt(handle, "apply_discount") < until_attempt:
                    assert asyncio.get_running_loop().time() < deadline, "the discount never ran"
                    await asyncio.sleep(0.1)
                await asyncio.sleep(1.0)  # the attempt is inside its busy wait now
            return await handrail.get_result(handle.id)


async def test_a_short_database_lock_is_absorbed_by_the_busy_wait(
    client: Client, settings: HandrailSettings, model_server: ScriptedModelServer, tmp_path: Path
) -> None:
    # Shorter than the busy timeout (30 s) and the action's start-to-close (10 s): the writer
    # waits for the lock inside its first attempt and goes on.
    assert options.ACTION_TIMEOUT.total_seconds() < BUSY_TIMEOUT_MS / 1000
    rig = _rig(settings, tmp_path)
    result = await _run_under_lock(client, rig, model_server, until_attempt=1)

    assert result.status == "answered", result
    outcome = result.steps[0].outcome
    assert outcome is not None
    assert outcome.ok
    assert outcome.attempt == 1  # no retry: the busy wait absorbed the lock
    assert outcome.latency_ms >= 1000  # it did wait for the lock (held 1 s after it started)
    assert len(snapshot(store_db_path(rig.settings))["discounts"]) == 1
    assert _journal(rig.settings) == [("apply_discount", False)]


async def test_a_database_lock_longer_than_the_action_timeout_is_retried_and_takes_effect_once(
    client: Client, settings: HandrailSettings, model_server: ScriptedModelServer, tmp_path: Path
) -> None:
    # The busy timeout (30 s) outlasts the action's start-to-close (10 s): Temporal gives the
    # first attempt up while it still waits on the lock and starts a second one. When the lock
    # goes, both writers run; the key's UNIQUE row makes the second one find the first's.
    rig = _rig(settings, tmp_path)
    result = await _run_under_lock(client, rig, model_server, until_attempt=2)

    assert result.status == "answered", result
    outcome = result.steps[0].outcome
    assert outcome is not None
    assert outcome.ok
    assert outcome.attempt >= 2
    await asyncio.sleep(0.5)  # the abandoned attempt's thread finishes its (no-op) write
    discounts = snapshot(store_db_path(rig.settings))["discounts"]
    assert len(discounts) == 1, discounts  # once, though two attempts wrote
    assert _journal(rig.settings) == [("apply_discount", False)]


# --- A tool that times out / raises, retried then succeeding (dev server) ---------------------


async def test_a_tool_that_times_out_is_retried_and_takes_effect_once(
    client: Client, settings: HandrailSettings, model_server: ScriptedModelServer, tmp_path: Path
) -> None:
    rig = _rig(settings, tmp_path)
    rig.faults.failing = 2  # attempts 1 and 2 sleep 6 s past the 1 s timeout, then write
    with model_server.routed(Scenario([_export(), answer("Exported")])) as goal:
        handrail = rig.handrail(client)
        async with _worker(client, rig):
            handle = await handrail.start_task({"goal": goal, "profile": PROFILE_NAME})
            result = await handrail.get_result(handle.id)
            # The timed-out attempts still run in the worker and write when they wake.
            await _until(rig.faults.settled, lambda: rig.faults)
            attempts = await activity_attempts(handle, "slow_export")

    assert result.status == "answered", result
    outcome = result.steps[0].outcome
    assert outcome is not None
    assert outcome.ok
    assert outcome.attempt == 3
    assert attempts == [3]  # the history keeps the attempt that completed
    # Attempt 3 ran the tool and the sleepers woke later (as here, normally); on a slow machine
    # attempt 1 may wake first and record its effect, and attempt 3 then answers from the
    # journal without running. Either way the task got the result of the one effect.
    assert (outcome.result["attempt"], rig.faults.started["slow_export"]) in {(3, 3), (1, 2)}
    # Every attempt wrote; one effect: the late ones found the row of their key.
    assert [tool_name for tool_name, _ in rig.faults.rows()] == ["slow_export"]
    assert _journal(rig.settings) == [("slow_export", False)]


async def test_a_tool_that_outlives_its_task_undoes_its_late_effect(
    client: Client, settings: HandrailSettings, model_server: ScriptedModelServer, tmp_path: Path
) -> None:
    # A slow attempt is still running when its task is cancelled and rolled back: nothing tells
    # it (no heartbeat timeout, so no cancellation reaches it), it wakes after its own
    # compensation found nothing to undo, and writes. The journal's tombstone catches it.
    rig = _rig(settings, tmp_path)
    rig.faults.failing = 1
    rig.faults.slow_seconds = 3.0  # wakes after the rollback, before the SDK would cancel it
    with model_server.routed(
        Scenario([discount(1001, "5.00"), _export(), answer()]), "tool-fault"
    ) as goal:
        handrail = rig.handrail(client)
        async with _worker(client, rig):
            handle = await handrail.start_task({"goal": goal, "profile": PROFILE_NAME})
            await _until(lambda: rig.faults.started.get("slow_export") == 1, lambda: rig.faults)
            await handle.cancel()
            with pytest.raises(WorkflowFailureError):
                await handle.result()
            trace = await handrail.get_trace(handle.id)
            compensated_first = rig.faults.finished.get("slow_export", 0) == 0
            await _until(
                lambda: rig.faults.settled() and not rig.faults.rows(),
                lambda: (rig.faults, rig.faults.rows()),
            )

    assert trace.status == "cancelled"
    assert [(c.tool, c.status) for c in trace.compensations] == [
        ("slow_export", "nothing_to_undo"),
        ("apply_discount", "undone"),
    ]
    assert compensated_first  # the attempt was still asleep when the rollback ended
    assert rig.faults.finished == {"slow_export": 1}  # it woke and wrote ...
    assert rig.faults.rows() == []  # ... and its effect was undone at once
    assert snapshot(store_db_path(rig.settings))["discounts"] == []


async def test_a_tool_cancelled_mid_effect_undoes_its_late_effect(
    client: Client, settings: HandrailSettings, model_server: ScriptedModelServer, tmp_path: Path
) -> None:
    # The same late effect, but the attempt is cancelled (the task was, and the cancellation
    # reaches a heartbeating tool) while its write runs in a thread, which cannot be stopped:
    # the runner does not abandon the call, waits for the write (after the rollback found
    # nothing to undo), finds the tombstone and undoes it, and only then ends the attempt.
    rig = _rig(settings, tmp_path)
    archive = ToolCallReply("archive", {"label": "q3", **WHY})
    with model_server.routed(
        Scenario([discount(1001, "5.00"), archive, answer()]), "tool-fault"
    ) as goal:
        handrail = rig.handrail(client)
        async with _worker(client, rig):
            handle = await handrail.start_task({"goal": goal, "profile": PROFILE_NAME})
            await _until(lambda: rig.faults.started.get("archive") == 1, lambda: rig.faults)
            await handle.cancel()
            with pytest.raises(WorkflowFailureError):
                await handle.result()
            trace = await handrail.get_trace(handle.id)
            # Both ends of the attempt are over: the coroutine (cancelled) and the thread (wrote).
            await _until(
                lambda: rig.faults.settled() and rig.faults.written.is_set(), lambda: rig.faults
            )

    assert trace.status == "cancelled"
    assert [(c.tool, c.status) for c in trace.compensations] == [
        ("archive", "nothing_to_undo"),
        ("apply_discount", "undone"),
    ]
    assert rig.faults.rows() == []  # the archive does not outlive its rolled-back task


async def test_a_tool_that_raises_is_retried_and_takes_effect_once(
    client: Client, settings: HandrailSettings, model_server: ScriptedModelServer, tmp_path: Path
) -> None:
    rig = _rig(settings, tmp_path)
    rig.faults.failing = 2
    with model_server.routed(Scenario([_sync(), answer("Synced")])) as goal:
        handrail = rig.handrail(client)
        async with _worker(client, rig):
            handle = await handrail.start_task({"goal": goal, "profile": PROFILE_NAME})
            result = await handrail.get_result(handle.id)

    assert result.status == "answered", result
    outcome = result.steps[0].outcome
    assert outcome is not None
    assert outcome.ok
    assert outcome.attempt == 3
    assert rig.faults.started["flaky_sync"] == 3
    ((tool_name, key),) = rig.faults.rows()
    assert (tool_name, key.rsplit("/", 1)[1]) == ("flaky_sync", "0")  # step 0's key, once
    assert _journal(rig.settings) == [("flaky_sync", False)]


async def test_a_compensation_that_fails_twice_then_succeeds_completes_the_rollback(
    client: Client, settings: HandrailSettings, model_server: ScriptedModelServer, tmp_path: Path
) -> None:
    rig = _rig(settings, tmp_path)
    before = snapshot(store_db_path(rig.settings))
    fault = FailCompensation("void_refund", times=2)
    escalate = ToolCallReply("escalate", {"reason": "a manager must decide", **WHY})
    with model_server.routed(
        Scenario([discount(1001, "5.00"), refund(1001, "10.00"), escalate]), "tool-fault"
    ) as goal:
        handrail = rig.handrail(client)
        async with _worker(client, rig, faults=fault):
            handle = await handrail.start_task({"goal": goal, "profile": PROFILE_NAME})
            result = await handrail.get_result(handle.id)
            attempts = await activity_attempts(handle, "void_refund")

    assert result.status == "escalated", result
    assert [(c.tool, c.status) for c in result.compensations] == [
        ("issue_refund", "undone"),
        ("apply_discount", "undone"),
    ]
    assert fault.fired == 2
    assert attempts == [3]  # retried by Temporal, third time lucky
    assert snapshot(store_db_path(rig.settings)) == before
    assert _journal(rig.settings) == [("apply_discount", True), ("issue_refund", True)]


# --- Faults that outlast the retry policies (time-skipping server) ----------------------------


@pytest.fixture
def skipping_rig(
    tmp_path: Path, model_server: ScriptedModelServer, skipping_env: WorkflowEnvironment
) -> Rig:
    settings = settings_for_test(
        skipping_env.client,
        tmp_path / "data",
        openai_base_url=model_server.base_url,
        openai_api_key=SecretStr("tool-faults"),
    )
    return _rig(settings, tmp_path)


async def _fails_for_good(
    env: WorkflowEnvironment,
    rig: Rig,
    server: ScriptedModelServer,
    replies: list[Reply],
    *,
    faults: FaultHook = no_faults,
) -> tuple[str, WorkflowHandle[Any, Any]]:
    """Run a task that must fail; its failure message and handle."""
    with server.routed(Scenario(replies)) as goal:
        async with _worker(env.client, rig, faults=faults):
            handle = await rig.handrail(env.client).start_task(
                {"goal": goal, "profile": PROFILE_NAME}
            )
            # Waiting on the handle lets the server skip the backoff between attempts.
            with pytest.raises(WorkflowFailureError) as failure:
                await handle.result()
    cause = failure.value.cause
    return getattr(cause, "message", None) or str(cause), handle


async def test_a_tool_that_always_times_out_fails_the_task_and_rolls_back(
    skipping_env: WorkflowEnvironment, skipping_rig: Rig, model_server: ScriptedModelServer
) -> None:
    rig = skipping_rig
    rig.faults.slow_seconds = math.inf  # every attempt hangs
    before = snapshot(store_db_path(rig.settings))
    message, _handle = await _fails_for_good(
        skipping_env, rig, model_server, [discount(1001, "5.00"), _export()]
    )

    # Every attempt of the action retry policy, each given its whole 1 s timeout.
    assert rig.faults.started["slow_export"] == options.ACTION_RETRY.maximum_attempts
    # Named, if tersely: workflows/calls.py formats Temporal's TimeoutError, whose text is just
    # "Timeout" (it does not say which timeout, nor how long it was).
    assert "slow_export failed: Timeout" in message, message
    assert "rolled back 2 step(s)" in message, message
    assert snapshot(store_db_path(rig.settings)) == before  # the discount was revoked
    assert rig.faults.rows() == []
    # slow_export's compensation found nothing to undo and left a tombstone against a late
    # attempt (the test server's heartbeat cancelled each timed-out attempt; on the dev server
    # they run on: test_a_tool_that_outlives_its_task_undoes_its_late_effect).
    assert sorted(_journal(rig.settings)) == [("apply_discount", True), ("slow_export", True)]


async def test_a_tool_that_always_raises_fails_the_task_and_rolls_back(
    skipping_env: WorkflowEnvironment, skipping_rig: Rig, model_server: ScriptedModelServer
) -> None:
    rig = skipping_rig
    before = snapshot(store_db_path(rig.settings))
    message, _handle = await _fails_for_good(
        skipping_env, rig, model_server, [discount(1001, "5.00"), _sync()]
    )

    assert rig.faults.started["flaky_sync"] == options.ACTION_RETRY.maximum_attempts
    last = options.ACTION_RETRY.maximum_attempts
    assert f"flaky_sync failed: partner API went away (attempt {last})" in message, message
    assert "rolled back 2 step(s)" in message, message
    assert snapshot(store_db_path(rig.settings)) == before
    assert rig.faults.rows() == []  # it never took effect
    assert sorted(_journal(rig.settings)) == [("apply_discount", True), ("flaky_sync", True)]


async def test_a_compensation_that_never_succeeds_needs_manual_recovery_after_its_retries(
    skipping_env: WorkflowEnvironment, skipping_rig: Rig, model_server: ScriptedModelServer
) -> None:
    # tests/workflows/test_rollback.py proves the report with a non-retryable failure on the
    # first attempt; this one fails retryably, so the report comes after every attempt of the
    # policy.
    rig = skipping_rig
    fault = FailCompensation("void_refund", times=None)
    # Lookups until the step budget (max_steps 6) is spent: the task rolls back.
    lookup = ToolCallReply("get_order", {"order_id": 1001, **WHY})
    replies: list[Reply] = [discount(1001, "5.00"), refund(1001, "10.00"), lookup]
    message, handle = await _fails_for_good(skipping_env, rig, model_server, replies, faults=fault)

    assert fault.fired == options.COMPENSATION_RETRY.maximum_attempts
    assert "needs manual recovery: issue_refund at step 2" in message, message
    assert re.search(rf"\(key {handle.id}/[0-9a-f-]{{36}}/1\)", message), message
    failure = await _failure_type(handle)
    assert failure == ErrorType.NEEDS_MANUAL_RECOVERY
    tables = snapshot(store_db_path(rig.settings))
    assert len(tables["refunds"]) == 1  # left for a person, and named
    assert tables["discounts"] == []  # the rest of the rollback still ran


async def _failure_type(handle: WorkflowHandle[Any, Any]) -> str:
    try:
        await handle.result()
    except WorkflowFailureError as error:
        return str(getattr(error.cause, "type", ""))
    raise AssertionError("the task did not fail")
