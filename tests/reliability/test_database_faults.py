"""Database faults while the console runs: connections dropped, an action cut off mid-way.

The shared PostgreSQL server is never restarted: the fault is made by terminating this
console's own backend connections (``pg_terminate_backend``), as a failover, a proxy or an
idle-connection reaper would. Each test runs on the session's scratch database only.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text

from core.accounts import audit
from core.startup import open_runtime
from core.store.tables import Provider
from pages import _ui
from tests.conftest import TEST_SECRET, _empty_pg, make_settings
from tests.support import factories as f
from tests.support.console import Console, navigation_mode, texts

PAGE = "pages/providers.py"


@pytest.fixture
def pg_console(
    pg_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Console]:
    """The console (AppTest) on the session's PostgreSQL scratch database, emptied."""
    _empty_pg(pg_database)
    navigation_mode(monkeypatch)
    env = {
        "MODELDESK_DATABASE_URL": pg_database,
        "MODELDESK_SECRET_KEY": TEST_SECRET,
        "MODELDESK_DATA_DIR": str(tmp_path / "data"),
        "MODELDESK_ENV": "test",
        "MODELDESK_DISABLE_SYSTEM_PROVIDERS": "all",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    rt = open_runtime(make_settings(pg_database, tmp_path / "data"))
    with rt.sessions.begin() as s:
        f.user(s, "alice", "admin")
    yield Console(runtime=rt)
    rt.dispose()
    _ui.runtime().dispose()  # the app's own runtime: close its (possibly dead) connections
    _ui._open.clear()


def _terminate(url: str, pids: list[int] | None = None) -> int:
    """Terminate backends of this scratch database (all but the caller's, or these pids)."""
    killer = create_engine(url, isolation_level="AUTOCOMMIT")
    with killer.connect() as conn:
        if pids is None:
            killed = conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalar_one()
        else:
            killed = sum(
                bool(conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": p}).scalar())
                for p in pids
            )
    killer.dispose()
    return int(killed)


def _add(at: Any, name: str) -> Any:
    at.selectbox(key="pa_type").set_value("openai").run()
    at.text_input(key="pa_name").input(name)
    at.text_input(key="pa_key").input("sk-test-abcdefgh12345678")
    return next(b for b in at.button if b.label == "Add provider").click().run()


def _names(console: Console) -> list[str]:
    with console.runtime.sessions() as s:
        return sorted(s.scalars(select(Provider.name)))


def test_dropped_connections_are_replaced_before_the_next_action(pg_console: Console) -> None:
    at = pg_console.open(PAGE, as_user="alice")
    assert "No providers yet" in texts(at)
    assert _terminate(pg_console.runtime.settings.resolved_database_url) >= 1  # the pool's

    at = _add(at, "After the drop")
    assert not at.exception
    assert "Provider 'After the drop' added." in texts(at)
    assert _names(pg_console) == ["After the drop"]


def test_an_action_cut_off_mid_way_fails_cleanly_and_keeps_the_form(
    pg_console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = pg_console.runtime.settings.resolved_database_url
    real = audit.record
    cut: list[int] = []

    def record_after_the_connection_drops(session: Any, **kw: Any) -> Any:
        if not cut:  # the save has begun: kill its own connection before it commits
            cut.append(session.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar())
            _terminate(url, cut)
        return real(session, **kw)

    monkeypatch.setattr(audit, "record", record_after_the_connection_drops)
    at = _add(pg_console.open(PAGE, as_user="alice"), "Cut off")
    assert cut, "the save never reached the audit record"
    assert not at.exception
    shown = texts(at)
    assert "The connection to the database was lost" in shown
    assert "nothing was saved" in shown
    assert "Traceback" not in shown and "psycopg" not in shown
    assert _names(pg_console) == []  # nothing partially written
    assert at.text_input(key="pa_name").value == "Cut off"  # the form input survives

    at = next(b for b in at.button if b.label == "Add provider").click().run()
    assert "Provider 'Cut off' added." in texts(at)
    assert _names(pg_console) == ["Cut off"]
