"""Users (admins only): every account; add one; change a role, deactivate, reset a password.

Core enforces admin-only and the last-admin rule and ends sessions; this page shows its
messages. Password inputs are write-only: forgotten before the rerun after every submit.
"""

from typing import Any

import pandas as pd
import streamlit as st

from core.accounts import access, users
from core.accounts.viewer import Viewer
from core.vocabulary import ROLES
from pages import _ui

_md = _ui.literal  # others' text (names, messages) shown literally in Markdown

ADD_FIELDS = ("add_username", "add_display", "add_email", "add_role")
ADD_SECRETS = ("add_password", "add_again")
RESET_SECRETS = ("reset_password", "reset_again")
SELECTED = "users_selected"
NOTICE = "users_notice"

st.title("Users")
st.caption(
    "Accounts that can sign in. Admins manage every record, sharing and accounts; "
    "members manage the records they own."
)

with _ui.reading() as session:
    me = _ui.require_admin(session)
    my_id = me.id
    accounts = [
        {
            "id": u.id,
            "username": u.username,
            "display": u.display_name,
            "email": u.email or "",
            "role": u.role,
            "active": u.active,
            "created": u.created_at,
        }
        for u in users.list_users(session)
    ]

by_name = {a["username"]: a for a in accounts}
admins = sum(a["role"] == "admin" and a["active"] for a in accounts)
inactive = sum(not a["active"] for a in accounts)
st.caption(
    f"{len(accounts)} account{'s' * (len(accounts) != 1)} · {admins} active "
    f"admin{'s' * (admins != 1)} · {inactive} deactivated"
)
st.dataframe(
    pd.DataFrame(
        {
            "Username": [a["username"] for a in accounts],
            "Display name": [a["display"] for a in accounts],
            "Email": [a["email"] for a in accounts],
            "Role": [a["role"] for a in accounts],
            "Active": [a["active"] for a in accounts],
            "Created": pd.to_datetime([a["created"] for a in accounts], utc=True),
        }
    ),
    hide_index=True,
    width="stretch",
    key="users_table",
    column_config={
        "Active": st.column_config.CheckboxColumn("Active", width="small"),
        "Role": st.column_config.TextColumn("Role", width="small"),
        "Created": st.column_config.DatetimeColumn("Created (UTC)", format="YYYY-MM-DD HH:mm"),
    },
)


def _keep_beside(section: str) -> None:
    """Move the pending flash next to the section that caused it: a rerun keeps the scroll
    position, so a message above the title would go unseen."""
    pending = st.session_state.pop(_ui.FLASH_KEY, None)
    if pending:
        st.session_state[NOTICE] = (section, *pending)


def _show_notice(section: str) -> None:
    pending = st.session_state.get(NOTICE)
    if pending and pending[0] == section:
        del st.session_state[NOTICE]
        kind, message = pending[1:]
        {"success": st.success, "error": st.error}.get(kind, st.info)(_md(message))


def _target(session, username: str) -> tuple[Viewer, Any]:
    """(the signed-in admin, the account being changed), loaded in this session."""
    return _ui.current_user(session), users.require_user(session, username)


def _label(username: str) -> str:
    a = by_name.get(username)
    if a is None:
        return username
    state = a["role"] if a["active"] else f"{a['role']}, deactivated"
    return f"{username} — {a['display']} ({state})"


# --- One account ------------------------------------------------------------------------

st.subheader("Manage an account")
_show_notice("manage")
chosen = st.columns([3, 2])[0].selectbox("Account", list(by_name), key=SELECTED, format_func=_label)
account = by_name.get(chosen)
if account is not None:
    name, is_me = account["username"], account["id"] == my_id
    with st.container(border=True):
        status = "active" if account["active"] else "deactivated"
        st.markdown(
            f"**{_md(account['display'])}** · {_ui.code(name)} · {account['role']} · {status}"
        )
        if is_me:
            st.caption(
                "This is your own account: deactivating it or resetting its password "
                "signs you out, and you need another admin to undo a demotion."
            )
        role_col, active_col, reset_col = st.columns(3, gap="large")

        with role_col:
            st.markdown("**Role**")
            with st.form("user_role_form", border=False):
                role = st.radio(
                    "Role",
                    ROLES,
                    index=ROLES.index(account["role"]),
                    horizontal=True,
                    key=f"user_role__{name}",
                    label_visibility="collapsed",
                )
                change_role = st.form_submit_button("Change role", key="user_role_save")
            role_errors = st.empty()
        if change_role:

            def set_role() -> bool:
                with _ui.writing() as session:
                    actor, user = _target(session, name)
                    users.set_role(session, actor=actor, user=user, role=role)
                return True

            if role == account["role"]:
                role_errors.info(
                    f"{_md(name)} is already {'an' if role == 'admin' else 'a'} {role}."
                )
            elif _ui.attempt(set_role, where=role_errors):
                _ui.flash(f"{name} is now {'an' if role == 'admin' else 'a'} {role}.")
                _keep_beside("manage")
                st.rerun()

        with active_col:
            st.markdown("**Sign-in**")
            if account["active"]:
                st.caption(
                    f"Deactivating blocks sign-in and ends all of {_md(name)}'s sessions "
                    "at once. It can be undone."
                )
                toggle = st.button("Deactivate", key="user_toggle_active", icon=":material/block:")
            else:
                st.caption(
                    f"{_md(name)} cannot sign in. Activating lets them sign in again with "
                    "their old password."
                )
                toggle = st.button(
                    "Activate",
                    key="user_toggle_active",
                    type="primary",
                    icon=":material/check_circle:",
                )
            active_errors = st.empty()
        if toggle:

            def flip() -> bool:
                with _ui.writing() as session:
                    actor, user = _target(session, name)
                    users.set_active(session, actor=actor, user=user, active=not account["active"])
                return True

            if _ui.attempt(flip, where=active_errors):
                _ui.flash(
                    f"{name} was activated."
                    if not account["active"]
                    else f"{name} was deactivated; their sessions have ended."
                )
                _keep_beside("manage")
                st.rerun()

        with reset_col:
            st.markdown("**Reset password**")
            with st.form("user_reset_form", border=False):
                new = st.text_input(
                    "New password",
                    type="password",
                    key=RESET_SECRETS[0],
                    autocomplete="new-password",
                )
                again = st.text_input(
                    "Repeat the new password",
                    type="password",
                    key=RESET_SECRETS[1],
                    autocomplete="new-password",
                )
                reset = st.form_submit_button("Reset password", key="user_reset_save")
            st.caption(
                f"Rules: {users.PASSWORD_RULES}. Resetting ends all of {_md(name)}'s "
                "sessions; give them the new password in person or another safe way."
            )
        if reset:
            _ui.forget_widgets(*RESET_SECRETS)
            if new != again:
                _ui.flash("The two passwords differ; the password was not reset.", "error")
            else:

                def do_reset() -> bool:
                    with _ui.writing() as session:
                        actor, user = _target(session, name)
                        users.reset_password(session, actor=actor, user=user, new_password=new)
                    return True

                if _ui.attempt(do_reset, flash_errors=True):
                    _ui.flash(f"{name}'s password was reset; their sessions have ended.")
            _keep_beside("manage")
            st.rerun()


# --- A new account ----------------------------------------------------------------------

st.subheader("Add a user")
_show_notice("add")
with st.form("add_user"):
    left, right = st.columns(2, gap="large")
    username = left.text_input(
        "Username", key="add_username", help="2 to 64 letters, digits, '.', '_', '@' or '-'."
    )
    display = left.text_input("Display name (optional)", key="add_display")
    email = left.text_input("Email (optional)", key="add_email")
    new_role = left.selectbox("Role", ROLES, index=ROLES.index("member"), key="add_role")
    password = right.text_input(
        "Initial password", type="password", key=ADD_SECRETS[0], autocomplete="new-password"
    )
    repeat = right.text_input(
        "Repeat the password", type="password", key=ADD_SECRETS[1], autocomplete="new-password"
    )
    right.caption(
        f"Password rules: {users.PASSWORD_RULES}. Give the password to the person "
        "in a safe way; they can change it on *My account*."
    )
    add = st.form_submit_button("Add user", type="primary", key="add_user_save")
if add:
    _ui.forget_widgets(*ADD_SECRETS)
    if password != repeat:
        _ui.flash("The two passwords differ; the user was not added.", "error")
    else:

        def create() -> str:
            with _ui.writing() as session:
                actor = _ui.current_user(session)
                access.require_admin(actor, "add users")  # create_user itself only audits
                user = users.create_user(
                    session,
                    username=username,
                    password=password,
                    role=new_role,
                    display_name=display or None,
                    email=email or None,
                    actor=actor,
                )
                return user.username

        created = _ui.attempt(create, flash_errors=True)
        if created:
            _ui.reset_widgets(*ADD_FIELDS)
            _ui.flash(f"User {created} added as {new_role}.")
    _keep_beside("add")
    st.rerun()
