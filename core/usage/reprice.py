"""Repricing: recompute the stored cost of a model's events with today's prices.

Used after a model record's prices were corrected or the catalog was updated. The events
are chosen by model id (every provider) or by model record, and by rollup day
[date_from, date_to). Each is priced again exactly as at ingest (core.usage.pricing: the
record's current prices, else the catalog's price in effect on the event's date); the
differences move the rollups in the same transaction, and one audit event keeps the old
and new totals. The caller commits.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.accounts import access, audit
from core.costs import usd
from core.errors import NotFoundError, ValidationError
from core.store.tables import ModelRecord, User
from core.store.usage_tables import UsageEvent
from core.usage import ledger, pricing, rollups
from core.usage.rollups import Totals
from core.usage.summary import as_cost


@dataclass(frozen=True)
class RepriceResult:
    """Events looked at and changed; priced cost and unpriced requests before and after."""

    events: int
    changed: int
    old_cost_usd: Decimal
    new_cost_usd: Decimal
    old_unpriced_requests: int
    new_unpriced_requests: int

    def summary(self) -> str:
        """One sentence for people."""
        return (
            f"{self.changed} of {self.events} event(s) repriced: {usd(self.old_cost_usd)} "
            f"→ {usd(self.new_cost_usd)}, unpriced requests {self.old_unpriced_requests} "
            f"→ {self.new_unpriced_requests}"
        )


def find_record(session: Session, *, provider: str, model_id: str) -> ModelRecord:
    """The model record of the provider record named ``provider`` with this model id."""
    found = ledger.Resolver(session).provider(provider)
    if isinstance(found, str):
        raise NotFoundError(f"Cannot reprice: {found}.")
    record = ledger.Resolver(session).record(found, model_id)
    if record is None:
        clipped = repr(model_id[:100]) + ("…" if len(model_id) > 100 else "")
        raise NotFoundError(f"Provider {found.name!r} has no model record for {clipped}.")
    return record


def reprice(
    session: Session,
    *,
    actor: User,
    date_from: date,
    date_to: date,
    model_id: str | None = None,
    model_record: ModelRecord | None = None,
) -> RepriceResult:
    """Reprice the events of one model id or model record on rollup days in
    [date_from, date_to); rollups adjusted and audited in the caller's transaction."""
    access.require_admin(actor, "reprice usage")
    if (model_id is None) == (model_record is None):
        raise ValidationError(
            "Reprice one model: give a model id or a model record.", field="model_id"
        )
    if date_to <= date_from:
        raise ValidationError(
            f"The period is empty: {date_to} is not after {date_from}.", field="date_to"
        )
    stmt = select(UsageEvent).where(UsageEvent.day >= date_from, UsageEvent.day < date_to)
    if model_record is not None:
        stmt = stmt.where(UsageEvent.model_record_id == model_record.id)
        model_id = model_record.model_id
    else:
        stmt = stmt.where(UsageEvent.model_id == model_id)
    events = list(session.scalars(stmt.order_by(UsageEvent.id).with_for_update()))

    records: dict[uuid.UUID, ModelRecord | None] = {}
    daily: dict[rollups.DailyKey, Totals] = {}
    tagged: dict[rollups.TagKey, Totals] = {}
    old, new, changed = Totals(), Totals(), 0
    for event in events:
        record = None
        if event.model_record_id is not None:
            if event.model_record_id not in records:
                records[event.model_record_id] = session.get(ModelRecord, event.model_record_id)
            record = records[event.model_record_id]
        prices = pricing.prices_for(
            provider_type=event.provider_type,
            model_id=event.model_id,
            record=record,
            at=event.occurred_at,
        )
        charged = pricing.charge(pricing.usage_of(event), prices)
        before = Totals.of_event(event)
        event.cost_usd, event.price_source = charged.cost_usd, charged.source
        after = Totals.of_event(event)
        old.add(before)
        new.add(after)
        if (
            before.cost_usd == after.cost_usd
            and before.unpriced_requests == after.unpriced_requests
        ):
            continue
        changed += 1
        delta = Totals(
            cost_usd=after.cost_usd - before.cost_usd,
            unpriced_requests=after.unpriced_requests - before.unpriced_requests,
        )
        daily.setdefault(rollups.daily_key(event), Totals()).add(delta)
        for key in rollups.tag_keys(event):
            tagged.setdefault(key, Totals()).add(delta)
    session.flush()
    rollups.apply(session, daily, tagged)
    result = RepriceResult(
        len(events),
        changed,
        old.cost_usd,
        new.cost_usd,
        old.unpriced_requests,
        new.unpriced_requests,
    )
    scope = {
        "model_id": model_id,
        "from": date_from.isoformat(),
        "to": date_to.isoformat(),
        "events": len(events),
        "changed": changed,
    }
    audit.record(
        session,
        actor=actor,
        action="usage.reprice",
        entity_type="usage",
        record=model_record,
        label=f"{model_id} {date_from}…{date_to}",
        before={
            **scope,
            "cost_usd": as_cost(old.cost_usd),
            "unpriced_requests": old.unpriced_requests,
        },
        after={
            **scope,
            "cost_usd": as_cost(new.cost_usd),
            "unpriced_requests": new.unpriced_requests,
        },
    )
    return result
