"""Two imports of the same events at once store and count them once (PostgreSQL blocks the
second insert on the first's uncommitted keys; SQLite serialises writers), and migration
0006 goes down and up again."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from alembic import command
from sqlalchemy import func, inspect, select

from core.accounts import users
from core.records import providers
from core.store import db
from core.store.usage_tables import UsageDaily, UsageDailyTag, UsageEvent
from core.usage.inputs import UsageInput
from core.usage.ledger import record_usage

T0 = datetime(2026, 5, 1, tzinfo=UTC)


def seed(runtime) -> None:
    with runtime.sessions.begin() as s:
        admin = users.create_user(s, username="alice", password="correct-horse-42", role="admin")
        s.flush()
        providers.create_provider(
            s,
            actor=admin,
            name="Anthropic prod",
            provider_type="anthropic",
            api_key="sk-test-000000000000",
        )


def batch(prefix: str) -> list[UsageInput]:
    return [
        UsageInput(
            timestamp=T0 + timedelta(minutes=i),
            provider="Anthropic prod",
            model="claude-sonnet-4-5",
            input_tokens=1_000 + i,
            output_tokens=10,
            tags={"team": "search"},
            idempotency_key=f"{prefix}-{i}",
        )
        for i in range(40)
    ]


def run_at_once(runtime, batches: list[list[UsageInput]]) -> list:
    start = threading.Barrier(len(batches))
    results, errors = [], []

    def worker(events: list[UsageInput]) -> None:
        try:
            start.wait(timeout=30)
            with runtime.sessions.begin() as s:
                results.append(record_usage(s, events=events))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(b,)) for b in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    return results


def test_concurrent_imports_of_the_same_events_count_them_once(runtime):
    seed(runtime)
    events = batch("evt")
    results = run_at_once(runtime, [events, events, events])
    assert sorted(r.inserted for r in results) == [0, 0, 40]
    with runtime.sessions() as s:
        assert s.scalar(select(func.count()).select_from(UsageEvent)) == 40
        assert s.scalar(select(func.sum(UsageDaily.requests))) == 40
        assert s.scalar(select(func.sum(UsageDailyTag.requests))) == 40
        assert s.scalar(select(UsageDaily.input_tokens)) == sum(e.input_tokens for e in events)


def test_concurrent_imports_into_the_same_rollup_rows_lose_no_update(runtime):
    seed(runtime)
    batches = [batch(prefix) for prefix in ("a", "b", "c")]
    results = run_at_once(runtime, batches)
    assert [r.inserted for r in results] == [40, 40, 40]
    with runtime.sessions() as s:
        (row,) = s.scalars(select(UsageDaily))
        assert row.requests == 120 and row.cost_usd == sum(r.cost_usd for r in results)
        (tag,) = s.scalars(select(UsageDailyTag))
        assert (tag.requests, tag.cost_usd) == (120, row.cost_usd)


def test_migration_0006_goes_down_and_up(db_url):
    engine = db.create_db_engine(db_url)
    try:
        config = db._alembic_config(engine)
        command.downgrade(config, "0005")
        assert not {"usage_events", "usage_daily", "usage_daily_tags"} & set(
            inspect(engine).get_table_names()
        )
        command.upgrade(config, "head")
        assert {"usage_events", "usage_daily", "usage_daily_tags"} <= set(
            inspect(engine).get_table_names()
        )
    finally:
        engine.dispose()
