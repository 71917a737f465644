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
