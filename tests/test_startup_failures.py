"""A start that cannot work says why, in words a person can act on: a damaged SQLite file,
a PostgreSQL server that is not there, a data folder that is a file. The same message in
the CLI (one line, exit 1) and on the web page (no traceback, no list of page files), and
never the database password."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core import cli
from core.errors import ConfigurationError, DatabaseUnavailableError, ModeldeskError
from core.startup import open_runtime
from core.store import db
from pages import _ui
from tests.conftest import TEST_SECRET, make_settings
from tests.support.console import APP, navigation_mode, texts

PASSWORD = "pw-CANARY-0451"
CLOSED_PORT_URL = f"postgresql://someone:{PASSWORD}@127.0.0.1:1/nowhere"
GARBAGE = b"This is a spreadsheet someone saved over the database.\n" * 200


@pytest.fixture
def corrupt_db(tmp_path: Path) -> Path:
    path = tmp_path / "corrupt.db"
    path.write_bytes(GARBAGE)
    return path


@pytest.fixture
def a_file(tmp_path: Path) -> Path:
    path = tmp_path / "data-is-a-file"
    path.write_text("not a folder\n")
    return path


def _one_clear_sentence(message: str) -> None:
    assert message and "Traceback" not in message and "internal error" not in message
    assert "sqlite3." not in message and "psycopg" not in message.replace(
        "postgresql+psycopg://", ""
    )  # the URL's scheme may show, the driver's errors not
    assert PASSWORD not in message


# --- core ----------------------------------------------------------------------------------


def test_a_corrupt_sqlite_file_is_named_and_left_alone(corrupt_db: Path, tmp_path: Path) -> None:
    with pytest.raises(DatabaseUnavailableError) as caught:
        open_runtime(make_settings(f"sqlite:///{corrupt_db}", tmp_path / "data"))
    message = str(caught.value)
    _one_clear_sentence(message)
    assert str(corrupt_db) in message and "not a SQLite database" in message
    assert corrupt_db.read_bytes() == GARBAGE  # nothing written (no WAL, no migration)


def test_a_postgresql_server_that_is_not_there(tmp_path: Path) -> None:
    with pytest.raises(DatabaseUnavailableError) as caught:
        open_runtime(make_settings(CLOSED_PORT_URL, tmp_path / "data"))
    message = str(caught.value)
    _one_clear_sentence(message)
    assert "127.0.0.1:1" in message and "refused" in message and "***" in message


def test_a_postgresql_server_that_never_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A port that accepts and then says nothing (a wrong service, a stuck proxy): the start
    gives up after the connect timeout instead of leaving the page spinning."""
    monkeypatch.setattr(db, "CONNECT_TIMEOUT_S", 1)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        hang_up = threading.Timer(6, silent.close)  # without a timeout: fail, do not hang
        hang_up.start()
        started = time.monotonic()
        try:
            with pytest.raises(DatabaseUnavailableError) as caught:
                open_runtime(
                    make_settings(
                        f"postgresql://someone:{PASSWORD}@127.0.0.1:{port}/x", tmp_path / "data"
                    )
                )
        finally:
            hang_up.cancel()
        assert time.monotonic() - started < 5
    _one_clear_sentence(str(caught.value))
    assert "did not answer in time" in str(caught.value)


@pytest.mark.parametrize("with_secret", [True, False], ids=["secret-set", "dev-secret"])
def test_a_data_folder_that_is_a_file(a_file: Path, with_secret: bool) -> None:
    settings = make_settings(
        None, a_file, MODELDESK_SECRET_KEY=TEST_SECRET if with_secret else None
    )  # no URL: the SQLite file goes in the data folder
    with pytest.raises(ConfigurationError) as caught:
        open_runtime(settings)
    message = str(caught.value)
    _one_clear_sentence(message)
    assert "MODELDESK_DATA_DIR" in message and str(a_file) in message and "file" in message
    assert a_file.read_text() == "not a folder\n"


def test_a_sqlite_file_below_a_file(a_file: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        open_runtime(make_settings(f"sqlite:///{a_file}/modeldesk.db", tmp_path / "data"))
    _one_clear_sentence(str(caught.value))
    assert "MODELDESK_DATABASE_URL" in str(caught.value) and str(a_file) in str(caught.value)


# --- CLI -----------------------------------------------------------------------------------


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith(("MODELDESK_", "AWS_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MODELDESK_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("MODELDESK_ENV", "test")
    monkeypatch.setenv("MODELDESK_DATA_DIR", str(tmp_path / "cli-data"))
    monkeypatch.setenv("MODELDESK_DISABLE_SYSTEM_PROVIDERS", "all")
    return monkeypatch


COMMANDS = [["db", "upgrade"], ["db", "current"], ["providers", "list"], ["bootstrap"]]


def _cli_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert cli.main(list(argv)) == 1
    err = capsys.readouterr().err
    assert err.startswith("modeldesk: error: ") and len(err.splitlines()) == 1, err
    _one_clear_sentence(err)
    return err


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_cli_corrupt_sqlite_file(
    env: pytest.MonkeyPatch,
    corrupt_db: Path,
    command: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    err = _cli_error(capsys, "--database-url", f"sqlite:///{corrupt_db}", *command)
    assert "not a SQLite database" in err and str(corrupt_db) in err


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_cli_postgresql_on_a_closed_port(
    env: pytest.MonkeyPatch, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    err = _cli_error(capsys, "--database-url", CLOSED_PORT_URL, *command)
    assert "127.0.0.1:1" in err and "refused" in err


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_cli_data_folder_that_is_a_file(
    env: pytest.MonkeyPatch, a_file: Path, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    env.setenv("MODELDESK_DATA_DIR", str(a_file))
    env.delenv("MODELDESK_SECRET_KEY")
    err = _cli_error(capsys, *command)
    assert "MODELDESK_DATA_DIR" in err and str(a_file) in err


# --- web -----------------------------------------------------------------------------------


@pytest.fixture
def web(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    """The app's environment, to be pointed at a broken database by the test."""
    navigation_mode(monkeypatch)
    for name in list(os.environ):
        if name.startswith(("MODELDESK_", "AWS_")):
            monkeypatch.delenv(name)
    for key, value in {
        "MODELDESK_SECRET_KEY": TEST_SECRET,
        "MODELDESK_ENV": "test",
        "MODELDESK_DATA_DIR": str(tmp_path / "web-data"),
        "MODELDESK_DISABLE_SYSTEM_PROVIDERS": "all",
    }.items():
        monkeypatch.setenv(key, value)
    yield monkeypatch
    _ui._open.clear()


def _page(timeout: float = 30) -> tuple[AppTest, str]:
    at = AppTest.from_file(APP, default_timeout=timeout).run()
    assert not at.exception, [e.value for e in at.exception]
    shown = texts(at)
    assert "Modeldesk cannot start" in shown
    _one_clear_sentence(shown)
    return at, shown


def test_web_corrupt_sqlite_file(web: pytest.MonkeyPatch, corrupt_db: Path) -> None:
    web.setenv("MODELDESK_DATABASE_URL", f"sqlite:///{corrupt_db}")
    _, shown = _page()
    assert "not a SQLite database" in shown and str(corrupt_db) in shown


def test_web_postgresql_on_a_closed_port(web: pytest.MonkeyPatch) -> None:
    web.setenv("MODELDESK_DATABASE_URL", CLOSED_PORT_URL)
    at, shown = _page()
    assert "127.0.0.1:1" in shown and "refused" in shown
    assert PASSWORD not in repr(at.session_state._state._state)


def test_web_data_folder_that_is_a_file(web: pytest.MonkeyPatch, a_file: Path) -> None:
    web.setenv("MODELDESK_DATA_DIR", str(a_file))
    _, shown = _page()
    assert "MODELDESK_DATA_DIR" in shown and str(a_file) in shown


def test_web_start_works_once_the_database_is_fixed(
    web: pytest.MonkeyPatch, corrupt_db: Path, sqlite_template: Path
) -> None:
    """A failed start is not remembered: the next page view after the fix opens the console."""
    web.setenv("MODELDESK_DATABASE_URL", f"sqlite:///{corrupt_db}")
    _page()
    corrupt_db.write_bytes(sqlite_template.read_bytes())
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert "Welcome to Modeldesk" in texts(at) and not at.exception


def test_errors_are_modeldesk_errors() -> None:
    assert issubclass(DatabaseUnavailableError, ModeldeskError)


def test_web_unexpected_start_failure_shows_no_detail(
    web: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError(f"driver detail {PASSWORD}")

    web.setenv("MODELDESK_DATABASE_URL", f"sqlite:///{tmp_path / 'any.db'}")
    web.setattr(_ui, "open_runtime", broken)
    _, shown = _page()
    assert _ui.START_FAILED in shown and "driver detail" not in shown
