"""The model capability registry and ``best_model_for``: pure functions over data.

``registry_seed.yaml`` beside this module holds the twelve models of seed 002 (speed,
quality, cost tiers, context window, features). It is loaded once and validated strictly:
a broken seed file is a packaging bug, so it fails loudly naming the entry. Every public
function takes ``models=`` so a caller can rank another list (the catalog) the same way.

Scores (seed 002): quality high=3, medium=2, low=1 (maximised); speed fast=0, medium=1,
slow=2 (minimised); cost free=0, low=1, medium=2, high=3 (minimised).

Tie-break, so the same models always give the same ranking whatever their order:
the preferred dimension first, then the other two in a fixed order

    quality: higher quality, then cheaper, then faster
    speed:   faster, then higher quality, then cheaper
    cost:    cheaper, then higher quality, then faster

then the larger context window, then provider_type, then model id (both ascending),
then the sorted feature names, so even a list with duplicate ids ranks the same shuffled.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from core.errors import ConfigurationError, ValidationError

QUALITY_SCORES: dict[str, int] = {"high": 3, "medium": 2, "low": 1}
SPEED_SCORES: dict[str, int] = {"fast": 0, "medium": 1, "slow": 2}
COST_SCORES: dict[str, int] = {"free": 0, "low": 1, "medium": 2, "high": 3}
FEATURES: frozenset[str] = frozenset(
    {"chat", "vision", "tool_use", "json_mode", "audio", "reasoning", "embedding", "rerank"})
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

_DATA_FILE = Path(__file__).with_name("registry_seed.yaml")
_FIELDS = ("provider_type", "model", "speed", "quality", "cost", "context_window", "features")
_PROVIDER_TYPE = re.compile(r"^[a-z][a-z0-9_]*$")


def _valid(kind: str, value: object, allowed: Iterable[str], field: str) -> None:
    if not isinstance(value, str) or value not in allowed:
        shown = repr(value)[:64]
        raise ValidationError(f"Unknown {kind} {shown}. Valid: {', '.join(allowed)}.",
                              field=field)


@dataclass(frozen=True)
class ModelCapability:
    """What one model is good at: three tiers, a context window and its features."""

    provider_type: str
    model: str
    speed: str
    quality: str
    cost: str
    context_window: int
    features: frozenset[str]

    def __post_init__(self) -> None:
        # Validated here so a hand-built list (the catalog, a test) obeys the seed's rules.
        if not isinstance(self.provider_type, str) or not _PROVIDER_TYPE.match(self.provider_type):
            raise ValidationError(f"Bad provider type {self.provider_type!r}.",
                                  field="provider_type")
        if not isinstance(self.model, str) or not self.model.strip():
            raise ValidationError(f"Bad model id {self.model!r}.", field="model")
        _valid("speed", self.speed, SPEED_SCORES, "speed")
        _valid("quality", self.quality, QUALITY_SCORES, "quality")
        _valid("cost", self.cost, COST_SCORES, "cost")
        if type(self.context_window) is not int or self.context_window <= 0:
            raise ValidationError(f"Context window must be a positive integer, not "
                                  f"{self.context_window!r}.", field="context_window")
        if isinstance(self.features, str) or not isinstance(self.features, Iterable):
            raise ValidationError("Features must be a list of names.", field="features")
        features = frozenset(self.features)
        for name in sorted(features, key=str):
            _valid("feature", name, sorted(FEATURES), "features")
        object.__setattr__(self, "features", features)

    @property
    def scores(self) -> dict[str, int]:
        """The seed's score of each preference dimension for this model."""
        return {"quality": QUALITY_SCORES[self.quality], "speed": SPEED_SCORES[self.speed],
                "cost": COST_SCORES[self.cost]}


@dataclass(frozen=True)
class Candidate:
    """One ranked model: its score on the preferred dimension and a one-line reason."""

    model: ModelCapability
    score: int
    reason: str


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


def models_for_task(features: Iterable[str],
                    models: Sequence[ModelCapability] | None = None
                    ) -> tuple[ModelCapability, ...]:
    """The models having every one of these features, in list order."""
    if isinstance(features, str):
        features = [features]  # one feature name, not its letters
    wanted = frozenset(features)
    for name in sorted(wanted, key=str):
        _valid("feature", name, sorted(FEATURES), "features")
    return tuple(m for m in list_models(models) if wanted <= m.features)


def get_model(provider_type: str, model: str,
              models: Sequence[ModelCapability] | None = None) -> ModelCapability | None:
    """The capabilities of this provider type's model, or None when unknown."""
    return next((m for m in list_models(models)
                 if m.provider_type == provider_type and m.model == model), None)


def best_model_for(task: str, prefer: str = "quality",
                   provider_types: Iterable[str] | None = None,
                   models: Sequence[ModelCapability] | None = None) -> Ranking | None:
    """Rank the models fit for a task by preference; None when nothing matches."""
    _valid("task", task, list(TASK_FEATURES), "task")
    _valid("preference", prefer, PREFERENCES, "prefer")
    matching = models_for_task(TASK_FEATURES[task], models)
    if provider_types is not None:
        # An empty list allows no provider, so it matches nothing (seed: "or nil").
        allowed = {provider_types} if isinstance(provider_types, str) else set(provider_types)
        matching = tuple(m for m in matching if m.provider_type in allowed)
    if not matching:
        return None
    ranked = sorted(matching, key=functools.partial(sort_key, prefer=prefer))
    return Ranking(task=task, prefer=prefer, candidates=tuple(
        Candidate(model=m, score=m.scores[prefer], reason=reason(m, prefer)) for m in ranked))


def sort_key(model: ModelCapability, prefer: str) -> tuple[Any, ...]:
    """The ranking key for a preference: smaller sorts first (see module docstring)."""
    q, s, c = (QUALITY_SCORES[model.quality], SPEED_SCORES[model.speed],
               COST_SCORES[model.cost])
    primary = {"quality": (-q, c, s), "speed": (s, -q, c), "cost": (c, -q, s)}[prefer]
    # Features last only make the order total for lists with duplicate ids (the catalog).
    return (*primary, -model.context_window, model.provider_type, model.model,
            tuple(sorted(model.features)))


def reason(model: ModelCapability, prefer: str) -> str:
    """One line on why a model ranks where it does, the preferred dimension first."""
    parts = {"quality": f"{model.quality} quality",
             "speed": "medium speed" if model.speed == "medium" else model.speed,
             "cost": "free" if model.cost == "free" else f"{model.cost} cost"}
    parts[prefer] += f" ({model.scores[prefer]})"
    order = {"quality": ("quality", "cost", "speed"), "speed": ("speed", "quality", "cost"),
             "cost": ("cost", "quality", "speed")}[prefer]
    return "; ".join([*(parts[k] for k in order), f"{_tokens(model.context_window)} context"])


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


def _load(path: Path) -> tuple[ModelCapability, ...]:
    """Parse and validate a registry file; ConfigurationError naming the bad entry."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"Cannot read {path.name}: {exc}") from None
    if not isinstance(data, dict) or set(data) != {"models"} or not isinstance(
            data["models"], list):
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
            raise ConfigurationError(f"{where}: unknown keys {sorted(unknown, key=str)}, "
                                     f"missing keys {sorted(missing)}.")
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
