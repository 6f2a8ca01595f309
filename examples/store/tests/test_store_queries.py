"""What each store tool's queries answer, on SQLite and on PostgreSQL: names matched literally
(``%``, ``_`` and ``\\`` are no wildcards), an order's items and total, the balance a credit is
checked against (refunds and discounts both count), and one email per idempotency key."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import insert

from examples.store.database import StoreDatabase, create_store, products, snapshot
from examples.store.tools import (
    ApplyDiscountArgs,
    GetOrderArgs,
    IssueRefundArgs,
    LookupPriceArgs,
    SendEmailArgs,
    store_compensations,
    store_tools,
)
from handrail import ToolContext, ToolRefused, UndoContext
from handrail.storage.engine import Database

# Names whose characters are LIKE's wildcards and its escape character.
ODD_NAMES = (
    ("CAP-100", "Cap 100% Wool", 1500, "EUR"),
    ("DUCT", "Duct_Tape", 650, "EUR"),
    ("ROPE", "Rope 5\\8", 990, "USD"),
)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest_asyncio.fixture
async def db(store_url: str) -> AsyncIterator[StoreDatabase]:
    create_store(store_url)
    database = StoreDatabase(store_url)
    try:
        yield database
    finally:
        await database.aclose()


async def call(db: StoreDatabase, name: str, args: Any, key: str = "k") -> dict[str, Any]:
    function = next(t for t in store_tools(db) if t.name == name).function
    return dict(
        await function(args, ToolContext(task_id="t", step=1, idempotency_key=key, attempt=1))
    )


async def undo(db: StoreDatabase, name: str, key: str) -> bool:
    function = next(c for c in store_compensations(db) if c.name == name).function
    return await function(UndoContext(task_id="t", tool="", idempotency_key=key, recorded=None))


async def test_a_name_with_wildcards_is_matched_literally(
    db: StoreDatabase, store_url: str
) -> None:
    with Database.of(store_url).sync_engine.begin() as connection:
        keys = [column.name for column in products.columns]
        connection.execute(
            insert(products), [dict(zip(keys, row, strict=True)) for row in ODD_NAMES]
        )
    found = {
        query: (await call(db, "lookup_price", LookupPriceArgs(product=query)))["sku"]
        for query in ("%", "_", "\\", "cap 100% WOOL", "t_t")
    }
    assert found == {
        "%": "CAP-100",
        "_": "DUCT",
        "\\": "ROPE",
        "cap 100% WOOL": "CAP-100",
        "t_t": "DUCT",
    }
    # Read as wildcards, "%" and "_" would match every product, and "T_PE" "Duct_Tape".
    with pytest.raises(ToolRefused, match=r"^no product matches 'T_PE'$"):
        await call(db, "lookup_price", LookupPriceArgs(product="T_PE"))
    with pytest.raises(ToolRefused, match="matches several products: Cap 100% Wool, Wool Socks;"):
        await call(db, "lookup_price", LookupPriceArgs(product="wOOl"))


async def test_an_order_lists_its_items_by_name_with_their_total(db: StoreDatabase) -> None:
    assert await call(db, "get_order", GetOrderArgs(order_id=1003)) == {
        "order_id": 1003,
        "status": "delivered",
        "created_at": "2026-10-21T08:05:00Z",
        "currency": "USD",
        "total": "308.95",
        "items": [
            {"name": "Camping Stove", "quantity": 1, "unit_price": "59.95"},
            {"name": "Two-Person Tent", "quantity": 1, "unit_price": "249.00"},
        ],
    }
    with pytest.raises(ToolRefused, match=r"^no order number 4242$"):
        await call(db, "get_order", GetOrderArgs(order_id=4242))


async def test_refunds_and_discounts_both_count_against_what_was_paid(db: StoreDatabase) -> None:
    # Order 1001 was paid 104.49 EUR.
    discount = ApplyDiscountArgs(order_id=1001, amount=Decimal("100.00"), reason="loyal")
    refund = IssueRefundArgs(order_id=1001, amount=Decimal("5.00"), reason="late")
    granted = await call(db, "apply_discount", discount, key="d")
    assert granted == {
        "discount_id": granted["discount_id"],
        "order_id": 1001,
        "amount": "100.00",
        "currency": "EUR",
    }
    with pytest.raises(ToolRefused, match=r"^5.00 EUR exceeds the 4.49 EUR still open on order"):
        await call(db, "issue_refund", refund, key="r")
    assert await undo(db, "revoke_discount", "d") is True
    assert await undo(db, "revoke_discount", "d") is False  # nothing left to undo
    refunded = await call(db, "issue_refund", refund, key="r")
    assert refunded == {"refund_id": refunded["refund_id"], "order_id": 1001} | {
        "amount": "5.00",
        "currency": "EUR",
    }
    assert await call(db, "issue_refund", refund, key="r") == refunded  # a retry: no new row
    with pytest.raises(ToolRefused, match=r"^no order number 4242$"):
        await call(db, "issue_refund", refund.model_copy(update={"order_id": 4242}), key="x")


async def test_one_email_per_key_to_the_orders_customer(db: StoreDatabase, store_url: str) -> None:
    email = SendEmailArgs(order_id=1002, subject="Your refund", body="On its way.")
    sent = await call(db, "send_email", email, key="e")
    assert sent == {
        "email_id": sent["email_id"],
        "to": "alan@example.com",
        "subject": "Your refund",
    }
    assert await call(db, "send_email", email, key="e") == sent
    with pytest.raises(ToolRefused, match=r"^no order number 4242$"):
        await call(db, "send_email", email.model_copy(update={"order_id": 4242}), key="x")
    outbox = snapshot(store_url)["outbox"]
    assert outbox == [
        (sent["email_id"], "alan@example.com", "Your refund", "On its way.", "t", "e")
    ]
