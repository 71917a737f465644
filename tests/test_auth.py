"""Sign-in throttle, ending sessions, and account management rules."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core import auth, users
from core.errors import IntegrityError, PermissionDeniedError, ValidationError
from core.models import AuditEvent, LoginAttempt, User, utcnow
from core.startup import Runtime
from tests import factories as f


@pytest.fixture
def people(runtime: Runtime) -> dict[str, object]:
    with runtime.sessions.begin() as s:
        return {"admin": f.user(s, "ada", "admin").id, "bob": f.user(s, "bob").id}


def _sign_in(runtime: Runtime, username: str, password: str, client: str = "10.0.0.1",
             now=None) -> auth.SignInResult:
    with runtime.sessions.begin() as s:
        return auth.sign_in(s, username=username, password=password, client=client, now=now)


def test_right_password_signs_in_and_wrong_ones_get_one_message(runtime, people):
    assert _sign_in(runtime, "BOB", f.PASSWORD).user.username == "bob"  # case-insensitive
    wrong = _sign_in(runtime, "bob", "not-the-password-1")
    unknown = _sign_in(runtime, "nobody", "not-the-password-1")
    assert wrong.user is None and unknown.user is None
    assert wrong.message == unknown.message == auth.FAILED


def test_a_deactivated_account_cannot_sign_in(runtime, people):
    with runtime.sessions.begin() as s:
        users.set_active(s, actor=s.get(User, people["admin"]), user=s.get(User, people["bob"]),
                         active=False)
    assert _sign_in(runtime, "bob", f.PASSWORD).message == auth.FAILED


def test_throttle_per_username_is_time_based_not_permanent(runtime, people):
    start = utcnow()
    for i in range(auth.MAX_FAILURES_PER_USER):
        assert _sign_in(runtime, "bob", "wrong-password-1", client=f"c{i}",
                        now=start + timedelta(seconds=i)).message == auth.FAILED
    blocked = _sign_in(runtime, "bob", f.PASSWORD, client="fresh", now=start + timedelta(seconds=60))
    assert blocked.user is None and "Too many failed sign-ins" in blocked.message
    assert 0 < blocked.retry_after_seconds <= auth.WINDOW.total_seconds()
    # An unknown username is throttled the same way: the message reveals nothing.
    for i in range(auth.MAX_FAILURES_PER_USER):
        _sign_in(runtime, "ghost", "wrong-password-1", client=f"g{i}", now=start)
    ghost = _sign_in(runtime, "ghost", "x", client="fresh", now=start + timedelta(seconds=60))
    assert ghost.message == blocked.message.replace(
        str(round(blocked.retry_after_seconds / 60)), str(round(ghost.retry_after_seconds / 60)))
    # Once the window has passed, the right password works again.
    later = start + auth.WINDOW + timedelta(seconds=10)
    assert _sign_in(runtime, "bob", f.PASSWORD, client="fresh", now=later).user is not None


def test_throttle_per_client_covers_many_usernames(runtime, people):
    now = utcnow()
    for i in range(auth.MAX_FAILURES_PER_CLIENT):
        _sign_in(runtime, f"user{i}", "wrong-password-1", client="203.0.113.9", now=now)
    blocked = _sign_in(runtime, "bob", f.PASSWORD, client="203.0.113.9", now=now)
    assert blocked.user is None and blocked.retry_after_seconds
    assert _sign_in(runtime, "bob", f.PASSWORD, client="198.51.100.1", now=now).user


def test_attempts_store_no_address_or_password(runtime, people):
    _sign_in(runtime, "bob", "a-wrong-secret-guess", client="192.0.2.44")
    with runtime.sessions() as s:
        (row,) = s.scalars(select(LoginAttempt)).all()
        assert "192.0.2.44" not in row.client_key and row.username_key == "bob"


def test_ending_sessions_refuses_older_cookies(runtime, people):
    with runtime.sessions.begin() as s:
        bob = s.get(User, people["bob"])
        issued = utcnow()
        assert auth.cookie_accepted(bob, issued)
        epoch = bob.session_epoch
        users.end_sessions(s, user=bob, actor=bob, reason="logout")
        assert bob.session_epoch == epoch + 1
        assert not auth.cookie_accepted(bob, issued)  # a copied cookie stops working
        assert auth.cookie_accepted(bob, utcnow() + timedelta(seconds=1))
        assert not auth.cookie_accepted(None, issued)


def test_password_change_checks_current_and_ends_sessions(runtime, people):
    with runtime.sessions.begin() as s:
        bob = s.get(User, people["bob"])
        with pytest.raises(ValidationError, match="current password"):
            users.change_password(s, user=bob, current_password="nope-nope-1",
                                  new_password="another-pass-99")
        with pytest.raises(ValidationError, match="72 bytes"):
            users.change_password(s, user=bob, current_password=f.PASSWORD,
                                  new_password="é" * 40)
        users.change_password(s, user=bob, current_password=f.PASSWORD,
                              new_password="another-pass-99")
        assert bob.sessions_valid_after is not None
    assert _sign_in(runtime, "bob", "another-pass-99").user is not None


def test_only_admins_manage_accounts_and_the_last_admin_stays(runtime, people):
    with runtime.sessions.begin() as s:
        admin, bob = s.get(User, people["admin"]), s.get(User, people["bob"])
        with pytest.raises(PermissionDeniedError):
            users.set_role(s, actor=bob, user=bob, role="admin")
        with pytest.raises(IntegrityError, match="last active admin"):
            users.set_role(s, actor=admin, user=admin, role="member")
        with pytest.raises(IntegrityError, match="last active admin"):
            users.set_active(s, actor=admin, user=admin, active=False)
        users.set_role(s, actor=admin, user=bob, role="admin")
        users.set_role(s, actor=bob, user=admin, role="member")  # now allowed: bob is admin
        users.reset_password(s, actor=bob, user=admin, new_password="reset-pass-123")
    with runtime.sessions() as s:
        actions = [e.action for e in s.scalars(select(AuditEvent).order_by(AuditEvent.at))]
        assert {"user.role", "user.password_reset", "user.sessions_ended"} <= set(actions)
        assert s.scalar(select(func.count()).select_from(User).where(User.role == "admin")) == 1


@pytest.mark.parametrize("lookalike, existing", [("b0b", "bob"), ("ADA", "ada"), ("AdA", "ada"),
                                                 ("ada1", "adal"), ("rnia", "mia")])
def test_a_username_that_reads_like_an_existing_one_is_refused(runtime, people, lookalike,
                                                               existing):
    with runtime.sessions.begin() as s:
        for name in ("adal", "mia"):
            f.user(s, name)
    with pytest.raises(IntegrityError) as caught:
        with runtime.sessions.begin() as s:
            users.create_user(s, username=lookalike, password=f.PASSWORD,
                              actor=s.get(User, people["admin"]))
    assert f"'{existing}'" in str(caught.value)
    with runtime.sessions() as s:
        assert s.scalar(select(func.count()).select_from(User)) == 4
