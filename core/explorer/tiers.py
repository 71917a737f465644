"""Tiers from data: what the registry ranks by, for catalog and configured models.

The built-in registry table (``core/catalog/registry_seed.yaml``, the "seed table")
hands out speed / quality / cost tiers for twelve models. Every other model gets
its tiers derived here, each with a short note saying where it came from:

One fixed scale per dimension, the same in every scope (a price's tier never depends on
which other models are listed):

    cost     the blended price per million tokens (blend = input:output, default 3:1):
             free at $0, low below $2.50, medium below $10, high from $10 (``COST_BANDS``);
             no price → no tier ("unpriced", never free); the seed table's tier only for
             a seed model nobody prices (Ollama's local models are free)
    speed    Modeldesk's own measurement (``core.records.speed``: fast from 60 tokens/s
             and at most 800 ms to the first token, slow below 20 tokens/s or from 3 s);
             else the seed table; else an estimate from the model id: a small variant
             (mini, flash, haiku, 8b...) is fast, a thinking-only model (o1/o3, r1,
             "reasoner", "thinking") slow, the rest medium
    quality  the tier set on the model record; else the Arena rating
             (``core.catalog.quality``): high from 1400, medium from 1300, low below
             (``QUALITY_BANDS``); else the seed table; else not rated

The seed API (``core.explorer.registry`` over its own table) keeps the table's published
tiers; these rules are the Explorer's and ``core.explorer.ranking``'s.

Values set on a model record (prices, context window, features, quality rating) win
over the catalog's and are labelled "set on the model record" (a record with only an input
or only an output price keeps the catalog's other one). Pure functions; the database side
is ``core.explorer.scopes``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from core.catalog import model_facts
from core.catalog import quality as arena
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


# Fixed, documented thresholds (upper bounds, exclusive): the one rule of each tier.
COST_BANDS: tuple[tuple[Decimal, str], ...] = ((Decimal("2.50"), "low"), (Decimal(10), "medium"))
QUALITY_BANDS: tuple[tuple[float, str], ...] = ((1400.0, "high"), (1300.0, "medium"))
COST_RULE = "cost: blended $/M — free $0, low < $2.50, medium < $10, high ≥ $10"
QUALITY_RULE = "quality: Arena rating — high ≥ 1400, medium ≥ 1300, low below"
SPEED_RULE = (
    "speed: measured — fast ≥ 60 tok/s and ≤ 800 ms to first token, slow < 20 tok/s or "
    "≥ 3 s; else the seed table, else estimated from the id"
)
TIER_RULE = f"{COST_RULE}; {QUALITY_RULE}; {SPEED_RULE}"


def cost_tier(blended: Decimal | None) -> str | None:
    """free / low / medium / high for a blended price per million (``COST_BANDS``); None
    when unpriced."""
    if blended is None:
        return None
    if blended == 0:
        return "free"
    return next((tier for below, tier in COST_BANDS if blended < below), "high")


def quality_tier(score: float | None) -> str | None:
    """high / medium / low for an Arena rating (``QUALITY_BANDS``); None when unrated."""
    if score is None:
        return None
    return next((tier for floor, tier in QUALITY_BANDS if score >= floor), "low")


@dataclass(frozen=True)
class CostScale:
    """The cost rule at one blend ratio (fixed thresholds: see ``COST_BANDS``)."""

    ratio: tuple[int, int]

    def tier(self, blended: Decimal | None) -> str | None:
        """free / low / medium / high for a blended price; None when unpriced."""
        return cost_tier(blended)


def cost_scale(ratio: tuple[int, int] = DEFAULT_BLEND) -> CostScale:
    """The cost rule at this blend ratio."""
    return CostScale(check_blend(ratio))


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
    tokens_per_s: float | None = None,
    rating: Any = None,
    record_id: str | None = None,
    provider_label: str = "",
) -> ModelCapability:
    """One model's capabilities: record values, then seed, then catalog (see the module)."""
    seed = get_model(provider_type, model_id, list_models())
    sources: dict[str, str] = dict(facts.sources) if facts is not None else {}
    sources.pop("deprecated", None)

    features_known = True
    if features is not None:
        sources["features"] = ON_RECORD
    elif seed is not None:
        features, sources["features"] = seed.features, SEED
    else:
        features = facts.features if facts is not None else frozenset()
        # Nothing says what it can do: "unknown", not "nothing" (a feature filter or a
        # task may still include it, flagged).
        features_known = bool(features)
        if not features_known and rating is not None:
            # Ranked on the Arena text board: it chats. Its other features stay unknown.
            features = frozenset({"chat"})
            sources["features"] = "chat: it has an Arena text rating; others unknown"
        elif not features_known:
            sources["features"] = "unknown: the catalog lists none and none are set on the record"

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
    cost = scale.tier(blended)
    if cost == "free":
        sources["cost"] = "price $0"
    elif cost is not None and blended is not None:
        sources["cost"] = f"blended {price_label(blended)}/M"
    elif seed is not None:  # a seed model nobody prices (Ollama's local ones are free)
        cost, sources["cost"] = seed.cost, SEED

    speed: str | None
    if measured is not None:
        speed, sources["speed"] = measured
    elif seed is not None:
        speed, sources["speed"] = seed.speed, SEED
    else:
        speed, sources["speed"] = speed_estimate(model_id)

    if quality is not None:
        sources["quality"] = ON_RECORD
    elif rating is not None:
        quality, sources["quality"] = quality_tier(rating.score), rating_label(rating)
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
        rating=rating,
        tokens_per_s=tokens_per_s,
        features_known=features_known,
    )


def rating_label(rating: Any) -> str:
    """An Arena rating for people, with its 95 % interval, votes, board and date (the
    source is Arena; the page footer gives its licence): 'Arena 1467 ± 5 (15,813 votes,
    text board, 2026-10-05)'."""
    low, high = rating.ci_low, rating.ci_high
    if low is None or high is None:
        spread = ""
    elif round(high - rating.score) == round(rating.score - low):
        spread = f" ± {round(high - rating.score)}"
    else:
        spread = f" +{round(high - rating.score)}/−{round(rating.score - low)}"
    votes = f"{rating.votes:,} votes, " if rating.votes else ""
    fetched = f", {rating.fetched}" if rating.fetched else ""
    return f"Arena {round(rating.score)}{spread} ({votes}{rating.board} board{fetched})"


def quality_label(tier: str | None, rating: Any) -> str | None:
    """A table cell for quality: a tier set on the record, named as the override it is;
    else the Arena rating (``rating_label``); else None (not rated)."""
    if tier:
        return f"{tier} [{ON_RECORD}]"
    return rating_label(rating) if rating is not None else None


@functools.cache
def ratings_shipped() -> bool:
    """Whether a quality snapshot ships with this installation (none: nothing is rated)."""
    return bool(arena.snapshot_files())


def rating_for(provider_type: str, model_id: str) -> arena.Rating | None:
    """The model's Arena rating on the text board, or None (unrated, or no snapshot)."""
    return arena.rating_for(provider_type, model_id) if ratings_shipped() else None


@functools.lru_cache(maxsize=8)  # a few blend ratios; each holds the whole catalog
def catalog_capabilities(ratio: tuple[int, int] = DEFAULT_BLEND) -> tuple[ModelCapability, ...]:
    """Every catalog model (and every seed model) ranked-ready; built once per ratio."""
    ratio = check_blend(ratio)
    scale = cost_scale(ratio)
    built = [
        derive(
            provider_type=f.provider_type,
            model_id=f.model_id,
            facts=f,
            scale=scale,
            rating=rating_for(f.provider_type, f.model_id),
        )
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
            rating=rating_for(s.provider_type, s.model),
        )
        for s in list_models()
        if (s.provider_type, s.model) not in known
    ]
    return tuple(built)
