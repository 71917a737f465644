"""The Costs page's view in the URL (round trip, bad values noted), its drill-down rows and
CSV (formula-safe), and the drill-down's visibility for members."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest

from core.errors import PermissionDeniedError
from core.usage import costs_view, events
from core.usage.costs_view import Drill, View
from tests.support import spend

TODAY = date(2026, 12, 15)


@pytest.mark.parametrize(
    "view",
    [
        View(),
        View(period="last_month", bucket="week", by="model"),
        View(period="custom", first=date(2026, 11, 3), last=date(2026, 11, 9), by="tag:team"),
        View(period="7d", drill=Drill(provider="Shared", model="house-model")),
        View(period="90d", by="user", drill=Drill(user="olga")),
        View(drill=Drill(tag=("team", "a=b"))),
        View(drill=Drill(provider="Shared", days=(date(2026, 12, 3), date(2026, 12, 3)))),
        View(
            bucket="week",
            by="model",
            drill=Drill(provider="S", model="m", days=(date(2026, 11, 30), date(2026, 12, 6))),
        ),
    ],
)
def test_a_view_round_trips_through_the_url(view):
    assert costs_view.parse_query(view.to_query(), today=TODAY) == (view, [])


@pytest.mark.parametrize(
    ("query", "note"),
    [
        ({"period": "fortnight"}, "Unknown period"),
        ({"period": "custom", "from": "2026-13-01", "to": "2026-12-01"}, "not a date"),
        ({"period": "custom", "from": "2026-12-05", "to": "2026-12-01"}, "is empty"),
        ({"period": "custom", "from": "2000-01-01", "to": "2026-12-01"}, "at most"),
        ({"bucket": "hour"}, "Unknown bucket"),
        ({"by": "tag:bad key"}, "Cannot split"),
        ({"by": "day"}, "Cannot split"),
        ({"tag": "novalue"}, "not KEY=VALUE"),
        ({"user": "x" * 300}, "too long"),
        ({"days": "2026-12-01..2026-12-09"}, "one day or one week"),
        ({"days": "2026-12-05..2026-12-01"}, "one day or one week"),
        ({"days": "yesterday"}, "not a date"),
    ],
)
def test_a_bad_query_value_falls_back_with_a_note(query, note):
    view, notes = costs_view.parse_query(query, today=TODAY)
    assert len(notes) == 1 and note in notes[0]
    assert view.period in ("this_month", "custom") and view.span(TODAY).days > 0
    assert view.bucket in ("day", "week") and not view.drill


def test_a_bars_days_narrow_the_period_and_stay_inside_it():
    period = View(period="custom", first=date(2026, 12, 1), last=date(2026, 12, 15)).span(TODAY)
    week = Drill(provider="S", days=(date(2026, 11, 30), date(2026, 12, 6)))
    narrowed = week.span(period)
    assert (narrowed.date_from, narrowed.date_to) == (date(2026, 12, 1), date(2026, 12, 7))
    assert Drill(provider="S").span(period) == period
    assert "days 2026-11-30 to 2026-12-06" in week.label


def _event(**kw):
    base = dict(
        occurred_at=datetime(2026, 12, 1, 10, tzinfo=UTC),
        day=date(2026, 12, 1),
        provider_name="P",
        model_id="m",
        username="u",
        requests=1,
        input_tokens=10,
        cached_input_tokens=0,
        output_tokens=2,
        reasoning_tokens=0,
        cost_usd=None,
        tags={},
    )
    return SimpleNamespace(**(base | kw))


def test_the_csv_is_the_rows_shown_with_formula_cells_quoted():
    rows = costs_view.event_rows(
        [_event(model_id="=HYPERLINK(1)", tags={"team": "@x"}), _event(username="-1+2")]
    )
    parsed = list(csv.DictReader(io.StringIO(costs_view.rows_csv(rows).decode())))
    assert [r["model"] for r in parsed] == ["'=HYPERLINK(1)", "m"]
    assert parsed[1]["user"] == "'-1+2"
    assert parsed[0]["cost_usd"] == ""  # unpriced: empty, never $0
    assert len(parsed) == 2


def test_a_member_drilling_down_never_sees_another_users_private_usage(runtime):
    org = spend.seed(runtime)
    period = {"date_from": date(2026, 12, 1), "date_to": date(2026, 12, 16)}
    with runtime.sessions() as s:
        vera = spend.user(s, org, "vera")
        olga = spend.user(s, org, "olga")
        mine = events.page(s, **period, viewer=vera, limit=500)
        theirs = events.page(s, **period, viewer=olga, provider="Olga AI", limit=500)
        peek = events.page(s, **period, viewer=vera, provider="Olga AI", limit=500)
        everyone = events.page(s, **period, limit=500)
        with pytest.raises(PermissionDeniedError):
            events.page(s, **period, viewer=vera, tag=("team", "ads"))
    # vera's own usage and the instance-wide provider's, never olga's private provider's
    assert {e.provider_name for e in mine} == {"Shared", "Vera AI"}
    assert len(theirs) == 1 and peek == []
    assert {e.provider_name for e in everyone} == {"Shared", "Olga AI", "Vera AI"}


def test_tag_keys_of_the_period_are_for_admins(runtime):
    org = spend.seed(runtime)
    span = View(period="custom", first=date(2026, 12, 1), last=date(2026, 12, 15)).span(TODAY)
    before = View(period="custom", first=date(2026, 11, 2), last=date(2026, 11, 20)).span(TODAY)
    with runtime.sessions() as s:
        boss, vera = spend.user(s, org, "boss"), spend.user(s, org, "vera")
        assert costs_view.tag_keys(s, viewer=boss, span=span) == ["team"]
        assert costs_view.tag_keys(s, viewer=boss, span=before) == []
        assert costs_view.tag_keys(s, viewer=vera, span=span) == []


def test_the_change_text_signs_a_fall_so_the_metric_arrow_points_down():
    from decimal import Decimal

    from core.usage import overview
    from core.usage.rollups import Totals

    now = overview.Period("7d", date(2026, 12, 9), date(2026, 12, 16))
    fall = overview.Comparison(
        now, now.previous, Totals(cost_usd=Decimal(3)), Totals(cost_usd=Decimal(4))
    )
    rise = overview.Comparison(
        now, now.previous, Totals(cost_usd=Decimal(5)), Totals(cost_usd=Decimal(4))
    )
    first = overview.Comparison(now, now.previous, Totals(cost_usd=Decimal(5)), Totals())
    assert costs_view.change_text(fall) == "-$1.00 (-25.0 %) against 2026-12-02 to 2026-12-08"
    assert costs_view.change_text(rise).startswith("+$1.00 (+25.0 %)")
    assert costs_view.change_text(first) == "+$5.00 against 2026-12-02 to 2026-12-08"
