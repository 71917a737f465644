"""Recording usage: validate, resolve, price at ingest, store once, roll up.

    UsageInput ─▶ prepare: problems_of (core.usage.inputs) + provider by record name,
                  model record, console user, price (core.usage.pricing), day in the
                  rollups' zone (core.usage.zones) ─▶ event rows
               ─▶ store: the keys first — INSERT INTO usage_event_keys … ON CONFLICT DO
                  NOTHING RETURNING key — then the events of the keys that were new
               ─▶ rollups of the rows actually inserted (same transaction)

``prepare`` is the reference, one report at a time; ``record_usage`` and file imports use
``core.usage.batch.Preparer``, which gives the same rows and the same reasons for large
batches at a fraction of the cost. On PostgreSQL ``core.usage.bulk`` stores a batch with
COPY and one statement (a large batch chunk by chunk, each chunk's store overlapping the
next one's preparation: core.usage.pipeline); on SQLite rows go in chunks.
``record_usage`` is keyword-only and lets the caller commit, like every core service; a
file import (core.usage.formats) goes through the same checks so a line is refused for
exactly the reasons an API call would be. With a retention horizon (``retention_days``)
older events are refused.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from core.costs import usd
from core.errors import ConflictError, ValidationError
from core.store.tables import ModelRecord, Provider, User
from core.store.usage_tables import UsageEvent, UsageEventKey
from core.usage import batch, bulk, gc_pause, pipeline, pricing, retention, rollups, zones
from core.usage.inputs import UsageInput, problems_of
from core.usage.resolve import Resolver

__all__ = ["RecordResult", "Resolver", "prepare", "record_usage", "store", "store_rows"]

_CHUNK = 500  # rows per INSERT (22 columns: well under SQLite's bound-parameter limit)


@dataclass(frozen=True)
class RecordResult:
    """What a call stored: new events, ones already stored (same key), their cost."""

    received: int
    inserted: int
    duplicates: int
    unpriced: int  # inserted events without a price
    cost_usd: Decimal  # the inserted events' priced cost

    def summary(self) -> str:
        """'3 stored, 1 already recorded, 1 unpriced, $0.42'."""
        return (
            f"{self.inserted} stored, {self.duplicates} already recorded, "
            f"{self.unpriced} unpriced, {usd(self.cost_usd)}"
        )


def zone_of(timezone: str | tzinfo) -> tzinfo:
    """A tzinfo from an IANA name (Settings.timezone) or a tzinfo."""
    return ZoneInfo(timezone) if isinstance(timezone, str) else timezone


def prepare(
    session: Session,
    reports: Sequence[UsageInput],
    *,
    timezone: str | tzinfo,
    now: datetime | None = None,
    retention_days: int | None = None,
    resolver: Resolver | None = None,
    provider: Provider | None = None,
) -> list[dict[str, Any] | list[str]]:
    """For each report, the event row to store, or the list of its problems (the reference
    implementation: one report at a time, every check spelled out). ``provider``: the
    record the reports name, known to the caller (Modeldesk's own calls)."""
    if isinstance(timezone, str):  # the rollups' zone, recording this one if none is yet
        timezone = zones.ingest_zone(session, timezone)
    zone, now = zone_of(timezone), now or datetime.now(UTC)
    horizon = retention.horizon(retention_days, now)
    resolver = resolver or _resolver(session, provider)
    out: list[dict[str, Any] | list[str]] = []
    for report in reports:
        problems = problems_of(report, now=now, horizon=horizon)
        found = resolver.provider(report.provider) if not problems else None
        if isinstance(found, str):
            problems.append(found)
        if problems:
            out.append(problems)
            continue
        assert isinstance(found, Provider)
        record = resolver.record(found, report.model)
        user = resolver.user(report.user) if report.user else None
        at = report.timestamp.astimezone(UTC)
        row: dict[str, Any] = {
            "id": uuid.uuid4(),
            "idempotency_key": report.key,
            "occurred_at": at,
            "day": at.astimezone(zone).date(),
            "recorded_at": now,
            "user_id": user.id if user else None,
            "username": user.username if user else report.user,
            "provider_id": found.id,
            "provider_name": found.name,
            "provider_type": found.provider_type,
            "model_record_id": record.id if record else None,
            "model_id": report.model,
            "configured": record is not None,
            "input_tokens": report.input_tokens,
            "cached_input_tokens": report.cached_input_tokens,
            "cache_write_tokens": report.cache_write_tokens,
            "output_tokens": report.output_tokens,
            "reasoning_tokens": report.reasoning_tokens,
            "requests": report.requests,
            "tags": dict(sorted(report.tags.items())),
            "source_cost_usd": report.source_cost_usd,
        }
        prices = pricing.prices_for(
            provider_type=found.provider_type, model_id=report.model, record=record, at=at
        )
        charged = pricing.charge(pricing.usage_of(row), prices)
        row.update(cost_usd=charged.cost_usd, price_source=charged.source)
        out.append(row)
    return out


def _resolver(session: Session, provider: Provider | None) -> Resolver:
    """A resolver; with ``provider``, the reports' provider name means that record."""
    resolver = Resolver(session)
    if provider is not None:
        resolver.providers[provider.name_key] = [provider]
    return resolver


def preparer(
    session: Session,
    *,
    timezone: str | tzinfo,
    now: datetime,
    retention_days: int | None = None,
    provider: Provider | None = None,
) -> batch.Preparer:
    """The quick preparer of a batch, falling back on ``prepare`` for any unusual report."""
    if isinstance(timezone, str):  # the rollups' zone, recording this one if none is yet
        timezone = zones.ingest_zone(session, timezone)
    resolver = _resolver(session, provider)

    def reference(report: UsageInput) -> dict[str, Any] | list[str]:
        return prepare(
            session,
            [report],
            timezone=timezone,
            now=now,
            retention_days=retention_days,
            resolver=resolver,
        )[0]

    found = batch.Preparer(
        session,
        zone=zone_of(timezone),
        now=now,
        horizon=retention.horizon(retention_days, now),
        reference=reference,
        resolver=resolver,
    )
    return found


def store(session: Session, rows: Sequence[dict[str, Any]]) -> RecordResult:
    """Insert event rows (``prepare``'s mappings) whose key is new and add them to the
    rollups; the caller commits."""
    now = rows[0]["recorded_at"] if rows else datetime.now(UTC)
    staged = [
        tuple(json.dumps(row["tags"]) if c == "tags" else row[c] for c in bulk.STAGED)
        for row in rows
    ]
    return store_rows(session, staged, now=now)


def store_rows(session: Session, rows: Sequence[batch.Row], *, now: datetime) -> RecordResult:
    """Insert event rows (``batch.STAGED`` tuples) whose key is new and add them to the
    rollups; the caller commits. A key twice in the batch: the first row counts."""
    unique: dict[str, batch.Row] = {}
    for row in rows:
        unique.setdefault(row[0], row)
    todo = list(unique.values())
    if session.get_bind().dialect.name == "postgresql":
        hold_references(session, todo)  # before the insert, as a foreign key check would
        inserted_count, unpriced, cost = bulk.store(session, todo, now=now)
    else:
        inserted_count, unpriced, cost = _store_sqlite(session, todo, now=now)
        hold_references(session, todo)  # under the write lock the inserts took
    return RecordResult(
        received=len(rows),
        inserted=inserted_count,
        duplicates=len(rows) - inserted_count,
        unpriced=unpriced,
        cost_usd=cost,
    )


_USER_AT, _RECORD_AT = bulk.STAGED.index("user_id"), bulk.STAGED.index("model_record_id")


def hold_references(session: Session, rows: Sequence[batch.Row]) -> None:
    """Check that the users and model records the rows name still exist and, on PostgreSQL,
    lock them (FOR KEY SHARE, what a foreign key check takes) until the commit, so a delete
    waits for this transaction and its trigger then clears the new events' references too;
    a ConflictError if one was deleted since it was looked up. Once per batch, not per row."""
    for model, at in ((User, _USER_AT), (ModelRecord, _RECORD_AT)):
        wanted = {row[at] for row in rows} - {None}
        if not wanted:
            continue
        query = select(model.id).where(model.id.in_(wanted))
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(key_share=True)
        if len(set(session.scalars(query))) != len(wanted):
            raise ConflictError(
                "A user or model record this usage names was deleted while it was being "
                "recorded; nothing was stored. Send it again."
            )


def _store_sqlite(
    session: Session, rows: Sequence[batch.Row], *, now: datetime
) -> tuple[int, int, Decimal]:
    keys_table = UsageEventKey.__table__
    claim = (
        sqlite.insert(keys_table)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(keys_table.c.idempotency_key)
    )
    inserted: list[batch.Row] = []
    for start in range(0, len(rows), _CHUNK):
        chunk = rows[start : start + _CHUNK]
        new = set(
            session.scalars(claim, [{"idempotency_key": r[0], "occurred_at": r[1]} for r in chunk])
        )
        inserted += [row for row in chunk if row[0] in new]
    events = [{**batch.as_dict(row), "id": uuid.uuid4(), "recorded_at": now} for row in inserted]
    for start in range(0, len(events), _CHUNK):
        session.execute(insert(UsageEvent.__table__), events[start : start + _CHUNK])
    rollups.apply(session, *rollups.collect(events))
    unpriced, cost = batch.cost_of_rows(inserted)
    return len(inserted), unpriced, cost


def record_usage(
    session: Session,
    *,
    events: Sequence[UsageInput],
    timezone: str | tzinfo = "UTC",
    now: datetime | None = None,
    retention_days: int | None = None,
    provider: Provider | None = None,
) -> RecordResult:
    """Record usage reports (one or a batch): all valid or none stored; an event already
    recorded (same idempotency key) is not stored again; with ``retention_days``
    (Settings.usage_retention_days) an event older than the horizon is refused.
    ``provider``: the record every report is about, when the caller holds it (Modeldesk's
    own calls), instead of a lookup by name. The caller commits."""
    if isinstance(events, UsageInput):
        events = [events]
    events = list(events)
    with gc_pause.paused() if len(events) >= gc_pause.PAUSE_AT else contextlib.nullcontext():
        return _record(session, events, timezone, now, retention_days, provider)


def _record(
    session: Session,
    events: list[UsageInput],
    timezone: str | tzinfo,
    now: datetime | None,
    retention_days: int | None,
    provider: Provider | None,
) -> RecordResult:
    """record_usage's work, the collector paused for a large batch."""
    now = now or datetime.now(UTC)
    quick = preparer(
        session, timezone=timezone, now=now, retention_days=retention_days, provider=provider
    )
    if len(events) > pipeline.CHUNK and session.get_bind().dialect.name == "postgresql":
        done = pipeline.record(session, quick, events, now=now, hold=hold_references)
        if done.problems:
            raise ValidationError.of([_problem(i, p) for i, p in done.problems])
        return RecordResult(
            received=len(events),
            inserted=done.inserted,
            duplicates=len(events) - done.inserted,
            unpriced=done.unpriced,
            cost_usd=done.cost_usd,
        )
    prepared = quick.prepare(events)
    found = [_problem(i, p) for i, p in enumerate(prepared, start=1) if isinstance(p, list)]
    if found:
        raise ValidationError.of(found)
    return store_rows(session, [p for p in prepared if isinstance(p, tuple)], now=now)


def _problem(number: int, problems: list[str]) -> ValidationError:
    return ValidationError(
        f"Usage report {number}: {'; '.join(problems)}.", field="events", line=number
    )
