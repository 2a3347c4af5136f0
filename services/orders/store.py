"""Orders and the payment events applied to them, in SQLite.

Statuses only move forward (pending -> paid/declined -> settled -> refund
requested -> refunded), so a retried call, a duplicate event or events that
arrive out of order can never undo progress. Events are recorded by id:
applying one twice changes nothing.
"""

from __future__ import annotations

import json
import sqlite3
import uuid

from servicekit.answers import Conflict
from servicekit.storage import Database, Transaction
from servicekit.values import now_iso

from orders.models import Order, OrderRequest, OrderStatus, PaymentEvent, ReceivedEvent

SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    id TEXT PRIMARY KEY,
    client_key TEXT UNIQUE,
    status TEXT NOT NULL,
    items TEXT NOT NULL,
    amount_minor INTEGER NOT NULL,
    currency TEXT NOT NULL,
    payment_id TEXT,
    decline_reason TEXT,
    last_payment_error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_by_status ON orders (status, updated_at);
CREATE TABLE IF NOT EXISTS payment_events (
    event_id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL REFERENCES orders (id),
    type TEXT NOT NULL,
    payment_id TEXT NOT NULL,
    received_at TEXT NOT NULL
);
"""
RANK: dict[str, int] = {
    "payment_pending": 0,
    "paid": 1,
    "payment_declined": 1,
    "settled": 2,
    "refund_requested": 3,
    "refunded": 4,
}
EVENT_STATUS: dict[str, OrderStatus] = {
    "payment.settled": "settled",
    "payment.refunded": "refunded",
}
# What payments' answer to a charge makes of the order.
ANSWER_STATUS: dict[str, OrderStatus] = {"declined": "payment_declined", "settled": "settled"}
# The order statuses from which each event is a forward move of the order's payment.
EVENT_FROM: dict[str, frozenset[str]] = {
    "payment.settled": frozenset({"paid"}),
    "payment.refunded": frozenset({"paid", "settled", "refund_requested"}),
}


class ClientKeyConflict(Conflict):
    """The storefront's Idempotency-Key was used before for a different order."""

    error = "idempotency key reused"

    def __init__(self, key: str) -> None:
        super().__init__(
            f"Idempotency-Key {key!r} was used for a different order; use a new key for a new order"
        )


class EventRefused(Conflict):
    """A payment event that does not fit the order: the reason says why (sent in the 409)."""

    error = "event refused"

    def __init__(self, reason: str) -> None:
        super().__init__(reason, reason=reason)


def _event_refusal(event: PaymentEvent, row: sqlite3.Row | None) -> str | None:
    """Why this event may not change the order, or None when it may.

    payments' certificate is no licence to rewrite an order: the event must name the
    payment orders recorded for it, and move that payment forward.
    """
    if row is None:
        return f"order {event.order_id} does not exist"
    if row["payment_id"] is None:
        return f"order {event.order_id} has no recorded payment (it is {row['status']})"
    if row["payment_id"] != event.payment_id:
        return (
            f"the event names payment {event.payment_id}, but order {event.order_id}'s "
            f"payment is {row['payment_id']}"
        )
    if row["status"] not in EVENT_FROM[event.type]:
        return f"{event.type} is not a forward move for an order that is {row['status']}"
    return None


def _order(row: sqlite3.Row) -> Order:
    fields = {key: row[key] for key in Order.model_fields if key != "items"}
    return Order(items=json.loads(row["items"]), **fields)


def _advance(db: sqlite3.Connection, order_id: str, status: OrderStatus, **fields: object) -> None:
    """Move an order forward to `status` (never backward, never out of declined)."""
    row = db.execute("SELECT status FROM orders WHERE id = ?", (order_id,)).fetchone()
    if row is None or row["status"] == "payment_declined" or RANK[status] <= RANK[row["status"]]:
        return
    assignments = ", ".join(f"{name} = ?" for name in ("status", "updated_at", *fields))
    db.execute(
        f"UPDATE orders SET {assignments} WHERE id = ?",  # noqa: S608 (column names are ours)
        (status, now_iso(), *fields.values(), order_id),
    )


class OrderStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, request: OrderRequest, client_key: str | None) -> tuple[Order, bool]:
        """A new pending order, or the one already made with this client key
        (ClientKeyConflict if that one was for different items or amount)."""
        items = json.dumps([item.model_dump() for item in request.items])
        with Transaction(self.db) as db:
            if client_key is not None:
                row = db.execute(
                    "SELECT * FROM orders WHERE client_key = ?", (client_key,)
                ).fetchone()
                if row is not None:
                    if (row["items"], row["amount_minor"], row["currency"]) != (
                        items,
                        request.amount_minor,
                        request.currency,
                    ):
                        raise ClientKeyConflict(client_key)
                    return _order(row), False
            order_id, stamp = f"ord_{uuid.uuid4().hex}", now_iso()
            db.execute(
                "INSERT INTO orders (id, client_key, status, items, amount_minor, currency, "
                "created_at, updated_at) VALUES (?, ?, 'payment_pending', ?, ?, ?, ?, ?)",
                (order_id, client_key, items, request.amount_minor, request.currency, stamp, stamp),
            )
            return _order(
                db.execute("SELECT * FROM orders WHERE id = ?", (order_id,)).fetchone()
            ), True

    def get(self, order_id: str) -> Order | None:
        row = self.db.execute("SELECT * FROM orders WHERE id = ?", (order_id,)).fetchone()
        return _order(row) if row else None

    def recent(self, status: str | None, limit: int) -> list[Order]:
        query, args = "SELECT * FROM orders", []
        if status is not None:
            query, args = query + " WHERE status = ?", [status]
        rows = self.db.execute(query + " ORDER BY created_at DESC LIMIT ?", (*args, limit))
        return [_order(row) for row in rows]

    def record_payment(self, order_id: str, payment: dict[str, object]) -> Order | None:
        """Apply payments' answer: authorized -> paid, settled -> settled (a retry that finds
        the payment already settled), declined -> payment_declined."""
        status = ANSWER_STATUS.get(str(payment.get("status")), "paid")
        with Transaction(self.db) as db:
            _advance(
                db,
                order_id,
                status,
                payment_id=payment.get("id"),
                decline_reason=payment.get("decline_reason"),
                last_payment_error=None,
            )
        return self.get(order_id)

    def note_payment_error(self, order_id: str, error: str) -> None:
        self.db.execute(
            "UPDATE orders SET last_payment_error = ?, updated_at = ? WHERE id = ?",
            (error, now_iso(), order_id),
        )

    def mark_refund_requested(self, order_id: str) -> Order | None:
        with Transaction(self.db) as db:
            _advance(db, order_id, "refund_requested")
        return self.get(order_id)

    def apply_event(self, event: PaymentEvent) -> bool:
        """Record and apply a payment event once; False if it was seen before.

        EventRefused (nothing written) when it names another payment or is no forward move.
        """
        with Transaction(self.db) as db:
            seen = db.execute(
                "SELECT 1 FROM payment_events WHERE event_id = ?", (event.event_id,)
            ).fetchone()
            if seen is not None:
                return False
            row = db.execute(
                "SELECT status, payment_id FROM orders WHERE id = ?", (event.order_id,)
            ).fetchone()
            refusal = _event_refusal(event, row)
            if refusal is not None:
                raise EventRefused(refusal)
            db.execute(
                "INSERT INTO payment_events VALUES (?, ?, ?, ?, ?)",
                (event.event_id, event.order_id, event.type, event.payment_id, now_iso()),
            )
            _advance(db, event.order_id, EVENT_STATUS[event.type])
            return True

    def events(self, order_id: str) -> list[ReceivedEvent]:
        rows = self.db.execute(
            "SELECT event_id, type, payment_id, received_at FROM payment_events "
            "WHERE order_id = ? ORDER BY received_at",
            (order_id,),
        )
        return [ReceivedEvent(**dict(row)) for row in rows]

    def pending_payment_ids(self, updated_before: str) -> list[str]:
        rows = self.db.execute(
            "SELECT id FROM orders WHERE status = 'payment_pending' AND updated_at <= ? "
            "ORDER BY created_at LIMIT 100",
            (updated_before,),
        )
        return [row["id"] for row in rows]
