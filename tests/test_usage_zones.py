"""The rollups' timezone (core.usage.zones) on SQLite and PostgreSQL: recorded at the first
ingest, kept by later ingest after MODELDESK_TIMEZONE changed (with a warning, never mixed),
and `rebuild-rollups`: every event's day again, the rollups from the raw events, audited."""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from core.accounts import users
from core.errors import PermissionDeniedError
from core.startup import open_runtime
from core.store.tables import AuditEvent, User
from core.store.usage_tables import UsageDaily, UsageEvent
from core.usage import summary, zones
from core.usage.inputs import UsageInput
from core.usage.ledger import record_usage
from tests.test_usage_import import run, seeded, write  # noqa: F401 (fixtures)

T0 = datetime(2026, 5, 1, tzinfo=UTC)
TOKYO = "Asia/Tokyo"


def reports() -> list[UsageInput]:
    """60 events every 5 hours from May 1 (UTC), priced and unpriced, tagged, some users',
    some with a source cost: many cross midnight in Tokyo (UTC+9)."""
    found = []
    for n in range(60):
        found.append(
            UsageInput(
                timestamp=T0 + timedelta(hours=5 * n, minutes=n),
                provider="OpenAI",
                model="gpt-4o" if n % 3 else "house-model",
                input_tokens=1000 + n,
                output_tokens=100 + n,
                cached_input_tokens=n,
                user="alice" if n % 2 else None,
                tags={"team": ("search", "ads")[n % 2]} if n % 4 else {},
                idempotency_key=f"zone-{n}",
                source_cost_usd=Decimal("0.001") * n if n % 5 == 0 else None,
            )
        )
    return found


def record(runtime, events, timezone: str) -> None:
    with runtime.sessions.begin() as s:
        record_usage(s, events=events, timezone=timezone, now=datetime(2026, 6, 1, tzinfo=UTC))


def admin(s) -> User:
    return users.get_by_username(s, "alice")


def by(runtime, grouping: str) -> dict[tuple, dict]:
    with runtime.sessions() as s:
        groups = summary.summarize(
            s, date_from=date(2026, 4, 1), date_to=date(2026, 7, 1), by=grouping
        )
    return {tuple(g.labels.values()): g.totals.as_dict() for g in groups}


def expected_by_day(zone: str) -> dict[tuple, tuple]:
    """Requests, input tokens and source cost per day of ``zone``, from the reports."""
    found: dict[tuple, tuple] = {}
    for r in reports():
        key = (r.timestamp.astimezone(ZoneInfo(zone)).date().isoformat(),)
        requests, tokens, source = found.get(key, (0, 0, Decimal(0)))
        found[key] = (requests + 1, tokens + r.input_tokens, source + (r.source_cost_usd or 0))
    return found


def test_the_first_ingest_records_the_configured_zone(seeded):  # noqa: F811
    with seeded.sessions() as s:
        assert zones.rollup_zone(s) is None
    record(seeded, reports()[:1], "Europe/Paris")
    with seeded.sessions() as s:
        assert zones.rollup_zone(s) == "Europe/Paris"
        assert zones.mismatch(s, "Europe/Paris") is None


def test_after_a_zone_change_ingest_keeps_the_rollups_zone_and_says_so(seeded):  # noqa: F811
    record(seeded, reports()[:1], "UTC")
    late = UsageInput(
        timestamp=datetime(2026, 5, 1, 20, 0, tzinfo=UTC),  # May 2, 05:00 in Tokyo
        provider="OpenAI",
        model="gpt-4o",
        input_tokens=1,
        output_tokens=1,
        idempotency_key="late",
    )
    record(seeded, [late], TOKYO)
    with seeded.sessions() as s:
        event = s.scalar(select(UsageEvent).where(UsageEvent.idempotency_key == "late"))
        assert event.day == date(2026, 5, 1)  # the rollups' UTC day, not mixed in
        note = zones.mismatch(s, TOKYO)
    assert "UTC days" in note and "MODELDESK_TIMEZONE is Asia/Tokyo" in note
    assert "modeldesk usage rebuild-rollups" in note


def test_a_rebuild_moves_the_days_and_rebuilds_the_rollups_from_the_events(seeded):  # noqa: F811
    record(seeded, reports(), "UTC")
    before = by(seeded, "provider")
    assert {k: v[:2] for k, v in _day_view(seeded).items()} == {
        k: v[:2] for k, v in expected_by_day("UTC").items()
    }
    with seeded.sessions.begin() as s:
        result = zones.rebuild(s, actor=admin(s), timezone=TOKYO)
    moved = sum(
        1 for r in reports() if r.timestamp.astimezone(ZoneInfo(TOKYO)).date() != r.timestamp.date()
    )
    assert (result.old_zone, result.new_zone, result.events, result.moved) == (
        "UTC",
        TOKYO,
        60,
        moved,
    )
    assert moved > 20
    assert _day_view(seeded) == expected_by_day(TOKYO)
    assert by(seeded, "provider") == before  # the same usage, only in other days
    with seeded.sessions() as s:
        assert zones.rollup_zone(s) == TOKYO and zones.mismatch(s, TOKYO) is None
        for event in s.scalars(select(UsageEvent)):
            assert event.day == event.occurred_at.astimezone(ZoneInfo(TOKYO)).date()
        (audited,) = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "usage.rebuild_rollups")
        )
        assert audited.actor_label == "alice"
    tags = by(seeded, "tag:team")
    assert sum(v["requests"] for v in tags.values()) == 60
    assert tags[("search",)]["requests"] == sum(
        1 for r in reports() if r.tags.get("team") == "search"
    )
    record(seeded, reports(), TOKYO)  # a re-import after the rebuild stores nothing new
    assert _day_view(seeded) == expected_by_day(TOKYO)


def test_a_rebuild_is_for_admins_and_stores_nothing_otherwise(seeded):  # noqa: F811
    record(seeded, reports()[:5], "UTC")
    with seeded.sessions.begin() as s:
        member = users.create_user(s, username="bob", password="correct-horse-42", role="member")
    with pytest.raises(PermissionDeniedError):
        with seeded.sessions.begin() as s:
            zones.rebuild(s, actor=s.get(User, member.id), timezone=TOKYO)
    with seeded.sessions() as s:
        assert zones.rollup_zone(s) == "UTC"
        assert {r.day for r in s.scalars(select(UsageDaily))} == {date(2026, 5, 1)}


def test_the_commands_warn_until_rebuilt(run, tmp_path, seeded, monkeypatch):  # noqa: F811
    record(seeded, reports(), "UTC")
    monkeypatch.setenv("MODELDESK_TIMEZONE", TOKYO)
    args = ("usage", "summary", "--from", "2026-04-01", "--to", "2026-07-01", "--format", "json")
    code, out, err = run(*args)
    assert code == 0 and err.startswith("modeldesk: warning: usage days are UTC days")
    assert '"timezone": "UTC"' in out  # the days shown are UTC days, and say so
    late = (
        "timestamp,provider,model,input_tokens,output_tokens\n"
        "2026-05-01T20:00:00Z,OpenAI,gpt-4o,1,1\n"
    )
    code, out, err = run("usage", "import", write(tmp_path, "late.csv", late))
    assert code == 0 and "1 stored" in out and "rebuild-rollups" in err
    code, out, err = run("usage", "rebuild-rollups")
    assert (code, err) == (0, "")
    assert out.startswith(
        "Done: rebuilt the usage rollups in Asia/Tokyo (were UTC) from 61 event(s)"
    )
    code, out, err = run(*args)
    assert (code, err) == (0, "") and '"timezone": "Asia/Tokyo"' in out


def _day_view(runtime) -> dict[tuple, tuple]:
    return {
        k: (v["requests"], v["input_tokens"], v["source_cost_usd"])
        for k, v in by(runtime, "day").items()
    }


def test_the_runtime_warns_at_start(seeded, caplog):  # noqa: F811
    record(seeded, reports()[:1], "UTC")
    caplog.set_level(logging.WARNING)
    tokyo = dataclasses.replace(seeded.settings, timezone=TOKYO)
    open_runtime(tokyo, migrate=False, bootstrap=False).dispose()
    assert "MODELDESK_TIMEZONE is Asia/Tokyo" in caplog.text and "rebuild-rollups" in caplog.text
    caplog.clear()
    open_runtime(seeded.settings, migrate=False, bootstrap=False).dispose()
    assert "rebuild-rollups" not in caplog.text
