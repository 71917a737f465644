"""Daily rollups: what events add to (or a reprice moves in) ``usage_daily`` and
``usage_daily_tags``, applied in the caller's transaction.

Money is Decimal and SQLite keeps it as exact text, so a rollup cannot be incremented in
SQL there; instead each touched row is created if missing (INSERT … ON CONFLICT DO NOTHING),
locked (SELECT … FOR UPDATE on PostgreSQL; SQLite's write lock is already held by then) and
updated in Python. Keys are locked in sorted order, so two concurrent imports cannot
deadlock on each other.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from core.store.tables import NO_PROVIDER_ID, UsageDaily, UsageDailyTag
from core.usage.inputs import TOKEN_FIELDS

DailyKey = tuple[date, uuid.UUID, str, str, str, str]  # day, provider id/name/type, model, user
TagKey = tuple[date, str, str]                         # day, tag key, tag value
_CHUNK = 500


def column(row: Any, name: str) -> Any:
    """A column of an event: a mapping of event columns (before insert) or a UsageEvent."""
    return row[name] if isinstance(row, Mapping) else getattr(row, name)


@dataclass
class Totals:
    """Sums over events: what a rollup row keeps (cost_usd covers priced events only)."""

    requests: int = 0
    input_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    unpriced_requests: int = 0

    def add(self, other: Totals) -> None:
        """Add other's sums to these."""
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    @classmethod
    def of_event(cls, row: Any) -> Totals:
        """One event's contribution (a mapping of event columns or a UsageEvent)."""
        cost = column(row, "cost_usd")
        return cls(**{name: column(row, name) for name in TOKEN_FIELDS},
                   requests=column(row, "requests"),
                   cost_usd=cost if cost is not None else Decimal(0),
                   unpriced_requests=column(row, "requests") if cost is None else 0)

    def as_dict(self) -> dict[str, Any]:
        """The sums by column name."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def daily_key(row: Any) -> DailyKey:
    """The usage_daily row an event counts in."""
    return (column(row, "day"), column(row, "provider_id") or NO_PROVIDER_ID,
            column(row, "provider_name"), column(row, "provider_type"), column(row, "model_id"),
            column(row, "username") or "")


def tag_keys(row: Any) -> list[TagKey]:
    """The usage_daily_tags rows an event counts in (one per tag)."""
    day = column(row, "day")
    return [(day, key, value) for key, value in sorted((column(row, "tags") or {}).items())]


def collect(rows: Iterable[Any]) -> tuple[dict[DailyKey, Totals], dict[TagKey, Totals]]:
    """The rollup deltas of these events."""
    daily: dict[DailyKey, Totals] = {}
    tagged: dict[TagKey, Totals] = {}
    for row in rows:
        totals = Totals.of_event(row)
        daily.setdefault(daily_key(row), Totals()).add(totals)
        for key in tag_keys(row):
            tagged.setdefault(key, Totals()).add(totals)
    return daily, tagged


_DAILY_COLUMNS = ("day", "provider_id", "provider_name", "provider_type", "model_id", "username")
_TAG_COLUMNS = ("day", "tag_key", "tag_value")


def apply(session: Session, daily: Mapping[DailyKey, Totals],
          tagged: Mapping[TagKey, Totals]) -> None:
    """Add the deltas to the rollup rows, creating missing rows; the caller commits."""
    _apply(session, UsageDaily, _DAILY_COLUMNS, daily)
    _apply(session, UsageDailyTag, _TAG_COLUMNS, tagged)
    session.flush()


def _apply(session: Session, model: Any, columns: tuple[str, ...],
           deltas: Mapping[tuple[Any, ...], Totals]) -> None:
    if not deltas:
        return
    keys = sorted(deltas, key=lambda k: tuple(str(part) for part in k))
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    zero = Totals().as_dict()
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start:start + _CHUNK]
        session.execute(dialect.insert(model.__table__)
                        .values([{**dict(zip(columns, key)), **zero} for key in chunk])
                        .on_conflict_do_nothing(index_elements=list(columns)))
    for key in keys:
        row = session.get(model, key, with_for_update=True, populate_existing=True)
        assert row is not None  # created above, and rollup rows are never deleted here
        delta = deltas[key]
        for name, value in delta.as_dict().items():
            setattr(row, name, getattr(row, name) + value)
