"""The console shell: first-admin setup, sign-in, throttling, sign-out, role gating."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from streamlit.util import calc_hash

from core.accounts import auth, users
from core.store.tables import User
from pages import _ui
from tests.support import factories as f
from tests.support.console import Console, texts

STRONG = "a-good-password-1"


def _session_values(at) -> str:
    state = at.session_state._state._state  # every value the session holds, widgets included
    return repr({k: state[k] for k in state._keys()}) if hasattr(state, "_keys") else repr(state)


def test_first_start_offers_setup_and_creates_the_admin(console: Console):
    at = console.open()
    assert "Welcome to Modeldesk" in texts(at)
    at.text_input(key="setup_username").input("root")
    at.text_input(key="setup_password").input(STRONG)
    at.text_input(key="setup_again").input(STRONG)
    at.button(key="FormSubmitter:first_admin-Create admin").click().run()
    assert "Admin created" in texts(at) and "Sign in to Modeldesk" in texts(at)
    assert STRONG not in _session_values(at)
    with console.runtime.sessions() as s:
        assert users.require_user(s, "root").role == "admin"


def test_setup_refuses_bad_passwords_with_the_rules(console: Console):
    at = console.open()
    at.text_input(key="setup_username").input("root")
    at.text_input(key="setup_password").input("é" * 40)
    at.text_input(key="setup_again").input("é" * 40)
    at.button(key="FormSubmitter:first_admin-Create admin").click().run()
    assert "72 bytes" in texts(at)
    at.text_input(key="setup_password").input(STRONG)
    at.text_input(key="setup_again").input(STRONG + "x")
    at.button(key="FormSubmitter:first_admin-Create admin").click().run()
    assert "differ" in texts(at)
    with console.runtime.sessions() as s:
        assert users.count_users(s) == 0


def _sign_in(at, username: str, password: str):
    at.text_input(key="signin_username").input(username)
    at.text_input(key="signin_password").input(password)
    return at.button(key="FormSubmitter:sign_in-Sign in").click().run()


def test_sign_in_shows_the_console_and_one_message_for_failures(console: Console):
    with console.runtime.sessions.begin() as s:
        f.user(s, "alice", "admin")
    at = _sign_in(console.open(), "alice", "wrong-password-1")
    wrong = [e.value for e in at.error]
    at = _sign_in(console.open(), "nobody", "wrong-password-1")
    assert wrong == [e.value for e in at.error] == [auth.FAILED]
    at = _sign_in(console.open(), "alice", f.PASSWORD)
    assert not at.exception
    assert "Sign in to Modeldesk" not in texts(at)
    assert any("alice" in m.value for m in at.sidebar.markdown)
    assert f.PASSWORD not in _session_values(at)


def test_repeated_failures_are_throttled(console: Console):
    with console.runtime.sessions.begin() as s:
        f.user(s, "alice", "admin")
    for _ in range(auth.MAX_FAILURES_PER_USER):
        _sign_in(console.open(), "alice", "wrong-password-1")
    at = _sign_in(console.open(), "alice", f.PASSWORD)
    assert "Too many failed sign-ins" in texts(at)
    assert "Sign in to Modeldesk" in texts(at)


def test_sign_out_ends_every_session_of_the_user(console: Console):
    with console.runtime.sessions.begin() as s:
        f.user(s, "alice", "admin")
    at = console.open("pages/account.py", as_user="alice")
    other_browser = console.open("pages/account.py", as_user="alice")
    at.sidebar.button(key="sign_out").click().run()
    assert "Sign in to Modeldesk" in texts(at)
    other_browser.run()  # its next interaction finds the epoch moved
    assert "Sign in to Modeldesk" in texts(other_browser)


def test_a_deactivated_user_is_signed_out(console: Console):
    with console.runtime.sessions.begin() as s:
        f.user(s, "alice", "admin")
        f.user(s, "bob")
    at = console.open("pages/account.py", as_user="bob")
    with console.runtime.sessions.begin() as s:
        users.set_active(
            s, actor=users.require_user(s, "alice"), user=users.require_user(s, "bob"), active=False
        )
    at.run()
    assert "Sign in to Modeldesk" in texts(at)


def test_members_get_no_admin_pages(console: Console):
    with console.runtime.sessions.begin() as s:
        admin, bob = f.user(s, "alice", "admin"), f.user(s, "bob")
        admin_pages = {p.path for p in _ui.pages_for(admin)}
        member_pages = {p.path for p in _ui.pages_for(bob)}
    assert admin_pages == {p.path for p in _ui.PAGES}
    assert member_pages == {p.path for p in _ui.PAGES if not p.admin_only}
    for spec in _ui.PAGES:
        if spec.admin_only:  # not registered for a member: navigation refuses it
            with pytest.raises(ValueError, match="not a registered page|registered"):
                console.open(spec.path, as_user="bob")
        else:
            assert not console.open(spec.path, as_user="bob").exception


def open_url(at, url_path: str):
    """Ask for /url_path as a typed or bookmarked address does (AppTest switches by file)."""
    at._page_hash = calc_hash(url_path)  # what st.Page registers a url_path under
    return at.run()


@pytest.mark.parametrize(
    "spec", [p for p in _ui.PAGES if p.admin_only], ids=lambda p: Path(p.path).stem
)
def test_a_member_opening_an_admin_page_address_is_told_it_is_for_admins(console: Console, spec):
    with console.runtime.sessions.begin() as s:
        f.user(s, "alice", "admin")
        f.user(s, "bob")
        f.user(s, "carol")
        s.flush()
    at = open_url(console.open(as_user="bob"), Path(spec.path).stem)

    assert not at.exception
    assert [e.value for e in at.error] == ["This page is for admins."]
    # Nothing of the admin page itself ran: no list of people, no tables, no inputs.
    assert "carol" not in texts(at)
    assert not at.dataframe and not at.text_input and not at.selectbox


def test_account_page_changes_the_password_and_signs_out(console: Console):
    with console.runtime.sessions.begin() as s:
        f.user(s, "bob")
    at = console.open("pages/account.py", as_user="bob")
    assert "bob" in texts(at) and "member" in texts(at)
    at.text_input(key="pw_current").input("not-my-password-1")
    at.text_input(key="pw_new").input("brand-new-pass-2")
    at.text_input(key="pw_again").input("brand-new-pass-2")
    at.button(key="FormSubmitter:change_password-Change password").click().run()
    assert "current password is not right" in texts(at)
    at.text_input(key="pw_current").input(f.PASSWORD)
    at.text_input(key="pw_new").input("brand-new-pass-2")
    at.text_input(key="pw_again").input("brand-new-pass-2")
    at.button(key="FormSubmitter:change_password-Change password").click().run()
    assert "Sign in to Modeldesk" in texts(at)
    assert "brand-new-pass-2" not in _session_values(at)
    with console.runtime.sessions() as s:
        bob = s.scalar(select(User).where(User.username == "bob"))
        assert users.verify_password("brand-new-pass-2", bob.password_hash)


def test_failures_from_an_unknown_address_do_not_lock_out_a_named_user(console, monkeypatch):
    # AppTest has no client address, like every browser behind a loopback proxy.
    monkeypatch.setattr(auth, "MAX_FAILURES_PER_CLIENT", 3)
    with console.runtime.sessions.begin() as s:
        f.user(s, "alice", "admin")
    for i in range(auth.MAX_FAILURES_PER_CLIENT + 1):
        _sign_in(console.open(), f"made-up-{i}", "wrong-password-1")
    at = _sign_in(console.open(), "alice", f.PASSWORD)
    assert "Too many failed sign-ins" not in texts(at)
    assert "Sign in to Modeldesk" not in texts(at)


def test_a_failed_sign_in_replaces_the_admin_created_notice(console: Console):
    at = console.open()
    at.text_input(key="setup_username").input("root")
    at.text_input(key="setup_password").input(STRONG)
    at.text_input(key="setup_again").input(STRONG)
    at.button(key="FormSubmitter:first_admin-Create admin").click().run()
    assert "Admin created" in texts(at)
    at = _sign_in(at, "root", "wrong-password-1")
    assert [e.value for e in at.error] == [auth.FAILED]
    assert "Admin created" not in texts(at)
    at.run()  # a later run (the cookie component's, say) does not bring it back
    assert "Admin created" not in texts(at)
