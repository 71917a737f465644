"""Explorer: compare models by capability, speed and cost, over the models configured here
or the whole catalog, with a workload calculator and "best model for".

The filters live in the sidebar and in the URL, so a view can be shared as a link. Runs
stay cheap: the catalog is built once per process (in core), what the filters derive from
it is cached by the filter state, charts draw at most a few thousand points (WebGL), the
capability matrix only the best-ranked models, and only the open tab is drawn.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any

import streamlit as st

from core.accounts.viewer import Viewer
from core.catalog import model_facts
from core.explorer import comparison, filters, registry, scopes, workload
from core.explorer.filters import Filters
from core.explorer.registry import ModelCapability
from core.vocabulary import FEATURE_LABELS, FEATURE_ORDER, MODALITIES
from pages import _explorer_charts, _ui

KEY = {name: f"explorer_{name}" for name in filters.QUERY_KEYS}
VIEW_KEY = "explorer_view"  # the Filters last shown (survives a page switch)
TAB_KEY = "explorer_tab"
TABS = ("Charts", "Models", "Compare", "Workload", "Best model")
SCOPE_LABELS = {"configured": "Configured here", "catalog": "Whole catalog"}
CONTEXT_STEPS = (0, 8_000, 32_000, 128_000, 200_000, 1_000_000)
BLENDS = tuple(f"{a}:{b}" for a, b in filters.BLENDS)
MATRIX_ROWS = 25


# --- Filter state: widgets ⇄ Filters ⇄ URL ------------------------------------------------


def _widget_state(f: Filters) -> dict[str, Any]:
    return {
        KEY["scope"]: f.scope,
        KEY["features"]: [x for x in FEATURE_ORDER if x in f.features],
        KEY["providers"]: sorted(f.provider_types),
        KEY["context"]: f.min_context or 0,  # 0: any (a None option reads as unset)
        KEY["price"]: None if f.max_price is None else float(f.max_price),
        KEY["in"]: [x for x in MODALITIES if x in f.input_modalities],
        KEY["out"]: [x for x in MODALITIES if x in f.output_modalities],
        KEY["usable"]: f.usable_only,
        KEY["blend"]: f"{f.blend[0]}:{f.blend[1]}",
        KEY["q"]: f.search,
        KEY["deprecated"]: f.deprecated,
    }


def _seed(f: Filters) -> None:
    st.session_state.update(_widget_state(f))


def _from_widgets() -> Filters:
    s = st.session_state
    price = s[KEY["price"]]
    return Filters(
        scope=s[KEY["scope"]],
        features=frozenset(s[KEY["features"]]),
        provider_types=frozenset(s[KEY["providers"]]),
        min_context=s[KEY["context"]] or None,
        max_price=None if price is None else Decimal(str(price)),
        input_modalities=frozenset(s[KEY["in"]]),
        output_modalities=frozenset(s[KEY["out"]]),
        usable_only=s[KEY["usable"]],
        blend=tuple(int(p) for p in s[KEY["blend"]].split(":")),  # type: ignore[arg-type]
        search=s[KEY["q"]] or "",
        deprecated=s[KEY["deprecated"]],
    )


def _url() -> dict[str, list[str]]:
    return {k: st.query_params.get_all(k) for k in filters.QUERY_KEYS if k in st.query_params}


def _sync_from_url() -> tuple[str, ...]:
    """Seed the widgets from the URL when it names another view (a shared link, an edited
    URL); back from another page with a bare URL, restore this session's last view."""
    url, last = _url(), st.session_state.get(VIEW_KEY)
    warnings: tuple[str, ...] = ()
    if url:
        view, found = filters.parse_query(url)
        if view != last:
            _seed(view)
            warnings = found
    elif last is not None and KEY["scope"] not in st.session_state:
        _seed(last)
    for key, value in _widget_state(Filters()).items():  # a first visit with a bare URL
        st.session_state.setdefault(key, value)
    return warnings


def _write_url(view: Filters) -> None:
    st.session_state[VIEW_KEY] = view
    query = view.to_query()
    if {k: v[-1] for k, v in _url().items()} != query or len(st.query_params) != len(query):
        st.query_params.from_dict(query)


def _reset() -> None:
    _seed(Filters(scope=st.session_state[KEY["scope"]]))


def _with_current(options: tuple[Any, ...], key: str, order: Any) -> list[Any]:
    """Preset options plus the current value (a link may carry any), in order."""
    current = st.session_state.get(key)
    return sorted({*options, current}, key=order)


def _blend_order(value: str) -> float:
    a, b = (int(p) for p in value.split(":"))
    return b / (a + b)


def _sidebar() -> None:
    with st.sidebar:
        st.subheader("Filters")
        st.text_input(
            "Search",
            key=KEY["q"],
            max_chars=filters.MAX_SEARCH,
            placeholder="name, model id or provider",
        )
        st.multiselect(
            "Features (all of)",
            FEATURE_ORDER,
            key=KEY["features"],
            format_func=FEATURE_LABELS.get,
            placeholder="Any features",
        )
        types = sorted(filters.known_provider_types(), key=filters.type_label)
        st.multiselect(
            "Provider types",
            types,
            key=KEY["providers"],
            format_func=filters.type_label,
            placeholder="Every provider type",
        )
        st.selectbox(
            "Minimum context",
            _with_current(CONTEXT_STEPS, KEY["context"], int),
            key=KEY["context"],
            format_func=lambda v: f"≥ {comparison.token_count(v)}" if v else "any",
        )
        st.number_input(
            "Maximum blended price ($/M)",
            min_value=0.0,
            max_value=100_000.0,
            step=0.5,
            format="%g",
            key=KEY["price"],
            placeholder="any",
            help="Unpriced models are left out once a maximum is set.",
        )
        st.multiselect("Accepts (input)", MODALITIES, key=KEY["in"], placeholder="Any input")
        st.multiselect("Produces (output)", MODALITIES, key=KEY["out"], placeholder="Any output")
        st.selectbox(
            "Blend (input:output)",
            sorted(BLENDS, key=_blend_order),
            key=KEY["blend"],
            help="How input and output prices are mixed into "
            "one blended price per million tokens, and into the cost tiers.",
        )
        st.toggle(
            "Usable by me only",
            key=KEY["usable"],
            disabled=st.session_state[KEY["scope"]] != "configured",
            help="Configured scope: active models of active, healthy providers you may use.",
        )
        st.toggle("Include deprecated", key=KEY["deprecated"])
        st.button(
            "Reset filters",
            icon=":material/filter_alt_off:",
            key="explorer_reset",
            on_click=_reset,
            width="stretch",
        )
        st.caption("The page's URL holds these filters: copy it to share this view.")


# --- Loading and cached derivations ---------------------------------------------------------


def _load(session: Any, me: Viewer, f: Filters) -> tuple[str, tuple[ModelCapability, ...]]:
    """(cache token, the scope's models) for this view."""
    if f.scope == "catalog":
        return (
            f"catalog {f.blend}",
            tuple(scopes.capabilities(None, scope="catalog", ratio=f.blend)),
        )
    models = tuple(
        scopes.capabilities(
            session, scope="configured", user=me, usable_only=f.usable_only, ratio=f.blend
        )
    )
    # The models' repr holds every value shown (prices included), so it keys the caches.
    return f"configured {hashlib.sha256(repr(models).encode()).hexdigest()}", models


@st.cache_resource(max_entries=64, show_spinner=False)
def _narrowed(
    token: str, query: tuple, _models: tuple, _filters: Filters
) -> tuple[ModelCapability, ...]:
    return tuple(filters.ranked(filters.apply(_models, _filters)))


@st.cache_resource(max_entries=64, show_spinner=False)
def _labels(token: str, query: tuple, _models: tuple) -> dict[str, str]:
    return filters.labels(_models)


@st.cache_resource(max_entries=32, show_spinner=False)
def _figures(
    token: str, query: tuple, blend: str, _models: tuple
) -> tuple[comparison.ChartPoints, Any]:
    """The chart points and the three figures, built once per view (plotly's validation
    of thousands of points is most of a run otherwise); never mutated after."""
    points = comparison.price_points(_models)
    matrix = _explorer_charts.matrix(comparison.capability_matrix(_models[:MATRIX_ROWS]))
    if not points.priced:  # nothing to place on a price axis
        return points, (None, None, matrix)
    figures = (
        _explorer_charts.scatter(
            points,
            y="quality_y",
            text="quality",
            sized=True,
            rows=comparison.QUALITY_LABELS,
            blend=blend,
            title="Price vs quality",
        ),
        _explorer_charts.scatter(
            points,
            y="speed_y",
            text="speed",
            sized=False,
            rows={2: "fast", 1: "medium", 0: "slow"},
            blend=blend,
            title="Speed vs cost",
        ),
        matrix,
    )
    return points, figures


@st.cache_data(max_entries=32, show_spinner=False)
def _table(token: str, query: tuple, _models: tuple) -> Any:
    return comparison.table_frame(_models)


@st.cache_data(max_entries=32, show_spinner=False)
def _costs(
    token: str, query: tuple, load: workload.Workload, task: str, _models: tuple
) -> tuple[Any, Any, bytes]:
    if task in registry.TASK_FEATURES:  # else every model, whatever it does
        _models = registry.models_for_task(registry.TASK_FEATURES[task], _models)
    rows = workload.monthly_costs(_models, load)
    chart = [r for r in rows if r.cost.total][:20]  # free models would be zero-length bars
    return workload.frame(rows), workload.frame(chart), workload.to_csv(rows)


@st.cache_resource(max_entries=64, show_spinner=False)
def _ranking(
    token: str, query: tuple, task: str, prefer: str, types: tuple, _models: tuple
) -> registry.Ranking | None:
    return registry.best_model_for(task, prefer, types or None, models=_models)


# --- Charts -------------------------------------------------------------------------------


def _charts(token: str, query: tuple, models: tuple, f: Filters) -> None:
    blend = f"{f.blend[0]}:{f.blend[1]}"
    points, (by_quality, by_speed, matrix) = _figures(token, query, blend, models)
    if points.priced == 0:
        st.info(
            "None of these models has a price, so there is nothing to place on a price "
            "axis. The Models tab lists them.",
            icon=":material/money_off:",
        )
    else:
        st.plotly_chart(by_quality, width="stretch")
        drawn = (
            f"{len(points.frame):,} of {points.priced:,} priced models drawn (every "
            "rated one, and an even sample of the rest across the price range)"
            if points.sampled
            else f"{points.priced:,} priced models"
        )
        unpriced = f"; {points.unpriced:,} unpriced not drawn" if points.unpriced else ""
        st.caption(
            f"{drawn}{unpriced}. Size: context window. "
            f"Quality is rated for {points.rated:,} of them (the seed table or a "
            "rating set on the Models page); points are spread a little around "
            "their tier so they do not hide each other. The dotted staircase joins the "
            "models no other model beats on both price and quality."
        )
        st.plotly_chart(by_speed, width="stretch")
        st.caption(
            "Speed is measured by Modeldesk where it has samples, else the seed "
            "table's, else estimated from the model id (hover a point for its source)."
        )
    st.plotly_chart(matrix, width="stretch")
    st.caption(
        f"Capabilities of the {min(len(models), MATRIX_ROWS)} best-ranked of these "
        "models (quality, then cost, then speed). Compare any of them side by side in "
        "the Compare tab."
    )


# --- Tabs ---------------------------------------------------------------------------------


def _models_tab(token: str, query: tuple, models: tuple) -> None:
    st.dataframe(
        _table(token, query, models),
        hide_index=True,
        width="stretch",
        placeholder=_ui.UNKNOWN,
        column_config={  # prices: costs.usd's text
            "Blended $/M": st.column_config.TextColumn(alignment="right"),
            "Context": st.column_config.NumberColumn(format="compact"),
        },
    )
    st.caption(f"{len(models):,} models, best-ranked first (quality, then cost, then speed).")


def _best_choice() -> tuple[str, str, tuple[str, ...]]:
    s = st.session_state
    return (
        s.get("explorer_task", "chat"),
        s.get("explorer_prefer", "quality"),
        tuple(sorted(s.get("explorer_best_types", []))),
    )


def _compare_tab(token: str, query: tuple, models: tuple, f: Filters) -> None:
    names = _labels(token, query, models)
    ranking = _ranking(token, query, *_best_choice(), models)
    default = (
        [filters.model_key(c.model) for c in ranking.candidates[:3]]
        if ranking
        else [filters.model_key(m) for m in models[:3]]
    )
    chosen = st.session_state.get("explorer_compare")
    if chosen is None or any(k not in names for k in chosen):
        st.session_state["explorer_compare"] = [k for k in chosen or default if k in names][:6]
    picked = st.multiselect(
        "Models to compare",
        list(names),
        key="explorer_compare",
        format_func=names.get,
        max_selections=6,
        placeholder="Choose up to six models",
        persist_state="page",
    )
    if not picked:
        st.info("Choose models to see them side by side.", icon=":material/compare:")
        return
    by_key = {filters.model_key(m): m for m in models}
    st.table(
        _ui.literal_frame(
            comparison.comparison_frame(  # st.table cells are Markdown
                [by_key[k] for k in picked], workload.prices_of, f.blend
            )
        )
    )
    st.caption(
        "The default is the top three of Best model's ranking. Brackets say where a "
        "value came from."
    )


def _workload_tab(token: str, query: tuple, models: tuple) -> None:
    bar = st.columns([1.2, 1, 1, 1, 1])
    task = bar[0].selectbox(
        "Models fit for",
        [*registry.TASK_FEATURES, "any"],
        key="explorer_w_task",
        persist_state="page",
        format_func=lambda t: "any task" if t == "any" else t,
        help="Only models with the task's features (chat: a chat model; "
        "vision: chat and images...), so audio or embedding models do "
        "not crowd a chat workload.",
    )
    bar = bar[1:]
    tokens_in = bar[0].number_input(
        "Input tokens per request",
        0,
        workload.MAX_TOKENS,
        2_000,
        step=500,
        key="explorer_w_in",
        persist_state="page",
    )
    answers = task not in ("embedding", "rerank")  # vectors and scores are not tokens out
    tokens_out = bar[1].number_input(
        "Output tokens per request",
        0,
        workload.MAX_TOKENS,
        500,
        step=100,
        key="explorer_w_out",
        persist_state="page",
        disabled=not answers,
        help=None
        if answers
        else "Embedding and rerank models produce no output tokens: counted as 0.",
    )
    tokens_out = tokens_out if answers else 0
    cached = bar[2].slider(
        "Cached input",
        0,
        100,
        0,
        step=5,
        format="%d%%",
        key="explorer_w_cached",
        persist_state="page",
        help="The share of input tokens read from the provider's cache.",
    )
    requests = bar[3].number_input(
        "Requests per month",
        0,
        workload.MAX_REQUESTS,
        100_000,
        step=10_000,
        key="explorer_w_requests",
        persist_state="page",
    )
    load = workload.Workload(int(tokens_in), int(tokens_out), Decimal(cached) / 100, int(requests))
    table, chart, csv = _costs(token, query, load, task, models)
    if len(chart):
        st.plotly_chart(_explorer_charts.workload_bars(chart), width="stretch")
    unpriced = int(table["Rank"].isna().sum())
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        placeholder=_ui.UNKNOWN,
        column_order=["Rank", "Model", "Provider", "Monthly cost", "Note"],
    )
    st.caption(
        f"{len(table):,} models, cheapest first; {unpriced:,} unpriced, listed last "
        "(unpriced never counts as free). Prices set on a model record win over "
        "the catalog's."
    )
    st.download_button(
        "Download CSV",
        csv,
        file_name="modeldesk-workload.csv",
        mime="text/csv",
        icon=":material/download:",
        on_click="ignore",
        key="explorer_w_csv",
    )


def _task_label(task: str) -> str:
    needs = [FEATURE_LABELS[x] for x in FEATURE_ORDER if x in registry.TASK_FEATURES[task]]
    return f"{task.replace('_', ' ')} (needs {', '.join(needs)})"


def _best_tab(token: str, query: tuple, models: tuple) -> None:
    a, b, c = st.columns([2, 2, 3], vertical_alignment="bottom")
    task = a.selectbox(
        "Task",
        list(registry.TASK_FEATURES),
        key="explorer_task",
        persist_state="page",
        format_func=_task_label,
    )
    prefer = b.segmented_control(
        "Prefer",
        registry.PREFERENCES,
        default="quality",
        required=True,
        key="explorer_prefer",
        persist_state="page",
    )
    types = sorted({m.provider_type for m in models}, key=filters.type_label)
    if "explorer_best_types" in st.session_state:  # the filters may have dropped some
        st.session_state["explorer_best_types"] = [
            t for t in st.session_state["explorer_best_types"] if t in types
        ]
    chosen = c.multiselect(
        "Provider types",
        types,
        key="explorer_best_types",
        format_func=filters.type_label,
        placeholder="Any provider type",
        persist_state="page",
    )
    ranking = _ranking(token, query, task, prefer, tuple(sorted(chosen)), models)
    if ranking is None:
        st.warning(
            _ui.literal(filters.no_match_reason(models, task, chosen or None)),
            icon=":material/search_off:",
        )
        return
    names = _labels(token, query, models)
    best = ranking.candidates[0]
    st.success(
        f"**{_ui.literal(names[filters.model_key(best.model)])}**  \n{_ui.literal(best.reason)}",
        icon=":material/trophy:",
    )
    runners = ranking.candidates[1:6]
    if runners:
        st.markdown("**Runner-ups**")
        st.dataframe(
            {
                "Rank": list(range(2, len(runners) + 2)),
                "Model": [names[filters.model_key(r.model)] for r in runners],
                "Why": [r.reason for r in runners],
            },
            hide_index=True,
            width="stretch",
            column_config={"Why": st.column_config.TextColumn(width="large")},
        )
    st.caption(
        f"Ranked by the registry among the {len(models):,} models that pass the "
        f"filters ({len(ranking.candidates):,} fit the task): {prefer} first; a "
        "missing tier counts as the worst. Parentheses hold the tier's score, brackets "
        "where the tier came from."
    )


# --- The page -----------------------------------------------------------------------------

st.title("Explorer")
warnings = _sync_from_url()
with _ui.reading() as session:
    me = _ui.current_user(session)
    token, scope_models = _load(session, me, _from_widgets())
st.segmented_control(
    "Models",
    list(SCOPE_LABELS),
    key=KEY["scope"],
    required=True,
    format_func=SCOPE_LABELS.get,
    label_visibility="collapsed",
)
_sidebar()
view = _from_widgets()
_write_url(view)
for warning in warnings:  # they quote the link's text: shown literally, never as Markdown
    st.warning(_ui.literal(warning), icon=":material/link_off:")
sources = model_facts.data_sources()
st.caption(
    f"Catalog data: {' · '.join(sources.values())}. Prices in USD per million "
    f"tokens; blended at {view.blend[0]}:{view.blend[1]} input:output."
)

if view.scope == "configured" and not scope_models:
    st.info(
        "No models are configured here that you can see"
        + (" and use" if view.usable_only else "")
        + " yet. Explore the whole "
        "catalog instead, or add models on the Models page.",
        icon=":material/neurology:",
    )
    st.button(
        "Explore the whole catalog",
        icon=":material/travel_explore:",
        key="explorer_to_catalog",
        on_click=lambda: st.session_state.update({KEY["scope"]: "catalog"}),
    )
    st.stop()

query = tuple(sorted(view.to_query().items()))
models = _narrowed(token, query, scope_models, view)
bar = st.container(horizontal=True)
bar.metric(
    "Models",
    f"{len(models):,}",
    border=True,
    help=f"{len(scope_models):,} in this scope before the filters.",
)
bar.metric("Priced", f"{sum(m.blended_price is not None for m in models):,}", border=True)
bar.metric("Quality rated", f"{sum(m.quality is not None for m in models):,}", border=True)
bar.metric("Provider types", f"{len({m.provider_type for m in models}):,}", border=True)
if not models:
    st.info("No model matches these filters.", icon=":material/filter_alt_off:")
    st.button("Reset filters", key="explorer_reset_main", on_click=_reset)
    st.stop()

drawers = (
    lambda: _charts(token, query, models, view),
    lambda: _models_tab(token, query, models),
    lambda: _compare_tab(token, query, models, view),
    lambda: _workload_tab(token, query, models),
    lambda: _best_tab(token, query, models),
)
for tab, draw in zip(st.tabs(TABS, key=TAB_KEY, on_change="rerun"), drawers, strict=True):
    if tab.open:  # only the open tab is drawn
        with tab:
            draw()
