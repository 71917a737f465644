"""Capabilities of the models configured here, for the Explorer and ``best_model_for``.

Two scopes:

    catalog     every model the offline catalogs know (``core.explorer.tiers.catalog_capabilities``)
    configured  the model records a user can see, each with the catalog's facts under the
                values an admin set on the record (prices, context window, features,
                quality rating) and speed measured by Modeldesk where it has samples

``usable_only`` narrows the configured scope to what the user can actually call: the
model and its provider active, both visible to the user, and the provider not known to be
unhealthy (its last check said unauthorized or unreachable). Reads plain columns in two
queries (records, speed samples): nothing is decrypted.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.accounts import access
from core.accounts.viewer import Actor
from core.catalog import model_facts
from core.costs import Prices
from core.errors import ValidationError
from core.explorer import tiers
from core.explorer.registry import ModelCapability
from core.records import model_ratings, speed
from core.store.tables import ModelRecord, Provider
from core.vocabulary import FEATURES

SCOPES: tuple[str, ...] = ("configured", "catalog")
UNHEALTHY: frozenset[str] = frozenset({"unauthorized", "unreachable"})


def _features(text: str | None) -> frozenset[str] | None:
    names = model_ratings.decode_features(text)
    return None if names is None else frozenset(n for n in names if n in FEATURES)


def configured_capabilities(
    session: Session,
    *,
    user: Actor,
    usable_only: bool = False,
    ratio: tuple[int, int] = tiers.DEFAULT_BLEND,
) -> tuple[ModelCapability, ...]:
    """The model records user can see (or use), as registry entries with their sources."""
    m, p = ModelRecord, Provider
    rule = [access.visible_clause(m, user)]
    if usable_only:
        rule += [
            m.status == "active",
            p.status == "active",
            access.visible_clause(p, user),
            p.health_status.not_in(sorted(UNHEALTHY)),
        ]
    rows = session.execute(
        select(
            m.id,
            m.name,
            m.model_id,
            m.input_cost_per_million,
            m.output_cost_per_million,
            m.cache_read_cost_per_million,
            m.cache_write_cost_per_million,
            m.context_window,
            m.quality_tier,
            m.features,
            p.name,
            p.provider_type,
        )
        .join(p, m.provider_id == p.id)
        .where(*rule)
        .order_by(p.priority, p.name_key, m.name, m.id)
    ).all()
    measured = speed.measurements(session, [r.id for r in rows]) if rows else {}
    ratio = tiers.check_blend(ratio)
    built = []
    for record_id, name, model_id, *columns, provider_name, provider_type in rows:
        sample = measured.get(record_id)
        tier = speed.speed_tier(sample) if sample is not None else None
        shown = (tier, speed.describe(sample)) if tier and sample is not None else None
        rate = sample.median_tokens_per_s if sample is not None else None
        built.append(
            _entry(
                provider_type,
                model_id,
                name,
                tuple(columns),
                provider_name,
                str(record_id),
                shown,
                rate,
                ratio,
            )
        )
    return tuple(built)


@functools.lru_cache(maxsize=20_000)  # a few variants of ~5,000 records
def _entry(
    provider_type: str,
    model_id: str,
    name: str,
    columns: tuple[Any, ...],
    provider_name: str,
    record_id: str,
    measured: tuple[str, str] | None,
    tokens_per_s: float | None,
    ratio: tuple[int, int],
) -> ModelCapability:
    """One record's registry entry. Cached on every value it is built from (the catalog
    is fixed per process), so a page over thousands of records rebuilds only what
    changed since its last run."""
    *price_columns, context, quality, features = columns
    return tiers.derive(
        provider_type=provider_type,
        model_id=model_id,
        facts=model_facts.lookup(provider_type, model_id),
        scale=tiers.cost_scale(ratio),
        name=name,
        prices=Prices.from_record(_PriceColumns(*price_columns), source=tiers.ON_RECORD),
        context_window=context,
        features=_features(features),
        quality=quality,
        measured=measured,
        tokens_per_s=tokens_per_s,
        rating=tiers.rating_for(provider_type, model_id),
        record_id=record_id,
        provider_label=provider_name,
    )


class _PriceColumns:
    """The four price columns of a row, shaped like a model record for Prices.from_record."""

    __slots__ = (
        "input_cost_per_million",
        "output_cost_per_million",
        "cache_read_cost_per_million",
        "cache_write_cost_per_million",
    )

    def __init__(self, *values: object) -> None:
        for name, value in zip(self.__slots__, values, strict=True):
            setattr(self, name, value)


def capabilities(
    session: Session | None,
    *,
    scope: str,
    user: Actor | None = None,
    usable_only: bool = False,
    ratio: tuple[int, int] = tiers.DEFAULT_BLEND,
) -> Sequence[ModelCapability]:
    """The registry entries of a scope: 'catalog' (no session needed) or 'configured'."""
    if scope == "catalog":
        return tiers.catalog_capabilities(tiers.check_blend(ratio))
    if scope != "configured":
        raise ValidationError(
            f"Unknown scope {scope!r}. Valid: {', '.join(SCOPES)}.", field="scope"
        )
    if session is None or user is None:
        raise TypeError("the configured scope needs a session and a user")
    return configured_capabilities(session, user=user, usable_only=usable_only, ratio=ratio)
