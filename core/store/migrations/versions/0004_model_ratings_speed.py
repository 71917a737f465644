"""model quality tier and features, measured speed samples

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

import core.store.tables

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Batch mode: SQLite adds the CHECK constraint by rebuilding the table.
    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.add_column(sa.Column("quality_tier", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("features", sa.Text(), nullable=True))
        batch_op.create_check_constraint(
            "ck_models_quality_tier", "quality_tier IN ('high', 'medium', 'low')"
        )
    op.create_table(
        "model_speed_samples",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("model_record_id", sa.Uuid(), nullable=False),
        sa.Column("measured_at", core.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ttft_ms", sa.Float(), nullable=True),
        sa.Column("total_ms", sa.Float(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["model_record_id"], ["models.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("model_speed_samples", schema=None) as batch_op:
        batch_op.create_index(
            "ix_model_speed_samples_model_at", ["model_record_id", "measured_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("model_speed_samples", schema=None) as batch_op:
        batch_op.drop_index("ix_model_speed_samples_model_at")
    op.drop_table("model_speed_samples")
    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.drop_constraint("ck_models_quality_tier", type_="check")
        batch_op.drop_column("features")
        batch_op.drop_column("quality_tier")
