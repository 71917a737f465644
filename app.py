"""Modeldesk: `streamlit run app.py`. Sign-in, the sidebar and navigation; pages do the rest.

Streamlit uses this file twice: `streamlit run app.py` imports it once, as the module
``app``, when the server starts and serves the ``app`` it defines (an ``st.App``); then it
runs it as the script (``__main__``) for every page view, where ``main()`` does the work.
"""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager


def main() -> None:
    """One page view: open the runtime, sign in, then the signed-in user's navigation."""
    # Imported in the page view, not at server start: a custom component (the sign-in
    # cookie's) registers itself only when first imported while a script runs.
    from core.accounts.users import count_users
    from pages import _auth, _ui

    # An emoji favicon is drawn in the browser; a ":material/…:" one is fetched from Google's
    # font servers, and the console loads nothing from outside its own server.
    st.set_page_config(page_title="Modeldesk", page_icon="🧭", layout="wide")

    failure = _ui.start()
    if failure is not None:  # at the address asked for, so a reload after the fix lands there
        _auth.signed_out_navigation(lambda: _ui.cannot_start(failure))

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
        st.markdown(
            f"**{_ui.literal(user.display_name)}**  \n{_ui.literal(user.username)} · {user.role}"
        )
        signing_out = st.button("Sign out", icon=":material/logout:", key="sign_out")
    if signing_out:
        _auth.sign_out(user, authn)
        sidebar.empty()
        _auth.signed_out_navigation(lambda: _auth.sign_in_form(authn))

    _ui.show_flash()
    st.navigation(_ui.navigation_sections(user)).run()


def _server_start() -> None:
    """Once per server process, before any browser connects: production stops here (one
    line, exit 1) when a setting is wrong or unsafe (no secret key or a weak one, SQLite in
    the default folder); development and tests start and show the problem on the page, where
    a reload after the fix tries again. Then the effective settings go to the log (secrets
    only as set or not set). Imports only core.config: no page, no component."""
    import logging
    import sys

    from core.config import describe, load_settings, requested_environment
    from core.errors import ModeldeskError

    try:
        settings = load_settings()
    except ModeldeskError as exc:
        if requested_environment() != "production":
            return
        print(f"modeldesk: error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
    if settings.production:  # pages/_ui.hide_error_details sets it again on every page view
        st.set_option("client.showErrorDetails", "none")
    log = logging.getLogger("modeldesk")
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("modeldesk: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
    log.info("effective settings (secrets only as set or not set):")
    for name, value in describe(settings):
        log.info("  %s=%s", name, value)
    log.info("  client.showErrorDetails=%s", st.get_option("client.showErrorDetails"))


if __name__ == "__main__":
    main()
else:
    # Server start, before any browser connects. The folder of pages is named pages/, so
    # Streamlit starts every process in its old multipage mode: until some run calls
    # st.navigation, the first request's URL path picks a file from pages/ to run on its own
    # (app.py, and with it the sign-in, skipped) under an automatic list of every file there,
    # helper modules included. A plain `streamlit run` gives no code of ours a chance to run
    # before that first request, so this file defines the server itself (st.App, which
    # `streamlit run app.py` picks up) and declares here, once per process, what
    # st.navigation would declare on its first call: navigation is the app's own. Every URL
    # then runs app.py, which signs in and lands on the page the link named.
    PagesManager.uses_pages_directory = False
    _server_start()
    # Beside the pages, on the same port: POST /v1/traces, where OpenTelemetry exporters send
    # GenAI spans as usage (core.usage.otlp_route; it opens its own runtime on first use).
    from core.startup import open_runtime
    from core.usage import otlp_route

    otlp_route.ensure_request_log()
    app = st.App(__file__, routes=otlp_route.routes(open_runtime))
