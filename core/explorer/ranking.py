"""Best model by values: the Explorer's and ``modeldesk models best``'s ranking over the
catalog and the configured records.

Each model has three values, compared as numbers, not tiers:

    quality  the Arena rating, higher first; a tier set on the model record overrides it
             and counts as its band's value (high 1400, medium 1300, low 1200, the
             ``core.explorer.tiers.QUALITY_BANDS`` floors), as does a seed-table tier of an
             unrated model; unrated last
    cost     the blended price per million tokens, lower first; unpriced last
    speed    the speed tier (measured, seed table or estimated from the id), then the
             measured tokens per second, faster first; unknown last

The preferred value decides; ties go to the other two in a fixed order

    quality: rating, then price, then speed
    cost:    price, then rating, then speed
    speed:   speed, then rating, then price

then the larger context window, provider type, model id and record id. The order is
lexicographic over the three values, so no pick is dominated: a model at least as good
on all three values and better on one would sort before it.

A model whose features are unknown (no catalog entry, none set on the record) is not a
model without features: ``include_unknown`` lets it compete, flagged "features unknown";
left out, it is counted in ``Ranking.left_out``. The seed table's own API
(``core.explorer.registry.best_model_for``) keeps its published tiers and row-order ties.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from core.costs import price_label
from core.errors import ValidationError
from core.explorer import tiers
from core.explorer.registry import (
    PREFERENCES,
    SPEED_SCORES,
    TASK_FEATURES,
    ModelCapability,
    _tokens,
)

BAND_VALUES: dict[str, float] = {"high": 1400.0, "medium": 1300.0, "low": 1200.0}
RULE = (
    "Ranked on values, not tiers: the Arena rating (a tier set on the model record "
    "overrides it, counted as its band: high 1400, medium 1300, low 1200), the blended "
    "price, and the speed tier then the measured tokens/s. The preferred one decides; "
    "ties go to the other two (quality: rating, price, speed; cost: price, rating, speed; "
    "speed: speed, rating, price). No pick is beaten on all three by another candidate."
)
ORDERS: dict[str, tuple[str, str, str]] = {
    "quality": ("quality", "cost", "speed"),
    "cost": ("cost", "quality", "speed"),
    "speed": ("speed", "quality", "cost"),
}
UNKNOWN_FEATURES = "features unknown"


def quality_value(model: ModelCapability) -> float | None:
    """The number quality ranks on (see the module docstring); None when unrated."""
    if model.quality is not None and model.sources.get("quality") == tiers.ON_RECORD:
        return BAND_VALUES[model.quality]
    if model.rating is not None:
        return float(model.rating.score)
    return BAND_VALUES[model.quality] if model.quality is not None else None


def price_value(model: ModelCapability) -> Decimal | None:
    """The blended price ranked on; a free model with no listed price is $0."""
    if model.blended_price is not None:
        return model.blended_price
    return Decimal(0) if model.cost == "free" else None


_DIMENSION = {d: i for i, d in enumerate(PREFERENCES)}
_UNKNOWN_SPEED = len(SPEED_SCORES)
_ORDER_INDEXES = {p: tuple(_DIMENSION[d] for d in order) for p, order in ORDERS.items()}


def _values(model: ModelCapability) -> tuple[tuple[Any, ...], tuple[Any, ...], tuple[Any, ...]]:
    """(quality, speed, cost) in ``PREFERENCES`` order, each oriented smaller-is-better;
    kept on the (frozen) model once computed, as the registry keeps its keys: the whole
    catalog is ranked again for every task and preference."""
    kept = model.__dict__.get("_ranking_values")
    if kept is not None:
        return kept
    q, p = quality_value(model), price_value(model)
    found = (
        (0, -q) if q is not None else (1, 0.0),
        (SPEED_SCORES.get(model.speed or "", _UNKNOWN_SPEED), -(model.tokens_per_s or 0.0)),
        (0, p) if p is not None else (1, Decimal(0)),
    )
    object.__setattr__(model, "_ranking_values", found)
    return found


def values(model: ModelCapability) -> dict[str, tuple[Any, ...]]:
    """Each dimension's comparable value, oriented so that smaller is better."""
    return dict(zip(PREFERENCES, _values(model), strict=True))


def dominates(a: ModelCapability, b: ModelCapability) -> bool:
    """Whether a is at least as good as b on all three values and better on one."""
    va, vb = _values(a), _values(b)
    return all(x <= y for x, y in zip(va, vb, strict=True)) and va != vb


def rank_key(model: ModelCapability, prefer: str) -> tuple[Any, ...]:
    """Smaller sorts first: the three values in the preference's order, then the larger
    context window, provider type, model id and record id. One flat tuple of numbers
    (the price as a float only orders; it is never shown), kept on the model."""
    keys = model.__dict__.get("_rank_keys")
    if keys is None:
        keys = {}
        object.__setattr__(model, "_rank_keys", keys)
    found = keys.get(prefer)
    if found is None:
        # Each value as one float, missing = infinity (worst): the same order as _values.
        q, speed, c = _values(model)
        flat = (
            math.inf if q[0] else float(q[1]),
            speed[0] * 1e9 + speed[1],
            math.inf if c[0] else float(c[1]),
        )
        first, second, third = _ORDER_INDEXES[prefer]
        found = (
            flat[first],
            flat[second],
            flat[third],
            -(model.context_window or 0),
            model.provider_type,
            model.model,
            model.record_id or "",
        )
        keys[prefer] = found
    return found


def ranked(models: Iterable[ModelCapability], prefer: str = "quality") -> list[ModelCapability]:
    """The models best first for a preference."""
    return sorted(models, key=lambda m: rank_key(m, prefer))


def fits(model: ModelCapability, task: str, include_unknown: bool = True) -> bool:
    """Whether a model can do a task: it has the features, or they are unknown (and
    unknown ones are included)."""
    if TASK_FEATURES[task] <= model.features:
        return True
    return include_unknown and not model.features_known


class Pick:
    """One ranked model and why it ranks there (the reason is written when first read:
    a ranking of thousands of catalog models shows only its first few)."""

    __slots__ = ("model", "prefer")

    def __init__(self, model: ModelCapability, prefer: str) -> None:
        self.model, self.prefer = model, prefer

    @property
    def reason(self) -> str:
        """One line: the preferred value first, with where each value came from."""
        return reason(self.model, self.prefer)

    @property
    def unknown_features(self) -> bool:
        """Whether it competes with unknown features."""
        return not self.model.features_known

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Pick):
            return NotImplemented
        return (self.model, self.prefer) == (other.model, other.prefer)

    def __hash__(self) -> int:
        return hash((self.model, self.prefer))

    def __repr__(self) -> str:
        return f"Pick({self.model.provider_type}/{self.model.model}, {self.prefer})"


@dataclass(frozen=True)
class Ranking:
    """Every model fit for the task, best first, and what was left out, counted by why."""

    task: str
    prefer: str
    candidates: tuple[Pick, ...]
    left_out: dict[str, int] = field(default_factory=dict)

    @property
    def pick(self) -> ModelCapability:
        """The best model."""
        return self.candidates[0].model


def best(
    task: str,
    prefer: str = "quality",
    models: Sequence[ModelCapability] = (),
    *,
    provider_types: Iterable[str] | None = None,
    include_unknown: bool = True,
) -> Ranking:
    """Rank the models fit for a task (an empty ranking when none is)."""
    if task not in TASK_FEATURES:
        raise ValidationError(
            f"Unknown task {task!r}. Valid: {', '.join(TASK_FEATURES)}.", field="task"
        )
    if prefer not in PREFERENCES:
        raise ValidationError(
            f"Unknown preference {prefer!r}. Valid: {', '.join(PREFERENCES)}.", field="prefer"
        )
    allowed = None
    if provider_types is not None:
        allowed = {provider_types} if isinstance(provider_types, str) else set(provider_types)
    left_out: Counter[str] = Counter()
    needed = TASK_FEATURES[task]
    kept = []
    for m in models:
        if allowed is not None and m.provider_type not in allowed:
            left_out["another provider type"] += 1
        elif needed <= m.features or (include_unknown and not m.features_known):
            kept.append(m)
        elif not m.features_known:
            left_out[UNKNOWN_FEATURES] += 1
        else:
            left_out["lack the task's features"] += 1
    kept.sort(key=lambda m: rank_key(m, prefer))
    return Ranking(
        task=task,
        prefer=prefer,
        candidates=tuple(Pick(m, prefer) for m in kept),
        left_out=dict(left_out),
    )


def left_out_text(left_out: dict[str, int]) -> str:
    """'12 with features unknown, 3 lacking the task's features' ('' when none)."""
    labels = {
        UNKNOWN_FEATURES: "with features unknown (include them with the switch)",
        "lack the task's features": "lacking the task's features",
        "another provider type": "of other provider types",
    }
    return ", ".join(f"{n:,} {labels.get(k, k)}" for k, n in sorted(left_out.items()) if n)


def quality_text(model: ModelCapability) -> str:
    """Quality as a number with its uncertainty and source, or the tier and its source."""
    source = model.sources.get("quality", "")
    if model.quality is not None and source == tiers.ON_RECORD:
        shown = f"{model.quality} quality [{tiers.ON_RECORD}]"
        if model.rating is not None:
            shown += f"; {tiers.rating_label(model.rating)} not used"
        return shown
    if model.rating is not None:
        return tiers.rating_label(model.rating)
    if model.quality is not None:
        return f"{model.quality} quality [{source}]" if source else f"{model.quality} quality"
    return "quality not rated"


def speed_text(model: ModelCapability) -> str:
    """The speed tier and where it came from."""
    if model.speed is None:
        return "speed unknown"
    shown = "medium speed" if model.speed == "medium" else model.speed
    source = model.sources.get("speed")
    return f"{shown} [{source}]" if source else shown


def cost_text(model: ModelCapability) -> str:
    """The blended price and its tier."""
    price = price_value(model)
    if price is None:
        return "unpriced"
    if price == 0:
        return "free"
    return f"{price_label(price)}/M blended ({model.cost} cost)"


def reason(model: ModelCapability, prefer: str) -> str:
    """One line on why a model ranks where it does, the preferred value first."""
    parts = {"quality": quality_text(model), "cost": cost_text(model), "speed": speed_text(model)}
    context = (
        f"{_tokens(model.context_window)} context" if model.context_window else "context unknown"
    )
    extra = (
        []
        if model.features_known
        else ["other features unknown" if model.features else UNKNOWN_FEATURES]
    )
    return "; ".join([*(parts[d] for d in ORDERS[prefer]), context, *extra])
