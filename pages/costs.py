"""Costs: where the money goes and why it moved, over a period you pick.

Every choice (period, bucket, split, the row drilled into) lives in the URL, so a link
reproduces the view; a bad value in a link falls back with a note. Every figure comes from
``core.usage.overview`` (the daily rollups through ``summary``) with the signed-in user as
viewer: a member sees their own usage and the usage of the provider records they can see.
Admins also get the actions in ``_costs_admin`` (reprice, upload, ingest tokens).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.accounts.viewer import Viewer
from core.costs import UNKNOWN, usd
from core.usage import budget_status, costs_view, overview, zones
from core.usage.costs_view import Drill, View
from pages import _costs_admin, _costs_drill, _costs_savings, _ui

_md = _ui.literal

VIEW_KEY = "costs_view"  # the View last shown (a changed URL seeds the widgets again)
KEY = {name: f"costs_{name}" for name in ("period", "first", "last", "bucket", "by")}
DRILL_KEY = "costs_drill"
ROUND_KEY = "costs_table_round"  # part of the tables' keys: a new round clears selections
BUCKET_LABELS = {"day": "By day", "week": "By week"}
SPLIT_LABELS = {"provider": "Provider", "model": "Model", "user": "User"}
TOP = 10
SERIES_SHOWN = 12  # bands in the cost-over-time chart (the rest: one "others" band)


# --- The view: URL ⇄ widgets ---------------------------------------------------------------


def _seed(view: View, today: date) -> None:
    state = st.session_state
    state[KEY["period"]] = view.period
    state[KEY["first"]] = view.first or today - timedelta(days=29)
    state[KEY["last"]] = view.last or today
    state[KEY["bucket"]] = view.bucket
    state[KEY["by"]] = view.by
    state[DRILL_KEY] = view.drill
    _costs_drill.reset()


def _sync_from_url(today: date) -> list[str]:
    query = {k: st.query_params[k] for k in costs_view.QUERY_KEYS if k in st.query_params}
    view, notes = costs_view.parse_query(query, today=today)
    last, fresh = st.session_state.get(VIEW_KEY), KEY["period"] not in st.session_state
    if fresh and not query and last is not None:
        view = last  # back from another page with a bare URL: this session's last view
    if view != last or fresh:
        _seed(view, today)
    return notes


def _from_widgets() -> View:
    state = st.session_state
    custom = state[KEY["period"]] == "custom"
    return View(
        period=state[KEY["period"]],
        first=state[KEY["first"]] if custom else None,
        last=state[KEY["last"]] if custom else None,
        bucket=state[KEY["bucket"]],
        by=state[KEY["by"]],
        drill=state.get(DRILL_KEY) or Drill(),
    )


def _write_url(view: View) -> None:
    st.session_state[VIEW_KEY] = view
    query = view.to_query()
    if {k: st.query_params[k] for k in st.query_params} != query:
        st.query_params.from_dict(query)


def drill_into(drill: Drill) -> None:
    """Open the events behind a breakdown row (or close them with an empty Drill: the
    tables then start unselected, so the same row can be picked again)."""
    st.session_state[DRILL_KEY] = drill
    if not drill:
        st.session_state[ROUND_KEY] = st.session_state.get(ROUND_KEY, 0) + 1
    _costs_drill.reset()


# --- Sections --------------------------------------------------------------------------------


def _picker(tag_keys: list[str], admin: bool) -> None:
    st.segmented_control(
        "Period",
        overview.PERIODS,
        format_func=overview.PERIOD_LABELS.__getitem__,
        key=KEY["period"],
    )
    mid, right, _ = st.columns([1, 1, 2])
    mid.segmented_control(
        "Cost over time", overview.BUCKETS, format_func=BUCKET_LABELS.__getitem__, key=KEY["bucket"]
    )
    splits = list(SPLIT_LABELS) + ([f"tag:{k}" for k in tag_keys] if admin else [])
    if st.session_state[KEY["by"]] not in splits:
        splits.append(st.session_state[KEY["by"]])  # a link's tag key without usage here
    right.selectbox(
        "Split by",
        splits,
        format_func=lambda s: SPLIT_LABELS.get(s) or f"Tag {s[4:]}",
        key=KEY["by"],
    )
    if st.session_state[KEY["period"]] is None:  # segmented controls can be unselected
        st.session_state[KEY["period"]] = "this_month"
    if st.session_state[KEY["bucket"]] is None:
        st.session_state[KEY["bucket"]] = "day"
    if st.session_state[KEY["period"]] == "custom":
        a, b, _ = st.columns([1, 1, 2])
        a.date_input("First day", key=KEY["first"])
        b.date_input("Last day (included)", key=KEY["last"])


def _totals(comparison: overview.Comparison, zone: str) -> None:
    t = comparison.totals
    a, b, c, d = st.columns(4)
    a.metric(
        "Spend (priced)",
        usd(t.cost_usd),
        delta=costs_view.change_text(comparison).split(" against ")[0]
        if comparison.change_usd
        else None,
        delta_color="inverse",
    )
    b.metric("Requests", f"{t.requests:,}")
    c.metric("Tokens (input + output)", f"{t.input_tokens + t.output_tokens:,}")
    d.metric("Unpriced requests", f"{t.unpriced_requests:,}")
    st.caption(
        _md(
            f"{comparison.current.label}; change {costs_view.change_text(comparison)} "
            f"(the previous {comparison.current.days} days). Days are {zone} days."
        )
    )


def _chart(groups: list[Any], by: str, bucket: str) -> None:
    if not groups:
        st.info("No usage in this period.")
        return
    column = "model" if by == "model" else by.removeprefix("tag:")
    series: dict[str, dict[str, Decimal]] = {}
    carried: dict[str, list[str]] = {}  # each series' group, carried by its bars
    for g in groups:
        name = g.labels.get(column, "")
        if by == "model":
            name = f"{g.labels['provider']} / {name}"
        series.setdefault(name, {})[g.labels["bucket"]] = g.totals.cost_usd
        carried[name] = costs_view.bar_values(by, g.labels)
    buckets = sorted({g.labels["bucket"] for g in groups})
    series = _biggest(series)
    fig = go.Figure()
    for name, values in series.items():
        ys = [float(values.get(b, 0)) for b in buckets]
        fig.add_bar(
            x=buckets,
            y=ys,
            name=_ui.plot_text(name),
            hovertext=[_ui.plot_text(f"{name}: {usd(values.get(b, Decimal(0)))}") for b in buckets],
            hoverinfo="text+x",
            customdata=[carried.get(name, [])] * len(buckets),  # "(N others)": none
        )
    fig.update_layout(
        barmode="stack",
        height=360,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        yaxis={"tickprefix": "$", "tickformat": ",.2f", "title": "Priced spend (USD)"},
        xaxis={"title": "Week starting" if bucket == "week" else "Day"},
        legend={"orientation": "h"},
    )
    key = f"costs_chart_{st.session_state.get(ROUND_KEY, 0)}"

    def picked() -> None:
        points = st.session_state[key]["selection"]["points"]
        drill = costs_view.bar_drill(points[0], by=by, bucket=bucket) if points else None
        if drill is not None:
            drill_into(drill)

    st.plotly_chart(
        fig,
        width="stretch",
        key=key,
        on_select=picked,
        selection_mode="points",
    )
    st.caption("Select a bar to see its events.")


def _biggest(series: dict[str, dict[str, Decimal]]) -> dict[str, dict[str, Decimal]]:
    """The SERIES_SHOWN - 1 series with the most spend, biggest first, and the rest added
    up as one "(N others)" band (the stack's height stays the period's spend): forty users'
    bands are unreadable, and each band costs the page time to draw."""
    ranked = sorted(series, key=lambda name: (-sum(series[name].values()), name))
    if len(ranked) <= SERIES_SHOWN:
        return {name: series[name] for name in ranked}
    kept, rest = ranked[: SERIES_SHOWN - 1], ranked[SERIES_SHOWN - 1 :]
    other: dict[str, Decimal] = {}
    for name in rest:
        for bucket, cost in series[name].items():
            other[bucket] = other.get(bucket, Decimal(0)) + cost
    return {**{name: series[name] for name in kept}, f"({len(rest)} others)": other}


def _share(value: Decimal | None) -> str:
    return UNKNOWN if value is None else f"{value * 100:.1f} %"


def _spend(cost: Decimal, unpriced: int) -> str:
    """The priced spend, saying when some of it is unknown (never $0 for unpriced)."""
    if unpriced and not cost:
        return "unpriced"
    return usd(cost) + (" + unpriced" if unpriced else "")


def _table(name: str, frame: pd.DataFrame, drills: list[Drill]) -> None:
    """A breakdown table whose selected row opens its events."""
    key = f"costs_table_{name}_{st.session_state.get(ROUND_KEY, 0)}"

    def picked() -> None:
        rows = st.session_state[key]["selection"]["rows"]
        if rows:
            drill_into(drills[rows[0]])

    st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        on_select=picked,
        selection_mode="single-row",
        key=key,
    )


def _models(lines: list[overview.ModelLine]) -> None:
    st.subheader("Models")
    if not lines:
        st.caption("No model has usage in this period.")
        return
    frame = pd.DataFrame(
        [
            {
                "Provider": line.provider,
                "Model": line.model,
                "Requests": line.totals.requests,
                "Input tokens": line.totals.input_tokens,
                "Output tokens": line.totals.output_tokens,
                "Spend": _spend(line.totals.cost_usd, line.totals.unpriced_requests),
                "Per M tokens": usd(line.price_per_million),
                "Input from cache": _share(line.cache_share),
                "Caching saved": usd(line.savings_usd),
            }
            for line in lines
        ]
    )
    st.caption("Select a row to see its events.")
    _table("models", frame, [Drill(provider=x.provider, model=x.model) for x in lines])


def _caching(lines: list[overview.ModelLine]) -> None:
    cached = overview.caching(lines)
    a, b = st.columns(2)
    a.metric("Input served from cache", _share(cached.share))
    b.metric("Caching saved", usd(cached.savings_usd))
    if cached.unknown_models:
        st.caption(
            f"{cached.unknown_models} model(s) with cached reads have no known input price; "
            "their savings are not counted."
        )


def _unpriced(lines: list[overview.ModelLine]) -> None:
    missing = overview.unpriced(lines)
    if not missing:
        return
    st.subheader("Unpriced usage")
    st.warning(
        "These models have requests without a known price: their cost is unknown (not $0) "
        "and is left out of the totals."
    )
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "Provider": x.provider,
                    "Model": x.model,
                    "Unpriced requests": x.totals.unpriced_requests,
                    "Input tokens": x.totals.input_tokens,
                    "Output tokens": x.totals.output_tokens,
                }
                for x in missing
            ]
        ),
        hide_index=True,
        width="stretch",
    )
    st.page_link("pages/models.py", label="Set the missing prices on the Models page")


def _groups(
    name: str, title: str, groups: list[Any], column: str, heading: str, drill: Any
) -> None:
    st.subheader(title)
    if not groups:
        st.caption("No usage in this period.")
        return
    frame = pd.DataFrame(
        [
            {
                heading: g.labels[column],
                "Requests": g.totals.requests,
                "Tokens": g.totals.input_tokens + g.totals.output_tokens,
                "Spend": _spend(g.totals.cost_usd, g.totals.unpriced_requests),
                "Unpriced requests": g.totals.unpriced_requests,
            }
            for g in groups
        ]
    )
    _table(name, frame, [drill(g.labels[column]) for g in groups])


# --- The page --------------------------------------------------------------------------------


def render() -> None:
    """The Costs page."""
    st.title("Costs")
    settings = _ui.runtime().settings
    today = budget_status.today_in(settings.timezone)
    with _ui.reading() as session:
        user = _ui.current_user(session)
        zone = zones.rollup_zone(session) or settings.timezone
    _ui.show_flash()
    for note in _sync_from_url(today):
        st.warning(_md(note))
    with _ui.reading() as session:
        keys = costs_view.tag_keys(session, viewer=user, span=overview.period("90d", today=today))
    if not user.is_admin and st.session_state[KEY["by"]].startswith("tag:"):
        st.warning("Tag totals add up everyone's usage; only admins see them. Split by provider.")
        st.session_state[KEY["by"]] = "provider"  # before the widget: it shows the fallback
    _picker(keys, user.is_admin)
    view = _from_widgets()
    span = _ui.attempt(lambda: view.span(today))
    if span is None:
        st.stop()
    _write_url(view)
    _show(view, span, user, zone)
    if user.is_admin:
        _costs_admin.render(user, today)


def _show(view: View, span: overview.Period, user: Viewer, zone: str) -> None:
    with _ui.reading() as session:
        used = overview.read_usage(session, viewer=user, span=span)  # read once, folded thrice
        comparison = overview.period_totals(session, viewer=user, span=span, usage=used)
        series = overview.over_time(session, viewer=user, span=span, by=view.by, bucket=view.bucket)
        lines = overview.models(session, viewer=user, span=span, usage=used)
        people = overview.top(session, viewer=user, span=span, by="user", limit=TOP, usage=used)
        tag_key = view.by[4:] if view.by.startswith("tag:") else None
        tags = (
            overview.top(session, viewer=user, span=span, by=view.by, limit=TOP) if tag_key else []
        )
    _totals(comparison, zone)
    _chart(series, view.by, view.bucket)
    _models(lines)
    _caching(lines)
    _unpriced(lines)
    _costs_savings.render(span, user)
    left, right = st.columns(2)
    with left:
        _groups("users", "Top users", people, "user", "User", lambda v: Drill(user=v))
    with right:
        if tag_key:
            shown = [g for g in tags if not g.labels[tag_key].startswith("(no ")]
            _groups(
                "tags", f"Top {tag_key}", shown, tag_key, tag_key, lambda v: Drill(tag=(tag_key, v))
            )
        else:
            st.subheader("Top tags")
            st.caption("Split by a tag to rank its values." if user.is_admin else "For admins.")
    if view.drill:
        _costs_drill.render(
            view.drill, view.drill.span(span), user, on_close=lambda: drill_into(Drill())
        )


render()
