"""The Costs page (AppTest): empty database, demo data as admin and member, each period and
grouping with the page's totals equal to summary's, the URL state and bad query values, the
drill-down and its CSV, and the admin actions (reprice, import, ingest tokens shown once)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from core.costs import usd
from core.demo import seed_demo
from core.usage import budget_status, ingest_tokens, overview, summary
from core.usage.summary import total
from tests.support import spend
from tests.support.console import Console, state_dump, texts
from tests.test_page_explorer import Media, media  # noqa: F401  # the download bytes

PAGE = "pages/costs.py"
DECEMBER = {"period": "custom", "from": "2026-12-01", "to": "2026-12-15"}


def costs(console: Console, as_user: str, query: dict[str, str] | None = None) -> AppTest:
    at = console.open(None, as_user=as_user, timeout=60)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


@pytest.fixture
def org(console: Console) -> spend.Org:
    return spend.seed(console.runtime)


def test_an_empty_database_shows_an_empty_page(console: Console, people: Any) -> None:
    at = costs(console, "alice")
    assert metric(at, "Spend (priced)") == "$0.00"
    assert "No usage in this period." in texts(at)
    assert "Days are UTC days." in texts(at)


@pytest.mark.parametrize("as_user", ["boss", "olga"])
def test_page_totals_equal_summary_for_the_same_period(console, org, as_user) -> None:
    at = costs(console, as_user, DECEMBER)
    span = overview.Period("custom", date(2026, 12, 1), date(2026, 12, 16))
    with console.runtime.sessions() as s:
        viewer = spend.user(s, org, as_user)
        want = total(
            summary.summarize(s, date_from=span.date_from, date_to=span.date_to, viewer=viewer)
        )
    assert metric(at, "Spend (priced)") == usd(want.cost_usd)
    assert metric(at, "Requests") == f"{want.requests:,}"
    assert metric(at, "Unpriced requests") == f"{want.unpriced_requests:,}"
    # boss sees all of December ($15 + $5 + $3 + $30), olga not vera's private $30
    assert want.cost_usd == (Decimal(53) if as_user == "boss" else Decimal(23))
    assert "Days are Europe/Paris days." in texts(at)


def test_a_member_never_sees_another_users_private_usage(console, org) -> None:
    at = costs(console, "vera", DECEMBER | {"by": "user"})
    shown = texts(at) + " ".join(str(df.value.to_dict()) for df in at.dataframe)
    assert "Olga AI" not in shown
    assert metric(at, "Spend (priced)") == usd(Decimal(15 + 5 + 30))  # Shared's and hers
    # and a drill-down into olga's private provider shows nothing
    at = costs(console, "vera", DECEMBER | {"provider": "Olga AI"})
    assert "No events." in texts(at)
    # tags are everyone's usage: not for members, even by link
    at = costs(console, "vera", DECEMBER | {"by": "tag:team"})
    assert "only admins see them" in texts(at)
    assert at.selectbox(key="costs_by").value == "provider"
    assert "by" not in at.query_params  # provider is the default: left out of the URL
    at.run()  # said once: the view now is the fallback
    assert "only admins see them" not in texts(at)
    at = costs(console, "vera", DECEMBER | {"tag": "team=search"})
    assert "only admins see them" in texts(at) and "No events." not in texts(at)


@pytest.mark.parametrize("period", overview.PERIODS[:-1])
@pytest.mark.parametrize("by", ["provider", "model", "user", "tag:team"])
def test_each_period_and_grouping(console, org, period, by) -> None:
    at = costs(console, "boss", {"period": period, "by": by, "bucket": "week"})
    today = budget_status.today_in(console.runtime.settings.timezone)
    span = overview.period(period, today=today)
    with console.runtime.sessions() as s:
        want = total(summary.summarize(s, date_from=span.date_from, date_to=span.date_to))
        series = overview.over_time(s, viewer=None, span=span, by=by, bucket="week")
    assert metric(at, "Spend (priced)") == usd(want.cost_usd)
    assert span.label in texts(at)
    charts = at.get("plotly_chart")
    assert bool(charts) == bool(series)
    if period != "this_month":
        assert at.query_params["period"] == period


def test_the_chart_stacks_the_split_and_adds_up_to_the_totals(console, org) -> None:
    import json

    at = costs(console, "boss", DECEMBER | {"by": "tag:team"})
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    names = {t["name"] for t in figure["data"]}
    assert names == {"search", "ads", "(no team)"}
    chart_total = sum(Decimal(str(y)) for t in figure["data"] for y in t["y"])
    assert chart_total == Decimal(53)


def test_url_state_round_trips(console, org) -> None:
    at = costs(console, "boss", DECEMBER | {"bucket": "week", "by": "model"})
    assert at.segmented_control(key="costs_period").value == "custom"
    assert at.segmented_control(key="costs_bucket").value == "week"
    assert at.selectbox(key="costs_by").value == "model"
    at.segmented_control(key="costs_period").set_value("last_month").run()
    assert at.query_params["period"] == "last_month"
    assert "from" not in at.query_params
    assert at.query_params["by"] == "model"


@pytest.mark.parametrize(
    ("query", "note"),
    [
        ({"period": "yesterday"}, "Unknown period"),
        ({"period": "custom", "from": "2026-12-09", "to": "2026-12-01"}, "is empty"),
        ({"bucket": "<script>"}, "Unknown bucket"),
        ({"by": "tag:"}, "Cannot split"),
    ],
)
def test_bad_query_values_fall_back_with_a_note(console, org, query, note) -> None:
    at = costs(console, "boss", query)
    assert note in texts(at)
    assert metric(at, "Spend (priced)").startswith("$")


def test_drill_down_pages_by_key_and_downloads_what_is_shown(console, org, media) -> None:  # noqa: F811
    at = costs(console, "boss", DECEMBER | {"provider": "Shared", "model": "house-model"})
    frame = at.dataframe[-1].value
    assert len(frame) == 15 + 1  # Dec 1-15 and the Paris Dec 1 edge (50 a page: one page)
    assert set(frame["provider"]) == {"Shared"}
    assert "Page 1." in texts(at)
    data = media.bytes_of(at, "costs_drill_csv").decode()
    assert data.count("\n") == len(frame) + 1
    assert at.button(key="costs_drill_next").disabled  # one page: no next


def test_drill_down_next_and_previous(console, org, monkeypatch) -> None:
    from pages import _costs_drill

    monkeypatch.setattr(_costs_drill, "PAGE_SIZE", 4)
    at = costs(console, "boss", DECEMBER | {"user": "olga"})
    first = list(at.dataframe[-1].value["time_utc"])
    assert len(first) == 4
    at.button(key="costs_drill_next").click().run()
    second = list(at.dataframe[-1].value["time_utc"])
    assert len(second) == 4 and second[0] > first[-1]
    assert "Page 2." in texts(at)
    at.button(key="costs_drill_prev").click().run()
    assert list(at.dataframe[-1].value["time_utc"]) == first
    at.button(key="costs_drill_close").click().run()
    assert "user" not in at.query_params


def test_reprice_moves_the_totals(console, org) -> None:
    at = costs(console, "boss", DECEMBER)
    assert metric(at, "Spend (priced)") == "$53.00"
    with console.runtime.sessions.begin() as s:
        from sqlalchemy import select

        from core.store.tables import ModelRecord, Provider

        shared = s.scalar(select(Provider).where(Provider.name == "Shared"))
        record = s.scalar(select(ModelRecord).where(ModelRecord.provider_id == shared.id))
        record.input_cost_per_million = Decimal(2)
    form = [t for t in at.text_input if t.label.startswith("Provider (empty")][0]
    form.set_value("Shared")
    next(t for t in at.text_input if t.label == "Model id").set_value("house-model")
    next(d for d in at.date_input if d.label == "First day" and d.key is None).set_value(
        date(2026, 11, 1)
    )
    next(d for d in at.date_input if d.label == "Last day (included)" and d.key is None).set_value(
        date(2026, 12, 15)
    )
    next(b for b in at.button if b.label == "Reprice").click().run()
    assert not at.exception
    assert "Repriced:" in texts(at)
    assert metric(at, "Spend (priced)") == "$73.00"  # Shared's $20 of December doubled


def _import(at: AppTest, text: str, whole: bool = False) -> AppTest:
    next(t for t in at.text_area if t.label == "Or paste the lines").set_value(text)
    next(c for c in at.checkbox if c.label.startswith("All or nothing")).set_value(whole)
    next(b for b in at.button if b.label == "Import").click().run()
    assert not at.exception
    return at


CSV_HEAD = "timestamp,provider,model,user,input_tokens,output_tokens,id\n"


def test_import_reports_a_bad_line_and_moves_the_totals(console, org) -> None:
    at = costs(console, "boss", DECEMBER)
    good = "2026-12-05T10:00:00Z,Shared,house-model,olga,1000000,0,up-1\n"
    bad = "2026-12-05T10:00:00Z,Shared,house-model,olga,lots,0,up-2\n"
    at = _import(at, CSV_HEAD + good + bad, whole=True)
    assert "nothing stored" in texts(at) and "line 3" in " ".join(c.value for c in at.code)
    at = costs(console, "boss", DECEMBER)
    assert metric(at, "Spend (priced)") == "$53.00"
    at = _import(at, CSV_HEAD + good + bad)
    assert "line 3" in " ".join(c.value for c in at.code)
    assert metric(at, "Spend (priced)") == "$54.00"  # the same view, after its rerun
    at.run()  # the report was shown once
    assert "line 3" not in " ".join(c.value for c in at.code)


def test_a_created_token_is_shown_once_and_never_kept(console, org) -> None:
    at = costs(console, "boss", DECEMBER)
    next(t for t in at.text_input if t.label == "Source name").set_value("collector-1")
    next(b for b in at.button if b.label == "Create token").click().run()
    [token] = [c.value for c in at.code if c.value.startswith(ingest_tokens.TOKEN_PREFIX)]
    with console.runtime.sessions() as s:  # the token shown is the one that works
        assert ingest_tokens.verify(s, token) is not None
    assert token not in state_dump(at)
    at.run()
    assert token not in " ".join(c.value for c in at.code) + texts(at)
    assert token not in state_dump(at)
    assert "collector-1" in " ".join(t.value.to_csv() for t in at.table)
    next(b for b in at.button if b.label == "Revoke").click().run()
    assert "revoked" in texts(at)


def test_member_has_no_admin_actions(console, org) -> None:
    at = costs(console, "olga", DECEMBER)
    assert "Admin actions" not in texts(at)
    assert not [b for b in at.button if b.label in ("Reprice", "Import", "Create token")]


def test_demo_data_as_admin_and_member(console, people) -> None:
    seed_demo(
        console.runtime.sessions,
        timezone="UTC",
        force=True,
        now=datetime.now(UTC) - timedelta(hours=1),
    )
    with console.runtime.sessions() as s:
        from sqlalchemy import select

        from core.store.tables import User

        names = {u.username: u.role for u in s.scalars(select(User))}
    admin = next(n for n, r in names.items() if r == "admin" and n != "alice")
    member = next(n for n, r in names.items() if r != "admin" and n != "bob")
    for who in (admin, member):
        at = costs(console, who, {"period": "30d"})
        assert metric(at, "Spend (priced)") != "$0.00"
        assert at.get("plotly_chart")
    at = costs(console, admin, {"period": "90d"})
    assert "Unpriced usage" in texts(at)


def test_a_custom_period_picked_on_the_page_goes_into_the_url(console, org) -> None:
    at = costs(console, "boss")
    at.segmented_control(key="costs_period").set_value("custom").run()
    at.date_input(key="costs_first").set_value(date(2026, 12, 1))
    at.date_input(key="costs_last").set_value(date(2026, 12, 15)).run()
    assert (at.query_params["from"], at.query_params["to"]) == ("2026-12-01", "2026-12-15")
    assert metric(at, "Spend (priced)") == "$53.00"
    # a first day after the last: a message, no traceback, nothing else drawn
    at.date_input(key="costs_first").set_value(date(2026, 12, 20)).run()
    assert not at.exception and "is not after" in texts(at)


def test_back_from_another_page_the_last_view_comes_back(console, org) -> None:
    at = costs(console, "boss", DECEMBER | {"by": "user"})
    at.switch_page("pages/health.py").run()
    for key in list(at.query_params):
        del at.query_params[key]
    at.switch_page(PAGE).run()
    assert at.query_params["by"] == "user" and at.query_params["period"] == "custom"
    assert metric(at, "Spend (priced)") == "$53.00"


@pytest.mark.parametrize("as_user", ["boss", "olga"])
def test_breakdown_tables_equal_summary_by_user_and_model(console, org, as_user) -> None:
    at = costs(console, as_user, DECEMBER)
    span = {"date_from": date(2026, 12, 1), "date_to": date(2026, 12, 16)}
    with console.runtime.sessions() as s:
        viewer = spend.user(s, org, as_user)
        by_user = summary.summarize(s, by="user", viewer=viewer, **span)
        by_model = summary.summarize(s, by="model", viewer=viewer, **span)
    people = next(d.value for d in at.dataframe if "User" in d.value.columns)
    assert list(people["User"]) == [g.labels["user"] for g in by_user]
    assert list(people["Requests"]) == [g.totals.requests for g in by_user]
    models = next(d.value for d in at.dataframe if "Per M tokens" in d.value.columns)
    assert list(zip(models["Provider"], models["Model"], models["Requests"], strict=True)) == [
        (g.labels["provider"], g.labels["model"], g.totals.requests) for g in by_model
    ]
    priced = [usd(g.totals.cost_usd) for g in by_model if not g.totals.unpriced_requests]
    assert [s for s in models["Spend"] if "unpriced" not in s] == priced


@pytest.mark.parametrize("as_user", ["boss", "olga"])
def test_the_page_reads_each_period_once_from_the_rollups_never_the_events(
    console, org, as_user
) -> None:
    import re

    from tests.support.factories import counting

    at = console.open(None, as_user=as_user, timeout=60)  # the shell's reads are not the page's
    at.query_params.update(period="90d", by="model")
    with counting() as statements:  # every engine: the app opens its own
        at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    assert not [sql for sql in statements if "usage_events" in sql]
    daily = [sql for sql in statements if re.search(r"\bFROM usage_daily(_models|_users)?\b", sql)]
    finder = [sql for sql in daily if "unpriced_requests =" in sql or "unpriced_requests >" in sql]
    # the period per model and per user (totals, model lines and top users fold them), the
    # previous period's totals and the cost over time: four reads, however many events; the
    # savings finder adds its two (the priced token mix per model, the usage it leaves out)
    assert len(daily) - len(finder) == 4, daily
    assert len(finder) == 2, finder


def test_the_chart_shows_the_biggest_splits_and_the_rest_as_one_band(console, org) -> None:
    import json

    from core.usage.inputs import UsageInput
    from core.usage.ledger import record_usage

    with console.runtime.sessions.begin() as s:  # 14 more users: $1 … $14 on Dec 3
        record_usage(
            s,
            events=[
                UsageInput(
                    timestamp=datetime(2026, 12, 3, 9, tzinfo=UTC),
                    provider="Shared",
                    model="house-model",
                    input_tokens=n * 1_000_000,
                    output_tokens=0,
                    user=f"svc-{n:02d}",
                    idempotency_key=f"many-{n}",
                )
                for n in range(1, 15)
            ],
            timezone=spend.TZ,
            now=spend.NOW,
        )
    at = costs(console, "boss", DECEMBER | {"by": "user"})
    data = json.loads(at.get("plotly_chart")[0].proto.spec)["data"]
    # 16 users: the 11 biggest (vera $30, olga $23, svc-14 … svc-06) and the other 5 as one
    assert [t["name"] for t in data] == [
        "vera",
        "olga",
        *(f"svc-{n:02d}" for n in range(14, 5, -1)),
        "(5 others)",
    ]
    assert sum(Decimal(str(y)) for y in data[-1]["y"]) == Decimal(1 + 2 + 3 + 4 + 5)
    chart_total = sum(Decimal(str(y)) for t in data for y in t["y"])
    assert usd(chart_total) == metric(at, "Spend (priced)")
