"""What made ingest and the long totals faster keeps the ledger's guarantees, on SQLite and
PostgreSQL: usage_daily_models and usage_daily_users always equal usage_daily summed by their
keys (ingest, reprice, rebuild) and serve the groupings they hold; the user and model
references that are no longer foreign keys are still cleared on delete and checked at
ingest; a pipelined batch (core.usage.pipeline) stores exactly what one statement would, or
nothing."""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from alembic import command
from sqlalchemy import func, inspect, select, text

from core.accounts import users
from core.errors import ConflictError, ValidationError
from core.records import model_records, providers
from core.store import db
from core.store.tables import ModelRecord, User
from core.store.usage_tables import (
    UsageDaily,
    UsageDailyModel,
    UsageDailyUser,
    UsageEvent,
    UsageEventKey,
)
from core.usage import ledger, pipeline, rollups, summary, zones
from core.usage.inputs import UsageInput
from core.usage.reprice import reprice

D = Decimal
T0 = datetime(2026, 5, 1, 12, tzinfo=UTC)
NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture
def seeded(runtime):
    """Admin alice, member bob, OpenAI (gpt-4o priced by its record) and Anthropic."""
    with runtime.sessions.begin() as s:
        admin = users.create_user(s, username="alice", password="correct-horse-42", role="admin")
        users.create_user(s, username="bob", password="correct-horse-42")
        s.flush()
        openai = providers.create_provider(
            s, actor=admin, name="OpenAI", provider_type="openai", api_key="sk-test-000000000000"
        )
        providers.create_provider(
            s, actor=admin, name="Anthropic", provider_type="anthropic", api_key="sk-test-0000000"
        )
        model_records.create_model(
            s,
            actor=admin,
            provider_id=openai.id,
            model_id="gpt-4o",
            name="GPT-4o",
            input_cost_per_million=D("2"),
            output_cost_per_million=D("8"),
        )
    return runtime


def reports(n: int, prefix: str = "r") -> list[UsageInput]:
    """n reports over n hours, two providers, three models, users and none, tagged."""
    models = [("OpenAI", "gpt-4o"), ("OpenAI", "gpt-4o-mini"), ("Anthropic", "claude-haiku-4-5")]
    return [
        UsageInput(
            timestamp=T0 + timedelta(hours=7 * i),
            provider=models[i % 3][0],
            model=models[i % 3][1],
            input_tokens=1_000 + i,
            output_tokens=100 + i,
            user=("alice", "bob", None)[i % 3 - 1],
            tags={"team": "search"} if i % 2 else {},
            idempotency_key=f"{prefix}-{i}",
        )
        for i in range(n)
    ]


def coarse_rollups_match(runtime) -> None:
    """usage_daily_models and usage_daily_users == usage_daily summed by their keys, and
    not empty."""
    with runtime.sessions() as s:
        daily: dict[rollups.DailyKey, rollups.Totals] = {}
        for row in s.scalars(select(UsageDaily)):
            key = tuple(getattr(row, c) for c in rollups._DAILY_COLUMNS)
            daily.setdefault(key, rollups.Totals()).add(
                rollups.Totals(**{m: getattr(row, m) for m in rollups.METRICS})
            )
        for model, positions in rollups.COARSE:
            expected = {k: t.as_dict() for k, t in rollups.coarsen(daily, positions).items()}
            keys = [rollups._DAILY_COLUMNS[i] for i in positions]
            found = {
                tuple(getattr(r, k) for k in keys): {m: getattr(r, m) for m in rollups.METRICS}
                for r in s.scalars(select(model))
            }
            assert found and found == expected, model.__tablename__


def test_the_coarse_rollups_follow_ingest_reprice_and_rebuild(seeded):
    with seeded.sessions.begin() as s:
        ledger.record_usage(s, events=reports(40), now=NOW)
    coarse_rollups_match(seeded)
    with seeded.sessions.begin() as s:
        record = s.scalar(select(ModelRecord).where(ModelRecord.model_id == "gpt-4o"))
        record.input_cost_per_million = D("3")
        s.flush()
        found = reprice(
            s,
            actor=users.get_by_username(s, "alice"),
            date_from=date(2026, 5, 1),
            date_to=date(2026, 6, 1),
            model_record=record,
        )
        assert found.new_cost_usd != found.old_cost_usd
    coarse_rollups_match(seeded)
    with seeded.sessions.begin() as s:
        zones.rebuild(s, actor=users.get_by_username(s, "alice"), timezone="Asia/Tokyo")
    coarse_rollups_match(seeded)


def test_totals_by_day_provider_model_or_user_read_the_coarse_rollups(seeded):
    with seeded.sessions.begin() as s:
        ledger.record_usage(s, events=reports(30), now=NOW)
    period = {"date_from": date(2026, 5, 1), "date_to": date(2026, 6, 1)}

    def requests(by: str, **kw) -> int:
        with seeded.sessions() as s:
            return sum(g.totals.requests for g in summary.summarize(s, by=by, **period, **kw))

    assert requests("day,user") == requests("user") == requests("model") == 30
    with seeded.sessions.begin() as s:  # the coarse rollups alone go wrong: the answers follow
        s.execute(UsageDailyModel.__table__.update().values(requests=1000))
        s.execute(UsageDailyUser.__table__.update().values(requests=0))
        models = s.scalar(select(func.count()).select_from(UsageDailyModel))
        bob = users.get_by_username(s, "bob")
    for by in ("day", "provider", "model", "day,model", "provider,model"):
        assert requests(by) == 1000 * models, by
    assert requests("user") == requests("day,user") == 0
    assert requests("day,provider,user") == 30  # usage_daily still
    # a member's scope filters on user and provider together: usage_daily
    assert requests("provider", viewer=bob) == len([r for r in reports(30) if r.user == "bob"])


def test_deleting_a_user_or_model_record_clears_the_reference_and_keeps_the_event(seeded):
    with seeded.sessions.begin() as s:
        ledger.record_usage(s, events=reports(6), now=NOW)
    with seeded.sessions.begin() as s:
        bob = users.get_by_username(s, "bob")
        assert s.scalar(select(func.count()).where(UsageEvent.user_id == bob.id)) == 2
        s.delete(bob)
        record = s.scalar(select(ModelRecord).where(ModelRecord.model_id == "gpt-4o"))
        model_records.delete_model(
            s, actor=users.get_by_username(s, "alice"), model_record_id=record.id
        )
    with seeded.sessions() as s:
        events = list(s.scalars(select(UsageEvent)))
    assert len(events) == 6
    assert {e.username for e in events if e.user_id is None} == {"bob", None}
    assert {e.username for e in events if e.user_id is not None} == {"alice"}
    gpt = [e for e in events if e.model_id == "gpt-4o"]
    assert gpt and all(e.model_record_id is None and e.cost_usd is not None for e in gpt)


def test_a_reference_deleted_after_its_lookup_stores_nothing(seeded):
    with seeded.sessions.begin() as s:  # the rollups' zone is recorded: preparing only reads
        ledger.record_usage(s, events=reports(1, prefix="first"), now=NOW)
    with seeded.sessions.begin() as s:
        rows = ledger.preparer(s, timezone="UTC", now=NOW).prepare(reports(3))
        with seeded.sessions.begin() as other:  # bob goes meanwhile
            other.delete(users.get_by_username(other, "bob"))
        with pytest.raises(ConflictError, match="deleted while it was being recorded"):
            ledger.store_rows(s, rows, now=NOW)
        s.rollback()
    with seeded.sessions() as s:
        assert s.scalar(select(func.count()).select_from(UsageEvent)) == 1


def test_a_delete_waits_for_the_ingest_that_references_the_row(seeded):
    if seeded.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: a delete cannot interleave")
    deleted = threading.Event()

    def delete_bob() -> None:
        with seeded.sessions.begin() as other:
            other.delete(users.get_by_username(other, "bob"))
        deleted.set()

    with seeded.sessions.begin() as s:
        ledger.record_usage(s, events=reports(3), now=NOW)  # bob's rows locked till commit
        deleter = threading.Thread(target=delete_bob)
        deleter.start()
        time.sleep(0.5)
        assert not deleted.is_set()  # the delete waits for this transaction
    deleter.join(10)
    assert deleted.is_set()
    with seeded.sessions() as s:  # and its trigger then cleared the new event's reference
        bobs = list(s.scalars(select(UsageEvent).where(UsageEvent.username == "bob")))
    assert len(bobs) == 1 and bobs[0].user_id is None


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(pipeline, "CHUNK", 4)
    monkeypatch.setattr(pipeline, "FIRST", 4)


def test_chunks_start_small_and_double_up_to_the_chunk_size():
    bounds = pipeline.chunks(50_000)
    assert [end - start for start, end in bounds] == [1_250, 2_500, 5_000, *[10_000] * 4, 1_250]
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:])) and bounds[-1][1] == 50_000
    assert pipeline.chunks(3_000) == [(0, 1_250), (1_250, 3_000)]
    assert pipeline.chunks(0) == []


@pytest.mark.parametrize("first", [1, 4])  # growing chunks (1, 2, 4, 4…), and even ones
def test_a_pipelined_batch_stores_what_one_statement_stores(
    seeded, small_chunks, monkeypatch, first
):
    monkeypatch.setattr(pipeline, "FIRST", first)
    batch = reports(30)
    batch[17] = batch[2]  # a key twice, across chunks: the first counts
    with seeded.sessions.begin() as s:
        found = ledger.record_usage(s, events=batch, now=NOW)
    assert (found.received, found.inserted, found.duplicates) == (30, 29, 1)
    with seeded.sessions.begin() as s:
        again = ledger.record_usage(s, events=batch, now=NOW)
    assert (again.inserted, again.duplicates) == (0, 30)
    with seeded.sessions() as s:
        assert s.scalar(select(func.count()).select_from(UsageEvent)) == 29
        assert s.scalar(select(func.sum(UsageDaily.requests))) == 29
        assert s.scalar(select(func.sum(UsageEvent.input_tokens))) == sum(
            r.input_tokens for i, r in enumerate(batch) if i != 17
        )
        priced = sum(c for c in s.scalars(select(UsageEvent.cost_usd)) if c is not None)
    assert found.cost_usd == priced
    coarse_rollups_match(seeded)


def test_a_pipelined_batch_with_bad_reports_names_each_and_stores_none(seeded, small_chunks):
    batch = reports(20)
    for bad in (9, 18):  # in the third and fifth chunks, after chunks were stored
        batch[bad] = UsageInput(**{**batch[bad].__dict__, "output_tokens": -1})
    with seeded.sessions.begin() as s:
        with pytest.raises(ValidationError) as raised:
            ledger.record_usage(s, events=batch, now=NOW)
        # the caller goes on and commits: nothing of the batch is in the transaction
    message = str(raised.value)
    assert "Usage report 10" in message and "Usage report 19" in message
    with seeded.sessions() as s:
        assert s.scalar(select(func.count()).select_from(UsageEvent)) == 0
        assert s.scalar(select(func.count()).select_from(UsageEventKey)) == 0
        assert s.scalar(select(func.count()).select_from(UsageDaily)) == 0


def test_a_pipelined_batch_leaves_the_transaction_settings_as_they_were(seeded, small_chunks):
    if seeded.engine.dialect.name != "postgresql":
        pytest.skip("the pipeline is PostgreSQL's")
    bad = reports(12, prefix="bad")
    bad[9] = UsageInput(**{**bad[9].__dict__, "output_tokens": -1})
    with seeded.sessions.begin() as s:
        before = s.execute(text("SELECT current_setting('jit'), current_setting('work_mem')")).one()
        ledger.record_usage(s, events=reports(12), now=NOW)  # stored
        with pytest.raises(ValidationError):
            ledger.record_usage(s, events=bad, now=NOW)  # refused after chunks were stored
        after = s.execute(text("SELECT current_setting('jit'), current_setting('work_mem')")).one()
    assert tuple(after) == tuple(before)


def test_a_pipelined_batch_meets_a_user_it_has_not_seen_mid_batch(seeded, small_chunks):
    with seeded.sessions.begin() as s:
        users.create_user(s, username="carol", password="correct-horse-42")
    batch = reports(16)
    batch[13] = UsageInput(**{**batch[13].__dict__, "user": "carol"})  # a lookup in chunk 4
    with seeded.sessions.begin() as s:
        ledger.record_usage(s, events=batch, now=NOW)
    with seeded.sessions() as s:
        carol = s.scalar(select(User).where(User.username == "carol"))
        event = s.scalar(select(UsageEvent).where(UsageEvent.username == "carol"))
    assert event.user_id == carol.id


def test_migration_0011_keeps_the_ledger_and_fills_the_coarse_rollups(seeded):
    with seeded.sessions.begin() as s:
        ledger.record_usage(s, events=reports(12), now=NOW)
    config = db._alembic_config(seeded.engine)
    command.downgrade(config, "0010")
    tables = set(inspect(seeded.engine).get_table_names())
    assert not {"usage_daily_models", "usage_daily_users"} & tables
    references = {
        fk["referred_table"] for fk in inspect(seeded.engine).get_foreign_keys("usage_events")
    }
    assert references == {"users", "models"}  # the foreign keys are back
    command.upgrade(config, "head")
    assert inspect(seeded.engine).get_foreign_keys("usage_events") == []
    coarse_rollups_match(seeded)  # filled from usage_daily
    with seeded.sessions.begin() as s:
        assert s.scalar(select(func.count()).select_from(UsageEvent)) == 12
        s.delete(users.get_by_username(s, "bob"))  # the trigger is there again
    with seeded.sessions() as s:
        bobs = list(s.scalars(select(UsageEvent).where(UsageEvent.username == "bob")))
    assert bobs and all(e.user_id is None for e in bobs)
