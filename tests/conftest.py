"""Shared fixtures: every core test runs on SQLite and on PostgreSQL.

``runtime`` is parametrized by database. PostgreSQL tests use one scratch database per test
session (created on the local server, migrated once, tables emptied between tests). When the
server is unreachable they skip locally and fail in CI (CI=true), never pass silently.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import pytest
from sqlalchemy import create_engine, text

from core.config import Settings, load_settings
from core.startup import Runtime, open_runtime
from core.store import db
from core.store.tables import Base
from tests.support import factories

pytest_plugins = [
    "tests.support.cli",  # the modeldesk command's `env` and `run` fixtures
    "tests.support.console",  # the AppTest `console` fixture for page tests
    "tests.support.outbound_servers",  # loopback servers for the outbound guard
    "tests.support.provider_page",  # the Providers page tests' `team` fixture
    "tests.support.usage_ledger",  # the ledger tests' `ledger_org` fixture
]

PG_ADMIN_URL = os.environ.get(
    "MODELDESK_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
TEST_SECRET = "test-secret-key-for-modeldesk-0123456789"
DATABASES = ("sqlite", "postgresql")


@pytest.fixture(autouse=True)
def fast_bcrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap bcrypt salts (cost 4): tests hash many passwords; the cost is not under test."""
    real = bcrypt.gensalt
    monkeypatch.setattr(bcrypt, "gensalt", lambda rounds=4, prefix=b"2b": real(4, prefix))


def _pg_reachable() -> str | None:
    try:
        engine = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:  # the reason is shown in the skip / failure
        return f"PostgreSQL at 127.0.0.1:5432 is not reachable ({type(exc).__name__})"


def make_settings(url: str, data_dir: Path, **env: str) -> Settings:
    """Settings for a test database with the test secret (extra env vars allowed)."""
    environ = {
        "MODELDESK_DATABASE_URL": url,
        "MODELDESK_SECRET_KEY": TEST_SECRET,
        "MODELDESK_DATA_DIR": str(data_dir),
        "MODELDESK_ENV": "test",
        "MODELDESK_DISABLE_SYSTEM_PROVIDERS": "all",
        **env,
    }
    return load_settings({k: v for k, v in environ.items() if v is not None}, secrets_file=None)


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A scratch PostgreSQL database for this test session, migrated once."""
    reason = _pg_reachable()
    if reason:
        if IN_CI:
            pytest.fail(f"{reason}; CI requires PostgreSQL.", pytrace=False)
        pytest.skip(reason)
    name = f"modeldesk_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    engine = db.create_db_engine(url)
    db.upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies (migrating once is much faster)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = db.create_db_engine(f"sqlite:///{path}")
    db.upgrade(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


def _empty_pg(url: str) -> None:
    engine = create_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} CASCADE"))
    engine.dispose()


@pytest.fixture(params=DATABASES)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database URL: SQLite file or the PostgreSQL scratch database."""
    if request.param == "sqlite":
        path = tmp_path / "modeldesk.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("pg_database")
        _empty_pg(url)
        yield url


@pytest.fixture
def runtime(db_url: str, tmp_path: Path) -> Iterator[Runtime]:
    """An opened Modeldesk (keyring, engine, sessions) on the parametrized database."""
    rt = open_runtime(make_settings(db_url, tmp_path / "data"))
    yield rt
    rt.dispose()


@pytest.fixture(scope="module")
def browser():  # noqa: ANN201
    """Debian's chromium through Playwright, one per test module (the browser tests skip
    locally without it and fail in CI)."""
    from playwright.sync_api import sync_playwright

    from tests.support.browser import launch, require_browser

    require_browser()
    with sync_playwright() as pw:
        b = launch(pw)
        yield b
        b.close()


@pytest.fixture
def admin(runtime: Runtime) -> str:
    """Users "admin" (admin) and "bob" (member), committed; the admin's username."""
    with runtime.sessions.begin() as s:
        factories.user(s, "admin", "admin")
        factories.user(s, "bob")
    return "admin"


@pytest.fixture
def staff(runtime: Runtime) -> dict[str, uuid.UUID]:
    """boss (admin), olga and vera (members), committed; their ids by username."""
    with runtime.sessions.begin() as s:
        return {
            u.username: u.id
            for u in (
                factories.user(s, "boss", "admin"),
                factories.user(s, "olga"),
                factories.user(s, "vera"),
            )
        }


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec and callspec.params.get("db_url") == "postgresql":
            item.add_marker(pytest.mark.postgres)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ANN001
    """Print how many tests ran on each database, so the report shows both halves."""
    counts: dict[str, dict[str, int]] = {d: {} for d in DATABASES}
    for outcome in ("passed", "failed", "skipped", "error"):
        for rep in terminalreporter.stats.get(outcome, []):
            if getattr(rep, "when", "call") not in ("call", "setup") or (
                outcome == "passed" and rep.when != "call"
            ):
                continue
            for database in DATABASES:
                if f"[{database}" in rep.nodeid or f"-{database}" in rep.nodeid:
                    counts[database][outcome] = counts[database].get(outcome, 0) + 1
    terminalreporter.write_sep("-", "tests per database")
    for database, by_outcome in counts.items():
        summary = ", ".join(f"{n} {o}" for o, n in sorted(by_outcome.items())) or "none"
        terminalreporter.write_line(f"{database}: {summary}")
