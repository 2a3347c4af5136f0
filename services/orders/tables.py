"""orders' tables, as SQLAlchemy Core sees them; `migrations/` makes them in a database."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Index, MetaData, Table, Text

metadata = MetaData()

orders = Table(
    "orders",
    metadata,
    Column("id", Text, primary_key=True),
    Column("client_key", Text, unique=True),  # the storefront's Idempotency-Key
    Column("status", Text, nullable=False),
    Column("items", Text, nullable=False),  # JSON
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("payment_id", Text),
    Column("decline_reason", Text),
    Column("last_payment_error", Text),
    Column("created_at", Text, nullable=False),  # ISO 8601, UTC, milliseconds: sorts as text
    Column("updated_at", Text, nullable=False),
    Index("orders_by_status", "status", "updated_at"),
)

payment_events = Table(
    "payment_events",
    metadata,
    Column("event_id", Text, primary_key=True),  # applied once: a duplicate is a no-op
    Column("order_id", Text, ForeignKey("orders.id"), nullable=False),
    Column("type", Text, nullable=False),
    Column("payment_id", Text, nullable=False),
    Column("received_at", Text, nullable=False),
)
