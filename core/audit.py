"""Audit events: who changed what and when, with secrets replaced by a description.

An event is written in the caller's transaction, so it exists exactly when the change does.
Snapshots are plain JSON of non-secret fields; a secret field appears only as
"set (…last4)", "changed (…last4)" or "removed" for the API key, and as the list of changed
keys for an encrypted config (its values may be secrets).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from core.models import AuditEvent, User

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
    keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k) or
                  (k in old) != (k in new))
    if not keys:
        return None
    return f"{'changed' if old else 'set'} (keys: {', '.join(keys)})"


def record(session: Session, *, actor: User | None, action: str, record: Any = None,
           entity_type: str | None = None, before: dict[str, Any] | None = None,
           after: dict[str, Any] | None = None, label: str | None = None) -> AuditEvent:
    """Add an audit event to the session (the caller's transaction)."""
    if entity_type is None:
        entity_type = action.split(".", 1)[0]
    event = AuditEvent(
        id=uuid.uuid4(), actor_id=actor.id if actor else None,
        actor_label=actor.username if actor else SYSTEM_ACTOR, action=action,
        entity_type=entity_type, entity_id=getattr(record, "id", None),
        entity_label=(label or getattr(record, "name", None) or
                      getattr(record, "username", None) or "")[:200],
        before=before, after=after)
    session.add(event)
    return event


def diff(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the fields that changed, as (before, after)."""
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}
