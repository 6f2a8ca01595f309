"""The effect journal on both backends (SQLite file, PostgreSQL): idempotent records,
tombstones, a record after its tombstone, and concurrent writers of one key."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest_asyncio

from handrail.storage.engine import StateDatabase
from handrail.storage.journal import EffectJournal


@pytest_asyncio.fixture
async def journal(state_url: str) -> AsyncIterator[EffectJournal]:
    opened = EffectJournal(StateDatabase(state_url))
    try:
        yield opened
    finally:
        await opened.aclose()


async def test_an_applied_record_is_written_once(journal: EffectJournal) -> None:
    assert await journal.lookup("t/r/1") is None
    assert await journal.record_applied("t/r/1", tool="issue_refund", task_id="t", result={"n": 1})
    # A retried attempt records again: accepted, and the first result stays.
    assert await journal.record_applied("t/r/1", tool="issue_refund", task_id="t", result={"n": 2})
    entry = await journal.lookup("t/r/1")
    assert entry is not None
    assert entry.result == {"n": 1}
    assert entry.applied
    assert not entry.compensated
    assert [e.idempotency_key for e in await journal.entries("t")] == ["t/r/1"]


async def test_a_tombstone_refuses_a_late_record(journal: EffectJournal) -> None:
    await journal.record_compensated("t/r/2", tool="issue_refund", task_id="t", compensation="v")
    tombstone = await journal.lookup("t/r/2")
    assert tombstone is not None
    assert tombstone.compensated
    assert not tombstone.applied
    # The action's attempt that was still in flight: told its undo came first.
    late = await journal.record_applied("t/r/2", tool="issue_refund", task_id="t", result={})
    assert late is False
    after = await journal.lookup("t/r/2")
    assert after == tombstone  # unchanged: no result slipped in after the undo


async def test_an_undo_is_recorded_once(journal: EffectJournal) -> None:
    await journal.record_applied("t/r/3", tool="apply_discount", task_id="t", result={"d": 5})
    await journal.record_compensated("t/r/3", tool="apply_discount", task_id="t", compensation="a")
    first = await journal.lookup("t/r/3")
    await journal.record_compensated("t/r/3", tool="apply_discount", task_id="t", compensation="b")
    again = await journal.lookup("t/r/3")
    assert first is not None
    assert again == first
    assert again.compensation == "a"
    assert again.result == {"d": 5}
    assert again.applied
    # A late record after the undo: refused (its effect must be undone), the row unchanged.
    late = await journal.record_applied("t/r/3", tool="apply_discount", task_id="t", result={})
    assert late is False
    assert await journal.lookup("t/r/3") == first


async def test_concurrent_record_and_tombstone_agree(journal: EffectJournal) -> None:
    # Many keys, each raced by an action's record and its compensation's tombstone: whoever
    # wins, the answer the action gets matches the row that stays.
    keys = [f"race/r/{n}" for n in range(20)]

    async def race(key: str) -> tuple[bool, None]:
        return await asyncio.gather(
            journal.record_applied(key, tool="x", task_id="race", result={"k": key}),
            journal.record_compensated(key, tool="x", task_id="race", compensation="y"),
        )

    outcomes = await asyncio.gather(*(race(key) for key in keys))
    for key, (recorded, _) in zip(keys, outcomes, strict=True):
        entry = await journal.lookup(key)
        assert entry is not None
        assert entry.compensated
        assert recorded == entry.applied  # False only when the tombstone came first
    assert len(await journal.entries("race")) == len(keys)
