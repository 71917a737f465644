"""The Users page (AppTest): the account table, adding a user and every validation message,
role changes, deactivation, password resets, the last-admin guard, write-only passwords."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from core.accounts import users
from core.store.tables import AuditEvent, User
from tests.support import factories as f
from tests.support.console import APP, Console, state_dump, texts

PAGE = "pages/users.py"
CANARY = "canary-Pa55word-9f8e7d"


def account(console: Console, username: str) -> User:
    with console.runtime.sessions() as s:
        return users.require_user(s, username)


def user_count(console: Console) -> int:
    with console.runtime.sessions() as s:
        return users.count_users(s)


def seed(console: Console) -> None:
    with console.runtime.sessions.begin() as s:
        alice = f.user(s, "alice", "admin")
        f.user(s, "bob")
        carol = f.user(s, "carol")
        users.set_active(s, actor=alice, user=carol, active=False)


def select_account(at: AppTest, username: str) -> AppTest:
    return at.selectbox(key="users_selected").set_value(username).run()


def fill_add_form(
    at: AppTest,
    *,
    username: str = "dave",
    password: str = CANARY,
    repeat: str | None = None,
    role: str = "member",
) -> AppTest:
    at.text_input(key="add_username").input(username)
    at.text_input(key="add_display").input("Dave Doe")
    at.text_input(key="add_email").input("dave@example.org")
    at.selectbox(key="add_role").set_value(role)
    at.text_input(key="add_password").input(password)
    at.text_input(key="add_again").input(password if repeat is None else repeat)
    return at.button(key="add_user_save").click().run()


# --- Who may open it, what it shows ----------------------------------------------------


def test_a_member_is_refused_and_sees_no_account(console: Console) -> None:
    seed(console)
    # Navigation never registers the page for a member; run it directly to test its guard.
    at = AppTest.from_file(str(Path(APP).parent / PAGE), default_timeout=30)
    at.session_state["username"] = "bob"
    at.run()
    shown = texts(at)
    assert "This page is for admins." in shown
    assert not at.dataframe and "carol" not in shown and "alice" not in shown
    assert not at.button and not at.text_input


def test_a_single_admin_sees_only_their_own_account(console: Console) -> None:
    with console.runtime.sessions.begin() as s:
        f.user(s, "alice", "admin")
    at = console.open(PAGE, as_user="alice")
    assert not at.exception
    frame = at.dataframe[0].value
    assert list(frame["Username"]) == ["alice"]
    shown = texts(at)
    assert "1 account · 1 active admin · 0 deactivated" in shown
    assert "This is your own account" in shown
    assert f"Password rules: {users.PASSWORD_RULES}" in shown


def test_the_table_lists_every_account_with_role_and_state(console: Console) -> None:
    seed(console)
    at = console.open(PAGE, as_user="alice")
    frame = at.dataframe[0].value
    assert list(frame["Username"]) == ["alice", "bob", "carol"]
    assert list(frame["Role"]) == ["admin", "member", "member"]
    assert list(frame["Active"]) == [True, True, False]
    assert list(frame.columns) == ["Username", "Display name", "Email", "Role", "Active", "Created"]
    assert "3 accounts · 1 active admin · 1 deactivated" in texts(at)
    assert "ends all of" in texts(select_account(at, "bob"))  # sessions end: the UI says so


# --- Adding a user ----------------------------------------------------------------------


def test_adding_a_user_creates_it_and_forgets_the_password(console: Console) -> None:
    seed(console)
    at = fill_add_form(console.open(PAGE, as_user="alice"), role="admin")
    assert not at.exception
    dave = account(console, "dave")
    assert (dave.display_name, dave.email, dave.role, dave.active) == (
        "Dave Doe",
        "dave@example.org",
        "admin",
        True,
    )
    assert users.verify_password(CANARY, dave.password_hash)
    shown = texts(at)
    assert "User dave added as admin." in shown
    assert "dave" in list(at.dataframe[0].value["Username"])
    assert at.text_input(key="add_username").value == ""  # a fresh form after success
    assert CANARY not in shown and CANARY not in state_dump(at)
    with console.runtime.sessions() as s:
        created = s.scalar(
            select(AuditEvent).where(
                AuditEvent.action == "user.create", AuditEvent.entity_label == "dave"
            )
        )
        assert created.actor_label == "alice"


@pytest.mark.parametrize(
    ("username", "password", "repeat", "message"),
    [
        ("bob", CANARY, None, "The username 'bob' is taken."),
        ("dave", "short-1", None, "The password must have at least 10 characters."),
        ("dave", CANARY + "é" * 30, None, "longer than 72 bytes"),
        ("dave", CANARY, CANARY + "x", "The two passwords differ"),
        ("dave", "onlyletterspassword", None, "not be only letters or only digits"),
        ("d", CANARY, None, "A username has 2 to 64 characters"),
    ],
    ids=["duplicate", "short", "over-72-bytes", "mismatch", "letters-only", "bad-username"],
)
def test_adding_a_user_shows_each_refusal_and_keeps_no_password(
    console: Console, username: str, password: str, repeat: str | None, message: str
) -> None:
    seed(console)
    at = fill_add_form(
        console.open(PAGE, as_user="alice"), username=username, password=password, repeat=repeat
    )
    assert not at.exception
    shown = texts(at)
    assert message in shown
    assert [e.value for e in at.error if message in e.value]  # shown as an error
    assert user_count(console) == 3
    assert at.text_input(key="add_username").value == username  # kept for correction
    assert at.text_input(key="add_password").value == ""
    assert password not in shown and password not in state_dump(at)


# --- Role and activation -------------------------------------------------------------------


def test_changing_a_role_promotes_and_demotes(console: Console) -> None:
    seed(console)
    at = select_account(console.open(PAGE, as_user="alice"), "bob")
    at.radio(key="user_role__bob").set_value("admin")
    at = at.button(key="user_role_save").click().run()
    assert account(console, "bob").role == "admin"
    assert "bob is now an admin." in texts(at)
    at.radio(key="user_role__bob").set_value("member")
    at = at.button(key="user_role_save").click().run()
    assert account(console, "bob").role == "member"
    assert "bob is now a member." in texts(at)


def test_the_last_admin_can_be_neither_demoted_nor_deactivated(console: Console) -> None:
    seed(console)
    epoch = account(console, "alice").session_epoch
    at = select_account(console.open(PAGE, as_user="alice"), "alice")
    at.radio(key="user_role__alice").set_value("member")
    at = at.button(key="user_role_save").click().run()
    guard = "alice is the last active admin; make another user an admin first."
    assert guard in [e.value for e in at.error]
    at = at.button(key="user_toggle_active").click().run()
    assert guard in [e.value for e in at.error]
    alice = account(console, "alice")
    assert (alice.role, alice.active, alice.session_epoch) == ("admin", True, epoch)


def test_deactivating_ends_sessions_and_activating_restores_sign_in(console: Console) -> None:
    seed(console)
    before = account(console, "bob").session_epoch
    at = select_account(console.open(PAGE, as_user="alice"), "bob")
    at = at.button(key="user_toggle_active").click().run()
    bob = account(console, "bob")
    assert not bob.active and bob.session_epoch == before + 1
    assert "bob was deactivated; their sessions have ended." in texts(at)
    assert at.button(key="user_toggle_active").label == "Activate"
    at = at.button(key="user_toggle_active").click().run()
    assert account(console, "bob").active
    assert "bob was activated." in texts(at)


# --- Password reset ------------------------------------------------------------------------


def reset(at: AppTest, password: str, repeat: str | None = None) -> AppTest:
    at.text_input(key="reset_password").input(password)
    at.text_input(key="reset_again").input(password if repeat is None else repeat)
    return at.button(key="user_reset_save").click().run()


def test_resetting_a_password_ends_sessions_and_forgets_the_password(console: Console) -> None:
    seed(console)
    before = account(console, "bob").session_epoch
    at = reset(select_account(console.open(PAGE, as_user="alice"), "bob"), CANARY)
    bob = account(console, "bob")
    assert bob.session_epoch == before + 1
    assert users.verify_password(CANARY, bob.password_hash)
    assert "bob's password was reset; their sessions have ended." in texts(at)
    assert CANARY not in texts(at) and CANARY not in state_dump(at)


@pytest.mark.parametrize(
    ("password", "repeat", "message"),
    [
        (CANARY, CANARY + "!", "The two passwords differ; the password was not reset."),
        ("short-1", None, "The password must have at least 10 characters."),
        (CANARY + "€" * 20, None, "longer than 72 bytes"),
    ],
    ids=["mismatch", "short", "over-72-bytes"],
)
def test_a_refused_reset_changes_nothing_and_keeps_no_password(
    console: Console, password: str, repeat: str | None, message: str
) -> None:
    seed(console)
    old = account(console, "bob")
    at = reset(select_account(console.open(PAGE, as_user="alice"), "bob"), password, repeat)
    bob = account(console, "bob")
    assert (bob.password_hash, bob.session_epoch) == (old.password_hash, old.session_epoch)
    assert [e.value for e in at.error if message in e.value]
    assert password not in texts(at) and password not in state_dump(at)
    with console.runtime.sessions() as s:
        assert not s.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "user.password_reset")
        )
