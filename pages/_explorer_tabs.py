"""The Explorer's tabs: Charts, Models, Compare, Workload and Best model.

Each tab is drawn from the models the page narrowed by its filters; what a tab derives
is cached by the view (``token`` and ``query``), so a rerun redraws without recomputing.
Pure work lives in ``core.explorer``; this module only lays it out.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import streamlit as st

from core.explorer import comparison, filters, ranking, tiers, workload
from core.explorer.filters import Filters
from core.explorer.registry import PREFERENCES, TASK_FEATURES
from core.vocabulary import FEATURE_LABELS, FEATURE_ORDER
from pages import _explorer_charts, _ui

MATRIX_ROWS = 25
COMPARE_MAX = 6
SCOPE_LABELS = {"configured": "Configured here", "catalog": "Whole catalog"}


@st.cache_resource(max_entries=64, show_spinner=False)
def labels(token: str, query: tuple, _models: tuple) -> dict[str, str]:
    return filters.labels(_models)


@st.cache_resource(max_entries=32, show_spinner=False)
def _figures(
    token: str, query: tuple, blend: str, scope: str, _models: tuple
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
            rows=None,
            blend=blend,
            title=f"Price vs quality — {SCOPE_LABELS[scope]}",
            scope=SCOPE_LABELS[scope],
        ),
        _explorer_charts.scatter(
            points,
            y="speed_y",
            text="speed",
            sized=False,
            rows={2: "fast", 1: "medium", 0: "slow"},
            blend=blend,
            title=f"Speed vs cost — {SCOPE_LABELS[scope]}",
            scope=SCOPE_LABELS[scope],
        ),
        matrix,
    )
    return points, figures


@st.cache_data(max_entries=32, show_spinner=False)
def _table(token: str, query: tuple, _models: tuple) -> Any:
    return comparison.table_frame(_models)


@st.cache_data(max_entries=32, show_spinner=False)
def _costs(
    token: str,
    query: tuple,
    load: workload.Workload,
    task: str,
    options: tuple[bool, bool, float | None],
    _models: tuple,
) -> tuple[Any, Any, bytes, dict[str, int]]:
    unknown, over, floor = options
    kept, left = workload.eligible(
        _models,
        load,
        task=task if task in TASK_FEATURES else None,  # else every model, whatever it does
        include_unknown=unknown,
        include_over_context=over,
        quality_floor=floor,
    )
    rows = workload.monthly_costs(kept, load)
    chart = [r for r in rows if r.cost.total][:20]  # free models would be zero-length bars
    return workload.frame(rows), workload.frame(chart), workload.to_csv(rows), left


@st.cache_resource(max_entries=64, show_spinner=False)
def _ranking(
    token: str, query: tuple, task: str, prefer: str, types: tuple, unknown: bool, _models: tuple
) -> ranking.Ranking:
    return ranking.best(
        task, prefer, _models, provider_types=types or None, include_unknown=unknown
    )


def _rule_caption() -> None:
    st.caption(f"Tiers follow one fixed scale in every scope — {tiers.TIER_RULE}.")


# --- Charts -------------------------------------------------------------------------------


def charts(token: str, query: tuple, models: tuple, f: Filters) -> None:
    blend = f"{f.blend[0]}:{f.blend[1]}"
    points, (by_quality, by_speed, matrix) = _figures(token, query, blend, f.scope, models)
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
            f"{drawn}{unpriced}. Quality is the Arena rating (text board) for "
            f"{points.rated:,} of them — a tier set on a model record counts as its band "
            '(high 1400, medium 1300, low 1200); the rest sit on the "not rated" row. '
            "Size: context window. Named: the frontier, then the best rated. The dotted "
            "staircase joins the models no other model beats on both price and rating; "
            "hover a point for its rating ± 95 % interval, votes and source."
        )
        st.plotly_chart(by_speed, width="stretch")
        st.caption(
            "Speed is measured by Modeldesk where it has samples, else the seed "
            "table's, else estimated from the model id (hover a point for its source)."
        )
    st.plotly_chart(matrix, width="stretch")
    st.caption(
        f"Capabilities of the {min(len(models), MATRIX_ROWS)} best-ranked of these "
        "models (rating, then price, then speed). Compare any of them side by side in "
        "the Compare tab."
    )


# --- Tabs ---------------------------------------------------------------------------------


def models_tab(token: str, query: tuple, models: tuple) -> None:
    st.dataframe(
        _table(token, query, models),
        hide_index=True,
        width="stretch",
        placeholder=_ui.UNKNOWN,
        column_config={  # prices: costs.usd's text
            "Blended $/M": st.column_config.TextColumn(alignment="right"),
            "Context": st.column_config.NumberColumn(format="compact"),
            "Arena rating": st.column_config.TextColumn(width="large"),
        },
    )
    st.caption(
        f"{len(models):,} models, best first: the Arena rating, then the blended price, "
        "then speed (Best model's rule). Arena rating: score ± 95 % interval, votes, "
        "board, source and date; a tier set on a model record overrides it."
    )
    _rule_caption()


def _best_choice() -> tuple[str, str, tuple[str, ...]]:
    s = st.session_state
    return (
        s.get("explorer_task", "chat"),
        s.get("explorer_prefer", "quality"),
        tuple(sorted(s.get("explorer_best_types", []))),
    )


def _add_matches(found: list[str]) -> None:
    st.session_state["explorer_compare"] = found[:COMPARE_MAX]


def compare_tab(token: str, query: tuple, models: tuple, f: Filters) -> None:
    names = labels(token, query, models)
    best = _ranking(token, query, *_best_choice(), f.unknown_features, models)
    default = [filters.model_key(c.model) for c in best.candidates[:3]] or [
        filters.model_key(m) for m in models[:3]
    ]
    chosen = st.session_state.get("explorer_compare")
    if chosen is None or any(k not in names for k in chosen):
        st.session_state["explorer_compare"] = [k for k in chosen or default if k in names][
            :COMPARE_MAX
        ]
    needle = st.text_input(
        "Find models to compare",
        key="explorer_compare_q",
        max_chars=filters.MAX_SEARCH,
        placeholder="model id or name, e.g. gpt-4o-mini",
    )
    if needle.strip():
        found = [filters.model_key(m) for m in filters.closest(models, needle)]
        if found:
            shown = min(len(found), COMPARE_MAX)
            st.button(
                f"Compare the {shown} closest of {len(found):,} matches",
                key="explorer_compare_add",
                on_click=_add_matches,
                args=(found,),
            )
            if len(found) > COMPARE_MAX:
                st.caption(
                    f"Showing {COMPARE_MAX} of {len(found):,}; refine the search. Closest "
                    "first: the exact id or name, then ids starting with it, then the rest."
                )
        else:
            st.caption("No model matches that search.")
    picked = st.multiselect(
        "Models to compare",
        list(names),
        key="explorer_compare",
        format_func=names.get,
        max_selections=COMPARE_MAX,
        placeholder="Choose up to six models",
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
        "value came from; quality is the Arena rating ± its 95 % interval."
    )


def workload_tab(token: str, query: tuple, models: tuple, f: Filters) -> None:
    bar = st.columns([1.2, 1, 1, 1, 1])
    task = bar[0].selectbox(
        "Models fit for",
        [*TASK_FEATURES, "any"],
        key="explorer_w_task",
        persist_state="page",
        format_func=lambda t: "any task" if t == "any" else t,
        help="Only models with the task's features (chat: a chat model; "
        "vision: chat and images...), so audio or embedding models do "
        "not crowd a chat workload. Models whose features are unknown are "
        "included, flagged, unless the sidebar switch leaves them out.",
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
    more = st.columns([1, 2, 1], vertical_alignment="bottom")
    floor = more[0].number_input(
        "Quality floor (Arena rating)",
        0,
        workload.MAX_FLOOR,
        None,
        step=25,
        key="explorer_w_floor",
        persist_state="page",
        placeholder="none",
        help="Leave out models rated below this (and unrated ones). A tier set on a "
        "record counts as its band: high 1400, medium 1300, low 1200.",
    )
    over = more[1].toggle(
        "Include requests over the context window",
        key="explorer_w_over",
        persist_state="page",
        help="A model whose context window is smaller than one request (input + output "
        "tokens) is left out unless this is on; then it is listed, flagged.",
    )
    load = workload.Workload(int(tokens_in), int(tokens_out), Decimal(cached) / 100, int(requests))
    options = (f.unknown_features, over, None if floor is None else float(floor))
    table, chart, csv, left = _costs(token, query, load, task, options, models)
    if len(chart):
        st.plotly_chart(_explorer_charts.workload_bars(chart), width="stretch")
    unpriced = int(table["Rank"].isna().sum())
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        placeholder=_ui.UNKNOWN,
        column_order=["Rank", "Model", "Provider", "Monthly cost", "Quality", "Note"],
    )
    gone = workload.left_out_text(left)
    st.caption(
        f"{len(table):,} models, cheapest first; {unpriced:,} unpriced, listed last "
        "(unpriced never counts as free). Prices set on a model record win over "
        "the catalog's. " + (f"Left out: {gone}." if gone else "Nothing left out.")
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
    needs = [FEATURE_LABELS[x] for x in FEATURE_ORDER if x in TASK_FEATURES[task]]
    return f"{task.replace('_', ' ')} (needs {', '.join(needs)})"


def best_tab(token: str, query: tuple, models: tuple, f: Filters) -> None:
    a, b, c = st.columns([2, 2, 3], vertical_alignment="bottom")
    task = a.selectbox(
        "Task",
        list(TASK_FEATURES),
        key="explorer_task",
        persist_state="page",
        format_func=_task_label,
    )
    prefer = b.segmented_control(
        "Prefer",
        PREFERENCES,
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
    ranked = _ranking(token, query, task, prefer, tuple(sorted(chosen)), f.unknown_features, models)
    gone = ranking.left_out_text(ranked.left_out)
    if not ranked.candidates:
        st.warning(
            _ui.literal(filters.no_match_reason(models, task, chosen or None)),
            icon=":material/search_off:",
        )
        if gone:
            st.caption(_ui.literal(f"Left out: {gone}."))
        return
    names = labels(token, query, models)
    best = ranked.candidates[0]
    st.success(
        f"**{_ui.literal(names[filters.model_key(best.model)])}**  \n{_ui.literal(best.reason)}",
        icon=":material/trophy:",
    )
    runners = ranked.candidates[1:6]
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
        _ui.literal(
            f"{len(ranked.candidates):,} of the {len(models):,} models that pass the "
            f"filters fit the task, {prefer} first. "
            + (f"Left out: {gone}. " if gone else "")
            + ranking.RULE
        )
    )
