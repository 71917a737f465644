"""1,000 wrong passwords: throttled, never checked past the limits, never a lockout for good.

The clock is sign_in's own ``now`` (no sleeping). Each flood runs on SQLite and PostgreSQL;
the page-level case signs in through the real form after a flood.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from core.accounts import auth, users
from core.startup import Runtime
from core.store.tables import LoginAttempt, utcnow
from tests.support import factories as f
from tests.support.console import Console, texts

FLOOD = 1000
RIGHT = f.PASSWORD


@pytest.fixture
def bob(runtime: Runtime) -> str:
    with runtime.sessions.begin() as s:
        f.user(s, "bob")
    return "bob"


@pytest.fixture
def checked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every password that reached the (slow) bcrypt check, in order."""
    seen: list[str] = []
    real = auth.verify_password

    def verify(password: str, hashed: str) -> bool:
        seen.append(password)
        return real(password, hashed)

    monkeypatch.setattr(auth, "verify_password", verify)
    return seen


def attempt(runtime: Runtime, username: str, password: str, client: str | None, now: datetime):
    return auth.sign_in(
        runtime.sessions, username=username, password=password, client=client, now=now
    )


def stored_attempts(runtime: Runtime) -> int:
    with runtime.sessions() as s:
        return s.scalar(select(func.count()).select_from(LoginAttempt)) or 0


def test_a_thousand_wrong_passwords_for_one_user_from_a_thousand_addresses(
    runtime: Runtime, bob: str, checked: list[str]
):
    """One username, each guess from a new address (a botnet): the per-user limit holds."""
    start = utcnow()
    results = [
        attempt(runtime, bob, f"guess-{i:04d}-x", f"198.51.{i // 256}.{i % 256}", start)
        for i in range(FLOOD)
    ]
    assert len(checked) == auth.MAX_FAILURES_PER_USER
    assert all(r.user is None for r in results)
    throttled = [r for r in results if r.retry_after_seconds]
    assert len(throttled) == FLOOD - auth.MAX_FAILURES_PER_USER
    assert all(0 < r.retry_after_seconds <= auth.WINDOW.total_seconds() + 1 for r in throttled)
    assert stored_attempts(runtime) == auth.MAX_FAILURES_PER_USER  # refused ones are not kept
    # During the window even the right password waits (the message is the throttle's) ...
    during = attempt(runtime, bob, RIGHT, "203.0.113.50", start + timedelta(minutes=5))
    assert during.user is None and during.retry_after_seconds
    assert RIGHT not in checked
    # ... and once the window has passed it works, from anywhere.
    after = attempt(runtime, bob, RIGHT, "203.0.113.50", start + auth.WINDOW + timedelta(seconds=1))
    assert after.user is not None and after.user.username == "bob"


def test_a_thousand_wrong_passwords_for_one_user_from_one_address(
    runtime: Runtime, bob: str, checked: list[str]
):
    start = utcnow()
    for i in range(FLOOD):
        attempt(runtime, bob, f"guess-{i:04d}-x", "198.51.100.7", start + timedelta(seconds=i / 10))
    assert len(checked) == auth.MAX_FAILURES_PER_USER
    # The attacker's own address is throttled; bob's is not, yet his name is until the window.
    elsewhere = attempt(runtime, bob, RIGHT, "203.0.113.50", start + timedelta(seconds=101))
    assert elsewhere.user is None and elsewhere.retry_after_seconds
    later = start + auth.WINDOW + timedelta(seconds=1)
    assert attempt(runtime, bob, RIGHT, "203.0.113.50", later).user is not None


def test_a_thousand_usernames_from_one_address_leave_other_addresses_alone(
    runtime: Runtime, bob: str, checked: list[str]
):
    """Password spraying from one client: the per-client limit stops it after 20 checks;
    the real user, from his own address, signs in meanwhile; the sprayer's address again
    after the window."""
    start = utcnow()
    results = [
        attempt(runtime, f"user{i:04d}", "Spring2026!", "198.51.100.7", start) for i in range(FLOOD)
    ]
    assert len(checked) == auth.MAX_FAILURES_PER_CLIENT
    assert sum(bool(r.retry_after_seconds) for r in results) == FLOOD - auth.MAX_FAILURES_PER_CLIENT
    assert stored_attempts(runtime) == auth.MAX_FAILURES_PER_CLIENT
    assert attempt(runtime, bob, RIGHT, "203.0.113.50", start).user is not None
    assert attempt(runtime, bob, RIGHT, "198.51.100.7", start).retry_after_seconds
    later = start + auth.WINDOW + timedelta(seconds=1)
    assert attempt(runtime, bob, RIGHT, "198.51.100.7", later).user is not None


def test_a_sprayer_signing_in_to_their_own_account_between_guesses_is_still_throttled(
    runtime: Runtime, bob: str, checked: list[str]
):
    """A success from an address clears the failures of the name that succeeded, not the
    address's: a member who signs in to their own account after every few guesses at other
    names gets no more guesses per window than anyone else from that address."""
    with runtime.sessions.begin() as s:
        f.user(s, "mallory")
    start = utcnow()
    guesses = [f"user{i:04d}" for i in range(200)]  # unknown names: each check is slow
    for i, name in enumerate(guesses):
        if i % 10 == 9:  # mallory's own, right password: tries to reset the address's count
            attempt(runtime, "mallory", RIGHT, "198.51.100.7", start)
        attempt(runtime, name, "Spring2026!", "198.51.100.7", start)
    wrong = [p for p in checked if p == "Spring2026!"]
    assert len(wrong) == auth.MAX_FAILURES_PER_CLIENT
    # A person who mistypes and then gets it right does not count against the address.
    later = start + auth.WINDOW + timedelta(seconds=1)
    for _ in range(auth.MAX_FAILURES_PER_USER - 1):
        attempt(runtime, bob, "not-it-at-all-1", "203.0.113.50", later)
    assert attempt(runtime, bob, RIGHT, "203.0.113.50", later).user is not None
    for i in range(auth.MAX_FAILURES_PER_CLIENT - 1):
        attempt(runtime, f"other{i}", "not-it-at-all-1", "203.0.113.50", later)
    assert attempt(runtime, bob, RIGHT, "203.0.113.50", later).user is not None


def test_a_slow_steady_flood_gets_a_few_guesses_per_window_and_never_a_lockout(
    runtime: Runtime, bob: str, checked: list[str]
):
    """1,000 guesses spread over 10 hours (one every 36 s): at most the per-user limit per
    window reaches the check, and the real user, between two windows, gets in."""
    start = utcnow()
    step = timedelta(seconds=36)
    for i in range(FLOOD):
        attempt(runtime, bob, f"guess-{i:04d}-x", f"198.51.{i // 256}.{i % 256}", start + step * i)
    windows = (step * FLOOD) / auth.WINDOW
    assert len(checked) <= auth.MAX_FAILURES_PER_USER * (int(windows) + 1)
    assert len(checked) >= auth.MAX_FAILURES_PER_USER * int(windows)  # the limit, not less
    # The flood stops; one window later the right password works.
    end = start + step * FLOOD + auth.WINDOW
    assert attempt(runtime, bob, RIGHT, "203.0.113.50", end).user is not None
    # Old attempts are pruned: the table does not grow with the flood.
    assert (
        stored_attempts(runtime)
        <= auth.MAX_FAILURES_PER_USER * (auth.KEEP_ATTEMPTS / auth.WINDOW + 1) + 1
    )


def test_the_account_is_untouched_by_the_flood(runtime: Runtime, bob: str):
    """No lock flag, no password change, no ended session: nothing about bob changed."""
    with runtime.sessions() as s:
        before = users.require_user(s, bob)
        state = (before.active, before.password_hash, before.session_epoch)
    start = utcnow()
    for i in range(FLOOD):
        attempt(runtime, bob, f"guess-{i:04d}-x", None, start)
    with runtime.sessions() as s:
        after = users.require_user(s, bob)
        assert (after.active, after.password_hash, after.session_epoch) == state


def _form_sign_in(console: Console, username: str, password: str):
    at = console.open()
    at.text_input(key="signin_username").input(username)
    at.text_input(key="signin_password").input(password)
    return at.button(key="FormSubmitter:sign_in-Sign in").click().run()


def test_after_a_flood_the_real_user_signs_in_through_the_form(console: Console):
    """The form uses the real clock: a flood that ended a window ago no longer counts, one
    that is going on now refuses even the right password, with the throttle's message."""
    with console.runtime.sessions.begin() as s:
        f.user(s, "alice", "admin")
        f.user(s, "bob")
    past = utcnow() - auth.WINDOW - timedelta(minutes=1)
    for i in range(FLOOD):
        attempt(console.runtime, "alice", f"guess-{i:04d}-x", None, past)
        attempt(console.runtime, "bob", f"guess-{i:04d}-x", None, utcnow())
    at = _form_sign_in(console, "alice", RIGHT)
    assert not at.exception and "Sign in to Modeldesk" not in texts(at)
    at = _form_sign_in(console, "bob", RIGHT)
    assert "Too many failed sign-ins" in texts(at) and "Sign in to Modeldesk" in texts(at)
