"""What the offline model catalog (``core.catalog.model_facts``) tells the Models page:
values to pre-fill a new model with, each naming its source, and which configured models
the catalog marks deprecated.

Pre-filling never overwrites: ``plan_fill`` fills only the fields the person left empty
and lists the ones it kept. Prices are the catalog's base prices per million tokens
(tiered prices keep their first tier); features are the registry's names.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from core.accounts import access
from core.accounts.viewer import Actor
from core.catalog import model_facts
from core.errors import NotFoundError
from core.records import model_listing, providers
from core.records.model_listing import ActiveModel, ModelRow
from core.records.model_records import PRICE_FIELDS
from core.validation import check_model_id

FILL_FIELDS = ("name", "context_window", *PRICE_FIELDS, "features")
# How a note names a field, and which of the catalog's source labels it takes.
_LABELS = {
    "name": "name",
    "context_window": "context window",
    "features": "features",
    **{f: f.removesuffix("_cost_per_million").replace("_", " ") + " price" for f in PRICE_FIELDS},
}
_PRICE_KINDS = dict(
    zip(PRICE_FIELDS, ("input", "output", "cache_read", "cache_write"), strict=True)
)


@dataclass(frozen=True)
class CatalogFill:
    """What the catalog knows for one model: create_model values and their sources."""

    provider_type: str
    model_id: str
    values: Mapping[str, Any]  # FILL_FIELDS → str / int / Decimal / tuple of features
    sources: Mapping[str, str]  # the same fields → e.g. 'models.dev (updated 2024-08-06)'


@dataclass(frozen=True)
class FillPlan:
    """The values to put into empty fields, the fields kept as typed, and a note."""

    values: Mapping[str, Any]
    kept: tuple[str, ...]
    note: str


def catalog_fill(provider_type: str, model_id: str) -> CatalogFill | None:
    """The catalog's values for a model of this provider type, or None when unknown."""
    facts = model_facts.lookup(provider_type, model_id)
    if facts is None:
        return None
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}

    def put(field: str, value: Any, source: str | None) -> None:
        if value not in (None, "", ()):
            values[field] = value
            sources[field] = source or "the catalog"

    put("name", facts.name, facts.sources.get("name"))
    put("context_window", facts.context_window, facts.sources.get("context_window"))
    prices = facts.prices
    for field, kind in _PRICE_KINDS.items():
        rate = getattr(prices, kind, None) if prices is not None else None
        base: Decimal | None = rate.base if rate is not None else None
        put(field, base, facts.sources.get("prices") or getattr(prices, "source", None))
    if facts.capabilities_known:
        put("features", tuple(sorted(facts.features)), facts.sources.get("features"))
    return (
        CatalogFill(
            provider_type=facts.provider_type,
            model_id=facts.model_id,
            values=values,
            sources=sources,
        )
        if values
        else None
    )


def fill_for(
    session: Session, *, actor: Actor, provider_id: uuid.UUID | str, model_id: str
) -> CatalogFill | None:
    """catalog_fill for a model ID on a provider the actor can see (ValidationError for a
    bad model ID, NotFoundError for a provider they cannot see)."""
    model_id = check_model_id(model_id)
    provider = providers.load_provider(session, provider_id)
    if not (access.can_see(session, actor, provider) or access.can_manage(actor, provider)):
        raise NotFoundError("No such provider.")
    return catalog_fill(provider.provider_type, model_id)


def _empty(value: Any) -> bool:
    return (
        value is None
        or (isinstance(value, str) and not value.strip())
        or (isinstance(value, (list, tuple, set, frozenset)) and not value)
    )


def _by_source(fields: Iterable[str], sources: Mapping[str, str]) -> str:
    grouped: dict[str, list[str]] = {}
    for field in fields:
        grouped.setdefault(sources[field], []).append(_LABELS[field])
    return "; ".join(f"{', '.join(names)} from {source}" for source, names in grouped.items())


def plan_fill(fill: CatalogFill, typed: Mapping[str, Any]) -> FillPlan:
    """Fill only what typed (FILL_FIELDS → the form's current values) leaves empty."""
    values = {f: v for f, v in fill.values.items() if _empty(typed.get(f))}
    kept = tuple(f for f in fill.values if f not in values)
    parts = (
        [f"Filled from the catalog: {_by_source(values, fill.sources)}."]
        if values
        else ["Every field the catalog knows was already filled in."]
    )
    if kept:
        parts.append(f"Kept what you typed: {', '.join(_LABELS[f] for f in kept)}.")
    return FillPlan(values=values, kept=kept, note=" ".join(parts))


@dataclass(frozen=True)
class DeprecationNotice:
    """A configured model the catalog marks deprecated."""

    model_record_id: uuid.UUID
    name: str
    model_id: str
    provider_name: str
    source: str

    @property
    def message(self) -> str:
        """'GPT-3 (gpt-3 on OpenAI) is marked deprecated by models.dev (…); plan a
        replacement.'"""
        return (
            f"{self.name} ({self.model_id} on {self.provider_name}) is marked deprecated "
            f"by {self.source}; plan a replacement."
        )


def deprecated_models(rows: Iterable[ModelRow | ActiveModel]) -> list[DeprecationNotice]:
    """The active rows whose model the catalog marks deprecated, in the rows' order."""
    notices = []
    for row in rows:
        if row.status != "active":  # a switched-off record needs no replacement plan
            continue
        facts = model_facts.lookup(row.provider_type, row.model_id)
        if facts is not None and facts.deprecated:
            notices.append(
                DeprecationNotice(
                    model_record_id=row.id,
                    name=row.name,
                    model_id=row.model_id,
                    provider_name=row.provider_name,
                    source=facts.sources.get("deprecated") or "the catalog",
                )
            )
    return notices


def deprecation_notices(
    session: Session, *, user: Actor, manage: bool = False
) -> list[DeprecationNotice]:
    """``deprecated_models`` over the Models listing's active models, asking the catalog
    once per distinct (provider type, model id) and reading only the flagged rows."""
    flagged = set()
    for provider_type, model_id in model_listing.active_kinds(session, user=user, manage=manage):
        facts = model_facts.lookup(provider_type, model_id)
        if facts is not None and facts.deprecated:
            flagged.add((provider_type, model_id))
    if not flagged:
        return []
    rows = model_listing.active_models(
        session, user=user, manage=manage, model_ids={mid for _, mid in flagged}
    )
    return deprecated_models(r for r in rows if (r.provider_type, r.model_id) in flagged)
