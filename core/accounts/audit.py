"""Audit events: who changed what and when, with secrets replaced by a description.

An event is written in the caller's transaction, so it exists exactly when the change does.
Snapshots are plain JSON of non-secret fields; a secret field appears only as
"set (…last4)", "changed (…last4)" or "removed" for the API key, and as the list of changed
keys for an encrypted config (its values may be secrets).

Reading: ``list_events`` filters the log (newest first), ``events_csv`` exports it, and
``describe_snapshot`` renders a snapshot for people.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.accounts.viewer import Actor
from core.store.tables import AuditEvent, User

SYSTEM_ACTOR = "system"


def last4(secret: str | None) -> str:
    """'…abcd' for a secret (fewer characters for very short ones, never all of it)."""
    if not secret:
        return ""
    shown = 4 if len(secret) >= 12 else max(0, min(4, len(secret) // 3))
    return "…" + secret[-shown:] if shown else "…"


def describe_key_change(old: str | None, new: str | None) -> str | None:
    """Audit text for an API key change, or None if unchanged."""
    if old == new:
        return None
    if new is None:
        return "removed"
    return f"{'changed' if old else 'set'} ({last4(new)})"


def describe_config_change(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    """Audit text naming the config keys that changed (never their values)."""
    removed = sorted(k for k in old if k not in new)
    keys = sorted(k for k in new if old.get(k) != new.get(k) or k not in old)
    if not keys and not removed:
        return None
    parts = [f"keys: {', '.join(keys)}"] if keys else []
    if removed:
        parts.append(f"removed: {', '.join(removed)}")
    return f"{'changed' if old else 'set'} ({'; '.join(parts)})"


def record(
    session: Session,
    *,
    actor: Actor | None,
    action: str,
    record: Any = None,
    entity_type: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    label: str | None = None,
) -> AuditEvent:
    """Add an audit event to the session (the caller's transaction)."""
    if entity_type is None:
        entity_type = action.split(".", 1)[0]
    event = AuditEvent(
        id=uuid.uuid4(),
        actor_id=actor.id if actor else None,
        actor_label=actor.username if actor else SYSTEM_ACTOR,
        action=action,
        entity_type=entity_type,
        entity_id=getattr(record, "id", None),
        entity_label=(
            label or getattr(record, "name", None) or getattr(record, "username", None) or ""
        )[:200],
        before=before,
        after=after,
    )
    session.add(event)
    return event


def diff(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the fields that changed, as (before, after)."""
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


# --- Reading the log ---------------------------------------------------------------------

EVENTS_LIMIT = 500
EXPORT_LIMIT = 50_000  # one CSV download; narrower filters export older events
CSV_COLUMNS = ("time_utc", "actor", "action", "entity_type", "entity", "before", "after")
# A spreadsheet runs a cell that starts with one of these as a formula; record names are
# typed by users, so such cells are quoted (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class AuditedRecord:
    """A record that appears in the log (it may have been deleted since), for filters."""

    entity_type: str
    entity_id: uuid.UUID
    label: str


def list_events(
    session: Session,
    *,
    actor: User | str | None = None,
    entity_id: uuid.UUID | None = None,
    action: str | None = None,
    action_prefix: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = EVENTS_LIMIT,
) -> list[AuditEvent]:
    """Events matching every given filter, newest first (since inclusive, until exclusive).

    ``actor`` is a User, or SYSTEM_ACTOR for changes made by no user (CLI, bootstrap).
    """
    stmt = select(AuditEvent)
    if isinstance(actor, User):
        stmt = stmt.where(AuditEvent.actor_id == actor.id)
    elif actor == SYSTEM_ACTOR:
        stmt = stmt.where(AuditEvent.actor_id.is_(None))
    elif actor is not None:
        stmt = stmt.where(AuditEvent.actor_label == actor)
    if entity_id is not None:
        stmt = stmt.where(AuditEvent.entity_id == entity_id)
    if action is not None:
        stmt = stmt.where(AuditEvent.action == action)
    if action_prefix:
        stmt = stmt.where(AuditEvent.action.startswith(action_prefix, autoescape=True))
    if since is not None:
        stmt = stmt.where(AuditEvent.at >= since)
    if until is not None:
        stmt = stmt.where(AuditEvent.at < until)
    stmt = stmt.order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(max(0, limit))
    return list(session.scalars(stmt))


def audited_records(session: Session) -> list[AuditedRecord]:
    """Every record the log mentions, with its most recent label, by type then label."""
    rows = session.execute(
        select(
            AuditEvent.entity_type,
            AuditEvent.entity_id,
            AuditEvent.entity_label,
            func.max(AuditEvent.at),
        )
        .where(AuditEvent.entity_id.is_not(None))
        .group_by(AuditEvent.entity_type, AuditEvent.entity_id, AuditEvent.entity_label)
    ).all()
    newest: dict[uuid.UUID, tuple[datetime, AuditedRecord]] = {}
    for entity_type, entity_id, label, at in rows:
        if entity_id is None:  # left out by the query
            continue
        if entity_id not in newest or at > newest[entity_id][0]:
            newest[entity_id] = (at, AuditedRecord(entity_type, entity_id, label))
    return sorted(
        (r for _, r in newest.values()),
        key=lambda r: (r.entity_type, r.label.casefold(), str(r.entity_id)),
    )


def audited_actions(session: Session) -> list[str]:
    """Filter choices for actions: a 'type.*' family per record type, then every action."""
    actions = sorted(session.scalars(select(AuditEvent.action).distinct()))
    families = sorted({f"{a.split('.', 1)[0]}.*" for a in actions if "." in a})
    return families + actions


def describe_snapshot(snapshot: dict[str, Any] | None) -> str:
    """A before/after snapshot as one readable line: 'role: admin · active: yes'."""
    if not snapshot:
        return ""
    return " · ".join(f"{key}: {_readable(value)}" for key, value in snapshot.items())


def _readable(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return str(value)


def csv_cell(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_START) else text


def _json(snapshot: dict[str, Any] | None) -> str:
    return (
        ""
        if snapshot is None
        else json.dumps(snapshot, ensure_ascii=False, sort_keys=True, default=str)
    )


def events_csv(events: list[AuditEvent]) -> str:
    """The events as CSV: UTC ISO time, actor, action, entity type, entity, before, after."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for e in events:
        writer.writerow(
            [
                e.at.astimezone(UTC).isoformat(),
                csv_cell(e.actor_label),
                e.action,
                e.entity_type,
                csv_cell(e.entity_label),
                _json(e.before),
                _json(e.after),
            ]
        )
    return out.getvalue()
