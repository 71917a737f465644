"""PostgreSQL backups with the documented commands (docs/operations.md): `pg_dump -Fc` of a
seeded database, `createdb` and `pg_restore` into a new one, and every row of every table is
back, its secrets open with the same key, and `modeldesk db upgrade` accepts it. Runs on
databases made for the test and dropped after; skips locally without the server or the
client programs, fails under CI=true."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from core import cli
from core.startup import open_runtime
from core.store import db
from tests.conftest import IN_CI, PG_ADMIN_URL, TEST_SECRET, _pg_reachable, make_settings
from tests.support.backups import API_KEY, api_key_of, every_row, seed_everything

ROOT = Path(__file__).resolve().parent.parent
PROGRAMS = ("pg_dump", "pg_restore", "createdb", "dropdb")
# The commands of docs/operations.md, as run here (the database name comes last).
DUMP = ["pg_dump", "-Fc", "--no-owner"]
RESTORE = ["pg_restore", "--no-owner", "--exit-on-error"]

pytestmark = pytest.mark.postgres


def _unavailable() -> str | None:
    missing = [p for p in PROGRAMS if shutil.which(p) is None]
    if missing:
        return f"the PostgreSQL client programs {', '.join(missing)} are not installed"
    return _pg_reachable()


@pytest.fixture
def pg_env() -> dict[str, str]:
    """libpq's environment for the test server (what an operator's shell would have)."""
    reason = _unavailable()
    if reason:
        if IN_CI:
            pytest.fail(f"{reason}; CI requires them.", pytrace=False)
        pytest.skip(reason)
    url = make_url(PG_ADMIN_URL)
    libpq = {
        "PGHOST": url.host or "127.0.0.1",
        "PGPORT": str(url.port or 5432),
        "PGUSER": url.username or "postgres",
    }
    if url.password:
        libpq["PGPASSWORD"] = str(url.password)
    return {**os.environ, **libpq}


@pytest.fixture
def databases(pg_env: dict[str, str]) -> Iterator[tuple[str, str]]:
    """Two uniquely named databases on the test server, the source migrated: their names."""
    tag = f"{os.getpid()}_{uuid.uuid4().hex[:8]}"
    names = (f"modeldesk_bk_src_{tag}", f"modeldesk_bk_dst_{tag}")
    subprocess.run(["createdb", names[0]], env=pg_env, check=True, timeout=60)
    try:
        yield names
    finally:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _url(name: str) -> str:
    return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def test_pg_dump_and_pg_restore_give_back_every_row(
    env: pytest.MonkeyPatch,
    pg_env: dict[str, str],
    databases: tuple[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source, target = databases
    runtime = open_runtime(make_settings(_url(source), tmp_path / "data"))
    try:
        provider_id = seed_everything(runtime)
        before = every_row(runtime.engine)
    finally:
        runtime.dispose()
    assert sum(len(rows) for rows in before.values()) > 20

    dump = tmp_path / "modeldesk.dump"

    def run(*argv: str) -> None:
        done = subprocess.run(argv, env=pg_env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr

    run(*DUMP, f"--file={dump}", source)
    assert TEST_SECRET.encode() not in dump.read_bytes()
    assert API_KEY.encode() not in dump.read_bytes()
    run("createdb", target)
    run(*RESTORE, f"--dbname={target}", str(dump))

    engine = db.create_db_engine(_url(target))
    try:
        assert every_row(engine) == before
    finally:
        engine.dispose()
    assert cli.main(["--database-url", _url(target), "db", "upgrade"]) == 0
    assert f"revision {db.head_revision()}" in capsys.readouterr().out
    runtime = open_runtime(make_settings(_url(target), tmp_path / "data"))
    try:
        assert api_key_of(runtime, provider_id) == API_KEY
    finally:
        runtime.dispose()


def test_the_operations_guide_shows_these_commands() -> None:
    guide = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    assert " ".join(DUMP) in guide and " ".join(RESTORE) in guide and "createdb" in guide
