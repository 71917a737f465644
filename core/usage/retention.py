"""Retention of raw usage events: MODELDESK_USAGE_RETENTION_DAYS (default: keep forever).

The horizon is now minus that many days. The daily rollups are never touched, so summaries
and dashboards keep every period; only the drill-down into raw events ends at the horizon.

    PostgreSQL  DROP each monthly partition that lies entirely before the horizon (never a
                row delete), then the idempotency keys of those months
    SQLite      DELETE events older than the horizon, then their keys, in batches of
                ``batch`` rows, each batch its own transaction

An event older than the horizon that arrives later is refused at ingest (core.usage.inputs:
it could never be drilled into). ``modeldesk usage prune [--dry-run]`` runs a prune; the
console runs one a day when retention is set (pages/_ui.py, on the scheduler's lease).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, literal_column, select
from sqlalchemy.orm import Session

from core.store import partitions
from core.store.usage_tables import UsageEvent, UsageEventKey

BATCH = 10_000
PRUNE_JOB = "usage-prune"  # its row in scheduler_leases
PRUNE_INTERVAL = 86_400  # seconds: the console prunes once a day per deployment
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PruneResult:
    """What a prune removed (or, dry, would remove)."""

    horizon: datetime | None
    events: int = 0
    keys: int = 0
    months: list[date] = field(default_factory=list)  # partitions dropped (PostgreSQL)
    dry_run: bool = False

    def summary(self) -> str:
        """One line for the CLI and the log."""
        if self.horizon is None:
            return (
                "MODELDESK_USAGE_RETENTION_DAYS is not set: raw usage events are kept forever; "
                "nothing pruned"
            )
        verb = "would remove" if self.dry_run else "removed"
        months = (
            f" ({len(self.months)} monthly partition(s): "
            f"{', '.join(f'{m:%Y-%m}' for m in self.months)})"
            if self.months
            else ""
        )
        return (
            f"Raw usage events before {self.horizon.isoformat(timespec='seconds')}: {verb} "
            f"{self.events:,} event(s){months} and {self.keys:,} idempotency key(s); "
            "daily rollups kept"
        )


def horizon(retention_days: int | None, now: datetime | None = None) -> datetime | None:
    """The oldest instant whose raw events are kept (None: all are kept)."""
    if not retention_days:
        return None
    return (now or datetime.now(UTC)) - timedelta(days=retention_days)


def prune(
    sessions: Callable[[], Session],
    *,
    retention_days: int | None,
    now: datetime | None = None,
    dry_run: bool = False,
    batch: int = BATCH,
) -> PruneResult:
    """Remove raw events older than the horizon (see the module); commits as it goes."""
    edge = horizon(retention_days, now)
    if edge is None:
        return PruneResult(None, dry_run=dry_run)
    with sessions() as session:
        postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        return _prune_pg(sessions, edge, dry_run=dry_run, batch=batch)
    return _prune_sqlite(sessions, edge, dry_run=dry_run, batch=batch)


def _removed(session: Session, statement: Any) -> int:
    """Run a DELETE; how many rows it removed."""
    return int(cast(CursorResult[Any], session.execute(statement)).rowcount)


def _driver(session: Session) -> Any:
    return session.connection().connection.driver_connection


def _prune_pg(
    sessions: Callable[[], Session], edge: datetime, *, dry_run: bool, batch: int
) -> PruneResult:
    # Every month before the horizon's own month lies entirely before the horizon: those
    # partitions go, and every key of an event before that month (also the keys a prune
    # interrupted between its two steps left behind).
    bound = datetime.combine(partitions.month_of(edge), datetime.min.time(), UTC)
    with sessions() as session, session.begin():
        conn = _driver(session)
        old = partitions.before(conn, edge)
        events = sum(
            conn.execute(f"SELECT count(*) FROM {name}").fetchone()[0] for name in old.values()
        )
        if dry_run:
            keys = session.scalar(select(func.count()).where(UsageEventKey.occurred_at < bound))
            return PruneResult(edge, events, keys or 0, sorted(old), dry_run=True)
        partitions.drop(conn, old)
    return PruneResult(edge, events, _delete_keys(sessions, bound, batch), sorted(old))


def _delete_keys(sessions: Callable[[], Session], before: datetime, batch: int) -> int:
    """Delete the idempotency keys of events before an instant, a batch per transaction."""
    table = UsageEventKey.__table__
    done = 0
    while True:
        with sessions() as session, session.begin():
            chosen = (
                select(table.c.idempotency_key)
                .where(table.c.occurred_at < before)
                .limit(batch)
                .scalar_subquery()
            )
            count = _removed(session, delete(table).where(table.c.idempotency_key.in_(chosen)))
        done += count
        if count < batch:
            return done


def _prune_sqlite(
    sessions: Callable[[], Session], edge: datetime, *, dry_run: bool, batch: int
) -> PruneResult:
    if dry_run:
        with sessions() as session:
            events = session.scalar(select(func.count()).where(UsageEvent.occurred_at < edge))
            keys = session.scalar(select(func.count()).where(UsageEventKey.occurred_at < edge))
        return PruneResult(edge, events or 0, keys or 0, dry_run=True)
    table = UsageEvent.__table__
    rowid: Any = literal_column("rowid")
    events = 0
    while True:
        with sessions() as session, session.begin():
            chosen = select(rowid).select_from(table).where(table.c.occurred_at < edge)
            count = _removed(
                session, delete(table).where(rowid.in_(chosen.limit(batch).scalar_subquery()))
            )
        events += count
        if count < batch:
            break
    return PruneResult(edge, events, _delete_keys(sessions, edge, batch))


def daily_sweep(runtime: Any) -> Callable[[Callable[[int, int], None]], PruneResult]:
    """The sweep the console's scheduler runs every PRUNE_INTERVAL on the lease PRUNE_JOB
    (core.probes.scheduler.Scheduler; pages/_ui.py starts it when retention is set)."""

    def sweep(heartbeat: Callable[[int, int], None]) -> PruneResult:
        result = prune(runtime.sessions, retention_days=runtime.settings.usage_retention_days)
        heartbeat(1, 1)
        log.info("%s", result.summary())
        return result

    return sweep
