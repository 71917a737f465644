"""The Explorer's filters (core.explorer.filters): their URL form (garbage never raises),
narrowing a scope, unknown features, and Compare's closest-first search. The frontier and
chart frames: test_explorer_comparison.py; the workload calculator: test_explorer_workload.py."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import ValidationError
from core.explorer import filters, scopes
from core.explorer.filters import Filters, parse_query
from core.vocabulary import FEATURES
from tests.support.capabilities import MODELS, cap, names

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
