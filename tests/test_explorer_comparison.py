"""The Explorer's comparison (core.explorer.comparison): the cost/quality Pareto frontier
(hypothesis properties), chart points, the capability matrix, side by side with sources,
and price history."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from core.costs import Prices
from core.explorer import comparison, scopes, workload
from core.vocabulary import FEATURES
from tests.support.capabilities import MODELS, cap, names

# --- The Pareto frontier ----------------------------------------------------------------------


def dominates(a: tuple[Decimal, int], b: tuple[Decimal, int]) -> bool:
    return a[0] <= b[0] and a[1] >= b[1] and a != b


def test_frontier_by_hand() -> None:
    points = [
        (Decimal(5), 3),
        (Decimal(1), 1),
        (Decimal(2), 2),
        (Decimal(3), 2),
        (Decimal(2), 2),
        (Decimal(9), 3),
        (Decimal(1), 0),
    ]
    assert comparison.pareto_frontier(points) == [1, 2, 4, 0]
    assert comparison.pareto_frontier([]) == []


POINTS = st.lists(st.tuples(st.decimals(0, 50, places=1), st.integers(0, 3)), max_size=40)


@given(POINTS)
def test_frontier_points_are_exactly_the_undominated_ones(points) -> None:
    front = comparison.pareto_frontier(points)
    assert len(set(front)) == len(front)
    for i in front:  # no frontier point is dominated by any point
        assert not any(dominates(p, points[i]) for p in points)
    for j in set(range(len(points))) - set(front):  # the rest: dominated by a frontier point
        assert any(dominates(points[i], points[j]) for i in front)
    costs = [points[i][0] for i in front]
    assert costs == sorted(costs)
    assert [points[i][1] for i in front] == sorted(points[i][1] for i in front)


@given(POINTS, st.randoms())
def test_frontier_does_not_depend_on_order(points, rnd) -> None:
    shuffled = points[:]
    rnd.shuffle(shuffled)
    assert sorted(points[i] for i in comparison.pareto_frontier(points)) == sorted(
        shuffled[i] for i in comparison.pareto_frontier(shuffled)
    )


def test_frontier_models_leave_out_unpriced_and_unrated() -> None:
    assert names(comparison.frontier_models(MODELS)) == ["gpt-4o-mini", "gpt-4o"]


# --- Chart, matrix and comparison frames ------------------------------------------------------


def test_price_points_keep_rated_and_frontier_models_when_sampling() -> None:
    many = [
        cap(
            f"m{i}",
            provider_type=["openai", "groq", "anthropic", "ollama"][i % 4],
            price=str(1 + i % 50),
            context=1000 * (i + 1),
        )
        for i in range(300)
    ]
    many += [cap("best", quality="high", price="0.5"), cap("free", price="0")]
    points = comparison.price_points(many + [cap("unpriced")], limit=100, top_providers=2)
    frame = points.frame
    assert len(frame) == 100 and points.sampled
    assert (points.priced, points.unpriced, points.rated) == (302, 1, 1)
    assert {"best"} <= set(frame["key"].str.split("/").str[1])
    assert frame.loc[frame["frontier"], "key"].tolist() == ["openai/best"]
    assert points.groups == ("openai", "anthropic", comparison.OTHER)  # 77, 75; 75, 75
    assert set(frame["group"]) <= set(points.groups)
    free = frame[frame["key"] == "openai/free"]
    assert free["price"].tolist() == [points.free_x] and free["price_text"].tolist() == ["free"]
    assert points.free_x < 0.5


def test_price_points_draw_everything_under_the_limit() -> None:
    points = comparison.price_points(MODELS)
    assert not points.sampled and len(points.frame) == 4 and points.unpriced == 1
    row = points.frame.set_index("key").loc["openai/gpt-4o"]
    # y is the quality value Best model ranks on (a seed/record tier: its band's value).
    assert row["quality"] == "high quality" and row["quality_y"] == 1400  # frontier: not jittered
    assert row["label"] == "gpt-4o"  # frontier points are named on the chart


def test_capability_matrix_and_comparison_show_where_values_came_from() -> None:
    matrix = comparison.capability_matrix(MODELS[:2])
    assert matrix.shape == (2, len(FEATURES))
    assert matrix.loc["gpt-4o-mini — OpenAI", "tool use"]
    assert not matrix.loc["gpt-4o — OpenAI", "tool use"]
    sourced = cap(
        "gpt-4o",
        quality="high",
        price="3",
        sources={"quality": "rated by an admin"},
        record_id="r1",
    )
    table = comparison.comparison_frame([sourced, MODELS[3]], lambda m: None)
    assert table.loc["Quality"].tolist() == [
        "high quality [rated by an admin]",
        "quality not rated",
    ]
    assert table.loc["Prices from"].tolist() == ["unpriced", "unpriced"]
    assert table.loc["Blended $/M (3:1)"].tolist() == ["$3.00", "unpriced"]


def test_price_history_lists_dated_changes_and_marks_scheduled_ones() -> None:
    from datetime import date

    from core.catalog.model_facts import ModelFacts, PricePoint

    def point(since, price):
        return PricePoint(since, Prices(input=Decimal(price), output=Decimal(price) * 5))

    facts = ModelFacts(
        provider_type="openai",
        model_id="m",
        name="m",
        price_history=(
            point(None, "3"),
            point(date(2026, 3, 13), "5"),
            point(date(2027, 1, 1), "4"),
        ),
    )
    assert comparison.price_history(facts, today=date(2026, 11, 22)) == (
        "at first: $3.00 in / $15.00 out; since 2026-03-13: $5.00 in / $25.00 out; "
        "from 2027-01-01 (scheduled): $4.00 in / $20.00 out"
    )
    assert comparison.price_history(None) == "no changes listed"
    opus = scopes.capabilities(None, scope="catalog")
    real = [m for m in opus if (m.provider_type, m.model) == ("anthropic", "claude-opus-4-6")]
    assert (
        "since 2026-03-13"
        in comparison.comparison_frame(real, workload.prices_of).loc["Price history"].iloc[0]
    )


def test_price_points_use_the_numeric_rating_and_name_the_top_points() -> None:
    from tests.test_ranking import Rating

    rated = [
        cap(
            f"r{i}",
            price=str(1 + i),
            rating=Rating(1300.0 + 10 * i, 1295.0 + 10 * i, 1305.0 + 10 * i),
        )
        for i in range(20)
    ]
    cheap_good = cap("cheap-good", price="0.5", rating=Rating(1500.0, 1490.0, 1510.0))
    points = comparison.price_points([*rated, cheap_good, cap("plain", price="0.1")], labelled=5)
    frame = points.frame.set_index("key")
    assert frame.loc["openai/r3", "quality_y"] == 1330.0
    # The frontier is computed on the rating: the cheap, best-rated one beats every r.
    assert frame.loc[frame["frontier"]].index.tolist() == ["openai/cheap-good"]
    assert frame.loc["openai/plain", "quality_y"] < 1300.0 - comparison.UNRATED_GAP / 2
    named = frame.loc[frame["label"] != "", "label"].tolist()
    assert len(named) == 5 and "cheap-good" in named and "r19" in named and "plain" not in named
    assert frame.loc["openai/r3", "quality"].startswith(
        "Arena 1330 ± 5 (1,000 votes, text board, 2026-10-05)"
    )
    assert points.rated == 21


def test_two_models_at_one_spot_get_one_label() -> None:
    from tests.test_ranking import Rating

    same = Rating(1336.0, 1332.0, 1340.0)
    points = comparison.price_points(
        [
            cap("gpt-4o", name="GPT-4o", price="4.375", rating=same),
            cap("gpt-4o", name="GPT-4o (Azure EU)", price="4.375", rating=same, record_id="r2"),
        ]
    )
    assert (points.frame["label"] != "").sum() == 1


def test_chart_prices_are_money_to_significant_digits() -> None:
    points = comparison.price_points(
        [cap("odd", price="0.500000075"), cap("tiny", price="0.0000375")]
    )
    texts = dict(zip(points.frame["name"], points.frame["price_text"], strict=True))
    assert texts == {"odd": "$0.50", "tiny": "$0.0000375"}  # never $0.500000075
