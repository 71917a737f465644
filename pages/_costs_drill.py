"""The Costs page's drill-down: the raw events behind a breakdown row, a page at a time.

Pages go by key (``core.usage.events.page``: next and previous, never a count over the
table); the keys of the pages walked so far are the only thing kept in the session. The CSV
download holds exactly the rows shown, formula-safe.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st

from core.accounts.viewer import Viewer
from core.usage import costs_view, events, overview
from core.usage.costs_view import Drill
from pages import _ui

CURSOR_KEY = "costs_drill_cursor"  # the keys after which each walked page starts
PAGE_SIZE = 50


def reset() -> None:
    """Back to the first page (another row, another period)."""
    st.session_state[CURSOR_KEY] = [None]


def render(
    drill: Drill, span: overview.Period, user: Viewer, *, on_close: Callable[[], None]
) -> None:
    """The events of the drilled row in the period, one page."""
    st.subheader("Events")
    st.caption(_ui.literal(f"{drill.label}, {span.label}; oldest first, {PAGE_SIZE} a page."))
    cursor = st.session_state.setdefault(CURSOR_KEY, [None])
    after = cursor[-1]

    def read() -> list[Any]:
        with _ui.reading() as session:
            # one more than shown tells whether a next page exists, without a count
            return events.page(
                session,
                date_from=span.date_from,
                date_to=span.date_to,
                provider=drill.provider,
                model=drill.model,
                user=drill.user,
                tag=drill.tag,
                after=after,
                limit=PAGE_SIZE + 1,
                viewer=user,
            )

    found = _ui.attempt(read)
    if found is None:
        st.button("Close the events", on_click=on_close, key="costs_drill_close_error")
        return
    more, shown = len(found) > PAGE_SIZE, found[:PAGE_SIZE]
    rows = costs_view.event_rows(shown)
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    else:
        st.caption("No events.")
    number = len(cursor)
    a, b, c, d = st.columns(4)
    if a.button("Previous", disabled=number == 1, key="costs_drill_prev"):
        cursor.pop()
        st.rerun()
    if b.button("Next", disabled=not more, key="costs_drill_next"):
        cursor.append(events.key_of(shown[-1]))
        st.rerun()
    c.download_button(
        "Download these rows (CSV)",
        costs_view.rows_csv(rows),
        file_name=f"usage-events-page-{number}.csv",
        mime="text/csv",
        key="costs_drill_csv",
        disabled=not rows,
    )
    d.button("Close the events", on_click=on_close, key="costs_drill_close")
    st.caption(f"Page {number}.")
