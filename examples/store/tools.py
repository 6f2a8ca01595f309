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
from typing import Annotated, Any, cast

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import (
    ColumnElement,
    Connection,
    RowMapping,
    ScalarSelect,
    Select,
    Table,
    bindparam,
    delete,
    func,
    insert,
    select,
)

from examples.store.database import (
    StoreDatabase,
    customers,
    discounts,
    format_cents,
    order_items,
    orders,
    outbox,
    products,
    refunds,
)
from handrail import ToolContext, ToolRefused, UndoContext, compensation, tool
from handrail.policy.text_types import PlainText, SingleLine
from handrail.tools import Compensation, Money, Tool, ToolSpec

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
    """``text`` as a LIKE pattern that matches itself only (``%``, ``_`` and ``\\`` literal)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# Every statement is built once, with bound parameters: SQLAlchemy keys its compiled-SQL cache
# on a statement's structure and remembers the key on the statement object, so a statement
# reused costs ~20 µs to run here, one rebuilt per call ~250 µs (measured on SQLite; the price
# of every side-effecting step, paid under load).
_PRICES = select(products.c.sku, products.c.name, products.c.price_cents, products.c.currency)
_PRICE_BY_NAME = _PRICES.where(func.lower(products.c.name) == func.lower(bindparam("name")))
# Not ``icontains(autoescape=True)``: on PostgreSQL that is ILIKE, which folds case by the
# locale's rules, where the exact match folds by lower(); this folds both sides alike.
_PRICES_NAME_CONTAINS = _PRICES.where(
    func.lower(products.c.name).like(func.lower(bindparam("pattern")), escape="\\")
).order_by(products.c.name)


def _sum_for_order(table: Table, amount: ColumnElement[Any]) -> ScalarSelect[Any]:
    """``SUM(amount)`` of ``table``'s rows for the order of the enclosing query (0 if none).
    A correlated subquery per table: joining the tables instead would count each item once per
    refund and each refund once per item."""
    return (
        select(func.coalesce(func.sum(amount), 0))
        .where(table.c.order_id == orders.c.id)
        .scalar_subquery()
    )


def _order_balance() -> Select[Any]:
    """The order ``:order_id``, its customer's email, what was paid and what was credited back
    so far."""
    paid = _sum_for_order(order_items, order_items.c.quantity * order_items.c.unit_price_cents)
    refunded = _sum_for_order(refunds, refunds.c.amount_cents)
    discounted = _sum_for_order(discounts, discounts.c.amount_cents)
    return (
        select(
            orders.c.id,
            orders.c.currency,
            customers.c.email,
            paid.label("total_cents"),
            (refunded + discounted).label("credited_cents"),
        )
        .join_from(orders, customers)
        .where(orders.c.id == bindparam("order_id"))
    )


_ORDER_BALANCE = _order_balance()
_LOCK_ORDER = select(orders.c.id).where(orders.c.id == bindparam("order_id")).with_for_update()
_ORDER = select(orders.c.id, orders.c.status, orders.c.currency, orders.c.created_at).where(
    orders.c.id == bindparam("order_id")
)
_ORDER_ITEMS = (
    select(products.c.name, order_items.c.quantity, order_items.c.unit_price_cents)
    .join_from(order_items, products)
    .where(order_items.c.order_id == bindparam("order_id"))
    .order_by(products.c.name)
)
_BY_KEY = {
    t: select(t).where(t.c.idempotency_key == bindparam("key")) for t in (discounts, refunds)
}
_INSERT = {t: insert(t).returning(*t.c) for t in (discounts, refunds)}
_DELETE_BY_KEY = {
    t: delete(t).where(t.c.idempotency_key == bindparam("key")) for t in (discounts, refunds)
}
_EMAIL_ID = select(outbox.c.id).where(outbox.c.idempotency_key == bindparam("key"))


def _order(connection: Connection, order_id: int, *, lock: bool = False) -> RowMapping | None:
    # PostgreSQL: a credit reads what is still open on the order, then writes; the order's row
    # lock makes concurrent credits on one order take turns (SQLite's BEGIN IMMEDIATE already
    # does, and SQLite has no FOR UPDATE). The lock is a statement of its own, before the read:
    # a read that waited for the lock inside itself would sum the credits of its own snapshot,
    # taken before the other credit committed.
    if lock and connection.dialect.name == "postgresql":
        connection.execute(_LOCK_ORDER, {"order_id": order_id})
    return connection.execute(_ORDER_BALANCE, {"order_id": order_id}).mappings().first()


def _credit_result(table: Table, row: RowMapping) -> dict[str, Any]:
    return {
        f"{table.name.removesuffix('s')}_id": row["id"],
        "order_id": row["order_id"],
        "amount": format_cents(row["amount_cents"]),
        "currency": row["currency"],
    }


def _credit(
    table: Table, args: CreditArgs, ctx: ToolContext
) -> Callable[[Connection], dict[str, Any]]:
    """A discount or refund, as a transaction body: both are credits against what was paid."""

    def work(connection: Connection) -> dict[str, Any]:
        order = _order(connection, args.order_id, lock=True)
        mine = connection.execute(_BY_KEY[table], {"key": ctx.idempotency_key}).mappings().first()
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
            _INSERT[table],
            {
                "order_id": args.order_id,
                "amount_cents": cents,
                "currency": currency,
                "reason": args.reason,
                "task_id": ctx.task_id,
                "idempotency_key": ctx.idempotency_key,
            },
        )
        return _credit_result(table, row.mappings().one())

    return work


def _delete_by_key(table: Table, key: str) -> Callable[[Connection], bool]:
    def work(connection: Connection) -> bool:
        return connection.execute(_DELETE_BY_KEY[table], {"key": key}).rowcount > 0

    return work


def store_tools(db: StoreDatabase) -> list[Tool]:
    """The store's five tools over ``db``."""

    @tool(read_only=True, summary="price of {product}")
    async def lookup_price(args: LookupPriceArgs, ctx: ToolContext) -> dict[str, Any]:
        """Look up a product's current price and currency by its name."""
        query = args.product.strip()
        rows = await db.fetch_all(_PRICE_BY_NAME, {"name": query})
        if not rows:  # a bound pattern, never SQL text; %, _ and \\ in the name match themselves
            pattern = f"%{_escape_like(query)}%"
            rows = await db.fetch_all(_PRICES_NAME_CONTAINS, {"pattern": pattern})
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
        order = await db.fetch_one(_ORDER, {"order_id": args.order_id})
        if order is None:
            raise ToolRefused(f"no order number {args.order_id}")
        items = await db.fetch_all(_ORDER_ITEMS, {"order_id": args.order_id})
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
        result: dict[str, Any] = await db.transact(_credit(discounts, args, ctx))
        return result

    @tool(
        compensated_by="void_refund", amount_field="amount", summary="{amount} on order {order_id}"
    )
    async def issue_refund(args: IssueRefundArgs, ctx: ToolContext) -> dict[str, Any]:
        """Refund part or all of what the customer paid for an order."""
        result: dict[str, Any] = await db.transact(_credit(refunds, args, ctx))
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
            connection.execute(
                db.database.insert(outbox)
                .values(
                    to_address=order["email"],
                    subject=args.subject,
                    body=args.body,
                    task_id=ctx.task_id,
                    idempotency_key=ctx.idempotency_key,
                )
                .on_conflict_do_nothing(index_elements=[outbox.c.idempotency_key])
            )
            email_id = connection.execute(_EMAIL_ID, {"key": ctx.idempotency_key}).scalar_one()
            return {"email_id": email_id, "to": order["email"], "subject": args.subject}

        result: dict[str, Any] = await db.transact(work)
        return result

    return [lookup_price, get_order, apply_discount, issue_refund, send_email]


def store_compensations(db: StoreDatabase) -> list[Compensation]:
    """The undo of each compensated store tool: delete the row its key made, if any."""

    @compensation(undoes="apply_discount")
    async def revoke_discount(ctx: UndoContext) -> bool:
        """Revoke a discount (an unsettled credit: deleting its row leaves no trace)."""
        undone: bool = await db.transact(_delete_by_key(discounts, ctx.idempotency_key))
        return undone

    @compensation(undoes="issue_refund")
    async def void_refund(ctx: UndoContext) -> bool:
        """Void a refund before the store settles it."""
        undone: bool = await db.transact(_delete_by_key(refunds, ctx.idempotency_key))
        return undone

    return [revoke_discount, void_refund]


def _specs_without_a_database() -> list[ToolSpec]:
    # The specs need no database: the functions that would use one are never called here.
    return [declared.spec for declared in store_tools(cast(StoreDatabase, None))]


#: What the model and the policy know of the store's tools (for catalogues and tests).
STORE_TOOL_SPECS: list[ToolSpec] = _specs_without_a_database()
