"""orders and payment_events, as the SQLite-only versions made them (their files carry on).

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from servicekit.migrations import missing_tables

revision = "0001"
down_revision = None


def upgrade() -> None:
    missing = missing_tables("orders", "payment_events")
    if "orders" in missing:
        op.create_table(
            "orders",
            sa.Column("id", sa.Text, primary_key=True),
            sa.Column("client_key", sa.Text, unique=True),
            sa.Column("status", sa.Text, nullable=False),
            sa.Column("items", sa.Text, nullable=False),
            sa.Column("amount_minor", sa.BigInteger, nullable=False),
            sa.Column("currency", sa.Text, nullable=False),
            sa.Column("payment_id", sa.Text),
            sa.Column("decline_reason", sa.Text),
            sa.Column("last_payment_error", sa.Text),
            sa.Column("created_at", sa.Text, nullable=False),
            sa.Column("updated_at", sa.Text, nullable=False),
        )
        op.create_index("orders_by_status", "orders", ["status", "updated_at"])
    if "payment_events" in missing:
        op.create_table(
            "payment_events",
            sa.Column("event_id", sa.Text, primary_key=True),
            sa.Column("order_id", sa.Text, sa.ForeignKey("orders.id"), nullable=False),
            sa.Column("type", sa.Text, nullable=False),
            sa.Column("payment_id", sa.Text, nullable=False),
            sa.Column("received_at", sa.Text, nullable=False),
        )


def downgrade() -> None:
    raise NotImplementedError("never downgraded: restore a backup of the database instead")
