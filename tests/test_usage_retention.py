"""The ledger at scale: an idempotency key holds across timestamps (the keys table), monthly
partitions on PostgreSQL made on demand, retention (prune, refusal of events before the
horizon, `modeldesk usage prune`), and migration 0009 with rows in place."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import func, inspect, select, text

from core import cli
from core.errors import ValidationError
from core.store import db, partitions
from core.store.usage_tables import UsageDaily, UsageDailyTag, UsageEvent, UsageEventKey
from core.usage import retention
from core.usage.inputs import UsageInput
from core.usage.ledger import record_usage
from tests.conftest import TEST_SECRET
from tests.test_usage_concurrency import run_at_once, seed


def event(at: datetime, key: str, **kw) -> UsageInput:
    return UsageInput(
        timestamp=at,
        provider="Anthropic prod",
        model="claude-sonnet-4-5",
        input_tokens=kw.pop("input_tokens", 1_000),
        output_tokens=10,
        tags={"team": "search"},
        idempotency_key=key,
        **kw,
    )


def count(runtime, table) -> int:
    with runtime.sessions() as s:
        return s.scalar(select(func.count()).select_from(table))


def totals(runtime) -> tuple:
    with runtime.sessions() as s:
        return (
            s.scalar(select(func.sum(UsageDaily.requests))),
            s.scalar(select(func.sum(UsageDaily.cost_usd))),
            s.scalar(select(func.sum(UsageDailyTag.requests))),
        )


def postgres(runtime) -> bool:
    return runtime.engine.dialect.name == "postgresql"


def test_an_event_resent_with_another_timestamp_is_stored_once(runtime):
    seed(runtime)
    first = datetime(2026, 5, 31, 23, 59, tzinfo=UTC)
    with runtime.sessions.begin() as s:
        assert record_usage(s, events=[event(first, "resp-1")]).inserted == 1
    with runtime.sessions.begin() as s:  # another month, so another partition
        again = record_usage(s, events=[event(first + timedelta(days=3), "resp-1")])
    assert (again.inserted, again.duplicates) == (0, 1)
    assert count(runtime, UsageEvent) == count(runtime, UsageEventKey) == 1
    assert totals(runtime)[0] == 1


def test_ingest_creates_the_partitions_of_the_months_it_touches(runtime):
    if not postgres(runtime):
        pytest.skip("SQLite keeps one table")
    seed(runtime)
    stamps = [datetime(2026, m, 15, tzinfo=UTC) for m in (1, 3, 3, 4)]
    with runtime.engine.connect() as conn:  # other tests' months (TRUNCATE keeps them)
        earlier = set(partitions.existing(conn.connection.driver_connection))
    with runtime.sessions.begin() as s:
        record_usage(s, events=[event(at, f"e{i}") for i, at in enumerate(stamps)])
    with runtime.engine.connect() as conn:
        driver = conn.connection.driver_connection
        made = partitions.existing(driver)
        months = {date(2026, 1, 1), date(2026, 3, 1), date(2026, 4, 1)}
        assert months <= set(made) and set(made) - earlier <= months
        per_partition = dict(
            conn.execute(
                text("SELECT tableoid::regclass::text, count(*) FROM usage_events GROUP BY 1")
            ).all()
        )
        assert per_partition == {
            "usage_partitions.usage_events_202601": 1,
            "usage_partitions.usage_events_202603": 2,
            "usage_partitions.usage_events_202604": 1,
        }
        assert conn.scalar(  # no DEFAULT partition catches months nobody created
            text(
                "SELECT partdefid FROM pg_partitioned_table "
                "WHERE partrelid = 'usage_events'::regclass"
            )
        ) in (0, None)
        # Creating the same months again is a no-op.
        assert partitions.ensure(driver, made) == []


def test_concurrent_first_ingests_of_a_new_month_all_succeed(runtime):
    seed(runtime)
    new_month = datetime(2026, 8, 2, tzinfo=UTC)
    batches = [
        [event(new_month + timedelta(minutes=i), f"{p}-{i}") for i in range(30)]
        for p in ("a", "b", "c", "d")
    ]
    results = run_at_once(runtime, batches)
    assert sorted(r.inserted for r in results) == [30, 30, 30, 30]
    assert count(runtime, UsageEvent) == 120 and totals(runtime)[0] == 120


# --- Retention -------------------------------------------------------------------------------

NOW = datetime(2026, 3, 20, 12, tzinfo=UTC)


def three_months(runtime) -> None:
    seed(runtime)
    stamps = [datetime(2026, m, d, 6, tzinfo=UTC) for m in (1, 2, 3) for d in (3, 20)]
    with runtime.sessions.begin() as s:
        record_usage(s, events=[event(at, f"e{i}") for i, at in enumerate(stamps)], now=NOW)


def test_prune_removes_old_raw_events_and_keeps_the_rollups(runtime):
    three_months(runtime)
    before = totals(runtime)
    # 40 days before NOW: 2026-02-08 12:00. PostgreSQL drops January (entirely before it);
    # February is kept whole until it is entirely before the horizon. SQLite deletes rows.
    dry = retention.prune(runtime.sessions, retention_days=40, now=NOW, dry_run=True)
    assert count(runtime, UsageEvent) == 6
    done = retention.prune(runtime.sessions, retention_days=40, now=NOW)
    expected = 2 if postgres(runtime) else 3
    assert (dry.events, dry.keys, dry.months) == (done.events, done.keys, done.months)
    assert (done.events, done.keys) == (expected, expected)
    assert done.months == ([date(2026, 1, 1)] if postgres(runtime) else [])
    assert count(runtime, UsageEvent) == count(runtime, UsageEventKey) == 6 - expected
    assert totals(runtime) == before  # the rollups stay
    with runtime.sessions() as s:
        oldest = s.scalar(select(func.min(UsageEvent.occurred_at)))
    assert oldest == (
        datetime(2026, 2, 3, 6, tzinfo=UTC)
        if postgres(runtime)
        else datetime(2026, 2, 20, 6, tzinfo=UTC)
    )
    again = retention.prune(runtime.sessions, retention_days=40, now=NOW)
    assert (again.events, again.keys, again.months) == (0, 0, [])
    if postgres(runtime):
        with runtime.engine.connect() as conn:
            assert date(2026, 1, 1) not in partitions.existing(conn.connection.driver_connection)


def test_prune_in_small_batches_removes_everything_before_the_horizon(runtime):
    three_months(runtime)
    # The horizon is 2026-03-19 12:00: PostgreSQL drops January and February; SQLite
    # deletes every event but 2026-03-20's, one row per transaction.
    done = retention.prune(runtime.sessions, retention_days=1, now=NOW, batch=1)
    removed = 4 if postgres(runtime) else 5
    assert (done.events, done.keys) == (removed, removed)
    assert count(runtime, UsageEvent) == count(runtime, UsageEventKey) == 6 - removed


def test_keys_an_interrupted_prune_left_behind_go_with_the_next(runtime):
    three_months(runtime)
    retention.prune(runtime.sessions, retention_days=40, now=NOW)
    with runtime.sessions.begin() as s:  # as if a prune had stopped between its two steps
        s.add(UsageEventKey(idempotency_key="stray", occurred_at=datetime(2026, 1, 9, tzinfo=UTC)))
    again = retention.prune(runtime.sessions, retention_days=40, now=NOW)
    assert (again.events, again.keys) == (0, 1)
    assert count(runtime, UsageEvent) == count(runtime, UsageEventKey)


def test_without_retention_nothing_is_pruned(runtime):
    three_months(runtime)
    result = retention.prune(runtime.sessions, retention_days=None, now=NOW)
    assert result.horizon is None and "kept forever" in result.summary()
    assert count(runtime, UsageEvent) == 6


def test_an_event_older_than_the_horizon_is_refused_with_its_reason(runtime):
    seed(runtime)
    with runtime.sessions.begin() as s, pytest.raises(ValidationError) as caught:
        record_usage(
            s,
            events=[event(NOW - timedelta(days=2), "ok"), event(NOW - timedelta(days=31), "old")],
            now=NOW,
            retention_days=30,
        )
    assert "Usage report 2" in str(caught.value) and "retention horizon" in str(caught.value)
    assert count(runtime, UsageEvent) == 0  # all or nothing
    with runtime.sessions.begin() as s:
        ok = record_usage(
            s, events=[event(NOW - timedelta(days=29), "ok")], now=NOW, retention_days=30
        )
    assert ok.inserted == 1


def test_the_prune_command_says_what_went(runtime, monkeypatch, capsys, tmp_path):
    seed(runtime)
    now = datetime.now(UTC)
    with runtime.sessions.begin() as s:
        record_usage(
            s,
            events=[
                event(now - timedelta(days=200), "old"),
                event(now - timedelta(hours=1), "new"),
            ],
        )
    for name in [n for n in os.environ if n.startswith("MODELDESK_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("MODELDESK_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("MODELDESK_ENV", "test")
    monkeypatch.setenv("MODELDESK_DATA_DIR", str(tmp_path / "cli"))
    monkeypatch.setenv("MODELDESK_DISABLE_SYSTEM_PROVIDERS", "all")
    url = ["--database-url", runtime.settings.database_url]
    assert cli.main(["usage", "prune", *url]) == 0
    assert "kept forever; nothing pruned" in capsys.readouterr().out
    monkeypatch.setenv("MODELDESK_USAGE_RETENTION_DAYS", "90")
    assert cli.main(["usage", "prune", "--dry-run", *url]) == 0
    out = capsys.readouterr().out
    assert "would remove 1 event(s)" in out and "daily rollups kept" in out
    assert count(runtime, UsageEvent) == 2
    assert cli.main(["usage", "prune", *url]) == 0
    assert "removed 1 event(s)" in capsys.readouterr().out
    assert count(runtime, UsageEvent) == 1 and totals(runtime)[0] == 2


# --- Migration 0009 with rows in place ----------------------------------------------------


def test_migration_0009_keeps_the_events_down_and_up(runtime):
    three_months(runtime)
    config = db._alembic_config(runtime.engine)
    command.downgrade(config, "0006")
    inspector = inspect(runtime.engine)
    assert "usage_event_keys" not in inspector.get_table_names()
    assert any(
        u["column_names"] == ["idempotency_key"]
        for u in inspector.get_unique_constraints("usage_events")
    )
    with runtime.engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM usage_events")) == 6
    command.upgrade(config, "head")
    assert count(runtime, UsageEvent) == count(runtime, UsageEventKey) == 6
    if postgres(runtime):
        with runtime.engine.connect() as conn:
            made = partitions.existing(conn.connection.driver_connection)
        assert sorted(made) == [date(2026, m, 1) for m in (1, 2, 3)]
    with runtime.sessions.begin() as s:  # a key from before the round trip is still known
        again = record_usage(s, events=[event(NOW - timedelta(days=1), "e0")], now=NOW)
    assert again.inserted == 0


def test_the_console_prunes_once_a_day_on_a_scheduler_lease(db_url, tmp_path):
    from core.probes.scheduler import Scheduler
    from core.startup import open_runtime
    from tests.conftest import make_settings

    rt = open_runtime(make_settings(db_url, tmp_path / "data", MODELDESK_USAGE_RETENTION_DAYS="90"))
    try:
        seed(rt)
        now = datetime.now(UTC)
        with rt.sessions.begin() as s:
            record_usage(
                s,
                events=[event(now - timedelta(days=300), "old"), event(now, "new")],
            )
        scheduler = Scheduler(
            rt,
            interval_s=retention.PRUNE_INTERVAL,
            name=retention.PRUNE_JOB,
            sweep=retention.daily_sweep(rt),
        )
        assert scheduler.run_once() is True
        assert count(rt, UsageEvent) == 1 and totals(rt)[0] == 2
        with rt.sessions.begin() as s:
            record_usage(s, events=[event(now - timedelta(days=300), "late")])
        assert scheduler.run_once() is False  # once a day
        scheduler.release()
    finally:
        rt.dispose()
