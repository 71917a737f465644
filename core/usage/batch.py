"""Preparing a large batch of usage reports cheaply: the same checks, records and exact
prices as ``core.usage.ledger.prepare`` (the reference), at a few microseconds a report.

What repeats in a batch is worked out once: a provider name, a model id, a username, a set
of tags (checked, resolved, serialised), and a price per (provider type, model, model
record, UTC date) — the catalog's dated prices change at UTC midnight; a model with
time-of-day prices is priced per event. Per report remain the checks of its counts,
timestamp and key, and the cost: ``pricing.cost_usd``, the same Decimal operations as
``core.costs.cost_of``. A report the quick checks do not clear (a bad one, or an unusual
one: an int subclass, a non-printable character in a key…) goes through the reference
path, which gives the exact reasons; so both paths accept, refuse and price every report
alike (tests/test_usage_fastpath.py).

A row is a tuple in ``bulk.STAGED`` order, tags as JSON text, ready for COPY.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy.orm import Session

from core.costs import Prices
from core.store.tables import Provider
from core.usage import bulk, pricing
from core.usage.inputs import (
    FUTURE_SLACK,
    KEY_MAX,
    MAX_COUNT,
    MAX_SOURCE_COST,
    MODEL_ID_MAX,
    USERNAME_MAX,
    UsageInput,
    _text,
    check_tags,
    content_key,
)
from core.usage.resolve import Resolver

Row = tuple[Any, ...]
PRELOAD = 10_000  # reports whose records are looked up together before the first is prepared


class Target(NamedTuple):
    """A provider record and model id as a batch uses them (plain values, no ORM access)."""

    key: tuple[str, str]  # (provider name as reported, model id)
    provider_id: uuid.UUID
    provider_name: str
    provider_type: str
    record: Any  # the model record, or None
    record_id: uuid.UUID | None
    within_day: bool  # time-of-day prices: priced per event, not per UTC date


class Preparer:
    """Turns reports into rows (or problems) for one batch; keeps its lookups."""

    def __init__(
        self,
        session: Session,
        *,
        zone: tzinfo,
        now: datetime,
        horizon: datetime | None,
        reference: Any,
        resolver: Resolver | None = None,
    ) -> None:
        self.resolver = resolver or Resolver(session)
        self.zone, self.now, self.horizon = zone, now, horizon
        self.latest = now + FUTURE_SLACK
        self.reference = reference  # prepare one report the reference way: row dict | problems
        self.providers: dict[str, Provider | None] = {}
        self.targets: dict[tuple[str, str], Target | None] = {}
        self.users: dict[str, tuple[uuid.UUID | None, str] | None] = {}
        self.tags: dict[tuple[tuple[Any, Any], ...], str | None] = {}
        self.prices: dict[tuple[Any, ...], Prices | None] = {}
        self.preloaded = False

    def _provider(self, name: Any) -> Provider | None:
        if type(name) is not str:
            return None
        if name not in self.providers:
            found = None
            if not _text(name, "provider", 100):
                resolved = self.resolver.provider(name)
                found = resolved if isinstance(resolved, Provider) else None
            self.providers[name] = found
        return self.providers[name]

    def _target(self, provider_name: Any, model_id: Any) -> Target | None:
        """What a (provider name, model id) resolves to, as plain values; None if either is
        not acceptable (the reference path then says why)."""
        if type(provider_name) is not str or type(model_id) is not str:
            return None
        key = (provider_name, model_id)
        if key not in self.targets:
            found = None
            provider = self._provider(provider_name)
            if provider is not None and not _text(model_id, "model", MODEL_ID_MAX):
                record = self.resolver.record(provider, model_id)
                found = Target(
                    key,
                    provider.id,
                    provider.name,
                    provider.provider_type,
                    record,
                    record.id if record is not None else None,
                    pricing.varies_within_day(provider.provider_type, model_id),
                )
            self.targets[key] = found
        return self.targets[key]

    def _user(self, username: Any) -> tuple[uuid.UUID | None, str] | None:
        if type(username) is not str:
            return None
        if username not in self.users:
            found = None
            if not _text(username, "user", USERNAME_MAX):
                user = self.resolver.user(username)
                found = (user.id, user.username) if user else (None, username)
            self.users[username] = found
        return self.users[username]

    def _tags(self, tags: Any) -> str | None:
        if type(tags) is not dict:
            return None
        try:
            key = tuple(tags.items())
            if key not in self.tags:
                self.tags[key] = (
                    None if check_tags(tags) else json.dumps(dict(sorted(tags.items())))
                )
        except TypeError:  # an unhashable value: the reference path says what is wrong
            return None
        return self.tags[key]

    def _prices(self, target: Target, at: datetime) -> Prices | None:
        key = (target.key, at if target.within_day else at.date())
        if key not in self.prices:
            self.prices[key] = pricing.prices_for(
                provider_type=target.provider_type,
                model_id=target.key[1],
                record=target.record,
                at=at,
            )
        return self.prices[key]

    def preload(self, reports: Sequence[UsageInput]) -> None:
        """Look up the records these reports name in a few queries (resolve.Resolver.preload)
        instead of one per name as prepare meets them."""
        pairs, usernames = set(), set()
        for report in reports:
            provider, model, user = report.provider, report.model, report.user
            if type(provider) is str and type(model) is str:
                pairs.add((provider, model))
            if type(user) is str:
                usernames.add(user)
        # Only names prepare would look up (acceptable text), as it would.
        providers = {p for p, _ in pairs if not _text(p, "provider", 100)}
        self.resolver.preload(
            providers,
            {(p, m) for p, m in pairs if p in providers and not _text(m, "model", MODEL_ID_MAX)},
            {u for u in usernames if not _text(u, "user", USERNAME_MAX)},
        )

    def prepare(self, reports: Sequence[UsageInput]) -> list[Row | list[str]]:  # noqa: C901
        """For each report, its row or the list of its problems (the records the first
        reports name looked up together first)."""
        if not self.preloaded:
            self.preloaded = True
            self.preload(reports[:PRELOAD])
        out: list[Row | list[str]] = []
        zone, utc, horizon, latest = self.zone, UTC, self.horizon, self.latest
        for report in reports:
            inp, cached, written = (
                report.input_tokens,
                report.cached_input_tokens,
                report.cache_write_tokens,
            )
            out_, reasoning, requests = (
                report.output_tokens,
                report.reasoning_tokens,
                report.requests,
            )
            stamp, key = report.timestamp, report.idempotency_key
            source_cost = report.source_cost_usd
            if key is None:
                key = content_key(report)  # what the reference stores too
            target = user = tags = None
            quick = (
                type(inp) is int
                and type(cached) is int
                and type(written) is int
                and type(out_) is int
                and type(reasoning) is int
                and type(requests) is int
                and cached >= 0
                and written >= 0
                and cached + written <= inp <= MAX_COUNT
                and 0 <= reasoning <= out_ <= MAX_COUNT
                and 1 <= requests <= MAX_COUNT
                and type(stamp) is datetime
                and stamp.utcoffset() is not None
                and stamp <= latest
                and (horizon is None or stamp >= horizon)
                and type(key) is str
                and 0 < len(key) <= KEY_MAX
                and key.isprintable()
                and not key[0].isspace()
                and not key[-1].isspace()
                and (target := self._target(report.provider, report.model)) is not None
                and (report.user is None or (user := self._user(report.user)) is not None)
                and (tags := self._tags(report.tags)) is not None
                and (
                    source_cost is None
                    or (
                        type(source_cost) is Decimal
                        and source_cost.is_finite()
                        and 0 <= source_cost < MAX_SOURCE_COST
                    )
                )
            )
            if not quick:
                slow = self.reference(report)
                if isinstance(slow, list):
                    out.append(slow)
                else:
                    slow["tags"] = json.dumps(slow["tags"])
                    out.append(tuple(slow[c] for c in bulk.STAGED))
                continue
            assert target is not None and tags is not None
            at = stamp.astimezone(utc)
            prices = self._prices(target, at)
            cost = pricing.cost_usd(prices, inp, cached, written, out_, reasoning, requests)
            out.append(
                (
                    key,
                    at,
                    at.astimezone(zone).date(),
                    user[0] if user else None,
                    user[1] if user else None,
                    target.provider_id,
                    target.provider_name,
                    target.provider_type,
                    target.record_id,
                    target.key[1],
                    target.record_id is not None,
                    inp,
                    cached,
                    written,
                    out_,
                    reasoning,
                    requests,
                    tags,
                    cost,
                    prices.source[:200] if cost is not None and prices is not None else None,
                    source_cost,
                )
            )
        return out


def as_dict(row: Row) -> dict[str, Any]:
    """A row as a mapping of event columns (tags as a dict again)."""
    found = dict(zip(bulk.STAGED, row, strict=True))
    if isinstance(found["tags"], str):
        found["tags"] = json.loads(found["tags"])
    return found


def cost_of_rows(rows: Sequence[Row]) -> tuple[int, Decimal]:
    """(unpriced rows, their priced cost) of these rows."""
    cost_at = bulk.STAGED.index("cost_usd")
    unpriced, total = 0, Decimal(0)
    for row in rows:
        if row[cost_at] is None:
            unpriced += 1
        else:
            total += row[cost_at]
    return unpriced, total
