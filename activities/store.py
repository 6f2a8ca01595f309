"""The store's read-only tools as activities. Each is registered under its tool's name."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from temporalio import activity

from handrail.contracts import ToolCall, ToolOutcome
from handrail.errors import describe_validation_error
from handrail.store.database import StoreDatabase, format_cents
from handrail.store.tools import GET_ORDER, LOOKUP_PRICE, GetOrderArgs, LookupPriceArgs
from handrail.tools import ToolSpec

Args = TypeVar("Args", bound=BaseModel)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def _timed(
    spec: ToolSpec,
    call: ToolCall,
    model: type[Args],
    body: Callable[[Args], Awaitable[ToolOutcome]],
) -> ToolOutcome:
    """Validate the arguments against the tool's schema again (the activity may be called by
    any client, not only the workflow), run ``body`` and stamp the outcome with its latency."""
    started = time.monotonic()
    try:
        arguments = model.model_validate(call.arguments)
    except ValidationError as error:
        problem = describe_validation_error(f"arguments for {spec.name}", error)
        outcome = ToolOutcome(ok=False, error=problem, summary=f"{spec.name}: bad arguments")
    else:
        outcome = await body(arguments)
    return outcome.model_copy(
        update={
            "latency_ms": (time.monotonic() - started) * 1000,
            "attempt": activity.info().attempt,
        }
    )


class StoreActivities:
    """Reads over the store's database, which the worker opens and passes in."""

    def __init__(self, database: StoreDatabase) -> None:
        self._db = database

    @activity.defn(name=LOOKUP_PRICE.name)
    async def lookup_price(self, call: ToolCall) -> ToolOutcome:
        return await _timed(LOOKUP_PRICE, call, LookupPriceArgs, self._lookup_price)

    async def _lookup_price(self, args: LookupPriceArgs) -> ToolOutcome:
        query = args.product.strip()
        rows = await self._db.fetch_all(
            "SELECT sku, name, price_cents, currency FROM products WHERE name = ? COLLATE NOCASE",
            (query,),
        )
        if not rows:
            rows = await self._db.fetch_all(
                "SELECT sku, name, price_cents, currency FROM products "
                "WHERE name LIKE ? ESCAPE '\\' ORDER BY name",
                (f"%{_escape_like(query)}%",),
            )
        if not rows:
            return ToolOutcome(
                ok=False,
                error=f"no product matches {query!r}",
                summary=f"lookup_price {query!r}: not found",
            )
        if len(rows) > 1:
            names = ", ".join(row["name"] for row in rows)
            return ToolOutcome(
                ok=False,
                error=f"{query!r} matches several products: {names}; ask which one",
                summary=f"lookup_price {query!r}: {len(rows)} matches",
            )
        row = rows[0]
        price = format_cents(row["price_cents"])
        result: dict[str, Any] = {
            "sku": row["sku"],
            "name": row["name"],
            "price": price,
            "currency": row["currency"],
        }
        return ToolOutcome(
            ok=True,
            result=result,
            summary=f"lookup_price {row['name']}: {price} {row['currency']}",
        )

    @activity.defn(name=GET_ORDER.name)
    async def get_order(self, call: ToolCall) -> ToolOutcome:
        return await _timed(GET_ORDER, call, GetOrderArgs, self._get_order)

    async def _get_order(self, args: GetOrderArgs) -> ToolOutcome:
        order = await self._db.fetch_one(
            "SELECT id, status, currency, created_at FROM orders WHERE id = ?", (args.order_id,)
        )
        if order is None:
            return ToolOutcome(
                ok=False,
                error=f"no order number {args.order_id}",
                summary=f"get_order {args.order_id}: not found",
            )
        items = await self._db.fetch_all(
            "SELECT p.name, i.quantity, i.unit_price_cents FROM order_items i "
            "JOIN products p ON p.sku = i.sku WHERE i.order_id = ? ORDER BY p.name",
            (args.order_id,),
        )
        total = sum(item["quantity"] * item["unit_price_cents"] for item in items)
        result = {
            "order_id": order["id"],
            "status": order["status"],
            "created_at": order["created_at"],
            "currency": order["currency"],
            "total": format_cents(total),
            "items": [
                {
                    "name": item["name"],
                    "quantity": item["quantity"],
                    "unit_price": format_cents(item["unit_price_cents"]),
                }
                for item in items
            ],
        }
        return ToolOutcome(
            ok=True,
            result=result,
            summary=f"get_order {order['id']}: {order['status']}, "
            f"{format_cents(total)} {order['currency']}",
        )
