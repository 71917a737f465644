"""Who may see and change which record, and grants.

A user sees a provider or model when, in this order (the first that holds is the reason):
  1. they own it,
  2. it is instance-wide,
  3. they hold a grant on it.
The rules are the same for everyone, admins included, so an admin's model selector shows
what a member's would. Management is separate: admins may manage every record and are the
only ones who create or edit instance-wide records and grants; a member manages only what
they own.

``record_audience`` and ``user_reach`` answer "who sees this record" and "what does this
user see" for a whole record or user at once, with the same reasons.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, cast

from sqlalchemy import ColumnElement, and_, exists, or_, select
from sqlalchemy.orm import Session

from core.accounts import audit
from core.accounts.viewer import Actor
from core.errors import IntegrityError, NotFoundError, PermissionDeniedError
from core.store.tables import Grant, ModelRecord, Provider, User

Entity = Provider | ModelRecord
EntityType = Literal["provider", "model"]
ENTITY_CLASSES: dict[str, type[Provider] | type[ModelRecord]] = {
    "provider": Provider,
    "model": ModelRecord,
}


def entity_type_of(record: Entity) -> EntityType:
    """'provider' or 'model'."""
    return "provider" if isinstance(record, Provider) else "model"


def visible_clause(cls: type[Provider] | type[ModelRecord], user: Actor) -> ColumnElement[bool]:
    """SQL condition: the record is visible to user (owner, instance-wide or granted)."""
    entity_type = "provider" if cls is Provider else "model"
    granted = exists().where(
        and_(Grant.entity_type == entity_type, Grant.entity_id == cls.id, Grant.user_id == user.id)
    )
    return or_(cls.owner_id == user.id, cls.instance_wide.is_(True), granted)


def why_visible(
    owns: bool,
    instance_wide: bool,
    grant: tuple[uuid.UUID | None, datetime] | None,
    names: Mapping[uuid.UUID, str],
) -> tuple[str | None, datetime | None]:
    """The one visibility rule on loaded values: (reason or None, when it was granted).

    ``grant`` is (granted_by_id, created_at) of the user's grant on the record, if any;
    ``names`` maps user ids to usernames (for "granted by X").
    """
    if owns:
        return "owner", None
    if instance_wide:
        return "instance-wide", None
    if grant is None:
        return None, None
    by, at = grant
    granter = names.get(by) if by else None
    return (f"granted by {granter}" if granter else "granted"), at


def grants_of(
    session: Session, user: Actor, entity_type: str | None = None
) -> dict[tuple[str, uuid.UUID], tuple[uuid.UUID | None, datetime]]:
    """The user's grants, read once: (entity type, record id) -> (granted by, when)."""
    stmt = select(Grant.entity_type, Grant.entity_id, Grant.granted_by_id, Grant.created_at).where(
        Grant.user_id == user.id
    )
    if entity_type is not None:
        stmt = stmt.where(Grant.entity_type == entity_type)
    return {(etype, eid): (by, at) for etype, eid, by, at in session.execute(stmt)}


def visibility_reason(session: Session, user: Actor, record: Entity) -> str | None:
    """Why user sees record ('owner', 'instance-wide', 'granted by X') or None."""
    entity_type = entity_type_of(record)
    grant = None
    if record.owner_id != user.id and not record.instance_wide:
        row = session.execute(
            select(Grant.granted_by_id, Grant.created_at).where(
                Grant.entity_type == entity_type,
                Grant.entity_id == record.id,
                Grant.user_id == user.id,
            )
        ).first()
        grant = (row.granted_by_id, row.created_at) if row else None
    names = (
        dict(session.execute(select(User.id, User.username).where(User.id == grant[0])).all())
        if grant and grant[0]
        else {}
    )
    return why_visible(record.owner_id == user.id, record.instance_wide, grant, names)[0]


def can_see(session: Session, user: Actor, record: Entity) -> bool:
    """True if user sees record under the visibility rule (owner, instance-wide, grant)."""
    return visibility_reason(session, user, record) is not None


def can_manage(user: Actor, record: Entity) -> bool:
    """Admins manage every record; members only what they own and is not instance-wide."""
    if not user.active:
        return False
    if user.is_admin:
        return True
    return record.owner_id == user.id and not record.instance_wide


def require_manage(user: Actor, record: Entity) -> None:
    """Raise PermissionDeniedError unless user may change record."""
    if not can_manage(user, record):
        what = entity_type_of(record)
        if record.instance_wide and not user.is_admin:
            raise PermissionDeniedError(
                f"Only admins can change the instance-wide {what} '{record.name}'."
            )
        raise PermissionDeniedError(f"You can only change a {what} you own.")


def require_admin(user: Actor, action: str) -> None:
    """Raise PermissionDeniedError unless user is an active admin."""
    if not user.is_admin:
        raise PermissionDeniedError(f"Only admins can {action}.")


def load_entity(session: Session, entity_type: str, entity_id: uuid.UUID, *, user: Actor) -> Entity:
    """A provider or model by type and id that user can see or manage, else NotFoundError.

    A record the user may neither see nor manage is "No such ...", as a missing one is: an
    id alone (from a tampered session or a stale link) reveals nothing of it.
    """
    cls = ENTITY_CLASSES.get(entity_type)
    if cls is None:
        raise NotFoundError(f"Unknown record type {entity_type!r}.")
    record = cast(Entity | None, session.get(cls, entity_id))  # one of the two classes
    if record is None or not (can_manage(user, record) or can_see(session, user, record)):
        raise NotFoundError(f"No such {entity_type}.")
    return record


def grant(session: Session, *, actor: Actor, record: Entity, user: User) -> Grant:
    """Let user see record (admins only); granting twice is a no-op."""
    require_admin(actor, "share records")
    if not user.active:
        raise IntegrityError(f"{user.username} is deactivated; activate the account first.")
    entity_type = entity_type_of(record)
    existing = session.scalar(
        select(Grant).where(
            Grant.entity_type == entity_type, Grant.entity_id == record.id, Grant.user_id == user.id
        )
    )
    if existing is not None:
        return existing
    row = Grant(
        id=uuid.uuid4(),
        entity_type=entity_type,
        entity_id=record.id,
        user_id=user.id,
        granted_by_id=actor.id,
    )
    session.add(row)
    audit.record(
        session,
        actor=actor,
        action=f"{entity_type}.grant",
        record=record,
        after={"user": user.username},
    )
    return row


def revoke(session: Session, *, actor: Actor, record: Entity, user: User) -> bool:
    """Remove user's grant on record (admins only); True if there was one."""
    require_admin(actor, "change sharing")
    entity_type = entity_type_of(record)
    row = session.scalar(
        select(Grant).where(
            Grant.entity_type == entity_type, Grant.entity_id == record.id, Grant.user_id == user.id
        )
    )
    if row is None:
        return False
    session.delete(row)
    audit.record(
        session,
        actor=actor,
        action=f"{entity_type}.revoke",
        record=record,
        before={"user": user.username},
    )
    return True


def grantees(session: Session, record: Entity) -> list[User]:
    """Users holding a grant on record, by username."""
    return list(
        session.scalars(
            select(User)
            .join(Grant, Grant.user_id == User.id)
            .where(Grant.entity_type == entity_type_of(record), Grant.entity_id == record.id)
            .order_by(User.username_key)
        )
    )


def delete_grants(session: Session, record: Entity) -> None:
    """Drop every grant on a record that is being deleted."""
    for row in session.scalars(
        select(Grant).where(
            Grant.entity_type == entity_type_of(record), Grant.entity_id == record.id
        )
    ):
        session.delete(row)


# --- Who can see what, in bulk (the Access page) ------------------------------------------
# The same rules as visibility_reason, computed with a few queries for a whole record or a
# whole user instead of one query per pair; tests check that both always agree.


@dataclass(frozen=True)
class Sight:
    """One user seeing one record, and why (``reason`` as visibility_reason says it)."""

    user_id: uuid.UUID
    username: str
    entity_type: EntityType
    record_id: uuid.UUID
    record_name: str
    reason: str
    provider_name: str | None = None  # the provider of a model
    granted_at: datetime | None = None


@dataclass(frozen=True)
class RecordRef:
    """A provider or model as a chooser lists it (no secrets, no decryption)."""

    entity_type: EntityType
    id: uuid.UUID
    name: str
    owner: str
    instance_wide: bool
    provider_name: str | None = None


def _usernames(session: Session) -> dict[uuid.UUID, str]:
    return dict(session.execute(select(User.id, User.username)).all())


def record_audience(session: Session, record: Entity) -> list[Sight]:
    """Every user who can see record and why: the owner first, then by username."""
    entity_type = entity_type_of(record)
    provider_name = None
    if isinstance(record, ModelRecord):
        provider_name = session.scalar(
            select(Provider.name).where(Provider.id == record.provider_id)
        )
    grants = {
        user_id: (by, at)
        for user_id, by, at in session.execute(
            select(Grant.user_id, Grant.granted_by_id, Grant.created_at).where(
                Grant.entity_type == entity_type, Grant.entity_id == record.id
            )
        )
    }
    people = session.execute(select(User.id, User.username).order_by(User.username_key)).all()
    names = dict(people)
    sights = []
    for user_id, username in people:
        reason, granted_at = why_visible(
            user_id == record.owner_id, record.instance_wide, grants.get(user_id), names
        )
        if reason is None:
            continue
        sights.append(
            Sight(
                user_id=user_id,
                username=username,
                entity_type=entity_type,
                record_id=record.id,
                record_name=record.name,
                reason=reason,
                provider_name=provider_name,
                granted_at=granted_at,
            )
        )
    sights.sort(key=lambda x: x.reason != "owner")  # stable: the rest stay by username
    return sights


def user_reach(session: Session, user: Actor) -> list[Sight]:
    """Every provider (by priority) and then model (by provider, name) user sees, and why."""
    grants = grants_of(session, user)
    names = _usernames(session) if grants else {}
    # "owns" is computed by the database: converting every owner id back into a UUID
    # costs more than the query itself with thousands of rows.
    provider_rows = [
        (*row, None)
        for row in session.execute(
            select(Provider.id, Provider.name, Provider.owner_id == user.id, Provider.instance_wide)
            .where(visible_clause(Provider, user))
            .order_by(Provider.priority, Provider.name_key, Provider.id)
        )
    ]
    model_rows = session.execute(
        select(
            ModelRecord.id,
            ModelRecord.name,
            ModelRecord.owner_id == user.id,
            ModelRecord.instance_wide,
            Provider.name,
        )
        .join(Provider, Provider.id == ModelRecord.provider_id)
        .where(visible_clause(ModelRecord, user))
        .order_by(Provider.priority, Provider.name_key, ModelRecord.name, ModelRecord.id)
    ).all()
    sights = []
    entity_type: EntityType
    for entity_type, rows in (("provider", provider_rows), ("model", model_rows)):
        for record_id, name, owns, wide, provider_name in rows:
            reason, granted_at = why_visible(
                bool(owns), wide, grants.get((entity_type, record_id)), names
            )
            if reason is None:  # a grant made between the two reads
                continue
            sights.append(
                Sight(
                    user_id=user.id,
                    username=user.username,
                    entity_type=entity_type,
                    record_id=record_id,
                    record_name=name,
                    reason=reason,
                    provider_name=provider_name,
                    granted_at=granted_at,
                )
            )
    return sights


def record_choices(session: Session) -> list[RecordRef]:
    """Every provider (by priority) and model (by provider, name), for a chooser."""
    refs = [
        RecordRef("provider", pid, name, owner, wide)
        for pid, name, owner, wide in session.execute(
            select(Provider.id, Provider.name, User.username, Provider.instance_wide)
            .join(User, User.id == Provider.owner_id)
            .order_by(Provider.priority, Provider.name_key, Provider.id)
        )
    ]
    refs += [
        RecordRef("model", mid, name, owner, wide, provider_name)
        for mid, name, owner, wide, provider_name in session.execute(
            select(
                ModelRecord.id,
                ModelRecord.name,
                User.username,
                ModelRecord.instance_wide,
                Provider.name,
            )
            .join(Provider, Provider.id == ModelRecord.provider_id)
            .join(User, User.id == ModelRecord.owner_id)
            .order_by(Provider.priority, Provider.name_key, ModelRecord.name, ModelRecord.id)
        )
    ]
    return refs
