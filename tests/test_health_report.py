"""The Overview's reading of stored health: providers grouped by status, worst first, and
the last failed checks, newest first (pure functions over the Health page's rows)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from core.probes import health_report
from core.probes.health_report import HealthRow

AT = datetime(2026, 12, 15, 12, 0, tzinfo=UTC)


def row(name: str, status: str, failed_hour: int | None = None) -> HealthRow:
    return HealthRow(
        provider_key=uuid.uuid4(),
        name=name,
        provider_type="openai",
        type_label="OpenAI",
        source="database",
        status=status,
        checked_at=AT,
        latency_ms=None,
        reason=None,
        uptime_24h=None,
        uptime_7d=None,
        checks_24h=0,
        consecutive_failures=0,
        last_failure_at=None if failed_hour is None else AT.replace(hour=failed_hour),
        last_failure_reason=None if failed_hour is None else f"{name} failed",
    )


def test_providers_by_status_worst_first_names_sorted() -> None:
    rows = [
        row("b", "healthy"),
        row("z", "unreachable"),
        row("a", "healthy"),
        row("d", "degraded"),
        row("n", "unknown"),
        row("u", "unauthorized"),
        row("y", "unreachable"),
    ]
    grouped = health_report.by_status(rows)
    assert list(grouped) == ["unreachable", "unauthorized", "degraded", "unknown", "healthy"]
    assert [r.name for r in grouped["unreachable"]] == ["y", "z"]
    assert [r.name for r in grouped["healthy"]] == ["a", "b"]
    alone = row("a", "healthy")
    assert health_report.by_status([alone]) == {"healthy": [alone]}
    assert health_report.by_status([]) == {}


def test_last_failures_newest_first_and_limited() -> None:
    rows = [row("old", "healthy", 3), row("never", "healthy"), row("new", "degraded", 11)]
    rows.append(row("mid", "unreachable", 7))
    assert [r.name for r in health_report.last_failures(rows)] == ["new", "mid", "old"]
    assert [r.name for r in health_report.last_failures(rows, limit=2)] == ["new", "mid"]
    assert health_report.last_failures([row("never", "healthy")]) == []
