"""Which price a usage event is charged at, and what it costs (Decimal, never a guessed $0).

    a model record matches (provider, model id) and has prices
        → the record's prices; an input or output price it lacks comes from the catalog
    else the catalog knows the model
        → the genai-prices price in effect at the event's time (dated price changes and
          time-of-day prices, by genai-prices' own rules), or models.dev's price when
          genai-prices prices none of its tokens (as core.catalog.model_facts shows it)
    else → unpriced: cost NULL, counted as an unpriced request

Costs are kept to 8 decimal places (the NUMERIC(20, 8) column), rounded half-up here so
both databases store the same value and rollup sums are exact sums of stored costs.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from core import catalog
from core.catalog import model_facts
from core.costs import MILLION, Prices, Usage, cost_of
from core.errors import ValidationError

QUANTUM = Decimal("1e-8")
RECORD_SOURCE = "model record"


@dataclass(frozen=True)
class Charge:
    """The cost of one event and where its price came from (both None when unpriced)."""

    cost_usd: Decimal | None
    source: str | None
    reason: str | None = None  # why it is unpriced


@functools.lru_cache(maxsize=4096)
def _genai_model(prices_id: str, model_id: str) -> Any:
    """The genai-prices model this provider's model id matches (its own match rules)."""
    from genai_prices.data_snapshot import (
        get_snapshot,  # the bundled data, never fetched
    )

    everyone = get_snapshot().providers
    provider = next((p for p in everyone if p.id == prices_id), None)
    if provider is None:
        return None
    for ref in dict.fromkeys((model_id, model_id.removeprefix("models/"))):  # Gemini's prefix
        found = provider.find_model(ref, all_providers=everyone)
        if found is not None:
            return found
    # The catalog also lists a model by its genai-prices id when no match rule takes that
    # id itself (fine-tune families such as "ft:gpt-4o"); price it the same way.
    return next((m for m in provider.models if m.id == model_id), None)


def _genai_label(info: Any, at: datetime) -> tuple[str, date | None]:
    """'genai-prices 0.2.5, price since 2026-03-13' for the price active at this instant."""
    label = f"{model_facts.GENAI_PRICES} {model_facts.package_version('genai-prices')}"
    if not isinstance(info.prices, list):
        return label, None
    starts = [
        c.constraint.start_date
        for c in info.prices
        if hasattr(c.constraint, "start_date") and c.constraint.active(at)
    ]
    since = max(starts, default=None)
    active = next(
        (c for c in reversed(info.prices) if c.constraint is None or c.constraint.active(at)), None
    )
    if since is not None:
        label += f", price since {since}"
    if (
        active is not None
        and active.constraint is not None
        and not hasattr(active.constraint, "start_date")
    ):
        label += ", time-of-day price"
    return label, since


def catalog_prices(provider_type: str, model_id: str, at: datetime) -> Prices | None:
    """The catalog's prices for this model at this instant: genai-prices' price in effect
    then (start dates and time-of-day prices, by genai-prices' own rules), else models.dev's
    price as the catalog shows it; None when neither prices the model's tokens."""
    known, info = _genai_info(provider_type, model_id)
    if not known:  # a type no longer in the catalog: its events stay unpriced
        return None
    # Which of the model's dated and time-of-day prices are in effect decides everything
    # below, so instants that agree on it share one answer (the bundled data never changes
    # while the process runs): pricing a million events costs a few lookups, not a million.
    active = (
        tuple(c.constraint is None or c.constraint.active(at) for c in info.prices)
        if info is not None and isinstance(info.prices, list)
        else ()
    )
    key = (provider_type, model_id, active)
    if key not in _CATALOG_PRICES:
        if len(_CATALOG_PRICES) > _CACHE_MAX:
            _CATALOG_PRICES.clear()
        _CATALOG_PRICES[key] = _catalog_prices(provider_type, model_id, info, at)
    return _CATALOG_PRICES[key]


_CATALOG_PRICES: dict[tuple[str, str, tuple[bool, ...]], Prices | None] = {}
_CACHE_MAX = 100_000


@functools.lru_cache(maxsize=4096)
def _genai_info(provider_type: str, model_id: str) -> tuple[bool, Any]:
    """Whether the catalog knows the type, and the genai-prices model of the model id."""
    try:
        prices_id = catalog.get_provider_type(provider_type).prices_id
    except ValidationError:
        return False, None
    return True, _genai_model(prices_id, model_id) if prices_id else None


def _catalog_prices(provider_type: str, model_id: str, info: Any, at: datetime) -> Prices | None:
    if info is not None:
        label, since = _genai_label(info, at)
        found = Prices.from_genai(info.get_prices(at), source=label, as_of=since)
        if found is not None:
            return found
    facts = model_facts.lookup(provider_type, model_id)
    source = facts.sources.get("prices", "") if facts is not None else ""
    if facts is None or facts.prices is None or not source.startswith(model_facts.MODELS_DEV):
        return None
    return dataclasses.replace(facts.prices, source=source)


def prices_for(
    *, provider_type: str, model_id: str, record: Any | None, at: datetime
) -> Prices | None:
    """The prices an event of this model at this instant is charged at (see the module)."""
    found = catalog_prices(provider_type, model_id, at)
    own = Prices.from_record(record, source=RECORD_SOURCE) if record is not None else None
    if own is not None:
        return own.filled_from(found)
    return found


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

    return Usage(
        input_tokens=get("input_tokens"),
        output_tokens=get("output_tokens"),
        cache_read_tokens=get("cached_input_tokens"),
        cache_write_tokens=get("cache_write_tokens"),
        reasoning_tokens=get("reasoning_tokens"),
        requests=get("requests"),
    )


def varies_within_day(provider_type: str, model_id: str) -> bool:
    """Whether the catalog's price of this model can change within a UTC day (time-of-day
    prices); otherwise it is one price per UTC date (dated price changes start at UTC
    midnight), which lets a batch price each (model, date) once."""
    _, info = _genai_info(provider_type, model_id)
    if info is None or not isinstance(info.prices, list):
        return False
    return any(
        c.constraint is not None and not hasattr(c.constraint, "start_date") for c in info.prices
    )


def cost_usd(
    prices: Prices | None,
    input_tokens: int,
    cached_input_tokens: int,
    cache_write_tokens: int,
    output_tokens: int,
    reasoning_tokens: int,
    requests: int,
) -> Decimal | None:
    """``charge(usage_of(event), prices).cost_usd`` for counts already checked (problems_of),
    without building a Usage and a Cost: the same Decimal operations in the same order as
    core.costs.cost_of, so the same exact result (tests/test_usage_fastpath.py)."""
    if prices is None:
        return None
    if (input_tokens and prices.input is None) or (output_tokens and prices.output is None):
        return None
    n = requests if requests > 1 else 1
    input_cost, rest = Decimal(0), input_tokens
    rate = prices.cache_read
    if rate is not None:
        price = rate._per_request(input_tokens, n) if rate.tiers else rate.base
        input_cost += price * cached_input_tokens / MILLION
        rest -= cached_input_tokens
    rate = prices.cache_write
    if rate is not None:
        price = rate._per_request(input_tokens, n) if rate.tiers else rate.base
        input_cost += price * cache_write_tokens / MILLION
        rest -= cache_write_tokens
    rate = prices.input
    if rate is not None:
        price = rate._per_request(input_tokens, n) if rate.tiers else rate.base
        input_cost += price * rest / MILLION
    output_cost, rest = Decimal(0), output_tokens
    rate = prices.reasoning
    if rate is not None:
        price = rate._per_request(input_tokens, n) if rate.tiers else rate.base
        output_cost += price * reasoning_tokens / MILLION
        rest -= reasoning_tokens
    rate = prices.output
    if rate is not None:
        price = rate._per_request(input_tokens, n) if rate.tiers else rate.base
        output_cost += price * rest / MILLION
    fee = prices.per_request * requests if prices.per_request is not None else Decimal(0)
    return (input_cost + output_cost + fee).quantize(QUANTUM, ROUND_HALF_UP)
