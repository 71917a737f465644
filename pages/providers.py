"""Providers: the LLM services Modeldesk can call, their write-only keys, order and sharing.

One table of the visible providers (stored records by priority, then the system providers
from the environment); a row (or the picker) selects the provider that the toolbar and the
Edit tab act on. The forms live in ``_provider_form``.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.accounts.viewer import Viewer
from core.records import provider_forms, providers, system_providers
from core.records.providers import ProviderView
from core.validation import PRIORITY_MAX
from pages import _provider_form as form
from pages import _sharing, _ui

_md = _ui.literal  # names and reasons shown literally in Markdown

TABLE_KEY = "prov_table"
PICK_KEY = "prov_pick"
TAB_KEY = "prov_tab"
ORDER_KEY = "prov_order"
ORDER_ROWS_KEY = "md_prov_order_rows"  # the rows the pending order edits refer to
LAST_ROW_KEY = "md_prov_last_row"  # the table row last turned into a pick
DELETE_KEY = "md_prov_delete"  # (provider id, version) whose delete dialog is open
SEEN_KEY = "md_prov_delete_seen"  # the models the delete dialog listed last time
TABS = ("Edit", "Add provider", "Priorities")
LISTED_MAX = 50  # models named one by one in the delete dialog


def _key_cell(view: ProviderView) -> str:
    text = view.key_hint or "—"
    if view.needs_reentry and view.key_hint != providers.NEEDS_REENTRY:
        text += " · config needs re-entry"
    return text


def _table(views: list[ProviderView]) -> pd.DataFrame:
    """One frame for the whole listing (no per-row widgets)."""
    stored = [v.source == "database" for v in views]
    return pd.DataFrame(
        {
            "Name": [v.name for v in views],
            "Type": [v.type_label for v in views],
            "Scope": [v.scope for v in views],
            "Status": [v.status for v in views],
            "Priority": pd.array(
                [v.priority if s else None for v, s in zip(views, stored, strict=True)],
                dtype="Int64",
            ),
            "Health": [v.health_status for v in views],
            "API key": [_key_cell(v) for v in views],
            "Owner": [v.owner for v in views],
            "Models": pd.array(
                [v.model_count if s else None for v, s in zip(views, stored, strict=True)],
                dtype="Int64",
            ),
        }
    )


COLUMNS = {
    "Name": st.column_config.TextColumn(width="medium"),
    "Scope": st.column_config.TextColumn(
        help="instance: everyone sees it · private: its owner · shared: owner and granted "
        "users · system: from the environment"
    ),
    "Priority": st.column_config.NumberColumn(help="Lower numbers are tried first.", format="%d"),
    "Health": st.column_config.TextColumn(help="Result of the last stored health check."),
    "API key": st.column_config.TextColumn(
        help="Only the last four characters are kept visible; keys are write-only."
    ),
    "Models": st.column_config.NumberColumn(format="%d"),
}


def _select_from_table(views: list[ProviderView]) -> None:
    """A newly clicked row becomes the pick (and opens the Edit tab)."""
    event = st.dataframe(
        _table(views),
        key=TABLE_KEY,
        on_select="rerun",
        selection_mode="single-row",
        hide_index=True,
        width="stretch",
        column_config=COLUMNS,
        placeholder="—",
    )
    rows = event.selection.rows
    chosen = str(views[rows[0]].id) if rows and rows[0] < len(views) else None
    if chosen and st.session_state.get(LAST_ROW_KEY) != chosen:
        st.session_state[PICK_KEY] = chosen
        st.session_state[TAB_KEY] = TABS[0]
    st.session_state[LAST_ROW_KEY] = chosen


def _notices(views: list[ProviderView]) -> None:
    broken = [v.name for v in views if v.needs_reentry]
    if broken:
        names = ", ".join(f"**{_md(n)}**" for n in broken[:10]) + (" …" if len(broken) > 10 else "")
        st.warning(
            f"{len(broken)} provider(s) hold an API key or config that can no longer "
            f"be decrypted: {names}. Select each one and re-enter its key and config.",
            icon=":material/key_off:",
        )
    system = [v for v in views if v.source == "system"]
    if system:
        listed = "; ".join(
            f"{_md(v.name)} at its built-in address"
            if v.extra.get("env_vars") in (None, "", "built-in default")
            else f"{_md(v.name)} from {_ui.code(v.extra['env_vars'])}"
            for v in system
        )
        st.caption(
            f":material/lock: System providers come from the environment and are "
            f"read-only here: {listed}."
        )


def _toolbar(me: Viewer, views: list[ProviderView]) -> ProviderView | None:
    """The provider picker and the actions on the picked provider."""
    by_id = {str(v.id): v for v in views}
    if st.session_state.get(PICK_KEY) not in by_id:
        st.session_state.pop(PICK_KEY, None)
    bar = st.container(horizontal=True, vertical_alignment="bottom")
    picked = bar.selectbox(
        "Selected provider",
        list(by_id),
        index=None,
        key=PICK_KEY,
        format_func=lambda i: by_id[i].name,
        width=360,
        placeholder="Click a row above, or choose here",
    )
    view = by_id.get(picked) if picked else None
    refusal = provider_forms.manage_refusal(me, view) if view else "none selected"
    active = view is not None and view.status == "active"
    if bar.button(
        "Deactivate" if active else "Activate",
        key="prov_toggle",
        icon=":material/toggle_off:" if active else ":material/toggle_on:",
        disabled=refusal is not None,
    ):
        _toggle(view)
    if me.is_admin and bar.button(
        "Share…",
        key="prov_share",
        icon=":material/share:",
        disabled=view is None or view.source != "database",
    ):
        st.session_state.pop(DELETE_KEY, None)
        _sharing.open_share("provider", view.id)
        st.rerun()
    if bar.button(
        "Delete…", key="prov_delete", icon=":material/delete:", disabled=refusal is not None
    ):
        st.session_state.pop(_sharing.SHARE_KEY, None)
        st.session_state.pop(SEEN_KEY, None)
        st.session_state[DELETE_KEY] = (str(view.id), view.version)
        st.rerun()
    return view


def _toggle(view: ProviderView) -> None:
    def flip() -> str:
        with _ui.writing() as session:
            return providers.set_provider_status(
                session,
                actor=_ui.current_user(session),
                provider_id=view.id,
                expected_version=view.version,
            ).status

    status = _ui.attempt(flip, flash_errors=True)
    if status:
        form.reset_editor()
        _ui.flash(f"'{view.name}' is now {status}.")
    st.rerun()


def _details(me: Viewer, view: ProviderView) -> None:
    refusal = provider_forms.manage_refusal(me, view)
    status = ":green-badge[active]" if view.status == "active" else ":gray-badge[inactive]"
    endpoint = f" · endpoint {_ui.code(view.base_url)}" if view.base_url else ""
    st.markdown(
        f"#### {_md(view.name)}\n:blue-badge[{view.scope}] {status} · "
        f"{_md(view.type_label)} · owner **{_md(view.owner)}** · health "
        f"**{view.health_status}** · key {_md(_key_cell(view))}{endpoint}"
    )
    if view.needs_reentry:
        st.warning(
            "Its stored API key or config can no longer be decrypted (for example "
            "after the secret key was replaced). Re-enter the key and config and save.",
            icon=":material/key_off:",
        )
    if refusal:
        st.info(f"Read-only for you. {_md(refusal)}", icon=":material/lock:")
        if view.config:
            st.caption("Configuration (secret values are never shown)")
            st.json(dict(view.config), expanded=True)
        return
    form.render_edit(me, view)


def _order_rows(me: Viewer, views: list[ProviderView]) -> list[tuple[str, str, str, str, int, int]]:
    """The rows the order editor shows (id, name, type, scope, priority, version): fresh,
    unless edits are pending. Edits are by row position, so while there are some the rows
    they were made on are kept as they were, versions included: saving them after someone
    else changed one of these providers is refused instead of overwriting that change."""
    state = st.session_state.get(ORDER_KEY)
    kept = st.session_state.get(ORDER_ROWS_KEY)
    if kept is not None and isinstance(state, dict) and state.get("edited_rows"):
        return kept
    rows = [
        (str(v.id), v.name, v.type_label, v.scope, v.priority, v.version)
        for v in views
        if provider_forms.manage_refusal(me, v) is None
    ]
    st.session_state[ORDER_ROWS_KEY] = rows
    return rows


def _priorities(me: Viewer, views: list[ProviderView]) -> None:
    rows = _order_rows(me, views)
    if not rows:
        st.info("There are no providers you can reorder.")
        return
    st.caption(
        "Requests go to the lowest number first. Change the Priority column, then "
        "save: the whole new order is saved at once, or nothing is."
    )
    frame = pd.DataFrame(
        [r[1:5] for r in rows],
        index=[r[0] for r in rows],
        columns=["Name", "Type", "Scope", "Priority"],
    )
    edited = st.data_editor(
        frame,
        key=ORDER_KEY,
        hide_index=True,
        width="stretch",
        disabled=["Name", "Type", "Scope"],
        column_config={
            "Priority": st.column_config.NumberColumn(
                min_value=0, max_value=PRIORITY_MAX, step=1, required=True, format="%d"
            )
        },
    )
    bar = st.container(horizontal=True)
    save = bar.button("Save order", type="primary", key="prov_order_save", icon=":material/save:")
    if bar.button("Discard changes", key="prov_order_discard", icon=":material/undo:"):
        st.session_state.pop(ORDER_ROWS_KEY, None)
        _ui.reset_widgets(ORDER_KEY)
        st.rerun()
    if not save:
        return
    if edited["Priority"].isna().any():
        st.error("**Priority**: every provider needs a priority.")
        return
    if all(int(new) == old for new, old in zip(edited["Priority"], frame["Priority"], strict=True)):
        st.info("Nothing to save: no priority changed.")
        return
    # Every row shown goes with the version it was shown at: the new order is one decision.
    order = [(row[0], int(new), row[5]) for row, new in zip(rows, edited["Priority"], strict=True)]

    def write() -> int:
        with _ui.writing() as session:
            return providers.reorder_providers(
                session, actor=_ui.current_user(session), order=order
            )

    moved = _ui.attempt(write)
    if moved is not None:
        form.reset_editor()
        st.session_state.pop(ORDER_ROWS_KEY, None)
        _ui.reset_widgets(ORDER_KEY)
        _ui.flash(f"New order saved ({moved} provider(s) moved).")
        st.rerun()


def _doomed_list(listed: list[tuple[str, str]], unseen: int) -> str:
    """The models a delete takes along: those the user sees by name, the others counted."""
    lines = [f"- **{_md(n)}** ({_ui.code(mid)})" for n, mid in listed[:LISTED_MAX]]
    if len(listed) > LISTED_MAX:
        lines.append(f"- … and {len(listed) - LISTED_MAX} more")
    if unseen:
        lines.append(f"- {unseen} private model(s) of other users (not shown to you)")
    return "\n".join(lines)


@st.dialog(
    "Delete provider", width="large", on_dismiss=lambda: st.session_state.pop(DELETE_KEY, None)
)
def _delete_dialog(provider_id: str, version: int) -> None:
    def look() -> tuple[str, tuple[list[tuple[str, str]], int]]:
        with _ui.reading() as session:
            me = _ui.current_user(session)
            record = providers.get_provider(session, user=me, provider_id=provider_id)
            return record.name, provider_forms.models_deleted_with(
                session, actor=me, provider_id=provider_id
            )

    found = _ui.attempt(look)
    if found is None:
        if st.button("Close", key="prov_delete_close"):
            st.session_state.pop(DELETE_KEY, None)
            st.rerun()
        return
    name, (listed, unseen) = found
    count = len(listed) + unseen
    seen = st.session_state.get(SEEN_KEY)
    st.session_state[SEEN_KEY] = (listed, unseen)
    st.write(f"Delete the provider **{_md(name)}**? This cannot be undone.")
    confirmed = False
    if count:
        st.warning(
            f"These {count} model(s) belong to it and will be deleted with it:",
            icon=":material/warning:",
        )
        st.markdown(_doomed_list(listed, unseen))
        confirmed = st.checkbox(f"Also delete these {count} models", key="prov_delete_confirm")
    else:
        st.caption("It has no models.")
    left, right = st.columns(2)
    if left.button("Delete", type="primary", key="prov_delete_go", icon=":material/delete:"):
        if seen is not None and seen != (listed, unseen):
            st.error("Its models changed while this dialog was open; check the list again.")
        elif count and not confirmed:
            st.error(
                f"Tick “Also delete these {count} models” to delete them with the "
                "provider, or move them to another provider first."
            )
        else:

            def delete() -> list[str]:
                with _ui.writing() as session:
                    return providers.delete_provider(
                        session,
                        actor=_ui.current_user(session),
                        provider_id=provider_id,
                        cascade=bool(count) and confirmed,
                        expected_version=version,
                    )

            if _ui.attempt(delete) is not None:
                for key in (DELETE_KEY, SEEN_KEY, PICK_KEY, ORDER_ROWS_KEY):
                    st.session_state.pop(key, None)
                form.reset_editor()
                _ui.reset_widgets(TABLE_KEY, ORDER_KEY, "prov_delete_confirm")
                _ui.flash(
                    f"Provider '{name}' deleted" + (f" with {count} model(s)." if count else ".")
                )
                st.rerun()
    if right.button("Cancel", key="prov_delete_cancel"):
        st.session_state.pop(DELETE_KEY, None)
        st.rerun()


def main() -> None:
    """The page."""
    st.title("Providers")
    st.caption(
        "The LLM services Modeldesk can call. API keys are write-only: stored "
        "encrypted and shown only as their last four characters."
    )
    goto = st.session_state.pop(form.GOTO_KEY, None)
    if goto:
        st.session_state[TAB_KEY] = goto[0]
        if goto[1]:
            st.session_state[PICK_KEY] = goto[1]
    with _ui.reading() as session:
        me = _ui.current_user(session)
        show_all = me.is_admin and st.toggle(
            "Show all records",
            key="prov_show_all",
            help="Every stored provider of every owner, including private ones you do not "
            "see in your own list. System providers are left out of this view.",
        )
        views = (
            providers.list_providers(session, user=me, manage=True)
            if show_all
            else system_providers.all_available_providers(
                session, user=me, settings=_ui.runtime().settings
            )
        )
    if not views:
        st.info(
            "No providers yet. A provider is an account at an LLM service (OpenAI, "
            "Azure OpenAI, Anthropic, a self-hosted vLLM or Ollama…) with its endpoint "
            "and API key. Add the first one below; its key is stored encrypted and never "
            "shown again.",
            icon=":material/hub:",
        )
        st.subheader("Add a provider")
        form.render_add(me)
        return
    _select_from_table(views)
    _notices(views)
    view = _toolbar(me, views)
    edit, add, order = st.tabs(TABS, key=TAB_KEY, on_change="rerun")
    if edit.open:
        with edit:
            if view is None:
                st.info(
                    "Select a provider in the table (or pick one above) to see its "
                    "details and edit it.",
                    icon=":material/touch_app:",
                )
            else:
                _details(me, view)
    if add.open:
        with add:
            form.render_add(me)
    if order.open:
        with order:
            _priorities(me, views)
    pending = st.session_state.get(DELETE_KEY)
    if pending:
        _delete_dialog(*pending)
    _sharing.render_share_dialog()


main()
