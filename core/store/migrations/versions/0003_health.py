"""health checks, health state and scheduler leases

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

import core.store.tables

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_STATUSES = "status IN ('healthy', 'degraded', 'unreachable', 'unauthorized', 'unknown')"


def upgrade() -> None:
    op.create_table(
        "health_checks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("provider_key", sa.Uuid(), nullable=False),
        sa.Column("provider_name", sa.String(length=100), nullable=False),
        sa.Column("provider_type", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("checked_at", core.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.CheckConstraint("source IN ('database', 'system')", name="ck_health_checks_source"),
        sa.CheckConstraint(_STATUSES, name="ck_health_checks_status"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("health_checks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_health_checks_key_at", ["provider_key", "checked_at"], unique=False
        )
        batch_op.create_index("ix_health_checks_at", ["checked_at"], unique=False)
    op.create_table(
        "health_state",
        sa.Column("provider_key", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("last_checked_at", core.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_latency_ms", sa.Float(), nullable=True),
        sa.Column("last_reason", sa.String(length=200), nullable=True),
        sa.Column("last_failure_at", core.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_failure_reason", sa.String(length=200), nullable=True),
        sa.CheckConstraint(_STATUSES, name="ck_health_state_status"),
        sa.PrimaryKeyConstraint("provider_key"),
    )
    op.create_table(
        "scheduler_leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("expires_at", core.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_run_at", core.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("scheduler_leases")
    op.drop_table("health_state")
    with op.batch_alter_table("health_checks", schema=None) as batch_op:
        batch_op.drop_index("ix_health_checks_at")
        batch_op.drop_index("ix_health_checks_key_at")
    op.drop_table("health_checks")
