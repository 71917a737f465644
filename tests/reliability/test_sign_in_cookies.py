"""The sign-in cookie: only ours, only while the session it came from lasts.

AppTest sends no cookies, so ``cookies`` gives the app a browser's: Streamlit's
``st.context.cookies`` reads the connection's client context, which the fixture supplies.
Cookies are minted as streamlit-authenticator mints them (an HS256 JWT of the username and
an expiry ``COOKIE_DAYS`` after issue). Every refused cookie means the sign-in form, with no
error, on this load and the next.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from streamlit.runtime import context as st_context
from streamlit.testing.v1 import AppTest

from core.accounts import auth, users
from core.startup import build_keyring
from core.store.crypto import derive_token_key
from pages import _auth
from tests.conftest import TEST_SECRET, make_settings
from tests.support import factories as f
from tests.support.console import Console, texts

LIFETIME = timedelta(days=_auth.COOKIE_DAYS)


@dataclass
class Browser:
    """What the fixture's client context sends: its cookies (no headers, no address)."""

    cookies: dict[str, str] = field(default_factory=dict)
    headers: list[tuple[str, str]] = field(default_factory=list)
    remote_ip: str | None = None


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[Browser]:
    jar = Browser()
    monkeypatch.setattr(st_context, "_get_client_context", lambda: jar)
    yield jar


@pytest.fixture
def cookie_key(tmp_path) -> str:  # noqa: ANN001
    """The key the console signs cookies with (derived from the test secret)."""
    return build_keyring(make_settings("sqlite://", tmp_path))[1]


@pytest.fixture
def team(console: Console) -> None:
    with console.runtime.sessions.begin() as s:
        f.user(s, "alice", "admin")
        f.user(s, "bob")


def mint(username: str, key: str, issued: float | None = None) -> str:
    """A cookie as streamlit-authenticator writes it, issued now (or at ``issued``)."""
    expires = (issued if issued is not None else time.time()) + LIFETIME.total_seconds()
    return jwt.encode({"username": username, "exp_date": expires}, key, algorithm="HS256")


def load(console: Console, browser: Browser, token: str | None) -> AppTest:
    """A fresh page load (a new browser session) sending this cookie."""
    browser.cookies = {} if token is None else {_auth.COOKIE_NAME: token}
    return console.open()


def signed_in_as(at: AppTest) -> str | None:
    assert not at.exception, at.exception
    if "Sign in to Modeldesk" in texts(at):
        return None
    return at.session_state["username"]


def assert_refused(console: Console, browser: Browser, token: str) -> None:
    at = load(console, browser, token)
    assert signed_in_as(at) is None
    at.run()  # the next load too: no error until the cookie is deleted
    assert signed_in_as(at) is None


def test_our_cookie_signs_in_its_user(console: Console, team, browser: Browser, cookie_key: str):
    """The premise every refusal below is measured against."""
    assert signed_in_as(load(console, browser, mint("bob", cookie_key))) == "bob"
    assert signed_in_as(load(console, browser, None)) is None


OTHER_KEYS = {
    "another secret's cookie key": derive_token_key(
        "another-secret-key-0123456789abc", "sign-in cookie"
    ),
    "our secret, another purpose": derive_token_key(TEST_SECRET, "ingest token"),
    "the secret key itself": TEST_SECRET,
    "streamlit-authenticator's sample key": "some_signature_key_" + "0" * 16,
}


@pytest.mark.parametrize("what", OTHER_KEYS)
def test_a_cookie_signed_with_another_key_is_refused(
    console: Console, team, browser: Browser, cookie_key: str, what: str
):
    key = OTHER_KEYS[what]
    assert key != cookie_key
    assert_refused(console, browser, mint("alice", key))


def test_a_cookie_one_character_off_our_key_is_refused(
    console: Console, team, browser: Browser, cookie_key: str
):
    for key in (cookie_key[:-1] + ("0" if cookie_key[-1] != "0" else "1"), cookie_key + "0"):
        assert_refused(console, browser, mint("alice", key))


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(key=st.text(min_size=32, max_size=128))
def test_no_key_but_ours_makes_a_cookie_that_is_read(cookie_key: str, key: str):
    """Any other key (300 generated), a valid username and a future expiry: no sign-in."""
    token = mint("alice", key)
    expected = "alice" if key == cookie_key else None
    found = auth.read_cookie(token, key=cookie_key, lifetime=LIFETIME)
    assert (found.username if found else None) == expected


def _sign_out_in_the_browser(console: Console, user: str) -> None:
    at = console.open("pages/account.py", as_user=user)
    at.sidebar.button(key="sign_out").click().run()
    assert "Sign in to Modeldesk" in texts(at)


def _change_password_on_the_account_page(console: Console, user: str) -> None:
    at = console.open("pages/account.py", as_user=user)
    at.text_input(key="pw_current").input(f.PASSWORD)
    at.text_input(key="pw_new").input("brand-new-pass-2")
    at.text_input(key="pw_again").input("brand-new-pass-2")
    at.button(key="FormSubmitter:change_password-Change password").click().run()
    assert "Sign in to Modeldesk" in texts(at)


def _reset_by_an_admin(console: Console, user: str) -> None:
    with console.runtime.sessions.begin() as s:
        users.reset_password(
            s,
            actor=users.require_user(s, "alice"),
            user=users.require_user(s, user),
            new_password="reset-by-admin-3",
        )


def _deactivated(console: Console, user: str) -> None:
    with console.runtime.sessions.begin() as s:
        users.set_active(
            s, actor=users.require_user(s, "alice"), user=users.require_user(s, user), active=False
        )


ENDINGS = {
    "sign-out": _sign_out_in_the_browser,
    "password change": _change_password_on_the_account_page,
    "password reset by an admin": _reset_by_an_admin,
    "deactivation": _deactivated,
}


@pytest.mark.parametrize("ending", ENDINGS)
def test_a_cookie_replayed_after_its_session_ended_is_refused(
    console: Console, team, browser: Browser, cookie_key: str, ending: str
):
    stolen = mint("bob", cookie_key, issued=time.time() - 60)  # set at sign-in, copied since
    assert signed_in_as(load(console, browser, stolen)) == "bob"
    just_before = mint("bob", cookie_key, issued=time.time() - 0.001)
    ENDINGS[ending](console, "bob")
    assert_refused(console, browser, stolen)
    assert_refused(console, browser, just_before)  # even one issued a moment before the end


def test_a_cookie_issued_after_signing_in_again_works(
    console: Console, team, browser: Browser, cookie_key: str
):
    """The refusal is of old cookies, not of the user: a new sign-in's cookie is read."""
    old = mint("bob", cookie_key, issued=time.time() - 60)
    _sign_out_in_the_browser(console, "bob")
    fresh = mint("bob", cookie_key, issued=time.time() + 0.001)  # strictly after the sign-out
    assert signed_in_as(load(console, browser, fresh)) == "bob"
    assert_refused(console, browser, old)


def test_a_replayed_cookie_does_not_revive_a_signed_out_tab(
    console: Console, team, browser: Browser, cookie_key: str
):
    """The tab that signed out keeps sending the cookie until the browser drops it: ignored."""
    token = mint("bob", cookie_key, issued=time.time() - 60)
    browser.cookies = {_auth.COOKIE_NAME: token}
    at = console.open("pages/account.py", as_user="bob")
    at.sidebar.button(key="sign_out").click().run()
    for _ in range(2):
        at.run()
        assert signed_in_as(at) is None
