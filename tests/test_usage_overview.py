"""The Overview and Costs pages' figures: periods and their comparisons, month to date, top
groups, per-model effective prices, cache share and savings, unpriced usage — each equal to
``summary.summarize`` for the same period, grouping and viewer; a member never sees another
user's usage of a private provider."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from core.errors import PermissionDeniedError, ValidationError
from core.records import model_records
from core.usage import overview, summary
from core.usage.inputs import UsageInput
from core.usage.ledger import record_usage
from tests.support import spend
from tests.support.spend import NOW, TZ

D = Decimal
TODAY = date(2026, 12, 15)


@pytest.fixture
def org(runtime):
    found = spend.seed(runtime)
    with runtime.sessions.begin() as s:
        model_records.create_model(
            s,
            actor=spend.user(s, found, "boss"),
            provider_id=found.providers["Shared"],
            model_id="cache-model",
            name="Cache model",
            input_cost_per_million=D(3),
            cache_read_cost_per_million=D("0.3"),
            output_cost_per_million=D(15),
        )
    with runtime.sessions.begin() as s:
        record_usage(
            s,
            events=[
                UsageInput(
                    timestamp=datetime(2026, 12, 14, 8, tzinfo=UTC),
                    provider="Shared",
                    model="cache-model",
                    input_tokens=2_000_000,
                    cached_input_tokens=1_500_000,
                    output_tokens=0,
                    user="vera",
                    idempotency_key="cached",
                )
            ],
            timezone=TZ,
            now=NOW,
        )
    return found


def test_periods_and_the_previous_period_of_the_same_length():
    this = overview.period("this_month", today=TODAY)
    assert (this.date_from, this.date_to) == (date(2026, 12, 1), date(2026, 12, 16))
    assert (this.previous.date_from, this.previous.date_to) == (
        date(2026, 11, 16),
        date(2026, 12, 1),
    )
    last = overview.period("last_month", today=date(2026, 3, 10))
    assert (last.date_from, last.date_to, last.days) == (date(2026, 2, 1), date(2026, 3, 1), 28)
    assert last.previous.date_from == date(2026, 1, 4)
    week = overview.period("7d", today=TODAY)
    assert (week.date_from, week.date_to) == (date(2026, 12, 9), date(2026, 12, 16))
    assert week.label == "Last 7 days (2026-12-09 to 2026-12-15)"
    assert overview.period("90d", today=TODAY).days == 90
    custom = overview.period(
        "custom", today=TODAY, date_from=date(2026, 1, 1), date_to=date(2026, 1, 11)
    )
    assert custom.previous.date_from == date(2025, 12, 22)


@pytest.mark.parametrize(
    ("key", "kw", "message"),
    [
        ("week", {}, "The period is one of this_month, last_month, 7d, 30d, 90d, custom"),
        ("custom", {}, "needs its first and last day"),
        ("custom", {"date_from": date(2026, 2, 1), "date_to": date(2026, 2, 1)}, "is empty"),
        ("custom", {"date_from": date(2000, 1, 1), "date_to": date(2026, 1, 1)}, "at most 3660"),
    ],
)
def test_bad_periods_are_refused_clearly(key, kw, message):
    with pytest.raises(ValidationError, match=message):
        overview.period(key, today=TODAY, **kw)


@pytest.mark.parametrize("who", ["boss", "olga", "vera"])
@pytest.mark.parametrize("key", ["this_month", "last_month", "7d", "30d", "90d"])
def test_period_totals_equal_the_summary(runtime, org, who, key):
    span = overview.period(key, today=TODAY)
    with runtime.sessions() as s:
        viewer = spend.user(s, org, who)
        found = overview.period_totals(s, viewer=viewer, span=span)
        for part, totals in ((span, found.totals), (span.previous, found.previous)):
            groups = summary.summarize(
                s, date_from=part.date_from, date_to=part.date_to, by="model", viewer=viewer
            )
            assert totals == summary.total(groups)


def test_the_change_against_the_previous_period(runtime, org):
    with runtime.sessions() as s:
        found = overview.period_totals(
            s, viewer=spend.user(s, org, "boss"), span=overview.period("this_month", today=TODAY)
        )
    # December: olga $15 + $5 + $3, vera $30 + $1.95 (cache model); before: Nov 16-30, $15
    assert found.totals.cost_usd == D("54.95") and found.previous.cost_usd == D(15)
    assert found.totals.unpriced_requests == 3
    assert found.change_usd == D("39.95") and found.change_ratio == D("2.6633")


def test_month_to_date_against_last_month_at_the_same_day(runtime, org):
    with runtime.sessions() as s:
        boss = spend.user(s, org, "boss")
        found = overview.month_to_date(s, viewer=boss, today=TODAY)
        assert (found.before.date_from, found.before.date_to) == (
            date(2026, 11, 1),
            date(2026, 11, 16),
        )
        assert found.totals.cost_usd == D("54.95") and found.previous.cost_usd == D(15)
        short = overview.month_to_date(s, viewer=boss, today=date(2027, 3, 31))
        assert (short.before.date_from, short.before.date_to) == (
            date(2027, 2, 1),
            date(2027, 3, 1),
        )


def test_top_groups_follow_the_summary_and_visibility(runtime, org):
    span = overview.period("this_month", today=TODAY)
    with runtime.sessions() as s:

        def top(who, by):
            return [
                tuple(g.labels.values())
                for g in overview.top(s, viewer=spend.user(s, org, who), span=span, by=by)
            ]

        assert top("boss", "user") == [("vera",), ("olga",)]
        assert top("boss", "tag:team") == [("ads",), ("search",), ("(no team)",)]
        # olga sees vera's usage of the instance-wide provider ($1.95), not of vera's own ($30)
        olga_users = overview.top(s, viewer=spend.user(s, org, "olga"), span=span, by="user")
        assert [(g.labels["user"], g.totals.cost_usd) for g in olga_users] == [
            ("olga", D(23)),
            ("vera", D("1.95")),
        ]
        # vera sees olga's usage of the instance-wide provider, never of olga's private one
        assert ("Olga AI", "house-model") not in [(p, m) for p, m in top("vera", "model")]
        assert ("Shared", "house-model") in [(p, m) for p, m in top("vera", "model")]
        assert top("boss", "model")[:2] == [("Vera AI", "house-model"), ("Shared", "house-model")]
        with pytest.raises(PermissionDeniedError, match="only admins"):
            top("olga", "tag:team")
        full = summary.summarize(s, date_from=span.date_from, date_to=span.date_to, by="model")
        assert overview.top(s, viewer=None, span=span, by="model", limit=3) == full[:3]


def test_model_lines_prices_cache_savings_and_unpriced(runtime, org):
    span = overview.period("this_month", today=TODAY)
    with runtime.sessions() as s:
        lines = {(m.provider, m.model): m for m in overview.models(s, viewer=None, span=span)}
        groups = summary.summarize(
            s, date_from=span.date_from, date_to=span.date_to, by="provider,model"
        )
    assert {k: m.totals for k, m in lines.items()} == {
        (g.labels["provider"], g.labels["model"]): g.totals for g in groups
    }
    cached = lines[("Shared", "cache-model")]
    # 0.5M input at $3 + 1.5M cached at $0.30 = $1.95 for 2M tokens
    assert cached.totals.cost_usd == D("1.95") and cached.price_per_million == D("0.975")
    assert cached.cache_share == D("0.75")
    # uncached, the 1.5M cached tokens would have cost $4.50 instead of $0.45
    assert cached.savings_usd == D("4.05")
    assert lines[("Vera AI", "house-model")].price_per_million == D(1)
    assert lines[("Vera AI", "house-model")].savings_usd == D(0)  # no cache use
    mystery = lines[("Shared", "mystery-model-x9")]
    assert mystery.price_per_million is None and mystery.savings_usd is None
    assert [
        (m.model, m.totals.unpriced_requests, m.totals.input_tokens, m.totals.output_tokens)
        for m in overview.unpriced(list(lines.values()))
    ] == [("mystery-model-x9", 3, 1234, 56)]
    total = overview.caching(list(lines.values()))
    assert total.cached_input_tokens == 1_500_000 and total.savings_usd == D("4.05")
    assert total.input_tokens == summary.total(groups).input_tokens
    assert total.unknown_models == 0


def test_a_member_model_lines_leave_out_private_usage_of_others(runtime, org):
    span = overview.period("this_month", today=TODAY)
    with runtime.sessions() as s:
        olga = {
            (m.provider, m.model)
            for m in overview.models(s, viewer=spend.user(s, org, "olga"), span=span)
        }
        vera = {
            (m.provider, m.model)
            for m in overview.models(s, viewer=spend.user(s, org, "vera"), span=span)
        }
    assert ("Vera AI", "house-model") not in olga and ("Olga AI", "house-model") in olga
    assert ("Olga AI", "house-model") not in vera and ("Vera AI", "house-model") in vera


def test_day_by_tag_summaries_add_up_to_the_tag_summary(runtime, org):
    span = overview.period("this_month", today=TODAY)
    with runtime.sessions() as s:
        daily = summary.summarize(
            s, date_from=span.date_from, date_to=span.date_to, by="day,tag:team"
        )
        whole = summary.summarize(s, date_from=span.date_from, date_to=span.date_to, by="tag:team")
    assert summary.label_columns("day,tag:team") == ("day", "team")
    folded: dict[str, summary.Totals] = {}
    for g in daily:
        folded.setdefault(g.labels["team"], summary.Totals()).add(g.totals)
    assert folded == {g.labels["team"]: g.totals for g in whole}
    assert [g.labels["day"] for g in daily] == sorted(g.labels["day"] for g in daily)


@pytest.mark.parametrize("who", ["boss", "olga"])
@pytest.mark.parametrize("split", [None, "provider", "model", "user"])
@pytest.mark.parametrize("bucket", ["day", "week"])
def test_cost_over_time_adds_up_to_the_summary(runtime, org, who, split, bucket):
    span = overview.period("30d", today=TODAY)
    with runtime.sessions() as s:
        viewer = spend.user(s, org, who)
        lines = overview.over_time(s, viewer=viewer, span=span, by=split, bucket=bucket)
        groups = summary.summarize(
            s, date_from=span.date_from, date_to=span.date_to, by=split or "day", viewer=viewer
        )
    assert summary.total(lines) == summary.total(groups)
    if split:
        per_group: dict[tuple, summary.Totals] = {}
        for line in lines:
            key = tuple(v for k, v in line.labels.items() if k != "bucket")
            per_group.setdefault(key, summary.Totals()).add(line.totals)
        assert per_group == {tuple(g.labels.values()): g.totals for g in groups}
    starts = {date.fromisoformat(line.labels["bucket"]) for line in lines}
    if bucket == "week":
        assert all(d.weekday() == 0 for d in starts)
        assert date(2026, 11, 30) in starts  # the Monday of Dec 1-6's week (Dec 1 is a Tuesday)


def test_over_time_by_tag_and_bad_choices(runtime, org):
    span = overview.period("this_month", today=TODAY)
    with runtime.sessions() as s:
        boss = spend.user(s, org, "boss")
        weeks = overview.over_time(s, viewer=boss, span=span, by="tag:team", bucket="week")
        assert {line.labels["team"] for line in weeks} == {"search", "ads", "(no team)"}
        with pytest.raises(ValidationError, match="days or weeks"):
            overview.over_time(s, viewer=boss, span=span, bucket="month")
        with pytest.raises(ValidationError, match="Split the cost by one of"):
            overview.over_time(s, viewer=boss, span=span, by="day")
        with pytest.raises(PermissionDeniedError):
            overview.over_time(s, viewer=spend.user(s, org, "olga"), span=span, by="tag:team")


@pytest.mark.parametrize("who", ["boss", "olga", "vera"])
@pytest.mark.parametrize("key", ["this_month", "last_month", "90d"])
def test_one_read_of_the_period_gives_the_same_answers(runtime, org, who, key):
    """What the pages fold from one ``read_usage`` equals each helper's own reads."""
    span = overview.period(key, today=TODAY)
    with runtime.sessions() as s:
        viewer = spend.user(s, org, who)
        used = overview.read_usage(s, viewer=viewer, span=span)
        alone = overview.period_totals(s, viewer=viewer, span=span)
        assert overview.period_totals(s, viewer=viewer, span=span, usage=used) == alone
        assert used.totals() == summary.total(
            summary.summarize(
                s, date_from=span.date_from, date_to=span.date_to, by="day", viewer=viewer
            )
        )
        lines = overview.models(s, viewer=viewer, span=span, usage=used)
        assert lines == overview.models(s, viewer=viewer, span=span)
        assert lines or who != "boss"
        for by in ("user", "model", "provider", "provider,model"):
            folded = overview.top(s, viewer=viewer, span=span, by=by, limit=50, usage=used)
            assert folded == overview.top(s, viewer=viewer, span=span, by=by, limit=50)
        if key == "this_month":
            mtd = overview.month_to_date(s, viewer=viewer, today=TODAY, usage=used)
            assert mtd == overview.month_to_date(s, viewer=viewer, today=TODAY)
        with pytest.raises(ValueError, match="usage of"):
            overview.models(s, viewer=viewer, span=span.previous, usage=used)
        unread = overview.read_usage(s, viewer=viewer, span=span, users=False)
        assert unread.totals() == used.totals() and not unread.folds("user")
        assert overview.top(s, viewer=viewer, span=span, by="user", usage=unread) == overview.top(
            s, viewer=viewer, span=span, by="user"
        )
