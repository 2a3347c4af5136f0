"""Payments and their outbox of events, in one SQLite database.

A payment and the event that announces it are written in one transaction, so
an event can never be lost between "charged" and "told orders": the outbox is
delivered later, with retries, however long orders is away.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from typing import Any

from servicekit.answers import Conflict
from servicekit.storage import Database, Transaction
from servicekit.values import now_iso

from payments.models import Payment, PaymentRequest

SCHEMA = """
CREATE TABLE IF NOT EXISTS payments (
    id TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    order_id TEXT NOT NULL,
    amount_minor INTEGER NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL,
    decline_reason TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS payments_by_status ON payments (status, created_at);
CREATE UNIQUE INDEX IF NOT EXISTS payments_one_per_order ON payments (order_id);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    order_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    delivered_at TEXT,
    last_error TEXT,
    dead_at TEXT
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (delivered_at, next_attempt_at);
"""
# Databases made before the outbox could park events.
MIGRATIONS = (("outbox", "dead_at", "ALTER TABLE outbox ADD COLUMN dead_at TEXT"),)


class IdempotencyConflict(Conflict):
    """The key was used before for a different request."""

    error = "idempotency key reused"

    def __init__(self, key: str) -> None:
        super().__init__(f"key {key!r} was used for a different payment")


class OrderAlreadyHasPayment(Conflict):
    """A create for an order that has a payment already, under another idempotency key."""

    error = "order already has a payment"

    def __init__(self, payment: Payment) -> None:
        super().__init__(
            f"order {payment.order_id} already has payment {payment.id}; one payment per "
            "order (retry with its idempotency key)",
            payment_id=payment.id,
        )


def migrate(db: sqlite3.Connection) -> None:
    """Add the columns that databases made by older versions lack."""
    for table, column, statement in MIGRATIONS:
        columns = {row["name"] for row in db.execute(f"PRAGMA table_info({table})")}
        if column not in columns:
            db.execute(statement)


def _payment(row: sqlite3.Row) -> Payment:
    return Payment(**{key: row[key] for key in Payment.model_fields})


def _enqueue(db: sqlite3.Connection, payment_id: str, order_id: str, event_type: str) -> None:
    event = {
        "event_id": f"evt_{uuid.uuid4().hex}",
        "type": event_type,
        "payment_id": payment_id,
        "order_id": order_id,
        "occurred_at": now_iso(),
    }
    db.execute(
        "INSERT INTO outbox (event_id, order_id, payload, next_attempt_at) VALUES (?, ?, ?, 0)",
        (event["event_id"], order_id, json.dumps(event)),
    )


class PaymentStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def authorize(
        self, key: str, request: PaymentRequest, decline_above: int
    ) -> tuple[Payment, bool]:
        """The payment for this idempotency key, created if new; (payment, created)."""
        with Transaction(self.db) as db:
            row = db.execute("SELECT * FROM payments WHERE idempotency_key = ?", (key,)).fetchone()
            if row is not None:
                if (row["order_id"], row["amount_minor"], row["currency"]) != (
                    request.order_id,
                    request.amount_minor,
                    request.currency,
                ):
                    raise IdempotencyConflict(key)
                return _payment(row), False
            existing = db.execute(
                "SELECT * FROM payments WHERE order_id = ?", (request.order_id,)
            ).fetchone()
            if existing is not None:
                raise OrderAlreadyHasPayment(_payment(existing))
            declined = request.amount_minor > decline_above
            stamp = now_iso()
            payment_id = f"pay_{uuid.uuid4().hex}"
            db.execute(
                "INSERT INTO payments VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    payment_id,
                    key,
                    request.order_id,
                    request.amount_minor,
                    request.currency,
                    "declined" if declined else "authorized",
                    f"amount above the limit of {decline_above} minor units" if declined else None,
                    stamp,
                    stamp,
                ),
            )
            row = db.execute("SELECT * FROM payments WHERE id = ?", (payment_id,)).fetchone()
            return _payment(row), True

    def get(self, payment_id: str) -> Payment | None:
        row = self.db.execute("SELECT * FROM payments WHERE id = ?", (payment_id,)).fetchone()
        return _payment(row) if row else None

    def by_order(self, order_id: str) -> list[Payment]:
        rows = self.db.execute(
            "SELECT * FROM payments WHERE order_id = ? ORDER BY created_at", (order_id,)
        )
        return [_payment(row) for row in rows]

    def settle_due(self, older_than_iso: str) -> int:
        """Settle authorized payments created before the cut-off; each gets an event."""
        with Transaction(self.db) as db:
            due = db.execute(
                "SELECT id, order_id FROM payments WHERE status = 'authorized' AND created_at <= ?",
                (older_than_iso,),
            ).fetchall()
            for row in due:
                db.execute(
                    "UPDATE payments SET status = 'settled', updated_at = ? WHERE id = ?",
                    (now_iso(), row["id"]),
                )
                _enqueue(db, row["id"], row["order_id"], "payment.settled")
            return len(due)

    def refund(self, payment_id: str) -> Payment | None:
        """Refund once; a second call returns the refunded payment unchanged."""
        with Transaction(self.db) as db:
            row = db.execute("SELECT * FROM payments WHERE id = ?", (payment_id,)).fetchone()
            if row is None or row["status"] in ("refunded", "declined"):
                return _payment(row) if row else None
            db.execute(
                "UPDATE payments SET status = 'refunded', updated_at = ? WHERE id = ?",
                (now_iso(), payment_id),
            )
            _enqueue(db, payment_id, row["order_id"], "payment.refunded")
            return _payment(
                db.execute("SELECT * FROM payments WHERE id = ?", (payment_id,)).fetchone()
            )

    def due_events(self, now: float, limit: int = 50) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT seq, attempts, payload FROM outbox WHERE delivered_at IS NULL "
            "AND dead_at IS NULL AND next_attempt_at <= ? ORDER BY seq LIMIT ?",
            (now, limit),
        )
        return [
            {"seq": r["seq"], "attempts": r["attempts"], **json.loads(r["payload"])} for r in rows
        ]

    def delivered(self, seq: int) -> None:
        self.db.execute("UPDATE outbox SET delivered_at = ? WHERE seq = ?", (now_iso(), seq))

    def failed(self, seq: int, retry_at: float, error: str) -> None:
        self.db.execute(
            "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? "
            "WHERE seq = ?",
            (retry_at, error, seq),
        )

    def park(self, seq: int, error: str) -> None:
        """The receiver refused the event for good: keep it, dead, and stop retrying it."""
        self.db.execute(
            "UPDATE outbox SET attempts = attempts + 1, dead_at = ?, last_error = ? WHERE seq = ?",
            (now_iso(), error, seq),
        )
