"""`modeldesk backup FILE` / `modeldesk restore FILE` on SQLite, through the command: a restore
into an empty database gives back every row of every table; a restore refuses a database
that holds data (unless --force), a file that is no Modeldesk database, a schema it does not
know and a backup its secret key does not open, each with one line and nothing touched; an
older backup is migrated up; the secret key is never in a backup."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine

from core import cli
from core.startup import open_runtime
from core.store import db
from core.usage.inputs import UsageInput
from core.usage.ledger import record_usage
from tests.conftest import TEST_SECRET, make_settings
from tests.support import factories as f
from tests.support.backups import API_KEY, T0, api_key_of, every_row, seed_everything

OTHER_SECRET = "another-key-entirely-Qm7vX2pL9sK4wR8t"


def _run(capsys: pytest.CaptureFixture[str], url: str, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main(["--database-url", url, *args])
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(code: int, err: str) -> str:
    assert code == 1 and err.startswith("modeldesk: error: ") and len(err.splitlines()) == 1, err
    assert "Traceback" not in err and TEST_SECRET not in err and API_KEY not in err
    return err


def _rows(url: str) -> dict[str, list[tuple[object, ...]]]:
    engine = db.create_db_engine(url)
    try:
        return every_row(engine)
    finally:
        engine.dispose()


def _no_scratch_files(folder: Path) -> None:
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".")]


@pytest.fixture
def source(tmp_path: Path) -> tuple[str, str]:
    """A seeded SQLite database: (its URL, the id of the provider holding API_KEY)."""
    url = f"sqlite:///{tmp_path / 'source' / 'modeldesk.db'}"
    runtime = open_runtime(make_settings(url, tmp_path / "source"))
    try:
        provider_id = seed_everything(runtime)
    finally:
        runtime.dispose()
    return url, provider_id


def test_a_restore_into_an_empty_database_gives_back_every_row(
    env: pytest.MonkeyPatch,
    source: tuple[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, provider_id = source
    backup_file = tmp_path / "modeldesk-backup.db"
    code, out, err = _run(capsys, url, "backup", str(backup_file))
    assert code == 0, err
    assert "2 user(s), 2 provider(s), 1 model(s), 3 usage event(s)" in out
    assert "does not hold the secret key" in out
    assert stat.S_IMODE(backup_file.stat().st_mode) == 0o600
    raw = backup_file.read_bytes()
    assert TEST_SECRET.encode() not in raw and API_KEY.encode() not in raw  # sealed, no key
    assert not Path(f"{backup_file}-wal").exists()  # one self-contained file

    restored = tmp_path / "restored" / "modeldesk.db"  # no database there yet
    code, out, err = _run(capsys, f"sqlite:///{restored}", "restore", str(backup_file))
    assert code == 0, err
    assert f"Restored {backup_file}" in out and "3 usage event(s)" in out

    before, after = _rows(url), _rows(f"sqlite:///{restored}")
    assert sum(len(rows) for rows in before.values()) > 20
    assert {t for t, rows in before.items() if rows} >= {
        "users",
        "providers",
        "models",
        "grants",
        "audit_events",
        "usage_events",
        "usage_daily",
        "usage_daily_tags",
        "key_canaries",
    }
    assert after == before
    runtime = open_runtime(make_settings(f"sqlite:///{restored}", tmp_path / "restored"))
    try:
        assert api_key_of(runtime, provider_id) == API_KEY  # the same key opens the secrets
    finally:
        runtime.dispose()
    _no_scratch_files(restored.parent)


def test_a_fresh_console_database_counts_as_empty(
    env: pytest.MonkeyPatch,
    source: tuple[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A console that started once has a schema and a key canary, and nothing to lose."""
    url, _ = source
    backup_file = tmp_path / "b.db"
    assert _run(capsys, url, "backup", str(backup_file))[0] == 0
    fresh = f"sqlite:///{tmp_path / 'fresh' / 'modeldesk.db'}"
    open_runtime(make_settings(fresh, tmp_path / "fresh")).dispose()
    code, _, err = _run(capsys, fresh, "restore", str(backup_file))
    assert code == 0, err
    assert _rows(fresh) == _rows(url)


def test_a_database_that_holds_data_is_replaced_only_with_force(
    env: pytest.MonkeyPatch,
    source: tuple[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, _ = source
    backup_file = tmp_path / "b.db"
    assert _run(capsys, url, "backup", str(backup_file))[0] == 0
    target = f"sqlite:///{tmp_path / 'busy' / 'modeldesk.db'}"
    runtime = open_runtime(make_settings(target, tmp_path / "busy"))
    with runtime.sessions.begin() as s:
        f.user(s, "carol", role="admin")
    runtime.dispose()
    kept = _rows(target)

    err = _one_line_error(*_run(capsys, target, "restore", str(backup_file))[::2])
    assert "already holds data (" in err and "1 row(s) in users" in err and "--force" in err
    assert _rows(target) == kept

    code, _, err = _run(capsys, target, "restore", "--force", str(backup_file))
    assert code == 0, err
    assert _rows(target) == _rows(url)


def _not_sqlite(path: Path, good: Path) -> None:
    path.write_bytes(b"name,amount\nalice,3\n" * 50)


def _other_sqlite(path: Path, good: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
        conn.execute("INSERT INTO notes VALUES ('hello')")


def _truncated(path: Path, good: Path) -> None:
    path.write_bytes(good.read_bytes()[:4096])


def _future(path: Path, good: Path) -> None:
    path.write_bytes(good.read_bytes())
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (_not_sqlite, "is not a SQLite database file"),
        (_other_sqlite, "not a Modeldesk one"),
        (_truncated, "damaged"),
        (_future, "which this Modeldesk does not know"),
    ],
    ids=["not-sqlite", "other-sqlite", "truncated", "future-schema"],
)
def test_what_is_not_a_known_modeldesk_backup_is_refused(
    env: pytest.MonkeyPatch,
    source: tuple[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    make: Callable[[Path, Path], None],
    said: str,
) -> None:
    url, _ = source
    good = tmp_path / "good.db"
    assert _run(capsys, url, "backup", str(good))[0] == 0
    bad = tmp_path / "bad.db"
    make(bad, good)
    target = tmp_path / "target" / "modeldesk.db"
    target.parent.mkdir()
    err = _one_line_error(*_run(capsys, f"sqlite:///{target}", "restore", str(bad))[::2])
    assert said in err and str(bad) in err
    assert not target.exists()
    _no_scratch_files(target.parent)


def test_a_backup_the_secret_key_does_not_open_is_refused(
    env: pytest.MonkeyPatch,
    source: tuple[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, _ = source
    backup_file = tmp_path / "b.db"
    assert _run(capsys, url, "backup", str(backup_file))[0] == 0
    env.setenv("MODELDESK_SECRET_KEY", OTHER_SECRET)
    target = tmp_path / "target" / "modeldesk.db"
    target.parent.mkdir()
    err = _one_line_error(*_run(capsys, f"sqlite:///{target}", "restore", str(backup_file))[::2])
    assert "not made with the configured secret key" in err and OTHER_SECRET not in err
    assert not target.exists()
    _no_scratch_files(target.parent)


def test_an_older_backup_is_migrated_up(
    env: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    old = tmp_path / "old.db"
    engine = create_engine(f"sqlite:///{old}")
    command.upgrade(db._alembic_config(engine), "0005")
    engine.dispose()
    backup_file = tmp_path / "old-backup.db"
    code, out, err = _run(capsys, f"sqlite:///{old}", "backup", str(backup_file))
    assert code == 0 and "schema revision 0005" in out, err

    target = f"sqlite:///{tmp_path / 'new' / 'modeldesk.db'}"
    code, out, err = _run(capsys, target, "restore", str(backup_file))
    assert code == 0, err
    assert f"schema revision 0005, migrated to {db.head_revision()}" in out
    assert _rows(target)["alembic_version"] == [(db.head_revision(),)]


def test_backup_refuses_postgresql_and_keeps_an_existing_file(
    env: pytest.MonkeyPatch,
    source: tuple[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, _ = source
    pg = "postgresql://md:pw-CANARY-1@127.0.0.1:1/md"
    err = _one_line_error(*_run(capsys, pg, "backup", str(tmp_path / "x.db"))[::2])
    assert "pg_dump -Fc" in err and "docs/operations.md" in err and "pw-CANARY-1" not in err
    err = _one_line_error(*_run(capsys, pg, "restore", str(tmp_path / "x.db"))[::2])
    assert "pg_restore" in err

    existing = tmp_path / "existing.db"
    existing.write_text("keep me\n")
    err = _one_line_error(*_run(capsys, url, "backup", str(existing))[::2])
    assert "already exists" in err and "--force" in err
    assert existing.read_text() == "keep me\n"
    assert _run(capsys, url, "backup", "--force", str(existing))[0] == 0
    assert existing.read_bytes().startswith(b"SQLite format 3\x00")

    missing = f"sqlite:///{tmp_path / 'nothing-here.db'}"
    err = _one_line_error(*_run(capsys, missing, "backup", str(tmp_path / "y.db"))[::2])
    assert "no database" in err
    assert not os.path.exists(tmp_path / "nothing-here.db")


def test_a_backup_taken_while_usage_is_written_is_consistent(
    env: pytest.MonkeyPatch,
    source: tuple[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The console keeps ingesting while backups run: each backup is one moment, where the
    rollups add up to exactly the events stored (both are written in one transaction)."""
    url, _ = source
    runtime = open_runtime(make_settings(url, tmp_path / "source"))
    stop = threading.Event()
    written: list[int] = []

    def ingest() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            with runtime.sessions.begin() as s:
                report = UsageInput(
                    timestamp=T0, provider="OpenAI", model="gpt-4o", input_tokens=n, output_tokens=1
                )
                record_usage(s, events=[report])
            written.append(n)

    writer = threading.Thread(target=ingest)
    writer.start()
    try:
        totals = []
        for i in range(3):
            while len(written) < 5 * (i + 1):  # some events between backups
                time.sleep(0.01)
            backup_file = tmp_path / f"during-{i}.db"
            code, _, err = _run(capsys, url, "backup", str(backup_file))
            assert code == 0, err
            with sqlite3.connect(backup_file) as conn:
                assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
                events = conn.execute("SELECT sum(input_tokens) FROM usage_events").fetchone()
                rolled = conn.execute("SELECT sum(input_tokens) FROM usage_daily").fetchone()
            assert events == rolled
            totals.append(events[0])
    finally:
        stop.set()
        writer.join()
        runtime.dispose()
    assert totals == sorted(totals) and totals[0] < totals[-1]  # the ingest went on
