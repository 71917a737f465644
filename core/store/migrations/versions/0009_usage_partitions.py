"""usage ledger at scale: idempotency keys in their own table; monthly partitions on PostgreSQL

Revision ID: 0009
Revises: 0006
Create Date: 2026-12-06

``usage_event_keys`` takes over the uniqueness of ``usage_events.idempotency_key`` (a unique
index on a partitioned table must hold the partition key). ``usage_events`` gets the primary
key (occurred_at, id), which is also the drill-down's index. On PostgreSQL the table is
rebuilt range-partitioned by month: generically, from the existing table's own columns,
indexes and foreign keys (``LIKE``, ``pg_indexes``, ``pg_constraint``), so a column another
migration added comes along. SQLite keeps one table (rebuilt in batch mode).
"""

import contextlib
import warnings
from collections.abc import Iterator

import sqlalchemy as sa
from alembic import op

import core.store.tables
from core.store import partitions

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_KEY = sa.String(length=200).with_variant(sa.String(length=200, collation="C"), "postgresql")


def _rows(sql: str) -> list[tuple]:
    return list(op.get_bind().exec_driver_sql(sql).fetchall())


def _definitions(table: str) -> tuple[list[str], list[tuple[str, str]]]:
    """A table's index DDL (bar its primary key and unique constraints) and its foreign
    keys (name, definition)."""
    indexes = [
        definition
        for (definition,) in _rows(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() "
            f"AND tablename = '{table}' AND indexname NOT IN (SELECT conname FROM pg_constraint "
            f"WHERE conrelid = '{table}'::regclass AND contype IN ('p', 'u'))"
        )
    ]
    foreign = _rows(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        f"WHERE conrelid = '{table}'::regclass AND contype = 'f' ORDER BY conname"
    )
    return indexes, [(name, definition) for name, definition in foreign]


def _rebuild_pg(*, partitioned: bool) -> None:
    """Rebuild usage_events as a partitioned table (or back), keeping every row, column,
    foreign key and index (the ones this migration changes aside)."""
    indexes, foreign = _definitions("usage_events")
    op.execute(
        "CREATE TABLE usage_events_rebuilt (LIKE usage_events INCLUDING DEFAULTS)"
        + (" PARTITION BY RANGE (occurred_at)" if partitioned else "")
    )
    if partitioned:
        op.execute(f"CREATE SCHEMA IF NOT EXISTS {partitions.SCHEMA}")
        months = _rows(
            "SELECT DISTINCT date_trunc('month', occurred_at AT TIME ZONE 'UTC')::date "
            "FROM usage_events"
        )
        for (month,) in months:
            op.execute(
                partitions.create_sql(month).replace(
                    f"PARTITION OF {partitions.PARENT}", "PARTITION OF usage_events_rebuilt"
                )
            )
    op.execute("INSERT INTO usage_events_rebuilt SELECT * FROM usage_events")
    op.execute("DROP TABLE usage_events")
    op.execute("ALTER TABLE usage_events_rebuilt RENAME TO usage_events")
    if partitioned:
        op.execute(
            "ALTER TABLE usage_events ADD CONSTRAINT pk_usage_events PRIMARY KEY (occurred_at, id)"
        )
    else:
        op.execute("ALTER TABLE usage_events ADD CONSTRAINT usage_events_pkey PRIMARY KEY (id)")
        op.execute(
            "ALTER TABLE usage_events ADD CONSTRAINT uq_usage_events_idempotency_key "
            "UNIQUE (idempotency_key)"
        )
        op.execute("CREATE INDEX ix_usage_events_occurred_at ON usage_events (occurred_at)")
    for name, definition in foreign:
        op.execute(f"ALTER TABLE usage_events ADD CONSTRAINT {name} {definition}")
    for definition in indexes:
        if " ix_usage_events_occurred_at " not in definition:
            op.execute(definition.replace(" ON ONLY ", " ON "))


@contextlib.contextmanager
def _new_primary_key() -> Iterator[None]:
    """Batch mode warns that its copy of the table gets another primary key: that is the
    point here, so only that warning is silenced."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Table '_alembic_tmp_usage_events' specifies columns")
        yield


def upgrade() -> None:
    op.create_table(
        "usage_event_keys",
        sa.Column("idempotency_key", _KEY, nullable=False),
        sa.Column("occurred_at", core.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("idempotency_key"),
    )
    op.create_index("ix_usage_event_keys_occurred_at", "usage_event_keys", ["occurred_at"])
    op.execute(
        "INSERT INTO usage_event_keys (idempotency_key, occurred_at) "
        "SELECT idempotency_key, occurred_at FROM usage_events"
    )
    if op.get_bind().dialect.name == "postgresql":
        _rebuild_pg(partitioned=True)
        return
    with _new_primary_key(), op.batch_alter_table("usage_events", recreate="always") as batch_op:
        batch_op.drop_constraint("uq_usage_events_idempotency_key", type_="unique")
        batch_op.drop_index("ix_usage_events_occurred_at")
        batch_op.create_primary_key("pk_usage_events", ["occurred_at", "id"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _rebuild_pg(partitioned=False)
        op.execute(f"DROP SCHEMA IF EXISTS {partitions.SCHEMA}")
    else:
        with (
            _new_primary_key(),
            op.batch_alter_table("usage_events", recreate="always") as batch_op,
        ):
            batch_op.create_primary_key("usage_events_pkey", ["id"])
            batch_op.create_unique_constraint(
                "uq_usage_events_idempotency_key", ["idempotency_key"]
            )
            batch_op.create_index("ix_usage_events_occurred_at", ["occurred_at"])
    op.drop_index("ix_usage_event_keys_occurred_at", table_name="usage_event_keys")
    op.drop_table("usage_event_keys")
