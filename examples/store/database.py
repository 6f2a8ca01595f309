"""The store example's database: schema, seed data and a small async query helper.

SQLite by default (``<data_dir>/store.db``), PostgreSQL when ``HANDRAIL_STORE_URL`` says so:
the same SQLAlchemy Core statements on both, through Handrail's public
:class:`handrail.storage.engine.Database` (one worker-thread hop per transaction, pooled
connections). Money is kept in integer cents with an ISO currency code, never as floats. Every
query is a Core expression over the tables below: values travel as bound parameters, and no
SQL is ever assembled from strings.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    CheckConstraint,
    Column,
    Connection,
    ForeignKey,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Select,
    Table,
    Text,
    func,
    select,
)

from handrail.storage.engine import Database

T = TypeVar("T")

STORE_URL_SETTING = "HANDRAIL_STORE_URL"

metadata = MetaData()
products = Table(
    "products",
    metadata,
    Column("sku", Text, primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    Column("price_cents", Integer, CheckConstraint("price_cents >= 0"), nullable=False),
    Column("currency", Text, CheckConstraint("length(currency) = 3"), nullable=False),
)
customers = Table(
    "customers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("name", Text, nullable=False),
    Column("email", Text, nullable=False, unique=True),
)
orders = Table(
    "orders",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("customer_id", Integer, ForeignKey("customers.id"), nullable=False),
    Column("status", Text, nullable=False),
    Column("currency", Text, nullable=False),
    Column("created_at", Text, nullable=False),
)
order_items = Table(
    "order_items",
    metadata,
    Column("order_id", Integer, ForeignKey("orders.id"), nullable=False),
    Column("sku", Text, ForeignKey("products.sku"), nullable=False),
    Column("quantity", Integer, CheckConstraint("quantity > 0"), nullable=False),
    Column("unit_price_cents", Integer, nullable=False),
    PrimaryKeyConstraint("order_id", "sku"),
)


def _credit_table(name: str) -> Table:
    # Adjustments the agent makes. The store settles them later; until then a compensation
    # voids one by deleting its row, so a rolled-back task leaves the tables as they were.
    return Table(
        name,
        metadata,
        Column("id", Integer, primary_key=True),
        Column("order_id", Integer, ForeignKey("orders.id"), nullable=False),
        Column("amount_cents", Integer, CheckConstraint("amount_cents > 0"), nullable=False),
        Column("currency", Text, nullable=False),
        Column("reason", Text, nullable=False),
        Column("task_id", Text, nullable=False),
        Column("idempotency_key", Text, nullable=False, unique=True),
    )


discounts = _credit_table("discounts")
refunds = _credit_table("refunds")
# Emails leave through an outbox that a relay drains: once a row is here it counts as sent.
outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("to_address", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("task_id", Text, nullable=False),
    Column("idempotency_key", Text, nullable=False, unique=True),
)

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


StoreTarget = Path | str | Database
"""Where the store lives: a SQLite file's path, a SQLAlchemy URL, or an open database."""


def store_database(target: StoreTarget) -> Database:
    """The store's database from a path, a URL (``HANDRAIL_STORE_URL``) or itself."""
    if isinstance(target, Database):
        return target
    if isinstance(target, Path):
        return Database.of(target)
    return Database(target, setting=STORE_URL_SETTING)


_CREATE_LOCK = 0x53544F5245  # "STORE": serialises create_store across processes on PostgreSQL

_SEED: Sequence[tuple[Table, Sequence[tuple[Any, ...]]]] = (
    (products, PRODUCTS),
    (customers, CUSTOMERS),
    (orders, ORDERS),
    (order_items, ORDER_ITEMS),
)


def create_store(target: StoreTarget) -> StoreTarget:
    """Create the store's schema and seed it; idempotent, so the demo can call it every time."""
    database = store_database(target)
    with database.sync_engine.begin() as connection:
        if database.dialect == "postgresql":  # workers starting together create it once
            connection.execute(select(func.pg_advisory_xact_lock(_CREATE_LOCK)))
        metadata.create_all(connection)
        for table, rows in _SEED:
            keys = [column.name for column in table.columns]
            insert = database.insert(table).on_conflict_do_nothing()
            connection.execute(insert, [dict(zip(keys, row, strict=True)) for row in rows])
    return target


class StoreDatabase:
    """Async, parameterized reads and write transactions over the store's database."""

    def __init__(self, target: StoreTarget) -> None:
        if isinstance(target, Path) and not target.exists():
            raise FileNotFoundError(f"store database {target} does not exist; call create_store()")
        self.database = store_database(target)

    async def fetch_all(
        self, query: Select[Any], params: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """The rows of one query with its bound ``params``, as dicts."""

        def read(connection: Connection) -> list[dict[str, Any]]:
            return [dict(row) for row in connection.execute(query, dict(params or {})).mappings()]

        return await self.database.run(read)

    async def fetch_one(
        self, query: Select[Any], params: Mapping[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """The first row of one query, as a dict, or ``None`` if it has none."""
        rows = await self.fetch_all(query, params)
        return rows[0] if rows else None

    async def transact(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in one write transaction (committed if it returns, rolled back if it
        raises), in a worker thread. On SQLite it takes the write lock before reading, so two
        attempts of one action cannot both see "not yet applied"; on PostgreSQL ``work`` locks
        the rows it reads to decide (``FOR UPDATE``)."""
        return await self.database.run(work, immediate=True)

    async def aclose(self) -> None:
        await self.database.aclose()


def snapshot(target: StoreTarget) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every store table, sorted: for "exactly as before" comparisons."""
    database = store_database(target)
    with database.sync_engine.connect() as connection:
        return {
            table.name: sorted(tuple(row) for row in connection.execute(select(table)))
            for table in metadata.sorted_tables
        }


def store_effects(target: StoreTarget, task_ids: Sequence[str]) -> dict[str, list[str]]:
    """The discounts, refunds and emails that ``task_ids`` left behind, one line each."""
    effects: dict[str, list[str]] = {}
    database = store_database(target)
    with database.sync_engine.connect() as connection:
        for table in (discounts, refunds):
            rows = connection.execute(
                select(table.c.order_id, table.c.amount_cents, table.c.currency)
                .where(table.c.task_id.in_(task_ids))
                .order_by(table.c.id)
            )
            effects[table.name] = [
                f"order {order}: {format_cents(cents)} {currency}"
                for order, cents, currency in rows
            ]
        emails = connection.execute(
            select(outbox.c.to_address, outbox.c.subject)
            .where(outbox.c.task_id.in_(task_ids))
            .order_by(outbox.c.id)
        )
        effects["outbox"] = [f"{to}: {subject}" for to, subject in emails]
    return effects


def effect_counts(target: StoreTarget) -> dict[str, int]:
    """How many discounts, refunds and emails the store holds, per table."""
    database = store_database(target)
    with database.sync_engine.connect() as connection:
        return {
            table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (discounts, refunds, outbox)
        }
