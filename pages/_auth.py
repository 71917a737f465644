"""Signing in and out in the browser: first-admin setup, the sign-in form, the cookie.

streamlit-authenticator keeps the session state (``authentication_status``, ``username``)
and the signed JWT cookie; Modeldesk checks passwords itself (core.accounts.auth) so it can
throttle by time window, and checks every cookie against the user's server-side session
epoch, so logout and password changes end copied cookies too.
"""

from __future__ import annotations

from datetime import timedelta

import streamlit as st
import streamlit_authenticator as stauth
from streamlit import runtime as st_runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx

from core.accounts import auth, users
from core.accounts.viewer import Viewer
from core.errors import ModeldeskError
from pages import _held, _ui

COOKIE_NAME = "modeldesk_session"
COOKIE_DAYS = 7.0


def _credentials(session) -> dict:
    """The authenticator's credentials dict, built from the users table (no YAML file)."""
    return {
        "usernames": {
            u.username: {
                "name": u.display_name,
                "email": u.email or "",
                "password": u.password_hash,
                "roles": [u.role],
            }
            for u in users.list_users(session)
            if u.active
        }
    }


def authenticator(session) -> stauth.Authenticate:
    """The authenticator for this run (its cookie key is derived from the secret key)."""
    return stauth.Authenticate(
        _credentials(session),
        cookie_name=COOKIE_NAME,
        cookie_key=_ui.runtime().cookie_key,
        cookie_expiry_days=COOKIE_DAYS,
        auto_hash=False,
        login_sleep_time=0,
    )


def _peer_address() -> str | None:
    """The websocket connection's own address (st.context.ip_address hides loopback)."""
    if st_runtime.exists():
        ctx = get_script_run_ctx()
        client = st_runtime.get_instance().get_client(ctx.session_id) if ctx else None
        context = getattr(client, "client_context", None)
        if context is not None:
            return context.remote_ip
    address = st.context.ip_address
    return address if isinstance(address, str) else None


def _client_address() -> str | None:
    """The browser's address (None when unknown: then only per-user limits apply).

    X-Forwarded-For counts only from MODELDESK_TRUSTED_PROXIES (core.accounts.auth.client_address).
    """
    return auth.client_address(
        _peer_address(),
        st.context.headers.get_all("X-Forwarded-For"),
        _ui.runtime().settings.trusted_proxies,
    )


def _cookie() -> tuple[bool, auth.SignInCookie | None]:
    """Whether the browser sent a sign-in cookie, and what it says if it is valid.

    Read here, not by the authenticator: its decoder raises on a token signed with another
    algorithm (alg=none, HS512), which would fail every load until the cookie is deleted.
    """
    if st.session_state.get("logout"):  # signed out in this session: ignore the cookie
        return False, None
    token = st.context.cookies.get(COOKIE_NAME)
    return token is not None, auth.read_cookie(
        token, key=_ui.runtime().cookie_key, lifetime=timedelta(days=COOKIE_DAYS)
    )


def _end_here(authn: stauth.Authenticate) -> None:
    authn.logout(location="unrendered")
    st.session_state.pop(_ui.EPOCH_KEY, None)
    _held.forget_session()  # keys typed into forms and held for them


def signed_in_user(session, authn: stauth.Authenticate) -> Viewer | None:
    """The user this browser session is signed in as, after every server-side check."""
    if not st.session_state.get("authentication_status"):
        sent, cookie = _cookie()
        if sent:  # a sign-in cookie from an earlier visit
            user = users.get_by_username(session, cookie.username) if cookie else None
            if user is not None and auth.cookie_accepted(user, cookie.issued_at):
                authn.authentication_controller.login(token={"username": user.username})
                st.session_state[_ui.EPOCH_KEY] = user.session_epoch
            else:  # forged, expired, ended or of a deactivated user: signed out
                authn.cookie_controller.delete_cookie()
        if not st.session_state.get("authentication_status"):
            return None
    user = users.get_by_username(session, st.session_state.get(_ui.USER_KEY) or "")
    if user is None or not user.active or st.session_state.get(_ui.EPOCH_KEY) != user.session_epoch:
        _end_here(authn)  # signed out elsewhere, password changed, or deactivated
        return None
    return Viewer.of(user)


REMEMBER_KEY = "md_set_cookie"
NOTICE_KEY = "md_signin_notice"  # kept until a sign-in attempt: the cookie component reruns


def sign_in_form(authn: stauth.Authenticate) -> None:
    """The sign-in form; throttled and with one message for every failure."""
    _ui.show_flash()
    st.title("Sign in to Modeldesk")
    if st.session_state.get(NOTICE_KEY):
        st.success(st.session_state[NOTICE_KEY])
    with st.form("sign_in"):
        username = st.text_input("Username", key="signin_username", autocomplete="username")
        password = st.text_input(
            "Password", type="password", key="signin_password", autocomplete="current-password"
        )
        submitted = st.form_submit_button("Sign in", type="primary")
    if not submitted:
        return
    _ui.forget_widgets("signin_password")
    st.session_state.pop(NOTICE_KEY, None)  # an attempt's own message replaces it
    result = auth.sign_in(
        _ui.runtime().sessions, username=username, password=password, client=_client_address()
    )
    epoch = result.user.session_epoch if result.user else None
    if result.user is None:
        _ui.flash(result.message, "error")
        st.rerun()
    st.session_state["logout"] = False
    authn.authentication_controller.login(token={"username": result.user.username})
    st.session_state[_ui.EPOCH_KEY] = epoch
    st.session_state[REMEMBER_KEY] = True  # the cookie is set on the next, clean run
    st.rerun()


def remember_if_just_signed_in(authn: stauth.Authenticate) -> None:
    """Set the sign-in cookie once after a sign-in. It is written by a component that must
    reach the browser, so it is rendered in a run that does not rerun straight away."""
    if st.session_state.pop(REMEMBER_KEY, False):
        authn.cookie_controller.set_cookie()


def setup_form() -> None:
    """First start: create the first admin (only while there are no accounts)."""
    _ui.show_flash()
    st.title("Welcome to Modeldesk")
    st.write(
        "There are no accounts yet. Create the first admin; you can add other users "
        "after signing in."
    )
    with st.form("first_admin"):
        username = st.text_input("Username", key="setup_username")
        display = st.text_input("Display name (optional)", key="setup_display")
        email = st.text_input("Email (optional)", key="setup_email")
        password = st.text_input(
            "Password",
            type="password",
            key="setup_password",
            help=f"Password rules: {users.PASSWORD_RULES}.",
        )
        again = st.text_input("Repeat the password", type="password", key="setup_again")
        submitted = st.form_submit_button("Create admin", type="primary")
    st.caption(f"Password rules: {users.PASSWORD_RULES}.")
    if not submitted:
        return
    _ui.forget_widgets("setup_password", "setup_again")
    if password != again:
        _ui.flash("The two passwords differ.", "error")
        st.rerun()
    try:
        with _ui.writing() as session:
            if not users.count_users(session):  # nobody finished setup meanwhile
                users.create_user(
                    session,
                    username=username,
                    password=password,
                    role="admin",
                    display_name=display or None,
                    email=email or None,
                )
        st.session_state[NOTICE_KEY] = "Admin created. Sign in with your new account."
    except ModeldeskError as exc:
        _ui.flash(str(exc), "error")
    st.rerun()


def signed_out_navigation(screen) -> None:  # noqa: ANN001 - a page callable
    """Show a signed-out screen (setup or sign-in) as the only, hidden, page; then stop.

    Every run goes through st.navigation, these too. The screen answers at every page's
    address, so a link (/explorer?scope=catalog) keeps its path and query while signed out,
    and the run after the sign-in lands on that page: Streamlit keys a page by its url path,
    which the signed-in navigation registers again. Moving from setup to sign-in, or
    signing out, is not a page change either.
    """
    st.navigation(
        [
            st.Page(screen, title="Modeldesk", icon=":material/login:", url_path=spec.url_path)
            for spec in _ui.PAGES
        ],
        position="hidden",
    ).run()
    st.stop()


def sign_out(user: Viewer, authn: stauth.Authenticate) -> None:
    """End every session of the user (all browsers) and this one."""
    with _ui.writing() as session:
        fresh = users.get_by_username(session, user.username)
        if fresh is not None:
            users.end_sessions(session, user=fresh, actor=fresh, reason="signed out")
    _end_here(authn)  # also deletes the cookie: keep rendering, do not rerun straight away
    st.session_state[NOTICE_KEY] = "You are signed out of every session."
