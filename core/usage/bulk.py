"""PostgreSQL's bulk path for a batch of priced event rows: a few statements, whatever the size.

    months the rows touch ─▶ core.store.partitions.ensure (one catalog query when they exist)
    rows ─COPY (binary)─▶ pg_temp.usage_events_staging (ON COMMIT DELETE ROWS; emptied first)
    one statement:
      keys = INSERT INTO usage_event_keys SELECT key, occurred_at FROM staging ORDER BY key
             ON CONFLICT (idempotency_key) DO NOTHING RETURNING key     (only the new keys)
      new  = staging JOIN keys                                            (materialised once)
      INSERT INTO usage_events SELECT gen_random_uuid(), now, … FROM new  (into its month)
      daily_sums = new summed by usage_daily's key                         (materialised once)
      INSERT INTO usage_daily           SELECT … FROM daily_sums ORDER BY … ON CONFLICT DO UPDATE
      INSERT INTO usage_daily_models, usage_daily_users   (the same, coarser: rollups.COARSE)
      INSERT INTO usage_daily_tags SELECT … FROM (new summed by day and tag set) JOIN tag sets
      SELECT count, unpriced, cost FROM new

A batch repeats a few sets of tags: each distinct set gets a number, its pairs go to a second
staging table, and the tag rollups are summed by (day, set) before the join, so no event's
JSON is parsed twice.

A pipelined batch (core.usage.pipeline, KEEPING_STATEMENT) keeps the rollup shares in
temporary tables until its end instead (begin_keeping, roll_up_kept).

Claiming the key in the unpartitioned keys table first is what stores an event once even when
it is resent with another timestamp (another month, another partition). The rollups add
exactly what core.usage.rollups adds (same keys: NO_PROVIDER_ID and '' for none; NUMERIC
sums), in the same order as rollups.apply sorts its keys (COLLATE "C" is code point order,
as Python compares str), so this path and a reprice cannot deadlock on each other. Keys go
in code point order for the same reason.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from core.store import partitions
from core.store.usage_tables import NO_PROVIDER_ID
from core.usage.rollups import COARSE, METRICS

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
    "source_cost_usd",
)
_STAGING = "usage_events_staging"
_TAGSETS = "usage_tagsets_staging"
_TAGS_AT = STAGED.index("tags")
_DERIVED = ("unpriced_requests", "source_costed_requests")  # counted, not event columns
_MONEY = ("cost_usd", "source_cost_usd")
_INTEGERS = [m for m in METRICS if m not in _DERIVED + _MONEY]
# The event columns the rollups sum, and the metrics of events (cost NULL: unpriced; source
# cost NULL: the source gave none), in METRICS order.
_EVENT_VALUES = ", ".join([*_INTEGERS, *_MONEY])
_EVENT_SUMS = [
    *(f"sum({m})" for m in _INTEGERS),
    "coalesce(sum(cost_usd), 0)",
    "coalesce(sum(requests) FILTER (WHERE cost_usd IS NULL), 0)",
    "coalesce(sum(source_cost_usd), 0)",
    "coalesce(sum(requests) FILTER (WHERE source_cost_usd IS NOT NULL), 0)",
]
assert len(_EVENT_SUMS) == len(METRICS)  # one per metric, in METRICS order
_METRIC_LIST = ", ".join(METRICS)


def _upsert(table: str, keys: list[str], source: str, *, summed: bool = False) -> str:
    """INSERT … SELECT keys, sums FROM source GROUP BY keys, adding to existing rows; the
    source holds events, or (summed) rows of METRICS already summed."""
    key_list = ", ".join(keys)
    order = ", ".join(k if k in ("day", "provider_id") else f'{k} COLLATE "C"' for k in keys)
    sums = ", ".join(f"sum({m})" for m in METRICS) if summed else ", ".join(_EVENT_SUMS)
    adds = ", ".join(f"{m} = {table}.{m} + excluded.{m}" for m in METRICS)
    return (
        f"INSERT INTO {table} ({key_list}, {_METRIC_LIST}) "
        f"SELECT {key_list}, {sums} FROM {source} GROUP BY {key_list} ORDER BY {order} "
        f"ON CONFLICT ({key_list}) DO UPDATE SET {adds}"
    )


_DAILY_KEYS = ["day", "provider_id", "provider_name", "provider_type", "model_id", "username"]
_COARSE_KEYS = {  # core.usage.rollups.COARSE by table name
    model.__tablename__: [_DAILY_KEYS[i] for i in positions] for model, positions in COARSE
}
_columns = ", ".join(STAGED)
_by_set = ", ".join(f"{s} AS {m}" for s, m in zip(_EVENT_SUMS, METRICS, strict=True))
_TAG_KEYS = ["day", "tag_key", "tag_value"]
_DAILY_PENDING, _TAGS_PENDING = "usage_daily_pending", "usage_tags_pending"
# What a statement stores: keys, then the events of the keys that were new, and their
# contributions to usage_daily (daily_sums) and usage_daily_tags (tag_source).
_STORE = [
    "keys AS (INSERT INTO usage_event_keys (idempotency_key, occurred_at) "
    f'SELECT idempotency_key, occurred_at FROM {_STAGING} ORDER BY idempotency_key COLLATE "C" '
    "ON CONFLICT (idempotency_key) DO NOTHING RETURNING idempotency_key)",
    f"new AS MATERIALIZED (SELECT * FROM {_STAGING} "
    'WHERE idempotency_key COLLATE "C" IN (SELECT idempotency_key FROM keys))',
    f"events AS (INSERT INTO usage_events (id, recorded_at, {_columns}) "
    f"SELECT gen_random_uuid(), %(now)s, {_columns} FROM new)",
    "daily_source AS (SELECT day, "
    f"coalesce(provider_id, '{NO_PROVIDER_ID}'::uuid) AS provider_id, provider_name, "
    "provider_type, model_id, coalesce(username, '') AS username, "
    f"{_EVENT_VALUES} FROM new)",
    f"daily_sums AS MATERIALIZED (SELECT {', '.join(_DAILY_KEYS)}, {_by_set} FROM daily_source "
    f"GROUP BY {', '.join(_DAILY_KEYS)})",
    f"by_set AS (SELECT day, tagset, {_by_set} FROM new GROUP BY day, tagset)",
    f"tag_source AS (SELECT b.day, t.tag_key, t.tag_value, {_METRIC_LIST} FROM by_set b "
    f"JOIN {_TAGSETS} t ON t.tagset = b.tagset)",
]
# Adding daily_sums and tag_source to the rollups, each table's rows in one sorted order.
_ROLL_UP = [
    f"daily AS ({_upsert('usage_daily', _DAILY_KEYS, 'daily_sums', summed=True)})",
    *(
        f"{table} AS ({_upsert(table, keys, 'daily_sums', summed=True)})"
        for table, keys in _COARSE_KEYS.items()
    ),
    f"tagged AS ({_upsert('usage_daily_tags', _TAG_KEYS, 'tag_source', summed=True)})",
]
# Keeping them for later instead (a pipelined batch: core.usage.pipeline).
_KEEP = [
    f"daily_kept AS (INSERT INTO {_DAILY_PENDING} ({', '.join(_DAILY_KEYS)}, {_METRIC_LIST}) "
    f"SELECT * FROM daily_sums)",
    f"tags_kept AS (INSERT INTO {_TAGS_PENDING} ({', '.join(_TAG_KEYS)}, {_METRIC_LIST}) "
    "SELECT * FROM tag_source)",
]
_COUNTS = (
    " SELECT count(*), coalesce(sum(1) FILTER (WHERE cost_usd IS NULL), 0), "
    "coalesce(sum(cost_usd), 0) FROM new"
)
STATEMENT = "WITH " + ", ".join(_STORE + _ROLL_UP) + _COUNTS
KEEPING_STATEMENT = "WITH " + ", ".join(_STORE + _KEEP) + _COUNTS
ROLL_UP_KEPT = (
    "WITH "
    + ", ".join(
        [
            f"daily_sums AS MATERIALIZED (SELECT {', '.join(_DAILY_KEYS)}, "
            f"{', '.join(f'sum({m}) AS {m}' for m in METRICS)} FROM {_DAILY_PENDING} "
            f"GROUP BY {', '.join(_DAILY_KEYS)})",
            f"tag_source AS (SELECT * FROM {_TAGS_PENDING})",
            *_ROLL_UP,
        ]
    )
    + " SELECT 1"
)


# The staging table's column types for a binary COPY, in column order (the table is made
# from usage_events, so a column another feature adds comes along). Binary COPY costs Python
# and the server about half what text does (measured: 6.0 → 3.3 µs and 3.7 → 2.1 µs a row).
# A JSON column is sent as text: its binary form is its text, while psycopg's json dumper
# would encode our JSON text again as a JSON string.
_STAGED_TYPES = (
    "SELECT CASE WHEN atttypid = 'json'::regtype THEN 'text'::regtype ELSE atttypid END::oid "
    "FROM pg_attribute WHERE attrelid = %(table)s::regclass AND attnum > 0 "
    "AND NOT attisdropped ORDER BY attnum"
)


def rebuild_statements() -> list[str]:
    """The statements that fill empty rollup tables from every event (a rebuild), in order:
    the coarser rollups sum what usage_daily holds by then."""
    daily_source = (
        f"(SELECT day, coalesce(provider_id, '{NO_PROVIDER_ID}'::uuid) AS provider_id, "
        "provider_name, provider_type, model_id, coalesce(username, '') AS username, "
        f"{_EVENT_VALUES} FROM usage_events) AS daily_source"
    )
    tag_source = (
        "(SELECT e.day, t.key AS tag_key, t.value AS tag_value, "
        f"{', '.join('e.' + m for m in [*_INTEGERS, *_MONEY])} "
        "FROM usage_events AS e, json_each_text(e.tags) AS t) AS tag_source"
    )
    return [
        _upsert("usage_daily", _DAILY_KEYS, daily_source),
        *(_upsert(t, keys, "usage_daily", summed=True) for t, keys in _COARSE_KEYS.items()),
        _upsert("usage_daily_tags", _TAG_KEYS, tag_source),
    ]


def store(
    session: Session, rows: Sequence[tuple[Any, ...]], *, now: datetime
) -> tuple[int, int, Decimal]:
    """Insert the rows (STAGED tuples, tags as JSON text) whose key is new and add them to
    the rollups, in the caller's transaction; returns (inserted, unpriced inserted, their
    priced cost)."""
    if not rows:
        return 0, 0, Decimal(0)
    return store_on(driver_of(session), rows, now=now)


def driver_of(session: Session) -> Any:
    """The psycopg connection under the session's transaction, pending ORM changes flushed
    first (as a session statement would)."""
    session.flush()
    driver = session.connection().connection.driver_connection
    assert driver is not None
    return driver


def store_on(
    driver: Any, rows: Sequence[tuple[Any, ...]], *, now: datetime
) -> tuple[int, int, Decimal]:
    """``store`` on the session's psycopg connection itself (``driver_of``): ``stage`` then
    ``apply``."""
    if not rows:
        return 0, 0, Decimal(0)
    stage(driver, rows)
    return apply(driver, now=now)


def stage(driver: Any, rows: Sequence[tuple[Any, ...]]) -> None:
    """COPY the rows (and their sets of tags) into this connection's staging tables, the
    months they touch partitioned first."""
    months = {date(row[1].year, row[1].month, 1) for row in rows}  # occurred_at is UTC
    with driver.cursor() as cursor:
        partitions.ensure(cursor, months)
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {_STAGING} ON COMMIT DELETE ROWS AS "
            f"SELECT {_columns}, 0 AS tagset FROM usage_events WITH NO DATA"
        )
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {_TAGSETS} ON COMMIT DELETE ROWS AS "
            "SELECT 0 AS tagset, tag_key, tag_value FROM usage_daily_tags WITH NO DATA"
        )
        cursor.execute(f"TRUNCATE {_STAGING}, {_TAGSETS}")  # another batch, same transaction
        cursor.execute(_STAGED_TYPES, {"table": f"pg_temp.{_STAGING}"})
        types = [oid for (oid,) in cursor.fetchall()]
        tagsets: dict[str, int] = {}
        with cursor.copy(
            f"COPY {_STAGING} ({_columns}, tagset) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(types)
            write, number = copy.write_row, tagsets.setdefault
            for row in rows:
                write((*row, number(row[_TAGS_AT], len(tagsets))))  # tags: JSON text
        with cursor.copy(f"COPY {_TAGSETS} (tagset, tag_key, tag_value) FROM STDIN") as copy:
            for text, tagset in tagsets.items():
                for pair in json.loads(text).items():
                    copy.write_row((tagset, *pair))


def apply(driver: Any, *, now: datetime, keep: bool = False) -> tuple[int, int, Decimal]:
    """Store what ``stage`` staged: touches no SQLAlchemy object, so it may run in a thread
    while the session's thread waits; returns (inserted, unpriced inserted, their priced
    cost). With ``keep`` the rollups' share is kept aside (``begin_keeping``) until
    ``roll_up_kept``."""
    with driver.cursor() as cursor:
        if keep:  # one round trip: tuned() is in force for the whole pipelined batch
            cursor.execute(KEEPING_STATEMENT, {"now": now})
            found = cursor.fetchone()
        else:
            with tuned(cursor):
                cursor.execute(STATEMENT, {"now": now})
                found = cursor.fetchone()
    assert found is not None
    inserted, unpriced, cost = found
    return int(inserted), int(unpriced), Decimal(cost)


@contextlib.contextmanager
def tuned(cursor: Any) -> Iterator[None]:
    """The storing statements' settings, for this transaction until the block ends. The
    planner's guess for json_each_text (100 rows an event) makes a statement look costly
    enough to JIT-compile: a second spent compiling a 50 ms query. Sorts of a large batch fit
    in memory instead of spilling to disk."""
    _tune(cursor)
    try:
        yield
    finally:
        _untune(cursor)


def _tune(cursor: Any) -> None:
    cursor.execute("SET LOCAL jit = off")
    cursor.execute("SET LOCAL work_mem = '64MB'")


def _untune(cursor: Any) -> None:
    cursor.execute("SET LOCAL jit TO DEFAULT")
    cursor.execute("SET LOCAL work_mem TO DEFAULT")


def begin_keeping(driver: Any) -> None:
    """Empty tables to keep the rollups' share of a pipelined batch in (temporary: this
    connection's, emptied at the commit)."""
    with driver.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {_DAILY_PENDING} ON COMMIT DELETE ROWS AS "
            f"SELECT {', '.join(_DAILY_KEYS)}, {_METRIC_LIST} FROM usage_daily WITH NO DATA"
        )
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {_TAGS_PENDING} ON COMMIT DELETE ROWS AS "
            f"SELECT {', '.join(_TAG_KEYS)}, {_METRIC_LIST} FROM usage_daily_tags WITH NO DATA"
        )
        cursor.execute(f"TRUNCATE {_DAILY_PENDING}, {_TAGS_PENDING}")
        # tuned()'s settings until end_keeping: a chunk's store is then one round trip (in
        # the store thread, each round trip waited for the GIL while this thread prepared).
        _tune(cursor)


def roll_up_kept(driver: Any) -> None:
    """Add what the batch's chunks kept aside to the rollups: one statement, every table's
    rows in the one sorted order, as a single-statement batch would."""
    with driver.cursor() as cursor:
        cursor.execute(ROLL_UP_KEPT)
        cursor.execute(f"TRUNCATE {_DAILY_PENDING}, {_TAGS_PENDING}")


def end_keeping(driver: Any) -> None:
    """The transaction's own settings again (begin_keeping changed them)."""
    with driver.cursor() as cursor:
        _untune(cursor)
