"""The store example's tools, declared through Handrail's public API.

Reads run as they are; discounts and refunds are compensated (``revoke_discount``,
``void_refund``); an email is irreversible, so the workflow sends it at the commit point.

Exactly once, the key path (docs/extending.md): every effect row carries the call's idempotency
key under a UNIQUE constraint, so a retried call that finds its own row returns it instead of
acting again, and a compensation deletes by the key. Handrail's effect journal records each
result, so a retry whose result is recorded never reaches the database at all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, RowMapping, delete, text

from examples.store.database import StoreDatabase, discounts, format_cents, refunds
from handrail import ToolContext, ToolRefused, UndoContext, compensation, tool
from handrail.policy.text_types import PlainText, SingleLine
from handrail.tools import Compensation, Money, Tool, ToolSpec

Credit = Literal["discounts", "refunds"]


# Every number has a bound the databases hold, stated in the schema (``maximum``): the policy
# validates against the schema inside the workflow, so 10**40 is refused before any tool runs
# and the model is told which field, instead of overflowing SQLite's INTEGER on every retry.
# The bound is PostgreSQL's INTEGER (the orders' id column), the smaller of the two backends.
MAX_ORDER_ID = 2**31 - 1
OrderId = Annotated[int, Field(gt=0, le=MAX_ORDER_ID, description="The order number.")]


class LookupPriceArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product: SingleLine = Field(
        min_length=1, max_length=200, description="Product name, as the customer said it."
    )


class GetOrderArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    order_id: OrderId


class CreditArgs(BaseModel):
    """A credit against what the customer paid: the shape shared by discounts and refunds."""

    model_config = ConfigDict(extra="forbid")

    order_id: OrderId
    amount: Money
    reason: PlainText = Field(min_length=1, max_length=500)


class ApplyDiscountArgs(CreditArgs):
    """Arguments of ``apply_discount``."""


class IssueRefundArgs(CreditArgs):
    """Arguments of ``issue_refund``."""


class SendEmailArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    order_id: OrderId = Field(description="The order whose customer receives the email.")
    # The subject becomes a mail header: one line, no control characters (header injection).
    subject: SingleLine = Field(min_length=1, max_length=200)
    body: PlainText = Field(min_length=1, max_length=5000)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


_ORDER = text(
    "SELECT o.id, o.currency, c.email, "
    "  (SELECT COALESCE(SUM(quantity * unit_price_cents), 0) FROM order_items "
    "   WHERE order_id = o.id) AS total_cents, "
    "  (SELECT COALESCE(SUM(amount_cents), 0) FROM refunds WHERE order_id = o.id) "
    "  + (SELECT COALESCE(SUM(amount_cents), 0) FROM discounts WHERE order_id = o.id) "
    "  AS credited_cents "
    "FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.id = :order_id"
)
# PostgreSQL: a credit reads what is still open on the order, then writes; the order's row lock
# makes concurrent credits on one order take turns (SQLite's BEGIN IMMEDIATE already does).
_LOCK_ORDER = text("SELECT id FROM orders WHERE id = :order_id FOR UPDATE")


def _order(connection: Connection, order_id: int, *, lock: bool = False) -> RowMapping | None:
    if lock and connection.dialect.name == "postgresql":
        connection.execute(_LOCK_ORDER, {"order_id": order_id})
    return connection.execute(_ORDER, {"order_id": order_id}).mappings().first()


def _credit_result(table: Credit, row: RowMapping) -> dict[str, Any]:
    return {
        f"{table.removesuffix('s')}_id": row["id"],
        "order_id": row["order_id"],
        "amount": format_cents(row["amount_cents"]),
        "currency": row["currency"],
    }


def _credit(
    table: Credit, args: CreditArgs, ctx: ToolContext
) -> Callable[[Connection], dict[str, Any]]:
    """A discount or refund, as a transaction body: both are credits against what was paid."""
    # Table names are the two constants of ``Credit``, never input.
    by_key = text(f"SELECT * FROM {table} WHERE idempotency_key = :key")
    insert = text(
        f"INSERT INTO {table} (order_id, amount_cents, currency, reason, task_id,"
        " idempotency_key) VALUES (:order_id, :cents, :currency, :reason, :task_id, :key)"
        " RETURNING *"
    )

    def work(connection: Connection) -> dict[str, Any]:
        order = _order(connection, args.order_id, lock=True)
        mine = connection.execute(by_key, {"key": ctx.idempotency_key}).mappings().first()
        if mine is not None:  # an earlier attempt took effect: return what it did
            return _credit_result(table, mine)
        if order is None:
            raise ToolRefused(f"no order number {args.order_id}")
        cents = int((args.amount * 100).to_integral_value())
        open_cents = order["total_cents"] - order["credited_cents"]
        currency = order["currency"]
        if cents > open_cents:
            raise ToolRefused(
                f"{format_cents(cents)} {currency} exceeds the {format_cents(open_cents)} "
                f"{currency} still open on order {args.order_id}"
            )
        row = connection.execute(
            insert,
            {
                "order_id": args.order_id,
                "cents": cents,
                "currency": currency,
                "reason": args.reason,
                "task_id": ctx.task_id,
                "key": ctx.idempotency_key,
            },
        )
        return _credit_result(table, row.mappings().one())

    return work


def _delete_by_key(table: Credit, key: str) -> Callable[[Connection], bool]:
    target = discounts if table == "discounts" else refunds

    def work(connection: Connection) -> bool:
        return (
            connection.execute(delete(target).where(target.c.idempotency_key == key)).rowcount > 0
        )

    return work


def store_tools(db: StoreDatabase) -> list[Tool]:
    """The store's five tools over ``db``."""

    @tool(read_only=True, summary="price of {product}")
    async def lookup_price(args: LookupPriceArgs, ctx: ToolContext) -> dict[str, Any]:
        """Look up a product's current price and currency by its name."""
        query = args.product.strip()
        sql = "SELECT sku, name, price_cents, currency FROM products WHERE "
        rows = await db.fetch_all(sql + "lower(name) = lower(:name)", {"name": query})
        if not rows:
            like = f"%{_escape_like(query)}%"
            rows = await db.fetch_all(
                sql + "lower(name) LIKE lower(:like) ESCAPE '\\' ORDER BY name", {"like": like}
            )
        if not rows:
            raise ToolRefused(f"no product matches {query!r}")
        if len(rows) > 1:
            names = ", ".join(row["name"] for row in rows)
            raise ToolRefused(f"{query!r} matches several products: {names}; ask which one")
        row = rows[0]
        price = format_cents(row["price_cents"])
        return {"sku": row["sku"], "name": row["name"], "price": price, "currency": row["currency"]}

    @tool(read_only=True, summary="order {order_id}")
    async def get_order(args: GetOrderArgs, ctx: ToolContext) -> dict[str, Any]:
        """Look up an order by its number: status, items and total."""
        order = await db.fetch_one(
            "SELECT id, status, currency, created_at FROM orders WHERE id = :order_id",
            {"order_id": args.order_id},
        )
        if order is None:
            raise ToolRefused(f"no order number {args.order_id}")
        items = await db.fetch_all(
            "SELECT p.name, i.quantity, i.unit_price_cents FROM order_items i "
            "JOIN products p ON p.sku = i.sku WHERE i.order_id = :order_id ORDER BY p.name",
            {"order_id": args.order_id},
        )
        total = sum(item["quantity"] * item["unit_price_cents"] for item in items)
        return {
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

    @tool(
        compensated_by="revoke_discount",
        amount_field="amount",
        summary="{amount} off order {order_id}",
    )
    async def apply_discount(args: ApplyDiscountArgs, ctx: ToolContext) -> dict[str, Any]:
        """Grant a discount on an order, as a credit in the order's currency."""
        result: dict[str, Any] = await db.transact(_credit("discounts", args, ctx))
        return result

    @tool(
        compensated_by="void_refund", amount_field="amount", summary="{amount} on order {order_id}"
    )
    async def issue_refund(args: IssueRefundArgs, ctx: ToolContext) -> dict[str, Any]:
        """Refund part or all of what the customer paid for an order."""
        result: dict[str, Any] = await db.transact(_credit("refunds", args, ctx))
        return result

    @tool(
        irreversible=True,
        # The body is free text about a customer: kept out of traces, logs and exports.
        sensitive=("body",),
        summary="to the customer of order {order_id}: {subject}",
    )
    async def send_email(args: SendEmailArgs, ctx: ToolContext) -> dict[str, Any]:
        """Email the customer of an order. Cannot be unsent: it goes out when the task
        completes successfully."""

        def work(connection: Connection) -> dict[str, Any]:
            order = _order(connection, args.order_id)
            if order is None:
                raise ToolRefused(f"no order number {args.order_id}")
            # An outbox that a relay drains: once a row is here it counts as sent, so the key's
            # UNIQUE constraint is what keeps a retried call from sending twice.
            key = {"key": ctx.idempotency_key}
            connection.execute(
                text(
                    "INSERT INTO outbox (to_address, subject, body, task_id, idempotency_key)"
                    " VALUES (:to, :subject, :body, :task_id, :key)"
                    " ON CONFLICT (idempotency_key) DO NOTHING"
                ),
                {
                    "to": order["email"],
                    "subject": args.subject,
                    "body": args.body,
                    "task_id": ctx.task_id,
                    **key,
                },
            )
            email_id = connection.execute(
                text("SELECT id FROM outbox WHERE idempotency_key = :key"), key
            ).scalar_one()
            return {"email_id": email_id, "to": order["email"], "subject": args.subject}

        result: dict[str, Any] = await db.transact(work)
        return result

    return [lookup_price, get_order, apply_discount, issue_refund, send_email]


def store_compensations(db: StoreDatabase) -> list[Compensation]:
    """The undo of each compensated store tool: delete the row its key made, if any."""

    @compensation(undoes="apply_discount")
    async def revoke_discount(ctx: UndoContext) -> bool:
        """Revoke a discount (an unsettled credit: deleting its row leaves no trace)."""
        undone: bool = await db.transact(_delete_by_key("discounts", ctx.idempotency_key))
        return undone

    @compensation(undoes="issue_refund")
    async def void_refund(ctx: UndoContext) -> bool:
        """Void a refund before the store settles it."""
        undone: bool = await db.transact(_delete_by_key("refunds", ctx.idempotency_key))
        return undone

    return [revoke_discount, void_refund]


def _specs_without_a_database() -> list[ToolSpec]:
    # The specs need no database: the functions that would use one are never called here.
    return [declared.spec for declared in store_tools(cast(StoreDatabase, None))]


#: What the model and the policy know of the store's tools (for catalogues and tests).
STORE_TOOL_SPECS: list[ToolSpec] = _specs_without_a_database()
