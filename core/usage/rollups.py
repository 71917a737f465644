"""Daily rollups: what events add to (or a reprice moves in) ``usage_daily``, its coarser
sums ``usage_daily_models`` (over users) and ``usage_daily_users`` (over providers and
models) — derived here from usage_daily's own deltas, so they cannot drift from it — and
``usage_daily_tags``, applied in the caller's transaction.

PostgreSQL adds in SQL: INSERT … ON CONFLICT DO UPDATE SET col = col + excluded.col (NUMERIC
is exact), rows in one sorted key order so concurrent imports cannot deadlock. SQLite keeps
money as exact decimal text, which SQL cannot add: each touched row is created if missing
(INSERT … ON CONFLICT DO NOTHING) and updated in Python, under the database write lock the
transaction already holds.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from core.store.usage_tables import (
    NO_PROVIDER_ID,
    UsageDaily,
    UsageDailyModel,
    UsageDailyTag,
    UsageDailyUser,
)
from core.usage.inputs import TOKEN_FIELDS

DailyKey = tuple[date, uuid.UUID, str, str, str, str]  # day, provider id/name/type, model, user
TagKey = tuple[date, str, str]  # day, tag key, tag value
_CHUNK = 500
METRICS = (
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
MONEY = ("cost_usd", "source_cost_usd")  # the metrics that are Decimal money


def column(row: Any, name: str) -> Any:
    """A column of an event: a mapping of event columns (before insert) or a UsageEvent."""
    return row[name] if isinstance(row, Mapping) else getattr(row, name)


def _has(row: Any, name: str) -> bool:
    return name in row if isinstance(row, Mapping) else hasattr(row, name)


@dataclass
class Totals:
    """Sums over events: what a rollup row keeps (cost_usd covers priced events only); its
    fields are METRICS, in that order."""

    requests: int = 0
    input_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    unpriced_requests: int = 0
    source_cost_usd: Decimal = Decimal(0)  # the source's own cost (LiteLLM's), where given
    source_costed_requests: int = 0  # the requests that came with a source cost

    def add(self, other: Totals) -> None:
        """Add other's sums to these."""
        self.requests += other.requests
        self.input_tokens += other.input_tokens
        self.cached_input_tokens += other.cached_input_tokens
        self.cache_write_tokens += other.cache_write_tokens
        self.output_tokens += other.output_tokens
        self.reasoning_tokens += other.reasoning_tokens
        self.cost_usd += other.cost_usd
        self.unpriced_requests += other.unpriced_requests
        self.source_cost_usd += other.source_cost_usd
        self.source_costed_requests += other.source_costed_requests

    @classmethod
    def of_event(cls, row: Any) -> Totals:
        """One event's contribution (a mapping of event columns or a UsageEvent)."""
        cost = column(row, "cost_usd")
        source = column(row, "source_cost_usd") if _has(row, "source_cost_usd") else None
        return cls(
            **{name: column(row, name) for name in TOKEN_FIELDS},
            requests=column(row, "requests"),
            cost_usd=cost if cost is not None else Decimal(0),
            unpriced_requests=column(row, "requests") if cost is None else 0,
            source_cost_usd=source if source is not None else Decimal(0),
            source_costed_requests=column(row, "requests") if source is not None else 0,
        )

    def as_dict(self) -> dict[str, Any]:
        """The sums by column name."""
        return {name: getattr(self, name) for name in METRICS}


def daily_key(row: Any) -> DailyKey:
    """The usage_daily row an event counts in."""
    return (
        column(row, "day"),
        column(row, "provider_id") or NO_PROVIDER_ID,
        column(row, "provider_name"),
        column(row, "provider_type"),
        column(row, "model_id"),
        column(row, "username") or "",
    )


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


def coarsen(daily: Mapping[DailyKey, Totals], positions: tuple[int, ...]) -> dict[tuple, Totals]:
    """usage_daily deltas summed per row of a coarser rollup: the key parts at positions."""
    found: dict[tuple, Totals] = {}
    for key, totals in daily.items():
        found.setdefault(tuple(key[i] for i in positions), Totals()).add(totals)
    return found


_DAILY_COLUMNS = ("day", "provider_id", "provider_name", "provider_type", "model_id", "username")
# The coarser rollups and the positions of their key columns in usage_daily's key.
COARSE = ((UsageDailyModel, (0, 1, 2, 3, 4)), (UsageDailyUser, (0, 5)))
_TAG_COLUMNS = ("day", "tag_key", "tag_value")


def apply(
    session: Session, daily: Mapping[DailyKey, Totals], tagged: Mapping[TagKey, Totals]
) -> None:
    """Add the deltas to the rollup rows, creating missing rows; the caller commits."""
    _apply(session, UsageDaily, _DAILY_COLUMNS, daily)
    for model, positions in COARSE:
        columns = tuple(_DAILY_COLUMNS[i] for i in positions)
        _apply(session, model, columns, coarsen(daily, positions))
    _apply(session, UsageDailyTag, _TAG_COLUMNS, tagged)
    session.flush()


def _apply(
    session: Session, model: Any, columns: tuple[str, ...], deltas: Mapping[tuple[Any, ...], Totals]
) -> None:
    if not deltas:
        return
    table = model.__table__
    keys = sorted(deltas, key=lambda k: tuple(str(part) for part in k))  # one order for all
    if session.get_bind().dialect.name == "postgresql":
        # NUMERIC adds exactly in SQL: one atomic upsert per row, in the same key order in
        # every transaction, so concurrent imports neither lose an update nor deadlock.
        upsert = postgresql.insert(table)
        upsert = upsert.on_conflict_do_update(
            index_elements=list(columns),
            set_={name: table.c[name] + upsert.excluded[name] for name in METRICS},
        )
        session.execute(
            upsert,
            [{**dict(zip(columns, key, strict=True)), **deltas[key].as_dict()} for key in keys],
        )
        return
    # SQLite: money is decimal text, added in Python. The first write of the transaction
    # took SQLite's database write lock, so no other writer changes these rows meanwhile.
    session.execute(
        sqlite.insert(table).on_conflict_do_nothing(index_elements=list(columns)),
        [{**dict(zip(columns, key, strict=True)), **Totals().as_dict()} for key in keys],
    )
    pk = tuple_(*(table.c[c] for c in columns))
    read = select(*(table.c[c] for c in columns), *(table.c[m] for m in METRICS))
    updates = []
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        rows = session.execute(read.where(pk.in_(chunk))).all()
        if len(rows) != len(chunk):
            raise RuntimeError(f"{table.name}: {len(chunk) - len(rows)} rollup row(s) missing")
        for row in rows:
            key, current = tuple(row[: len(columns)]), row[len(columns) :]
            delta = deltas[key].as_dict()
            updates.append(
                {
                    **{f"key_{c}": part for c, part in zip(columns, key, strict=True)},
                    **{m: value + delta[m] for m, value in zip(METRICS, current, strict=True)},
                }
            )
    # One UPDATE by primary key, sent for every row (a plain statement, no ORM objects).
    session.execute(
        update(table)
        .where(*(table.c[c] == bindparam(f"key_{c}") for c in columns))
        .values({m: bindparam(m, type_=table.c[m].type) for m in METRICS}),
        updates,
    )
    for obj in list(session.identity_map.values()):  # rows this session had loaded are stale
        if isinstance(obj, model):
            session.expire(obj)
