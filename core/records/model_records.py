"""Model records: create, update, toggle, delete, list; ``list_active_models`` (a user's
model selector)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core import catalog
from core.accounts import access, audit
from core.accounts.viewer import Actor
from core.errors import IntegrityError, NotFoundError, ValidationError
from core.records.model_ratings import (
    check_features,
    check_quality_tier,
    decode_features,
    encode_features,
)
from core.store import vault
from core.store.locking import (
    check_version,
    guarded_flush,
    load_record,
    next_status,
    scope_label,
)
from core.store.tables import Grant, ModelRecord, ModelSpeedSample, Provider, User, utcnow
from core.validation import (
    Problems,
    check_choice,
    check_config_object,
    check_context_window,
    check_model_id,
    check_price,
    clean_name,
    parse_config_json,
)
from core.vocabulary import MODEL_TYPES, STATUSES

PRICE_FIELDS = (
    "input_cost_per_million",
    "output_cost_per_million",
    "cache_read_cost_per_million",
    "cache_write_cost_per_million",
)
_UNSET: Any = object()


@dataclass(frozen=True)
class ModelView:
    """A model as a listing shows it."""

    id: uuid.UUID
    name: str
    model_id: str
    model_type: str
    # Non-secret model_config values; secret ones are write-only, named in secret_config_keys.
    config: Mapping[str, Any] = field(repr=False)
    needs_reentry: bool
    instance_wide: bool
    scope: str
    status: str
    input_cost_per_million: Decimal | None
    output_cost_per_million: Decimal | None
    cache_read_cost_per_million: Decimal | None
    cache_write_cost_per_million: Decimal | None
    context_window: int | None
    quality_tier: str | None  # None: not rated (the registry's seed decides)
    features: tuple[str, ...] | None  # None: the catalog's facts
    provider_id: uuid.UUID
    provider_name: str
    provider_type: str
    provider_status: str
    provider_priority: int
    owner_id: uuid.UUID
    owner: str
    created_at: datetime
    updated_at: datetime
    version: int
    secret_config_keys: tuple[str, ...] = ()


def _as_config(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, str):
        return parse_config_json(value, field="model_config")
    return check_config_object(value, field="model_config")


def _snapshot(m: ModelRecord) -> dict[str, Any]:
    snap: dict[str, Any] = {
        "name": m.name,
        "model_id": m.model_id,
        "model_type": m.model_type,
        "instance_wide": m.instance_wide,
        "status": m.status,
        "context_window": m.context_window,
        "provider_id": str(m.provider_id),
        "quality_tier": m.quality_tier,
        "features": list(decode_features(m.features) or []) or None,
    }
    for f in PRICE_FIELDS:
        value = getattr(m, f)
        snap[f] = None if value is None else format(Decimal(value).normalize(), "f")
    return snap


def _load(session: Session, model_id: uuid.UUID | str) -> ModelRecord:
    return load_record(session, ModelRecord, model_id, "model")


def _provider_for(session: Session, actor: Actor, provider_id: uuid.UUID | str) -> Provider:
    try:
        pid = provider_id if isinstance(provider_id, uuid.UUID) else uuid.UUID(str(provider_id))
    except ValueError:
        raise ValidationError(
            "Choose the provider this model belongs to.", field="provider"
        ) from None
    provider = session.get(Provider, pid)
    if provider is None or not (
        access.can_see(session, actor, provider) or access.can_manage(actor, provider)
    ):
        raise ValidationError("Choose a provider you can see.", field="provider")
    return provider


def _duplicate(
    session: Session, provider_id: uuid.UUID, model_id: str, exclude: uuid.UUID | None = None
) -> bool:
    stmt = select(ModelRecord.id).where(
        ModelRecord.provider_id == provider_id, ModelRecord.model_id == model_id
    )
    if exclude is not None:
        stmt = stmt.where(ModelRecord.id != exclude)
    return session.scalar(stmt.limit(1)) is not None


def create_model(
    session: Session,
    *,
    actor: Actor,
    provider_id: uuid.UUID | str,
    name: str,
    model_id: str,
    model_type: str = "inference",
    model_config: Any = None,
    instance_wide: bool = False,
    status: str = "active",
    input_cost_per_million: Any = None,
    output_cost_per_million: Any = None,
    cache_read_cost_per_million: Any = None,
    cache_write_cost_per_million: Any = None,
    context_window: Any = None,
    owner: Actor | None = None,
    quality_tier: Any = None,
    features: Any = None,
) -> ModelRecord:
    """Validate and add a model to a provider the actor can see (quality_tier and
    features: see core.records.model_ratings; None means not said)."""
    owner = owner or actor
    found = Problems()  # every field is checked; one refusal names all their problems
    checked_name = found.check(clean_name, name)
    checked_model_id = found.check(check_model_id, model_id)
    found.check(check_choice, model_type, MODEL_TYPES, field="model_type")
    found.check(check_choice, status, STATUSES, field="status")
    config = found.check(_as_config, model_config)
    prices = {
        f: found.check(check_price, v, field=f)
        for f, v in zip(
            PRICE_FIELDS,
            (
                input_cost_per_million,
                output_cost_per_million,
                cache_read_cost_per_million,
                cache_write_cost_per_million,
            ),
            strict=True,
        )
    }
    window = found.check(check_context_window, context_window)
    tier = found.check(check_quality_tier, quality_tier)
    feats = found.check(check_features, features)
    provider = found.check(_provider_for, session, actor, provider_id)
    found.raise_any()
    assert provider is not None and config is not None
    assert checked_name is not None and checked_model_id is not None
    name, model_id = checked_name, checked_model_id
    if instance_wide:
        access.require_admin(actor, "create instance-wide models")
    if owner.id != actor.id:
        access.require_admin(actor, "create models for another user")
    if _duplicate(session, provider.id, model_id):
        raise IntegrityError(f"'{provider.name}' already has a model with ID '{model_id}'.")
    model = ModelRecord(
        id=uuid.uuid4(),
        name=name,
        model_id=model_id,
        model_type=model_type,
        instance_wide=bool(instance_wide),
        status=status,
        context_window=window,
        provider_id=provider.id,
        owner_id=owner.id,
        updated_by_id=actor.id,
        quality_tier=tier,
        features=encode_features(feats),
        **prices,
    )
    vault.seal_json(session, model, "model_config_enc", config)
    with guarded_flush(session, model, f"'{provider.name}' already has model '{model_id}'."):
        session.add(model)
    after = _snapshot(model)
    if config:
        after["model_config"] = audit.describe_config_change({}, config)
    audit.record(session, actor=actor, action="model.create", record=model, after=after)
    return model


def update_model(  # noqa: C901
    session: Session,
    *,
    actor: Actor,
    model_record_id: uuid.UUID | str,
    expected_version: int | None,
    **changes: Any,
) -> ModelRecord:
    """Apply changes (any create_model field but owner); validates all before applying."""
    allowed = {
        "provider_id",
        "name",
        "model_id",
        "model_type",
        "model_config",
        "instance_wide",
        "status",
        "context_window",
        "quality_tier",
        "features",
        *PRICE_FIELDS,
    }
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationError(f"Unknown model field(s): {', '.join(sorted(unknown))}.")
    model = _load(session, model_record_id)
    access.require_manage(actor, model)
    check_version(session, model, expected_version)
    before = _snapshot(model)

    new: dict[str, Any] = {}
    found = Problems()  # every field is checked; one refusal names all their problems
    if "name" in changes:
        new["name"] = found.check(clean_name, changes["name"])
    if "model_id" in changes:
        new["model_id"] = found.check(check_model_id, changes["model_id"])
    if "model_type" in changes:
        new["model_type"] = found.check(
            check_choice, changes["model_type"], MODEL_TYPES, field="model_type"
        )
    if "status" in changes:
        new["status"] = found.check(check_choice, changes["status"], STATUSES, field="status")
    for f in PRICE_FIELDS:
        if f in changes:
            new[f] = found.check(check_price, changes[f], field=f)
    if "context_window" in changes:
        new["context_window"] = found.check(check_context_window, changes["context_window"])
    if "quality_tier" in changes:
        new["quality_tier"] = found.check(check_quality_tier, changes["quality_tier"])
    if "features" in changes:
        feats = found.check(check_features, changes["features"])
        new["features"] = encode_features(feats)
    if "provider_id" in changes:
        target = found.check(_provider_for, session, actor, changes["provider_id"])
        new["provider_id"] = target.id if target is not None else None
    given_config = (
        found.check(_as_config, changes["model_config"]) if "model_config" in changes else None
    )
    found.raise_any()
    if "instance_wide" in changes and bool(changes["instance_wide"]) != model.instance_wide:
        access.require_admin(actor, "change whether a model is instance-wide")
        new["instance_wide"] = bool(changes["instance_wide"])
    config_change = None
    if "model_config" in changes:
        old = vault.try_open_json(session, model, "model_config_enc")
        config = catalog.merge_secret_config(old.value, given_config or {})
        config = {k: v for k, v in config.items() if v not in (None, "")}
        config_change = audit.describe_config_change(old.value, config)
        if old.needs_reentry and not config_change:
            config_change = "re-entered"
    pid, mid = new.get("provider_id", model.provider_id), new.get("model_id", model.model_id)
    if (pid, mid) != (model.provider_id, model.model_id) and _duplicate(
        session, pid, mid, exclude=model.id
    ):
        raise IntegrityError(f"That provider already has a model with ID '{mid}'.")

    if (pid, mid) != (model.provider_id, model.model_id):
        # Timings measured on the old model (or endpoint) say nothing about the new one.
        session.execute(
            delete(ModelSpeedSample).where(ModelSpeedSample.model_record_id == model.id)
        )
    for key, value in new.items():
        setattr(model, key, value)
    if config_change:
        vault.seal_json(session, model, "model_config_enc", config)
    b, a = audit.diff(before, _snapshot(model))
    if config_change:
        a["model_config"] = config_change
    if not a:
        return model
    model.updated_at, model.updated_by_id = utcnow(), actor.id
    with guarded_flush(session, model, f"That provider already has a model with ID '{mid}'."):
        pass
    audit.record(session, actor=actor, action="model.update", record=model, before=b, after=a)
    return model


def set_model_status(
    session: Session,
    *,
    actor: Actor,
    model_record_id: uuid.UUID | str,
    active: bool | None = None,
    expected_version: int | None = None,
) -> ModelRecord:
    """Toggle (or set) a model active/inactive."""
    model = _load(session, model_record_id)
    target = next_status(model.status, active)
    return update_model(
        session,
        actor=actor,
        model_record_id=model.id,
        expected_version=expected_version,
        status=target,
    )


def delete_model(
    session: Session,
    *,
    actor: Actor,
    model_record_id: uuid.UUID | str,
    expected_version: int | None = None,
) -> None:
    """Delete a model and its grants."""
    model = _load(session, model_record_id)
    access.require_manage(actor, model)
    check_version(session, model, expected_version)
    access.delete_grants(session, model)
    audit.record(session, actor=actor, action="model.delete", record=model, before=_snapshot(model))
    with guarded_flush(session, model, f"'{model.name}' could not be deleted."):
        session.delete(model)


def _views(session: Session, rows: list[tuple[ModelRecord, Provider]]) -> list[ModelView]:
    ids = [m.id for m, _ in rows]
    owners = dict(session.execute(select(User.id, User.username)).all())
    shared = (
        set(
            session.scalars(
                select(Grant.entity_id).where(
                    Grant.entity_type == "model", Grant.entity_id.in_(ids)
                )
            )
        )
        if ids
        else set()
    )
    out = []
    for m, p in rows:
        cfg = vault.try_open_json(session, m, "model_config_enc")
        shown, secret_keys = catalog.public_config(cfg.value)
        out.append(
            ModelView(
                id=m.id,
                name=m.name,
                model_id=m.model_id,
                model_type=m.model_type,
                config=shown,
                secret_config_keys=secret_keys,
                needs_reentry=cfg.needs_reentry,
                instance_wide=m.instance_wide,
                scope=scope_label(m, shared=m.id in shared),
                status=m.status,
                input_cost_per_million=m.input_cost_per_million,
                output_cost_per_million=m.output_cost_per_million,
                cache_read_cost_per_million=m.cache_read_cost_per_million,
                cache_write_cost_per_million=m.cache_write_cost_per_million,
                context_window=m.context_window,
                quality_tier=m.quality_tier,
                features=decode_features(m.features),
                provider_id=p.id,
                provider_name=p.name,
                provider_type=p.provider_type,
                provider_status=p.status,
                provider_priority=p.priority,
                owner_id=m.owner_id,
                owner=owners.get(m.owner_id, "?"),
                created_at=m.created_at,
                updated_at=m.updated_at,
                version=m.version,
            )
        )
    return out


def list_models(
    session: Session,
    *,
    user: Actor,
    manage: bool = False,
    provider_id: uuid.UUID | None = None,
    model_type: str | None = None,
    status: str | None = None,
) -> list[ModelView]:
    """Models visible to user (or manageable, with manage=True), by provider priority."""
    stmt = (
        select(ModelRecord, Provider)
        .join(Provider, ModelRecord.provider_id == Provider.id)
        .order_by(Provider.priority, Provider.name_key, ModelRecord.name, ModelRecord.id)
    )
    if manage and not user.is_admin:
        stmt = stmt.where(ModelRecord.owner_id == user.id)
    elif not manage:
        stmt = stmt.where(access.visible_clause(ModelRecord, user))
    if provider_id is not None:
        stmt = stmt.where(ModelRecord.provider_id == provider_id)
    if model_type is not None:
        stmt = stmt.where(
            ModelRecord.model_type == check_choice(model_type, MODEL_TYPES, field="model_type")
        )
    if status is not None:
        stmt = stmt.where(ModelRecord.status == check_choice(status, STATUSES, field="status"))
    return _views(session, list(session.execute(stmt)))


def list_active_models(
    session: Session, *, user: Actor, model_type: str | None = None
) -> list[ModelView]:
    """What the user's model selector shows: active, visible models of active, visible
    providers, by provider priority."""
    prov = Provider
    stmt = (
        select(ModelRecord, prov)
        .join(prov, ModelRecord.provider_id == prov.id)
        .where(
            ModelRecord.status == "active",
            prov.status == "active",
            access.visible_clause(ModelRecord, user),
            access.visible_clause(prov, user),
        )
        .order_by(prov.priority, prov.name_key, ModelRecord.name, ModelRecord.id)
    )
    if model_type is not None:
        stmt = stmt.where(
            ModelRecord.model_type == check_choice(model_type, MODEL_TYPES, field="model_type")
        )
    return _views(session, list(session.execute(stmt)))


def get_model(session: Session, *, user: Actor, model_record_id: uuid.UUID | str) -> ModelRecord:
    """A model the user can see or manage, else NotFoundError."""
    model = _load(session, model_record_id)
    if not (access.can_see(session, user, model) or access.can_manage(user, model)):
        raise NotFoundError("No such model.")
    return model


def get_model_view(session: Session, *, user: Actor, model_record_id: uuid.UUID | str) -> ModelView:
    """One model's full view (non-secret config, secret key names) for an edit form."""
    model = get_model(session, user=user, model_record_id=model_record_id)
    return _views(session, [(model, session.get_one(Provider, model.provider_id))])[0]
