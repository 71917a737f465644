"""The model capability registry and ``best_model_for``: pure functions over data.

``core/catalog/registry_seed.yaml`` holds the built-in registry table: twelve models with
hand-set speed, quality and cost tiers, context window and features. It is loaded once and
validated strictly: a broken seed file is a packaging bug, so it fails loudly naming the
entry. Every public function takes ``models=`` so a caller can rank another list (the
catalog) the same way.

Scores: quality high=3, medium=2, low=1 (maximised); speed fast=0, medium=1,
slow=2 (minimised); cost free=0, low=1, medium=2, high=3 (minimised).

Catalog models may lack a tier (quality not rated, no price, context unknown): a missing
tier scores worst on its dimension (quality 0, speed 3, cost 4), so a preference never
picks an unpriced model as the cheapest or an unrated one as the best. ``core.explorer.tiers``
derives catalog tiers from data; ``sources`` says where each tier came from.

Ties on the preferred score go first to the table's row order, exactly as a first-wins
max / min over the table in order would pick (e.g. "chat", quality,
anthropic → claude-opus-4-6, the first high-quality row). The table position is a
property of the model, not of the list passed in, so the same models always rank the
same whatever their order. Models not in the seed table come after tied seed models (their
tiers are derived, not curated) and are ordered by the other two dimensions

    quality: higher quality, then cheaper, then faster
    speed:   faster, then higher quality, then cheaper
    cost:    cheaper, then higher quality, then faster

then the larger context window, then provider_type, then model id (both ascending),
then the record id and the sorted feature names, so even a list with duplicate ids ranks
the same shuffled.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from core.costs import Prices
from core.errors import ConfigurationError, ValidationError
from core.vocabulary import FEATURES, QUALITY_SCORES

SPEED_SCORES: dict[str, int] = {"fast": 0, "medium": 1, "slow": 2}
COST_SCORES: dict[str, int] = {"free": 0, "low": 1, "medium": 2, "high": 3}
TASK_FEATURES: dict[str, frozenset[str]] = {
    "chat": frozenset({"chat"}),
    "analysis": frozenset({"chat", "json_mode"}),
    "vision": frozenset({"chat", "vision"}),
    "tool_use": frozenset({"chat", "tool_use"}),
    "reasoning": frozenset({"chat", "reasoning"}),
    "embedding": frozenset({"embedding"}),
    "rerank": frozenset({"rerank"}),
}
PREFERENCES: tuple[str, ...] = ("quality", "speed", "cost")
_KEY_ATTRS: dict[str, str] = {p: f"_key_{p}" for p in PREFERENCES}
# What a missing tier scores: worst on its dimension.
MISSING_SCORES: dict[str, int] = {"quality": 0, "speed": 3, "cost": 4}

_DATA_FILE = Path(__file__).resolve().parent.parent / "catalog" / "registry_seed.yaml"
_FIELDS = ("provider_type", "model", "speed", "quality", "cost", "context_window", "features")
_PROVIDER_TYPE = re.compile(r"^[a-z][a-z0-9_]*$")


def _valid(
    kind: str, value: object, allowed: Iterable[str], field: str, optional: bool = False
) -> None:
    if optional and value is None:
        return
    if not isinstance(value, str) or value not in allowed:
        shown = repr(value)[:64]
        raise ValidationError(f"Unknown {kind} {shown}. Valid: {', '.join(allowed)}.", field=field)


@dataclass(frozen=True)
class ModelCapability:
    """What one model is good at: three tiers, a context window and its features.

    Seed entries have every tier; catalog and configured models may lack some (None).
    The optional fields describe a catalog or configured model for display.
    """

    provider_type: str
    model: str
    speed: str | None
    quality: str | None
    cost: str | None
    context_window: int | None
    features: frozenset[str]
    name: str = ""
    blended_price: Decimal | None = None  # USD per million at the blend ratio used
    prices: Prices | None = None  # what it is charged at (record's, else catalog's)
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)
    record_id: str | None = None  # a configured model record, when it is one
    provider_label: str = ""  # the configured provider's name, or the type
    deprecated: bool = False
    # The Arena rating (a ``core.catalog.quality.Rating``) when one matched; the tier above
    # follows it unless a tier was set on the model record.
    rating: Any = field(default=None, compare=False, hash=False)
    tokens_per_s: float | None = None  # measured median decode rate, when measured
    features_known: bool = True  # False: nothing says what it can do ("unknown", not "no")

    def __post_init__(self) -> None:
        # Validated here so a hand-built list (the catalog, a test) obeys the table's rules.
        if not isinstance(self.provider_type, str) or not _PROVIDER_TYPE.match(self.provider_type):
            raise ValidationError(
                f"Bad provider type {self.provider_type!r}.", field="provider_type"
            )
        if not isinstance(self.model, str) or not self.model.strip():
            raise ValidationError(f"Bad model id {self.model!r}.", field="model")
        _valid("speed", self.speed, SPEED_SCORES, "speed", optional=True)
        _valid("quality", self.quality, QUALITY_SCORES, "quality", optional=True)
        _valid("cost", self.cost, COST_SCORES, "cost", optional=True)
        if self.context_window is not None and (
            type(self.context_window) is not int or not 0 < self.context_window < 2**40
        ):
            raise ValidationError(
                f"Context window must be a positive integer, not {self.context_window!r}.",
                field="context_window",
            )
        if isinstance(self.features, str) or not isinstance(self.features, Iterable):
            raise ValidationError("Features must be a list of names.", field="features")
        features = frozenset(self.features)
        for name in sorted(features, key=str):
            _valid("feature", name, sorted(FEATURES), "features")
        object.__setattr__(self, "features", features)
        # Ranking keys are computed once: best_model_for sorts thousands of catalog models
        # by a C-level attribute lookup instead of calling sort_key for each.
        for prefer, attr in _KEY_ATTRS.items():
            object.__setattr__(self, attr, sort_key(self, prefer))

    def rank_key(self, prefer: str) -> tuple[Any, ...]:
        """``sort_key(self, prefer)``, computed once per model and preference."""
        return self.__dict__[_KEY_ATTRS[prefer]]

    @property
    def scores(self) -> dict[str, int]:
        """The score of each preference dimension (a missing tier scores worst)."""
        return {
            "quality": QUALITY_SCORES.get(self.quality or "", MISSING_SCORES["quality"]),
            "speed": SPEED_SCORES.get(self.speed or "", MISSING_SCORES["speed"]),
            "cost": COST_SCORES.get(self.cost or "", MISSING_SCORES["cost"]),
        }


class Candidate:
    """One ranked model: its score on the preferred dimension and a one-line reason.

    The reason is written when first read: a ranking of thousands of catalog models
    is built in milliseconds, and a page shows only its first few reasons.
    """

    __slots__ = ("model", "prefer", "_reason")
    _reason: str | None

    def __init__(self, model: ModelCapability, prefer: str) -> None:
        self.model, self.prefer, self._reason = model, prefer, None

    @property
    def score(self) -> int:
        """The model's score on the preferred dimension (see the module docstring)."""
        return self.model.scores[self.prefer]

    @property
    def reason(self) -> str:
        """One line on why the model ranks where it does."""
        if self._reason is None:
            self._reason = reason(self.model, self.prefer)
        return self._reason

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Candidate):
            return NotImplemented
        return (self.model, self.prefer) == (other.model, other.prefer)

    def __hash__(self) -> int:
        return hash((self.model, self.prefer))

    def __repr__(self) -> str:
        return f"Candidate({self.model.provider_type}/{self.model.model}, {self.prefer})"


@dataclass(frozen=True)
class Ranking:
    """The result of best_model_for: every matching model, best first."""

    task: str
    prefer: str
    candidates: tuple[Candidate, ...]

    @property
    def pick(self) -> ModelCapability:
        """The best model (first candidate)."""
        return self.candidates[0].model


def list_models(models: Sequence[ModelCapability] | None = None) -> tuple[ModelCapability, ...]:
    """Every known model, in seed-table order (or the given list's order)."""
    return _seed_models() if models is None else tuple(models)


def models_for_task(
    features: Iterable[str], models: Sequence[ModelCapability] | None = None
) -> tuple[ModelCapability, ...]:
    """The models having every one of these features, in list order."""
    if isinstance(features, str):
        features = [features]  # one feature name, not its letters
    wanted = frozenset(features)
    for name in sorted(wanted, key=str):
        _valid("feature", name, sorted(FEATURES), "features")
    return tuple(m for m in list_models(models) if wanted <= m.features)


def get_model(
    provider_type: str, model: str, models: Sequence[ModelCapability] | None = None
) -> ModelCapability | None:
    """The capabilities of this provider type's model, or None when unknown."""
    return next(
        (m for m in list_models(models) if m.provider_type == provider_type and m.model == model),
        None,
    )


def best_model_for(
    task: str,
    prefer: str = "quality",
    provider_types: Iterable[str] | None = None,
    models: Sequence[ModelCapability] | None = None,
) -> Ranking | None:
    """Rank the models fit for a task by preference; None when nothing matches."""
    _valid("task", task, list(TASK_FEATURES), "task")
    _valid("preference", prefer, PREFERENCES, "prefer")
    matching = models_for_task(TASK_FEATURES[task], models)
    if provider_types is not None:
        # An empty list allows no provider, so it matches nothing (unlike None: any provider).
        allowed = {provider_types} if isinstance(provider_types, str) else set(provider_types)
        matching = tuple(m for m in matching if m.provider_type in allowed)
    if not matching:
        return None
    ranked = sorted(matching, key=operator.attrgetter(_KEY_ATTRS[prefer]))
    return Ranking(task=task, prefer=prefer, candidates=tuple(Candidate(m, prefer) for m in ranked))


def sort_key(model: ModelCapability, prefer: str) -> tuple[Any, ...]:
    """The ranking key for a preference: smaller sorts first (see module docstring)."""
    scores = model.scores
    q, s, c = 3 - scores["quality"], scores["speed"], scores["cost"]  # each 0..4
    primary = {"quality": (q, c, s), "speed": (s, q, c), "cost": (c, q, s)}[prefer]
    rank = _seed_rank().get((model.provider_type, model.model), _NOT_SEEDED)
    # Tiers, seed position and context window packed in one integer (the same order as a
    # tuple, faster to compare); the context window is below 2**40 (checked on creation).
    packed = (((primary[0] * 64 + rank) * 8 + primary[1]) * 8 + primary[2]) * 2**40 + (
        2**40 - 1 - (model.context_window or 0)
    )
    # Record id and features last only make the order total for lists with duplicate ids.
    return (
        packed,
        model.provider_type,
        model.model,
        model.record_id or "",
        tuple(sorted(model.features)),
    )


def reason(model: ModelCapability, prefer: str) -> str:
    """One line on why a model ranks where it does, the preferred dimension first."""
    parts = {
        "quality": f"{model.quality} quality" if model.quality else "quality not rated",
        "speed": ("medium speed" if model.speed == "medium" else model.speed)
        if model.speed
        else "speed unknown",
        "cost": ("free" if model.cost == "free" else f"{model.cost} cost")
        if model.cost
        else "unpriced",
    }
    parts[prefer] += f" ({model.scores[prefer]})"
    # Where a tier came from, when it is not the seed table (e.g. "measured", "estimated").
    for dim in PREFERENCES:
        note = model.sources.get(dim)
        if note and getattr(model, dim) is not None:
            parts[dim] += f" [{note}]"
    order = {
        "quality": ("quality", "cost", "speed"),
        "speed": ("speed", "quality", "cost"),
        "cost": ("cost", "quality", "speed"),
    }[prefer]
    context = (
        f"{_tokens(model.context_window)} context" if model.context_window else "context unknown"
    )
    return "; ".join([*(parts[k] for k in order), context])


def _tokens(count: int) -> str:
    if count % 1_000_000 == 0:
        return f"{count // 1_000_000}M"
    if count % 1_000 == 0:
        return f"{count // 1_000}k"
    return f"{count:,}"


# --- Loading the seed file --------------------------------------------------------------


@functools.cache
def _seed_models() -> tuple[ModelCapability, ...]:
    return _load(_DATA_FILE)


_NOT_SEEDED = 63  # a seed position past any real one (the seed has at most 62 rows)


@functools.cache
def _seed_rank() -> dict[tuple[str, str], int]:
    """Each seed model's position in the seed table (the tie-break)."""
    # Read the file directly: _seed_models() builds ModelCapability objects, whose keys
    # need this table (a cycle otherwise).
    data = yaml.safe_load(_DATA_FILE.read_text(encoding="utf-8"))
    rows = [(r["provider_type"], r["model"]) for r in data["models"]]
    if len(rows) >= _NOT_SEEDED:
        raise ConfigurationError(
            f"{_DATA_FILE.name} has {len(rows)} rows; at most 62 fit the ranking key."
        )
    return {row: index for index, row in enumerate(rows)}


def _load(path: Path) -> tuple[ModelCapability, ...]:
    """Parse and validate a registry file; ConfigurationError naming the bad entry."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"Cannot read {path.name}: {exc}") from None
    if (
        not isinstance(data, dict)
        or set(data) != {"models"}
        or not isinstance(data["models"], list)
    ):
        raise ConfigurationError(f"{path.name} must be a mapping with one key, 'models' (a list).")
    loaded: list[ModelCapability] = []
    seen: set[tuple[str, str]] = set()
    for index, row in enumerate(data["models"], start=1):
        where = f"{path.name} entry {index}"
        if not isinstance(row, dict):
            raise ConfigurationError(f"{where} must be a mapping.")
        if isinstance(row.get("provider_type"), str) and isinstance(row.get("model"), str):
            where += f" ({row['provider_type']}/{row['model']})"
        unknown, missing = set(row) - set(_FIELDS), set(_FIELDS) - set(row)
        if unknown or missing:
            raise ConfigurationError(
                f"{where}: unknown keys {sorted(unknown, key=str)}, missing keys {sorted(missing)}."
            )
        if not isinstance(row["features"], list):
            raise ConfigurationError(f"{where}: features must be a list.")
        if len(set(map(str, row["features"]))) != len(row["features"]):
            raise ConfigurationError(f"{where}: features repeat a name.")
        try:
            entry = ModelCapability(**row)
        except ValidationError as exc:
            raise ConfigurationError(f"{where}: {exc}") from None
        if (entry.provider_type, entry.model) in seen:
            raise ConfigurationError(f"{where}: duplicate of an earlier entry.")
        seen.add((entry.provider_type, entry.model))
        loaded.append(entry)
    return tuple(loaded)
