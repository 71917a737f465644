"""Model listings for the console: a table of thousands of models and a user's selector.

Both read plain columns (no ORM objects, no decryption) in the order of
``model_records.list_models`` / ``list_active_models``; tests hold them equal.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from core.accounts import access
from core.accounts.viewer import Actor
from core.errors import ValidationError
from core.records.model_ratings import decode_features
from core.records.model_records import PRICE_FIELDS
from core.store.locking import scope_label
from core.store.tables import Grant, ModelRecord, Provider, User
from core.validation import check_choice
from core.vocabulary import MODEL_TYPES, STATUSES


@dataclass(frozen=True, slots=True)  # slots: thousands of rows, cheaper to build and collect
class ModelRow:
    """A model as the catalogue table lists it: no config, so nothing is decrypted."""

    id: uuid.UUID
    name: str
    model_id: str
    model_type: str
    instance_wide: bool
    status: str
    input_cost_per_million: Decimal | None
    output_cost_per_million: Decimal | None
    cache_read_cost_per_million: Decimal | None
    cache_write_cost_per_million: Decimal | None
    context_window: int | None
    owner_id: uuid.UUID
    version: int
    provider_id: uuid.UUID
    provider_name: str
    provider_status: str
    provider_type: str
    quality_tier: str | None  # None: not rated
    features: tuple[str, ...] | None  # None: the catalog's facts
    scope: str
    owner: str


def _model_rows(
    session: Session, *conditions: Any, offset: int = 0, limit: int | None = None
) -> list[ModelRow]:
    m, p = ModelRecord, Provider
    stmt = (
        select(
            m.id,
            m.name,
            m.model_id,
            m.model_type,
            m.instance_wide,
            m.status,
            *(getattr(m, f) for f in PRICE_FIELDS),
            m.context_window,
            m.owner_id,
            m.version,
            p.id.label("provider_id"),
            p.name.label("provider_name"),
            p.status.label("provider_status"),
            p.provider_type,
            m.quality_tier,
            m.features,
        )
        .join(p, m.provider_id == p.id)
        .where(*conditions)
        .order_by(p.priority, p.name_key, m.name, m.id)
    )
    if offset or limit is not None:
        stmt = stmt.offset(offset).limit(limit)
    rows = session.execute(stmt).all()
    if not rows:
        return []
    # Owners and grants of these rows only: a page of 50 must not read every user and grant.
    ids, owner_ids = [r[0] for r in rows], {r[11] for r in rows}
    owners = dict(
        session.execute(select(User.id, User.username).where(User.id.in_(owner_ids))).all()
    )
    shared = set(
        session.scalars(
            select(Grant.entity_id).where(Grant.entity_type == "model", Grant.entity_id.in_(ids))
        )
    )
    # Positional: the selected columns are ModelRow's fields in order (features decoded),
    # then scope and owner.
    return [
        ModelRow(
            *[
                *r[:-1],
                decode_features(r[-1]),
                scope_label(r, shared=r[0] in shared),
                owners.get(r[11], "?"),
            ]
        )
        for r in rows
    ]


def _scope(user: Actor, manage: bool) -> list[Any]:
    """Which records a listing covers: visible ones, or (manage) the ones user may change."""
    if manage and not user.is_admin:
        return [ModelRecord.owner_id == user.id]
    if manage:
        return []
    return [access.visible_clause(ModelRecord, user)]


def list_model_rows(session: Session, *, user: Actor, manage: bool = False) -> list[ModelRow]:
    """The rows and order of ``list_models`` from plain columns: a table of thousands of
    models must not load ORM objects or open every encrypted config."""
    return _model_rows(session, *_scope(user, manage))


SEARCH_MAX = 200  # characters of a search term; longer input is refused, not cut


@dataclass(frozen=True)
class ModelFilter:
    """What the Models table is narrowed to, applied in the query (empty: no narrowing).

    ``search`` matches the name, the model id and the provider's name, ignoring case."""

    search: str = ""
    provider_ids: tuple[uuid.UUID, ...] = ()
    model_types: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()

    def conditions(self) -> list[Any]:
        """SQL conditions for this filter (validated: unknown types or statuses refused)."""
        m, p = ModelRecord, Provider
        out: list[Any] = []
        term = self.search.strip()
        if len(term) > SEARCH_MAX:
            raise ValidationError(
                f"The search is longer than {SEARCH_MAX} characters.", field="search"
            )
        if term:
            needle = term.lower()
            out.append(
                or_(
                    *(
                        func.lower(col).contains(needle, autoescape=True)
                        for col in (m.name, m.model_id, p.name)
                    )
                )
            )
        if self.provider_ids:
            out.append(m.provider_id.in_(self.provider_ids))
        if self.model_types:
            out.append(
                m.model_type.in_(
                    [check_choice(t, MODEL_TYPES, field="model_type") for t in self.model_types]
                )
            )
        if self.statuses:
            out.append(
                m.status.in_([check_choice(s, STATUSES, field="status") for s in self.statuses])
            )
        return out


@dataclass(frozen=True)
class ModelPage:
    """One page of the Models table: its rows, how many rows match, and where it starts."""

    rows: list[ModelRow]
    total: int
    offset: int
    limit: int

    @property
    def first(self) -> int:
        """1-based number of the first row shown (0 when nothing matches)."""
        return self.offset + 1 if self.rows else 0

    @property
    def last(self) -> int:
        """1-based number of the last row shown."""
        return self.offset + len(self.rows)


def find_model_rows(
    session: Session,
    *,
    user: Actor,
    manage: bool = False,
    where: ModelFilter | None = None,
    offset: int = 0,
    limit: int = 50,
) -> ModelPage:
    """One page of ``list_model_rows`` narrowed by ``where``, filtered and cut in the query.

    An offset past the end lands on the last page, so a link or a narrowed filter never
    shows an empty table while rows match."""
    if limit < 1 or offset < 0:
        raise ValidationError("A page starts at 0 and holds at least one row.", field="page")
    conditions = [*_scope(user, manage), *(where or ModelFilter()).conditions()]
    total = (
        session.scalar(
            select(func.count())
            .select_from(ModelRecord)
            .join(Provider, ModelRecord.provider_id == Provider.id)
            .where(*conditions)
        )
        or 0
    )
    if offset >= total:
        offset = max(0, (total - 1) // limit * limit)
    rows = _model_rows(session, *conditions, offset=offset, limit=limit) if total else []
    return ModelPage(rows=rows, total=total, offset=offset, limit=limit)


@dataclass(frozen=True, slots=True)
class ActiveModel:
    """An active model as the deprecation check needs it: no prices, no owner."""

    id: uuid.UUID
    name: str
    model_id: str
    provider_name: str
    provider_type: str
    status: str = "active"


def active_models(
    session: Session, *, user: Actor, manage: bool = False, model_ids: Collection[str] | None = None
) -> list[ActiveModel]:
    """Every active model of the listing's scope (only these model ids, when given), in
    table order, from five columns."""
    m, p = ModelRecord, Provider
    stmt = (
        select(m.id, m.name, m.model_id, p.name, p.provider_type)
        .join(p, m.provider_id == p.id)
        .where(m.status == "active", *_scope(user, manage))
        .order_by(p.priority, p.name_key, m.name, m.id)
    )
    if model_ids is not None:
        stmt = stmt.where(m.model_id.in_(sorted(model_ids)))
    return [ActiveModel(*r) for r in session.execute(stmt).all()]


def active_kinds(session: Session, *, user: Actor, manage: bool = False) -> set[tuple[str, str]]:
    """The distinct (provider type, model id) pairs of the listing's active models: what a
    catalog check needs, far fewer than the rows."""
    m, p = ModelRecord, Provider
    stmt = (
        select(p.provider_type, m.model_id)
        .join(p, m.provider_id == p.id)
        .where(m.status == "active", *_scope(user, manage))
        .distinct()
    )
    return {(t, mid) for t, mid in session.execute(stmt).all()}


@dataclass(frozen=True)
class SelectorOption:
    """One option of a user's model selector and why the user sees the model and its provider."""

    model: ModelRow
    model_reason: str
    provider_reason: str

    @property
    def label(self) -> str:
        """How the selector shows it: 'Model name — Provider'."""
        return f"{self.model.name} — {self.model.provider_name}"


def model_selector(
    session: Session, *, user: Actor, model_type: str | None = None
) -> list[SelectorOption]:
    """The options ``list_active_models`` gives user, as table rows with the
    ``access.visibility_reason`` of each model and its provider (grants read once)."""
    m, p = ModelRecord, Provider
    # list_active_models' rule and order (tests hold the two equal), from plain columns.
    rule = [
        m.status == "active",
        p.status == "active",
        access.visible_clause(m, user),
        access.visible_clause(p, user),
    ]
    if model_type is not None:
        rule.append(m.model_type == check_choice(model_type, MODEL_TYPES, field="model_type"))
    rows = _model_rows(session, *rule)
    grants = access.grants_of(session, user)
    names = dict(session.execute(select(User.id, User.username)).all()) if grants else {}
    provider_ids = {r.provider_id for r in rows}
    provs = (
        {
            pid: (owner, wide)
            for pid, owner, wide in session.execute(
                select(p.id, p.owner_id, p.instance_wide).where(p.id.in_(provider_ids))
            )
        }
        if provider_ids
        else {}
    )

    def reason(entity_type: str, record_id: uuid.UUID, owner_id: uuid.UUID, wide: bool) -> str:
        return (
            access.why_visible(
                owner_id == user.id, wide, grants.get((entity_type, record_id)), names
            )[0]
            or "?"
        )

    return [
        SelectorOption(
            model=r,
            model_reason=reason("model", r.id, r.owner_id, r.instance_wide),
            provider_reason=reason("provider", r.provider_id, *provs[r.provider_id]),
        )
        for r in rows
    ]


@dataclass(frozen=True, slots=True)
class ProviderChoice:
    """A provider as the model forms offer it: plain columns, nothing decrypted."""

    id: uuid.UUID
    name: str
    status: str
    owner_id: uuid.UUID
    instance_wide: bool
    owner: str


def provider_choices(
    session: Session, *, user: Actor, manage: bool = False
) -> list[ProviderChoice]:
    """The providers of ``providers.list_providers`` (same rule and order) from six
    columns: a form's provider list must not open every stored key and config."""
    p = Provider
    stmt = (
        select(p.id, p.name, p.status, p.owner_id, p.instance_wide, User.username)
        .join(User, User.id == p.owner_id)
        .order_by(p.priority, p.name_key, p.id)
    )
    if manage and not user.is_admin:
        stmt = stmt.where(p.owner_id == user.id)
    elif not manage:
        stmt = stmt.where(access.visible_clause(p, user))
    return [ProviderChoice(*row) for row in session.execute(stmt).all()]
