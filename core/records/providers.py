"""Provider records: create, update, toggle, reorder, delete, list.

Keyword-only functions over a Session; the caller owns the transaction. No plaintext secret
leaves this module: an adapter gets a provider's key and config only through
``core.records.credentials``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from core import catalog
from core.accounts import access, audit
from core.accounts.viewer import Actor
from core.errors import (
    ConflictError,
    IntegrityError,
    NotFoundError,
    ValidationError,
)
from core.records.provider_checks import KEEP, edited_config, name_clash, validate_provider_config
from core.store import vault
from core.store.locking import (
    check_version,
    guarded_flush,
    load_record,
    next_status,
    scope_label,
)
from core.store.tables import Grant, ModelRecord, Provider, User, utcnow
from core.validation import (
    PRIORITY_MAX,
    Problems,
    check_api_key,
    check_choice,
    check_priority,
    clean_name,
    name_key,
)
from core.vocabulary import STATUSES

NEEDS_REENTRY = "needs re-entry"
_UNSET: Any = object()


@dataclass(frozen=True)
class ProviderView:
    """A provider as a listing shows it: no secret, only the key's last four characters."""

    id: uuid.UUID
    name: str
    provider_type: str
    type_label: str
    key_hint: str | None  # '…abcd', None (no key) or 'needs re-entry'
    # Non-secret config values for editors ({} when it needs re-entry); secret ones are
    # write-only and only named in secret_config_keys.
    config: Mapping[str, Any] = field(repr=False)
    needs_reentry: bool
    instance_wide: bool
    scope: str  # instance / private / shared / system
    status: str
    priority: int
    owner_id: uuid.UUID | None
    owner: str
    health_status: str
    last_health_check_at: datetime | None
    created_at: datetime | None
    updated_at: datetime | None
    version: int
    source: str = "database"  # 'database' or 'system' (from the environment)
    base_url: str | None = None
    model_count: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)
    secret_config_keys: tuple[str, ...] = ()


def _snapshot(p: Provider) -> dict[str, Any]:
    return {
        "name": p.name,
        "provider_type": p.provider_type,
        "instance_wide": p.instance_wide,
        "status": p.status,
        "priority": p.priority,
    }


def _next_priority(session: Session) -> int:
    top = session.scalar(select(func.max(Provider.priority)))
    return min(PRIORITY_MAX, (top or 0) + 10)


def create_provider(
    session: Session,
    *,
    actor: Actor,
    name: str,
    provider_type: str,
    api_key: str | None = None,
    provider_config: Any = None,
    instance_wide: bool = False,
    status: str = "active",
    priority: int | None = None,
    owner: Actor | None = None,
    problems: Problems | None = None,
) -> Provider:
    """Validate and add a provider owned by ``owner`` (default: the actor).

    Every field is checked before anything is written, and one ValidationError names all
    their problems (with any ``problems`` the caller found in its own inputs, e.g. a form's
    JSON text).
    """
    owner = owner or actor
    found = Problems(problems.found if problems else ())
    checked_name = found.check(clean_name, name)
    ptype = found.check(catalog.get_provider_type, provider_type)
    config = found.check(validate_provider_config, ptype.id, provider_config) if ptype else None
    key = found.check(check_api_key, api_key) if api_key not in (None, "") else None
    if api_key in (None, "") and ptype is not None and ptype.api_key_required:
        found.add(ValidationError(f"{ptype.label} needs an API key.", field="api_key"))
    found.check(check_choice, status, STATUSES, field="status")
    if priority is not None:
        priority = found.check(check_priority, priority)
    found.raise_any()
    assert ptype is not None and config is not None and checked_name is not None
    name = checked_name
    if instance_wide:
        access.require_admin(actor, "create instance-wide providers")
    if owner.id != actor.id:
        access.require_admin(actor, "create providers for another user")
    clash = name_clash(session, owner, name)
    if clash:
        raise IntegrityError(clash)
    provider = Provider(
        id=uuid.uuid4(),
        name=name,
        name_key=name_key(name),
        provider_type=ptype.id,
        instance_wide=bool(instance_wide),
        status=status,
        priority=priority if priority is not None else _next_priority(session),
        owner_id=owner.id,
        updated_by_id=actor.id,
        health_status="unknown",
    )
    vault.seal_text(session, provider, "api_key_enc", key)
    vault.seal_json(session, provider, "provider_config_enc", config)
    with guarded_flush(session, provider, f"A provider named '{name}' already exists."):
        session.add(provider)
    after = _snapshot(provider)
    if key:
        after["api_key"] = audit.describe_key_change(None, key)
    if config:
        after["provider_config"] = audit.describe_config_change({}, config)
    audit.record(session, actor=actor, action="provider.create", record=provider, after=after)
    return provider


def load_provider(session: Session, provider_id: uuid.UUID | str) -> Provider:
    """A provider by id (no visibility check: callers check access), or NotFoundError."""
    return load_record(session, Provider, provider_id, "provider")


def update_provider(  # noqa: C901
    session: Session,
    *,
    actor: Actor,
    provider_id: uuid.UUID | str,
    expected_version: int | None,
    name: str = _UNSET,
    provider_type: str = _UNSET,
    api_key: str | None = _UNSET,
    clear_api_key: bool = False,
    provider_config: Any = _UNSET,
    remove_config_keys: Iterable[str] = (),
    instance_wide: bool = _UNSET,
    status: str = _UNSET,
    priority: int = _UNSET,
    problems: Problems | None = None,
) -> Provider:
    """Apply the given changes; an API key of None/'' keeps the stored one (write-only).

    Stored secret config values are write-only too: left out of ``provider_config`` they are
    kept; ``remove_config_keys`` removes them (audited as removed). Every field is checked
    before anything changes, and one ValidationError names all their problems (with any
    ``problems`` the caller found in its own inputs).
    """
    provider = load_provider(session, provider_id)
    access.require_manage(actor, provider)
    check_version(session, provider, expected_version)
    before, before_extra, after_extra = _snapshot(provider), {}, {}
    found = Problems(problems.found if problems else ())

    # Validate everything first, then apply: a refused edit leaves the record untouched.
    new_name = found.check(clean_name, name) if name is not _UNSET else provider.name
    ptype = found.check(
        catalog.get_provider_type,
        provider_type if provider_type is not _UNSET else provider.provider_type,
    )
    old_config = vault.try_open_json(session, provider, "provider_config_enc")
    removing = sorted(set(remove_config_keys))
    config_given = provider_config is not _UNSET or bool(removing)
    new_config: dict[str, Any] | None = old_config.value
    for key in removing:
        if key not in old_config.value:
            found.add(
                ValidationError(
                    f"There is no stored config key '{key}' to remove.", field="provider_config"
                )
            )
    # Untouched config was validated when saved; re-checking it would block e.g. switching
    # off a record whose config needs re-entry.
    if ptype is not None and (config_given or ptype.id != provider.provider_type):
        new_config = edited_config(
            found,
            ptype,
            old_config.value,
            removing,
            given=KEEP if provider_config is _UNSET else provider_config,
        )
    key_given = clear_api_key or api_key not in (_UNSET, None, "")
    new_key = None
    if key_given and not clear_api_key:
        new_key = found.check(check_api_key, api_key)
    if (
        ptype is not None
        and ptype.api_key_required
        and (clear_api_key or (not key_given and provider.api_key_enc is None))
    ):
        found.add(ValidationError(f"{ptype.label} needs an API key.", field="api_key"))
    new_status = (
        found.check(check_choice, status, STATUSES, field="status")
        if status is not _UNSET
        else provider.status
    )
    new_priority = (
        found.check(check_priority, priority) if priority is not _UNSET else provider.priority
    )
    found.raise_any()
    assert ptype is not None and new_name is not None and new_config is not None
    assert new_status is not None and new_priority is not None
    new_wide = bool(instance_wide) if instance_wide is not _UNSET else provider.instance_wide
    if new_wide != provider.instance_wide:
        access.require_admin(actor, "change whether a provider is instance-wide")
    if new_name != provider.name:
        clash = name_clash(
            session, session.get_one(User, provider.owner_id), new_name, exclude=provider.id
        )
        if clash:
            raise IntegrityError(clash)

    if config_given:
        change = audit.describe_config_change(old_config.value, new_config)
        if change or old_config.needs_reentry:
            vault.seal_json(session, provider, "provider_config_enc", new_config)
            after_extra["provider_config"] = change or "re-entered"
    if key_given:
        old_key = vault.try_open_text(session, provider, "api_key_enc")
        change = audit.describe_key_change(old_key.value, new_key)
        if change or old_key.needs_reentry:
            vault.seal_text(session, provider, "api_key_enc", new_key)
            before_extra["api_key"] = audit.last4(old_key.value) or None
            after_extra["api_key"] = change or "re-entered"
    provider.name, provider.name_key = new_name, name_key(new_name)
    provider.provider_type, provider.status = ptype.id, new_status
    provider.priority, provider.instance_wide = new_priority, new_wide

    b, a = audit.diff(before, _snapshot(provider))
    a.update(after_extra)
    b.update(before_extra)
    if not a:
        return provider
    provider.updated_at, provider.updated_by_id = utcnow(), actor.id
    with guarded_flush(session, provider, f"A provider named '{new_name}' already exists."):
        pass
    audit.record(session, actor=actor, action="provider.update", record=provider, before=b, after=a)
    return provider


def set_provider_status(
    session: Session,
    *,
    actor: Actor,
    provider_id: uuid.UUID | str,
    active: bool | None = None,
    expected_version: int | None = None,
) -> Provider:
    """Toggle (or set) active/inactive."""
    provider = load_provider(session, provider_id)
    target = next_status(provider.status, active)
    return update_provider(
        session,
        actor=actor,
        provider_id=provider.id,
        expected_version=expected_version,
        status=target,
    )


def reorder_providers(
    session: Session, *, actor: Actor, order: Sequence[tuple[uuid.UUID | str, int, int | None]]
) -> int:
    """Set many priorities at once: all or nothing.

    Each entry is (provider id, new priority, the version the caller was shown). The new
    order is one decision made on those rows, so any of them changed since (even one whose
    priority stays) refuses the whole save, naming who changed it and when, as the edit
    form does; None skips the check for that row. Returns how many priorities moved.
    """
    seen: set[uuid.UUID] = set()
    changes = []
    for provider_id, priority, expected_version in order:
        provider = load_provider(session, provider_id)
        if provider.id in seen:
            raise ValidationError(
                f"'{provider.name}' appears twice in the new order.", field="priority"
            )
        seen.add(provider.id)
        access.require_manage(actor, provider)
        check_version(session, provider, expected_version)
        changes.append((provider, check_priority(priority)))
    moved = []
    for provider, priority in changes:
        if provider.priority != priority:
            moved.append({"name": provider.name, "from": provider.priority, "to": priority})
            provider.priority, provider.updated_at = priority, utcnow()
            provider.updated_by_id = actor.id
    if moved:
        try:
            session.flush()
        except StaleDataError:
            raise ConflictError(
                "One of these providers was changed by someone else while you "
                "were reordering them; reload. Nothing was changed."
            ) from None
        audit.record(
            session,
            actor=actor,
            action="provider.reorder",
            entity_type="provider",
            label=f"{len(moved)} providers",
            after={"moved": moved},
        )
    return len(moved)


def delete_provider(
    session: Session,
    *,
    actor: Actor,
    provider_id: uuid.UUID | str,
    cascade: bool = False,
    expected_version: int | None = None,
) -> list[str]:
    """Delete a provider; refused while it has models unless cascade. Returns model names."""
    provider = load_provider(session, provider_id)
    access.require_manage(actor, provider)
    check_version(session, provider, expected_version)
    models = list(
        session.scalars(
            select(ModelRecord)
            .where(ModelRecord.provider_id == provider.id)
            .order_by(ModelRecord.name)
        )
    )
    if models and not cascade:
        shown = [m.name for m in models if access.can_see(session, actor, m)]
        names = ", ".join(shown[:10]) + (" …" if len(shown) > 10 else "")
        if len(shown) < len(models):  # other users' private models are counted, never named
            names += f"{', ' if shown else ''}{len(models) - len(shown)} private to other users"
        raise IntegrityError(
            f"'{provider.name}' still has {len(models)} model(s): {names}. "
            "Delete them too (cascade) or move them first."
        )
    for model in models:
        access.delete_grants(session, model)
        audit.record(
            session,
            actor=actor,
            action="model.delete",
            record=model,
            before={
                "model_id": model.model_id,
                "provider": provider.name,
                "reason": "provider deleted",
            },
        )
        session.delete(model)
    access.delete_grants(session, provider)
    audit.record(
        session,
        actor=actor,
        action="provider.delete",
        record=provider,
        before=_snapshot(provider) | {"models_deleted": len(models)},
    )
    session.flush()  # models first: the foreign key restricts
    with guarded_flush(
        session,
        provider,
        f"'{provider.name}' gained models while it was being deleted; reload and try again.",
    ):
        session.delete(provider)
    return [m.name for m in models]


def to_view(
    session: Session,
    provider: Provider,
    *,
    owners: Mapping[uuid.UUID, str],
    shared_ids: Iterable[uuid.UUID] = (),
    model_count: int = 0,
) -> ProviderView:
    """The listing view of a stored provider."""
    key = vault.try_open_text(session, provider, "api_key_enc")
    cfg = vault.try_open_json(session, provider, "provider_config_enc")
    try:
        ptype = catalog.get_provider_type(provider.provider_type)
        label, base_url = ptype.label, ptype.base_url_for(cfg.value)
    except ValidationError:  # a type dropped from the catalog: still list the record
        ptype, label, base_url = None, provider.provider_type, cfg.value.get("base_url")
    shown, secret_keys = catalog.public_config(cfg.value, ptype)
    hint = NEEDS_REENTRY if key.needs_reentry else (audit.last4(key.value) or None)
    return ProviderView(
        id=provider.id,
        name=provider.name,
        provider_type=provider.provider_type,
        type_label=label,
        key_hint=hint,
        config=shown,
        secret_config_keys=secret_keys,
        needs_reentry=key.needs_reentry or cfg.needs_reentry,
        instance_wide=provider.instance_wide,
        scope=scope_label(provider, shared=provider.id in set(shared_ids)),
        status=provider.status,
        priority=provider.priority,
        owner_id=provider.owner_id,
        owner=owners.get(provider.owner_id, "?"),
        health_status=provider.health_status,
        last_health_check_at=provider.last_health_check_at,
        created_at=provider.created_at,
        updated_at=provider.updated_at,
        version=provider.version,
        base_url=base_url,
        model_count=model_count,
    )


def list_providers(session: Session, *, user: Actor, manage: bool = False) -> list[ProviderView]:
    """Providers by priority: those visible to user, or (manage=True) those user may manage."""
    stmt = select(Provider).order_by(Provider.priority, Provider.name_key, Provider.id)
    if manage and not user.is_admin:
        stmt = stmt.where(Provider.owner_id == user.id)
    elif not manage:
        stmt = stmt.where(access.visible_clause(Provider, user))
    providers = list(session.scalars(stmt))
    ids = [p.id for p in providers]
    owners = dict(session.execute(select(User.id, User.username)).all())
    shared = (
        set(
            session.scalars(
                select(Grant.entity_id).where(
                    Grant.entity_type == "provider", Grant.entity_id.in_(ids)
                )
            )
        )
        if ids
        else set()
    )
    # Count only the models this listing would show: a count that includes records the
    # viewer cannot see would reveal that they exist (admins' "show all" sees them all).
    counted = select(ModelRecord.provider_id, func.count()).where(ModelRecord.provider_id.in_(ids))
    if not (manage and user.is_admin):
        counted = counted.where(access.visible_clause(ModelRecord, user))
    counts = dict(session.execute(counted.group_by(ModelRecord.provider_id)).all()) if ids else {}
    return [
        to_view(session, p, owners=owners, shared_ids=shared, model_count=counts.get(p.id, 0))
        for p in providers
    ]


def get_provider(session: Session, *, user: Actor, provider_id: uuid.UUID | str) -> Provider:
    """A provider the user can see or manage, else NotFoundError."""
    provider = load_provider(session, provider_id)
    if not (access.can_see(session, user, provider) or access.can_manage(user, provider)):
        raise NotFoundError("No such provider.")
    return provider
