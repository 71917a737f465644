"""``modeldesk demo``: refuses a database with records unless --force; seeds users, providers,
priced models, 90 days of usage with a weekly rhythm, growth, a price cut, cache use and
unpriced usage, budgets (one over, one near) and health history; deterministic and
idempotent; on SQLite and PostgreSQL."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from core import cli, demo
from core.accounts import users
from core.errors import IntegrityError, PermissionDeniedError
from core.store.tables import HealthCheck, HealthState, ModelRecord, ModelSpeedSample, Provider
from core.store.usage_tables import UsageEvent
from core.usage import budget_status, summary
from tests.conftest import TEST_SECRET
from tests.support import factories

TZ = "Europe/Paris"
NOW = datetime(2026, 12, 15, 12, 0, tzinfo=UTC)
TODAY = date(2026, 12, 15)
FIRST = TODAY - timedelta(days=demo.DAYS - 1)


@pytest.fixture
def seeded(runtime):
    result = demo.seed_demo(runtime.sessions, timezone=TZ, now=NOW)
    return runtime, result


def by(runtime, grouping, date_from=FIRST, date_to=TODAY + timedelta(days=1)):
    with runtime.sessions() as s:
        return summary.summarize(s, date_from=date_from, date_to=date_to, by=grouping)


def test_refuses_a_database_with_records_and_writes_nothing(runtime):
    with runtime.sessions.begin() as s:
        factories.user(s, "someone")
    before = factories.table_counts(runtime)
    with pytest.raises(IntegrityError, match=r"already holds records \(1 users\).*--force"):
        demo.seed_demo(runtime.sessions, timezone=TZ, now=NOW)
    assert factories.table_counts(runtime) == before
    forced = demo.seed_demo(runtime.sessions, timezone=TZ, now=NOW, force=True)
    assert forced.events > 3000


def test_the_demo_organisation(seeded):
    runtime, result = seeded
    assert [u for u, _, _ in result.users] == ["ada", "ben", "cleo"]
    with runtime.sessions() as s:
        ada = users.require_user(s, "ada")
        assert ada.is_admin and users.verify_password("ada-demo-2026", ada.password_hash)
        types = set(s.scalars(select(Provider.provider_type)))
        assert types == {"openai", "anthropic", "google_gemini", "groq", "vllm"}
        assert s.scalar(select(func.count()).select_from(ModelRecord)) == 7
        assert s.scalar(select(func.count()).select_from(HealthCheck)) == 5 * 7 * 48
        assert s.scalar(select(func.count()).select_from(ModelSpeedSample)) == 6 * 5
        states = dict(
            s.execute(
                select(Provider.name, HealthState.status).join(
                    HealthState, HealthState.provider_key == Provider.id
                )
            ).all()
        )
        assert states["Lab vLLM"] == "unreachable" and states["Ben's Groq"] == "degraded"
        assert s.scalar(select(func.max(UsageEvent.occurred_at))) <= NOW
    days = by(runtime, "day")
    assert len(days) == demo.DAYS  # every day of the 90 has usage
    cost = {date.fromisoformat(g.labels["day"]): g.totals.requests for g in days}
    weekdays = [n for d, n in cost.items() if d.weekday() < 5]
    weekends = [n for d, n in cost.items() if d.weekday() >= 5]
    assert sum(weekends) / len(weekends) < 0.6 * sum(weekdays) / len(weekdays)  # weekly rhythm
    early = sum(n for d, n in cost.items() if d < FIRST + timedelta(days=28))
    late = sum(n for d, n in cost.items() if d > TODAY - timedelta(days=28))
    assert late > 1.3 * early  # growth
    models = {g.labels["model"]: g.totals for g in by(runtime, "model")}
    assert models["lab-llama-8b"].unpriced_requests == models["lab-llama-8b"].requests > 0
    assert models["lab-llama-8b"].cost_usd == 0  # unpriced, counted apart
    assert models["claude-sonnet-4-5"].cached_input_tokens > 0
    tags = {g.labels["team"] for g in by(runtime, "tag:team")}
    assert tags == {"search", "support", "research"}


def test_gpt4o_costs_less_after_the_price_cut(seeded):
    runtime, _ = seeded
    cut = FIRST + timedelta(days=demo.PRICE_CUT_DAY)
    with runtime.sessions() as s:
        rows = s.execute(
            select(
                UsageEvent.day,
                UsageEvent.cost_usd,
                UsageEvent.input_tokens,
                UsageEvent.output_tokens,
            ).where(UsageEvent.model_id == "gpt-4o", UsageEvent.reasoning_tokens == 0)
        ).all()
    per_token = {
        day < cut: cost / (inp * 5 + out * 15) for day, cost, inp, out in rows if day != cut
    }
    assert per_token[True] > per_token[False]  # $5/$15 before day 60, $2.50/$10 after
    [update] = factories.events(runtime, "model.update")
    assert update.entity_label == "GPT-4o" and update.actor_label == "ada"


def test_budgets_one_over_one_near_and_alerted(seeded):
    runtime, result = seeded
    assert len(result.budgets) == 5
    with runtime.sessions() as s:
        ada = users.require_user(s, "ada")
        found = {
            st.name: st
            for st in budget_status.evaluate(
                s, viewer=ada, timezone=TZ, now=NOW, record_alerts=False
            )
        }
    assert found["Batch jobs"].state == "over"
    assert found["OpenAI monthly"].state == "near" and found["OpenAI monthly"].share < 1
    assert found["Research team"].unpriced_requests > 0  # the lab model, not $0
    alerted = {
        (e.entity_label, e.after["threshold"]) for e in factories.events(runtime, "budget.alert")
    }
    assert ("Batch jobs", "100 %") in alerted and ("OpenAI monthly", "80 %") in alerted


def test_forced_again_is_deterministic_and_stores_nothing_twice(seeded):
    runtime, first = seeded
    totals = summary.total(by(runtime, "model"))
    again = demo.seed_demo(runtime.sessions, timezone=TZ, now=NOW, force=True)
    assert (again.events, again.duplicates) == (0, first.events)
    assert again.budgets == ()
    assert summary.total(by(runtime, "model")) == totals
    assert totals.cost_usd > Decimal(100)


def test_the_command_prints_the_demo_passwords_once_and_no_key(
    runtime, monkeypatch, capsys, tmp_path
):
    for name in list(os.environ):
        if name.startswith(("MODELDESK_", "AWS_")) or name.endswith(("_API_KEY", "_BASE_URL")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MODELDESK_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("MODELDESK_DATA_DIR", str(tmp_path / "cli-data"))
    monkeypatch.setenv("MODELDESK_DISABLE_SYSTEM_PROVIDERS", "all")
    url = runtime.settings.database_url
    assert cli.main(["--database-url", url, "demo"]) == 0
    out = capsys.readouterr().out
    assert "ada       admin   ada-demo-2026" in out and "usage events over 90 days" in out
    assert "demo-0000d3m0" not in out  # no fake key either
    assert cli.main(["--database-url", url, "demo"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("modeldesk: error: The database already holds records")
    assert "ada-demo-2026" not in err


def test_forced_over_an_existing_account_keeps_its_password(runtime):
    with runtime.sessions.begin() as s:
        factories.user(s, "ada", "admin")
    result = demo.seed_demo(runtime.sessions, timezone=TZ, now=NOW, force=True)
    assert result.users[0] == ("ada", "admin", None)  # not the demo's password: not printed
    assert result.users[1] == ("ben", "member", "ben-demo-2026")
    with runtime.sessions() as s:
        ada = users.require_user(s, "ada")
        assert users.verify_password(factories.PASSWORD, ada.password_hash)


def test_a_failing_seed_writes_nothing(runtime):
    """ada exists as a member: she may not create the instance-wide providers, so the one
    transaction is refused whole."""
    with runtime.sessions.begin() as s:
        factories.user(s, "ada")
    before = factories.table_counts(runtime)
    with pytest.raises(PermissionDeniedError):
        demo.seed_demo(runtime.sessions, timezone=TZ, now=NOW, force=True)
    assert factories.table_counts(runtime) == before
