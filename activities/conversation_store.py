"""The conversation, kept outside workflow history.

Peers pass the whole conversation to every model activity, so their histories grow with the
square of the step count. Here the ``decide`` activity is the only reader and writer of the
messages; the workflow passes a conversation id, a step number and the newest observation.

Rows are keyed ``(conversation_id, step, slot)`` so that every write is idempotent:

- step 0, slot 0 and 1: the system prompt and the user's goal;
- step n ≥ 1, slot 0: the observation that closes step n-1 (a tool result, or a correction);
- step n, slot 2: the assistant's reply at step n.

Inputs are ``INSERT OR IGNORE`` (a retry writes the same thing). The reply is ``INSERT OR REPLACE``:
a retried ``decide`` asks the model again, and the reply the workflow receives must be the one the
conversation keeps. A step reads only the rows before its own reply slot, so a reply left by an
attempt that failed after writing it is never read back.
"""

from __future__ import annotations

import asyncio
import functools
import json
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversation_messages (
    conversation_id TEXT NOT NULL,
    step            INTEGER NOT NULL,
    slot            INTEGER NOT NULL,
    message         TEXT NOT NULL,
    PRIMARY KEY (conversation_id, step, slot)
) WITHOUT ROWID;
"""
SYSTEM_SLOT, GOAL_SLOT, OBSERVATION_SLOT, REPLY_SLOT = 0, 1, 0, 2

Message = dict[str, Any]


class ConversationStore:
    """Messages of every conversation, in one SQLite file.

    One connection, used only by one dedicated thread: opening a connection (and setting WAL)
    per call cost more than the queries themselves, and SQLite has one writer anyway.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="conversations")
        self._connection: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        # Runs on the store's own thread only. WAL lets other processes read beside the writer;
        # the timeout rides out a lock held by another process sharing the file.
        if self._connection is None:
            self._connection = sqlite3.connect(self.path, timeout=30)
            self._connection.execute("PRAGMA journal_mode=WAL")
            self._connection.executescript(_SCHEMA)
        return self._connection

    async def _on_store_thread(self, work: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, work, *args)

    def _write(self, rows: list[tuple[str, int, int, str]], *, replace: bool) -> None:
        verb = "INSERT OR REPLACE" if replace else "INSERT OR IGNORE"
        with self._connect() as connection:  # commits, or rolls back on error
            connection.executemany(f"{verb} INTO conversation_messages VALUES (?, ?, ?, ?)", rows)

    def _read(self, conversation_id: str, step: int) -> list[Message]:
        connection = self._connect()
        rows = connection.execute(
            "SELECT message FROM conversation_messages WHERE conversation_id = ? "
            "AND (step < ? OR (step = ? AND slot < ?)) ORDER BY step, slot",
            (conversation_id, step, step, REPLY_SLOT),
        ).fetchall()
        return [json.loads(row[0]) for row in rows]

    async def add_inputs(
        self, conversation_id: str, step: int, messages: list[tuple[int, Message]]
    ) -> None:
        """Record the messages that open ``step`` (idempotent)."""
        rows = [(conversation_id, step, slot, json.dumps(m)) for slot, m in messages]
        await self._on_store_thread(functools.partial(self._write, rows, replace=False))

    async def set_reply(self, conversation_id: str, step: int, message: Message) -> None:
        """Record the assistant's reply at ``step`` (the latest attempt wins)."""
        rows = [(conversation_id, step, REPLY_SLOT, json.dumps(message))]
        await self._on_store_thread(functools.partial(self._write, rows, replace=True))

    async def messages_before_reply(self, conversation_id: str, step: int) -> list[Message]:
        """Everything the model should see when it decides ``step``."""
        return await self._on_store_thread(self._read, conversation_id, step)
