"""The Costs page's savings finder and chart drill-down (AppTest): an empty database, the demo
organisation as admin and as member (the page's figures are core.usage.savings' for the same
viewer; a member's alternatives never include a record they cannot see), the catalog scope,
the Explorer link that opens Compare with both models, and a chart bar's drill-down (the
bar's data → ``costs_view.bar_drill`` → the events of that day and group)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from streamlit.testing.v1 import AppTest

from core.accounts import users
from core.costs import usd
from core.demo import seed_demo
from core.usage import budget_status, costs_view, overview, savings
from core.usage.costs_view import Drill
from tests.support import spend
from tests.support.console import Console, texts
from tests.test_page_costs import DECEMBER, costs, metric

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def finder_frame(at: AppTest) -> Any:
    """The savings finder's table (the one with a Compare column and a Spent column)."""
    return next(df.value for df in at.dataframe if "Would have cost" in df.value.columns)


@pytest.fixture
def demo(console: Console, people: Any) -> dict[str, str]:
    seed_demo(
        console.runtime.sessions,
        timezone="UTC",
        force=True,
        now=datetime.now(UTC) - timedelta(hours=1),
    )
    return {"admin": "ada", "member": "ben"}


def expected(console: Console, username: str, scope: str = "configured") -> savings.Savings:
    today = budget_status.today_in("UTC")
    span = overview.period("30d", today=today)
    with console.runtime.sessions() as s:
        viewer = users.require_user(s, username)
        return savings.find(
            s, viewer=viewer, date_from=span.date_from, date_to=span.date_to, scope=scope
        )


def test_an_empty_database_has_nothing_to_compare(console: Console, people: Any) -> None:
    at = costs(console, "alice")
    assert "Savings finder" in texts(at)
    assert "No priced spend in this period: nothing to compare." in texts(at)


@pytest.mark.parametrize("role", ["admin", "member"])
def test_demo_figures_are_the_finders_for_the_same_viewer(console, demo, role) -> None:
    who = demo[role]
    at = costs(console, who, {"period": "30d"})
    want = expected(console, who)
    assert metric(at, "Priced spend compared") == usd(want.spent_usd)
    assert metric(at, "Could have saved") == usd(want.saving_usd)
    frame = finder_frame(at)
    assert list(zip(frame["Provider"], frame["Model"], strict=True)) == [
        (f.provider, f.model) for f in want.findings
    ]
    assert list(frame["Spent"]) == [usd(f.spent_usd) for f in want.findings]
    saved = [usd(f.best.saving_usd) if f.best else "" for f in want.findings]
    assert list(frame["Saving"]) == saved
    shown = texts(at)
    assert "Alternatives come from the model records you can see" in shown
    assert "Caching is assumed to hit the same way" in shown
    assert "Arena ratings: " in shown and "Catalog data: " in shown  # sources and dates
    if role == "admin":
        # ada's gpt-4o: Gemini 2.5 Flash (her private record) rates higher and costs less
        assert want.saving_usd > 0
        assert "Google Gemini / gemini-2.5-flash" in set(frame["Alternative"])
        assert "Unpriced usage is left out" in shown  # the lab's unpriced model
    else:
        # ben sees neither ada's private Gemini record nor the lab's usage
        everything = " ".join(str(df.value.to_dict()) for df in at.dataframe)
        assert "Google Gemini" not in " ".join(frame["Alternative"])
        assert "Lab vLLM" not in everything
        assert "Unpriced usage is left out" not in shown


def test_the_catalog_scope_and_its_compare_link(console, demo) -> None:
    at = costs(console, demo["member"], {"period": "30d"})
    at.segmented_control(key="costs_savings_scope").set_value("catalog").run()
    assert not at.exception
    want = expected(console, demo["member"], scope="catalog")
    assert metric(at, "Could have saved") == usd(want.saving_usd)
    assert "Alternatives come from the whole catalog" in texts(at)
    frame = finder_frame(at)
    link = next(x for x in frame["Compare"] if x)
    parsed = urlparse(link)
    query = parse_qs(parsed.query)
    assert parsed.path == "explorer" and query["scope"] == ["catalog"]
    keys = query["compare"][0].split(",")
    assert len(keys) == 2 and all("/" in k for k in keys)  # provider_type/model in the catalog
    # the link opens the Explorer's Compare with both models side by side
    explorer = console.open(as_user=demo["member"])
    explorer.query_params.update({k: v[0] for k, v in query.items()})
    explorer.switch_page("pages/explorer.py").run()
    assert not explorer.exception
    assert explorer.multiselect(key="explorer_compare").value == keys
    assert len(explorer.table[0].value.columns) == 2
    assert "compare" not in explorer.query_params  # taken once


# --- The chart's bars --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("point", "by", "bucket", "drill"),
    [
        (
            {"x": "2026-12-03", "customdata": ["Shared"]},
            "provider",
            "day",
            Drill(provider="Shared", days=(date(2026, 12, 3), date(2026, 12, 3))),
        ),
        (
            {"x": "2026-11-30", "customdata": ["Shared", "house-model"]},
            "model",
            "week",
            Drill(
                provider="Shared",
                model="house-model",
                days=(date(2026, 11, 30), date(2026, 12, 6)),
            ),
        ),
        (
            {"x": "2026-12-03", "customdata": ["olga"]},
            "user",
            "day",
            Drill(user="olga", days=(date(2026, 12, 3), date(2026, 12, 3))),
        ),
        (
            {"x": "2026-12-03", "customdata": ["ads"]},
            "tag:team",
            "day",
            Drill(tag=("team", "ads"), days=(date(2026, 12, 3), date(2026, 12, 3))),
        ),
        ({"x": "2026-12-03", "customdata": ["(no user)"]}, "user", "day", None),
        ({"x": "2026-12-03", "customdata": ["(no team)"]}, "tag:team", "day", None),
        ({"x": "not a day", "customdata": ["Shared"]}, "provider", "day", None),
        ({"x": "2026-12-03"}, "provider", "day", None),
        ({"x": "2026-12-03", "customdata": [7]}, "provider", "day", None),
    ],
)
def test_a_selected_bar_maps_to_its_drill_down(point, by, bucket, drill) -> None:
    assert costs_view.bar_drill(point, by=by, bucket=bucket) == drill


@pytest.mark.parametrize(("by", "bucket"), [("provider", "day"), ("model", "week")])
def test_a_bar_opens_the_events_behind_it(console, by, bucket) -> None:
    spend.seed(console.runtime)
    at = costs(console, "boss", DECEMBER | {"by": by, "bucket": bucket})
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    trace = next(t for t in figure["data"] if "Shared" in t["name"])
    i = next(n for n, y in enumerate(trace["y"]) if y)  # the first bar with spend
    point = {"x": trace["x"][i], "customdata": trace["customdata"][i]}
    drill = costs_view.bar_drill(point, by=by, bucket=bucket)
    assert drill is not None and drill.provider == "Shared"
    query = costs_view.View(
        period="custom",
        first=date(2026, 12, 1),
        last=date(2026, 12, 15),
        bucket=bucket,
        by=by,
        drill=drill,
    ).to_query()
    at = costs(console, "boss", query)
    events = at.dataframe[-1].value
    assert set(events["provider"]) == {"Shared"}
    first, last = drill.days  # type: ignore[misc]
    assert all(first.isoformat() <= d <= last.isoformat() for d in events["day"])
    # the events behind the bar add up to the bar
    bar = Decimal(str(trace["y"][i]))
    assert sum(Decimal(c) for c in events["cost_usd"] if c) == bar
    assert ("day " if bucket == "day" else "days ") in texts(at)


def test_a_bad_days_value_in_the_link_is_ignored_with_a_note(console) -> None:
    spend.seed(console.runtime)
    bad = {"provider": "Shared", "model": "house-model", "days": "2026-12-01..2027-01-30"}
    at = costs(console, "boss", DECEMBER | bad)
    assert "Ignored the days to drill into." in texts(at)
    assert len(at.dataframe[-1].value) == 16  # the whole period's events of the row
