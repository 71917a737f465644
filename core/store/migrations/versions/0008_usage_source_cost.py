"""usage: the source's own cost beside ours, and the rollups' timezone

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

import core.store.tables

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("usage_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source_cost_usd", core.store.tables.Money(), nullable=True))
    for table in ("usage_daily", "usage_daily_tags"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column(
                    "source_cost_usd",
                    core.store.tables.Money(),
                    nullable=False,
                    server_default="0",
                )
            )
            batch_op.add_column(
                sa.Column(
                    "source_costed_requests", sa.BigInteger(), nullable=False, server_default="0"
                )
            )
    op.create_table(
        "usage_meta",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("usage_meta")
    for table in ("usage_daily_tags", "usage_daily"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("source_costed_requests")
            batch_op.drop_column("source_cost_usd")
    with op.batch_alter_table("usage_events", schema=None) as batch_op:
        batch_op.drop_column("source_cost_usd")
