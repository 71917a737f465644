"""Which price a usage event is charged at, and what it costs (Decimal, never a guessed $0).

    a model record matches (provider, model id) and has prices
        → the record's prices; an input or output price it lacks comes from the catalog
    else the catalog (core.catalog.model_facts) knows the model
        → the genai-prices price in effect on the event's UTC date (genai-prices' own rule),
          or models.dev's price when genai-prices has none
    else → unpriced: cost NULL, counted as an unpriced request

Costs are kept to 8 decimal places (the NUMERIC(20, 8) column), rounded half-up here so
both databases store the same value and rollup sums are exact sums of stored costs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from core.catalog import model_facts
from core.costs import Prices, Usage, cost_of

QUANTUM = Decimal("1e-8")
RECORD_SOURCE = "model record"


@dataclass(frozen=True)
class Charge:
    """The cost of one event and where its price came from (both None when unpriced)."""

    cost_usd: Decimal | None
    source: str | None
    reason: str | None = None  # why it is unpriced


def catalog_prices(provider_type: str, model_id: str, on: date) -> Prices | None:
    """The catalog's prices for this model in effect on a UTC date, with a dated source."""
    facts = model_facts.lookup(provider_type, model_id)
    if facts is None:
        return None
    if facts.price_history:
        point = None
        for candidate in facts.price_history:  # oldest first; a later start date wins
            if candidate.since is None or candidate.since <= on:
                point = candidate
        if point is None:
            return None
        label = f"{model_facts.GENAI_PRICES} {model_facts.package_version('genai-prices')}"
        if point.since is not None:
            label += f", price since {point.since}"
        return dataclasses.replace(point.prices, source=label)
    if facts.prices is None:
        return None
    return dataclasses.replace(facts.prices,
                               source=facts.sources.get("prices", facts.prices.source))


def prices_for(*, provider_type: str, model_id: str, record: Any | None,
               on: date) -> Prices | None:
    """The prices an event of this model on this UTC date is charged at (see the module)."""
    catalog = catalog_prices(provider_type, model_id, on)
    own = Prices.from_record(record, source=RECORD_SOURCE) if record is not None else None
    if own is not None:
        return own.filled_from(catalog)
    return catalog


def charge(usage: Usage, prices: Prices | None) -> Charge:
    """The event's cost at these prices, rounded to 8 places; unpriced stays None."""
    cost = cost_of(usage, prices)
    if cost.total is None:
        return Charge(None, None, cost.unpriced_reason)
    return Charge(cost.total.quantize(QUANTUM, ROUND_HALF_UP), cost.source[:200])


def usage_of(row: Any) -> Usage:
    """The costs.Usage of a stored event or an event row (mapping or object)."""
    def get(name: str) -> int:
        return int(row[name] if isinstance(row, dict) else getattr(row, name))

    return Usage(input_tokens=get("input_tokens"), output_tokens=get("output_tokens"),
                 cache_read_tokens=get("cached_input_tokens"),
                 cache_write_tokens=get("cache_write_tokens"),
                 reasoning_tokens=get("reasoning_tokens"), requests=get("requests"))
