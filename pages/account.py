"""My account: who I am, and changing my password (which signs out every session)."""

import streamlit as st

from core.accounts import users
from pages import _ui

st.title("My account")
with _ui.reading() as session:
    me = _ui.current_user(session)
    st.write(
        f"**{_ui.literal(me.display_name)}** ({_ui.literal(me.username)}) · role "
        f"**{me.role}**" + (f" · {_ui.literal(me.email)}" if me.email else "")
    )

st.subheader("Change password")
st.caption(f"Password rules: {users.PASSWORD_RULES}. Changing it signs you out everywhere.")
with st.form("change_password"):
    current = st.text_input("Current password", type="password", key="pw_current")
    new = st.text_input("New password", type="password", key="pw_new")
    again = st.text_input("Repeat the new password", type="password", key="pw_again")
    submitted = st.form_submit_button("Change password", type="primary")
if submitted:
    _ui.forget_widgets("pw_current", "pw_new", "pw_again")
    if new != again:
        _ui.flash("The two new passwords differ.", "error")
    else:

        def change() -> bool:
            with _ui.writing() as session:  # the account row itself: its password changes
                username = _ui.current_user(session).username
                users.change_password(
                    session,
                    user=users.require_user(session, username),
                    current_password=current,
                    new_password=new,
                )
            return True

        if _ui.attempt(change, flash_errors=True):
            _ui.flash("Password changed. Sign in again with the new password.")
    st.rerun()
