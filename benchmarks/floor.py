"""The floor: a bare Temporal workflow doing the same work per step as a Handrail agent step —
one model call to the same scripted Chat Completions server, then one tool (a SQLite read, or a
write for side-effecting steps) — with no policy, trace, conversation store or saga.

Both calls are regular activities, as in the issue's definition of the floor; everything else
(server, worker, model server, machine) is shared with the Handrail run it is compared to.
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openai import AsyncOpenAI
from openai.types.chat import ChatCompletionFunctionToolParam
from temporalio import activity
from temporalio.client import Client
from temporalio.worker import Worker

from benchmarks.floor_workflow import FloorCall, FloorWorkflow

_TOOL: ChatCompletionFunctionToolParam = {
    "type": "function",
    "function": {
        "name": "lookup_price",
        "parameters": {
            "type": "object",
            "properties": {"product": {"type": "string"}},
            "required": ["product"],
        },
    },
}


@dataclass
class FloorActivities:
    model: AsyncOpenAI
    store: Path

    @activity.defn(name="floor_model")
    async def floor_model(self, call: FloorCall) -> str:
        completion = await self.model.chat.completions.create(
            model="floor",
            messages=[{"role": "user", "content": f"{call.marker} step {call.step}"}],
            tools=[_TOOL],
            tool_choice="required",
        )
        return completion.choices[0].finish_reason or ""

    def _read(self) -> str:
        with sqlite3.connect(self.store) as db:
            row = db.execute(
                "SELECT price_cents FROM products WHERE name = ? COLLATE NOCASE", ("Headlamp",)
            ).fetchone()
        return str(row[0])

    def _write(self, call: FloorCall) -> str:
        with sqlite3.connect(self.store) as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS floor_effects (marker TEXT, step INTEGER, at REAL)"
            )
            db.execute(
                "INSERT INTO floor_effects VALUES (?, ?, julianday('now'))",
                (call.marker, call.step),
            )
        return "ok"

    # In a worker thread, as Handrail's store activities do, so both pay the same.
    @activity.defn(name="floor_read")
    async def floor_read(self, call: FloorCall) -> str:
        return await asyncio.to_thread(self._read)

    @activity.defn(name="floor_write")
    async def floor_write(self, call: FloorCall) -> str:
        return await asyncio.to_thread(self._write, call)


def floor_worker(
    client: Client, task_queue: str, activities: FloorActivities, **options: Any
) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[FloorWorkflow],
        activities=[activities.floor_model, activities.floor_read, activities.floor_write],
        **options,
    )
