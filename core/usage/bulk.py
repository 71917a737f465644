"""PostgreSQL's bulk path for a batch of priced event rows: a few statements, whatever the size.

    months the rows touch ─▶ core.store.partitions.ensure (one catalog query when they exist)
    rows ─COPY─▶ pg_temp.usage_events_staging (ON COMMIT DELETE ROWS; emptied first)
    one statement:
      keys = INSERT INTO usage_event_keys SELECT key, occurred_at FROM staging ORDER BY key
             ON CONFLICT (idempotency_key) DO NOTHING RETURNING key     (only the new keys)
      new  = staging JOIN keys                                            (materialised once)
      INSERT INTO usage_events SELECT gen_random_uuid(), now, … FROM new  (into its month)
      INSERT INTO usage_daily      SELECT … FROM new GROUP BY … ORDER BY … ON CONFLICT DO UPDATE
      INSERT INTO usage_daily_tags SELECT … FROM new, json_each_text(tags) GROUP BY … (same)
      SELECT count, unpriced, cost FROM new

Claiming the key in the unpartitioned keys table first is what stores an event once even when
it is resent with another timestamp (another month, another partition). The rollups add
exactly what core.usage.rollups adds (same keys: NO_PROVIDER_ID and '' for none; NUMERIC
sums), in the same order as rollups.apply sorts its keys (COLLATE "C" is code point order,
as Python compares str), so this path and a reprice cannot deadlock on each other. Keys go
in code point order for the same reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from core.store import partitions
from core.store.tables import NO_PROVIDER_ID
from core.usage.rollups import METRICS

# The columns an ingest fills, in the order of a prepared row (core.usage.batch); the
# event's id and recorded_at are added by the INSERT. A column another feature adds to
# usage_events keeps its default unless it is named here.
STAGED = (
    "idempotency_key",
    "occurred_at",
    "day",
    "user_id",
    "username",
    "provider_id",
    "provider_name",
    "provider_type",
    "model_record_id",
    "model_id",
    "configured",
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "requests",
    "tags",
    "cost_usd",
    "price_source",
)
_STAGING = "usage_events_staging"
_INTEGERS = [m for m in METRICS if m not in ("cost_usd", "unpriced_requests")]
_SUMS = ", ".join(
    [f"sum({m})" for m in _INTEGERS]
    + [
        "coalesce(sum(cost_usd), 0)",
        "coalesce(sum(requests) FILTER (WHERE cost_usd IS NULL), 0)",
    ]
)
_METRIC_LIST = ", ".join([*_INTEGERS, "cost_usd", "unpriced_requests"])


def _upsert(table: str, keys: list[str], source: str) -> str:
    """INSERT … SELECT keys, sums FROM source GROUP BY keys, adding to existing rows."""
    key_list = ", ".join(keys)
    order = ", ".join(k if k in ("day", "provider_id") else f'{k} COLLATE "C"' for k in keys)
    adds = ", ".join(f"{m} = {table}.{m} + excluded.{m}" for m in METRICS)
    return (
        f"INSERT INTO {table} ({key_list}, {_METRIC_LIST}) "
        f"SELECT {key_list}, {_SUMS} FROM {source} GROUP BY {key_list} ORDER BY {order} "
        f"ON CONFLICT ({key_list}) DO UPDATE SET {adds}"
    )


_DAILY_KEYS = ["day", "provider_id", "provider_name", "provider_type", "model_id", "username"]
_columns = ", ".join(STAGED)
STATEMENT = (
    "WITH keys AS (INSERT INTO usage_event_keys (idempotency_key, occurred_at) "
    f'SELECT idempotency_key, occurred_at FROM {_STAGING} ORDER BY idempotency_key COLLATE "C" '
    "ON CONFLICT (idempotency_key) DO NOTHING RETURNING idempotency_key), "
    f"new AS MATERIALIZED (SELECT s.* FROM {_STAGING} s JOIN keys k "
    'ON k.idempotency_key = s.idempotency_key COLLATE "C"), '
    f"events AS (INSERT INTO usage_events (id, recorded_at, {_columns}) "
    f"SELECT gen_random_uuid(), %(now)s, {_columns} FROM new), "
    "daily_source AS (SELECT day, "
    f"coalesce(provider_id, '{NO_PROVIDER_ID}'::uuid) AS provider_id, provider_name, "
    "provider_type, model_id, coalesce(username, '') AS username, "
    f"{', '.join(METRICS[:-1])} FROM new), "
    f"daily AS ({_upsert('usage_daily', _DAILY_KEYS, 'daily_source')}), "
    "tag_source AS (SELECT new.day, t.key AS tag_key, t.value AS tag_value, "
    f"{', '.join('new.' + m for m in METRICS[:-1])} FROM new, json_each_text(new.tags) AS t), "
    f"tagged AS ({_upsert('usage_daily_tags', ['day', 'tag_key', 'tag_value'], 'tag_source')}) "
    "SELECT count(*), coalesce(sum(1) FILTER (WHERE cost_usd IS NULL), 0), "
    "coalesce(sum(cost_usd), 0) FROM new"
)


def store(
    session: Session, rows: Sequence[tuple[Any, ...]], *, now: datetime
) -> tuple[int, int, Decimal]:
    """Insert the rows (STAGED tuples, tags as JSON text) whose key is new and add them to
    the rollups, in the caller's transaction; returns (inserted, unpriced inserted, their
    priced cost)."""
    if not rows:
        return 0, 0, Decimal(0)
    session.flush()  # pending ORM changes first, as a session statement would
    driver = session.connection().connection.driver_connection
    assert driver is not None
    months = {date(row[1].year, row[1].month, 1) for row in rows}  # occurred_at is UTC
    with driver.cursor() as cursor:
        partitions.ensure(cursor, months)
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {_STAGING} ON COMMIT DELETE ROWS AS "
            f"SELECT {_columns} FROM usage_events WITH NO DATA"
        )
        cursor.execute(f"TRUNCATE {_STAGING}")  # a second batch in the same transaction
        with cursor.copy(f"COPY {_STAGING} ({_columns}) FROM STDIN") as copy:
            write = copy.write_row
            for row in rows:
                write(row)
        cursor.execute(STATEMENT, {"now": now})
        found = cursor.fetchone()
    assert found is not None
    inserted, unpriced, cost = found
    return int(inserted), int(unpriced), Decimal(cost)
