"""A cancelled side-effecting tool is told, not abandoned (``handrail.tools.runner``).

Activity unit tests (``ActivityEnvironment``, a real effect journal in a SQLite file): the
runner sets ``ToolContext.cancel_requested`` and waits for the call, so a write already under
way (in a thread, which cannot be cancelled) reaches the journal, and the tombstone check undoes
it when its compensation came first; a long tool stops at its next chunk; a call that never ends
is abandoned after its bound, loudly. The same fault through the real workflow and worker is
``tests/tools/test_faults_tools.py::test_a_tool_cancelled_mid_effect_undoes_its_late_effect``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from pydantic import BaseModel
from temporalio.testing import ActivityEnvironment

from handrail.contracts import ToolCall
from handrail.storage.journal import EffectJournal
from handrail.tools import ToolContext, ToolRegistry, UndoContext, compensation, tool
from handrail.tools import shield as shield_module
from handrail.tools.runner import ToolActivities

KEY = "task/run/0"
CALL = ToolCall(task_id="task", step=0, idempotency_key=KEY, arguments={"chunks": 10})
BEAT = timedelta(seconds=0.1)


class Args(BaseModel):
    chunks: int = 1


@dataclass
class World:
    """The tools' effects (key -> chunks written) and what the tools saw."""

    effects: dict[str, int] = field(default_factory=dict)
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    write: threading.Event = field(default_factory=threading.Event)
    """Set by the test: the slow write may land."""
    written: threading.Event = field(default_factory=threading.Event)
    saw_cancel_after_write: bool | None = None
    stopped: bool = False


def _tools(world: World) -> ToolRegistry:
    @tool(compensated_by="unarchive", timeout=60, heartbeat=BEAT.total_seconds())
    async def archive(args: Args, ctx: ToolContext) -> dict[str, Any]:
        """One slow write in a thread, which nothing can stop once begun."""
        world.entered.set()

        def slow_write() -> None:
            world.write.wait(timeout=30)
            world.effects[ctx.idempotency_key] = 1
            world.written.set()

        await asyncio.to_thread(slow_write)
        world.saw_cancel_after_write = ctx.cancel_requested
        return {"archived": True}

    @tool(compensated_by="unarchive", timeout=60, heartbeat=BEAT.total_seconds())
    async def export(args: Args, ctx: ToolContext) -> dict[str, Any]:
        """Chunk by chunk, stopping between chunks when asked (docs/extending.md)."""
        start = int(ctx.heartbeat_details[0]) if ctx.heartbeat_details else 0
        for chunk in range(start, args.chunks):
            if ctx.cancel_requested:
                raise asyncio.CancelledError  # a retry resumes from the heartbeat
            world.entered.set()
            await asyncio.to_thread(time.sleep, 0.1)  # one chunk, whole or not at all
            world.effects[ctx.idempotency_key] = chunk + 1
            ctx.heartbeat(chunk + 1)
        return {"chunks": args.chunks}

    @tool(compensated_by="unarchive", timeout=60)
    async def hang(args: Args, ctx: ToolContext) -> dict[str, Any]:
        """Never ends, and never looks at the flag."""
        world.entered.set()
        try:
            await asyncio.Event().wait()
        finally:
            world.stopped = True
        return {}

    @compensation(undoes="archive")
    async def unarchive(ctx: UndoContext) -> bool:
        """Delete by key."""
        return world.effects.pop(ctx.idempotency_key, None) is not None

    return ToolRegistry([archive, export, hang], [unarchive])


@pytest_asyncio.fixture
async def journal(tmp_path: Path) -> AsyncIterator[EffectJournal]:
    journal = EffectJournal(tmp_path / "state.db")
    await journal.lookup("warm-up")  # migrations now, not inside a timed attempt
    try:
        yield journal
    finally:
        await journal.aclose()


def _environment(*, start_to_close: timedelta = timedelta(seconds=60)) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = replace(
        env.info,
        heartbeat_timeout=BEAT * 3,
        start_to_close_timeout=start_to_close,
        schedule_to_close_timeout=None,
    )
    return env


def _activity(world: World, journal: EffectJournal, name: str) -> Callable[..., Any]:
    (found,) = [
        made
        for made in ToolActivities(_tools(world), journal).activities()
        if getattr(made, "__temporal_activity_definition").name == name
    ]
    return found


async def test_a_cancelled_action_finishes_its_write_and_records_it(
    journal: EffectJournal,
) -> None:
    world = World()
    env = _environment()
    beats: list[tuple[Any, ...]] = []
    env.on_heartbeat = lambda *details: beats.append(details)
    running = asyncio.ensure_future(env.run(_activity(world, journal, "archive"), CALL))
    await world.entered.wait()
    env.cancel()  # the task's cancellation reaches the heartbeating tool
    await asyncio.sleep(0.3)
    running.cancel()  # and the worker shuts down: the same answer
    await asyncio.sleep(0.3)
    assert not running.done()  # the runner waits for the write in flight ...
    beats_while_waiting = len(beats)
    await asyncio.sleep(0.3)
    assert len(beats) > beats_while_waiting  # ... still heartbeating the live attempt
    world.write.set()
    with pytest.raises(asyncio.CancelledError):
        await running  # ... then ends the attempt cancelled

    assert world.saw_cancel_after_write is True
    assert world.effects == {KEY: 1}
    entry = await journal.lookup(KEY)
    assert entry is not None
    assert entry.applied  # a retry answers from the journal, it does not run again
    assert not entry.compensated
    after = len(beats)
    await asyncio.sleep(0.3)
    assert len(beats) == after  # no beat outlives the attempt


async def test_a_late_effect_after_its_compensation_is_undone_before_the_attempt_ends(
    journal: EffectJournal,
) -> None:
    world = World()
    env = _environment()
    running = asyncio.ensure_future(env.run(_activity(world, journal, "archive"), CALL))
    await world.entered.wait()
    env.cancel()
    # The rollback runs while the write is in flight: nothing to undo yet, a tombstone.
    await journal.record_compensated(KEY, tool="archive", task_id="task", compensation="x")
    world.write.set()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert await asyncio.to_thread(world.written.wait, 5)  # the write landed ...

    assert world.effects == {}  # ... and was undone before the attempt ended
    entry = await journal.lookup(KEY)
    assert entry is not None
    assert entry.compensated
    assert not entry.applied


async def test_a_long_tool_stops_cooperatively_between_chunks(journal: EffectJournal) -> None:
    world = World()
    env = _environment()
    beats: list[tuple[Any, ...]] = []
    env.on_heartbeat = lambda *details: beats.append(details)
    running = asyncio.ensure_future(env.run(_activity(world, journal, "export"), CALL))
    await asyncio.sleep(0.25)  # inside its third chunk
    env.cancel()
    cancelled_at = time.monotonic()
    with pytest.raises(asyncio.CancelledError):
        await running

    assert time.monotonic() - cancelled_at < 0.5  # at the end of its chunk, not of the export
    done = world.effects[KEY]
    assert 2 <= done < 10  # whole chunks only, and not all of them
    assert beats[-1] == (done,)  # where a retried attempt resumes
    assert await journal.lookup(KEY) is None  # nothing recorded: the export did not finish
    assert ToolContext(task_id="t", step=0, idempotency_key="k", attempt=1).cancel_requested is (
        False
    )


async def test_a_write_landing_after_a_timed_out_attempt_ended_is_still_undone(
    journal: EffectJournal, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The SDK cancels a timed-out attempt after its deadline: the attempt ends at once (it has
    # no time left), but its call goes on in the background and still meets the tombstone.
    monkeypatch.setattr(shield_module, "CANCELLED_CALL_GRACE", timedelta(seconds=5))
    world = World()
    env = _environment(start_to_close=timedelta(seconds=0.1))
    running = asyncio.ensure_future(env.run(_activity(world, journal, "archive"), CALL))
    await world.entered.wait()
    await asyncio.sleep(0.2)  # past its deadline
    env.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running  # at once: a retry holds the key by now
    await journal.record_compensated(KEY, tool="archive", task_id="task", compensation="x")
    world.write.set()
    assert await asyncio.to_thread(world.written.wait, 5)
    for _ in range(100):  # the background call records, finds the tombstone, undoes
        if not world.effects:
            break
        await asyncio.sleep(0.02)

    assert world.effects == {}


async def test_a_call_that_outlasts_its_grace_is_abandoned_naming_its_key(
    journal: EffectJournal, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(shield_module, "CANCELLED_CALL_GRACE", timedelta(seconds=0.3))
    world = World()
    env = _environment(start_to_close=timedelta(seconds=0.2))  # 0.2 s left when cancelled
    running = asyncio.ensure_future(env.run(_activity(world, journal, "hang"), CALL))
    await world.entered.wait()
    env.cancel()
    cancelled_at = time.monotonic()
    with caplog.at_level(logging.INFO):
        with pytest.raises(asyncio.CancelledError):
            await running
        ended = time.monotonic() - cancelled_at
        assert not world.stopped  # the attempt ends at its deadline ...
        await asyncio.sleep(0.5)  # ... its call is cancelled after the grace

    assert 0.1 < ended < 0.3
    assert world.stopped  # a coroutine stops when abandoned (a thread would not)
    (abandoned,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert f"check key {KEY} by hand" in abandoned.getMessage()
    assert await journal.lookup(KEY) is None


def test_an_attempt_has_until_its_deadline_on_this_workers_clock() -> None:
    env = _environment(start_to_close=timedelta(minutes=5))
    left = env.run(shield_module._time_left, time.monotonic())
    assert 299 < left <= 300
    assert env.run(shield_module._time_left, time.monotonic() - 600) == 0  # timed out
