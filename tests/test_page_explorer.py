"""The Explorer page (AppTest): empty and seeded, admin and member; the workload calculator
and its CSV; "best model for". The whole catalog, filters and shared links:
test_page_explorer_links.py."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1 import app_test as app_test_module

from core.explorer import filters, ranking, registry, scopes, tiers
from core.explorer.filters import Filters
from core.store.tables import Provider, User
from tests.support import factories as f
from tests.support.console import Console, texts
from tests.support.explorer_page import (
    charts,
    explorer,
    metric,
    models_table,
    points,
    tab,
    unescape,
)


@pytest.fixture
def seeded(console: Console, people: None) -> None:
    """An instance-wide OpenAI with two models (one rated and priced on its record), and
    a private provider of alice's with one model bob cannot see."""
    with console.runtime.sessions.begin() as s:
        alice = s.scalar(select(User).where(User.username == "alice"))
        shared = f.provider(s, alice, "Production OpenAI", instance_wide=True)
        f.model(
            s,
            alice,
            shared,
            "gpt-4o",
            name="GPT-4o house",
            instance_wide=True,
            input_cost_per_million="1",
            output_cost_per_million="4",
            quality_tier="high",
            context_window=128000,
        )
        f.model(s, alice, shared, "gpt-4o-mini", name="Mini", instance_wide=True)
        private = f.provider(s, alice, "Alice Anthropic", provider_type="anthropic")
        f.model(s, alice, private, "claude-sonnet-4-20250514", name="Sonnet (Alice)")


class Media:
    """Every in-memory media store AppTest creates, to read a download button's bytes."""

    def __init__(self) -> None:
        self.stores: list[Any] = []

    def bytes_of(self, at: AppTest, key: str) -> bytes:
        url = next(b for b in at.get("download_button") if b.proto.id.endswith(key)).proto.url
        return self.stores[-1].get_file(url.rsplit("/", 1)[1]).content


@pytest.fixture
def media(monkeypatch: pytest.MonkeyPatch) -> Media:
    found = Media()
    real = app_test_module.MemoryMediaFileStorage

    class Recording(real):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            found.stores.append(self)

    monkeypatch.setattr(app_test_module, "MemoryMediaFileStorage", Recording)
    return found


# --- Empty and seeded, admin and member ----------------------------------------------------


@pytest.mark.parametrize("who", ["alice", "bob"])
def test_no_configured_models_offers_the_catalog(console: Console, people: None, who: str) -> None:
    at = explorer(console, who)
    assert "No models are configured here that you can see yet" in texts(at)
    assert not at.get("plotly_chart")
    at.button(key="explorer_to_catalog").click().run()
    assert not at.exception
    assert at.query_params == {"scope": "catalog"}
    assert metric(at, "Models") > 4000
    assert len(charts(at)) == 3


def test_configured_scope_shows_what_each_user_can_see(console: Console, seeded: None) -> None:
    admin = models_table(explorer(console, "alice"))
    assert sorted(admin["Name"]) == ["GPT-4o house", "Mini", "Sonnet (Alice)"]
    member = explorer(console, "bob")
    mini = tiers.rating_for("openai", "gpt-4o-mini")  # the shipped Arena rating, if any
    assert metric(member, "Models") == 2
    assert metric(member, "Arena rated") == (2 if mini else 0)
    table = models_table(member)
    assert list(table["Name"]) == ["GPT-4o house", "Mini"]  # rated high (on the record) first
    # GPT-4o house: the record's tier overrides; Mini: its Arena rating's tier, else the seed's.
    assert list(table["Quality"]) == ["high", tiers.quality_tier(mini.score) if mini else "medium"]
    assert table["Arena rating"][0] == "high [set on the model record]"
    assert list(table["Provider"]) == ["Production OpenAI", "Production OpenAI"]


def test_usable_only_leaves_out_inactive_models(console: Console, seeded: None) -> None:
    with console.runtime.sessions.begin() as s:
        alice = s.scalar(select(User).where(User.username == "alice"))
        shared = s.scalar(select(Provider).where(Provider.name == "Production OpenAI"))
        f.model(s, alice, shared, "o3", name="Retired", instance_wide=True, status="inactive")
    at = explorer(console, "bob")
    assert metric(at, "Models") == 3
    at.toggle(key="explorer_usable").set_value(True).run()
    assert metric(at, "Models") == 2 and at.query_params == {"usable": "1"}
    assert "Retired" not in list(models_table(at)["Name"])
    at = explorer(console, "bob", {"scope": "catalog", "usable": "1"})
    assert at.toggle(key="explorer_usable").disabled  # a configured-scope switch


def test_seeded_charts_mark_the_frontier_and_record_values(console: Console, seeded: None) -> None:
    at = explorer(console, "bob")
    quality, speed, matrix = charts(at)
    assert points(quality) >= 2 and points(speed) == 2 and points(matrix) == 2
    frontier = next(t for t in quality["data"] if t["name"] == "cost/quality frontier")
    assert [c[0] for c in frontier["customdata"]] == ["Mini", "GPT-4o house"]
    compare = tab(at, "Compare").table[0].value
    assert "GPT-4o house — Production OpenAI (gpt-4o)" in compare.columns
    shown = unescape(compare.to_csv())  # st.table cells are Markdown, made literal
    assert "high quality [set on the model record]" in shown
    assert "$1.75" in shown  # blended at 3:1 from the record's $1 / $4


# --- The workload calculator ---------------------------------------------------------------


def test_calculator_sorts_costs_and_downloads_them(
    console: Console, seeded: None, media: Media
) -> None:
    at = tab(explorer(console, "alice"), "Workload")
    table = at.dataframe[0].value
    # 100,000 requests × (2,000 input + 500 output tokens): the catalog's $0.15/$0.60 for
    # Mini, the record's $1/$4 for GPT-4o house, the catalog's $3/$15 for Sonnet.
    assert list(zip(table["Model"], table["Monthly cost"], strict=True)) == [
        ("Mini — Production OpenAI (gpt-4o-mini)", "$60.00"),
        ("GPT-4o house — Production OpenAI (gpt-4o)", "$400.00"),
        ("Sonnet (Alice) — Alice Anthropic (claude-sonnet-4-20250514)", "$1,350.00"),
    ]
    at.number_input(key="explorer_w_out").set_value(5_000).run()
    after = at.dataframe[0].value
    assert list(after["Monthly cost"]) == ["$330.00", "$2,200.00", "$8,100.00"]
    rows = list(csv.DictReader(io.StringIO(media.bytes_of(at, "explorer_w_csv").decode())))
    assert [(r["rank"], r["model"], r["monthly_cost_usd"]) for r in rows] == [
        ("1", "Mini", "330.000000"),
        ("2", "GPT-4o house", "2200.000000"),
        ("3", "Sonnet (Alice)", "8100.000000"),
    ]
    assert len(charts(at)) == 1


def test_calculator_lists_unpriced_models_last(console: Console, people: None) -> None:
    at = tab(explorer(console, "bob", {"scope": "catalog", "providers": "openrouter"}), "Workload")
    table = at.dataframe[0].value
    unpriced = table["Monthly cost"] == "unpriced"
    assert unpriced.any() and not unpriced.all()
    assert unpriced.tolist() == sorted(unpriced.tolist())  # every unpriced row after
    assert table["Rank"][unpriced].isna().all()
    at.slider(key="explorer_w_cached").set_value(50).run()
    assert not at.exception


def test_calculator_lists_only_models_fit_for_the_chosen_task(
    console: Console, people: None
) -> None:
    at = tab(explorer(console, "bob", {"scope": "catalog"}), "Workload")
    chat = len(at.dataframe[0].value)
    at.selectbox(key="explorer_w_task").set_value("embedding").run()
    embedding = at.dataframe[0].value
    at.selectbox(key="explorer_w_task").set_value("any").run()
    every = len(at.dataframe[0].value)
    catalog = scopes.capabilities(None, scope="catalog")
    fit = registry.models_for_task(registry.TASK_FEATURES["embedding"], catalog)
    unknown = [m for m in catalog if not m.features_known]
    assert 0 < len(embedding) <= len(fit) + len(unknown) < chat < every
    assert "Left out:" in texts(at) or len(embedding) == len(fit) + len(unknown)


# --- Best model for -------------------------------------------------------------------------


def ranked(task: str, prefer: str) -> list[str]:
    """Best model's ranking of the default catalog view, as the page labels models."""
    models = filters.apply(scopes.capabilities(None, scope="catalog"), Filters(scope="catalog"))
    names = filters.labels(models)
    return [
        names[filters.model_key(c.model)] for c in ranking.best(task, prefer, models).candidates
    ]


def test_best_model_shows_the_pick_runner_ups_and_why(console: Console, people: None) -> None:
    at = tab(explorer(console, "bob", {"scope": "catalog"}), "Best model")
    expected = ranked("chat", "quality")
    pick = unescape(at.success[0].value)
    assert expected[0] in pick
    assert ("Arena " if tiers.ratings_shipped() else "high quality [seed table]") in pick
    assert "Ranked on values, not tiers" in texts(at)
    runners = at.dataframe[0].value
    assert list(runners["Rank"]) == [2, 3, 4, 5, 6]
    assert list(runners["Model"]) == expected[1:6]
    assert all(why.startswith("Arena ") or "quality" in why for why in runners["Why"])
    at.segmented_control(key="explorer_prefer").set_value("cost").run()
    assert "\nfree;" in unescape(at.success[0].value)
    at.selectbox(key="explorer_task").set_value("rerank")
    at.multiselect(key="explorer_best_types").set_value(["openai"]).run()
    # No OpenAI model is known to rerank; those whose features are unknown compete, flagged.
    assert unescape(at.success[0].value).endswith("features unknown")
    at.toggle(key="explorer_unknown").set_value(False).run()
    assert not at.success
    assert "with features unknown (include them with the switch)" in texts(at)
    assert (
        "models fit the rerank task, but none from the chosen provider types (OpenAI)"
        in at.warning[0].value
    )


def test_compare_defaults_to_the_top_of_the_ranking(console: Console, people: None) -> None:
    at = tab(explorer(console, "alice", {"scope": "catalog"}), "Compare")
    assert len(at.multiselect(key="explorer_compare").value) == 3
    table = at.table[0].value
    assert "Prices from" in table.index
    assert [unescape(c) for c in table.columns] == ranked("chat", "quality")[:3]
    at.multiselect(key="explorer_compare").set_value([]).run()
    assert "Choose models to see them side by side." in texts(at)


def test_a_view_without_any_price_still_shows_its_charts_tab(
    console: Console, people: None
) -> None:
    # Ollama's catalog models have no price: nothing to place on a price axis.
    at = explorer(console, "bob", {"scope": "catalog", "providers": "ollama"})
    assert not at.exception
    assert "None of these models has a price" in texts(at)
    assert len(charts(at)) == 1  # the capability matrix still draws


def test_search_matches_the_provider_name_shown(console: Console, people: None) -> None:
    at = explorer(console, "bob", {"scope": "catalog", "q": "Hugging Face"})
    found = filters.apply(
        scopes.capabilities(None, scope="catalog"), Filters(scope="catalog", search="Hugging Face")
    )
    assert len(found) > 0 and {m.provider_type for m in found} >= {"huggingface"}
    assert at.metric[0].value == f"{len(found):,}"


def test_embedding_workloads_count_no_output_tokens(console: Console, people: None) -> None:
    at = tab(explorer(console, "bob", {"scope": "catalog"}), "Workload")
    at.selectbox(key="explorer_w_task").set_value("embedding").run()
    assert at.number_input(key="explorer_w_out").disabled
    table = at.dataframe[0].value
    # Input-only prices (most embedding models list no output price) still give a cost.
    assert (table["Monthly cost"] != "unpriced").sum() > 0.8 * len(table)


def test_compare_search_puts_the_exact_match_first_and_says_when_it_cuts(
    console: Console, people: None
) -> None:
    at = tab(explorer(console, "bob", {"scope": "catalog"}), "Compare")
    at.text_input(key="explorer_compare_q").input("gpt-4o-mini").run()
    button = at.button(key="explorer_compare_add")
    match = re.search(r"Compare the 6 closest of ([\d,]+) matches", button.label)
    assert match, button.label
    assert f"Showing 6 of {match.group(1)}; refine the search." in texts(at)
    button.click().run()
    chosen = at.multiselect(key="explorer_compare").value
    assert len(chosen) == 6 and chosen[0].endswith("/gpt-4o-mini")
    first = list(at.table[0].value.loc["Model ID"])[0]
    assert unescape(first).rsplit("/", 1)[-1] == "gpt-4o-mini"  # an exact match first


def test_calculator_flags_requests_larger_than_the_context_window(
    console: Console, seeded: None
) -> None:
    at = tab(explorer(console, "alice"), "Workload")
    at.number_input(key="explorer_w_in").set_value(200_000).run()
    table = at.dataframe[0].value
    assert len(table) == 0  # 128k and 200k context windows: all left out
    assert "Left out: 3 with a context window smaller than one request." in texts(at)
    at.toggle(key="explorer_w_over").set_value(True).run()
    notes = dict(zip(at.dataframe[0].value["Model"], at.dataframe[0].value["Note"], strict=True))
    house = next(n for m, n in notes.items() if m.startswith("GPT-4o house"))
    assert "exceeds its 128,000-token context window" in house
    at.number_input(key="explorer_w_floor").set_value(1350).run()
    assert "rated below the quality floor" in texts(at) or "not rated" in texts(at)


def test_a_model_with_unknown_features_is_flagged_not_dropped(
    console: Console, seeded: None
) -> None:
    # The case: the cheapest priced model is a self-hosted record nothing describes.
    with console.runtime.sessions.begin() as s:
        alice = s.scalar(select(User).where(User.username == "alice"))
        local = f.provider(
            s,
            alice,
            "Local vLLM",
            provider_type="vllm",
            api_key=None,
            provider_config={"base_url": "http://127.0.0.1:8000/v1"},
        )
        f.model(
            s,
            alice,
            local,
            "acme/in-house-8b",
            name="In-house 8B",
            input_cost_per_million="0.05",
            output_cost_per_million="0.08",
        )
    at = tab(explorer(console, "alice"), "Best model")
    at.segmented_control(key="explorer_prefer").set_value("cost").run()
    pick = unescape(at.success[0].value)
    assert "In-house 8B" in pick and pick.endswith("features unknown")
    assert metric(at, "Features unknown") == 1
    at = tab(at, "Workload")
    notes = dict(zip(at.dataframe[0].value["Model"], at.dataframe[0].value["Note"], strict=True))
    assert notes["In-house 8B — Local vLLM (acme/in-house-8b)"] == "features unknown"
    at.toggle(key="explorer_unknown").set_value(False).run()
    assert "In-house 8B" not in " ".join(at.dataframe[0].value["Model"])
    assert "Left out: 1 with features unknown." in texts(at)
    at = tab(at, "Best model")
    assert "In-house 8B" not in unescape(at.success[0].value)
    assert "1 with features unknown (include them with the switch)" in texts(at)
