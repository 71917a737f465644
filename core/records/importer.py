"""Import of provider and model records from YAML or JSON documents.

    file ─ documents.load_document ─▶ dict ─ plan_import ─▶ ImportPlan
         ─ apply_import ─▶ ImportResult
    records ─ exporter.export_document ─▶ dict ─ documents.dump_document ─▶ YAML / JSON text

A document is a mapping with optional ``providers`` and ``models`` lists (their keys:
``import_entries.PROVIDER_KEYS`` and ``MODEL_KEYS``).
plan_import checks the whole document with the services' own validators and reports every
problem at once (entries are counted from 1); apply_import writes through the services,
so each change is audited, inside the caller's transaction (all or nothing). Re-import is
idempotent: a provider is matched by (owner, name), a model by (provider, model_id), and
only fields the document gives and that differ are updated.

Secrets: ``${VAR}`` references are expanded only in secret fields and only for allowed
names (the rules: ``import_references``); each entry is checked and resolved by
``import_entries``. An export never holds an API key nor a secret config value; on import
such an omitted value keeps what is stored, as an omitted api_key does.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from core.accounts.viewer import Actor
from core.config import Settings
from core.errors import ValidationError
from core.numbers import unreadable_numbers
from core.records import model_records, providers
from core.records.import_entries import Draft, Planner, plan_model, plan_provider
from core.records.import_references import check_allow_env
from core.store.tables import User
from core.validation import name_key

MAX_REPORTED = 20


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


# --- Planning ---------------------------------------------------------------------------


def _entries(pl: Planner, document: Mapping[str, Any], key: str) -> list[Any]:
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
    pl = Planner(session, actor, settings, check_allow_env(allow_env))
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
        plan_provider(pl, i, raw) for i, raw in enumerate(_entries(pl, document, "providers"), 1)
    ]
    seen: dict[tuple[Any, str], str] = {}
    for d in drafts:
        if d and d.name and d.owner:
            first = seen.setdefault((d.owner.id, name_key(d.name)), d.label)
            if first != d.label:
                pl.problems.append(f"{d.label}: same owner and name as {first}.")
    models = [
        plan_model(pl, i, raw, drafts) for i, raw in enumerate(_entries(pl, document, "models"), 1)
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


def _planned(pl: Planner, kind: str, draft: Draft) -> PlannedChange:
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
