"""The store's SQLite database: schema, seed data and a small async query helper.

Money is kept in integer cents with an ISO currency code, never as floats. Every query is
parameterized. A connection is opened per call inside a worker thread: SQLite connections are
cheap, are bound to the thread that opened them, and this keeps the event loop free.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS products (
    sku         TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    price_cents INTEGER NOT NULL CHECK (price_cents >= 0),
    currency    TEXT NOT NULL CHECK (length(currency) = 3)
);
CREATE TABLE IF NOT EXISTS customers (
    id    INTEGER PRIMARY KEY,
    name  TEXT NOT NULL,
    email TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS orders (
    id          INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    status      TEXT NOT NULL,
    currency    TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS order_items (
    order_id         INTEGER NOT NULL REFERENCES orders(id),
    sku              TEXT NOT NULL REFERENCES products(sku),
    quantity         INTEGER NOT NULL CHECK (quantity > 0),
    unit_price_cents INTEGER NOT NULL,
    PRIMARY KEY (order_id, sku)
);

-- Adjustments the agent makes. The store settles them later; until then a compensation voids
-- one by deleting its row, so a rolled-back task leaves these tables exactly as they were.
CREATE TABLE IF NOT EXISTS discounts (
    id              INTEGER PRIMARY KEY,
    order_id        INTEGER NOT NULL REFERENCES orders(id),
    amount_cents    INTEGER NOT NULL CHECK (amount_cents > 0),
    currency        TEXT NOT NULL,
    reason          TEXT NOT NULL,
    task_id         TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS refunds (
    id              INTEGER PRIMARY KEY,
    order_id        INTEGER NOT NULL REFERENCES orders(id),
    amount_cents    INTEGER NOT NULL CHECK (amount_cents > 0),
    currency        TEXT NOT NULL,
    reason          TEXT NOT NULL,
    task_id         TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE
);
-- Emails leave through an outbox that a relay drains: once a row is here it counts as sent.
CREATE TABLE IF NOT EXISTS outbox (
    id              INTEGER PRIMARY KEY,
    to_address      TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    task_id         TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE
);
"""

#: Tables that hold an audit of effects rather than the store's state (none since the effect
#: journal moved to Handrail's own state store; kept for callers that pass ``exclude``).
AUDIT_TABLES: frozenset[str] = frozenset()

PRODUCTS: Sequence[tuple[str, str, int, str]] = (
    ("TRAIL-RUN", "Trail Runner Shoes", 8999, "EUR"),
    ("RAIN-JKT", "Rain Jacket", 12900, "EUR"),
    ("WOOL-SOCK", "Wool Socks", 1450, "EUR"),
    ("HEADLAMP", "Headlamp", 2400, "EUR"),
    ("BOTTLE-1L", "Water Bottle", 1800, "EUR"),
    ("STOVE-2", "Camping Stove", 5995, "USD"),
    ("TENT-2P", "Two-Person Tent", 24900, "USD"),
    ("BACKPACK-40", "Backpack 40L", 11000, "GBP"),
)
CUSTOMERS: Sequence[tuple[int, str, str]] = (
    (1, "Ada Lovelace", "ada@example.com"),
    (2, "Alan Turing", "alan@example.com"),
    (3, "Grace Hopper", "grace@example.com"),
)
ORDERS: Sequence[tuple[int, int, str, str, str]] = (
    (1001, 1, "shipped", "EUR", "2026-11-02T10:15:00Z"),
    (1002, 2, "processing", "EUR", "2026-11-18T16:40:00Z"),
    (1003, 3, "delivered", "USD", "2026-10-21T08:05:00Z"),
)
ORDER_ITEMS: Sequence[tuple[int, str, int, int]] = (
    (1001, "TRAIL-RUN", 1, 8999),
    (1001, "WOOL-SOCK", 1, 1450),
    (1002, "RAIN-JKT", 1, 12900),
    (1003, "STOVE-2", 1, 5995),
    (1003, "TENT-2P", 1, 24900),
)


def format_cents(cents: int) -> str:
    """``8999`` → ``"89.99"``: exact decimal text, the form tools hand to the model."""
    return str((Decimal(cents) / 100).quantize(Decimal("0.01")))


def create_store(path: Path) -> Path:
    """Create the store's schema and seed it; idempotent, so the demo can call it every time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as connection:
        connection.executescript(SCHEMA)
        connection.executemany("INSERT OR IGNORE INTO products VALUES (?, ?, ?, ?)", PRODUCTS)
        connection.executemany("INSERT OR IGNORE INTO customers VALUES (?, ?, ?)", CUSTOMERS)
        connection.executemany("INSERT OR IGNORE INTO orders VALUES (?, ?, ?, ?, ?)", ORDERS)
        connection.executemany("INSERT OR IGNORE INTO order_items VALUES (?, ?, ?, ?)", ORDER_ITEMS)
    return path


class StoreDatabase:
    """Async, parameterized reads over the store's database file."""

    def __init__(self, path: Path) -> None:
        if not path.exists():
            raise FileNotFoundError(f"store database {path} does not exist; call create_store()")
        self.path = path

    def _fetch(self, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        with sqlite3.connect(self.path) as connection:
            connection.row_factory = sqlite3.Row
            return [dict(row) for row in connection.execute(sql, params).fetchall()]

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return await asyncio.to_thread(self._fetch, sql, params)

    async def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        rows = await self.fetch_all(sql, params)
        return rows[0] if rows else None

    def _transact(self, work: Callable[[sqlite3.Connection], T]) -> T:
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves, taking the write lock
        # before reading, so two attempts of one action cannot both see "not yet applied".
        connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        connection.row_factory = sqlite3.Row
        try:
            connection.execute("BEGIN IMMEDIATE")
            try:
                result = work(connection)
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
            return result
        finally:
            connection.close()

    async def transact(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` in one write transaction (committed if it returns, rolled back if it
        raises), in a worker thread."""
        return await asyncio.to_thread(self._transact, work)


def snapshot(
    path: Path, *, exclude: frozenset[str] = AUDIT_TABLES
) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table but ``exclude``, sorted: for "exactly as before" comparisons."""
    with sqlite3.connect(path) as connection:
        tables = [
            row[0]
            for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        return {
            table: sorted(connection.execute(f'SELECT * FROM "{table}"').fetchall())
            for table in tables
            if table not in exclude
        }


def store_effects(path: Path, task_ids: Sequence[str]) -> dict[str, list[str]]:
    """The discounts, refunds and emails that ``task_ids`` left behind, one line each."""
    marks = ", ".join("?" * len(task_ids))
    effects: dict[str, list[str]] = {}
    with sqlite3.connect(path) as connection:
        for table in ("discounts", "refunds"):
            effects[table] = [
                f"order {order}: {format_cents(cents)} {currency}"
                for order, cents, currency in connection.execute(
                    f"SELECT order_id, amount_cents, currency FROM {table} "
                    f"WHERE task_id IN ({marks}) ORDER BY id",
                    tuple(task_ids),
                )
            ]
        effects["outbox"] = [
            f"{to}: {subject}"
            for to, subject in connection.execute(
                f"SELECT to_address, subject FROM outbox WHERE task_id IN ({marks}) ORDER BY id",
                tuple(task_ids),
            )
        ]
    return effects
