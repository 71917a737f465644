"""What the Providers page's forms need from core: why a record is read-only, what a delete
would take with it, turning form inputs into a provider_config, and taking the secret values
out of a typed extra JSON."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import catalog
from core.accounts import access
from core.accounts.viewer import Actor
from core.errors import ValidationError
from core.records import providers
from core.records.providers import ProviderView
from core.store.tables import ModelRecord
from core.validation import Problems, loads_strict, parse_config_json


def manage_refusal(user: Actor, view: ProviderView) -> str | None:
    """Why user may not change this listed provider, as a sentence; None if they may."""
    if view.source != "database":
        return (
            f"It comes from the environment ({view.extra.get('env_vars', 'built-in')}); "
            "change or unset the variable to change it, or add a stored provider of "
            "the same type to take its place."
        )
    # access.can_manage reads only owner_id and instance_wide, which a view carries too.
    if access.can_manage(user, view):  # type: ignore[arg-type]
        return None
    if not user.active:
        return "Your account is deactivated."
    if view.instance_wide:
        return "It is instance-wide: everyone can use it, but only admins can change it."
    return f"It belongs to {view.owner}: only its owner or an admin can change it."


def models_deleted_with(
    session: Session, *, actor: Actor, provider_id: uuid.UUID | str
) -> tuple[list[tuple[str, str]], int]:
    """What deleting this provider would delete with it: (name, model_id) of every model the
    actor can see, and how many other users' private models (never named) go too."""
    provider = providers.load_provider(session, provider_id)
    access.require_manage(actor, provider)
    of_provider = ModelRecord.provider_id == provider.id
    listed = [
        (name, mid)
        for name, mid in session.execute(
            select(ModelRecord.name, ModelRecord.model_id)
            .where(of_provider, access.visible_clause(ModelRecord, actor))
            .order_by(ModelRecord.name, ModelRecord.model_id)
        )
    ]
    total = session.scalar(select(func.count()).select_from(ModelRecord).where(of_provider)) or 0
    return listed, total - len(listed)


def assemble_provider_config(
    provider_type: str,
    *,
    fields: Mapping[str, str | None],
    extra_json: str | None = None,
    remove: Iterable[str] = (),
    problems: Problems | None = None,
) -> dict[str, Any]:
    """A provider_config from a form: field inputs, extra JSON keys, secret keys to remove.

    An empty field is left out (for a secret field: keep the stored value); the JSON is
    parsed strictly, so its errors carry a line and column. With ``problems`` a bad extra
    JSON is noted there (and left out) instead of raised, so that the save can report it
    together with every other field's problem.
    """
    ptype = catalog.get_provider_type(provider_type)
    try:
        extra = parse_config_json(extra_json, field="extra JSON")
    except ValidationError as exc:
        if problems is None:
            raise
        problems.add(exc)
        extra = {}
    given: dict[str, Any] = {}
    for spec in ptype.config_fields:
        value = (fields.get(spec.name) or "").strip()
        if value:
            given[spec.name] = value
    for name in remove:
        # Only secret keys: validation drops a secret key's null, which removes the stored
        # value (a non-secret key is removed by leaving it out).
        if catalog.looks_secret(name, ptype) and name not in given:
            given[name] = None
    both = sorted(k for k in given.keys() & extra.keys() if given[k] is not None)
    if both:
        error = ValidationError(
            f"'{both[0]}' is given both as a field and in the extra JSON; give it once.",
            field="extra JSON",
        )
        if problems is None:
            raise error
        problems.add(error)
    return {**extra, **given}


@dataclass(frozen=True)
class ExtraSplit:
    """Extra JSON as typed, split so that its secret values can leave the form."""

    text: str  # the text to show again: no secret value in it
    shown: dict[str, Any] | None  # its keys (None: the text is not a readable object)
    secrets: dict[str, Any]  # secret-looking keys that were given a value
    dropped: bool = False  # unreadable, naming a secret-looking key: cleared


def split_extra_secrets(text: str | None, provider_type: str | None = None) -> ExtraSplit:
    """Take the values of secret-looking keys out of a form's extra JSON text.

    A key given null or "" stays in the text: that asks to remove the stored value. Text
    that cannot be read but names a secret-looking key cannot be split safely, so it is
    dropped whole (the save still reports why it could not be read).
    """
    ptype = catalog.get_provider_type(provider_type) if provider_type else None
    if not text or not text.strip():
        return ExtraSplit("", {}, {})
    try:
        value, duplicate = loads_strict(text)
    except ValueError:
        value, duplicate = None, None
    if not isinstance(value, dict) or duplicate is not None:
        names = re.findall(r'"((?:[^"\\]|\\.)*)"', text)
        secret = any(catalog.looks_secret(n, ptype) for n in names)
        return ExtraSplit("" if secret else text, None, {}, dropped=secret)
    secrets = {
        k: v for k, v in value.items() if catalog.looks_secret(k, ptype) and v not in (None, "")
    }
    if not secrets:
        return ExtraSplit(text, value, {})
    shown = {k: v for k, v in value.items() if k not in secrets}
    return ExtraSplit(
        json.dumps(shown, indent=2, ensure_ascii=False) if shown else "", shown, secrets
    )
