"""Money limits across tasks: reservations in Handrail's state store, taken before an effect.

A profile rule's ``shared_limit`` caps what ALL tasks together may do with a tool within a time
window, per value of one argument (``shared_limit_per = "order_id"``: per order). Per-task
limits cannot: five tasks each under a 200 per-task limit still refund 1,000 on one order.

Before a side-effecting tool with a limit takes effect, the runner reserves its amount under
the action's idempotency key. One transaction sums the live reservations of (tool, scope) in
the window and inserts this one only if the total stays within the limit, so two tasks cannot
both see room that only one of them has:

- SQLite: the transaction begins IMMEDIATE, holding the database's write lock throughout;
- PostgreSQL: it first takes ``pg_advisory_xact_lock(hashtext(tool, scope))``, released at
  commit. Chosen over SERIALIZABLE because the check is a sum over a range that may hold no
  rows yet (nothing for ``SELECT ... FOR UPDATE`` to lock), and SERIALIZABLE would abort and
  retry exactly under the contention this exists for; the lock makes same-scope reservations
  queue and leaves other scopes alone (a hash collision only makes two scopes queue together).

A reservation is keyed by the idempotency key: a retried action finds its own and takes no
second one. It is released (kept as audit, no longer counted) when the action is refused (no
effect) and when its compensation has undone the effect. A reservation of an action that
failed without a compensation stays live until the window passes: the safe side.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Connection, func, select, update

from handrail.contracts import SharedLimit
from handrail.storage.engine import StateDatabase
from handrail.storage.schema import limit_reservations as table


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def describe_window(window: timedelta) -> str:
    """``1 day``, ``12 hours``, ``1 day 6 hours``: a window as a person says it."""
    seconds = int(window.total_seconds())
    parts = []
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60), ("second", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {unit}" + ("" if count == 1 else "s"))
    return " ".join(parts) or "0 seconds"


def _scope_name(per: str | None, value: str) -> str:
    if per is None:
        return "all tasks"
    noun = per.removesuffix("_id").replace("_", " ")
    return f"{noun} {value}"


def _things(tool: str) -> str:
    # issue_refund -> refunds, apply_discount -> discounts: what the message counts.
    return tool.rsplit("_", 1)[-1] + "s"


@dataclass(frozen=True)
class Reservation:
    """The answer to a reservation: granted, or refused with the sentence the model reads."""

    granted: bool
    total: Decimal
    """Live total of the scope in the window, this amount included."""
    reason: str | None = None


class SharedLimits:
    """Reservations against shared limits, in the state database's ``limit_reservations``."""

    def __init__(self, state: str | Path | StateDatabase) -> None:
        self.database = StateDatabase.of(state)

    async def aclose(self) -> None:
        await self.database.aclose()

    async def reserve(
        self,
        limit: SharedLimit,
        *,
        tool: str,
        scope: str,
        amount: Decimal,
        idempotency_key: str,
        task_id: str,
        now: datetime | None = None,
    ) -> Reservation:
        """Reserve ``amount`` for (``tool``, ``scope``) unless the live total in the window would
        pass the limit. The action's own live reservation (a retry) is granted as it is."""
        at = now or datetime.now(UTC)
        since = _stamp(at - limit.window)
        dialect = self.database.dialect

        def work(connection: Connection) -> Reservation:
            if dialect == "postgresql":
                lock_key = func.hashtext(f"{tool}\x1f{scope}")
                connection.execute(select(func.pg_advisory_xact_lock(lock_key)))
            mine = connection.execute(
                select(table.c.amount, table.c.released_at).where(
                    table.c.idempotency_key == idempotency_key
                )
            ).first()
            live = connection.execute(
                select(table.c.amount).where(
                    table.c.tool == tool,
                    table.c.scope == scope,
                    table.c.reserved_at >= since,
                    table.c.released_at.is_(None),
                    table.c.idempotency_key != idempotency_key,
                )
            )
            others = sum((Decimal(row.amount) for row in live), Decimal(0))
            if mine is not None and mine.released_at is None:
                return Reservation(granted=True, total=others + Decimal(mine.amount))
            total = others + amount
            if total > limit.limit:
                reason = (
                    f"{tool}: {amount} would bring {_scope_name(limit.per, scope)}'s "
                    f"{_things(tool)} in the last {describe_window(limit.window)} to {total}, "
                    f"above the shared limit of {limit.limit}"
                )
                return Reservation(granted=False, total=total, reason=reason)
            row = {
                "tool": tool,
                "scope": scope,
                "amount": str(amount),
                "task_id": task_id,
                "reserved_at": _stamp(at),
                "released_at": None,
            }
            if mine is None:
                connection.execute(table.insert().values(idempotency_key=idempotency_key, **row))
            else:  # released when an earlier attempt was refused: this attempt reserves anew
                connection.execute(
                    update(table).where(table.c.idempotency_key == idempotency_key).values(**row)
                )
            return Reservation(granted=True, total=total)

        return await self.database.run(work, immediate=True)

    async def release(self, idempotency_key: str) -> bool:
        """Stop counting the action's reservation; False if it had none live (idempotent)."""

        def work(connection: Connection) -> bool:
            released = connection.execute(
                update(table)
                .where(table.c.idempotency_key == idempotency_key, table.c.released_at.is_(None))
                .values(released_at=_stamp(datetime.now(UTC)))
                .execution_options(preserve_rowcount=True)
            )
            return bool(released.rowcount == 1)

        return await self.database.run(work, immediate=True)
