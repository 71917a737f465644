"""A page of raw usage events for a drill-down: keyset pagination, never a COUNT.

Events are ordered by (occurred_at, id); the next page starts after the last row's key, so
page 1,000 costs what page 1 costs (an OFFSET would read and skip every earlier row).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import false, or_, select, tuple_
from sqlalchemy.orm import Session

from core.accounts.access import visible_clause
from core.accounts.viewer import Actor
from core.errors import PermissionDeniedError, ValidationError
from core.store.tables import Provider
from core.store.usage_tables import UsageEvent

PAGE_MAX = 500
Key = tuple[datetime, uuid.UUID]  # (occurred_at, id) of the last row of the previous page


def key_of(event: UsageEvent) -> Key:
    """The keyset key of an event: pass the last row's key as ``after`` for the next page."""
    return (event.occurred_at, event.id)


def page(
    session: Session,
    *,
    date_from: date,
    date_to: date,
    provider: str | None = None,
    model: str | None = None,
    user: str | None = None,
    tag: tuple[str, str] | None = None,
    after: Key | None = None,
    limit: int = 50,
    viewer: Actor | None = None,
) -> list[UsageEvent]:
    """Events of rollup days in [date_from, date_to) matching the filter (provider name,
    model id, username, a tag key=value), ordered by (occurred_at, id), after ``after``;
    only those viewer may see (``summary.visible_usage``'s rule; no viewer: all)."""
    if not 1 <= limit <= PAGE_MAX:
        raise ValidationError(f"A page holds 1 to {PAGE_MAX} events, not {limit}.", field="limit")
    member = viewer is not None and not viewer.is_admin
    if member and tag is not None:
        raise PermissionDeniedError("Tag totals add up everyone's usage; only admins see them.")
    query = select(UsageEvent).where(
        UsageEvent.day >= date_from,
        UsageEvent.day < date_to,
        # Implied by the days whatever the timezone they were computed in (UTC-12 to UTC+14),
        # so the answer is the same, but the occurred_at index can then start at the period
        # instead of sorting all its events (measured: 9 ms → 0.6 ms at a million events).
        UsageEvent.occurred_at >= datetime.combine(date_from, time(), UTC) - timedelta(hours=14),
        UsageEvent.occurred_at < datetime.combine(date_to, time(), UTC) + timedelta(hours=12),
    )
    if member:
        assert viewer is not None
        if not viewer.active:
            query = query.where(false())
        seen = select(Provider.id).where(visible_clause(Provider, viewer))
        query = query.where(
            or_(UsageEvent.username == viewer.username, UsageEvent.provider_id.in_(seen))
        )
    if provider is not None:
        query = query.where(UsageEvent.provider_name == provider)
    if model is not None:
        query = query.where(UsageEvent.model_id == model)
    if user is not None:
        query = query.where(UsageEvent.username == user)
    if tag is not None:
        query = query.where(UsageEvent.tags[tag[0]].as_string() == tag[1])
    if after is not None:
        query = query.where(tuple_(UsageEvent.occurred_at, UsageEvent.id) > tuple_(*after))
    order = (UsageEvent.occurred_at, UsageEvent.id)
    return list(session.scalars(query.order_by(*order).limit(limit)))
