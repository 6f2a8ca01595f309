"""The conversation store on both backends (SQLite file, PostgreSQL): inputs written once,
the reply's latest attempt wins, a step reads only what comes before its own reply."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from handrail.storage.conversations import GOAL_SLOT, SYSTEM_SLOT, ConversationStore
from handrail.storage.engine import StateDatabase


@pytest_asyncio.fixture
async def store(state_url: str) -> AsyncIterator[ConversationStore]:
    opened = ConversationStore(StateDatabase(state_url))
    try:
        yield opened
    finally:
        await opened.aclose()


def said(text: str, role: str = "user") -> dict[str, str]:
    return {"role": role, "content": text}


async def test_inputs_are_written_once_and_replies_replaced(store: ConversationStore) -> None:
    opening = [(SYSTEM_SLOT, said("Be brief.", "system")), (GOAL_SLOT, said("Price?"))]
    await store.add_inputs("c/1", 0, opening)
    await store.add_inputs("c/1", 0, [(SYSTEM_SLOT, said("other", "system"))])  # a retry
    assert await store.messages_before_reply("c/1", 0) == [m for _, m in opening]

    await store.set_reply("c/1", 0, said("first attempt", "assistant"))
    await store.set_reply("c/1", 0, said("second attempt", "assistant"))  # the latest wins
    await store.add_inputs("c/1", 1, [(0, said("tool said 12.50", "tool"))])
    assert await store.messages_before_reply("c/1", 1) == [
        said("Be brief.", "system"),
        said("Price?"),
        said("second attempt", "assistant"),
        said("tool said 12.50", "tool"),
    ]


async def test_a_step_never_reads_its_own_reply(store: ConversationStore) -> None:
    await store.add_inputs("c/2", 0, [(SYSTEM_SLOT, said("s", "system")), (GOAL_SLOT, said("g"))])
    await store.set_reply("c/2", 0, said("left by an attempt that failed", "assistant"))
    assert await store.messages_before_reply("c/2", 0) == [said("s", "system"), said("g")]
    assert await store.messages_before_reply("other/conversation", 0) == []
    await store.add_inputs("c/2", 1, [])  # nothing to add is nothing written


async def test_conversations_are_kept_apart_and_unicode_survives(
    store: ConversationStore,
) -> None:
    await store.add_inputs("a", 0, [(GOAL_SLOT, said("Grüße, 東京 🚀"))])
    await store.add_inputs("b", 0, [(GOAL_SLOT, said("b"))])
    assert await store.messages_before_reply("a", 0) == [said("Grüße, 東京 🚀")]
    assert await store.messages_before_reply("b", 0) == [said("b")]
