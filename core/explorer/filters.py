"""The Explorer's views: its filters and their URL form, narrowing a scope's models, and
what to say when "best model for" finds nothing.

Pure functions over registry entries (``core.explorer.scopes`` loads them; the charts' frames
are ``core.explorer.comparison``, the calculator ``core.explorer.workload``). A view is a
``Filters`` value; its URL form is ``Filters.to_query``, and reading a URL back never raises
(``parse_query``: bad values are dropped with a warning, unknown keys are ignored):

    ?scope=catalog&features=vision,tool_use&providers=openai,anthropic&context=128000
     &price=5&in=image,pdf&out=audio&usable=1&blend=1:1&q=mini&deprecated=1&unknown=0

A model whose features are unknown (no catalog entry, none set on its record) passes a
feature filter, flagged "unknown", unless ``unknown_features`` is off (``unknown=0``).
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from core import catalog
from core.catalog import model_facts
from core.errors import ValidationError
from core.explorer import ranking
from core.explorer.registry import TASK_FEATURES, ModelCapability, list_models
from core.explorer.scopes import SCOPES
from core.explorer.tiers import DEFAULT_BLEND, check_blend
from core.vocabulary import FEATURE_LABELS, FEATURE_ORDER, FEATURES, MODALITIES

# Every URL query key a view uses (Filters.to_query writes only these).
QUERY_KEYS: tuple[str, ...] = (
    "scope",
    "features",
    "providers",
    "context",
    "price",
    "in",
    "out",
    "usable",
    "blend",
    "q",
    "deprecated",
    "unknown",
)
# The input:output blend ratios a view may use (the first is the default).
BLENDS: tuple[tuple[int, int], ...] = (DEFAULT_BLEND, (1, 1), (1, 3), (5, 1))
MAX_SEARCH = 80
MAX_PRICE = Decimal(100_000)
MAX_CONTEXT = 1_000_000_000
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")


@dataclass(frozen=True)
class Filters:
    """One Explorer view: the scope and every filter (defaults: no narrowing)."""

    scope: str = "configured"
    features: frozenset[str] = frozenset()  # models having all of them
    provider_types: frozenset[str] = frozenset()  # any of them (empty: every type)
    min_context: int | None = None
    max_price: Decimal | None = None  # blended USD per million
    input_modalities: frozenset[str] = frozenset()  # accepts all of them
    output_modalities: frozenset[str] = frozenset()
    usable_only: bool = False  # configured scope: what you can call
    blend: tuple[int, int] = DEFAULT_BLEND  # input:output for blended prices
    search: str = ""
    deprecated: bool = False  # include deprecated models
    unknown_features: bool = True  # models whose features are unknown pass feature filters

    def __post_init__(self) -> None:
        if self.scope not in SCOPES:
            raise ValidationError(f"Unknown scope {self.scope!r}.", field="scope")
        for name, allowed in (
            ("features", FEATURES),
            ("input_modalities", MODALITIES),
            ("output_modalities", MODALITIES),
            ("provider_types", known_provider_types()),
        ):
            value = getattr(self, name)
            if isinstance(value, str):
                raise ValidationError(f"{name} is a collection of names.", field=name)
            value = frozenset(value)
            if not value <= frozenset(allowed):
                bad = sorted(value - frozenset(allowed), key=str)[0]
                raise ValidationError(
                    f"Unknown {name.replace('_', ' ')} value {bad!r}.", field=name
                )
            object.__setattr__(self, name, value)
        if self.min_context is not None and (
            type(self.min_context) is not int or not 0 < self.min_context <= MAX_CONTEXT
        ):
            raise ValidationError(
                "The minimum context is a whole number of tokens.", field="min_context"
            )
        if self.max_price is not None:
            price = _decimal(self.max_price)
            if price is None:
                raise ValidationError(
                    "The maximum price is a number from 0 to 100,000.", field="max_price"
                )
            object.__setattr__(self, "max_price", price)
        object.__setattr__(self, "blend", check_blend(self.blend))
        if self.blend not in BLENDS:
            # Each ratio builds its own catalog tiers (about a second and some memory), so
            # a view offers a few, not any a hand-edited link asks for.
            raise ValidationError(
                f"The blend ratio is one of {', '.join(f'{a}:{b}' for a, b in BLENDS)}.",
                field="blend",
            )
        search = _clean_search(self.search)
        if search is None:
            raise ValidationError("The search text is at most 80 characters.", field="search")
        object.__setattr__(self, "search", search)

    def to_query(self) -> dict[str, str]:
        """The URL query for this view: only what differs from the defaults."""
        query: dict[str, str] = {}
        if self.scope != Filters.scope:
            query["scope"] = self.scope
        for key, value in (
            ("features", self.features),
            ("providers", self.provider_types),
            ("in", self.input_modalities),
            ("out", self.output_modalities),
        ):
            if value:
                query[key] = ",".join(sorted(value))
        if self.min_context is not None:
            query["context"] = str(self.min_context)
        if self.max_price is not None:
            query["price"] = format(self.max_price.normalize(), "f")
        if self.usable_only:
            query["usable"] = "1"
        if self.blend != DEFAULT_BLEND:
            query["blend"] = f"{self.blend[0]}:{self.blend[1]}"
        if self.search:
            query["q"] = self.search
        if self.deprecated:
            query["deprecated"] = "1"
        if not self.unknown_features:
            query["unknown"] = "0"
        return query

    @classmethod
    def from_query(cls, query: Mapping[str, Any]) -> Filters:
        """The view a URL query describes; bad values are ignored (see parse_query)."""
        return parse_query(query)[0]


def parse_query(query: Mapping[str, Any]) -> tuple[Filters, tuple[str, ...]]:
    """A view from a URL query and a warning per value it had to ignore; never raises.

    Values are strings or lists of strings (a repeated key); list filters take every
    comma-separated name of every value, the others the last value.
    """
    values: dict[str, Any] = {}
    warnings: list[str] = []

    def last(key: str) -> str | None:
        raw = query.get(key)
        if isinstance(raw, (list, tuple)):
            raw = raw[-1] if raw else None
        return raw.strip() if isinstance(raw, str) and len(raw) <= 2000 else None

    def names(key: str, allowed: Iterable[str], label: str) -> frozenset[str]:
        raw = query.get(key)
        raw = list(raw) if isinstance(raw, (list, tuple)) else [raw]
        found = {
            n.strip().lower()
            for r in raw
            if isinstance(r, str) and len(r) <= 5000
            for n in r.split(",")
            if n.strip()
        }
        allowed = frozenset(allowed)
        if found - allowed:
            shown = ", ".join(sorted(found - allowed)[:5])
            warnings.append(f"Ignored unknown {label} in the link: {_clip(shown)}.")
        return frozenset(found & allowed)

    try:
        scope = last("scope")
        if scope in SCOPES:
            values["scope"] = scope
        elif scope:
            warnings.append(f"Ignored the scope '{_clip(scope)}' in the link.")
        values["features"] = names("features", FEATURES, "features")
        values["provider_types"] = names("providers", known_provider_types(), "provider types")
        values["input_modalities"] = names("in", MODALITIES, "input modalities")
        values["output_modalities"] = names("out", MODALITIES, "output modalities")
        for key, name, parse, label in (
            ("context", "min_context", parse_tokens, "minimum context"),
            ("price", "max_price", _decimal, "maximum price"),
            ("blend", "blend", _blend, "blend ratio"),
            ("usable", "usable_only", _flag, "usable-only switch"),
            ("deprecated", "deprecated", _flag, "deprecated switch"),
            ("unknown", "unknown_features", _flag, "unknown-features switch"),
            ("q", "search", _clean_search, "search text"),
        ):
            text = last(key)
            if text is None or (text == "" and key not in ("usable", "deprecated", "unknown")):
                continue
            parsed = parse(text)
            if parsed is None:
                warnings.append(f"Ignored the {label} '{_clip(text)}' in the link.")
            else:
                values[name] = parsed
        return Filters(**values), tuple(warnings)
    except Exception:  # belt and braces: a URL must never break the page
        return Filters(), ("Ignored the filters in the link: they could not be read.",)


def _clip(text: str) -> str:
    text = "".join(c for c in text if c.isprintable())
    return text if len(text) <= 40 else text[:39] + "…"


def parse_tokens(text: str) -> int | None:
    """A token count from '128000', '128k' or '1M' (None when it is not one)."""
    match = re.fullmatch(r"\s*(\d{1,10}(?:\.\d{1,3})?)\s*([kKmM]?)\s*", text)
    if not match:
        return None
    scale = {"": 1, "k": 1_000, "m": 1_000_000}[match.group(2).lower()]
    value = int(Decimal(match.group(1)) * scale)
    return value if 0 < value <= MAX_CONTEXT else None


def _decimal(value: Any) -> Decimal | None:
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    if isinstance(value, bool) or not amount.is_finite() or not 0 <= amount <= MAX_PRICE:
        return None
    return amount


def _blend(text: str) -> tuple[int, int] | None:
    match = re.fullmatch(r"(\d{1,3}):(\d{1,3})", text)
    if not match:
        return None
    ratio = (int(match.group(1)), int(match.group(2)))
    if not any(ratio):
        return None
    ratio = check_blend(ratio)  # 6:2 is 3:1
    return ratio if ratio in BLENDS else None


def _flag(text: str) -> bool | None:
    lowered = text.lower()
    return True if lowered in TRUE else False if lowered in FALSE else None


def _clean_search(text: Any) -> str | None:
    if not isinstance(text, str):
        return None
    cleaned = " ".join("".join(c for c in text if c.isprintable()).split())
    return cleaned if len(cleaned) <= MAX_SEARCH else None


@functools.cache
def known_provider_types() -> frozenset[str]:
    """Every provider type a filter may name: the catalog's and the seed table's."""
    return frozenset(catalog.provider_type_ids()) | {m.provider_type for m in list_models()}


# --- Narrowing ----------------------------------------------------------------------------


def modalities(model: ModelCapability) -> tuple[frozenset[str], frozenset[str]]:
    """(input, output) modalities the catalog knows for a model (empty when unknown)."""
    facts = model_facts.lookup(model.provider_type, model.model)
    if facts is None:
        return frozenset(), frozenset()
    return facts.input_modalities, facts.output_modalities


def apply(models: Iterable[ModelCapability], filters: Filters) -> tuple[ModelCapability, ...]:
    """The models that pass every filter, in the given order (scope, usable-only and the
    blend ratio are applied when the models are loaded, not here).

    A model whose context, price or modalities are unknown fails a filter on them."""
    f = filters
    needle = f.search.casefold()
    kept = []
    for m in models:
        if (
            (
                f.features
                and not f.features <= m.features
                and (m.features_known or not f.unknown_features)
            )
            or (f.provider_types and m.provider_type not in f.provider_types)
            or (m.deprecated and not f.deprecated)
            or (f.min_context is not None and (m.context_window or 0) < f.min_context)
            or (
                f.max_price is not None
                and (m.blended_price is None or m.blended_price > f.max_price)
            )
        ):
            continue
        if (
            needle
            and needle
            not in (f"{m.name}\n{m.model}\n{m.provider_label}\n{provider_name(m)}").casefold()
        ):
            continue
        if f.input_modalities or f.output_modalities:
            inputs, outputs = modalities(m)
            if not (f.input_modalities <= inputs and f.output_modalities <= outputs):
                continue
        kept.append(m)
    return tuple(kept)


def ranked(models: Iterable[ModelCapability], prefer: str = "quality") -> list[ModelCapability]:
    """The models in Best model's order for a preference (``core.explorer.ranking``)."""
    return ranking.ranked(models, prefer)


def closest(models: Iterable[ModelCapability], text: str) -> list[ModelCapability]:
    """The models a search names, closest first: the exact model id or name, then an id
    whose last part is it ('openai/gpt-4o-mini' for 'gpt-4o-mini'), then an id or name
    starting with it, then one containing it, then a provider name containing it; shorter
    ids first within each, then Best model's order. Case does not matter."""
    needle = " ".join(text.split()).casefold()
    if not needle:
        return []
    found = []
    for m in models:
        model_id, name = m.model.casefold(), m.name.casefold()
        ids = (model_id, model_id.rsplit("/", 1)[-1], name)
        if needle in (model_id, name):
            group = 0
        elif needle == ids[1]:
            group = 1
        elif any(i.startswith(needle) for i in ids):
            group = 2
        elif needle in model_id or needle in name:
            group = 3
        elif needle in f"{m.provider_label}\n{provider_name(m)}".casefold():
            group = 4
        else:
            continue
        found.append(((group, len(ids[1])), m))
    order = {model_key(m): i for i, m in enumerate(ranked(m for _, m in found))}
    found.sort(key=lambda pair: (pair[0], order[model_key(pair[1])]))
    return [m for _, m in found]


def model_key(model: ModelCapability) -> str:
    """A stable id for a model in a scope: its record id, else 'provider_type/model'."""
    return model.record_id or f"{model.provider_type}/{model.model}"


def provider_name(model: ModelCapability) -> str:
    """The configured provider's name, or the catalog label of the model's type."""
    if model.record_id or model.provider_label != model.provider_type:
        return model.provider_label
    return type_label(model.provider_type)


@functools.cache
def type_label(provider_type: str) -> str:
    """A provider type's display label (its id when the catalog lacks it)."""
    try:
        return catalog.get_provider_type(provider_type).label
    except ValidationError:
        return provider_type


def labels(models: Iterable[ModelCapability]) -> dict[str, str]:
    """key → a unique one-line label ('name — provider (model id)')."""
    out: dict[str, str] = {}
    seen: Counter[str] = Counter()
    for m in models:
        text = f"{m.name} — {provider_name(m)}" + (f" ({m.model})" if m.name != m.model else "")
        seen[text] += 1
        out[model_key(m)] = text if seen[text] == 1 else f"{text} #{seen[text]}"
    return out


def no_match_reason(
    models: Iterable[ModelCapability], task: str, provider_types: Iterable[str] | None = None
) -> str:
    """Why best_model_for found nothing for a task among these models, in one sentence."""
    models = list(models)
    needed = TASK_FEATURES[task]
    shown = ", ".join(FEATURE_LABELS[f] for f in FEATURE_ORDER if f in needed)
    if not models:
        return "No model passes the filters, so there is nothing to rank."
    fit = [m for m in models if needed <= m.features]
    if not fit:
        having = ", ".join(
            f"{sum(f in m.features for m in models):,} have {FEATURE_LABELS[f]}"
            for f in FEATURE_ORDER
            if f in needed
        )
        return (
            f"None of the {len(models):,} models that pass the filters has every feature "
            f"the {task.replace('_', ' ')} task needs ({shown}): {having}."
        )
    allowed = set(provider_types or ())
    names = ", ".join(sorted(type_label(t) for t in allowed)) or "no provider type"
    return (
        f"{len(fit):,} models fit the {task.replace('_', ' ')} task, but none from the "
        f"chosen provider types ({names})."
    )
