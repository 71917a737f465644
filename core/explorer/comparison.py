"""Comparing models: the cost/quality Pareto frontier, the points the Explorer's price
charts draw, the capability matrix and the side-by-side comparison.

Pure functions over registry entries (already narrowed by ``core.explorer.filters.apply``).
Prices are Decimal throughout; only chart coordinates are floats.
"""

from __future__ import annotations

import math
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

import pandas as pd

from core.catalog import model_facts
from core.costs import Prices, price_label, usd
from core.explorer import ranking, tiers
from core.explorer.filters import labels, model_key, provider_name
from core.explorer.registry import ModelCapability
from core.explorer.tiers import DEFAULT_BLEND
from core.vocabulary import FEATURE_LABELS, FEATURE_ORDER

SPEED_ROWS: dict[str | None, int] = {"slow": 0, "medium": 1, "fast": 2}


# --- The cost/quality Pareto frontier -----------------------------------------------------


def pareto_frontier(points: Sequence[tuple[Decimal, float]]) -> list[int]:
    """Indexes of the non-dominated (cost, quality) points, by cost ascending.

    Point a dominates point b when a costs no more and is of no lower quality, and is
    strictly better in at least one of the two. The frontier is every point no other
    point dominates; so equal points are on it together, and every point off it is
    dominated by one on it. Ties in cost list the frontier points in input order.
    """
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1], i))
    frontier: list[int] = []
    best_cheaper: float | None = None  # the best quality among strictly cheaper points
    start = 0
    while start < len(order):
        cost = points[order[start]][0]
        end = start
        while end < len(order) and points[order[end]][0] == cost:
            end += 1
        top = points[order[start]][1]  # the group's highest quality (sorted descending)
        if best_cheaper is None or top > best_cheaper:
            frontier += [i for i in order[start:end] if points[i][1] == top]
            best_cheaper = top
        start = end
    return frontier


def frontier_models(models: Iterable[ModelCapability]) -> list[ModelCapability]:
    """The priced, quality-rated models on the cost/quality frontier, cheapest first;
    quality is the number Best model ranks on (``ranking.quality_value``: the Arena
    rating, or a tier's band value)."""
    rated: list[ModelCapability] = []
    points: list[tuple[Decimal, float]] = []
    for m in models:
        value = ranking.quality_value(m)
        if m.blended_price is not None and value is not None:
            rated.append(m)
            points.append((m.blended_price, value))
    return [rated[i] for i in pareto_frontier(points)]


# --- Frames for the charts, the matrix and the comparison ---------------------------------

MAX_POINTS = 3000
TOP_PROVIDERS = 8
OTHER = "other"
LABELLED = 12  # points named on the chart: the frontier, then the best-rated
UNRATED_GAP = 60.0  # unrated models sit this far below the lowest rating shown


@dataclass(frozen=True)
class ChartPoints:
    """The priced models a price chart draws (one row each) and what was left out."""

    frame: pd.DataFrame
    priced: int  # priced models among the filtered ones
    unpriced: int  # filtered models without a blended price (not drawn)
    rated: int  # priced models with a quality rating
    free_x: float  # where free models sit on the log price axis
    groups: tuple[str, ...] = field(default=())  # colour groups, largest first, OTHER last
    unrated_y: float = 0.0  # the rating row where unrated models are drawn

    @property
    def sampled(self) -> bool:
        """Whether fewer points are drawn than there are priced models."""
        return len(self.frame) < self.priced


def _jitter(key: str, salt: str) -> float:
    """A stable offset in [-0.3, 0.3) for a model, so points stay put between runs."""
    return (zlib.crc32(f"{salt}:{key}".encode()) / 2**32 - 0.5) * 0.6


def _money(value: Decimal | None) -> str:
    if value is None:
        return "unpriced"
    return price_label(value)


def token_count(count: int | None) -> str:
    """A token count for people: '128k', '1M', '65,536', or 'unknown'."""
    if not count:
        return "unknown"
    if count % 1_000_000 == 0:
        return f"{count // 1_000_000}M"
    return f"{count // 1000}k" if count % 1000 == 0 else f"{count:,}"


def price_points(
    models: Sequence[ModelCapability],
    *,
    limit: int = MAX_POINTS,
    top_providers: int = TOP_PROVIDERS,
    labelled: int = LABELLED,
) -> ChartPoints:
    """The frame both price charts draw: x = blended price, y = the quality value
    (``ranking.quality_value``: Arena rating, or a tier's band value) and a jittered speed
    row, size from the context window, colour group = the provider type (the largest
    groups; the rest are OTHER), whether each point is on the frontier, and a label for
    the frontier points and then the best-rated ones (``labelled`` in all).

    Past ``limit`` priced models it keeps every rated and frontier model and an even
    sample of the others across the price range. Unrated models sit on a row
    ``UNRATED_GAP`` below the lowest rating, jittered."""
    priced = [m for m in models if m.blended_price is not None]
    values = {model_key(m): ranking.quality_value(m) for m in priced}
    front_models = frontier_models(priced)
    on_frontier = {model_key(m) for m in front_models}
    kept = priced
    if len(priced) > limit:
        must = [
            m for m in priced if values[model_key(m)] is not None or model_key(m) in on_frontier
        ]
        rest = sorted(
            (m for m in priced if values[model_key(m)] is None and model_key(m) not in on_frontier),
            key=lambda m: (m.blended_price, model_key(m)),
        )
        room = max(limit - len(must), 0)
        step = len(rest) / room if room else 0
        kept = must + [rest[int(i * step)] for i in range(room)]
    counts = Counter(m.provider_type for m in priced)
    top = [t for t, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    shown = set(top[:top_providers] if len(top) > top_providers + 1 else top)
    positive = [m.blended_price for m in priced if m.blended_price]
    # Free models sit one decade left of the cheapest paid one (a log axis has no 0).
    free_x = 10.0 ** (math.floor(math.log10(min(positive))) - 1) if positive else 0.01
    rated_values = [v for v in values.values() if v is not None]
    unrated_y = (min(rated_values) if rated_values else 1300.0) - UNRATED_GAP
    named = [model_key(m) for m in front_models]
    named += [
        model_key(m)
        for m in ranking.ranked((m for m in kept if values[model_key(m)] is not None), "quality")
        if model_key(m) not in on_frontier
    ]
    # One label per model name and per spot (the same model on several providers, or
    # two at one price and rating, would print their names over each other).
    by_key = {model_key(m): m for m in kept}
    seen: set[object] = set()
    named_keys: set[str] = set()
    for key in named:
        if key not in by_key or len(named_keys) >= labelled:
            continue
        m = by_key[key]
        price = float(m.blended_price or 0)
        # A spot: a price decade by 40 rating points, about a label's size.
        spot = (round(math.log10(price)) if price > 0 else None, round((values[key] or 0) / 40))
        if m.name.casefold() in seen or spot in seen:
            continue
        seen.update((m.name.casefold(), spot))
        named_keys.add(key)
    rows = []
    for m in kept:
        key = model_key(m)
        value = values[key]
        front = key in on_frontier  # not jittered: the frontier line runs through them
        price = float(m.blended_price) if m.blended_price else free_x
        rows.append(
            {
                "key": key,
                "name": m.name,
                "provider": provider_name(m),
                "group": m.provider_type if m.provider_type in shown else OTHER,
                "price": price,
                "price_text": "free" if m.blended_price == 0 else _money(m.blended_price),
                "quality": ranking.quality_text(m),
                "quality_y": value
                if value is not None
                else unrated_y + _jitter(key, "q") * UNRATED_GAP / 2,
                "speed": m.speed or "unknown",
                "speed_y": SPEED_ROWS.get(m.speed, 1) + _jitter(key, "s"),
                "context": token_count(m.context_window),
                "size": 4 + 10 * min((m.context_window or 0) / 1_000_000, 1) ** 0.5,
                "frontier": front,
                "label": m.name if key in named_keys else "",
                "why": " · ".join(
                    f"{k}: {m.sources[k]}"
                    for k in ("speed", "cost", "prices", "features")
                    if m.sources.get(k)
                ),
            }
        )
    frame = pd.DataFrame(
        rows,
        columns=[
            "key",
            "name",
            "provider",
            "group",
            "price",
            "price_text",
            "quality",
            "quality_y",
            "speed",
            "speed_y",
            "context",
            "size",
            "frontier",
            "label",
            "why",
        ],
    )
    groups = tuple(t for t in top if t in shown) + ((OTHER,) if len(shown) < len(top) else ())
    return ChartPoints(
        frame=frame,
        priced=len(priced),
        unpriced=len(models) - len(priced),
        rated=len(rated_values),
        free_x=free_x,
        groups=groups,
        unrated_y=unrated_y,
    )


def capability_matrix(models: Sequence[ModelCapability]) -> pd.DataFrame:
    """Models × features: True where the model has the feature (rows as given)."""
    names = labels(models)
    return pd.DataFrame(
        [[f in m.features for f in FEATURE_ORDER] for m in models],
        index=[names[model_key(m)] for m in models],
        columns=[FEATURE_LABELS[f] for f in FEATURE_ORDER],
        dtype=bool,
    )


def _with_source(value: str, model: ModelCapability, key: str) -> str:
    source = model.sources.get(key)
    return f"{value} [{source}]" if source else value


def _rate(prices: Prices | None, kind: str) -> str:
    rate = getattr(prices, kind, None) if prices is not None else None
    if rate is None:
        return "—"
    return _money(rate.base) + (" (tiered by input size)" if rate.tiers else "")


def price_history(facts: model_facts.ModelFacts | None, today: date | None = None) -> str:
    """A model's dated price changes, oldest first ("since 2026-03-13: $5.00 in / $25.00
    out"), a future one marked scheduled; "no changes listed" for a single price."""
    points = facts.price_history if facts is not None else ()
    if len(points) < 2:
        return "no changes listed"
    today = today or datetime.now(UTC).date()
    lines = []
    for point in points:
        since = f"since {point.since}" if point.since else "at first"
        if point.since and point.since > today:
            since = f"from {point.since} (scheduled)"
        lines.append(
            f"{since}: {_rate(point.prices, 'input')} in / {_rate(point.prices, 'output')} out"
        )
    return "; ".join(lines)


def comparison_frame(
    models: Sequence[ModelCapability],
    prices_of: Callable[[ModelCapability], Prices | None],
    ratio: tuple[int, int] = DEFAULT_BLEND,
) -> pd.DataFrame:
    """Models side by side: one column per model, one row per fact, with its source."""
    columns: dict[str, list[str]] = {}
    names = labels(models)
    for m in models:
        facts = model_facts.lookup(m.provider_type, m.model)
        prices = prices_of(m)
        inputs, outputs = (
            (facts.input_modalities, facts.output_modalities)
            if facts is not None
            else (frozenset(), frozenset())
        )

        def yes(value: bool | None) -> str:
            return "unknown" if value is None else "yes" if value else "no"

        columns[names[model_key(m)]] = [
            provider_name(m),
            m.model,
            ranking.quality_text(m),
            _rating_source(m),
            _with_source(m.speed or "unknown", m, "speed"),
            _with_source(m.cost or "unpriced", m, "cost"),
            _money(m.blended_price),
            _rate(prices, "input"),
            _rate(prices, "output"),
            _rate(prices, "cache_read"),
            _rate(prices, "cache_write"),
            (prices.source + (f" (as of {prices.as_of})" if prices.as_of else ""))
            if prices is not None
            else "unpriced",
            price_history(facts),
            _with_source(token_count(m.context_window), m, "context_window"),
            token_count(facts.max_output_tokens if facts else None),
            _features_text(m) or "none",
            ", ".join(sorted(inputs)) or "unknown",
            ", ".join(sorted(outputs)) or "unknown",
            str(facts.release_date) if facts and facts.release_date else "unknown",
            yes(facts.open_weights if facts else None),
            "yes" if m.deprecated else "no",
        ]
    blend = f"{ratio[0]}:{ratio[1]}"
    index = [
        "Provider",
        "Model ID",
        "Quality",
        "Rating source",
        "Speed",
        "Cost tier",
        f"Blended $/M ({blend})",
        "Input $/M",
        "Output $/M",
        "Cache read $/M",
        "Cache write $/M",
        "Prices from",
        "Price history",
        "Context window",
        "Max output",
        "Features",
        "Input modalities",
        "Output modalities",
        "Released",
        "Open weights",
        "Deprecated",
    ]
    return pd.DataFrame(columns, index=index, dtype="str")


def _rating_source(model: ModelCapability) -> str:
    """Where a rating came from: the leaderboard, its licence, the name matched and how."""
    r = model.rating
    if r is None:
        return "no Arena rating matched"
    return f"{r.source} ({r.licence}); leaderboard name '{r.matched_name}', matched by {r.method}"


def rating_text(model: ModelCapability) -> str:
    """A table cell: 'Arena 1467 ± 5 (15,813 votes, text board, 2026-10-05)', the record's
    override named, or '—'."""
    on_record = model.sources.get("quality") == tiers.ON_RECORD
    return tiers.quality_label(model.quality if on_record else None, model.rating) or usd(None)


def _features_text(model: ModelCapability) -> str:
    """'chat, vision', with 'unknown' said when the catalog does not describe the model."""
    known = ", ".join(FEATURE_LABELS[f] for f in FEATURE_ORDER if f in model.features)
    if model.features_known:
        return known
    return f"{known} (others unknown)" if known else "unknown"


def table_frame(models: Sequence[ModelCapability]) -> pd.DataFrame:
    """The models as a table: one row each, in the given order."""
    return pd.DataFrame(
        {
            "Name": [m.name for m in models],
            "Provider": [provider_name(m) for m in models],
            "Model ID": [m.model for m in models],
            "Quality": [m.quality or "not rated" for m in models],
            "Arena rating": [rating_text(m) for m in models],
            "Speed": [m.speed or "unknown" for m in models],
            "Cost": [m.cost or "unpriced" for m in models],
            "Blended $/M": [usd(m.blended_price) for m in models],  # text: never cut or re-rounded
            "Context": pd.array([m.context_window for m in models], dtype="Int64"),
            "Features": [_features_text(m) for m in models],
            "Deprecated": [m.deprecated for m in models],
        }
    )
