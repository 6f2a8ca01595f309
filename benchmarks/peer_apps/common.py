"""What every peer shares: its workflow input, its instructions and the tool's work.

The work is Handrail's ``lookup_price`` tool function itself (``examples/store/tools.py``): the
same queries over the store's SQLite file, answering the same fields. Only the wrapping differs:
each peer runs it as its own kind of tool activity and hands the model the result as JSON text.

Imported by workflow code in the sandbox: nothing here does I/O at import time.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from examples.store.database import StoreDatabase
from examples.store.tools import LookupPriceArgs, store_tools
from handrail import ToolContext, ToolRefused
from handrail.tools.declare import ToolFunction

INSTRUCTIONS = "You are an online store's support agent. Use the tools to answer."
MODEL_NAME = "bench-model"
TOOL_DESCRIPTION = "Look up a product's current price and currency by its name."


class PeerTask(BaseModel):
    """A peer workflow's input: the prompt (which carries the scripted model's route marker),
    the number of tool steps scripted (to lift the peer's own turn limit above it) and the
    store's database file."""

    prompt: str
    steps: int
    store_db: str


_DATABASES: dict[str, StoreDatabase] = {}
"""One pooled database per store file for the benchmark's life, as Handrail's worker has."""


def _lookup_price(store_db: str) -> ToolFunction:
    database = _DATABASES.get(store_db)
    if database is None:
        database = _DATABASES[store_db] = StoreDatabase(Path(store_db))
    return next(t for t in store_tools(database) if t.name == "lookup_price").function


async def lookup_price_text(store_db: str, product: str) -> str:
    """Handrail's ``lookup_price`` itself, answered as JSON text (what a peer's tool returns)."""
    context = ToolContext(task_id="peer", step=0, idempotency_key="peer", attempt=1)
    try:
        result = await _lookup_price(store_db)(LookupPriceArgs(product=product), context)
    except ToolRefused as refusal:
        return json.dumps({"error": str(refusal)})
    return json.dumps(result)
