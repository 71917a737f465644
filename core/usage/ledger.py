"""Recording usage: validate, resolve, price at ingest, store once, roll up.

    UsageInput ─▶ prepare: problems_of (core.usage.inputs) + provider by record name,
                  model record, console user, price (core.usage.pricing), day in the
                  rollups' zone (core.usage.zones) ─▶ event rows
               ─▶ store: INSERT … ON CONFLICT (idempotency_key) DO NOTHING RETURNING key
               ─▶ rollups.apply for the rows actually inserted (same transaction)

``record_usage`` is keyword-only and lets the caller commit, like every core service; a
file import (core.usage.formats) goes through the same ``prepare`` so a line is refused
for exactly the reasons an API call would be.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from core.accounts import users
from core.costs import usd
from core.errors import ValidationError
from core.store.tables import ModelRecord, Provider, UsageEvent
from core.usage import bulk, pricing, rollups, zones
from core.usage.inputs import UsageInput, problems_of
from core.validation import name_key

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


class Resolver:
    """Provider, model record and user lookups, cached for one batch."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.providers: dict[str, list[Provider]] = {}
        self.records: dict[tuple[uuid.UUID, str], ModelRecord | None] = {}
        self.users: dict[str, Any] = {}

    def provider(self, name: str) -> Provider | str:
        key = name_key(name)
        if key not in self.providers:
            self.providers[key] = list(
                self.session.scalars(
                    select(Provider).where(Provider.name_key == key).order_by(Provider.created_at)
                )
            )
        found = self.providers[key]
        if not found:
            return f"no provider record is named {name!r}"
        if len(found) > 1:
            return (
                f"{len(found)} provider records are named {name!r} (different owners); "
                "rename one so usage can name it"
            )
        return found[0]

    def record(self, provider: Provider, model_id: str) -> ModelRecord | None:
        key = (provider.id, model_id)
        if key not in self.records:
            self.records[key] = self.session.scalar(
                select(ModelRecord).where(
                    ModelRecord.provider_id == provider.id, ModelRecord.model_id == model_id
                )
            )
        return self.records[key]

    def user(self, username: str) -> Any:
        if username not in self.users:
            self.users[username] = users.get_by_username(self.session, username)
        return self.users[username]


def prepare(
    session: Session,
    reports: Sequence[UsageInput],
    *,
    timezone: str | tzinfo,
    now: datetime | None = None,
    provider: Provider | None = None,
) -> list[dict[str, Any] | list[str]]:
    """For each report, the event row to store, or the list of its problems (``provider``:
    the record the reports name, known to the caller)."""
    if isinstance(timezone, str):  # the rollups' zone, recording this one if none is yet
        timezone = zones.ingest_zone(session, timezone)
    zone, now = zone_of(timezone), now or datetime.now(UTC)
    resolver = Resolver(session)
    if provider is not None:
        resolver.providers[provider.name_key] = [provider]
    out: list[dict[str, Any] | list[str]] = []
    for report in reports:
        problems = problems_of(report, now=now)
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


def store(session: Session, rows: Sequence[dict[str, Any]]) -> RecordResult:
    """Insert event rows whose key is new and add them to the rollups; the caller commits."""
    unique: dict[str, dict[str, Any]] = {}
    for row in rows:
        unique.setdefault(row["idempotency_key"], row)  # a key twice in one batch: the first
    batch = list(unique.values())
    if session.get_bind().dialect.name == "postgresql":
        inserted_count, unpriced, cost = bulk.store(session, batch)  # COPY, then SQL rollups
        return RecordResult(
            received=len(rows),
            inserted=inserted_count,
            duplicates=len(rows) - inserted_count,
            unpriced=unpriced,
            cost_usd=cost,
        )
    table = UsageEvent.__table__
    inserted: list[dict[str, Any]] = []
    # One compiled statement, sent in batches by SQLAlchemy's "insertmanyvalues".
    statement = (
        sqlite.insert(table)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(table.c.idempotency_key)
    )
    for start in range(0, len(batch), _CHUNK):
        chunk = batch[start : start + _CHUNK]
        keys = set(session.scalars(statement, chunk))
        inserted += [row for row in chunk if row["idempotency_key"] in keys]
    rollups.apply(session, *rollups.collect(inserted))
    return RecordResult(
        received=len(rows),
        inserted=len(inserted),
        duplicates=len(rows) - len(inserted),
        unpriced=sum(1 for r in inserted if r["cost_usd"] is None),
        cost_usd=sum((r["cost_usd"] for r in inserted if r["cost_usd"] is not None), Decimal(0)),
    )


def record_usage(
    session: Session,
    *,
    events: Sequence[UsageInput],
    timezone: str | tzinfo = "UTC",
    now: datetime | None = None,
    provider: Provider | None = None,
) -> RecordResult:
    """Record usage reports (one or a batch): all valid or none stored; an event already
    recorded (same idempotency key) is not stored again. ``provider``: the record every
    report is about, when the caller holds it (Modeldesk's own calls), instead of a lookup
    by name. The caller commits."""
    if isinstance(events, UsageInput):
        events = [events]
    prepared = prepare(session, list(events), timezone=timezone, now=now, provider=provider)
    found = [
        ValidationError(f"Usage report {i}: {'; '.join(p)}.", field="events", line=i)
        for i, p in enumerate(prepared, start=1)
        if isinstance(p, list)
    ]
    if found:
        raise ValidationError.of(found)
    return store(session, [p for p in prepared if isinstance(p, dict)])
