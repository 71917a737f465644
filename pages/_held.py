"""Secrets typed into a form, held server-side for the form's lifetime.

A refused save or a Test connection must not make the user type a key again, yet a typed
secret may never stay in ``st.session_state`` (which debug tools and tests dump) nor be
sent back to the browser. So a form moves each typed secret here and blanks its input:

    st.session_state[TOKEN_KEY] ──(opaque random token)──▶ HeldSecrets (this process)
                                                            (token, form, name) → value

Only the token lives in the session. An entry expires after ``IDLE_SECONDS`` unused and
is dropped on a successful save, a reload or cancel of the form, and at sign-out. Values
are never logged, and nothing here has a repr that shows one.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable

import streamlit as st

TOKEN_KEY = "md_held_token"
IDLE_SECONDS = 30 * 60


class HeldSecrets:
    """A process-local, thread-safe map (token, form, name) → secret with idle expiry."""

    def __init__(
        self, idle_seconds: float = IDLE_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._idle, self._clock = idle_seconds, clock
        self._lock = threading.Lock()
        self._values: dict[tuple[str, str, str], tuple[str, float]] = {}

    def __repr__(self) -> str:
        return f"HeldSecrets({len(self._values)} held)"

    def _expire(self, now: float) -> None:
        for entry in [k for k, (_, at) in self._values.items() if now - at > self._idle]:
            del self._values[entry]

    def put(self, token: str, form: str, name: str, value: str) -> None:
        """Hold value (replacing any held one)."""
        with self._lock:
            now = self._clock()
            self._expire(now)
            self._values[(token, form, name)] = (value, now)

    def get(self, token: str, form: str, name: str) -> str | None:
        """The held value, or None; a read keeps it alive."""
        with self._lock:
            now = self._clock()
            self._expire(now)
            found = self._values.get((token, form, name))
            if found is None:
                return None
            self._values[(token, form, name)] = (found[0], now)
            return found[0]

    def names(self, token: str, form: str) -> list[str]:
        """The names held for a form, sorted."""
        with self._lock:
            self._expire(self._clock())
            return sorted(n for t, f, n in self._values if (t, f) == (token, form))

    def drop(self, token: str, form: str | None = None, names: tuple[str, ...] = ()) -> None:
        """Forget these names of a form (all of the form without names; all of the token
        without a form)."""
        with self._lock:
            for entry in [
                k
                for k in self._values
                if k[0] == token and (form is None or k[1] == form) and (not names or k[2] in names)
            ]:
                del self._values[entry]


@st.cache_resource(show_spinner=False)
def _store() -> HeldSecrets:
    return HeldSecrets()


def _token(create: bool = False) -> str | None:
    token = st.session_state.get(TOKEN_KEY)
    if token is None and create:
        token = st.session_state[TOKEN_KEY] = secrets.token_urlsafe(24)
    return token


def hold(form: str, name: str, value: str) -> None:
    """Keep a typed secret for this browser session's form."""
    _store().put(_token(create=True), form, name, value)  # type: ignore[arg-type]


def held(form: str, name: str) -> str | None:
    """The secret held for this form under name, or None."""
    token = _token()
    return _store().get(token, form, name) if token else None


def names(form: str) -> list[str]:
    """The names of the secrets held for this form."""
    token = _token()
    return _store().names(token, form) if token else []


def forget(form: str, *names: str) -> None:
    """Drop these held secrets of a form."""
    token = _token()
    if token and names:
        _store().drop(token, form, names)


def forget_form(form: str) -> None:
    """Drop every secret held for a form (saved, reloaded or cancelled)."""
    token = _token()
    if token:
        _store().drop(token, form)


def forget_session() -> None:
    """Drop everything held for this browser session and its token (at sign-out)."""
    token = st.session_state.pop(TOKEN_KEY, None)
    if token:
        _store().drop(token)
