"""Monthly range partitions of ``usage_events`` on PostgreSQL (SQLite keeps one table).

    usage_events                      partitioned by RANGE (occurred_at), no default partition
      usage_partitions.usage_events_202605   [2026-05-01 00:00 UTC, 2026-06-01 00:00 UTC)
      usage_partitions.usage_events_202606   …

Partitions live in their own schema so that the public schema holds exactly the ORM's
tables (reflection, Alembic's comparisons). An ingest creates the months it touches
(``ensure``): one catalog query when they exist; otherwise, under a transaction-level
advisory lock, a re-check and ``CREATE TABLE … PARTITION OF`` in the caller's transaction,
so concurrent ingests of a new month create it once and wait for each other. Retention
drops whole months (``drop_before``), never deleting rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

SCHEMA = "usage_partitions"
PARENT = "usage_events"
_LOCK = 0x75736167  # pg_advisory_xact_lock key: 'usag'


def month_of(at: datetime) -> date:
    """The first day of the UTC month of an instant."""
    at = at.astimezone(UTC)
    return date(at.year, at.month, 1)


def next_month(month: date) -> date:
    """The first day of the following month."""
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def name_of(month: date) -> str:
    """The partition's table name (without its schema)."""
    return f"{PARENT}_{month:%Y%m}"


def _execute(conn: Any, sql: str, params: Any = None) -> list[tuple]:
    """Run SQL on a psycopg connection or cursor; its rows (empty when none)."""
    cursor = conn.execute(sql, params) if params is not None else conn.execute(sql)
    return list(cursor.fetchall()) if cursor.description is not None else []


def existing(conn: Any) -> dict[date, str]:
    """The partitions there are: first day of the month → qualified table name."""
    rows = _execute(
        conn,
        "SELECT n.nspname, c.relname FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE i.inhparent = %s::regclass",
        (PARENT,),
    )
    found = {}
    for schema, name in rows:
        stamp = name.removeprefix(f"{PARENT}_")
        if len(stamp) == 6 and stamp.isdigit():
            found[date(int(stamp[:4]), int(stamp[4:]), 1)] = f"{schema}.{name}"
    return found


def create_sql(month: date) -> str:
    """The DDL of one month's partition (bounds in UTC, upper bound exclusive)."""
    return (
        f"CREATE TABLE IF NOT EXISTS {SCHEMA}.{name_of(month)} PARTITION OF {PARENT} "
        f"FOR VALUES FROM ('{month.isoformat()} 00:00:00+00') "
        f"TO ('{next_month(month).isoformat()} 00:00:00+00')"
    )


def ensure(conn: Any, months: Iterable[date]) -> list[date]:
    """Create the missing partitions of these months in the caller's transaction (a psycopg
    connection or cursor); returns the months created."""
    wanted = set(months)
    if not wanted or wanted <= existing(conn).keys():
        return []
    _execute(conn, "SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
    missing = sorted(wanted - existing(conn).keys())  # another ingest may have made them
    for month in missing:
        _execute(conn, create_sql(month))
    return missing


def before(conn: Any, horizon: datetime) -> dict[date, str]:
    """The partitions whose whole month lies before the horizon instant."""
    return {
        month: name
        for month, name in sorted(existing(conn).items())
        if datetime.combine(next_month(month), datetime.min.time(), UTC) <= horizon
    }


def drop(conn: Any, months: dict[date, str]) -> None:
    """Drop these partitions (month → qualified name, as ``before`` returns them)."""
    if months:
        _execute(conn, "SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
    for name in months.values():
        _execute(conn, f"DROP TABLE IF EXISTS {name}")
