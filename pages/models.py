"""Models: the catalogue table with filters, adding and changing models (toggle, delete,
share), and what each user's model selector offers (active, visible models of active,
visible providers, by provider priority)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pandas as pd
import streamlit as st

from core.accounts import access, users
from core.accounts.viewer import Viewer
from core.costs import usd
from core.explorer import tiers
from core.probes import speed_check
from core.records import catalog_hints, model_listing, model_records
from core.vocabulary import MODEL_TYPES, STATUSES
from pages import _model_form, _model_import, _sharing, _ui

_md = _ui.literal  # others' text (names, messages) shown literally in Markdown

VIEWS = ("Catalogue", "What users see", "Import from provider")
NEW = "new"  # the "model to change" option that shows the add form
PICK_KEY = "models_pick"
DELETE_KEY = "md_model_delete"  # (model id, name, version) awaiting confirmation
DEPRECATIONS_SHOWN = 5  # more are counted, not listed
SPEED_KEY = "md_model_speed"  # (model id, SpeedCheck) of the last Measure speed click
MEASURE_HELP = (
    "Sends one short completion to this model through its provider (about a "
    "hundred tokens) and keeps the timings."
)
PRICE_HELP = "Price per million {} tokens; — means unpriced."
PAGE_KEY = "models_page"  # 1-based page of the table
PAGE_SIZE_KEY = "models_page_size"
PAGE_SIZES = (25, 50, 100, 200)


def _price_column(label: str, what: str) -> Any:
    # No fixed width: the column is as wide as its longest price ("$0.0000001" is never cut).
    return st.column_config.TextColumn(label, help=PRICE_HELP.format(what), alignment="right")


# No fixed widths: each column is as wide as its content, so nothing is cut; the name stays
# pinned while the other columns scroll sideways on a narrow screen.
COLUMNS = {
    "Name": st.column_config.TextColumn(pinned=True),
    "Provider": st.column_config.TextColumn(),
    "Model ID": st.column_config.TextColumn(),
    "Type": st.column_config.TextColumn(),
    "Quality": st.column_config.TextColumn(
        help="The tier set on this model (it overrides), else the model's Arena rating "
        "(text board, ± its 95 % interval; source and licence on the Explorer); —: not rated"
    ),
    "Features": st.column_config.TextColumn(
        help="What the model supports, as set on it; —: the catalog's facts"
    ),
    "Input /M": _price_column("Input", "input"),
    "Output /M": _price_column("Output", "output"),
    "Cache read /M": _price_column("Cache read", "cached input"),
    "Cache write /M": _price_column("Cache write", "cache write"),
    "Context": st.column_config.NumberColumn(help="Context window in tokens", format="compact"),
    "Scope": st.column_config.TextColumn(
        help="instance: everyone sees it · shared: its owner and the users it is shared with · "
        "private: its owner only"
    ),
    "Status": st.column_config.TextColumn(),
    "Owner": st.column_config.TextColumn(),
}


def _frame(rows: list[model_listing.ModelRow]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Name": [r.name for r in rows],
            # An inactive provider hides its models from every selector: say so where it shows.
            "Provider": [
                r.provider_name
                if r.provider_status == "active"
                else f"{r.provider_name} (inactive)"
                for r in rows
            ],
            "Model ID": [r.model_id for r in rows],
            "Type": [r.model_type for r in rows],
            "Quality": [_quality(r) for r in rows],
            "Features": [", ".join(r.features) if r.features else None for r in rows],
            "Input /M": [usd(r.input_cost_per_million) for r in rows],  # text: never cut
            "Output /M": [usd(r.output_cost_per_million) for r in rows],
            "Cache read /M": [usd(r.cache_read_cost_per_million) for r in rows],
            "Cache write /M": [usd(r.cache_write_cost_per_million) for r in rows],
            "Context": pd.array([r.context_window for r in rows], dtype="Int64"),
            "Scope": [r.scope for r in rows],
            "Status": [r.status for r in rows],
            "Owner": [r.owner for r in rows],
        },
        columns=list(COLUMNS),
    )


def _quality(row: model_listing.ModelRow) -> str | None:
    """The record's own tier (labelled: it overrides), else its Arena rating, else None."""
    rating = None if row.quality_tier else tiers.rating_for(row.provider_type, row.model_id)
    return tiers.quality_label(row.quality_tier, rating)


def _provider_labels(views: list[model_listing.ProviderChoice]) -> dict[str, str]:
    """id → label; owners are named when two providers share a name."""
    names = Counter(v.name for v in views)
    return {
        str(v.id): (f"{v.name} ({v.owner})" if names[v.name] > 1 else v.name)
        + ("" if v.status == "active" else " · inactive")
        for v in views
    }


def _open_delete(model_id: str, name: str, version: int) -> None:
    st.session_state.pop(_sharing.SHARE_KEY, None)  # one dialog at a time
    st.session_state[DELETE_KEY] = (model_id, name, version)


def _open_share(model_id: str) -> None:
    st.session_state.pop(DELETE_KEY, None)
    _sharing.open_share("model", model_id)


def _close_delete() -> None:
    st.session_state.pop(DELETE_KEY, None)


@st.dialog("Delete model", on_dismiss=_close_delete)
def _delete_dialog(model_id: str, name: str, version: int) -> None:
    st.write(
        f"Delete the model **{_md(name)}**? Its sharing grants go with it. This cannot be "
        "undone; deactivating it instead keeps it for later."
    )
    left, right = st.columns(2)
    if left.button("Delete", type="primary", icon=":material/delete:", key="model_delete_confirm"):

        def delete() -> bool:
            with _ui.writing() as session:
                model_records.delete_model(
                    session,
                    actor=_ui.current_user(session),
                    model_record_id=_ui.parse_id(model_id),
                    expected_version=version,
                )
            return True

        if _ui.attempt(delete):
            _close_delete()
            st.session_state.pop(PICK_KEY, None)
            _model_form.reset_edit()
            _ui.flash(f"Model '{name}' deleted.")
            st.rerun()
    # A dialog is a fragment: a click reruns only the dialog, which would draw it again.
    # Closing means dropping the flag and rerunning the whole page.
    if right.button("Cancel", key="model_delete_cancel"):
        _close_delete()
        st.rerun()


def _toggle(view: model_records.ModelView) -> None:
    def toggle() -> str:
        with _ui.writing() as session:
            model = model_records.set_model_status(
                session,
                actor=_ui.current_user(session),
                model_record_id=view.id,
                expected_version=view.version,
            )
            return model.status

    status = _ui.attempt(toggle, flash_errors=True)
    if status:
        _ui.flash(f"Model '{view.name}' is now {status}.")
    _model_form.reset_edit()  # the version moved on: the edit form reloads
    st.rerun()


def _measure(view: model_records.ModelView) -> None:
    def measure() -> speed_check.SpeedCheck:
        with _ui.writing() as session:
            return speed_check.measure_speed(
                session,
                actor=_ui.current_user(session),
                model_record_id=view.id,
                settings=_ui.runtime().settings,
            )

    with st.spinner(
        f"Asking {_md(view.provider_name)} for a short completion of '{_md(view.model_id)}'…"
    ):
        result = _ui.attempt(measure, flash_errors=True)
    if result is not None:  # shown on the next run, beside the stored measurements it joined
        st.session_state[SPEED_KEY] = (str(view.id), result)
    st.rerun()


def _show_speed(view: model_records.ModelView, status: speed_check.SpeedStatus) -> None:
    held = st.session_state.get(SPEED_KEY)
    if held and held[0] == str(view.id):
        del st.session_state[SPEED_KEY]
        result = held[1]
        if result.ok:
            st.success(_md(result.message), icon=":material/speed:")
        else:
            st.error(_md(result.message), icon=":material/error:")
        if result.detail:
            st.caption(_md(result.detail))
    if status.summary:
        tier = f" · speed tier **{status.tier}**" if status.tier else ""
        st.caption(f"Speed {_md(status.summary)}{tier}")


def _actions(session: Any, me: Viewer, view: model_records.ModelView) -> None:
    status = speed_check.speed_status(session, actor=me, model_record_id=view.id)
    cols = st.columns([1, 1, 1, 1.2, 2.8])
    active = view.status == "active"
    if cols[0].button(
        "Deactivate" if active else "Activate",
        key="model_toggle",
        icon=":material/toggle_off:" if active else ":material/toggle_on:",
        width="stretch",
    ):
        _toggle(view)
    if me.is_admin:
        cols[1].button(
            "Share…",
            icon=":material/share:",
            key="model_share",
            width="stretch",
            on_click=_open_share,
            args=(str(view.id),),
        )
    cols[2].button(
        "Delete…",
        icon=":material/delete:",
        key="model_delete",
        width="stretch",
        on_click=_open_delete,
        args=(str(view.id), view.name, view.version),
    )
    if cols[3].button(
        "Measure speed",
        icon=":material/speed:",
        key="model_measure",
        width="stretch",
        disabled=status.refusal is not None,
        help=status.refusal or MEASURE_HELP,
    ):
        _measure(view)
    cols[4].caption(
        f"Owner **{_md(view.owner)}** · scope **{view.scope}** · "
        f"updated {view.updated_at:%Y-%m-%d %H:%M} UTC"
    )
    _show_speed(view, status)


def _deprecations(session: Any, me: Viewer, show_all: bool) -> None:
    notices = catalog_hints.deprecation_notices(session, user=me, manage=show_all)
    if not notices:
        return
    shown = [f"- {_md(n.message)}" for n in notices[:DEPRECATIONS_SHOWN]]
    if len(notices) > DEPRECATIONS_SHOWN:
        shown.append(f"- … and {len(notices) - DEPRECATIONS_SHOWN} more.")
    st.warning("\n".join(shown), icon=":material/event_busy:")


def _first_page() -> None:
    st.session_state[PAGE_KEY] = 1  # a new search or filter starts at its first page


def _filters(me: Viewer, labels: dict[str, str]) -> tuple[model_listing.ModelFilter, bool]:
    """The search box and filters above the table (all applied in the query)."""
    a, b, c, d, e = st.columns([2.6, 2.2, 1.5, 1.5, 1.9], vertical_alignment="bottom")
    search = a.text_input(
        "Search",
        key="models_q",
        placeholder="Name, model ID or provider",
        max_chars=model_listing.SEARCH_MAX,
        on_change=_first_page,
    )
    chosen_providers = b.multiselect(
        "Provider",
        list(labels),
        format_func=labels.get,
        placeholder="All providers",
        key="models_f_provider",
        on_change=_first_page,
    )
    chosen_types = c.multiselect(
        "Type", MODEL_TYPES, placeholder="All types", key="models_f_type", on_change=_first_page
    )
    chosen_status = d.multiselect(
        "Status", STATUSES, placeholder="Any status", key="models_f_status", on_change=_first_page
    )
    show_all = (
        e.toggle(
            "Show all records",
            key="models_all",
            on_change=_first_page,
            help="Admins: every model, also private ones not shared with you.",
        )
        if me.is_admin
        else False
    )
    where = model_listing.ModelFilter(
        search=search,
        provider_ids=tuple(_ui.parse_id(i) for i in chosen_providers),
        model_types=tuple(chosen_types),
        statuses=tuple(chosen_status),
    )
    return where, show_all


def _pager(page: model_listing.ModelPage) -> None:
    """Page size and page number under the table, and which rows are shown."""
    pages = max(1, -(-page.total // page.limit))
    left, mid, right = st.columns([1.2, 1.2, 5], vertical_alignment="bottom")
    left.selectbox("Rows per page", PAGE_SIZES, key=PAGE_SIZE_KEY, on_change=_first_page)
    mid.number_input(f"Page (of {pages:,})", min_value=1, max_value=pages, step=1, key=PAGE_KEY)
    right.caption(
        f"Models {page.first:,}–{page.last:,} of {page.total:,}. Prices are per "
        f"million tokens; {_ui.UNKNOWN} means unpriced."
    )


def _catalogue(session: Any, me: Viewer, labels: dict[str, str]) -> None:
    where, show_all = _filters(me, labels)
    _deprecations(session, me, show_all)
    size = st.session_state.setdefault(PAGE_SIZE_KEY, PAGE_SIZES[1])
    number = st.session_state.setdefault(PAGE_KEY, 1)
    page = _ui.attempt(
        lambda: model_listing.find_model_rows(
            session, user=me, manage=show_all, where=where, offset=(number - 1) * size, limit=size
        )
    )
    if page is None:
        return
    if page.offset != (number - 1) * size:  # past the end (rows went away): the last page
        st.session_state[PAGE_KEY] = page.offset // size + 1
    rows = page.rows
    names = {str(r.provider_id): labels.get(str(r.provider_id), r.provider_name) for r in rows}
    if rows:
        st.dataframe(
            _frame(rows),
            hide_index=True,
            width="stretch",
            column_config=COLUMNS,
            placeholder=_ui.UNKNOWN,
            height=min(len(rows), 25) * 35 + 38,
        )
        _pager(page)
    elif where != model_listing.ModelFilter():
        st.info("No model matches these filters.", icon=":material/filter_alt_off:")
    else:
        st.info("No models yet: add the first one below.", icon=":material/info:")

    st.subheader("Add or change a model")
    if not labels:
        st.info("Add a provider first: every model belongs to one.", icon=":material/info:")
        return
    by_id = {str(r.id): r for r in rows if access.can_manage(me, r)}
    options = [NEW, *by_id]
    # Assigned on every run: the browser names the choice by its label, which a rename
    # changes; without this the next click would fall back to "New model…".
    current = st.session_state.get(PICK_KEY)
    st.session_state[PICK_KEY] = current if current in options else NEW
    pick = st.selectbox(
        "Model to change",
        options,
        key=PICK_KEY,
        format_func=lambda i: (
            "New model…"
            if i == NEW
            else f"{by_id[i].name} — {names[str(by_id[i].provider_id)]} ({by_id[i].model_id})"
        ),
        help="The models on this page of the table that you may change: search or filter "
        "above to find another.",
    )
    with st.container(border=True):
        if pick == NEW:
            _model_form.render_add(me, labels)
            return
        view = _ui.attempt(
            lambda: model_records.get_model_view(session, user=me, model_record_id=pick)
        )
        if view is not None:
            _actions(session, me, view)
            _model_form.render_edit(me, labels, view)


def _what_users_see(session: Any, me: Viewer) -> None:
    st.caption(
        "A user's model selector lists the active models of active providers that they "
        "own, that are instance-wide, or that were shared with them, in provider "
        "priority order." + ("" if me.is_admin else " This is yours.")
    )
    a, b = st.columns([2, 3])
    person = me
    if me.is_admin:  # members see only their own selector
        people = [u for u in users.list_users(session) if u.active]
        names = [u.username for u in people]
        shown = {u.username: f"{u.display_name} ({u.username})" for u in people}
        who = a.selectbox(
            "User",
            names,
            index=names.index(me.username),
            key="models_wus_user",
            format_func=shown.get,
        )
        person = Viewer.of(next(u for u in people if u.username == who))
        a = b
    model_type = a.segmented_control(
        "Model type", MODEL_TYPES, default="inference", required=True, key="models_wus_type"
    )
    options = model_listing.model_selector(session, user=person, model_type=model_type)
    whose = "Your" if person.id == me.id else f"{person.display_name}'s"
    with st.container(border=True):
        st.markdown(f"**{_md(whose)} {model_type} model selector**")
        st.selectbox(
            "Model",
            [o.label for o in options],
            key="models_wus_model",
            placeholder=f"No active {model_type} models",
            index=0 if options else None,
        )
    if not options:
        st.info(
            f"{_md(person.display_name)} has no active {model_type} model to choose from.",
            icon=":material/info:",
        )
        return
    st.dataframe(
        pd.DataFrame(
            {
                "Option": [o.label for o in options],
                "Model ID": [o.model.model_id for o in options],
                "Model visible because": [o.model_reason for o in options],
                "Provider visible because": [o.provider_reason for o in options],
            }
        ),
        hide_index=True,
        width="stretch",
    )


st.title("Models")
with _ui.reading() as session:
    me = _ui.current_user(session)
    provider_views = model_listing.provider_choices(session, user=me, manage=me.is_admin)
    labels = _provider_labels(provider_views)
    if not provider_views and not model_listing.find_model_rows(session, user=me).total:
        st.info(
            "There are no models yet, and a model needs a provider first: add the "
            "provider (its API and key), then come back to add its models.",
            icon=":material/hub:",
        )
        st.page_link("pages/providers.py", label="Go to Providers", icon=":material/hub:")
        st.stop()
    view_name = st.segmented_control(
        "View",
        VIEWS,
        default=VIEWS[0],
        required=True,
        key="models_view",
        label_visibility="collapsed",
    )
    if view_name == VIEWS[1]:
        _what_users_see(session, me)
    elif view_name == VIEWS[2]:
        _model_import.render_import(
            me, {str(v.id): labels[str(v.id)] for v in provider_views if access.can_manage(me, v)}
        )  # type: ignore[arg-type]
    else:
        _catalogue(session, me, labels)

pending = st.session_state.get(DELETE_KEY)
if pending:
    _delete_dialog(*pending)
_sharing.render_share_dialog()
