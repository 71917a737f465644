"""PostgreSQL's bulk path for a batch of priced event rows: three statements, whatever the size.

    event rows ─COPY─▶ pg_temp.usage_events_staging (ON COMMIT DELETE ROWS; emptied first)
    one statement:
      new  = INSERT INTO usage_events SELECT … FROM staging ORDER BY key
             ON CONFLICT (idempotency_key) DO NOTHING RETURNING …      (only the new rows)
      INSERT INTO usage_daily      SELECT … FROM new GROUP BY … ORDER BY … ON CONFLICT DO UPDATE
      INSERT INTO usage_daily_tags SELECT … FROM new, json_each_text(tags) GROUP BY … (same)
      SELECT count, unpriced, cost FROM new

The rollups add exactly what core.usage.rollups adds (same keys: NO_PROVIDER_ID and '' for
none; NUMERIC sums), in the same order as rollups.apply sorts its keys (COLLATE "C" is
code point order, as Python compares str), so this path and a reprice cannot deadlock on
each other. Events go in idempotency-key order for the same reason.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from core.store.tables import NO_PROVIDER_ID, UsageEvent
from core.usage.rollups import METRICS

EVENT_COLUMNS = tuple(c.name for c in UsageEvent.__table__.columns)
_STAGING = "usage_events_staging"
_DERIVED = ("unpriced_requests", "source_costed_requests")  # counted, not event columns
_EVENT_METRICS = [m for m in METRICS if m not in _DERIVED]  # summed from event columns
_INTEGERS = [m for m in _EVENT_METRICS if m not in ("cost_usd", "source_cost_usd")]
_SUMS = ", ".join(
    [f"sum({m})" for m in _INTEGERS]
    + [
        "coalesce(sum(cost_usd), 0)",
        "coalesce(sum(requests) FILTER (WHERE cost_usd IS NULL), 0)",
        "coalesce(sum(source_cost_usd), 0)",
        "coalesce(sum(requests) FILTER (WHERE source_cost_usd IS NOT NULL), 0)",
    ]
)
_METRIC_LIST = ", ".join(
    [*_INTEGERS, "cost_usd", "unpriced_requests", "source_cost_usd", "source_costed_requests"]
)


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
_columns = ", ".join(EVENT_COLUMNS)
STATEMENT = (
    f"WITH new AS (INSERT INTO usage_events ({_columns}) "
    f'SELECT {_columns} FROM {_STAGING} ORDER BY idempotency_key COLLATE "C" '
    "ON CONFLICT (idempotency_key) DO NOTHING RETURNING *), "
    "daily_source AS (SELECT day, "
    f"coalesce(provider_id, '{NO_PROVIDER_ID}'::uuid) AS provider_id, provider_name, "
    "provider_type, model_id, coalesce(username, '') AS username, "
    f"{', '.join(_EVENT_METRICS)} FROM new), "
    f"daily AS ({_upsert('usage_daily', _DAILY_KEYS, 'daily_source')}), "
    "tag_source AS (SELECT new.day, t.key AS tag_key, t.value AS tag_value, "
    f"{', '.join('new.' + m for m in _EVENT_METRICS)} FROM new, json_each_text(new.tags) AS t), "
    f"tagged AS ({_upsert('usage_daily_tags', ['day', 'tag_key', 'tag_value'], 'tag_source')}) "
    "SELECT count(*), coalesce(sum(1) FILTER (WHERE cost_usd IS NULL), 0), "
    "coalesce(sum(cost_usd), 0) FROM new"
)


def rebuild_statements() -> tuple[str, str]:
    """The two statements that fill empty rollup tables from every event (a rebuild)."""
    daily_source = (
        f"(SELECT day, coalesce(provider_id, '{NO_PROVIDER_ID}'::uuid) AS provider_id, "
        "provider_name, provider_type, model_id, coalesce(username, '') AS username, "
        f"{', '.join(_EVENT_METRICS)} FROM usage_events) AS daily_source"
    )
    tag_source = (
        "(SELECT e.day, t.key AS tag_key, t.value AS tag_value, "
        f"{', '.join('e.' + m for m in _EVENT_METRICS)} "
        "FROM usage_events AS e, json_each_text(e.tags) AS t) AS tag_source"
    )
    return (
        _upsert("usage_daily", _DAILY_KEYS, daily_source),
        _upsert("usage_daily_tags", ["day", "tag_key", "tag_value"], tag_source),
    )


def store(session: Session, rows: Sequence[dict[str, Any]]) -> tuple[int, int, Decimal]:
    """Insert the rows whose key is new and add them to the rollups, in the caller's
    transaction; returns (inserted, unpriced inserted, their priced cost)."""
    session.flush()  # pending ORM changes first, as a session statement would
    driver = session.connection().connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {_STAGING} "
            "(LIKE usage_events INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        cursor.execute(f"TRUNCATE {_STAGING}")  # a second batch in the same transaction
        with cursor.copy(f"COPY {_STAGING} ({_columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(
                    [json.dumps(row["tags"]) if c == "tags" else row[c] for c in EVENT_COLUMNS]
                )
        cursor.execute(STATEMENT)
        inserted, unpriced, cost = cursor.fetchone()
    return int(inserted), int(unpriced), Decimal(cost)
