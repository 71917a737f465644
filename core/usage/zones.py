"""The timezone the rollups' day buckets are in, and rebuilding them in another one.

Every event's ``day`` and every rollup row's are calendar days in ONE zone, kept in
``usage_meta`` (key ``rollup_timezone``): the first ingest records the configured
MODELDESK_TIMEZONE there. When the setting changes later, nothing is mixed: ingest keeps
bucketing new events in the rollups' zone (``ingest_zone``), ``mismatch`` gives the warning
that ``modeldesk usage summary`` prints and the runtime logs at start, and
``rebuild`` (``modeldesk usage rebuild-rollups``, admins only) recomputes every event's day in
the configured zone and the rollups from the raw events, in the caller's transaction, then
records the new zone.

Concurrency: ingest reads the zone with a shared row lock (PostgreSQL ``FOR SHARE``) until
it commits, and a rebuild first takes that row for update (waiting for those imports), then
locks the event and rollup tables against writes, so an import is either wholly before a
rebuild (and rebuilt) or wholly after it (in the new zone). SQLite serialises writers with
its database lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, delete, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from core.accounts import access, audit
from core.accounts.viewer import Actor
from core.store.usage_tables import (
    UsageDaily,
    UsageDailyModel,
    UsageDailyTag,
    UsageDailyUser,
    UsageEvent,
    UsageMeta,
)
from core.usage import bulk, rollups
from core.usage.inputs import TOKEN_FIELDS

KEY = "rollup_timezone"
_CHUNK = 5000


@dataclass(frozen=True)
class RebuildResult:
    """What a rebuild did."""

    old_zone: str | None  # None: no zone was recorded (no usage yet)
    new_zone: str
    events: int
    moved: int  # events whose day changed
    daily_rows: int
    tag_rows: int

    def summary(self) -> str:
        """One sentence for people."""
        was = f" (were {self.old_zone})" if self.old_zone and self.old_zone != self.new_zone else ""
        return (
            f"rebuilt the usage rollups in {self.new_zone}{was} from {self.events:,} event(s), "
            f"{self.moved:,} moved to another day: {self.daily_rows:,} daily row(s), "
            f"{self.tag_rows:,} tag row(s)"
        )


def rollup_zone(session: Session) -> str | None:
    """The zone the rollups are in; None before the first event."""
    return session.scalar(select(UsageMeta.value).where(UsageMeta.key == KEY))


def ingest_zone(session: Session, configured: str) -> str:
    """The zone new events are bucketed in: the rollups' (recording ``configured`` as it when
    none is recorded yet), read under a shared lock held until the caller's commit."""
    query = select(UsageMeta.value).where(UsageMeta.key == KEY)
    pg = session.get_bind().dialect.name == "postgresql"
    found = session.scalar(query.with_for_update(read=True) if pg else query)
    if found is not None:
        return found
    insert = (postgresql.insert if pg else sqlite.insert)(UsageMeta.__table__)
    session.execute(
        insert.values(key=KEY, value=configured).on_conflict_do_nothing(index_elements=["key"])
    )
    return session.scalar(query.with_for_update(read=True) if pg else query) or configured


def mismatch(session: Session, configured: str) -> str | None:
    """A warning when the rollups are in another zone than ``configured``, else None."""
    found = rollup_zone(session)
    if found is None or found == configured:
        return None
    return (
        f"usage days are {found} days (the zone the rollups were built in), but "
        f"MODELDESK_TIMEZONE is {configured}; run `modeldesk usage rebuild-rollups` to "
        f"rebuild them in {configured} (new usage is counted in {found} days until then)"
    )


def rebuild(session: Session, *, actor: Actor, timezone: str) -> RebuildResult:
    """Every event's day in ``timezone`` and the rollups again from the raw events, audited,
    in the caller's transaction (admins only)."""
    access.require_admin(actor, "rebuild the usage rollups")
    ZoneInfo(timezone)  # an unknown name fails here, before any write
    pg = session.get_bind().dialect.name == "postgresql"
    old = _lock(session, pg)
    moved = _move_days_pg(session, timezone) if pg else _move_days_sqlite(session, timezone)
    session.execute(delete(UsageDaily))
    session.execute(delete(UsageDailyModel))
    session.execute(delete(UsageDailyUser))
    session.execute(delete(UsageDailyTag))
    if pg:
        _roll_up_pg(session)
    else:
        _roll_up_sqlite(session)
    _set_zone(session, timezone, pg)
    result = RebuildResult(
        old_zone=old,
        new_zone=timezone,
        events=session.scalar(select(func.count()).select_from(UsageEvent)) or 0,
        moved=moved,
        daily_rows=session.scalar(select(func.count()).select_from(UsageDaily)) or 0,
        tag_rows=session.scalar(select(func.count()).select_from(UsageDailyTag)) or 0,
    )
    audit.record(
        session,
        actor=actor,
        action="usage.rebuild_rollups",
        entity_type="usage",
        label=f"rollups {old or '(none)'} → {timezone}",
        before={"timezone": old},
        after={"timezone": timezone, "events": result.events, "moved": moved},
    )
    session.expire_all()  # rollup rows and events this session had loaded are stale
    return result


def _lock(session: Session, pg: bool) -> str | None:
    """The recorded zone, its row locked first (waiting for imports that read it), then
    the tables against writes until the commit (PostgreSQL)."""
    if not pg:
        return rollup_zone(session)  # SQLite: the writes below hold the database write lock
    old = session.scalar(select(UsageMeta.value).where(UsageMeta.key == KEY).with_for_update())
    session.execute(
        text(
            "LOCK TABLE usage_events, usage_daily, usage_daily_models, usage_daily_users, "
            "usage_daily_tags "
            "IN SHARE ROW EXCLUSIVE MODE"
        )
    )
    return old


def _set_zone(session: Session, timezone: str, pg: bool) -> None:
    insert = (postgresql.insert if pg else sqlite.insert)(UsageMeta.__table__)
    session.execute(
        insert.values(key=KEY, value=timezone).on_conflict_do_update(
            index_elements=["key"], set_={"value": timezone}
        )
    )


def _move_days_pg(session: Session, timezone: str) -> int:
    local_day = "(occurred_at AT TIME ZONE :zone)::date"
    result: Any = session.execute(
        text(f"UPDATE usage_events SET day = {local_day} WHERE day <> {local_day}"),
        {"zone": timezone},
    )
    return int(result.rowcount or 0)


def _move_days_sqlite(session: Session, timezone: str) -> int:
    zone, after, moved = ZoneInfo(timezone), None, 0
    table = UsageEvent.__table__
    while True:
        query = select(table.c.id, table.c.occurred_at, table.c.day).order_by(table.c.id)
        if after is not None:
            query = query.where(table.c.id > after)
        rows = session.execute(query.limit(_CHUNK)).all()
        if not rows:
            return moved
        changes = [
            {"key_id": row.id, "day": day}
            for row in rows
            if (day := row.occurred_at.astimezone(UTC).astimezone(zone).date()) != row.day
        ]
        if changes:
            session.execute(
                update(table).where(table.c.id == bindparam("key_id")).values(day=bindparam("day")),
                changes,
            )
            moved += len(changes)
        after = rows[-1].id


def _roll_up_pg(session: Session) -> None:
    for statement in bulk.rebuild_statements():
        session.execute(text(statement))


def _roll_up_sqlite(session: Session) -> None:
    table = UsageEvent.__table__
    columns = [
        table.c[name]
        for name in (
            "id",
            "day",
            "provider_id",
            "provider_name",
            "provider_type",
            "model_id",
            "username",
            "tags",
            "requests",
            "cost_usd",
            "source_cost_usd",
            *TOKEN_FIELDS,
        )
    ]
    daily: dict[rollups.DailyKey, rollups.Totals] = {}
    tagged: dict[rollups.TagKey, rollups.Totals] = {}
    after = None
    while True:
        query = select(*columns).order_by(table.c.id)
        if after is not None:
            query = query.where(table.c.id > after)
        rows = session.execute(query.limit(_CHUNK)).mappings().all()
        if not rows:
            break
        found_daily, found_tagged = rollups.collect(rows)
        for key, totals in found_daily.items():
            daily.setdefault(key, rollups.Totals()).add(totals)
        for tag_key, totals in found_tagged.items():
            tagged.setdefault(tag_key, rollups.Totals()).add(totals)
        after = rows[-1]["id"]
    rollups.apply(session, daily, tagged)
