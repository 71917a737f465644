"""Health: the stored health of every provider you can see, and checks on demand.

A page view only reads stored results (through a short cache) and never waits on a
provider: the scheduler probes in the background. "Check now" is the one place this page
probes, because someone asked for it, with a progress bar.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from core.accounts import users
from core.accounts.viewer import Viewer
from core.probes import health
from core.probes.health_classify import FLIP_AFTER
from pages import _ui

_md = _ui.literal  # names and reasons shown literally in Markdown

REFRESH_S = 30  # the grid re-reads stored results this often
CACHE_S = 10  # and several viewers share one read for this long
ALL = "all"
PICK_KEY = "health_pick"
CHART_KEY = "health_chart_provider"
WINDOW_KEY = "health_window"
WINDOWS = {"24 hours": 1, "7 days": 7}
NOTES_SHOWN = 20  # notes of unhealthy checks listed whole under the chart
BADGES = {
    "healthy": "healthy",
    "degraded": "degraded",
    "unauthorized": "unauthorized",
    "unreachable": "unreachable",
    "unknown": "not checked",
}
COLOURS = {
    "healthy": "#2e7d32",
    "degraded": "#f9a825",
    "unauthorized": "#ef6c00",
    "unreachable": "#c62828",
    "unknown": "#9e9e9e",
}


def _scope() -> str:
    """Which database the cached reads belong to (a digest: the URL may hold a password)."""
    url = _ui.runtime().settings.resolved_database_url
    return hashlib.sha256(url.encode()).hexdigest()[:16]


@st.cache_data(ttl=CACHE_S, show_spinner=False)
def _overview(username: str, scope: str) -> list[health.HealthRow]:
    with _ui.reading() as session:
        user = users.get_by_username(session, username)
        if user is None:
            return []
        return health.health_overview(session, user=user, settings=_ui.runtime().settings)


@st.cache_data(ttl=CACHE_S, show_spinner=False)
def _history(provider_key: str, days: int, scope: str) -> list[health.HealthPoint]:
    with _ui.reading() as session:
        return health.provider_history(
            session, provider_key=provider_key, since=datetime.now(UTC) - timedelta(days=days)
        )


@st.cache_resource(ttl=CACHE_S, max_entries=64, show_spinner=False)
def _history_figure(provider_key: str, days: int, scope: str, name: str) -> go.Figure:
    """The history chart, built once per CACHE_S for every viewer of this provider (keyed as
    ``_history``: only a viewer who may pick the provider asks for it). Shared, never
    changed after: st.plotly_chart reads a copy of it. Building a plotly figure was a third
    of this page's server time under load (docs/operations.md, "Load")."""
    until = datetime.now(UTC)
    points = _history(provider_key, days, scope)
    return _figure(points, name, until - timedelta(days=days), until)


def _percent(value: float | None) -> float | None:
    return None if value is None else round(100 * value, 1)


def _latency(row: health.HealthRow) -> int | None:
    # The time a timeout or refused connection took says nothing about the provider's speed.
    if row.latency_ms is None or row.status in ("unreachable", "unknown"):
        return None
    return round(row.latency_ms)


def _grid(rows: list[health.HealthRow]) -> pd.DataFrame:
    """One frame for the whole grid (no per-row widgets)."""
    return pd.DataFrame(
        {
            "Status": [BADGES.get(r.status, r.status) for r in rows],
            "Provider": [r.name for r in rows],
            "Note": [r.reason if r.status != "healthy" and r.reason else "" for r in rows],
            "As of": pd.to_datetime([r.checked_at for r in rows], utc=True),
            "Latency (ms)": pd.array([_latency(r) for r in rows], dtype="Int64"),
            "Uptime 24 h": pd.array([_percent(r.uptime_24h) for r in rows], dtype="Float64"),
            "Uptime 7 d": pd.array([_percent(r.uptime_7d) for r in rows], dtype="Float64"),
            "Type": [r.type_label for r in rows],
            "Source": ["environment" if r.source == "system" else "stored" for r in rows],
            "Last failure": pd.to_datetime([r.last_failure_at for r in rows], utc=True),
            "Failure reason": [r.last_failure_reason or "" for r in rows],
        }
    )


def _badge(value: str) -> str:
    status = next((k for k, v in BADGES.items() if v == value), "unknown")
    return f"color: {COLOURS[status]}; font-weight: 600"


COLUMNS = {
    "Status": st.column_config.TextColumn(width=100),
    "Provider": st.column_config.TextColumn(width="medium"),
    "Type": st.column_config.TextColumn(width=110),
    "Source": st.column_config.TextColumn(width="small"),
    "As of": st.column_config.DatetimeColumn(
        format="distance", width=130, help="When the last check finished."
    ),
    "Latency (ms)": st.column_config.NumberColumn(format="%d", width=95),
    "Uptime 24 h": st.column_config.ProgressColumn(
        min_value=0,
        max_value=100,
        format="%.1f%%",
        width=120,
        help="Share of checks that found it up (healthy or degraded).",
    ),
    "Uptime 7 d": st.column_config.ProgressColumn(
        min_value=0, max_value=100, format="%.1f%%", width=120
    ),
    "Note": st.column_config.TextColumn(
        width="medium", help="What the last check said when it was not simply healthy."
    ),
    "Last failure": st.column_config.DatetimeColumn(format="distance", width=130),
    "Failure reason": st.column_config.TextColumn(width="large"),
}


def _summary(rows: list[health.HealthRow]) -> None:
    counts = {status: sum(r.status == status for r in rows) for status in BADGES}
    bar = st.container(horizontal=True)
    for status, label in (
        ("healthy", "Healthy"),
        ("degraded", "Degraded"),
        ("unreachable", "Unreachable"),
        ("unauthorized", "Unauthorized"),
        ("unknown", "Not checked"),
    ):
        bar.metric(label, counts[status], border=True)


def _figure(
    points: list[health.HealthPoint], name: str, since: datetime, until: datetime
) -> go.Figure:
    """Response times of the checks the provider answered, above a strip of every check's
    status; the time axis spans the whole window, so one check is a point in a day."""
    fig = make_subplots(
        rows=2, cols=1, shared_xaxes=True, row_heights=[0.75, 0.25], vertical_spacing=0.06
    )
    answered = [p for p in points if p.latency_ms is not None and p.status in health.UP]
    for status, colour in COLOURS.items():
        mine = [p for p in points if p.status == status]
        if not mine:
            continue
        timed = [p for p in answered if p.status == status]
        if timed:
            fig.add_trace(
                go.Scatter(
                    x=[p.checked_at for p in timed],
                    y=[p.latency_ms for p in timed],
                    mode="markers",
                    name=status,
                    marker={"color": colour, "size": 7},
                    legendgroup=status,
                    customdata=[_ui.plot_text(p.reason or "") for p in timed],
                    hovertemplate="%{x}<br>%{y:.0f} ms<br>%{customdata}<extra>"
                    + status
                    + "</extra>",
                ),
                row=1,
                col=1,
            )
        fig.add_trace(
            go.Scatter(
                x=[p.checked_at for p in mine],
                y=[BADGES[status]] * len(mine),
                mode="markers",
                name=status,
                marker={"color": colour, "symbol": "square", "size": 9},
                legendgroup=status,
                showlegend=not timed,
                customdata=[_ui.plot_text(p.reason or "") for p in mine],
                hovertemplate="%{x}<br>%{customdata}<extra>" + status + "</extra>",
            ),
            row=2,
            col=1,
        )
    if len(answered) > 1:
        fig.add_trace(
            go.Scatter(
                x=[p.checked_at for p in answered],
                y=[p.latency_ms for p in answered],
                mode="lines",
                line={"color": "#90a4ae", "width": 1},
                showlegend=False,
                hoverinfo="skip",
            ),
            row=1,
            col=1,
        )
    fig.update_xaxes(range=[since, until])
    fig.update_yaxes(title_text="latency (ms)", rangemode="tozero", row=1, col=1)
    fig.update_layout(
        title=f"{_ui.plot_text(name)}: response time and status",
        height=420,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        legend={"orientation": "h", "y": -0.12},
    )
    return fig


def _notes(points: list[health.HealthPoint]) -> None:
    """The window's failed or degraded checks, newest first, each note whole."""
    noted = [p for p in reversed(points) if p.status != "healthy" and p.reason]
    if not noted:
        return
    with st.expander(
        f"Notes of {len(noted)} check(s) that were not healthy", expanded=len(noted) <= 3
    ):
        for p in noted[:NOTES_SHOWN]:
            st.code(
                f"{p.checked_at:%Y-%m-%d %H:%M:%S} UTC · {BADGES.get(p.status, p.status)}"
                f"\n{p.reason}",
                language=None,
                wrap_lines=True,
            )
        if len(noted) > NOTES_SHOWN:
            st.caption(f"… and {len(noted) - NOTES_SHOWN} older ones.")


def _chart(rows: list[health.HealthRow], scope: str) -> None:
    checked = {str(r.provider_key): r.name for r in rows if r.checked_at is not None}
    if not checked:
        return
    st.subheader("History")
    bar = st.container(horizontal=True, vertical_alignment="bottom")
    if st.session_state.get(CHART_KEY) not in checked:
        st.session_state.pop(CHART_KEY, None)
    key = bar.selectbox(
        "Provider", list(checked), key=CHART_KEY, format_func=lambda k: checked[k], width=360
    )
    window = bar.segmented_control(
        "Window", list(WINDOWS), default="24 hours", key=WINDOW_KEY, required=True
    )
    days = WINDOWS[window or "24 hours"]
    points = _history(key, days, scope)
    if not points:
        st.caption(f"No checks of {_md(checked[key])} in the last {window}.")
        return
    st.plotly_chart(_history_figure(key, days, scope, checked[key]), width="stretch")
    st.caption(
        "Response times are plotted for the checks the provider answered; a failed "
        "check shows in the status strip only (its time says nothing about speed)."
    )
    _notes(points)


def _schedule_text() -> str:
    interval = _ui.runtime().settings.health_interval
    if interval <= 0:
        return (
            "Background checks are off in this process (MODELDESK_HEALTH_INTERVAL=0): "
            "run `modeldesk check` from cron."
        )
    every = f"{interval // 60} min" if interval % 60 == 0 else f"{interval} s"
    return f"Every provider is checked in the background every {every}."


@st.fragment(run_every=REFRESH_S)
def _live(username: str, scope: str) -> None:
    """The grid and the chart, re-read from stored results every REFRESH_S seconds."""
    rows = _overview(username, scope)
    if not rows:
        st.info(
            "No active providers to watch yet. Add one on the Providers page (or define "
            "one in the environment).",
            icon=":material/hub:",
        )
        return
    _summary(rows)
    if all(r.checked_at is None for r in rows):
        st.info(
            f"Nothing has been checked yet. {_schedule_text()} Use **Check now** to check at once.",
            icon=":material/schedule:",
        )
    st.dataframe(
        _grid(rows).style.map(_badge, subset=["Status"]),
        hide_index=True,
        width="stretch",
        column_config=COLUMNS,
        placeholder="—",
    )
    st.caption(
        f"Stored results, refreshed every {REFRESH_S} s. {_schedule_text()} Inactive "
        "providers are not checked. Degraded: slow, rate limited, or a failure not "
        f"yet repeated {FLIP_AFTER} times."
    )
    _chart(rows, scope)


def _check_now(me: Viewer, ids: list[str], label: str) -> None:
    """Probe now (an explicit request), showing progress, then re-read the stored results."""
    with st.status(f"Checking {_md(label)}…", expanded=True) as box:
        bar = st.progress(0.0, text="Starting…")

        def progress(done: int, total: int) -> None:
            bar.progress(done / total if total else 1.0, text=f"{done} of {total} checked")

        results = _ui.attempt(
            lambda: health.check_providers(
                _ui.runtime(), provider_ids=ids, user=me, progress=progress
            )
        )
        if results is None:
            box.update(label="The check could not run.", state="error")
        else:
            up = sum(r.status in health.UP for r in results)
            box.update(
                label=f"Checked {len(results)} provider(s): {up} up, "
                f"{len(results) - up} down or not checkable.",
                state="complete",
                expanded=up < len(results),
            )
            for r in results:
                if r.status not in health.UP:
                    st.markdown(f"**{_md(r.provider_name)}**: {_md(r.reason or r.status)}")
    _overview.clear()
    _history.clear()
    _history_figure.clear()


st.title("Health")
with _ui.reading() as session:
    me = _ui.current_user(session)
scope = _scope()
rows = _overview(me.username, scope)

if rows:
    names = {str(r.provider_key): r.name for r in rows}
    if st.session_state.get(PICK_KEY) not in (ALL, *names):  # a provider gone since
        st.session_state.pop(PICK_KEY, None)
    bar = st.container(horizontal=True, vertical_alignment="bottom")
    pick = bar.selectbox(
        "Check",
        [ALL, *names],
        key=PICK_KEY,
        width=360,
        format_func=lambda k: "every provider listed" if k == ALL else names[k],
    )
    if bar.button("Check now", icon=":material/refresh:", key="health_check_now"):
        ids = list(names) if pick == ALL else [pick]
        _check_now(me, ids, f"{len(ids)} providers" if pick == ALL else names[pick])
_live(me.username, scope)
