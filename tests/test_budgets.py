"""Budgets: admins create, edit and delete them (validated, audited); status from the rollups
(calendar month in the configured zone, rolling N days), forecast, unpriced apart; each
threshold crossing alerted once per window, also when evaluations race; members see only
budgets over what they may see."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from core.accounts import users
from core.errors import NotFoundError, PermissionDeniedError, ValidationError
from core.store.usage_tables import BudgetAlert
from core.usage import budget_status, budgets
from core.usage.inputs import UsageInput
from core.usage.ledger import record_usage
from tests.support import factories, spend
from tests.support.spend import NOW, TZ

D = Decimal


@pytest.fixture
def org(runtime):
    found = spend.seed(runtime)
    with runtime.sessions.begin() as s:
        boss = spend.user(s, found, "boss")
        make = dict(session=s, actor=boss)
        budgets.create_budget(
            **make, name="Shared monthly", scope="provider", provider="Shared", amount_usd="25"
        )
        budgets.create_budget(**make, name="Vera", scope="user", username="vera", amount_usd=20)
        budgets.create_budget(
            **make, name="Search team", scope="tag", tag="team=search", amount_usd="100"
        )
        budgets.create_budget(
            **make,
            name="Olga 7 days",
            scope="user",
            username="olga",
            amount_usd="10",
            window="rolling",
            window_days=7,
            thresholds=[50, 90],
        )
        budgets.create_budget(
            **make,
            name="Vera provider",
            scope="model",
            provider=found.providers["Vera AI"],
            model_id="house-model",
            amount_usd="50",
        )
    return found


def statuses(runtime, org, who="boss", now=NOW, **kw):
    with runtime.sessions.begin() as s:
        found = budget_status.evaluate(
            s, viewer=spend.user(s, org, who), timezone=TZ, now=now, **kw
        )
    return {st.name: st for st in found}


def test_status_from_the_rollups_in_the_configured_zone(runtime, org):
    with factories.counting(runtime) as sql:
        found = statuses(runtime, org)
    assert not [q for q in sql if "usage_events" in q]  # never scans the events
    shared = found["Shared monthly"]
    # $15 of days plus the $5 event of 2026-11-30 23:30 UTC, which is December in Paris
    assert shared.spent_usd == D(20)
    assert shared.window == budget_status.Window(
        "month", date(2026, 12, 1), date(2027, 1, 1), 31, 15
    )
    assert shared.share == D("0.8")
    assert shared.forecast_usd == (D(20) * 31 / 15).quantize(D("0.00000001"))
    assert shared.crossed == (80,) and shared.state == "near"
    assert shared.unpriced_requests == 3  # the mystery model: counted apart, not $0
    assert shared.as_dict()["spend_complete"] is False
    assert found["Vera"].spent_usd == D(30) and found["Vera"].state == "over"
    assert found["Vera"].crossed == (80, 100)
    assert found["Search team"].spent_usd == D(20) and found["Search team"].state == "ok"
    assert found["Vera provider"].spent_usd == D(30)
    assert found["Vera provider"].target == "model house-model on Vera AI"


def test_rolling_window_counts_the_last_n_days(runtime, org):
    olga = statuses(runtime, org)["Olga 7 days"]
    assert olga.window == budget_status.Window(
        "rolling", date(2026, 12, 9), date(2026, 12, 16), 7, 7
    )
    # Dec 9-15: $7 on Shared, $3 on her own provider on Dec 12; the 3 unpriced requests apart
    assert olga.spent_usd == D(10) and olga.unpriced_requests == 3
    assert olga.forecast_usd == D(10) and olga.state == "over"
    assert olga.crossed == (50, 90)


def test_each_crossing_is_alerted_once_per_window(runtime, org):
    first = statuses(runtime, org)
    assert first["Shared monthly"].alerted == (80,)
    assert first["Vera"].alerted == (80, 100)
    with factories.counting(runtime) as sql:
        assert statuses(runtime, org)["Vera"].alerted == ()  # evaluated again: nothing new
    assert not [q for q in sql if "INSERT" in q]  # known crossings are not even retried
    alerts = factories.events(runtime, "budget.alert")
    assert sorted((e.entity_label, e.after["threshold"]) for e in alerts) == [
        ("Olga 7 days", "50 %"),
        ("Olga 7 days", "90 %"),
        ("Shared monthly", "80 %"),
        ("Vera", "100 %"),
        ("Vera", "80 %"),
    ]
    assert alerts[0].actor_label == "system"
    # January is a new window: Vera crosses 80 % again and is alerted again
    january = datetime(2027, 1, 3, 12, tzinfo=UTC)
    with runtime.sessions.begin() as s:
        record_usage(
            s,
            events=[
                UsageInput(
                    timestamp=datetime(2027, 1, 2, tzinfo=UTC),
                    provider="Vera AI",
                    model="house-model",
                    input_tokens=17_000_000,
                    output_tokens=0,
                    user="vera",
                )
            ],
            timezone=TZ,
            now=january,
        )
    again = statuses(runtime, org, now=january)["Vera"]
    assert again.spent_usd == D(17) and again.alerted == (80,)
    # the rolling window: still crossed the next day, but the crossing is still inside it
    assert (
        statuses(runtime, org, now=datetime(2026, 12, 16, 9, tzinfo=UTC))["Olga 7 days"].alerted
        == ()
    )


def test_concurrent_evaluations_alert_once(runtime, org):
    """The second evaluation runs while the first has inserted its crossings but not yet
    committed: PostgreSQL blocks it on the unique key, SQLite on the write lock; either way
    it then finds the crossings and writes no audit event of its own."""
    first = runtime.sessions()
    first.begin()
    mine = budget_status.evaluate(
        first, viewer=spend.user(first, org, "boss"), timezone=TZ, now=NOW
    )
    assert sum(len(st.alerted) for st in mine) == 5
    theirs: list = []

    def other() -> None:
        with runtime.sessions.begin() as s:
            found = budget_status.evaluate(
                s, viewer=spend.user(s, org, "boss"), timezone=TZ, now=NOW
            )
            theirs.extend(found)

    thread = threading.Thread(target=other)
    thread.start()
    thread.join(timeout=1)
    assert thread.is_alive()  # waiting on the first transaction
    first.commit()
    first.close()
    thread.join(timeout=30)
    assert not thread.is_alive() and len(theirs) == 5
    assert sum(len(st.alerted) for st in theirs) == 0
    assert len(factories.events(runtime, "budget.alert")) == 5
    with runtime.sessions() as s:
        assert s.scalar(select(func.count()).select_from(BudgetAlert)) == 5


def test_member_sees_budgets_over_what_they_may_see(runtime, org):
    olga = statuses(runtime, org, who="olga", record_alerts=False)
    # her own username, a provider she sees (instance-wide); not vera's, not tag totals
    assert sorted(olga) == ["Olga 7 days", "Shared monthly"]
    vera = statuses(runtime, org, who="vera", record_alerts=False)
    assert sorted(vera) == ["Shared monthly", "Vera", "Vera provider"]
    with runtime.sessions() as s, pytest.raises(NotFoundError):
        budgets.find_budget(s, viewer=spend.user(s, org, "olga"), name="Vera")


def test_only_admins_change_budgets(runtime, org):
    with runtime.sessions.begin() as s:
        olga = spend.user(s, org, "olga")
        with pytest.raises(PermissionDeniedError, match="Only admins can manage budgets"):
            budgets.create_budget(
                s, actor=olga, name="Mine", scope="user", username="olga", amount_usd=1
            )
        own = budgets.find_budget(s, viewer=olga, name="Olga 7 days")
        with pytest.raises(PermissionDeniedError):
            budgets.delete_budget(s, actor=olga, budget_id=own.id)


def test_create_refuses_every_bad_field_at_once_and_writes_nothing(runtime, org):
    before = factories.table_counts(runtime)
    with runtime.sessions.begin() as s, pytest.raises(ValidationError) as caught:
        budgets.create_budget(
            s,
            actor=spend.user(s, org, "boss"),
            name="shared MONTHLY",
            scope="model",
            provider="Nobody",
            amount_usd="-3",
            window="rolling",
            window_days=0,
            thresholds="80,abc",
            tag="team=x",
        )
    fields = {p.field: str(p) for p in caught.value.problems}
    assert set(fields) == {
        "name",
        "tag",
        "provider",
        "model_id",
        "amount_usd",
        "window_days",
        "thresholds",
    }
    assert fields["name"] == "A budget named 'Shared monthly' already exists."
    assert fields["provider"] == "No provider record is named 'Nobody'."
    assert fields["amount_usd"] == "The amount must be more than $0."
    assert "'abc'" in fields["thresholds"]
    assert factories.table_counts(runtime) == before


@pytest.mark.parametrize(
    ("kw", "field", "message"),
    [
        ({"scope": "team"}, "scope", "The scope is one of provider, model, user, tag, not 'team'."),
        ({"amount_usd": "lots"}, "amount_usd", "like 250 or 99.50"),
        ({"amount_usd": "NaN"}, "amount_usd", "more than $0"),
        ({"amount_usd": "1e30"}, "amount_usd", "implausibly large"),
        ({"window": "week"}, "window", "'month' (the calendar month) or 'rolling'"),
        ({"window_days": 30}, "window_days", "A monthly budget takes no number of days"),
        ({"thresholds": []}, "thresholds", "at least one threshold"),
        ({"thresholds": [80, 80]}, "thresholds", "at most 10 different thresholds"),
        ({"username": "a\x00b"}, "username", "without control characters"),
        ({"username": None, "tag": "team"}, "username", "needs the username"),
    ],
)
def test_each_field_is_validated_with_a_clear_message(runtime, admin, kw, field, message):
    spec = {"name": "B", "scope": "user", "username": "olga", "amount_usd": "5", **kw}
    with runtime.sessions.begin() as s, pytest.raises(ValidationError) as caught:
        budgets.create_budget(s, actor=factories_user(s, admin), **spec)
    problems = {p.field: str(p) for p in caught.value.problems}
    assert field in problems and message in problems[field]


def factories_user(session, username):
    return users.require_user(session, username)


def test_edit_and_delete_are_audited(runtime, org):
    with runtime.sessions.begin() as s:
        boss = spend.user(s, org, "boss")
        budget = budgets.find_budget(s, viewer=boss, name="Vera")
        budgets.update_budget(
            s, actor=boss, budget_id=budget.id, amount_usd="40", thresholds="50,100"
        )
        budget_id = budget.id
    [changed] = factories.events(runtime, "budget.update")
    assert changed.before == {"amount_usd": "20", "thresholds": [80, 100]}
    assert changed.after == {"amount_usd": "40", "thresholds": [50, 100]}
    assert statuses(runtime, org, record_alerts=False)["Vera"].state == "near"  # $30 of $40
    with runtime.sessions.begin() as s:
        boss = spend.user(s, org, "boss")
        with pytest.raises(ValidationError, match="A user budget takes no provider"):
            budgets.update_budget(s, actor=boss, budget_id=budget_id, provider="Shared")
        budgets.update_budget(s, actor=boss, budget_id=budget_id, window="rolling", window_days=30)
        budgets.delete_budget(s, actor=boss, budget_id=budget_id)
    assert factories.events(runtime, "budget.delete")[0].before["window"] == "last 30 days"
    assert len(factories.events(runtime, "budget.create")) == 5
    with runtime.sessions() as s:
        assert "Vera" not in [
            b.name for b in budgets.list_budgets(s, viewer=spend.user(s, org, "boss"))
        ]


def test_deleting_a_provider_deletes_its_budgets(runtime, org):
    from core.records import providers

    with runtime.sessions.begin() as s:
        vera = spend.user(s, org, "vera")
        providers.delete_provider(s, actor=vera, provider_id=org.providers["Vera AI"], cascade=True)
    assert sorted(statuses(runtime, org, record_alerts=False)) == [
        "Olga 7 days",
        "Search team",
        "Shared monthly",
        "Vera",
    ]


def test_attention_lists_over_then_near_and_alerts_are_read_back(runtime, org):
    found = statuses(runtime, org)
    # over before near; within a state the most used first (Vera 150 %, Olga 100 %; Shared
    # 80 %, Vera provider 60 % but forecast $62 of $50); Search team (20 %) is fine
    assert [s.name for s in budget_status.attention(list(found.values()))] == [
        "Vera",
        "Olga 7 days",
        "Shared monthly",
        "Vera provider",
    ]
    with runtime.sessions() as s:
        since = datetime(2000, 1, 1, tzinfo=UTC)
        mine = budget_status.recent_alerts(s, viewer=spend.user(s, org, "olga"), since=since)
        every = budget_status.recent_alerts(s, viewer=spend.user(s, org, "boss"), since=since)
    assert sorted((a.budget, a.threshold) for a in mine) == [
        ("Olga 7 days", 50),
        ("Olga 7 days", 90),
        ("Shared monthly", 80),
    ]
    assert len(every) == 5 and {a.window_start for a in every} == {
        date(2026, 12, 1),
        date(2026, 12, 9),
    }


@pytest.mark.parametrize(
    "now", [NOW, datetime(2026, 12, 1, 0, 30, tzinfo=UTC), datetime(2026, 11, 20, tzinfo=UTC)]
)
def test_grouped_spends_equal_each_budget_summed_alone(runtime, org, now):
    with runtime.sessions() as s:
        found = budgets.list_budgets(s, viewer=spend.user(s, org, "boss"))
        today = budget_status.today_in(TZ, now)
        windows = {b.id: budget_status.window_of(b, today) for b in found}
        with factories.counting(runtime) as sql:
            grouped = budget_status.spends(s, found, windows)
        alone = {b.id: budget_status.scope_totals(s, b, windows[b.id]) for b in found}
    assert grouped == alone
    assert len(sql) == 3  # the month: usage_daily and tags; the rolling 7 days: usage_daily
    assert any(t.requests for t in grouped.values())


def test_the_budgets_migration_goes_down_and_up(db_url):
    from alembic import command
    from alembic.script import ScriptDirectory
    from sqlalchemy import inspect

    from core.store import db

    engine = db.create_db_engine(db_url)
    try:
        config = db._alembic_config(engine)
        below = ScriptDirectory.from_config(config).get_revision("0010").down_revision
        command.downgrade(config, below)
        assert not {"budgets", "budget_alerts"} & set(inspect(engine).get_table_names())
        command.upgrade(config, "head")
        assert {"budgets", "budget_alerts"} <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
