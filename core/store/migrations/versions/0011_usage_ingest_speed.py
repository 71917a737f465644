"""usage ledger at speed: rollups by day and model, and by day and user; events' user and
model references kept by triggers instead of foreign keys

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06

``usage_daily_models`` is ``usage_daily`` summed over users, ``usage_daily_users`` summed
over providers and models (a few dozen rows a day where usage_daily has hundreds); both are
filled here from ``usage_daily``, and the totals by day, provider, model or user read them.

``usage_events.user_id`` and ``model_record_id`` lose their foreign keys: checking them cost
a locked lookup per inserted event. What the keys did stays done: a trigger on ``users`` and
on ``models`` sets the events' reference to NULL when its row is deleted (the ON DELETE SET
NULL the keys had; the event keeps its names, so history survives), and an ingest locks the
rows it references once per batch (core.usage.ledger), so a concurrent delete waits for it.
"""

from collections import defaultdict
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

import core.store.tables

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_COARSE = {  # table → its key columns, all of them usage_daily's
    "usage_daily_models": ("day", "provider_id", "provider_name", "provider_type", "model_id"),
    "usage_daily_users": ("day", "username"),
}
_METRICS = (
    "requests",
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cost_usd",
    "unpriced_requests",
    "source_cost_usd",
    "source_costed_requests",
)
_MONEY = ("cost_usd", "source_cost_usd")
_TYPES: dict[str, sa.types.TypeEngine] = {
    **{m: core.store.tables.Money() if m in _MONEY else sa.BigInteger() for m in _METRICS},
    "day": sa.Date(),
    "provider_id": sa.Uuid(),
    "provider_name": sa.String(length=100),
    "provider_type": sa.String(length=64),
    "model_id": sa.String(length=255),
    "username": sa.String(length=64),
}
# (referenced table, event column): the references the triggers keep.
_REFERENCES = (("users", "user_id"), ("models", "model_record_id"))
_FK_NAMES = {"fk": "fk_%(table_name)s_%(column_0_name)s"}  # SQLite's keys have no name


def _pg() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    for table, keys in _COARSE.items():
        op.create_table(
            table,
            *(sa.Column(k, _TYPES[k], nullable=False) for k in keys),
            *(sa.Column(m, _TYPES[m], nullable=False) for m in _METRICS),
            sa.PrimaryKeyConstraint(*keys),
        )
        _fill(table, keys)
    if _pg():
        for name, _ in _foreign_keys_pg():
            op.execute(f"ALTER TABLE usage_events DROP CONSTRAINT {name}")
    else:
        columns = {column for _, column in _REFERENCES}
        foreign = sa.inspect(op.get_bind()).get_foreign_keys("usage_events")
        with op.batch_alter_table("usage_events", naming_convention=_FK_NAMES) as batch:
            for key in foreign:
                (column,) = key["constrained_columns"]
                if column in columns:  # unnamed as 0006 made it, named after a downgrade
                    name = key["name"] or f"fk_usage_events_{column}"
                    batch.drop_constraint(name, type_="foreignkey")
    for table, column in _REFERENCES:
        _create_trigger(table, column)


def downgrade() -> None:
    for table, column in _REFERENCES:
        _drop_trigger(table, column)
    with op.batch_alter_table("usage_events") as batch:
        for table, column in _REFERENCES:
            batch.create_foreign_key(
                f"usage_events_{column}_fkey", table, [column], ["id"], ondelete="SET NULL"
            )
    for table in reversed(_COARSE):
        op.drop_table(table)


def _fill(table: str, key_columns: tuple[str, ...]) -> None:
    """The table's rows: usage_daily summed by its key columns."""
    keys, metrics = ", ".join(key_columns), ", ".join(_METRICS)
    if _pg():  # NUMERIC adds exactly
        op.execute(
            f"INSERT INTO {table} ({keys}, {metrics}) "
            f"SELECT {keys}, {', '.join(f'sum({m})' for m in _METRICS)} FROM usage_daily "
            f"GROUP BY {keys}"
        )
        return
    # SQLite keeps money as decimal text: added here as Decimals.
    found: dict[tuple, list] = defaultdict(lambda: [0] * len(_METRICS))
    for row in op.get_bind().exec_driver_sql(f"SELECT {keys}, {metrics} FROM usage_daily"):
        totals = found[tuple(row[: len(key_columns)])]
        for i, (name, value) in enumerate(zip(_METRICS, row[len(key_columns) :], strict=True)):
            totals[i] += Decimal(value) if name in _MONEY else value
    if found:
        op.get_bind().exec_driver_sql(
            f"INSERT INTO {table} ({keys}, {metrics}) "
            f"VALUES ({', '.join('?' * (len(key_columns) + len(_METRICS)))})",
            [
                (*key, *(str(v) if m in _MONEY else v for m, v in zip(_METRICS, sums, strict=True)))
                for key, sums in found.items()
            ],
        )


def _foreign_keys_pg() -> list[tuple[str, str]]:
    """The foreign keys of usage_events on user_id and model_record_id (name, column)."""
    rows = op.get_bind().exec_driver_sql(
        "SELECT c.conname, a.attname FROM pg_constraint c JOIN pg_attribute a "
        "ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
        "WHERE c.conrelid = 'usage_events'::regclass AND c.contype = 'f'"
    )
    columns = {column for _, column in _REFERENCES}
    return [(name, column) for name, column in rows if column in columns]


def _create_trigger(table: str, column: str) -> None:
    name = f"{table}_forget_in_usage_events"
    update = f"UPDATE usage_events SET {column} = NULL WHERE {column} = OLD.id;"
    if _pg():
        op.execute(
            f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN {update} RETURN NULL; END $$"
        )
        op.execute(
            f"CREATE TRIGGER {name} AFTER DELETE ON {table} FOR EACH ROW EXECUTE FUNCTION {name}()"
        )
    else:
        op.execute(f"CREATE TRIGGER {name} AFTER DELETE ON {table} FOR EACH ROW BEGIN {update} END")


def _drop_trigger(table: str, column: str) -> None:
    name = f"{table}_forget_in_usage_events"
    if _pg():
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    else:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
