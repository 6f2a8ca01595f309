"""The store's side-effecting tools and their compensations, exactly once.

Each action runs in one SQLite write transaction that first looks its idempotency key up in
``effect_journal``: a key seen before returns the first result and changes nothing, so a retried
or re-executed activity (a lost completion, a worker killed after commit) takes effect once.
Each compensation undoes by the same key, and tolerates "nothing to undo": it then leaves a
tombstone so that an attempt of the action still in flight cannot apply after its undo.

``FaultHook`` is a testing seam (the crash matrix kills the worker at each point); in production
it is a no-op.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Final, Literal, Protocol, TypeVar

from pydantic import BaseModel, ValidationError
from temporalio import activity

from handrail.contracts import CompensationOutcome, CompensationRequest, ToolCall, ToolOutcome
from handrail.errors import describe_validation_error
from handrail.store.database import StoreDatabase, format_cents
from handrail.store.tools import (
    APPLY_DISCOUNT,
    ISSUE_REFUND,
    SEND_EMAIL,
    ApplyDiscountArgs,
    IssueRefundArgs,
    SendEmailArgs,
)
from handrail.tools import ToolSpec

FaultPoint = Literal["before_commit", "after_commit"]
Args = TypeVar("Args", bound=BaseModel)
Effect = Callable[[sqlite3.Connection, Args, ToolCall], ToolOutcome]


class FaultHook(Protocol):
    """Called at each point of an action or compensation; may raise or kill the process."""

    def __call__(self, point: FaultPoint, name: str, idempotency_key: str) -> None: ...


def no_faults(point: FaultPoint, name: str, idempotency_key: str) -> None:
    """The production hook: nothing happens."""


# Compensation → the table holding the rows its action creates (constants, never user input).
_UNDO_TABLES: Final = {"revoke_discount": "discounts", "void_refund": "refunds"}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _cents(amount: Decimal) -> int:
    return int((amount * 100).to_integral_value())


def _order(connection: sqlite3.Connection, order_id: int) -> sqlite3.Row | None:
    row: sqlite3.Row | None = connection.execute(
        "SELECT o.id, o.currency, c.email, "
        "  (SELECT COALESCE(SUM(quantity * unit_price_cents), 0) FROM order_items "
        "   WHERE order_id = o.id) AS total_cents, "
        "  (SELECT COALESCE(SUM(amount_cents), 0) FROM refunds WHERE order_id = o.id) "
        "  + (SELECT COALESCE(SUM(amount_cents), 0) FROM discounts WHERE order_id = o.id) "
        "  AS credited_cents "
        "FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.id = ?",
        (order_id,),
    ).fetchone()
    return row


def _credit(
    connection: sqlite3.Connection,
    table: Literal["discounts", "refunds"],
    tool: str,
    order_id: int,
    amount: Decimal,
    reason: str,
    call: ToolCall,
) -> ToolOutcome:
    """A discount or refund: both are credits against what the customer paid."""
    order = _order(connection, order_id)
    if order is None:
        return ToolOutcome(
            ok=False, error=f"no order number {order_id}", summary=f"{tool}: no order"
        )
    cents = _cents(amount)
    open_cents = order["total_cents"] - order["credited_cents"]
    currency = order["currency"]
    if cents > open_cents:
        return ToolOutcome(
            ok=False,
            error=f"{format_cents(cents)} {currency} exceeds the {format_cents(open_cents)} "
            f"{currency} still open on order {order_id}",
            summary=f"{tool}: refused, exceeds order",
        )
    cursor = connection.execute(
        f"INSERT INTO {table} (order_id, amount_cents, currency, reason, task_id, idempotency_key)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (order_id, cents, currency, reason, call.task_id, call.idempotency_key),
    )
    kind = table.removesuffix("s")
    return ToolOutcome(
        ok=True,
        result={
            f"{kind}_id": cursor.lastrowid,
            "order_id": order_id,
            "amount": format_cents(cents),
            "currency": currency,
        },
        summary=f"{tool} {format_cents(cents)} {currency} on order {order_id}",
    )


def _discount(
    connection: sqlite3.Connection, args: ApplyDiscountArgs, call: ToolCall
) -> ToolOutcome:
    return _credit(
        connection, "discounts", APPLY_DISCOUNT.name, args.order_id, args.amount, args.reason, call
    )


def _refund(connection: sqlite3.Connection, args: IssueRefundArgs, call: ToolCall) -> ToolOutcome:
    return _credit(
        connection, "refunds", ISSUE_REFUND.name, args.order_id, args.amount, args.reason, call
    )


def _email(connection: sqlite3.Connection, args: SendEmailArgs, call: ToolCall) -> ToolOutcome:
    order = _order(connection, args.order_id)
    if order is None:
        return ToolOutcome(
            ok=False, error=f"no order number {args.order_id}", summary="send_email: no order"
        )
    cursor = connection.execute(
        "INSERT INTO outbox (to_address, subject, body, task_id, idempotency_key)"
        " VALUES (?, ?, ?, ?, ?)",
        (order["email"], args.subject, args.body, call.task_id, call.idempotency_key),
    )
    return ToolOutcome(
        ok=True,
        result={"email_id": cursor.lastrowid, "to": order["email"], "subject": args.subject},
        summary=f"send_email to {order['email']}: {args.subject}",
    )


class StoreActionActivities:
    """Actions on the store's database, which the worker opens and passes in."""

    def __init__(self, database: StoreDatabase, faults: FaultHook = no_faults) -> None:
        self._db = database
        self._faults = faults

    async def _act(
        self, spec: ToolSpec, model: type[Args], call: ToolCall, effect: Effect[Args]
    ) -> ToolOutcome:
        started = time.monotonic()
        try:
            args = model.model_validate(call.arguments)
        except ValidationError as error:
            problem = describe_validation_error(f"arguments for {spec.name}", error)
            return ToolOutcome(ok=False, error=problem, summary=f"{spec.name}: bad arguments")

        def work(connection: sqlite3.Connection) -> ToolOutcome:
            seen = connection.execute(
                "SELECT result, applied_at FROM effect_journal WHERE idempotency_key = ?",
                (call.idempotency_key,),
            ).fetchone()
            if seen is not None:
                if seen["applied_at"] is None:
                    return ToolOutcome(
                        ok=False,
                        error="this action was compensated before it ran; it will not run now",
                        summary=f"{spec.name}: already compensated",
                    )
                return ToolOutcome.model_validate_json(seen["result"])
            outcome = effect(connection, args, call)
            if outcome.ok:
                connection.execute(
                    "INSERT INTO effect_journal"
                    " (idempotency_key, tool, task_id, result, applied_at) VALUES (?, ?, ?, ?, ?)",
                    (
                        call.idempotency_key,
                        spec.name,
                        call.task_id,
                        outcome.model_dump_json(),
                        _now(),
                    ),
                )
            self._faults("before_commit", spec.name, call.idempotency_key)
            return outcome

        outcome = await self._db.transact(work)
        self._faults("after_commit", spec.name, call.idempotency_key)
        return outcome.model_copy(
            update={
                "latency_ms": (time.monotonic() - started) * 1000,
                "attempt": activity.info().attempt,
            }
        )

    async def _undo(self, compensation: str, request: CompensationRequest) -> CompensationOutcome:
        table = _UNDO_TABLES.get(compensation)

        def work(connection: sqlite3.Connection) -> CompensationOutcome:
            seen = connection.execute(
                "SELECT applied_at, compensated_at FROM effect_journal WHERE idempotency_key = ?",
                (request.idempotency_key,),
            ).fetchone()
            if seen is None:
                connection.execute(
                    "INSERT INTO effect_journal (idempotency_key, tool, task_id, compensated_at,"
                    " compensation) VALUES (?, ?, ?, ?, ?)",
                    (request.idempotency_key, request.tool, request.task_id, _now(), compensation),
                )
                outcome = CompensationOutcome(
                    status="nothing_to_undo", detail=f"{request.tool} never took effect"
                )
            elif seen["compensated_at"] is not None:
                outcome = CompensationOutcome(status="already_undone")
            else:
                deleted = 0
                if table is not None:
                    deleted = connection.execute(
                        f"DELETE FROM {table} WHERE idempotency_key = ?",
                        (request.idempotency_key,),
                    ).rowcount
                connection.execute(
                    "UPDATE effect_journal SET compensated_at = ?, compensation = ?"
                    " WHERE idempotency_key = ?",
                    (_now(), compensation, request.idempotency_key),
                )
                outcome = CompensationOutcome(
                    status="undone", detail=f"removed {deleted} row(s) from {table}"
                )
            self._faults("before_commit", compensation, request.idempotency_key)
            return outcome

        outcome = await self._db.transact(work)
        self._faults("after_commit", compensation, request.idempotency_key)
        activity.logger.info("%s for %s: %s", compensation, request.idempotency_key, outcome.status)
        return outcome

    @activity.defn(name=APPLY_DISCOUNT.name)
    async def apply_discount(self, call: ToolCall) -> ToolOutcome:
        return await self._act(APPLY_DISCOUNT, ApplyDiscountArgs, call, _discount)

    @activity.defn(name="revoke_discount")
    async def revoke_discount(self, request: CompensationRequest) -> CompensationOutcome:
        return await self._undo("revoke_discount", request)

    @activity.defn(name=ISSUE_REFUND.name)
    async def issue_refund(self, call: ToolCall) -> ToolOutcome:
        return await self._act(ISSUE_REFUND, IssueRefundArgs, call, _refund)

    @activity.defn(name="void_refund")
    async def void_refund(self, request: CompensationRequest) -> CompensationOutcome:
        return await self._undo("void_refund", request)

    @activity.defn(name=SEND_EMAIL.name)
    async def send_email(self, call: ToolCall) -> ToolOutcome:
        return await self._act(SEND_EMAIL, SendEmailArgs, call, _email)
