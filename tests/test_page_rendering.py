"""What the pages render (AppTest): others' text never becomes Markdown or plotly markup
(they go through pages/_ui.py's literal / code / plot_text), and money and missing values
read the same everywhere (core.costs.usd, costs.UNKNOWN).

The Markdown checks read every source a page sends that the browser renders as Markdown
(alerts, captions, headings, widget labels and tooltips, dialog titles, st.table cells) and
every string of every plotly figure; tests/test_browser.py shows the same pages in a real
browser.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from core.costs import UNKNOWN
from core.store.tables import ModelRecord, Provider
from pages import _ui
from tests.support import hostile
from tests.support.console import Console
from tests.test_page_discovery import click, fake, listing, open_import, provider_on  # noqa: F401
from tests.test_page_model_ratings import a_deprecated_model

HOST = "127.0.0.1:9"
MARKDOWN_FIELDS = {"body", "label", "help", "title", "caption"}


# --- The helpers ----------------------------------------------------------------------------


def unescape(markdown: str) -> str:
    """The text a reader sees (the escapes and word joiners of _ui.literal taken out)."""
    return re.sub(r"\\(.)", r"\1", markdown).replace(_ui.JOINER, "")


@given(st.text(max_size=80))
def test_literal_shows_any_text_as_typed_and_nothing_else(text: str) -> None:
    shown = _ui.literal(text)
    assert unescape(shown).replace(_ui.JOINER, "") == re.sub(r"\s*[\r\n]+\s*", " ", text)
    assert not hostile.live_markup(shown)
    bare = re.sub(r"\\.", "", shown)  # what is left unescaped
    assert not set(bare) & set("\\`*~[]<>&$|@{}\r\n")
    # _ only inside a word (it cannot emphasise there); no scheme, directive or www. link
    assert not re.search(
        r"(?<![^\W_])_|_(?![^\W_])|:[^\W\d_]|://[\w-]|www\.|\w@", bare, re.IGNORECASE
    )  # and no bare URL or e-mail address GFM would link


@given(st.text(alphabet=st.sampled_from("ab`\\ :/x"), min_size=1, max_size=30))
def test_code_spans_hold_any_backticks(text: str) -> None:
    span = _ui.code(text)
    if text.strip():
        assert hostile.plain(f"a {span} b") == "a  b"  # the span ends where it should
        fence = re.match(r"`+", span).group()
        inner = span[len(fence) : -len(fence)]
        if inner.startswith(" ") and inner.endswith(" ") and inner.strip():
            inner = inner[1:-1]
        assert inner == text


def test_a_base_url_with_a_backtick_stays_inside_its_code_span() -> None:
    url = hostile.base_url(HOST)
    assert hostile.live_markup(f"endpoint `{url}`") == ["[x](", "://1"]  # the old way
    assert hostile.live_markup(f"endpoint {_ui.code(url)}") == []


def test_plot_text_escapes_plotly_markup() -> None:
    assert (
        _ui.plot_text('<a href="javascript:x">R&D</a>')
        == '&lt;a href="javascript:x"&gt;R&amp;D&lt;/a&gt;'
    )


# --- Every page, seeded with a member's hostile text ----------------------------------------


def _strings(message: Any) -> Iterator[tuple[str, str]]:
    """(field name, value) of every string field in a protobuf message, nested ones too."""
    for field, value in message.ListFields():
        repeated = (
            not isinstance(value, str)
            and hasattr(value, "__len__")
            and not hasattr(value, "ListFields")
        )
        values = value if repeated else [value]
        for v in values:
            if isinstance(v, str):
                yield field.name, v
            elif hasattr(v, "ListFields"):
                yield from _strings(v)


def _nodes(node: Any) -> Iterator[Any]:
    yield node
    children = getattr(node, "children", None)
    for child in children.values() if isinstance(children, dict) else children or ():
        yield from _nodes(child)


def markdown_sources(at: AppTest) -> list[str]:
    """Every string the page sends that the browser renders as Markdown."""
    found = []
    for node in _nodes(at._tree):
        proto = getattr(node, "proto", None)
        if proto is not None and hasattr(proto, "ListFields") and node.type != "plotly_chart":
            found += [v for name, v in _strings(proto) if name in MARKDOWN_FIELDS]
    for table in at.table:
        frame = table.value
        found += [str(v) for v in frame.to_numpy().ravel()]
        found += [str(v) for v in (*frame.index, *frame.columns)]
    return found


def figure_strings(at: AppTest) -> list[str]:
    """Every string in every plotly figure (plotly reads them as markup)."""

    def walk(value: Any) -> Iterator[str]:
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            for v in value.values():
                yield from walk(v)
        elif isinstance(value, list):
            for v in value:
                yield from walk(v)

    return [s for chart in at.get("plotly_chart") for s in walk(json.loads(chart.proto.spec))]


def assert_inert(at: AppTest, where: str) -> None:
    assert not at.exception, (where, at.exception)
    live = {s: hostile.live_markup(s) for s in markdown_sources(at)}
    assert not {s: f for s, f in live.items() if f}, where
    tags = [s for s in figure_strings(at) if "<img" in s or "<a " in s or "<a>" in s]
    assert not tags, (where, tags)


@pytest.fixture
def world(console: Console) -> dict[str, Any]:
    names = hostile.seed(console.runtime, HOST, a_deprecated_model())
    with console.runtime.sessions() as s:
        first = s.scalar(select(Provider).where(Provider.name == names["provider"]))
        model = s.scalar(select(ModelRecord).where(ModelRecord.name == names["model"]))
        return {
            **names,
            "provider_id": str(first.id),
            "provider_version": first.version,
            "model_id": str(model.id),
            "model_version": model.version,
        }


def shown_somewhere(at: AppTest, text: str) -> bool:
    return any(text in unescape(s) for s in markdown_sources(at))


def test_providers_page_shows_a_members_names_and_base_url_literally(
    console: Console, world: dict[str, Any]
) -> None:
    at = console.open("pages/providers.py", as_user="alice")
    assert_inert(at, "list")
    at.toggle(key="prov_show_all").set_value(True).run()
    assert_inert(at, "show all records")
    at.selectbox(key="prov_pick").set_value(world["provider_id"]).run()
    assert_inert(at, "the provider selected")
    assert shown_somewhere(at, world["provider"])
    assert any(_ui.code(hostile.base_url(HOST)) in s for s in markdown_sources(at))
    at.session_state["md_prov_delete"] = (world["provider_id"], world["provider_version"])
    at.run()
    assert_inert(at, "the delete dialog")
    assert shown_somewhere(at, world["model"])


def test_models_page_shows_names_ids_and_the_deprecation_warning_literally(
    console: Console, world: dict[str, Any]
) -> None:
    at = console.open("pages/models.py", as_user="alice")
    assert_inert(at, "catalogue")
    at.toggle(key="models_all").set_value(True).run()
    assert_inert(at, "show all records")
    assert any(world["old"] in unescape(w.value) for w in at.warning)  # the deprecation
    at.selectbox(key="models_pick").set_value(world["model_id"]).run()
    assert_inert(at, "the model selected")
    at.session_state["md_model_delete"] = (
        world["model_id"],
        world["model"],
        world["model_version"],
    )
    at.run()
    assert_inert(at, "the delete dialog")
    assert shown_somewhere(at, world["model"])
    del at.session_state["md_model_delete"]
    at.segmented_control(key="models_view").set_value("What users see").run()
    at.selectbox(key="models_wus_user").set_value("bob").run()
    assert_inert(at, "what bob sees")
    assert shown_somewhere(at, world["display"])


@pytest.mark.parametrize("tab", ["Charts", "Models", "Compare", "Workload", "Best model"])
def test_explorer_tabs_show_names_literally(
    console: Console, world: dict[str, Any], tab: str
) -> None:
    at = console.open("pages/explorer.py", as_user="alice")
    at.session_state["explorer_tab"] = tab
    at.run()
    assert_inert(at, tab)
    if tab == "Charts":
        assert any(_ui.plot_text(world["model"]) in s for s in figure_strings(at))
    if tab == "Compare":
        assert at.table and shown_somewhere(at, world["model"])


def test_health_access_users_and_account_pages_show_names_literally(
    console: Console, world: dict[str, Any]
) -> None:
    at = console.open("pages/health.py", as_user="alice")
    assert_inert(at, "health")
    assert hostile.TAG in at.dataframe[0].value.to_csv()  # the provider's error text
    assert any(_ui.plot_text(hostile.TAG) in s for s in figure_strings(at))  # its hover
    at.switch_page("pages/access.py").run()
    at.selectbox(key="see_record").set_value(f"provider:{world['provider_id']}").run()
    at.selectbox(key="see_user").set_value("bob").run()
    assert_inert(at, "access")
    at.switch_page("pages/users.py").run()
    at.selectbox(key="users_selected").set_value("bob").run()
    assert_inert(at, "users")
    assert shown_somewhere(at, world["display"])
    at = console.open("pages/account.py", as_user="bob")
    assert_inert(at, "bob's account and sidebar")
    assert shown_somewhere(at, world["display"])


def test_flash_and_error_messages_quote_names_literally(
    console: Console, world: dict[str, Any]
) -> None:
    at = console.open("pages/providers.py", as_user="alice")
    at.selectbox(key="prov_pick").set_value(world["provider_id"]).run()
    next(b for b in at.button if b.key == "prov_toggle").click().run()
    assert_inert(at, "after the toggle")
    assert any(world["provider"] in unescape(s.value) for s in at.success)


# --- Money and missing values ---------------------------------------------------------------


def _shown(element: Any) -> list[list[str]]:
    """A table's cells as the browser shows them: missing values as its placeholder
    (Streamlit writes "None" when there is none)."""
    proto = element.proto
    placeholder = proto.placeholder if proto.HasField("placeholder") else "None"
    return [
        [placeholder if pd.isna(v) else str(v) for v in row]
        for row in element.value.astype(object).itertuples(index=False)
    ]


def test_models_table_shows_a_tiny_price_whole(console: Console, world: dict[str, Any]) -> None:
    at = console.open("pages/models.py", as_user="alice")
    table = next(d for d in at.dataframe if "Owner" in d.value.columns)
    row = table.value.set_index("Name").loc[world["model"]]
    assert row["Input /M"] == "$0.0000001" and row["Output /M"] == "$1.00"
    assert row["Cache read /M"] == UNKNOWN
    config = json.loads(table.proto.columns)
    for column in ("Input /M", "Output /M", "Cache read /M", "Cache write /M"):
        width = config.get(column, {}).get("width")
        longest = max(len(v) for v in table.value[column])
        # A fixed width too narrow for the text cuts it on the left (right-aligned).
        assert width is None or isinstance(width, str) or width >= 8 * longest + 16, column
    assert not any("None" in cell for r in _shown(table) for cell in r)


def test_one_price_one_text_in_every_explorer_tab(console: Console, world: dict[str, Any]) -> None:
    at = console.open("pages/explorer.py", as_user="alice")
    at.session_state["explorer_tab"] = "Models"
    at.run()
    table = at.dataframe[0].value.set_index("Name")
    blended = table.loc[world["model"], "Blended $/M"]  # (3 × $0.0000001 + $1) / 4
    assert blended == "$0.25"  # not $0.250000075, nor cut by the grid's number format
    at.session_state["explorer_tab"] = "Compare"
    at.run()
    assert any(unescape(str(v)) == blended for v in at.table[0].value.to_numpy().ravel())
    at.session_state["explorer_tab"] = "Charts"
    at.run()
    assert any(blended in s for s in figure_strings(at))


def test_workload_table_shows_no_none(console: Console, world: dict[str, Any]) -> None:
    at = console.open(as_user="alice")
    at.query_params.update({"scope": "catalog", "providers": "openrouter"})
    at.switch_page("pages/explorer.py").run()
    at.session_state["explorer_tab"] = "Workload"
    at.run()
    table = at.dataframe[0]
    assert table.value["Rank"].isna().any()  # unpriced rows have no rank
    cells = _shown(table)
    assert not any(cell == "None" for r in cells for cell in r)
    assert any(r[0] == UNKNOWN for r in cells)


def test_import_table_shows_no_none(console: Console, people: dict, fake: Any) -> None:  # noqa: F811
    provider_on(console, fake, instance_wide=True)
    at = click(open_import(console), "List models")
    editor = at.data_editor[0]
    rows = listing(at).set_index("Model ID")
    assert not any(cell == "None" for r in _shown(editor) for cell in r)
    assert rows.loc["rerank-english-v3.0", "Input /M"] == UNKNOWN
