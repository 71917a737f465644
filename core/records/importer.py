"""Import of provider and model records from YAML or JSON documents.

    file ─ documents.load_document ─▶ dict ─ plan_import ─▶ ImportPlan
         ─ apply_import ─▶ ImportResult
    records ─ exporter.export_document ─▶ dict ─ documents.dump_document ─▶ YAML / JSON text

A document is a mapping with optional ``providers`` and ``models`` lists (keys below).
plan_import checks the whole document with the services' own validators and reports every
problem at once (entries are counted from 1); apply_import writes through the services,
so each change is audited, inside the caller's transaction (all or nothing). Re-import is
idempotent: a provider is matched by (owner, name), a model by (provider, model_id), and
only fields the document gives and that differ are updated.

Secrets: ``${VAR}`` references into ``settings.environ`` are expanded only where an
export never shows the result: ``api_key`` and the values of secret config keys (a catalog
field marked secret, or a secret-looking name; ``catalog.looks_secret``). Elsewhere a
reference is refused, as is any reference to Modeldesk's own settings
(``config.is_own_setting``) and any name the operator did not allow: the names passed as
``allow_env``, plus, for a provider's api_key only, its type's catalog key variables (e.g.
OPENAI_API_KEY) when the entry keeps the type's own endpoint (no base_url of its own), so a
document cannot send the operator's key to an address it chose. A refused reference is
named (the variable, never its value) with the field's path; ``$${`` is a literal ``${``.
An export never holds an API key nor a secret config value; on import such an omitted
value keeps what is stored, as an omitted api_key does.
"""

from __future__ import annotations

import difflib
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import catalog
from core.accounts import access, users
from core.accounts.viewer import Actor
from core.catalog import ProviderType
from core.config import Settings, is_own_setting
from core.errors import ModeldeskError, ValidationError
from core.records import model_records, providers
from core.records.model_ratings import check_features, check_quality_tier, decode_features
from core.records.model_records import PRICE_FIELDS
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
    unreadable_numbers,
)
from core.vocabulary import MODEL_TYPES, STATUSES

MAX_REPORTED = 20
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
_REFERENCE = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$\{")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BAD: Any = object()  # a value that failed validation (its problem is already recorded)


class DocumentError(ValidationError):
    """An import document with problems; ``problems`` lists every one as 'where: message'."""

    problems: list[str]  # type: ignore[assignment]  # lines, not ValidationError's field errors

    def __init__(self, problems: list[str]) -> None:
        shown, more = problems[:MAX_REPORTED], len(problems) - MAX_REPORTED
        lines = [
            f"The import document has {len(problems)} problem(s); nothing was imported:",
            *(f"  - {p}" for p in shown),
            *([f"  … and {more} more"] if more > 0 else []),
        ]
        super().__init__("\n".join(lines))
        self.problems = list(problems)


@dataclass(frozen=True)
class PlannedChange:
    """One record an import creates, updates or leaves alone (values never in repr)."""

    kind: str  # 'provider' or 'model'
    label: str  # e.g. "providers[2] ('Groq prod')"
    action: str  # 'create', 'update' or 'unchanged'
    record_id: uuid.UUID | None
    expected_version: int | None
    owner_id: uuid.UUID | None
    provider_ref: int | uuid.UUID | None = None  # models: index into plan.providers, or an id
    values: Mapping[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class ImportResult:
    """How many records of each kind ('providers', 'models') were created/updated/unchanged."""

    created: dict[str, int]
    updated: dict[str, int]
    unchanged: dict[str, int]

    def summary(self) -> str:
        """One line such as 'created 2 providers, 3 models; updated …; unchanged …'."""
        return "; ".join(
            f"{what} {c['providers']} provider(s), {c['models']} model(s)"
            for what, c in (
                ("created", self.created),
                ("updated", self.updated),
                ("unchanged", self.unchanged),
            )
        )


@dataclass(frozen=True)
class ImportPlan:
    """A validated document, resolved against the database: what apply_import will do."""

    actor_id: uuid.UUID
    providers: tuple[PlannedChange, ...]
    models: tuple[PlannedChange, ...]

    def preview(self) -> ImportResult:
        """The counts apply_import would return."""
        counts = {a: {"providers": 0, "models": 0} for a in ("create", "update", "unchanged")}
        for kind, changes in (("providers", self.providers), ("models", self.models)):
            for change in changes:
                counts[change.action][kind] += 1
        return ImportResult(counts["create"], counts["update"], counts["unchanged"])


# --- Small checks -----------------------------------------------------------------------


def check_allow_env(names: Iterable[str]) -> frozenset[str]:
    """The variable names an operator allows an import to expand (never Modeldesk's own)."""
    allowed = set()
    for name in names:
        shown = str(name)[:60]
        if not isinstance(name, str) or not _ENV_NAME.fullmatch(name):
            raise ValidationError(
                f"allow-env: '{shown}' is not an environment variable name "
                "(letters, digits and _, not starting with a digit).",
                field="allow_env",
            )
        if is_own_setting(name):
            raise ValidationError(
                f"allow-env: {shown} is one of Modeldesk's own settings; an "
                "import can never read it.",
                field="allow_env",
            )
        allowed.add(name)
    return frozenset(allowed)


class _Refused(ValidationError):
    """Every refused reference of one field, each as 'path: message'."""

    problems: list[str]  # type: ignore[assignment]  # lines, as in DocumentError

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class _Environment:
    """Expands ${VAR} references under the rules in the module docstring."""

    def __init__(self, environ: Mapping[str, str], allowed: frozenset[str]) -> None:
        self.environ, self.allowed = environ, allowed

    def expand(
        self,
        value: Any,
        where: str,
        *,
        secret: bool,
        defaults: frozenset[str] = frozenset(),
        withheld: frozenset[str] = frozenset(),
    ) -> Any:
        """value with its references replaced (recursively); _Refused names every refused
        one and where it is. ``defaults`` are allowed here as well as the operator's names;
        ``withheld`` are catalog names refused because the entry chose its own endpoint."""
        problems: list[str] = []
        out = self._expand(value, where, secret, defaults, withheld, problems)
        if problems:
            raise _Refused(problems)
        return out

    def _expand(
        self,
        value: Any,
        where: str,
        secret: bool,
        defaults: frozenset[str],
        withheld: frozenset[str],
        problems: list[str],
    ) -> Any:
        if isinstance(value, dict):
            return {
                k: self._expand(v, f"{where}.{str(k)[:60]}", secret, defaults, withheld, problems)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [
                self._expand(v, f"{where}[{i}]", secret, defaults, withheld, problems)
                for i, v in enumerate(value, 1)
            ]
        if not isinstance(value, str):
            return value

        def substitute(match: re.Match[str]) -> str:
            if match.group(0) == "$${":
                return "${"
            var = match.group(1)
            problem = self._refusal(var, secret, defaults, withheld)
            if problem is None:
                found = self.environ.get(var)
                if found:
                    return found
                problem = f"the environment variable {var[:60]} is not set."
            problems.append(f"{where}: {problem}")
            return ""

        return _REFERENCE.sub(substitute, value)

    def _refusal(
        self, var: str | None, secret: bool, defaults: frozenset[str], withheld: frozenset[str]
    ) -> str | None:
        """Why a reference may not be expanded here, or None (checked before any lookup)."""
        if var is None:
            return "'${' must start a ${VARIABLE} reference; write '$${' for a literal '${'."
        refused = f"${{{var[:60]}}} is refused:"
        if not secret:
            return (
                f"{refused} variables are expanded only in secret fields (api_key and "
                "secret config values), because other values are shown and exported."
            )
        if is_own_setting(var):
            return f"{refused} it is a Modeldesk setting, which an import never reads."
        if var in self.allowed or var in defaults:
            return None
        if var in withheld:
            return (
                f"{refused} the entry sets its own base_url, and the catalog's key "
                "variables go by default only to the provider's own endpoint (allow it "
                f"with --allow-env {var[:60]})."
            )
        return (
            f"{refused} the variable is not allowed for this import (allow it with "
            f"--allow-env {var[:60]})."
        )


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
    env: _Environment,
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
        except _Refused as exc:
            problems += exc.problems
    if problems:
        raise _Refused(problems)
    if existing is not None:
        stored = vault.try_open_json(session, existing, column)
        config = catalog.merge_secret_config(stored.value, config, ptype)
    return check_config_object(config, field=where)


# --- Planning ---------------------------------------------------------------------------


@dataclass
class _Draft:
    label: str
    name: str | None = None
    owner: Actor | None = None
    existing: Any = None
    provider_ref: int | uuid.UUID | None = None
    model_id: str | None = None
    values: dict[str, Any] = field(default_factory=dict, repr=False)


class _Planner:
    """Collects every problem of a document while resolving it against the database."""

    def __init__(
        self, session: Session, actor: Actor, settings: Settings, allowed: frozenset[str]
    ) -> None:
        self.session, self.actor = session, actor
        self.env = _Environment(settings.environ, allowed)
        self.problems: list[str] = []

    def check(self, label: str, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        try:
            return fn(*args, **kw)
        except _Refused as exc:
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

    def changes(self, draft: _Draft, column: str) -> dict[str, Any]:
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


def _plan_provider(pl: _Planner, index: int, raw: Any) -> _Draft | None:
    label = pl.entry("providers", index, raw, PROVIDER_KEYS, ("name", "provider_type"))
    if label is None:
        return None
    values: dict[str, Any]
    draft, values = _Draft(label), {}
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
            lambda v: providers.validate_provider_config(
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
        pl.check(label, providers.validate_provider_config, ptype.id, config)
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
    pl: _Planner, label: str, ref: Any, model_owner: Actor | None, drafts: list[_Draft | None]
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

    def owner_id(draft: _Draft | None) -> uuid.UUID | None:
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


def _plan_model(pl: _Planner, index: int, raw: Any, drafts: list[_Draft | None]) -> _Draft | None:  # noqa: C901
    label = pl.entry("models", index, raw, MODEL_KEYS, ("model_id", "provider"))
    if label is None:
        return None
    values: dict[str, Any]
    draft, values = _Draft(label), {}
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


def _entries(pl: _Planner, document: Mapping[str, Any], key: str) -> list[Any]:
    value = document.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        pl.problems.append(f"{key}: must be a list of entries.")
        return []
    return value


def plan_import(
    session: Session,
    *,
    actor: Actor,
    document: Any,
    settings: Settings,
    allow_env: Iterable[str] = (),
) -> ImportPlan:
    """Validate the whole document and resolve it; DocumentError lists every problem.

    allow_env names the environment variables the document's secret fields may reference
    (see the module docstring); a name of Modeldesk's own settings is a ValidationError."""
    pl = _Planner(session, actor, settings, check_allow_env(allow_env))
    if not isinstance(document, dict):
        raise DocumentError(["top level: must be a mapping with providers and/or models lists."])
    unreadable = unreadable_numbers(document)  # str() or repr() of these would raise
    if unreadable:
        raise DocumentError([f"{path or 'top level'} {problem}." for path, problem in unreadable])
    pl.problems += [
        f"top level: unknown key '{str(k)[:60]}' (allowed: providers, models)"
        for k in document
        if k not in ("providers", "models")
    ]
    if not actor.active:
        pl.problems.append(f"top level: the account {actor.username} is deactivated.")
    drafts = [
        _plan_provider(pl, i, raw) for i, raw in enumerate(_entries(pl, document, "providers"), 1)
    ]
    seen: dict[tuple[Any, str], str] = {}
    for d in drafts:
        if d and d.name and d.owner:
            first = seen.setdefault((d.owner.id, name_key(d.name)), d.label)
            if first != d.label:
                pl.problems.append(f"{d.label}: same owner and name as {first}.")
    models = [
        _plan_model(pl, i, raw, drafts) for i, raw in enumerate(_entries(pl, document, "models"), 1)
    ]
    seen = {}
    for m in models:
        if m and m.model_id and m.provider_ref is not None:
            first = seen.setdefault((m.provider_ref, m.model_id), m.label)
            if first != m.label:
                pl.problems.append(f"{m.label}: same provider and model_id as {first}.")
    if pl.problems:
        raise DocumentError(pl.problems)
    return ImportPlan(
        actor_id=actor.id,
        providers=tuple(_planned(pl, "provider", d) for d in drafts if d),
        models=tuple(_planned(pl, "model", m) for m in models if m),
    )


def _planned(pl: _Planner, kind: str, draft: _Draft) -> PlannedChange:
    existing = draft.existing
    if existing is None:
        assert draft.owner is not None  # an unresolved owner is a problem: no plan is made
        return PlannedChange(
            kind,
            draft.label,
            "create",
            None,
            None,
            draft.owner.id,
            draft.provider_ref,
            draft.values,
        )
    column = "provider_config_enc" if kind == "provider" else "model_config_enc"
    changes = pl.changes(draft, column)
    return PlannedChange(
        kind,
        draft.label,
        "update" if changes else "unchanged",
        existing.id,
        existing.version,
        existing.owner_id,
        draft.provider_ref,
        changes,
    )


# --- Applying ---------------------------------------------------------------------------


def apply_import(session: Session, *, actor: Actor, plan: ImportPlan) -> ImportResult:
    """Write a plan through the services (audited); the caller commits or rolls back."""
    if plan.actor_id != actor.id:
        raise ValidationError("This import plan was made for another user; plan it again.")
    ids: dict[int, uuid.UUID] = {}
    for index, change in enumerate(plan.providers):
        if change.action == "create":
            ids[index] = providers.create_provider(
                session, actor=actor, owner=session.get(User, change.owner_id), **change.values
            ).id
            continue
        assert change.record_id is not None  # an update or an unchanged record exists
        if change.action == "update":
            providers.update_provider(
                session,
                actor=actor,
                provider_id=change.record_id,
                expected_version=change.expected_version,
                **change.values,
            )
        ids[index] = change.record_id
    for change in plan.models:
        if change.action == "create":
            ref = change.provider_ref
            assert ref is not None  # a model's provider is always resolved
            model_records.create_model(
                session,
                actor=actor,
                owner=session.get(User, change.owner_id),
                provider_id=ids[ref] if isinstance(ref, int) else ref,
                **change.values,
            )
        elif change.action == "update":
            assert change.record_id is not None  # an update's record exists
            model_records.update_model(
                session,
                actor=actor,
                model_record_id=change.record_id,
                expected_version=change.expected_version,
                **change.values,
            )
    return plan.preview()
