"""The Costs page's reads beyond one grouping: summaries by several columns (day,model) and
keyset pages of raw events, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

import pytest
from sqlalchemy import select

from core.errors import ValidationError
from core.store.usage_tables import UsageEvent
from core.usage import events, summary
from core.usage.rollups import Totals
from tests.test_usage_summary import ledger  # noqa: F401  # the same seeded ledger

PERIOD = {"date_from": date(2026, 4, 25), "date_to": date(2026, 5, 20)}


def test_day_by_model_adds_up_to_each_grouping(ledger):  # noqa: F811
    with ledger.sessions() as s:
        both = summary.summarize(s, by="day,model", **PERIOD)
        by_day = summary.summarize(s, by="day", **PERIOD)
        by_model = summary.summarize(s, by="model", **PERIOD)
    assert list(both[0].labels) == ["day", "provider", "model"]
    assert [g.labels["day"] for g in both] == sorted(g.labels["day"] for g in both)
    days: dict[str, Totals] = defaultdict(Totals)
    models: dict[tuple[str, str], Totals] = defaultdict(Totals)
    for g in both:
        days[g.labels["day"]].add(g.totals)
        models[(g.labels["provider"], g.labels["model"])].add(g.totals)
    assert days == {g.labels["day"]: g.totals for g in by_day}
    assert models == {(g.labels["provider"], g.labels["model"]): g.totals for g in by_model}


def test_a_grouping_named_twice_or_with_a_tag_is_refused():
    # a tag goes alone or after day (day,tag:team: the Costs page's cost over time by tag)
    for by in ("day,day", "model,tag:team", "tag:team,day", "day,model,tag:team", "day,week"):
        with pytest.raises(ValidationError, match="Group by one of"):
            summary.check_grouping(by)


@pytest.mark.parametrize(
    "where",
    [{"model": "gpt-4o"}, {"user": "bob"}, {"tag": ("team", "ads")}, {"provider": "OpenAI"}, {}],
)
def test_pages_by_key_walk_the_filtered_events_once_in_order(ledger, where):  # noqa: F811
    with ledger.sessions() as s:
        expected = [
            e
            for e in s.scalars(select(UsageEvent))
            if PERIOD["date_from"] <= e.day < PERIOD["date_to"]
            and e.model_id == where.get("model", e.model_id)
            and e.username == where.get("user", e.username)
            and e.provider_name == where.get("provider", e.provider_name)
            and ("tag" not in where or e.tags.get(where["tag"][0]) == where["tag"][1])
        ]
        expected.sort(key=lambda e: (e.occurred_at, str(e.id)))
        walked, after = [], None
        while page := events.page(s, **PERIOD, **where, after=after, limit=7):
            walked += page
            after = events.key_of(page[-1])
    assert expected and [e.id for e in walked] == [e.id for e in expected]


def test_a_page_holds_1_to_500_events(ledger):  # noqa: F811
    with ledger.sessions() as s, pytest.raises(ValidationError, match="1 to 500"):
        events.page(s, **PERIOD, limit=0)
