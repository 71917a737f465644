"""AppTest runs of the console as a signed-in user, shared by the page benchmarks."""

from __future__ import annotations

from typing import Any


def route_pages_through_app() -> None:
    """Run every page through app.py, as a live server does (see tests/support/console.py)."""
    from streamlit.runtime.pages_manager import PagesManager

    real_init = PagesManager.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        real_init(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    PagesManager.__init__ = init  # type: ignore[method-assign]


def signed_in(script: str, username: str, epoch: int) -> Any:
    """An AppTest of script whose session is signed in as username (session epoch given)."""
    from streamlit.testing.v1 import AppTest

    from pages import _ui

    at = AppTest.from_file(script, default_timeout=120)
    at.session_state["authentication_status"] = True
    at.session_state["username"] = username
    at.session_state["logout"] = False
    at.session_state[_ui.EPOCH_KEY] = epoch
    return at


def on_page(app: str, page: str | None, username: str, query: dict[str, str] | None = None) -> Any:
    """An AppTest of app signed in as username (their current session epoch), switched to
    page with query and run once there (the warm-up); SystemExit if that run failed."""
    from core.accounts import users
    from pages import _ui

    with _ui.reading() as s:
        epoch = users.require_user(s, username).session_epoch
    at = signed_in(app, username, epoch)
    at.run()
    if page:
        at.switch_page(page)
    at.query_params.update(query or {})
    at.run()
    if at.exception:
        shown = f"{page} {query}" if query else f"{page}"
        raise SystemExit(f"{shown} as {username} failed: {at.exception[0].message}")
    return at
