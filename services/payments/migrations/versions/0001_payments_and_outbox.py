"""payments and their outbox, as the SQLite-only versions made them (their files carry on;
the oldest lack outbox.dead_at).

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from servicekit.migrations import missing_columns, missing_tables

revision = "0001"
down_revision = None


def upgrade() -> None:
    missing = missing_tables("payments", "outbox")
    if "payments" in missing:
        op.create_table(
            "payments",
            sa.Column("id", sa.Text, primary_key=True),
            sa.Column("idempotency_key", sa.Text, nullable=False, unique=True),
            sa.Column("order_id", sa.Text, nullable=False),
            sa.Column("amount_minor", sa.BigInteger, nullable=False),
            sa.Column("currency", sa.Text, nullable=False),
            sa.Column("status", sa.Text, nullable=False),
            sa.Column("decline_reason", sa.Text),
            sa.Column("created_at", sa.Text, nullable=False),
            sa.Column("updated_at", sa.Text, nullable=False),
        )
        op.create_index("payments_by_status", "payments", ["status", "created_at"])
        op.create_index("payments_one_per_order", "payments", ["order_id"], unique=True)
    if "outbox" in missing:
        op.create_table(
            "outbox",
            sa.Column("seq", sa.Integer, sa.Identity(), primary_key=True),
            sa.Column("event_id", sa.Text, nullable=False, unique=True),
            sa.Column("order_id", sa.Text, nullable=False),
            sa.Column("payload", sa.Text, nullable=False),
            sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
            sa.Column("next_attempt_at", sa.Float, nullable=False),
            sa.Column("delivered_at", sa.Text),
            sa.Column("last_error", sa.Text),
            sa.Column("dead_at", sa.Text),
        )
        op.create_index("outbox_pending", "outbox", ["delivered_at", "next_attempt_at"])
    elif "dead_at" in missing_columns("outbox", "dead_at"):
        op.add_column("outbox", sa.Column("dead_at", sa.Text))


def downgrade() -> None:
    raise NotImplementedError("never downgraded: restore a backup of the database instead")
