"""Planning one import entry: a provider or a model checked and resolved against the database.

A ``Planner`` collects every problem of a document (as 'label: message') instead of
stopping at the first; each entry becomes a ``Draft`` (its record, if one exists, and the
checked values), which ``importer.plan_import`` turns into planned changes. Matching: a
provider by (owner, name), a model by (provider, model_id); a model's provider is named
in the document or among the stored providers the importing user can see.
"""

from __future__ import annotations

import difflib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import catalog
from core.accounts import access, users
from core.accounts.viewer import Actor
from core.catalog import ProviderType
from core.config import Settings
from core.errors import ModeldeskError, ValidationError
from core.records.import_references import Environment, Refused
from core.records.model_ratings import check_features, check_quality_tier, decode_features
from core.records.model_records import PRICE_FIELDS
from core.records.provider_checks import validate_provider_config
from core.store import vault
from core.store.tables import ModelRecord, Provider, User
from core.validation import (
    check_api_key,
    check_choice,
    check_config_object,
    check_context_window,
    check_model_id,
    check_price,
    check_priority,
    clean_name,
    name_key,
)
from core.vocabulary import MODEL_TYPES, STATUSES

PROVIDER_KEYS = (
    "name",
    "provider_type",
    "api_key",
    "provider_config",
    "instance_wide",
    "status",
    "priority",
    "owner",
)
MODEL_KEYS = (
    "name",
    "model_id",
    "provider",
    "model_type",
    "model_config",
    "instance_wide",
    "status",
    *PRICE_FIELDS,
    "context_window",
    "quality_tier",
    "features",
    "owner",
)
_BAD: Any = object()  # a value that failed validation (its problem is already recorded)


def _check_bool(value: Any, *, field: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(f"The {field.replace('_', ' ')} flag must be true or false.")
    return value


def _provider_type(value: Any) -> ProviderType:
    if not isinstance(value, str):
        raise ValidationError("The provider_type must be text, e.g. openai.")
    return catalog.get_provider_type(value.strip())


def _merged_config(
    session: Session,
    value: Any,
    env: Environment,
    where: str,
    existing: Provider | ModelRecord | None,
    column: str,
    ptype: ProviderType | None,
) -> dict[str, Any]:
    """The document's config, resolved, plus stored secret values the document leaves out.

    Only the values of secret keys may hold references: the test is the export's own
    (``catalog.public_config`` keeps a top-level key unless it looks secret)."""
    config: dict[str, Any] = {}
    problems: list[str] = []
    for key, item in check_config_object(value, field=where).items():
        try:
            config[key] = env.expand(
                item, f"{where}.{key[:60]}", secret=catalog.looks_secret(key, ptype)
            )
        except Refused as exc:
            problems += exc.problems
    if problems:
        raise Refused(problems)
    if existing is not None:
        stored = vault.try_open_json(session, existing, column)
        config = catalog.merge_secret_config(stored.value, config, ptype)
    return check_config_object(config, field=where)


@dataclass
class Draft:
    label: str
    name: str | None = None
    owner: Actor | None = None
    existing: Any = None
    provider_ref: int | uuid.UUID | None = None
    model_id: str | None = None
    values: dict[str, Any] = field(default_factory=dict, repr=False)


class Planner:
    """Collects every problem of a document while resolving it against the database."""

    def __init__(
        self, session: Session, actor: Actor, settings: Settings, allowed: frozenset[str]
    ) -> None:
        self.session, self.actor = session, actor
        self.env = Environment(settings.environ, allowed)
        self.problems: list[str] = []

    def check(self, label: str, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        try:
            return fn(*args, **kw)
        except Refused as exc:
            self.problems += [f"{label}: {p}" for p in exc.problems]
            return _BAD
        except ModeldeskError as exc:
            self.problems.append(f"{label}: {exc}")
            return _BAD

    def entry(
        self, kind: str, index: int, raw: Any, allowed: tuple[str, ...], required: tuple[str, ...]
    ) -> str | None:
        name = (raw.get("name") or raw.get("model_id")) if isinstance(raw, dict) else None
        label = f"{kind}[{index}]" + (f" ({name[:60]!r})" if isinstance(name, str) else "")
        if not isinstance(raw, dict):
            self.problems.append(f"{label}: must be a mapping of keys to values.")
            return None
        for key in raw:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                self.problems.append(f"{label}: unknown key '{str(key)[:60]}'{hint}")
        self.problems += [f"{label}: '{k}' is required." for k in required if raw.get(k) is None]
        return label

    def user(self, label: str, username: Any, *, owner: bool = True) -> User | Any:
        """The user named by username (default: the actor); only admins own for another."""
        if username is None:
            return self.actor
        if not isinstance(username, str):
            self.problems.append(f"{label}: owner must be a username.")
            return _BAD
        user = self.check(label, users.require_user, self.session, username)
        if owner and user is not _BAD and user.id != self.actor.id:
            self.check(label, access.require_admin, self.actor, "import records for another user")
        return user

    def refuse_manage(self, label: str, record: Provider | ModelRecord) -> None:
        if not access.can_manage(self.actor, record):
            self.check(label, access.require_manage, self.actor, record)

    def changes(self, draft: Draft, column: str) -> dict[str, Any]:
        """The subset of draft.values that differs from the existing record."""
        out = {}
        for key, value in draft.values.items():
            if key == "api_key":
                stored = vault.try_open_text(self.session, draft.existing, "api_key_enc")
            elif key in ("provider_config", "model_config"):
                stored = vault.try_open_json(self.session, draft.existing, column)
            elif key == "features":  # stored as JSON text, compared as names
                if decode_features(draft.existing.features) != value:
                    out[key] = value
                continue
            else:
                if getattr(draft.existing, key) != value:
                    out[key] = value
                continue
            if stored.needs_reentry or stored.value != value:
                out[key] = value
        return out


def plan_provider(pl: Planner, index: int, raw: Any) -> Draft | None:
    label = pl.entry("providers", index, raw, PROVIDER_KEYS, ("name", "provider_type"))
    if label is None:
        return None
    values: dict[str, Any]
    draft, values = Draft(label), {}
    name = pl.check(label, clean_name, raw["name"]) if raw.get("name") is not None else _BAD
    ptype = (
        pl.check(label, _provider_type, raw["provider_type"])
        if raw.get("provider_type") is not None
        else _BAD
    )
    owner = pl.user(label, raw.get("owner"))
    draft.name, draft.owner = (None if name is _BAD else name), (None if owner is _BAD else owner)
    if draft.name and draft.owner:
        draft.existing = pl.session.scalar(
            select(Provider).where(
                Provider.owner_id == draft.owner.id, Provider.name_key == name_key(draft.name)
            )
        )
        if draft.existing is not None:
            pl.refuse_manage(label, draft.existing)
    if ptype is not _BAD:
        values.update(name=name, provider_type=ptype.id)
    config = raw.get("provider_config")
    if config is not None and ptype is not _BAD:
        values["provider_config"] = pl.check(
            label,
            lambda v: validate_provider_config(
                ptype.id,
                _merged_config(
                    pl.session,
                    v,
                    pl.env,
                    "provider_config",
                    draft.existing,
                    "provider_config_enc",
                    ptype,
                ),
            ),
            config,
        )
    elif ptype is not _BAD:  # the kept (or empty) config must suit the type too
        config = (
            {}
            if draft.existing is None
            else vault.try_open_json(pl.session, draft.existing, "provider_config_enc").value
        )
        pl.check(label, validate_provider_config, ptype.id, config)
    if raw.get("api_key") not in (None, ""):
        catalog_names = frozenset(() if ptype is _BAD else ptype.api_key_env)
        own_endpoint = not isinstance(config, dict) or bool(
            str(config.get("base_url") or "").strip()
        )
        values["api_key"] = pl.check(
            label,
            lambda v: check_api_key(
                pl.env.expand(
                    v,
                    "api_key",
                    secret=True,
                    defaults=frozenset() if own_endpoint else catalog_names,
                    withheld=catalog_names if own_endpoint else frozenset(),
                )
            ),
            raw["api_key"],
        )
    elif (
        ptype is not _BAD
        and ptype.api_key_required
        and (draft.existing is None or draft.existing.api_key_enc is None)
    ):
        pl.problems.append(f"{label}: {ptype.label} needs an API key (api_key).")
    for key, check in (
        ("instance_wide", lambda v: _check_bool(v, field="instance_wide")),
        ("status", lambda v: check_choice(v, STATUSES, field="status")),
        ("priority", check_priority),
    ):
        if raw.get(key) is not None:
            values[key] = pl.check(label, check, raw[key])
    if values.get("instance_wide") is True and (
        draft.existing is None or not draft.existing.instance_wide
    ):
        pl.check(label, access.require_admin, pl.actor, "import instance-wide providers")
    draft.values = {k: v for k, v in values.items() if v is not _BAD}
    return draft


def _narrow(
    items: list[Any], owner_of: Callable[[Any], uuid.UUID | None], owner: Actor | None
) -> list[Any]:
    if len(items) > 1 and owner is not None:
        mine = [i for i in items if owner_of(i) == owner.id]
        return mine or items
    return items


def _resolve_provider(
    pl: Planner, label: str, ref: Any, model_owner: Actor | None, drafts: list[Draft | None]
) -> int | uuid.UUID | None:
    """The model's provider: an index into the document's providers, or a stored id."""
    if isinstance(ref, dict) and set(ref) <= {"name", "owner"} and isinstance(ref.get("name"), str):
        name = ref["name"]
        owner = pl.user(label, ref["owner"], owner=False) if ref.get("owner") else None
    elif isinstance(ref, str):
        name, owner = ref, None
    else:
        pl.problems.append(f"{label}: provider must be a provider name or {{name, owner}}.")
        return None
    if owner is _BAD:
        return None
    key = name_key(name)
    in_doc = [
        i
        for i, d in enumerate(drafts)
        if d
        and d.name
        and name_key(d.name) == key
        and (owner is None or (d.owner and d.owner.id == owner.id))
    ]

    def owner_id(draft: Draft | None) -> uuid.UUID | None:
        return draft.owner.id if draft and draft.owner else None

    in_doc = list(
        {owner_id(drafts[i]): i for i in reversed(in_doc)}.values()
    )  # a repeated entry is reported once, as a duplicate
    if in_doc:
        found = _narrow(in_doc, lambda i: drafts[i].owner and drafts[i].owner.id, model_owner)
        owners = sorted({drafts[i].owner.username for i in found if drafts[i].owner})
    else:
        taken = {d.existing.id for d in drafts if d and d.existing is not None}
        rows = [
            p
            for p in pl.session.scalars(select(Provider).where(Provider.name_key == key))
            if p.id not in taken
            and (owner is None or p.owner_id == owner.id)
            and (access.can_see(pl.session, pl.actor, p) or access.can_manage(pl.actor, p))
        ]
        found = _narrow(rows, lambda p: p.owner_id, model_owner)
        owners = sorted(u.username for u in (pl.session.get(User, p.owner_id) for p in found) if u)
    if not found:
        pl.problems.append(
            f"{label}: there is no provider named '{name[:60]}' in the document "
            "or among the providers you can see."
        )
        return None
    if len(found) > 1:
        pl.problems.append(
            f"{label}: the provider name '{name[:60]}' is ambiguous (owners: "
            f"{', '.join(owners)}); write provider: {{name: ..., owner: ...}}."
        )
        return None
    if in_doc:
        existing = drafts[found[0]].existing
        return existing.id if existing is not None else found[0]
    return found[0].id


def plan_model(pl: Planner, index: int, raw: Any, drafts: list[Draft | None]) -> Draft | None:  # noqa: C901
    label = pl.entry("models", index, raw, MODEL_KEYS, ("model_id", "provider"))
    if label is None:
        return None
    values: dict[str, Any]
    draft, values = Draft(label), {}
    model_id = (
        pl.check(label, check_model_id, raw["model_id"])
        if raw.get("model_id") is not None
        else _BAD
    )
    owner = pl.user(label, raw["owner"]) if raw.get("owner") is not None else None
    hint = pl.actor if owner is None else (None if owner is _BAD else owner)
    if raw.get("provider") is not None:
        draft.provider_ref = _resolve_provider(pl, label, raw["provider"], hint, drafts)
    if isinstance(draft.provider_ref, uuid.UUID) and model_id is not _BAD:
        draft.existing = pl.session.scalar(
            select(ModelRecord).where(
                ModelRecord.provider_id == draft.provider_ref, ModelRecord.model_id == model_id
            )
        )
    existing = draft.existing
    if existing is not None:
        pl.refuse_manage(label, existing)
        if owner not in (None, _BAD) and owner.id != existing.owner_id:
            pl.problems.append(
                f"{label}: the model exists with another owner; an import "
                "cannot change a model's owner."
            )
    draft.model_id, draft.owner = (
        (None if model_id is _BAD else model_id),
        (owner or pl.actor if existing is None else None),
    )
    if raw.get("name") is not None:
        values["name"] = pl.check(label, clean_name, raw["name"])
    elif existing is None and model_id is not _BAD:
        values["name"] = model_id
    if existing is None:
        values["model_id"] = model_id
    checks: dict[str, Callable[[Any], Any]] = {
        "model_type": lambda v: check_choice(v, MODEL_TYPES, field="model_type"),
        "status": lambda v: check_choice(v, STATUSES, field="status"),
        "instance_wide": lambda v: _check_bool(v, field="instance_wide"),
    }
    values |= {k: pl.check(label, f, raw[k]) for k, f in checks.items() if raw.get(k) is not None}
    values |= {f: pl.check(label, check_price, raw[f], field=f) for f in PRICE_FIELDS if f in raw}
    if "context_window" in raw:
        values["context_window"] = pl.check(label, check_context_window, raw["context_window"])
    if "quality_tier" in raw:
        values["quality_tier"] = pl.check(label, check_quality_tier, raw["quality_tier"])
    if "features" in raw:
        values["features"] = pl.check(label, check_features, raw["features"])
    if raw.get("model_config") is not None:
        values["model_config"] = pl.check(
            label,
            _merged_config,
            pl.session,
            raw["model_config"],
            pl.env,
            "model_config",
            existing,
            "model_config_enc",
            None,
        )
    if values.get("instance_wide") is True and (existing is None or not existing.instance_wide):
        pl.check(label, access.require_admin, pl.actor, "import instance-wide models")
    draft.values = {k: v for k, v in values.items() if v is not _BAD}
    return draft
