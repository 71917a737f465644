"""Modeldesk: `streamlit run app.py`. Sign-in, the sidebar and navigation; pages do the rest."""

from __future__ import annotations

import streamlit as st

from core.errors import ModeldeskError
from core.users import count_users
from pages import _auth, _ui

st.set_page_config(page_title="Modeldesk", page_icon=":material/hub:", layout="wide")

try:
    _ui.runtime()
    _ui.start_health_scheduler()
except ModeldeskError as exc:
    st.error(f"Modeldesk cannot start: {_ui.literal(exc)}")
    st.stop()

_ui.apply_forgets()
with _ui.reading() as session:
    first_start = count_users(session) == 0
    authn = None if first_start else _auth.authenticator(session)
    user = None if first_start else _auth.signed_in_user(session, authn)

if first_start or user is None:
    screen = _auth.setup_form if first_start else (lambda: _auth.sign_in_form(authn))
    _auth.signed_out_navigation(screen)
_auth.remember_if_just_signed_in(authn)

sidebar = st.sidebar.empty()
with sidebar.container():
    st.markdown(f"**{_ui.literal(user.display_name)}**  \n{_ui.literal(user.username)} · "
                f"{user.role}")
    signing_out = st.button("Sign out", icon=":material/logout:", key="sign_out")
if signing_out:
    _auth.sign_out(user, authn)
    sidebar.empty()
    _auth.signed_out_navigation(lambda: _auth.sign_in_form(authn))

_ui.show_flash()
st.navigation(_ui.navigation_sections(user)).run()
