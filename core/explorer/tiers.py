"""Tiers from data: what the registry ranks by, for catalog and configured models.

The built-in registry table (``core/catalog/registry_seed.yaml``, the "seed table")
hands out speed / quality / cost tiers for twelve models. Every other model gets
its tiers derived here, each with a short note saying where it came from:

    cost     the seed table; else the blended price's percentile among every priced
             catalog model (blend = input:output, default 3:1): free when it is 0, low
             below the 33rd percentile, medium below the 67th, high above; no price →
             no tier ("unpriced", never free)
    speed    Modeldesk's own measurement (``core.records.speed``: deep checks); else the seed
             table; else an estimate from the model id: a small variant (mini, flash,
             haiku, 8b...) is fast, a thinking-only model (o1/o3, r1, "reasoner",
             "thinking") slow, the rest medium
    quality  the rating set on the model record; else the seed table; else not rated

Values set on a model record (prices, context window, features, quality rating) win
over the catalog's and are labelled "set on the model record" (a record with only an input
or only an output price keeps the catalog's other one). Pure functions; the database side
is ``core.explorer.scopes``.
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from core.catalog import model_facts
from core.catalog.model_facts import ModelFacts
from core.costs import Prices, price_label
from core.errors import ValidationError
from core.explorer.registry import ModelCapability, get_model, list_models

DEFAULT_BLEND: tuple[int, int] = (3, 1)
ON_RECORD = "set on the model record"
SEED = "seed table"
_SMALL = re.compile(
    r"(?:^|[-_.:/ ])(mini|nano|micro|tiny|small|lite|light|flash|haiku|"
    r"instant|turbo|fast|[1-9]b|1[0-4]b)(?:$|[-_.:/ ])"
)
_THINKING = re.compile(
    r"(?:^|[-_.:/ ])(o1|o3|o4|r1|qwq|reasoner|thinking|deep-research)"
    r"(?:$|[-_.:/ ])"
)
_UNSET: Any = object()


def check_blend(ratio: Iterable[Any]) -> tuple[int, int]:
    """A valid input:output blend ratio in lowest terms (6:2 is 3:1; 0:5 is 0:1)."""
    parts = tuple(ratio)
    if len(parts) != 2 or any(type(p) is not int or p < 0 for p in parts) or not any(parts):
        raise ValidationError(
            "The blend ratio is two whole numbers ≥ 0 (input:output), not both 0, e.g. 3:1.",
            field="blend",
        )
    divisor = math.gcd(*parts)
    return (parts[0] // divisor, parts[1] // divisor)


@dataclass(frozen=True)
class CostScale:
    """Where blended prices fall among the catalog's priced models."""

    ratio: tuple[int, int]
    sorted_prices: tuple[Decimal, ...]  # positive blended prices, ascending

    @classmethod
    def of(cls, blended: Iterable[Decimal | None], ratio: tuple[int, int]) -> CostScale:
        """The scale of these blended prices (None and zero are left out)."""
        return cls(ratio, tuple(sorted(b for b in blended if b is not None and b > 0)))

    def percentile(self, blended: Decimal) -> int:
        """0–100: the share of priced catalog models cheaper than this price."""
        if not self.sorted_prices:
            return 50
        return round(
            100 * bisect.bisect_left(self.sorted_prices, blended) / len(self.sorted_prices)
        )

    def tier(self, blended: Decimal | None) -> str | None:
        """free / low / medium / high for a blended price; None when unpriced."""
        if blended is None:
            return None
        if blended == 0:
            return "free"
        share = self.percentile(blended)
        return "low" if share < 33 else "medium" if share < 67 else "high"


@functools.lru_cache(maxsize=8)  # a few blend ratios; each holds ~5,000 prices
def cost_scale(ratio: tuple[int, int] = DEFAULT_BLEND) -> CostScale:
    """The catalog's cost scale at this blend ratio (built once per ratio)."""
    return CostScale.of(
        (f.prices.blended(ratio) for f in model_facts.all_facts() if f.prices is not None), ratio
    )


def speed_estimate(model_id: str) -> tuple[str, str]:
    """A speed tier guessed from the model id, and how it was guessed."""
    lowered = model_id.lower()
    if _SMALL.search(lowered):
        return "fast", "estimated from the model id"
    if _THINKING.search(lowered):
        return "slow", "estimated: thinking model"
    return "medium", "estimated"


def _blended(
    prices: Prices | None, ratio: tuple[int, int], features: frozenset[str]
) -> Decimal | None:
    """The blended price; an embedding or rerank model produces no output tokens, so its
    input price alone is its price (many list no output price at all)."""
    if prices is None:
        return None
    if features & {"embedding", "rerank"} and prices.output is None and prices.input:
        return prices.input.base
    return prices.blended(ratio)


def derive(  # noqa: C901
    *,
    provider_type: str,
    model_id: str,
    facts: ModelFacts | None,
    scale: CostScale,
    name: str = "",
    prices: Prices | None | Any = _UNSET,
    context_window: int | None = None,
    features: frozenset[str] | None = None,
    quality: str | None = None,
    measured: tuple[str, str] | None = None,
    record_id: str | None = None,
    provider_label: str = "",
) -> ModelCapability:
    """One model's capabilities: record values, then seed, then catalog (see the module)."""
    seed = get_model(provider_type, model_id, list_models())
    sources: dict[str, str] = dict(facts.sources) if facts is not None else {}
    sources.pop("deprecated", None)

    if features is not None:
        sources["features"] = ON_RECORD
    elif seed is not None:
        features, sources["features"] = seed.features, SEED
    else:
        features = facts.features if facts is not None else frozenset()

    catalog_prices = facts.prices if facts is not None else None
    on_record = prices is not _UNSET and prices is not None
    if on_record and prices is not None:
        # A record that sets only an input (or only an output) price keeps the catalog's
        # other one, so it is not "unpriced"; its cache prices are its own or none.
        prices = dataclasses.replace(prices, source=ON_RECORD).filled_from(catalog_prices)
        sources["prices"] = prices.source
    else:
        prices = catalog_prices
    blended = _blended(prices, scale.ratio, features)
    if seed is not None and not on_record:
        cost, sources["cost"] = seed.cost, SEED
    else:
        cost = scale.tier(blended)
        if cost == "free":
            sources["cost"] = "price $0"
        elif cost is not None and blended is not None:
            sources["cost"] = f"blended {price_label(blended)}/M, p{scale.percentile(blended)}"

    speed: str | None
    if measured is not None:
        speed, sources["speed"] = measured
    elif seed is not None:
        speed, sources["speed"] = seed.speed, SEED
    else:
        speed, sources["speed"] = speed_estimate(model_id)

    if quality is not None:
        sources["quality"] = ON_RECORD
    elif seed is not None:
        quality, sources["quality"] = seed.quality, SEED

    if context_window is not None:
        sources["context_window"] = ON_RECORD
    elif seed is not None:
        context_window, sources["context_window"] = seed.context_window, SEED
    else:
        context_window = facts.context_window if facts is not None else None

    return ModelCapability(
        provider_type=provider_type,
        model=model_id,
        speed=speed,
        quality=quality,
        cost=cost,
        context_window=context_window,
        features=frozenset(features),
        name=name or (facts.name if facts is not None else "") or model_id,
        blended_price=blended,
        prices=prices,
        sources=sources,
        record_id=record_id,
        provider_label=provider_label or provider_type,
        deprecated=bool(facts is not None and facts.deprecated),
    )


@functools.lru_cache(maxsize=8)  # a few blend ratios; each holds the whole catalog
def catalog_capabilities(ratio: tuple[int, int] = DEFAULT_BLEND) -> tuple[ModelCapability, ...]:
    """Every catalog model (and every seed model) ranked-ready; built once per ratio."""
    ratio = check_blend(ratio)
    scale = cost_scale(ratio)
    built = [
        derive(provider_type=f.provider_type, model_id=f.model_id, facts=f, scale=scale)
        for f in model_facts.all_facts()
    ]
    known = {(c.provider_type, c.model) for c in built}
    # Seed models the catalog lacks (Ollama's local models, Azure deployments).
    built += [
        derive(
            provider_type=s.provider_type,
            model_id=s.model,
            facts=model_facts.lookup(s.provider_type, s.model),
            scale=scale,
        )
        for s in list_models()
        if (s.provider_type, s.model) not in known
    ]
    return tuple(built)
