"""Modeldesk entry point: `streamlit run app.py`.

Until the console pages land (login, Providers, Models, Access), this shows the state of
the instance only: no record and no secret is rendered without a signed-in user.
"""

from __future__ import annotations

import streamlit as st

from core import db
from core.errors import ModeldeskError
from core.startup import Runtime, open_runtime
from core.system_providers import system_providers
from core.users import count_users

st.set_page_config(page_title="Modeldesk", page_icon="🗂️", layout="wide")


@st.cache_resource(show_spinner="Opening the database…")
def runtime() -> Runtime:
    """One runtime (engine, session factory, keyring) per process."""
    return open_runtime()


try:
    rt = runtime()
except ModeldeskError as exc:
    st.error(f"Modeldesk cannot start: {exc}")
    st.stop()

st.title("Modeldesk")
st.caption("A console for your organisation's LLM providers and models.")
with rt.sessions() as session:
    users = count_users(session)
revision = db.current_revision(rt.engine)
system = system_providers(rt.settings)

cols = st.columns(3)
cols[0].metric("Schema revision", revision or "none")
cols[1].metric("Accounts", users)
cols[2].metric("System providers", len(system))
if users == 0:
    st.info("No accounts yet. Create the first admin with "
            "`modeldesk create-admin --username NAME` (password on stdin), or set "
            "MODELDESK_ADMIN_USERNAME and MODELDESK_ADMIN_PASSWORD and restart.")
st.write("Providers and models are managed with the `modeldesk` command for now "
         "(`modeldesk --help`); the browser console with sign-in follows.")
