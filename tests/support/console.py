"""AppTest harness for the console: a seeded database, and the app as a given user.

``console`` runs on SQLite (the page logic is database-neutral; the core suite covers
PostgreSQL). Seed through ``console.runtime`` with the real services, then
``console.open("pages/providers.py", as_user="alice")`` returns a run AppTest.
"""

from __future__ import annotations

import functools
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import streamlit.config as st_config
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

from core.accounts import users
from core.startup import Runtime, open_runtime
from pages import _ui
from tests.conftest import TEST_SECRET, make_settings

APP = str(Path(__file__).resolve().parents[2] / "app.py")


@dataclass
class Console:
    """A database plus a way to open the app against it as someone."""

    runtime: Runtime

    def open(
        self, page: str | None = None, *, as_user: str | None = None, timeout: float = 30
    ) -> AppTest:
        """Run the app signed in as as_user (None: signed out), then switch to page."""
        at = AppTest.from_file(APP, default_timeout=timeout)
        if as_user is not None:
            with self.runtime.sessions() as s:
                user = users.require_user(s, as_user)
                at.session_state["authentication_status"] = True
                at.session_state["username"] = user.username
                at.session_state["name"] = user.display_name
                at.session_state["logout"] = False
                at.session_state[_ui.EPOCH_KEY] = user.session_epoch
        at.run()  # st.navigation registers the user's pages on the first run
        if page is not None:
            at.switch_page(page).run()  # ValueError if the page is not registered for them
        return at


def navigation_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    # AppTest resets PagesManager.uses_pages_directory before every run, and because our
    # folder is named pages/ Streamlit would then run a page file on its own (the old
    # multipage mode), skipping app.py. In a server, app.py's st.App entry switches that
    # mode off when the server starts; do the same here so every run goes through app.py.
    real_init = PagesManager.__init__

    def init(self: PagesManager, *args: Any, **kwargs: Any) -> None:
        real_init(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)


def _showing_errors(real: Any) -> Any:
    def get_option(key: str) -> Any:
        return "full" if key == "client.showErrorDetails" else real(key)

    return get_option


@pytest.fixture
def console(
    sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Console]:
    """An empty migrated SQLite console database and the environment pointing at it."""
    navigation_mode(monkeypatch)
    # Tests want to see what went wrong; production hides details (.streamlit/config.toml).
    monkeypatch.setattr(st_config, "get_option", _showing_errors(st_config.get_option))
    path = tmp_path / "console.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"
    env = {
        "MODELDESK_DATABASE_URL": url,
        "MODELDESK_SECRET_KEY": TEST_SECRET,
        "MODELDESK_DATA_DIR": str(tmp_path / "data"),
        "MODELDESK_ENV": "test",
        "MODELDESK_DISABLE_SYSTEM_PROVIDERS": "all",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for key in ("MODELDESK_ADMIN_USERNAME", "MODELDESK_ADMIN_PASSWORD", "AWS_BEARER_TOKEN_BEDROCK"):
        monkeypatch.delenv(key, raising=False)
    rt = open_runtime(make_settings(url, tmp_path / "data"))
    yield Console(runtime=rt)
    rt.dispose()
    _ui._open.clear()


@pytest.fixture
def people(console: Console) -> dict[str, uuid.UUID]:
    """alice (admin) and bob (member) in the console's database; their ids by name."""
    from tests.support import factories as f

    with console.runtime.sessions.begin() as s:
        return {u.username: u.id for u in (f.user(s, "alice", "admin"), f.user(s, "bob"))}


def texts(at: AppTest) -> str:
    """Everything the page shows as text (titles, markdown, captions, alerts, tables)."""
    parts: list[Any] = []
    for kind in (
        "title",
        "header",
        "subheader",
        "markdown",
        "caption",
        "text",
        "code",
        "success",
        "info",
        "warning",
        "error",
        "exception",
    ):
        parts.extend(getattr(el, "value", "") for el in getattr(at, kind))
    for block in (at.sidebar,):
        parts.extend(getattr(el, "value", "") for el in block.markdown)
    for frame in at.dataframe:
        parts.append(frame.value.to_csv())
    return "\n".join(str(p) for p in parts)


def state_dump(at: AppTest) -> str:
    """Every session-state value, including raw widget states."""
    inner = at._session_state._state
    parts = [repr(at.session_state.to_dict())]
    for name in ("_old_state", "_new_session_state"):
        parts.append(repr(getattr(inner, name, "")))
    widgets = getattr(inner, "_new_widget_state", None)
    parts.append(repr(list(getattr(widgets, "states", {}).values())))
    return "\n".join(parts)


def click_in_dialog(at: AppTest, key: str) -> AppTest:
    """Click a button inside the open st.dialog and rerun only the dialog, as a browser does.

    A dialog is a fragment: its widgets rerun the dialog function, not the app, so a button
    that only changes session state (e.g. pops the flag that opened the dialog) leaves the
    dialog open; AppTest's own run() reruns the whole app and would hide that.
    """
    import streamlit.testing.v1.local_script_runner as runner

    fragments = list(at._fragment_storage._fragments)  # AppTest has no public accessor
    assert len(fragments) == 1, f"expected one open dialog, found fragments {fragments}"
    at.button(key=key).click()
    real = runner.RerunData
    runner.RerunData = functools.partial(real, fragment_id_queue=fragments)
    try:
        return at.run()
    finally:
        runner.RerunData = real
