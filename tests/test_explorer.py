"""The Explorer's core: filters and their URL form (garbage never raises), narrowing, the
cost/quality Pareto frontier (hypothesis properties), chart frames, and the workload
calculator (sorting, unpriced last, CSV safe to open in a spreadsheet)."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.costs import Prices
from core.errors import ValidationError
from core.explorer import comparison, filters, scopes, workload
from core.explorer.filters import Filters, parse_query
from core.explorer.registry import ModelCapability
from core.vocabulary import FEATURES


def cap(
    model: str,
    *,
    provider_type: str = "openai",
    quality: str | None = None,
    price: str | None = None,
    context: int | None = None,
    features: str = "chat",
    name: str = "",
    deprecated: bool = False,
    **kw,
) -> ModelCapability:
    return ModelCapability(
        provider_type=provider_type,
        model=model,
        speed="medium",
        quality=quality,
        cost=None if price is None else "low",
        context_window=context,
        features=frozenset(features.split()),
        name=name or model,
        blended_price=None if price is None else Decimal(price),
        deprecated=deprecated,
        provider_label=provider_type,
        **kw,
    )


# --- Filters and the URL --------------------------------------------------------------------


def test_the_default_view_has_an_empty_query_and_back() -> None:
    assert Filters().to_query() == {}
    assert parse_query({}) == (Filters(), ())
    assert FEATURES == frozenset(filters.FEATURE_ORDER) == frozenset(filters.FEATURE_LABELS)


def test_a_full_view_round_trips_through_its_query() -> None:
    view = Filters(
        scope="catalog",
        features=frozenset({"vision", "tool_use"}),
        provider_types=frozenset({"openai", "anthropic"}),
        min_context=128_000,
        max_price=Decimal("2.50"),
        input_modalities=frozenset({"image", "pdf"}),
        output_modalities=frozenset({"audio"}),
        usable_only=True,
        blend=(1, 1),
        search="mini",
        deprecated=True,
    )
    query = view.to_query()
    assert query == {
        "scope": "catalog",
        "features": "tool_use,vision",
        "providers": "anthropic,openai",
        "context": "128000",
        "price": "2.5",
        "in": "image,pdf",
        "out": "audio",
        "usable": "1",
        "blend": "1:1",
        "q": "mini",
        "deprecated": "1",
    }
    assert set(query) <= set(filters.QUERY_KEYS)
    assert Filters.from_query(query) == view


@pytest.mark.parametrize(
    "query, warning",
    [
        ({"scope": "everything"}, "scope 'everything'"),
        ({"features": "vision,telepathy"}, "unknown features in the link: telepathy"),
        ({"providers": "openai,not-a-provider"}, "unknown provider types"),
        ({"context": "lots"}, "minimum context 'lots'"),
        ({"context": "0"}, "minimum context '0'"),
        ({"context": "-128k"}, "minimum context"),
        ({"price": "-1"}, "maximum price '-1'"),
        ({"price": "NaN"}, "maximum price 'NaN'"),
        ({"price": "1e999"}, "maximum price"),
        ({"price": "=HYPERLINK(1)"}, "maximum price"),
        ({"blend": "0:0"}, "blend ratio '0:0'"),
        ({"blend": "3:1:2"}, "blend ratio"),
        ({"blend": "1000:1"}, "blend ratio"),
        ({"usable": "maybe"}, "usable-only switch 'maybe'"),
        ({"q": "x" * 81}, "search text"),
        ({"in": "smell"}, "unknown input modalities in the link: smell"),
    ],
)
def test_garbage_in_a_link_is_ignored_with_a_warning(query: dict, warning: str) -> None:
    view, warnings = parse_query(query)
    assert view == Filters(features=view.features, provider_types=view.provider_types)
    assert any(warning in w for w in warnings), warnings


def test_a_link_keeps_its_good_values_next_to_bad_ones() -> None:
    view, warnings = parse_query(
        {
            "scope": "catalog",
            "features": ["vision", "nope,tool_use"],
            "context": "1.5M",
            "price": ["oops", "3"],
            "utm_source": "x",
            "q": "  gpt \t 4o\x00 ",
        }
    )
    assert view == Filters(
        scope="catalog",
        features=frozenset({"vision", "tool_use"}),
        min_context=1_500_000,
        max_price=Decimal(3),
        search="gpt 4o",
    )
    assert warnings == ("Ignored unknown features in the link: nope.",)  # utm_source: silent


@pytest.mark.parametrize(
    "text, tokens",
    [
        ("128000", 128_000),
        ("128k", 128_000),
        ("1M", 1_000_000),
        ("1.5m", 1_500_000),
        ("0", None),
        ("k", None),
        ("12 345", None),
        ("99999999999", None),
    ],
)
def test_token_counts_in_links(text: str, tokens: int | None) -> None:
    assert filters.parse_tokens(text) == tokens


QUERY_VALUES = st.one_of(
    st.text(max_size=30),
    st.lists(st.text(max_size=30), max_size=3),
    st.sampled_from(
        [
            "",
            "1",
            "0",
            "3:1",
            "128k",
            "vision,chat",
            "NaN",
            "catalog",
            "configured",
            "-1",
            "1e9999",
            "\x00",
        ]
    ),
)


@given(
    st.dictionaries(
        st.one_of(st.sampled_from(filters.QUERY_KEYS), st.text(max_size=8)),
        QUERY_VALUES,
        max_size=12,
    )
)
def test_no_query_makes_parsing_raise(query: dict) -> None:
    view, warnings = parse_query(query)
    assert isinstance(view, Filters) and all(isinstance(w, str) for w in warnings)
    # Each bad value is named on its own; the catch-all fallback is for bugs, not input.
    assert "they could not be read" not in " ".join(warnings)
    assert Filters.from_query(view.to_query()) == view  # what we write back reads the same


views = st.builds(
    Filters,
    scope=st.sampled_from(scopes.SCOPES),
    features=st.frozensets(st.sampled_from(sorted(FEATURES))),
    provider_types=st.frozensets(st.sampled_from(["openai", "anthropic", "groq", "ollama"])),
    min_context=st.none() | st.integers(1, 10**9),
    max_price=st.none() | st.decimals(0, 100_000, places=4),
    input_modalities=st.frozensets(st.sampled_from(filters.MODALITIES)),
    output_modalities=st.frozensets(st.sampled_from(filters.MODALITIES)),
    usable_only=st.booleans(),
    blend=st.sampled_from(filters.BLENDS),
    search=st.text(st.characters(codec="utf-8", exclude_categories=("C", "Z")), max_size=20),
    deprecated=st.booleans(),
)


@given(views)
def test_every_view_round_trips(view: Filters) -> None:
    assert Filters.from_query(view.to_query()) == view


@pytest.mark.parametrize(
    "kwargs",
    [
        {"scope": "all"},
        {"features": "vision"},
        {"features": {"telepathy"}},
        {"min_context": 0},
        {"max_price": "-1"},
        {"blend": (0, 0)},
        {"search": "x" * 81},
        {"provider_types": {"nope"}},
    ],
)
def test_a_bad_view_built_in_code_is_refused(kwargs: dict) -> None:
    with pytest.raises(ValidationError):
        Filters(**kwargs)


# --- Narrowing --------------------------------------------------------------------------------

MODELS = (
    cap("gpt-4o", quality="high", price="4.375", context=128_000, features="chat vision"),
    cap(
        "gpt-4o-mini",
        quality="medium",
        price="0.2625",
        context=128_000,
        features="chat vision tool_use",
    ),
    cap(
        "claude-x",
        provider_type="anthropic",
        price="6",
        context=200_000,
        features="chat tool_use",
        name="Claude X",
    ),
    cap("mystery", provider_type="groq", features="chat"),
    cap("old-one", price="1", context=8_000, deprecated=True),
)


def names(models) -> list[str]:
    return [m.model for m in models]


@pytest.mark.parametrize(
    "view, expected",
    [
        (Filters(), ["gpt-4o", "gpt-4o-mini", "claude-x", "mystery"]),
        (Filters(deprecated=True), ["gpt-4o", "gpt-4o-mini", "claude-x", "mystery", "old-one"]),
        (Filters(features=frozenset({"vision", "tool_use"})), ["gpt-4o-mini"]),
        (Filters(provider_types=frozenset({"anthropic", "groq"})), ["claude-x", "mystery"]),
        (Filters(min_context=150_000), ["claude-x"]),  # unknown context fails it
        (Filters(max_price=Decimal("4.375")), ["gpt-4o", "gpt-4o-mini"]),  # unpriced fails it
        (Filters(search="CLAUDE"), ["claude-x"]),
        (Filters(search="groq"), ["mystery"]),  # the provider matches too
    ],
)
def test_apply_narrows_by_every_filter(view: Filters, expected: list[str]) -> None:
    assert names(filters.apply(MODELS, view)) == expected


def test_modalities_come_from_the_catalog() -> None:
    catalog = scopes.capabilities(None, scope="catalog")
    seeing = filters.apply(catalog, Filters(input_modalities=frozenset({"image"})))
    assert seeing and all("image" in filters.modalities(m)[0] for m in seeing)
    assert ("openai", "gpt-4o") in {(m.provider_type, m.model) for m in seeing}
    unknown = cap("not-in-any-catalog-xyz")
    assert filters.apply([unknown], Filters(input_modalities=frozenset({"text"}))) == ()


def test_labels_are_unique_even_for_duplicates() -> None:
    twins = [cap("m", name="Same", record_id="a"), cap("m", name="Same", record_id="b")]
    assert sorted(filters.labels(twins).values()) == [
        "Same — openai (m)",
        "Same — openai (m) #2",
    ]  # a record


def test_no_match_reasons_say_what_is_missing() -> None:
    assert "No model passes the filters" in filters.no_match_reason([], "chat")
    reason = filters.no_match_reason(MODELS[2:], "vision")
    assert reason == (
        "None of the 3 models that pass the filters has every feature the "
        "vision task needs (chat, vision): 3 have chat, 0 have vision."
    )
    reason = filters.no_match_reason(MODELS, "chat", ["ollama"])
    assert reason == (
        "5 models fit the chat task, but none from the chosen provider types (Ollama)."
    )


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


# --- The workload calculator ------------------------------------------------------------------

CHEAP = Prices(input=Decimal(1), output=Decimal(2), cache_read=Decimal("0.1"))
DEAR = Prices(input=Decimal(10), output=Decimal(30))
PRICES = {"cheap": CHEAP, "dear": DEAR, "free": Prices(input=Decimal(0), output=Decimal(0))}


def priced(model: ModelCapability) -> Prices | None:
    return PRICES.get(model.model)


def test_monthly_costs_sort_priced_first_and_never_call_unpriced_free() -> None:
    models = [
        cap("dear"),
        cap("unknown-b", name="B"),
        cap("cheap"),
        cap("unknown-a", name="A"),
        cap("free"),
    ]
    rows = workload.monthly_costs(models, workload.Workload(1000, 100, Decimal(0), 1000), priced)
    assert [r.model.model for r in rows] == ["free", "cheap", "dear", "unknown-a", "unknown-b"]
    assert [r.rank for r in rows] == [1, 2, 3, None, None]
    assert rows[1].cost.total == Decimal("1.2")  # 1000 × (1000 × $1 + 100 × $2) / 1M
    assert rows[3].cost.label() == "unpriced" and rows[3].note.startswith("unpriced: ")
    assert workload.frame(rows)["Monthly cost"].tolist() == [
        "$0.00",
        "$1.20",
        "$13.00",
        "unpriced",
        "unpriced",
    ]
    tiny = workload.monthly_costs([cap("cheap")], workload.Workload(1, 0, Decimal(0), 1), priced)
    assert workload.money(tiny[0].cost) == "$0.000001"  # below a cent: significant digits


def test_a_cached_share_lowers_the_cost_where_cache_reads_are_cheaper() -> None:
    def total(share: str, model: str) -> Decimal:
        rows = workload.monthly_costs(
            [cap(model)], workload.Workload(1000, 0, Decimal(share), 1000), priced
        )
        return rows[0].cost.total

    assert total("0.5", "cheap") < total("0", "cheap")
    assert total("0.5", "dear") == total("0", "dear")  # no cache price: input price


def test_workload_csv_is_exact_and_safe_in_a_spreadsheet() -> None:
    models = [cap("cheap", name='=HYPERLINK("http://evil")'), cap("@sum", name="+1"), cap("dear")]
    rows = workload.monthly_costs(models, workload.Workload(1000, 100, Decimal(0), 3), priced)
    parsed = list(csv.reader(io.StringIO(workload.to_csv(rows).decode("utf-8"))))
    assert parsed[0] == list(workload.CSV_COLUMNS)
    by_model = {r[4]: r for r in parsed[1:]}
    assert by_model["cheap"][1] == '\'=HYPERLINK("http://evil")'
    assert by_model["cheap"][5] == "0.003600"
    assert by_model["'@sum"][1] == "'+1" and by_model["'@sum"][5] == ""
    assert by_model["'@sum"][0] == "" and by_model["'@sum"][9].startswith("unpriced")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"input_tokens": -1},
        {"output_tokens": 1.5},
        {"cached_share": Decimal("1.1")},
        {"cached_share": "NaN"},
        {"requests_per_month": True},
    ],
)
def test_a_bad_workload_is_refused(kwargs: dict) -> None:
    with pytest.raises(ValidationError):
        workload.Workload(**kwargs)


def test_the_calculator_charges_what_the_model_carries() -> None:
    assert workload.prices_of(cap("gpt-4o", prices=CHEAP)) is CHEAP
    assert workload.prices_of(cap("gpt-4o")) is None
    rows = workload.monthly_costs(
        [cap("a", prices=CHEAP), cap("b")], workload.Workload(1000, 100, Decimal(0), 10)
    )
    assert [r.model.model for r in rows] == ["a", "b"]
    assert rows[0].cost.total == Decimal("0.012") and not rows[1].cost.priced


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


# --- Context windows, unknown features and the quality floor ----------------------------------


def test_a_request_larger_than_the_context_window_is_left_out_or_flagged() -> None:
    from tests.test_ranking import Rating

    small = cap("small", price="1", context=128_000)
    big = cap("big", price="2", context=1_000_000)
    unknown = cap("in-house", price="0.05", features="", features_known=False)
    load = workload.Workload(input_tokens=200_000, output_tokens=500)
    kept, left = workload.eligible([small, big, unknown], load, task="chat")
    assert [m.model for m in kept] == ["big", "in-house"]
    assert left == {workload.OVER_CONTEXT: 1}
    assert workload.left_out_text(left) == "1 with a context window smaller than one request"
    kept, left = workload.eligible(
        [small, big, unknown], load, task="chat", include_over_context=True, include_unknown=False
    )
    assert [m.model for m in kept] == ["small", "big"] and left == {workload.UNKNOWN: 1}
    rows = workload.monthly_costs(kept, load)
    note = next(r.note for r in rows if r.model.model == "small")
    assert "a request of 200,500 tokens exceeds its 128,000-token context window" in note
    rated = cap("rated", price="3", rating=Rating(1420.0, 1410.0, 1430.0))
    low = cap("low", price="1", rating=Rating(1250.0, 1240.0, 1260.0))
    kept, left = workload.eligible([rated, low, big], workload.Workload(), quality_floor=1300)
    assert [m.model for m in kept] == ["rated"]
    assert left == {workload.BELOW_FLOOR: 1, workload.NOT_RATED: 1}
    with pytest.raises(ValidationError, match="quality floor"):
        workload.eligible([], load, quality_floor=-5)


def test_unknown_features_pass_a_feature_filter_unless_switched_off() -> None:
    unknown = cap("in-house", features="", features_known=False)
    vision = cap("v", features="chat vision")
    view = Filters(scope="catalog", features=frozenset({"vision"}))
    assert [m.model for m in filters.apply([unknown, vision], view)] == ["in-house", "v"]
    off = Filters(scope="catalog", features=frozenset({"vision"}), unknown_features=False)
    assert [m.model for m in filters.apply([unknown, vision], off)] == ["v"]
    assert off.to_query() == {"scope": "catalog", "features": "vision", "unknown": "0"}
    assert parse_query(off.to_query())[0] == off


def test_compare_search_ranks_the_exact_match_first() -> None:
    models = [
        cap("gpt-4o-mini-search-preview", price="1"),
        cap("gpt-4o", price="2"),
        cap("openai/gpt-4o-mini", provider_type="openrouter", price="0.3"),
        cap("gpt-4o-mini", price="0.26"),
        cap("my-gpt-4o-mini-finetune", price="3"),
        cap("llama", name="Llama", price="0.1"),
    ]
    found = [m.model for m in filters.closest(models, "GPT-4o-mini")]
    assert found == [
        "gpt-4o-mini",
        "openai/gpt-4o-mini",
        "gpt-4o-mini-search-preview",
        "my-gpt-4o-mini-finetune",
    ]
    assert filters.closest(models, "  ") == []


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
