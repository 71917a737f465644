"""usage ledger: usage events and their daily rollups

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

import core.store.tables

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _totals() -> list[sa.Column]:
    return [
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cached_input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cache_write_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("reasoning_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost_usd", core.store.tables.Money(), nullable=False),
        sa.Column("unpriced_requests", sa.BigInteger(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "usage_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("occurred_at", core.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("recorded_at", core.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("provider_id", sa.Uuid(), nullable=True),
        sa.Column("provider_name", sa.String(length=100), nullable=False),
        sa.Column("provider_type", sa.String(length=64), nullable=False),
        sa.Column("model_record_id", sa.Uuid(), nullable=True),
        sa.Column("model_id", sa.String(length=255), nullable=False),
        sa.Column("configured", sa.Boolean(), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cached_input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cache_write_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("reasoning_tokens", sa.BigInteger(), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("cost_usd", core.store.tables.Money(), nullable=True),
        sa.Column("price_source", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["model_record_id"], ["models.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key", name="uq_usage_events_idempotency_key"),
    )
    with op.batch_alter_table("usage_events", schema=None) as batch_op:
        batch_op.create_index("ix_usage_events_occurred_at", ["occurred_at"], unique=False)
        batch_op.create_index("ix_usage_events_model_day", ["model_id", "day"], unique=False)
        batch_op.create_index("ix_usage_events_model_record", ["model_record_id"], unique=False)
        batch_op.create_index("ix_usage_events_user", ["user_id"], unique=False)
    op.create_table(
        "usage_daily",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("provider_id", sa.Uuid(), nullable=False),
        sa.Column("provider_name", sa.String(length=100), nullable=False),
        sa.Column("provider_type", sa.String(length=64), nullable=False),
        sa.Column("model_id", sa.String(length=255), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        *_totals(),
        sa.PrimaryKeyConstraint(
            "day", "provider_id", "provider_name", "provider_type", "model_id", "username"
        ),
    )
    op.create_table(
        "usage_daily_tags",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("tag_key", sa.String(length=64), nullable=False),
        sa.Column("tag_value", sa.String(length=200), nullable=False),
        *_totals(),
        sa.PrimaryKeyConstraint("day", "tag_key", "tag_value"),
    )


def downgrade() -> None:
    op.drop_table("usage_daily_tags")
    op.drop_table("usage_daily")
    with op.batch_alter_table("usage_events", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_events_user")
        batch_op.drop_index("ix_usage_events_model_record")
        batch_op.drop_index("ix_usage_events_model_day")
        batch_op.drop_index("ix_usage_events_occurred_at")
    op.drop_table("usage_events")
