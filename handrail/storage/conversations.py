"""The conversation, kept outside workflow history.

Peers pass the whole conversation to every model activity, so their histories grow with the
square of the step count. Here the ``decide`` activity is the only reader and writer of the
messages; the workflow passes a conversation id, a step number and the newest observation.

Rows are keyed ``(conversation_id, step, slot)`` so that every write is idempotent:

- step 0, slot 0 and 1: the system prompt and the user's goal;
- step n ≥ 1, slot 0: the observation that closes step n-1 (a tool result, or a correction);
- step n, slot 2: the assistant's reply at step n.

Inputs are ``INSERT ... ON CONFLICT DO NOTHING`` (a retry writes the same thing). The reply is an
upsert (``ON CONFLICT DO UPDATE``): a retried ``decide`` asks the model again, and the reply the
workflow receives must be the one the conversation keeps. A step reads only the rows before its
own reply slot, so a reply left by an attempt that failed after writing it is never read back.

The rows live in Handrail's state database (``handrail.storage``: a SQLite file by default,
PostgreSQL by ``HANDRAIL_STATE_URL``), reached through its pooled async engine.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, and_, or_, select

from handrail.storage.engine import StateDatabase
from handrail.storage.schema import conversation_messages as table

SYSTEM_SLOT, GOAL_SLOT, OBSERVATION_SLOT, REPLY_SLOT = 0, 1, 0, 2

Message = dict[str, Any]


class ConversationStore:
    """Messages of every conversation, in Handrail's state database.

    ``state`` is a :class:`StateDatabase`, its URL, or a SQLite file's path. The schema is
    brought up to date on first use; :meth:`aclose` closes the pooled connections.
    """

    def __init__(self, state: str | Path | StateDatabase) -> None:
        self.database = StateDatabase.of(state)

    async def aclose(self) -> None:
        await self.database.aclose()

    async def _write(self, rows: list[dict[str, Any]], *, replace: bool) -> None:
        await self.database.ready()
        statement = self.database.insert(table)
        keys = [table.c.conversation_id, table.c.step, table.c.slot]
        if replace:
            statement = statement.on_conflict_do_update(
                index_elements=keys, set_={"message": statement.excluded.message}
            )
        else:
            statement = statement.on_conflict_do_nothing(index_elements=keys)
        await self.database.run(
            lambda connection: connection.execute(statement, rows), immediate=True
        )

    async def add_inputs(
        self, conversation_id: str, step: int, messages: list[tuple[int, Message]]
    ) -> None:
        """Record the messages that open ``step`` (idempotent)."""
        rows = [
            {
                "conversation_id": conversation_id,
                "step": step,
                "slot": slot,
                "message": json.dumps(m),
            }
            for slot, m in messages
        ]
        if rows:
            await self._write(rows, replace=False)

    async def set_reply(self, conversation_id: str, step: int, message: Message) -> None:
        """Record the assistant's reply at ``step`` (the latest attempt wins)."""
        row = {
            "conversation_id": conversation_id,
            "step": step,
            "slot": REPLY_SLOT,
            "message": json.dumps(message),
        }
        await self._write([row], replace=True)

    async def messages_before_reply(
        self, conversation_id: str, step: int, *, window: int | None = None
    ) -> list[Message]:
        """What the model should see when it decides ``step``: the opening (system prompt and
        goal) and, with ``window``, only the newest ``window`` steps' replies and observations
        (every observation kept with the reply it answers), so that a long task neither
        outgrows the model's context nor reads its whole conversation at every step."""
        await self.database.ready()
        first = 0 if window is None else max(0, step - window)
        shown = or_(
            and_(table.c.step == 0, table.c.slot < REPLY_SLOT),  # the opening
            and_(table.c.step >= first, table.c.step < step, table.c.slot == REPLY_SLOT),
            and_(table.c.step > first, table.c.step <= step, table.c.slot == OBSERVATION_SLOT),
        )
        query = (
            select(table.c.message)
            .where(table.c.conversation_id == conversation_id, shown)
            .order_by(table.c.step, table.c.slot)
        )

        def read(connection: Connection) -> list[Message]:
            return [json.loads(message) for (message,) in connection.execute(query)]

        return await self.database.run(read)
