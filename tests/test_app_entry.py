"""The server entry in app.py: `streamlit run app.py` serves an st.App whose process starts
with the app's own navigation, so every URL (a deep link first of all) runs app.py."""

from __future__ import annotations

import json
import subprocess
import sys

from streamlit.web.server.app_discovery import discover_asgi_app

from tests.support.browser import ROOT

APP = ROOT / "app.py"


def test_streamlit_run_serves_the_st_app_defined_in_app_py() -> None:
    found = discover_asgi_app(APP)
    assert found.is_asgi_app and found.import_string == "app:app"


def test_server_start_switches_off_the_pages_folder_mode_and_imports_no_page() -> None:
    """What the server process does when it imports app.py: the page registry is the app's
    own (st.navigation's) before any session exists, even for the sessions it then creates;
    and nothing of the console is imported outside a script run (components would not
    register) but the settings, which production checks and logs at server start, and the
    ingest route's part of core (core never imports Streamlit, so it registers nothing); the
    route's runtime opens on its first request."""
    probe = f"""
import json, sys
sys.path.insert(0, {str(ROOT)!r})
import streamlit as st
import app
from streamlit.runtime.pages_manager import PagesManager
PagesManager({str(APP)!r})  # what every new browser session creates
print(json.dumps({{
    "entry": isinstance(app.app, st.App),
    "pages_folder_mode": PagesManager.uses_pages_directory,
    "imported": sorted(m for m in sys.modules if m.split(".")[0] in (
        "pages", "streamlit_authenticator", "extra_streamlit_components")),
    "route": "core.usage.otlp_route" in sys.modules,
}}))
"""
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"entry": True, "pages_folder_mode": False, "imported": [], "route": True}
