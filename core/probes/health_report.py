"""Reading stored health for pages and charts: the overview grid and one provider's history.

Only stored results are read (a page never waits on a provider), with a fixed number of
grouped queries whatever the number of providers. Uptime is the share of checks with a
known result that found the provider up (healthy or degraded).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from core.accounts.viewer import Actor
from core.records.system_providers import all_available_providers
from core.store.tables import HealthCheck, HealthState, utcnow
from core.vocabulary import UP

HISTORY_LIMIT = 5000  # points in one chart (7 days of 2-minute checks)


@dataclass(frozen=True)
class HealthRow:
    """One provider on the Health page (stored or system)."""

    provider_key: uuid.UUID
    name: str
    provider_type: str
    type_label: str
    source: str  # 'database' or 'system'
    status: str  # healthy / degraded / unauthorized / unreachable / unknown
    checked_at: datetime | None  # "as of"
    latency_ms: float | None
    reason: str | None  # what the last check said
    uptime_24h: float | None  # 0..1, None without checks in the window
    uptime_7d: float | None
    checks_24h: int
    consecutive_failures: int
    last_failure_at: datetime | None
    last_failure_reason: str | None


@dataclass(frozen=True)
class HealthPoint:
    """One stored check, for a chart."""

    checked_at: datetime
    status: str
    latency_ms: float | None
    reason: str | None


def current_states(
    session: Session, *, provider_keys: Iterable[uuid.UUID]
) -> dict[uuid.UUID, HealthState]:
    """The stored health state of these providers (one query), by provider key."""
    keys = list(provider_keys)
    if not keys:
        return {}
    return {
        s.provider_key: s
        for s in session.scalars(select(HealthState).where(HealthState.provider_key.in_(keys)))
    }


def _uptimes(
    session: Session, keys: list[uuid.UUID], now: datetime
) -> dict[uuid.UUID, tuple[int, int, int, int]]:
    """(known checks 24 h, up 24 h, known checks 7 d, up 7 d) per provider, in one query."""
    day, week = now - timedelta(days=1), now - timedelta(days=7)
    known = HealthCheck.status != "unknown"
    up = HealthCheck.status.in_(UP)
    recent = HealthCheck.checked_at >= day

    def count(condition: Any) -> Any:
        return func.sum(case((condition, 1), else_=0))

    stmt = (
        select(
            HealthCheck.provider_key,
            count(recent & known),
            count(recent & up),
            count(known),
            count(up),
        )
        .where(HealthCheck.provider_key.in_(keys), HealthCheck.checked_at >= week)
        .group_by(HealthCheck.provider_key)
    )
    return {
        key: (int(n24 or 0), int(up24 or 0), int(n7 or 0), int(up7 or 0))
        for key, n24, up24, n7, up7 in session.execute(stmt)
    }


def _share(up: int, known: int) -> float | None:
    return up / known if known else None


def health_overview(
    session: Session, *, user: Actor, settings: Any, now: datetime | None = None
) -> list[HealthRow]:
    """Every active provider the user sees (system ones included), with its stored health."""
    now = now or utcnow()
    views = [
        v
        for v in all_available_providers(session, user=user, settings=settings)
        if v.status == "active"
    ]
    keys = [v.id for v in views]
    states = current_states(session, provider_keys=keys)
    uptimes = _uptimes(session, keys, now) if keys else {}
    rows = []
    for view in views:
        state = states.get(view.id)
        n24, up24, n7, up7 = uptimes.get(view.id, (0, 0, 0, 0))
        rows.append(
            HealthRow(
                provider_key=view.id,
                name=view.name,
                provider_type=view.provider_type,
                type_label=view.type_label,
                source=view.source,
                status=state.status if state else view.health_status,
                checked_at=state.last_checked_at if state else view.last_health_check_at,
                latency_ms=state.last_latency_ms if state else None,
                reason=state.last_reason if state else None,
                uptime_24h=_share(up24, n24),
                uptime_7d=_share(up7, n7),
                checks_24h=n24,
                consecutive_failures=state.consecutive_failures if state else 0,
                last_failure_at=state.last_failure_at if state else None,
                last_failure_reason=state.last_failure_reason if state else None,
            )
        )
    return rows


def provider_history(
    session: Session, *, provider_key: uuid.UUID | str, since: datetime
) -> list[HealthPoint]:
    """One provider's checks since a time, oldest first (the newest HISTORY_LIMIT)."""
    key = provider_key if isinstance(provider_key, uuid.UUID) else uuid.UUID(str(provider_key))
    rows = session.execute(
        select(
            HealthCheck.checked_at, HealthCheck.status, HealthCheck.latency_ms, HealthCheck.reason
        )
        .where(HealthCheck.provider_key == key, HealthCheck.checked_at >= since)
        .order_by(HealthCheck.checked_at.desc())
        .limit(HISTORY_LIMIT)
    ).all()
    return [HealthPoint(*row) for row in reversed(rows)]


SEVERITY = ("unreachable", "unauthorized", "degraded", "unknown", "healthy")


def by_status(rows: Iterable[HealthRow]) -> dict[str, list[HealthRow]]:
    """The providers grouped by status, the worst status first (only statuses some provider
    has), each group by name (the Overview's health summary)."""
    grouped: dict[str, list[HealthRow]] = {}
    for found in sorted(rows, key=lambda r: (r.name.casefold(), r.name)):
        grouped.setdefault(found.status, []).append(found)
    rank = {status: i for i, status in enumerate(SEVERITY)}
    return dict(sorted(grouped.items(), key=lambda item: rank.get(item[0], len(SEVERITY))))


def last_failures(rows: Iterable[HealthRow], limit: int = 5) -> list[HealthRow]:
    """The providers whose checks have failed, the most recent failure first: each one's
    last failed check (when and why), at most limit of them."""
    failed = [r for r in rows if r.last_failure_at is not None]
    failed.sort(key=lambda r: r.last_failure_at or datetime.min, reverse=True)
    return failed[: max(0, limit)]
