"""Who may see and change which record (seed 000 visibility), and grants.

A user sees a provider or model when, in this order (the first that holds is the reason):
  1. they own it,
  2. it is instance-wide,
  3. they hold a grant on it.
The rules are the same for everyone, admins included, so an admin's model selector shows
what a member's would. Management is separate: admins may manage every record and are the
only ones who create or edit instance-wide records and grants; a member manages only what
they own.
"""

from __future__ import annotations

import uuid
from typing import Literal

from sqlalchemy import ColumnElement, and_, exists, or_, select
from sqlalchemy.orm import Session

from core import audit
from core.errors import IntegrityError, NotFoundError, PermissionDeniedError
from core.models import Grant, ModelRecord, Provider, User

Entity = Provider | ModelRecord
EntityType = Literal["provider", "model"]
ENTITY_CLASSES: dict[str, type[Provider] | type[ModelRecord]] = {
    "provider": Provider, "model": ModelRecord}


def entity_type_of(record: Entity) -> EntityType:
    """'provider' or 'model'."""
    return "provider" if isinstance(record, Provider) else "model"


def visible_clause(cls: type[Provider] | type[ModelRecord], user: User) -> ColumnElement[bool]:
    """SQL condition: the record is visible to user (owner, instance-wide or granted)."""
    entity_type = "provider" if cls is Provider else "model"
    granted = exists().where(and_(Grant.entity_type == entity_type, Grant.entity_id == cls.id,
                                  Grant.user_id == user.id))
    return or_(cls.owner_id == user.id, cls.instance_wide.is_(True), granted)


def visibility_reason(session: Session, user: User, record: Entity) -> str | None:
    """Why user sees record ('owner', 'instance-wide', 'granted by X') or None."""
    if record.owner_id == user.id:
        return "owner"
    if record.instance_wide:
        return "instance-wide"
    grant = session.scalar(select(Grant).where(
        Grant.entity_type == entity_type_of(record), Grant.entity_id == record.id,
        Grant.user_id == user.id))
    if grant is None:
        return None
    granter = session.get(User, grant.granted_by_id) if grant.granted_by_id else None
    return f"granted by {granter.username}" if granter else "granted"


def can_see(session: Session, user: User, record: Entity) -> bool:
    """True if user sees record under the seed's rules."""
    return visibility_reason(session, user, record) is not None


def can_manage(user: User, record: Entity) -> bool:
    """Admins manage every record; members only what they own and is not instance-wide."""
    if not user.active:
        return False
    if user.is_admin:
        return True
    return record.owner_id == user.id and not record.instance_wide


def require_manage(user: User, record: Entity) -> None:
    """Raise PermissionDeniedError unless user may change record."""
    if not can_manage(user, record):
        what = entity_type_of(record)
        if record.instance_wide and not user.is_admin:
            raise PermissionDeniedError(f"Only admins can change the instance-wide {what} "
                                        f"'{record.name}'.")
        raise PermissionDeniedError(f"You can only change a {what} you own.")


def require_admin(user: User, action: str) -> None:
    """Raise PermissionDeniedError unless user is an active admin."""
    if not user.is_admin:
        raise PermissionDeniedError(f"Only admins can {action}.")


def load_entity(session: Session, entity_type: str, entity_id: uuid.UUID) -> Entity:
    """Fetch a provider or model by type and id, or NotFoundError."""
    cls = ENTITY_CLASSES.get(entity_type)
    if cls is None:
        raise NotFoundError(f"Unknown record type {entity_type!r}.")
    record = session.get(cls, entity_id)
    if record is None:
        raise NotFoundError(f"No such {entity_type}.")
    return record


def grant(session: Session, *, actor: User, record: Entity, user: User) -> Grant:
    """Let user see record (admins only); granting twice is a no-op."""
    require_admin(actor, "share records")
    if not user.active:
        raise IntegrityError(f"{user.username} is deactivated; activate the account first.")
    entity_type = entity_type_of(record)
    existing = session.scalar(select(Grant).where(
        Grant.entity_type == entity_type, Grant.entity_id == record.id, Grant.user_id == user.id))
    if existing is not None:
        return existing
    row = Grant(id=uuid.uuid4(), entity_type=entity_type, entity_id=record.id, user_id=user.id,
                granted_by_id=actor.id)
    session.add(row)
    audit.record(session, actor=actor, action=f"{entity_type}.grant", record=record,
                 after={"user": user.username})
    return row


def revoke(session: Session, *, actor: User, record: Entity, user: User) -> bool:
    """Remove user's grant on record (admins only); True if there was one."""
    require_admin(actor, "change sharing")
    entity_type = entity_type_of(record)
    row = session.scalar(select(Grant).where(
        Grant.entity_type == entity_type, Grant.entity_id == record.id, Grant.user_id == user.id))
    if row is None:
        return False
    session.delete(row)
    audit.record(session, actor=actor, action=f"{entity_type}.revoke", record=record,
                 before={"user": user.username})
    return True


def grantees(session: Session, record: Entity) -> list[User]:
    """Users holding a grant on record, by username."""
    return list(session.scalars(
        select(User).join(Grant, Grant.user_id == User.id)
        .where(Grant.entity_type == entity_type_of(record), Grant.entity_id == record.id)
        .order_by(User.username_key)))


def delete_grants(session: Session, record: Entity) -> None:
    """Drop every grant on a record that is being deleted."""
    for row in session.scalars(select(Grant).where(
            Grant.entity_type == entity_type_of(record), Grant.entity_id == record.id)):
        session.delete(row)
