"""What every peer shares: its workflow input, its instructions and the tool's work.

The work is Handrail's ``lookup_price`` (``activities/store.py``): the same two queries over the
store's SQLite file through ``StoreDatabase`` (exact name, then a ``LIKE`` match), in a worker
thread, answering the same fields. Only the wrapping differs: each peer runs it as its own kind
of tool activity and hands the model the result as JSON text.

Imported by workflow code in the sandbox: nothing here does I/O at import time.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from handrail.store.database import StoreDatabase, format_cents

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


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def lookup_price_text(store_db: str, product: str) -> str:
    """Handrail's ``lookup_price`` work, answered as JSON text (what a peer's tool returns)."""
    database = StoreDatabase(Path(store_db))
    query = product.strip()
    columns = "SELECT sku, name, price_cents, currency FROM products"
    rows = await database.fetch_all(f"{columns} WHERE name = ? COLLATE NOCASE", (query,))
    if not rows:
        rows = await database.fetch_all(
            f"{columns} WHERE name LIKE ? ESCAPE '\\' ORDER BY name",
            (f"%{_escape_like(query)}%",),
        )
    if len(rows) != 1:
        found = ", ".join(row["name"] for row in rows) or "nothing"
        return json.dumps({"error": f"{query!r} matches {found}"})
    row = rows[0]
    return json.dumps(
        {
            "sku": row["sku"],
            "name": row["name"],
            "price": format_cents(row["price_cents"]),
            "currency": row["currency"],
        }
    )
