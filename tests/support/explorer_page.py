"""What the Explorer page tests share: opening the Explorer at a URL query, switching
tabs, and reading its metrics, charts, table and literal markdown."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from streamlit.testing.v1 import AppTest

from tests.support.console import Console

PAGE = "pages/explorer.py"


def explorer(console: Console, as_user: str, query: dict[str, Any] | None = None) -> AppTest:
    """The Explorer as a user, opened with this URL query (a shared link)."""
    at = console.open(as_user=as_user)
    at.query_params.update(query or {})
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def tab(at: AppTest, name: str) -> AppTest:
    """Open this Explorer tab and rerun."""
    at.session_state["explorer_tab"] = name
    at.run()
    assert not at.exception, at.exception
    return at


def metric(at: AppTest, label: str) -> int:
    """The whole number a metric with this label shows."""
    return int(next(m.value for m in at.metric if m.label == label).replace(",", ""))


def charts(at: AppTest) -> list[dict[str, Any]]:
    """The plotly figures on the page, as their JSON specs."""
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def points(spec: dict[str, Any]) -> int:
    """Data points drawn by a figure (x arrays; plotly ships numbers as base64 arrays)."""
    total = 0
    for trace in spec["data"]:
        if trace["type"] == "heatmap":  # a row per model
            z = trace["z"]
            total += int(str(z["shape"]).split(",")[0]) if isinstance(z, dict) else len(z)
        elif isinstance(trace["x"], dict):
            x = trace["x"]
            total += len(base64.b64decode(x["bdata"])) // int(x["dtype"][1:])
        else:
            total += len(trace["x"])
    return total


def models_table(at: AppTest) -> Any:
    """The Models tab's table as a DataFrame."""
    return tab(at, "Models").dataframe[0].value


def unescape(markdown: str) -> str:
    """Markdown made literal by _ui.literal, back to the text shown."""
    return re.sub(r"\\(.)", r"\1", markdown)
