"""Signing in: password check, a time-window throttle, and ending sessions.

The throttle counts failed attempts in a sliding window per username (known or not, so it
reveals nothing) and per client address (when the address is known: see client_address);
past the limit, sign-in waits until the oldest failure leaves the window. A success clears
the earlier failures of the name that succeeded (see _wait), never other names' failures
from the same address. Nothing locks an account for good.

Sessions end (logout, password change or reset, deactivation) through
``users.end_sessions``, which moves the user's
``session_epoch`` and ``sessions_valid_after``: a live session notices its epoch is stale,
and a sign-in cookie issued before ``sessions_valid_after`` is refused, so a copied cookie
stops working too.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased, sessionmaker

from core.accounts.users import USERNAME_RE, get_by_username, hash_password, verify_password
from core.store.tables import LoginAttempt, User, utcnow

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_USER = 5
MAX_FAILURES_PER_CLIENT = 20
KEEP_ATTEMPTS = timedelta(days=1)
UNKNOWN_CLIENT = ""  # the client key of an unknown address: never throttled as one bucket
FAILED = "Wrong username or password."  # the same for an unknown user and a wrong password

# A real bcrypt hash to check against when the user does not exist, so both cases take
# the same time and an attacker cannot tell them apart by timing.
_DUMMY_HASH = hash_password("not-a-real-password-0")


@dataclass(frozen=True)
class SignInResult:
    """The outcome of a sign-in: the user, or a message (and a wait for throttling)."""

    user: User | None
    message: str | None = None
    retry_after_seconds: int | None = None


def _ip(text: str | None) -> IPAddress | None:
    """An address from a peer or an X-Forwarded-For hop ("[v6]:port" and "v4:port" too)."""
    text = (text or "").strip()
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:
        text = text.split(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def client_address(
    peer: str | None, forwarded_for: Sequence[str], trusted_proxies: Sequence[str]
) -> str | None:
    """The address a sign-in comes from, or None when it is not known.

    ``peer`` is the connection's own address. X-Forwarded-For is believed only when the
    peer is a trusted proxy; each proxy appends the address it saw, so the client is the
    right-most hop that is not a trusted proxy itself (the hops left of it are whatever the
    client sent)::

        X-Forwarded-For: <client's own claims>, <client>, <trusted proxy>   peer: proxy

    A loopback address that is not a trusted proxy stands for everyone behind a local proxy,
    so it is unknown too, as is a trusted proxy that names no valid client.
    """
    networks = [ipaddress.ip_network(n) for n in trusted_proxies]

    def trusted(address: IPAddress) -> bool:
        return any(address in network for network in networks)

    def known(address: IPAddress) -> str | None:
        return None if address.is_loopback else str(address)

    address = _ip(peer)
    if address is None:
        return None
    if not trusted(address):
        return known(address)
    hops = [hop for value in forwarded_for for hop in value.split(",") if hop.strip()]
    for hop in reversed(hops):
        address = _ip(hop)
        if address is None:
            return None  # a broken chain names nobody
        if not trusted(address):
            return known(address)
    return known(address) if hops else None  # every hop is a trusted host: the left-most


def client_key(address: str | None) -> str:
    """A fixed-length key for a known client address (the address itself is not stored)."""
    if not isinstance(address, str) or not address:
        return UNKNOWN_CLIENT
    return hashlib.sha256(address.encode()).hexdigest()[:32]


def _account_name(username: object) -> str | None:
    """The typed username if it could name an account (users.USERNAME_RE), else None."""
    name = username.strip() if isinstance(username, str) else ""
    return name if USERNAME_RE.fullmatch(name) else None


def _username_key(username: object) -> str:
    # A name that could be an account's counts under the account's own key; anything else
    # (NUL, control characters, overlong...) under a digest: it is never looked up and never
    # stored as typed, yet repeating it is throttled like any other name.
    name = _account_name(username)
    if name is not None:
        return name.casefold()
    text = username if isinstance(username, str) else ""
    return "#" + hashlib.sha256(text.strip().encode("utf-8", "surrogatepass")).hexdigest()[:63]


def _wait(
    session: Session, column: InstrumentedAttribute[str], key: str, limit: int, now: datetime
) -> int | None:
    """Seconds to wait when the bucket holds ``limit`` failures in the window, else None.

    A success clears the failures of the name that succeeded: in a username's bucket all of
    them (before it), in an address's bucket only that name's. So someone who mistypes and
    then gets it right costs their address nothing, while signing in to one's own account
    between guesses at other names clears none of those guesses.
    """
    since = now - WINDOW
    failed, won = aliased(LoginAttempt), aliased(LoginAttempt)
    cleared = exists().where(
        getattr(won, column.key) == key,
        won.username_key == failed.username_key,
        won.success.is_(True),
        won.at >= failed.at,
    )
    failures = session.scalars(
        select(failed.at)
        .where(
            getattr(failed, column.key) == key,
            failed.success.is_(False),
            failed.at > since,
            ~cleared,
        )
        .order_by(failed.at.desc())
        .limit(limit)
    ).all()
    if len(failures) < limit:
        return None
    return max(1, int((failures[-1] + WINDOW - now).total_seconds()) + 1)


def _lock_id(name: str) -> int:
    # A signed 64-bit number for pg_advisory_xact_lock, stable across processes.
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def _serialise(session: Session, *names: str) -> None:
    """Make this transaction the only one deciding for these throttle buckets until it ends.

    PostgreSQL: one transaction-scoped advisory lock per bucket, taken in a fixed order (no
    deadlock between two attempts sharing both buckets). SQLite: BEGIN IMMEDIATE takes the
    database's write lock before the count is read, so no other attempt counts meanwhile.
    """
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        # pysqlite has sent nothing yet (it begins lazily, before the first write).
        connection.exec_driver_sql("BEGIN IMMEDIATE")
        return
    for name in sorted(set(names)):
        session.execute(select(func.pg_advisory_xact_lock(_lock_id(name))))


def sign_in(
    sessions: sessionmaker[Session],
    *,
    username: str,
    password: str,
    client: str | None,
    now: datetime | None = None,
) -> SignInResult:
    """Check a username and password under the throttle; records the attempt.

    Counting and recording happen in one short serialised transaction per bucket, and the
    attempt is recorded as a failure *before* the (slow) password check: simultaneous
    attempts cannot all see "under the limit", so at most the limit reach the check. A
    right password then turns its own row into a success.
    """
    now = now or utcnow()
    ukey, ckey = _username_key(username), client_key(client)
    attempt_id = uuid.uuid4()
    with sessions.begin() as session:
        _serialise(
            session,
            f"login:user:{ukey}",
            *([f"login:client:{ckey}"] if ckey != UNKNOWN_CLIENT else []),
        )
        waits = [
            w
            for w in (
                _wait(session, LoginAttempt.username_key, ukey, MAX_FAILURES_PER_USER, now),
                ckey != UNKNOWN_CLIENT
                and _wait(session, LoginAttempt.client_key, ckey, MAX_FAILURES_PER_CLIENT, now),
            )
            if w
        ]
        if not waits:
            session.add(
                LoginAttempt(
                    id=attempt_id, at=now, username_key=ukey, client_key=ckey, success=False
                )
            )
            session.execute(delete(LoginAttempt).where(LoginAttempt.at < now - KEEP_ATTEMPTS))
            name = _account_name(username)
            user = get_by_username(session, name) if name else None
    if waits:
        wait = max(waits)
        minutes = max(1, round(wait / 60))
        return SignInResult(
            None,
            f"Too many failed sign-ins. Try again in about {minutes} "
            f"minute{'s' if minutes != 1 else ''}.",
            wait,
        )
    ok = verify_password(password or "", user.password_hash if user else _DUMMY_HASH)
    ok = ok and user is not None and user.active
    if not ok:
        return SignInResult(None, FAILED)
    with sessions.begin() as session:
        session.execute(
            update(LoginAttempt).where(LoginAttempt.id == attempt_id).values(success=True)
        )
    return SignInResult(user)


@dataclass(frozen=True)
class SignInCookie:
    """What a valid sign-in cookie says: who, and when it was issued."""

    username: str
    issued_at: datetime


def read_cookie(
    token: str | None, *, key: str, lifetime: timedelta, now: datetime | None = None
) -> SignInCookie | None:
    """The claims of a sign-in cookie (streamlit-authenticator's HS256 JWT), or None.

    Anything else is no sign-in, never an error: another algorithm (``none``, HS512), a
    bad signature, a broken token, claims of the wrong type, an expired cookie.
    """
    if not isinstance(token, str) or not token or len(token) > 4096:
        return None
    try:
        claims = jwt.decode(token, key, algorithms=["HS256"])
    except jwt.PyJWTError:
        return None
    username, expires = claims.get("username"), claims.get("exp_date")
    if (
        not isinstance(username, str)
        or _account_name(username) is None
        or isinstance(expires, bool)
        or not isinstance(expires, (int, float))
        or not math.isfinite(expires)
    ):
        return None
    try:
        expires_at = datetime.fromtimestamp(expires, UTC)
    except (OverflowError, OSError, ValueError):
        return None
    if expires_at <= (now or utcnow()):
        return None
    return SignInCookie(username, expires_at - lifetime)


def cookie_accepted(user: User | None, issued_at: datetime) -> bool:
    """True if a sign-in cookie issued at issued_at may still sign user in."""
    if user is None or not user.active:
        return False
    return user.sessions_valid_after is None or issued_at > user.sessions_valid_after
