"""What the Providers page's forms need from core: why a record is read-only, what a delete
would take with it, and turning form inputs into a provider_config."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import access, catalog, providers
from core.errors import ValidationError
from core.models import ModelRecord, User
from core.providers import ProviderView
from core.validation import parse_config_json


def manage_refusal(user: User, view: ProviderView) -> str | None:
    """Why user may not change this listed provider, as a sentence; None if they may."""
    if view.source != "database":
        return (f"It comes from the environment ({view.extra.get('env_vars', 'built-in')}); "
                "change or unset the variable to change it, or add a stored provider of "
                "the same type to take its place.")
    # access.can_manage reads only owner_id and instance_wide, which a view carries too.
    if access.can_manage(user, view):  # type: ignore[arg-type]
        return None
    if not user.active:
        return "Your account is deactivated."
    if view.instance_wide:
        return "It is instance-wide: everyone can use it, but only admins can change it."
    return f"It belongs to {view.owner}: only its owner or an admin can change it."


def models_deleted_with(session: Session, *, actor: User,
                        provider_id: uuid.UUID | str) -> list[tuple[str, str]]:
    """(name, model_id) of every model that deleting this provider would delete with it."""
    provider = providers.load_provider(session, provider_id)
    access.require_manage(actor, provider)
    return [(name, mid) for name, mid in session.execute(
        select(ModelRecord.name, ModelRecord.model_id)
        .where(ModelRecord.provider_id == provider.id).order_by(ModelRecord.name))]


def assemble_provider_config(provider_type: str, *, fields: Mapping[str, str | None],
                             extra_json: str | None = None,
                             remove: Iterable[str] = ()) -> dict[str, Any]:
    """A provider_config from a form: field inputs, extra JSON keys, secret fields to remove.

    An empty field is left out (for a secret field: keep the stored value); the JSON is
    parsed strictly, so its errors carry a line and column.
    """
    ptype = catalog.get_provider_type(provider_type)
    extra = parse_config_json(extra_json, field="extra JSON")
    given: dict[str, Any] = {}
    for spec in ptype.config_fields:
        value = (fields.get(spec.name) or "").strip()
        if value:
            given[spec.name] = value
    for name in remove:
        # Only the type's secret fields: validation drops their null, which removes the
        # stored value (merge_secret_config would keep a null extra key as null).
        spec = ptype.field(name)
        if spec is not None and spec.secret and name not in given:
            given[name] = None
    both = sorted(given.keys() & extra.keys())
    if both:
        raise ValidationError(f"'{both[0]}' is given both as a field and in the extra JSON; "
                              "give it once.", field="extra JSON")
    return {**extra, **given}
