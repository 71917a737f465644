"""Model listings for the console: a table of thousands of models and a user's selector.

Both read plain columns (no ORM objects, no decryption) in the order of
``llm_models.list_models`` / ``list_active_models``; tests hold them equal.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import access
from core.llm_models import PRICE_FIELDS
from core.model_ratings import decode_features
from core.models import MODEL_TYPES, Grant, ModelRecord, Provider, User
from core.records import scope_label
from core.validation import check_choice


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
    quality_tier: str | None            # None: not rated
    features: tuple[str, ...] | None    # None: the catalog's facts
    scope: str
    owner: str


def _model_rows(session: Session, *conditions: Any) -> list[ModelRow]:
    m, p = ModelRecord, Provider
    stmt = (select(m.id, m.name, m.model_id, m.model_type, m.instance_wide, m.status,
                   *(getattr(m, f) for f in PRICE_FIELDS), m.context_window, m.owner_id,
                   m.version, p.id.label("provider_id"), p.name.label("provider_name"),
                   p.status.label("provider_status"), p.provider_type, m.quality_tier,
                   m.features)
            .join(p, m.provider_id == p.id).where(*conditions)
            .order_by(p.priority, p.name_key, m.name, m.id))
    rows = session.execute(stmt).all()
    owners = dict(session.execute(select(User.id, User.username)).all())
    shared = set(session.scalars(select(Grant.entity_id).where(Grant.entity_type == "model")))
    # Positional: the selected columns are ModelRow's fields in order (features decoded),
    # then scope and owner.
    return [ModelRow(*r[:-1], decode_features(r[-1]), scope_label(r, shared=r[0] in shared),
                     owners.get(r[11], "?")) for r in rows]


def list_model_rows(session: Session, *, user: User, manage: bool = False) -> list[ModelRow]:
    """The rows and order of ``list_models`` from plain columns: a table of thousands of
    models must not load ORM objects or open every encrypted config."""
    if manage and not user.is_admin:
        return _model_rows(session, ModelRecord.owner_id == user.id)
    if manage:
        return _model_rows(session)
    return _model_rows(session, access.visible_clause(ModelRecord, user))


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


def model_selector(session: Session, *, user: User,
                   model_type: str | None = None) -> list[SelectorOption]:
    """The options ``list_active_models`` gives user, as table rows with the
    ``access.visibility_reason`` of each model and its provider (grants read once)."""
    m, p = ModelRecord, Provider
    # list_active_models' rule and order (tests hold the two equal), from plain columns.
    rule = [m.status == "active", p.status == "active", access.visible_clause(m, user),
            access.visible_clause(p, user)]
    if model_type is not None:
        rule.append(m.model_type == check_choice(model_type, MODEL_TYPES, field="model_type"))
    rows = _model_rows(session, *rule)
    grants = access.grants_of(session, user)
    names = dict(session.execute(select(User.id, User.username)).all()) if grants else {}
    provider_ids = {r.provider_id for r in rows}
    provs = {pid: (owner, wide) for pid, owner, wide in session.execute(
        select(p.id, p.owner_id, p.instance_wide).where(p.id.in_(provider_ids)))} \
        if provider_ids else {}

    def reason(entity_type: str, record_id: uuid.UUID, owner_id: uuid.UUID,
               wide: bool) -> str:
        return access.why_visible(owner_id == user.id, wide,
                                  grants.get((entity_type, record_id)), names)[0] or "?"

    return [SelectorOption(model=r, model_reason=reason("model", r.id, r.owner_id,
                                                        r.instance_wide),
                           provider_reason=reason("provider", r.provider_id,
                                                  *provs[r.provider_id])) for r in rows]
