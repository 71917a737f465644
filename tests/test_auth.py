"""Sign-in throttle, ending sessions, and account management rules."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import jwt
import pytest
from sqlalchemy import func, select

from core.accounts import auth, users
from core.config import load_settings
from core.errors import ConfigurationError, IntegrityError, PermissionDeniedError, ValidationError
from core.startup import Runtime
from core.store.tables import AuditEvent, LoginAttempt, User, utcnow
from tests.support import factories as f


@pytest.fixture
def pair(runtime: Runtime) -> dict[str, object]:
    """ada (admin) and bob (member), committed; their ids by role."""
    with runtime.sessions.begin() as s:
        return {"admin": f.user(s, "ada", "admin").id, "bob": f.user(s, "bob").id}


def _sign_in(
    runtime: Runtime, username: str, password: str, client: str = "10.0.0.1", now=None
) -> auth.SignInResult:
    return auth.sign_in(
        runtime.sessions, username=username, password=password, client=client, now=now
    )


def test_right_password_signs_in_and_wrong_ones_get_one_message(runtime, pair):
    assert _sign_in(runtime, "BOB", f.PASSWORD).user.username == "bob"  # case-insensitive
    wrong = _sign_in(runtime, "bob", "not-the-password-1")
    unknown = _sign_in(runtime, "nobody", "not-the-password-1")
    assert wrong.user is None and unknown.user is None
    assert wrong.message == unknown.message == auth.FAILED


def test_a_deactivated_account_cannot_sign_in(runtime, pair):
    with runtime.sessions.begin() as s:
        users.set_active(
            s, actor=s.get(User, pair["admin"]), user=s.get(User, pair["bob"]), active=False
        )
    assert _sign_in(runtime, "bob", f.PASSWORD).message == auth.FAILED


def test_throttle_per_username_is_time_based_not_permanent(runtime, pair):
    start = utcnow()
    for i in range(auth.MAX_FAILURES_PER_USER):
        assert (
            _sign_in(
                runtime, "bob", "wrong-password-1", client=f"c{i}", now=start + timedelta(seconds=i)
            ).message
            == auth.FAILED
        )
    blocked = _sign_in(
        runtime, "bob", f.PASSWORD, client="fresh", now=start + timedelta(seconds=60)
    )
    assert blocked.user is None and "Too many failed sign-ins" in blocked.message
    assert 0 < blocked.retry_after_seconds <= auth.WINDOW.total_seconds()
    # An unknown username is throttled the same way: the message reveals nothing.
    for i in range(auth.MAX_FAILURES_PER_USER):
        _sign_in(runtime, "ghost", "wrong-password-1", client=f"g{i}", now=start)
    ghost = _sign_in(runtime, "ghost", "x", client="fresh", now=start + timedelta(seconds=60))
    assert ghost.message == blocked.message.replace(
        str(round(blocked.retry_after_seconds / 60)), str(round(ghost.retry_after_seconds / 60))
    )
    # Once the window has passed, the right password works again.
    later = start + auth.WINDOW + timedelta(seconds=10)
    assert _sign_in(runtime, "bob", f.PASSWORD, client="fresh", now=later).user is not None


def test_throttle_per_client_covers_many_usernames(runtime, pair):
    now = utcnow()
    for i in range(auth.MAX_FAILURES_PER_CLIENT):
        _sign_in(runtime, f"user{i}", "wrong-password-1", client="203.0.113.9", now=now)
    blocked = _sign_in(runtime, "bob", f.PASSWORD, client="203.0.113.9", now=now)
    assert blocked.user is None and blocked.retry_after_seconds
    assert _sign_in(runtime, "bob", f.PASSWORD, client="198.51.100.1", now=now).user


def test_attempts_store_no_address_or_password(runtime, pair):
    _sign_in(runtime, "bob", "a-wrong-secret-guess", client="192.0.2.44")
    with runtime.sessions() as s:
        (row,) = s.scalars(select(LoginAttempt)).all()
        assert "192.0.2.44" not in row.client_key and row.username_key == "bob"


def test_ending_sessions_refuses_older_cookies(runtime, pair):
    with runtime.sessions.begin() as s:
        bob = s.get(User, pair["bob"])
        issued = utcnow()
        assert auth.cookie_accepted(bob, issued)
        epoch = bob.session_epoch
        users.end_sessions(s, user=bob, actor=bob, reason="logout")
        assert bob.session_epoch == epoch + 1
        assert not auth.cookie_accepted(bob, issued)  # a copied cookie stops working
        assert auth.cookie_accepted(bob, utcnow() + timedelta(seconds=1))
        assert not auth.cookie_accepted(None, issued)


def test_password_change_checks_current_and_ends_sessions(runtime, pair):
    with runtime.sessions.begin() as s:
        bob = s.get(User, pair["bob"])
        with pytest.raises(ValidationError, match="current password"):
            users.change_password(
                s, user=bob, current_password="nope-nope-1", new_password="another-pass-99"
            )
        with pytest.raises(ValidationError, match="72 bytes"):
            users.change_password(s, user=bob, current_password=f.PASSWORD, new_password="é" * 40)
        users.change_password(
            s, user=bob, current_password=f.PASSWORD, new_password="another-pass-99"
        )
        assert bob.sessions_valid_after is not None
    assert _sign_in(runtime, "bob", "another-pass-99").user is not None


def test_only_admins_manage_accounts_and_the_last_admin_stays(runtime, pair):
    with runtime.sessions.begin() as s:
        admin, bob = s.get(User, pair["admin"]), s.get(User, pair["bob"])
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


def _checked_passwords(monkeypatch) -> list[str]:
    """Record every password check (slowed like a real bcrypt, so the race window is real)."""
    checked: list[str] = []
    lock = threading.Lock()
    real = auth.verify_password

    def verify(password: str, password_hash: str) -> bool:
        with lock:
            checked.append(password)
        time.sleep(0.05)
        return real(password, password_hash)

    monkeypatch.setattr(auth, "verify_password", verify)
    return checked


def _at_once(count: int, attempt) -> list[auth.SignInResult]:
    """Run attempt(i) in count threads released together."""
    start = threading.Barrier(count)

    def run(i: int) -> auth.SignInResult:
        start.wait()
        return attempt(i)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


@pytest.mark.parametrize("bucket", ["user", "client"])
def test_simultaneous_attempts_check_at_most_the_limit(runtime, pair, monkeypatch, bucket):
    checked = _checked_passwords(monkeypatch)
    monkeypatch.setattr(auth, "MAX_FAILURES_PER_CLIENT", 5)  # as tight as the user bucket
    limit, tries = 5, 25

    def attempt(i: int) -> auth.SignInResult:
        if bucket == "user":  # one username from many addresses
            return _sign_in(runtime, "bob", "wrong-password-1", client=f"198.51.100.{i}")
        return _sign_in(runtime, f"user{i}", "wrong-password-1", client="203.0.113.9")

    results = _at_once(tries, attempt)
    assert len(checked) <= limit
    assert sum(r.message == auth.FAILED for r in results) == len(checked)
    assert all(r.user is None for r in results)
    assert sum(bool(r.retry_after_seconds) for r in results) == tries - len(checked)


def test_trusted_proxies_setting_is_parsed_strictly():
    settings = load_settings(
        {"MODELDESK_TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8  ::1"}, secrets_file=None
    )
    assert settings.trusted_proxies == ("127.0.0.1/32", "10.0.0.0/8", "::1/128")
    assert load_settings({}, secrets_file=None).trusted_proxies == ()
    for bad in ("proxy.internal", "10.0.0.300", "10.0.0.1/8", "0.0.0.0/0", "::/0", "*"):
        with pytest.raises(ConfigurationError, match="MODELDESK_TRUSTED_PROXIES") as caught:
            load_settings({"MODELDESK_TRUSTED_PROXIES": f"127.0.0.1,{bad}"}, secrets_file=None)
        assert bad in str(caught.value)


PROXY = ("127.0.0.1/32", "::1/128", "10.0.0.0/8")


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "expected"),
    [
        ("198.51.100.7", [], PROXY, "198.51.100.7"),  # a direct client
        ("198.51.100.7", ["203.0.113.5"], PROXY, "198.51.100.7"),  # its own header is ignored
        ("::ffff:198.51.100.7", [], (), "198.51.100.7"),  # IPv4-mapped, one spelling
        ("127.0.0.1", ["203.0.113.5"], (), None),  # untrusted proxy: unknown
        ("127.0.0.1", [], (), None),  # loopback is everyone behind it
        ("::1", [], PROXY, None),  # a trusted proxy that says nothing
        ("127.0.0.1", ["203.0.113.5"], PROXY, "203.0.113.5"),
        (
            "127.0.0.1",
            ["1.2.3.4, 203.0.113.5"],
            PROXY,
            "203.0.113.5",
        ),  # the left part is the client's
        ("127.0.0.1", ["1.2.3.4", "203.0.113.5, 10.1.1.1"], PROXY, "203.0.113.5"),  # proxy chain
        ("127.0.0.1", ["[2001:db8::5]:4711"], PROXY, "2001:db8::5"),
        ("127.0.0.1", ["203.0.113.5:4711"], PROXY, "203.0.113.5"),
        ("127.0.0.1", ["10.2.2.2, 10.1.1.1"], PROXY, "10.2.2.2"),  # an internal client
        ("127.0.0.1", ["unknown"], PROXY, None),
        ("10.0.0.2", ["127.0.0.1"], PROXY, None),  # a local proxy behind the trusted one
        ("127.0.0.1", ["203.0.113.5, garbage"], PROXY, None),
        (None, ["203.0.113.5"], PROXY, None),
        ("not-an-address", [], PROXY, None),
    ],
)
def test_client_address_trusts_forwarded_for_only_from_trusted_proxies(
    peer, forwarded, trusted, expected
):
    assert auth.client_address(peer, forwarded, trusted) == expected


def test_an_unknown_address_never_throttles_named_users_as_one_bucket(runtime, pair):
    now = utcnow()
    for i in range(auth.MAX_FAILURES_PER_CLIENT + 5):
        _sign_in(runtime, f"made-up{i}", "wrong-password-1", client=None, now=now)
    assert _sign_in(runtime, "bob", f.PASSWORD, client=None, now=now).user is not None
    later = now + timedelta(seconds=1)  # after that success
    for _ in range(auth.MAX_FAILURES_PER_USER):  # the per-user limit still applies
        _sign_in(runtime, "bob", "wrong-password-1", client=None, now=later)
    assert _sign_in(runtime, "bob", f.PASSWORD, client=None, now=later).retry_after_seconds


@pytest.mark.parametrize(
    "username",
    ["bo\x00b", "bob\x00", "b\nob", "b\x07ob", "\u202ebob", "b" * 65, "é" * 5000, "bob\ud800"],
)
def test_a_malformed_username_is_a_plain_failed_sign_in(runtime, pair, username):
    result = _sign_in(runtime, username, f.PASSWORD)
    assert result.user is None and result.message == auth.FAILED
    with runtime.sessions() as s:  # recorded (it counts against the address), stored safely
        (row,) = s.scalars(select(LoginAttempt)).all()
        assert not row.success and len(row.username_key) <= 64 and row.username_key.isprintable()


@pytest.mark.parametrize("password", ["correct\x00horse-42", "correct-horse-42\ud800", ""])
def test_a_malformed_password_is_a_plain_failed_sign_in(runtime, pair, password):
    assert _sign_in(runtime, "bob", password).message == auth.FAILED


def test_only_a_valid_hs256_cookie_is_read():
    key, life, now = "k" * 64, timedelta(days=7), utcnow()
    expires = (now + timedelta(days=1)).timestamp()

    def token(claims, algorithm="HS256", signing_key=key):
        return jwt.encode(claims, signing_key, algorithm=algorithm)

    good = auth.read_cookie(
        token({"username": "bob", "exp_date": expires}), key=key, lifetime=life, now=now
    )
    assert good.username == "bob"
    assert abs((good.issued_at - (now - timedelta(days=6))).total_seconds()) < 1
    for bad in (
        token({"username": "bob", "exp_date": expires}, "none", None),
        token({"username": "bob", "exp_date": expires}, "HS512"),
        token({"username": "bob", "exp_date": expires}, signing_key="other" * 9),
        token({"username": "bob", "exp_date": now.timestamp() - 1}),
        token({"username": "bob", "exp_date": "soon"}),
        token({"username": "bob", "exp_date": True}),
        token({"username": "bob", "exp_date": float("inf")}),
        token({"username": "bob", "exp_date": 1e300}),
        token({"username": ["bob"], "exp_date": expires}),
        token({"username": "bo\x00b", "exp_date": expires}),
        token({"exp_date": expires}),
        "not.a.jwt",
        "",
        None,
        "x" * 5000,
    ):
        assert auth.read_cookie(bad, key=key, lifetime=life, now=now) is None


@pytest.mark.parametrize(
    "lookalike, existing",
    [("b0b", "bob"), ("ADA", "ada"), ("AdA", "ada"), ("ada1", "adal"), ("rnia", "mia")],
)
def test_a_username_that_reads_like_an_existing_one_is_refused(runtime, pair, lookalike, existing):
    with runtime.sessions.begin() as s:
        for name in ("adal", "mia"):
            f.user(s, name)
    with pytest.raises(IntegrityError) as caught:
        with runtime.sessions.begin() as s:
            users.create_user(
                s, username=lookalike, password=f.PASSWORD, actor=s.get(User, pair["admin"])
            )
    assert f"'{existing}'" in str(caught.value)
    with runtime.sessions() as s:
        assert s.scalar(select(func.count()).select_from(User)) == 4


def test_a_new_password_with_a_lone_surrogate_is_refused_with_a_message():
    with pytest.raises(ValidationError, match="not valid text"):
        users.check_password("correct-horse-42\udc80")
