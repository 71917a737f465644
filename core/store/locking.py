"""What providers and models share: scope labels, optimistic locking, safe flushes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Protocol, TypeVar

from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from core.errors import ConflictError, IntegrityError, NotFoundError
from core.store.tables import ModelRecord, Provider, User

Record = Provider | ModelRecord
RecordT = TypeVar("RecordT", Provider, ModelRecord)


def load_record(session: Session, cls: type[RecordT], record_id: object, what: str) -> RecordT:
    """A provider or model by id (no visibility check: callers check access), or
    NotFoundError naming what it is."""
    try:
        rid = record_id if isinstance(record_id, uuid.UUID) else uuid.UUID(str(record_id))
    except ValueError:
        raise NotFoundError(f"No such {what}.") from None
    record = session.get(cls, rid)
    if record is None:
        raise NotFoundError(f"No such {what} (it may have been deleted).")
    return record


class Scoped(Protocol):
    """A provider or model, or a row selected with its ``instance_wide`` column."""

    instance_wide: bool


def scope_label(record: Scoped, *, shared: bool) -> str:
    """'instance', 'shared' (private with grants) or 'private'."""
    if record.instance_wide:
        return "instance"
    return "shared" if shared else "private"


def next_status(current: str, active: bool | None) -> str:
    """The status a toggle (active=None) or an explicit set leads to, for providers and models."""
    if active is None:
        return "inactive" if current == "active" else "active"
    return "active" if active else "inactive"


def _who(session: Session, record: Record) -> tuple[str, datetime]:
    user = session.get(User, record.updated_by_id) if record.updated_by_id else None
    return (user.username if user else "someone"), record.updated_at


def conflict(session: Session, record: Record) -> ConflictError:
    """The error for an edit made against an older version of record."""
    who, when = _who(session, record)
    return ConflictError(
        f"'{record.name}' was changed by {who} at {when:%Y-%m-%d %H:%M} UTC after you opened "
        "it; reload to see their change. Nothing was overwritten.",
        changed_by=who,
        changed_at=when,
    )


def check_version(session: Session, record: Record, expected_version: int | None) -> None:
    """Raise ConflictError if the caller edited an older version than the stored one."""
    if expected_version is not None and expected_version != record.version:
        raise conflict(session, record)


@contextmanager
def guarded_flush(session: Session, record: Record, duplicate_message: str) -> Iterator[None]:
    """Translate a concurrent update or a unique-constraint race into Modeldesk errors."""
    name = record.name  # read now: a failed flush rolls back and expires the record
    try:
        yield
        session.flush()
    except StaleDataError:
        raise ConflictError(
            f"'{name}' was changed or deleted by someone else while "
            "you were saving; reload. Nothing was overwritten."
        ) from None
    except sa_exc.IntegrityError:
        raise IntegrityError(duplicate_message) from None
