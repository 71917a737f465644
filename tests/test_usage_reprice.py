"""Repricing moves stored costs and rollups by exactly the price difference, audited, on
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from core.accounts import users
from core.costs import Prices, Usage, cost_of
from core.errors import PermissionDeniedError, ValidationError
from core.records import model_records, providers
from core.store.tables import AuditEvent, ModelRecord
from core.store.usage_tables import UsageDaily, UsageDailyTag, UsageEvent
from core.usage import summary
from core.usage.inputs import UsageInput
from core.usage.ledger import record_usage
from core.usage.reprice import reprice

D = Decimal
T0 = datetime(2026, 5, 1, 9, tzinfo=UTC)
Q = D("1e-8")
REPORTS = [
    {"input_tokens": 1_000_000, "cached_input_tokens": 250_000, "output_tokens": 40_000},
    {"input_tokens": 77_777, "output_tokens": 3_333, "requests": 3},
    {"input_tokens": 5, "output_tokens": 0},
]


@pytest.fixture
def ledger(runtime):
    """OpenAI with gpt-4o at $2/$8 (cache $1) and house-model with no price; events on
    three days for both, tagged."""
    with runtime.sessions.begin() as s:
        admin = users.create_user(s, username="alice", password="correct-horse-42", role="admin")
        users.create_user(s, username="bob", password="correct-horse-42")
        s.flush()
        openai = providers.create_provider(
            s, actor=admin, name="OpenAI", provider_type="openai", api_key="sk-test-000000000000"
        )
        for model_id, prices in (
            (
                "gpt-4o",
                {
                    "input_cost_per_million": D("2"),
                    "output_cost_per_million": D("8"),
                    "cache_read_cost_per_million": D("1"),
                },
            ),
            ("house-model", {}),
        ):
            model_records.create_model(
                s, actor=admin, provider_id=openai.id, model_id=model_id, name=model_id, **prices
            )
        events = [
            UsageInput(
                timestamp=T0 + timedelta(days=day),
                provider="OpenAI",
                model=model,
                tags={"team": "search"},
                **kw,
            )
            for day in range(3)
            for model in ("gpt-4o", "house-model")
            for kw in REPORTS
        ]
        record_usage(s, events=events)
    return runtime


def totals(runtime, date_from=date(2026, 5, 1), date_to=date(2026, 5, 4)):
    with runtime.sessions() as s:
        by_model = {
            g.labels["model"]: g.totals
            for g in summary.summarize(s, date_from=date_from, date_to=date_to, by="model")
        }
        tagged = {
            g.labels["team"]: g.totals
            for g in summary.summarize(s, date_from=date_from, date_to=date_to, by="tag:team")
        }
    return by_model, tagged


def set_prices(runtime, model_id: str, **prices) -> None:
    with runtime.sessions.begin() as s:
        record = s.scalar(select(ModelRecord).where(ModelRecord.model_id == model_id))
        model_records.update_model(
            s,
            actor=users.first_admin(s),
            model_record_id=record.id,
            expected_version=None,
            **prices,
        )


def run_reprice(runtime, actor="alice", **kw):
    kw.setdefault("date_from", date(2026, 5, 1))
    kw.setdefault("date_to", date(2026, 5, 4))
    with runtime.sessions.begin() as s:
        if "model_record" in kw:
            kw["model_record"] = s.scalar(
                select(ModelRecord).where(ModelRecord.model_id == kw["model_record"])
            )
        return reprice(s, actor=users.require_user(s, actor), **kw)


def cost(prices: Prices, kw: dict) -> Decimal:
    usage = Usage(
        input_tokens=kw["input_tokens"],
        output_tokens=kw["output_tokens"],
        cache_read_tokens=kw.get("cached_input_tokens", 0),
        requests=kw.get("requests", 1),
    )
    return cost_of(usage, prices).total.quantize(Q)


def test_a_reprice_moves_the_totals_by_exactly_the_price_difference(ledger):
    old = Prices(input=D("2"), output=D("8"), cache_read=D("1"))
    new = Prices(input=D("2.5"), output=D("10"), cache_read=D("1.25"))
    by_model, tagged = totals(ledger)
    assert by_model["gpt-4o"].cost_usd == 3 * sum(cost(old, kw) for kw in REPORTS)
    set_prices(
        ledger,
        "gpt-4o",
        input_cost_per_million=D("2.5"),
        output_cost_per_million=D("10"),
        cache_read_cost_per_million=D("1.25"),
    )
    # Changing a record's price changes nothing stored until a reprice.
    assert totals(ledger) == (by_model, tagged)

    result = run_reprice(ledger, model_id="gpt-4o", date_from=date(2026, 5, 2))
    difference = 2 * sum(cost(new, kw) - cost(old, kw) for kw in REPORTS)
    assert (result.events, result.changed) == (6, 6)
    assert result.new_cost_usd - result.old_cost_usd == difference
    after_model, after_tag = totals(ledger)
    assert after_model["gpt-4o"].cost_usd - by_model["gpt-4o"].cost_usd == difference
    assert after_tag["search"].cost_usd - tagged["search"].cost_usd == difference
    assert after_model["house-model"] == by_model["house-model"]
    # May 1 is outside the period and kept its price.
    may1, _ = totals(ledger, date(2026, 5, 1), date(2026, 5, 2))
    assert may1["gpt-4o"].cost_usd == sum(cost(old, kw) for kw in REPORTS)


def test_a_reprice_prices_what_was_unpriced(ledger):
    by_model, tagged = totals(ledger)
    house = by_model["house-model"]
    assert house.cost_usd == 0 and house.unpriced_requests == house.requests == 15
    set_prices(
        ledger, "house-model", input_cost_per_million=D("0.1"), output_cost_per_million=D("0.4")
    )
    result = run_reprice(ledger, model_record="house-model")
    assert (result.old_unpriced_requests, result.new_unpriced_requests) == (15, 0)
    after_model, after_tag = totals(ledger)
    prices = Prices(input=D("0.1"), output=D("0.4"))
    assert after_model["house-model"].cost_usd == 3 * sum(cost(prices, kw) for kw in REPORTS)
    assert after_model["house-model"].unpriced_requests == 0
    assert after_tag["search"].unpriced_requests == tagged["search"].unpriced_requests - 15
    with ledger.sessions() as s:
        sources = set(
            s.scalars(select(UsageEvent.price_source).where(UsageEvent.model_id == "house-model"))
        )
    assert sources == {"model record"}


def test_a_reprice_is_audited_with_old_and_new_totals(ledger):
    set_prices(ledger, "gpt-4o", output_cost_per_million=D("9"))
    result = run_reprice(ledger, model_record="gpt-4o")
    with ledger.sessions() as s:
        (event,) = s.scalars(select(AuditEvent).where(AuditEvent.action == "usage.reprice"))
    assert event.actor_label == "alice" and event.entity_type == "usage"
    assert event.entity_label == "gpt-4o 2026-05-01…2026-05-04"
    assert event.before["cost_usd"] == summary.as_cost(result.old_cost_usd)
    assert event.after["cost_usd"] == summary.as_cost(result.new_cost_usd)
    assert event.after["events"] == 9 and event.after["changed"] == 6  # 5-token rows: $0 out


def test_repricing_twice_changes_nothing_the_second_time(ledger):
    set_prices(ledger, "gpt-4o", input_cost_per_million=D("3"))
    run_reprice(ledger, model_id="gpt-4o")
    snapshot = totals(ledger)
    again = run_reprice(ledger, model_id="gpt-4o")
    assert again.changed == 0 and again.old_cost_usd == again.new_cost_usd
    assert totals(ledger) == snapshot


def test_rollups_stay_equal_to_the_events_after_a_reprice(ledger):
    set_prices(ledger, "gpt-4o", input_cost_per_million=D("0.37"))
    run_reprice(ledger, model_id="gpt-4o")
    with ledger.sessions() as s:
        events = list(s.scalars(select(UsageEvent)))
        daily = list(s.scalars(select(UsageDaily)))
        tags = list(s.scalars(select(UsageDailyTag)))
    priced = sum(e.cost_usd for e in events if e.cost_usd is not None)
    unpriced = sum(e.requests for e in events if e.cost_usd is None)
    for rows in (daily, tags):
        assert sum(r.cost_usd for r in rows) == priced
        assert sum(r.unpriced_requests for r in rows) == unpriced


def test_only_admins_reprice(ledger):
    with pytest.raises(PermissionDeniedError, match="Only admins can reprice usage"):
        run_reprice(ledger, actor="bob", model_id="gpt-4o")


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({}, "give a model id or a model record"),
        (
            {"model_id": "gpt-4o", "date_from": date(2026, 5, 4), "date_to": date(2026, 5, 1)},
            "The period is empty",
        ),
    ],
)
def test_a_reprice_needs_one_model_and_a_period(ledger, kw, message):
    with pytest.raises(ValidationError, match=message):
        run_reprice(ledger, **kw)
