"""payments' tables, as SQLAlchemy Core sees them; `migrations/` makes them in a database."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Identity, Index, Integer, MetaData, Table, Text

metadata = MetaData()

payments = Table(
    "payments",
    metadata,
    Column("id", Text, primary_key=True),
    Column("idempotency_key", Text, nullable=False, unique=True),
    Column("order_id", Text, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("decline_reason", Text),
    Column("created_at", Text, nullable=False),
    Column("updated_at", Text, nullable=False),
    Index("payments_by_status", "status", "created_at"),
    Index("payments_one_per_order", "order_id", unique=True),  # one payment per order
)

# Events announcing payments, written in the payment's own transaction (never lost),
# delivered to orders later with retries.
outbox = Table(
    "outbox",
    metadata,
    Column("seq", Integer, Identity(), primary_key=True),
    Column("event_id", Text, nullable=False, unique=True),
    Column("order_id", Text, nullable=False),
    Column("payload", Text, nullable=False),  # JSON
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", Float, nullable=False),
    Column("delivered_at", Text),
    Column("last_error", Text),
    Column("dead_at", Text),
    Index("outbox_pending", "delivered_at", "next_attempt_at"),
)
