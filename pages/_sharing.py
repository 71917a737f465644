"""The share dialog used by the Providers and Models pages (admins grant and revoke).

Opened from a session-state flag so AppTest can drive it: ``open_share("provider", id)``
sets the flag, and ``render_share_dialog()`` (called once per page run) shows the dialog.
"""

from __future__ import annotations

import streamlit as st

from core.accounts import access, users
from core.accounts.viewer import Viewer
from pages import _ui

SHARE_KEY = "md_share"


def open_share(entity_type: str, record_id: object) -> None:
    """Ask for the share dialog of a record on the next render."""
    st.session_state[SHARE_KEY] = (entity_type, str(record_id))


def _dismissed() -> None:
    st.session_state.pop(SHARE_KEY, None)


@st.dialog("Share", width="large", on_dismiss=_dismissed)
def _dialog(entity_type: str, record_id: str) -> None:
    def look() -> tuple[Viewer, set[str], list[str], str, bool]:
        with _ui.reading() as session:
            actor = _ui.current_user(session)
            record = access.load_entity(session, entity_type, _ui.parse_id(record_id), user=actor)
            current = {u.username for u in access.grantees(session, record)}
            candidates = [
                u.username
                for u in users.list_users(session)
                if u.active and u.id != record.owner_id
            ]
            return actor, current, candidates, record.name, record.instance_wide

    found = _ui.attempt(look)  # gone since, or not one this user may see: "No such ..."
    if found is None:
        if st.button("Close", key="share_close"):
            st.session_state.pop(SHARE_KEY, None)
            st.rerun()
        return
    actor, current, candidates, name, wide = found
    st.write(f"Who besides its owner may see the {entity_type} **{_ui.literal(name)}**.")
    if wide:
        st.info(
            "It is instance-wide: everyone sees it already. Grants matter only if it "
            "is made private again."
        )
    chosen = st.multiselect(
        "Users with access",
        candidates,
        default=sorted(current),
        key="share_users",
        disabled=not actor.is_admin,
    )
    if not actor.is_admin:
        st.caption("Only admins can change sharing.")
    left, right = st.columns(2)
    if left.button("Save", type="primary", disabled=not actor.is_admin, key="share_save"):

        def save() -> tuple[int, int]:
            with _ui.writing() as session:
                me = _ui.current_user(session)
                rec = access.load_entity(session, entity_type, _ui.parse_id(record_id), user=me)
                added = [u for u in chosen if u not in current]
                removed = [u for u in current if u not in chosen]
                for username in added:
                    access.grant(
                        session, actor=me, record=rec, user=users.require_user(session, username)
                    )
                for username in removed:
                    access.revoke(
                        session, actor=me, record=rec, user=users.require_user(session, username)
                    )
                return len(added), len(removed)

        result = _ui.attempt(save)
        if result is not None:
            st.session_state.pop(SHARE_KEY, None)
            _ui.flash(f"Sharing of '{name}' saved: {result[0]} added, {result[1]} removed.")
            st.rerun()
    if right.button("Close", key="share_close"):
        st.session_state.pop(SHARE_KEY, None)
        st.rerun()


def render_share_dialog() -> None:
    """Show the share dialog if a page asked for it."""
    pending = st.session_state.get(SHARE_KEY)
    if pending:
        _dialog(*pending)
