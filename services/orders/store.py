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
from datetime import UTC, datetime

from mtls.storage import Transaction

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


class ClientKeyConflict(Exception):
    """The storefront's Idempotency-Key was used before for a different order."""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


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
    def __init__(self, db: sqlite3.Connection) -> None:
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
        """Apply payments' answer: authorized/settled -> paid, declined -> payment_declined."""
        declined = payment.get("status") == "declined"
        with Transaction(self.db) as db:
            _advance(
                db,
                order_id,
                "payment_declined" if declined else "paid",
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
        """Record and apply a payment event once; False if it was seen before."""
        with Transaction(self.db) as db:
            inserted = db.execute(
                "INSERT INTO payment_events VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (event.event_id, event.order_id, event.type, event.payment_id, now_iso()),
            ).rowcount
            if inserted:
                _advance(db, event.order_id, EVENT_STATUS[event.type], payment_id=event.payment_id)
            return bool(inserted)

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
