"""The Explorer's plotly figures: price vs quality and speed vs cost (WebGL scatters), the
capability matrix (a heatmap) and the workload's cheapest models (bars).

Figures only, from the frames ``core.explorer.comparison`` and ``core.explorer.workload`` build; no
Streamlit calls here, so the page stays a list of sections. Every name put in a figure
goes through ``_ui.plot_text``: plotly reads its text as markup.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import plotly.graph_objects as go
from plotly.colors import qualitative

from core.costs import usd
from core.explorer import comparison, filters
from pages._ui import plot_text

PALETTE = qualitative.T10
OTHER_COLOUR = "#b0b7bf"
LAYOUT = {
    "margin": {"l": 10, "r": 10, "t": 40, "b": 10},
    "legend": {"orientation": "v", "x": 1.01, "y": 1, "yanchor": "top"},
}


def _price_axis(points: comparison.ChartPoints, blend: str) -> dict[str, Any]:
    """A log price axis with a tick per decade, and "free" one decade left of the first."""
    prices = points.frame["price"]
    paid = prices[prices > points.free_x]
    free = bool((prices <= points.free_x).any())
    low, high = (float(paid.min()), float(paid.max())) if len(paid) else (points.free_x * 10,) * 2
    decades = [10.0**e for e in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)]
    return {
        "type": "log",
        "title": {"text": f"blended price, $ per million tokens ({blend})"},
        "tickvals": ([points.free_x] if free else []) + decades,
        "tickangle": 0,
        "ticktext": (["free"] if free else []) + [usd(Decimal(str(v))) for v in decades],
        "range": [math.log10(points.free_x if free else low) - 0.25, math.log10(high) + 0.25],
    }


def scatter(
    points: comparison.ChartPoints,
    *,
    y: str,
    text: str,
    rows: dict[int, str] | None,
    title: str,
    blend: str,
    sized: bool,
    scope: str,
) -> go.Figure:
    """Points by price (x) and y: a jittered tier row (``rows``) or, without rows, the
    numeric quality value (Arena rating; unrated models on a row below). One trace per
    colour group, the legend titled with the scope; sized by context with the
    cost/quality frontier drawn and the top points named when ``sized``."""
    fig = go.Figure()
    frame = points.frame.copy()
    for column in ("name", "provider", "price_text", text, "context", "why", "label"):
        frame[column] = frame[column].map(plot_text)  # names are not plotly markup
    # "other" is drawn first, under the named providers, but listed last in the legend.
    for i, group in sorted(enumerate(points.groups), key=lambda g: g[1] != comparison.OTHER):
        part = frame[frame["group"] == group]
        other = group == comparison.OTHER
        fig.add_trace(
            go.Scattergl(
                legendrank=1000 + i,
                x=part["price"],
                y=part[y],
                mode="markers",
                name="other providers" if other else filters.type_label(group),
                marker={
                    "color": OTHER_COLOUR if other else PALETTE[i % len(PALETTE)],
                    "size": part["size"] if sized else 6,
                    "opacity": 0.45 if other else 0.8,
                },
                customdata=part[
                    ["name", "provider", "price_text", text, "context", "why"]
                ].to_numpy(),
                hovertemplate="<b>%{customdata[0]}</b> · %{customdata[1]}<br>%{customdata[2]}/M"
                " · %{customdata[3]} · context %{customdata[4]}"
                "<br><i>%{customdata[5]}</i><extra></extra>",
            )
        )
    if sized:
        front = frame.loc[frame["frontier"].astype(bool)].sort_values("price")
        fig.add_trace(
            go.Scatter(
                x=front["price"],
                y=front[y],
                mode="lines+markers",
                name="cost/quality frontier",
                legendrank=2000,
                line={"shape": "hv", "dash": "dot", "color": "#37474f", "width": 1.5},
                marker={
                    "symbol": "diamond-open",
                    "size": 14,
                    "color": "#37474f",
                    "line": {"width": 2},
                },
                customdata=front[["name", "provider", "price_text", "quality"]].to_numpy(),
                hovertemplate="<b>%{customdata[0]}</b> · %{customdata[1]}<br>on the frontier: "
                "%{customdata[2]}/M · %{customdata[3]}<extra></extra>",
            )
        )
        named = frame.loc[frame["label"] != ""].sort_values("price")
        fig.add_trace(
            go.Scatter(
                x=named["price"],
                y=named[y],
                mode="text",
                name="named points",
                text=named["label"],
                # Alternate above and below, so neighbours do not print over each other.
                textposition=[
                    "top center" if i % 2 == 0 else "bottom center" for i in range(len(named))
                ],
                textfont={"size": 11, "color": "#263238"},
                showlegend=False,
                hoverinfo="skip",
            )
        )
    fig.update_xaxes(**_price_axis(points, blend))
    if rows is not None:
        fig.update_yaxes(
            tickvals=list(rows),
            ticktext=list(rows.values()),
            range=[min(rows) - 0.5, max(rows) + 0.5],
            zeroline=False,
        )
    else:
        values = frame[y]
        top = float(values.max()) if len(values) else points.unrated_y + 100
        fig.update_yaxes(
            title={"text": "Arena rating (text board; a tier set on a record: its band)"},
            range=[points.unrated_y - comparison.UNRATED_GAP * 0.6, top + 25],
            zeroline=False,
        )
        fig.add_hline(
            y=points.unrated_y + comparison.UNRATED_GAP / 2, line_dash="dot", line_color="#cfd8dc"
        )
        fig.add_annotation(
            x=0,
            xref="paper",
            y=points.unrated_y,
            text="not rated",
            showarrow=False,
            xanchor="left",
            font={"color": "#78909c"},
        )
    fig.update_layout(
        title=title,
        height=480 if sized else 360,
        legend_title_text=f"{plot_text(scope)} · provider type",
        **LAYOUT,
    )
    return fig


def matrix(frame: Any) -> go.Figure:
    """A models × features heatmap (a comparison.capability_matrix), first model on top."""
    names = [plot_text(n if len(n) <= 48 else n[:47] + "…") for n in frame.index]
    z = frame.to_numpy(dtype=int)
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=list(frame.columns),
            y=list(range(len(names))),
            showscale=False,
            colorscale=[[0, "#eef1f4"], [1, "#1f77b4"]],
            xgap=2,
            ygap=2,
            zmin=0,
            zmax=1,
            customdata=[
                [(plot_text(label), "yes" if v else "no") for v in row]
                for label, row in zip(frame.index, z, strict=True)
            ],
            hovertemplate="%{customdata[0]}<br>%{x}: %{customdata[1]}<extra></extra>",
        )
    )
    fig.update_yaxes(tickvals=list(range(len(names))), ticktext=names, autorange="reversed")
    fig.update_xaxes(side="top")
    fig.update_layout(
        title="Capabilities",
        height=100 + 22 * len(names),
        margin={"l": 10, "r": 10, "t": 70, "b": 10},
    )
    return fig


def workload_bars(chart: Any) -> go.Figure:
    """Horizontal bars of monthly cost, cheapest on top (a workload.frame)."""
    fig = go.Figure(
        go.Bar(
            x=chart["USD"],
            y=chart["Model"].map(plot_text),
            orientation="h",
            text=chart["Monthly cost"].map(plot_text),
            textposition="auto",
            marker={"color": "#1f77b4"},
            hovertemplate="%{y}<br>%{text} a month<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", automargin=True)
    fig.update_layout(
        title="Cheapest paid models for this workload, per month",
        height=80 + 26 * len(chart),
        margin=LAYOUT["margin"],
        xaxis_title="USD per month",
    )
    return fig
