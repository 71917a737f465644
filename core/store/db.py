"""Engine, session factory and schema migrations (Alembic, batch mode on SQLite)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DatabaseError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from core.config import ensure_folder
from core.errors import ConfigurationError, DatabaseUnavailableError, SchemaError
from core.store.crypto import Keyring

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 10_000
# How long a PostgreSQL connection may take to open (unless the URL sets connect_timeout):
# an address that drops packets, or a port that answers nothing, must fail the start with a
# message, not leave the page (or the CLI) waiting for minutes.
CONNECT_TIMEOUT_S = 10


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def normalise_url(url: str) -> str:
    """Make `postgresql://` mean psycopg 3 and reject schemes Modeldesk does not support."""
    try:
        parsed = make_url(url)
    except Exception:
        raise ConfigurationError("MODELDESK_DATABASE_URL is not a valid database URL.") from None
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    if backend == "sqlite":
        return url
    raise ConfigurationError(
        f"Unsupported database {backend!r}: use sqlite:///path or postgresql+psycopg://..."
    )


def create_db_engine(url: str) -> Engine:
    """An engine for SQLite (WAL, busy timeout, foreign keys) or PostgreSQL (psycopg 3)."""
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            ensure_folder(Path(parsed.database).parent, "MODELDESK_DATABASE_URL")
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    connect_args = (
        {} if "connect_timeout" in parsed.query else {"connect_timeout": CONNECT_TIMEOUT_S}
    )
    return create_engine(
        url, pool_pre_ping=True, pool_size=5, max_overflow=10, connect_args=connect_args
    )


# What the driver says, in words a person can act on. Matched on the driver's message in
# lower case; the message itself is never shown (it may quote the server's words).
_SERVER_TROUBLE = (
    (("connection refused",), "the connection was refused (is the server running there?)"),
    (("timeout", "timed out"), "the server did not answer in time"),
    (
        (
            "could not translate host name",
            "name or service not known",
            "nodename nor servname",
            "temporary failure in name resolution",
        ),
        "the host name cannot be resolved",
    ),
    (
        (
            "password authentication failed",
            "authentication failed",
            "no password supplied",
            "no pg_hba.conf entry",
        ),
        "the server refused the user name or password",
    ),
    (("does not exist",), "the server has no such database or user"),
    (("too many connections", "remaining connection slots"), "the server has no free connection"),
)
# A connection that was open and went away mid-use (failover, restart, a reaper, a proxy).
_LOST = (
    "terminating connection",
    "server closed the connection",
    "connection already closed",
    "the connection is closed",
    "the connection is lost",
    "ssl connection has been closed",
    "connection reset",
    "broken pipe",
)
_FILE_TROUBLE = (
    (
        ("unable to open database file",),
        "cannot be opened: check that it is in a folder Modeldesk may write to",
    ),
    (("readonly database", "read-only"), "is read-only for Modeldesk"),
    (("disk i/o error",), "cannot be read or written (a disk error)"),
    (("database or disk is full",), "cannot grow: the disk is full"),
)


def unavailable(exc: DatabaseError, url: str) -> DatabaseUnavailableError | None:
    """The person-readable error for a database that cannot be reached or opened, or None
    when the driver's error is about something else (a bad statement, a broken rule)."""
    parsed = make_url(url)
    said = str(exc.orig or exc).lower()
    if parsed.get_backend_name() == "sqlite":
        where = parsed.database or ":memory:"
        if type(exc.orig) is sqlite3.DatabaseError:  # not a database, or damaged
            return DatabaseUnavailableError(
                f"The database file {where} is not a SQLite database, or it is damaged. "
                "Restore it from a backup, or point MODELDESK_DATABASE_URL at the right "
                "file."
            )
        if not isinstance(exc, OperationalError):
            return None
        if "database is locked" in said:  # a transient wait for the write lock ran out
            return DatabaseUnavailableError(
                "The database is busy with other writes, so this action did not complete and "
                "nothing was saved. Try again in a moment."
            )
        reason = next(
            (r for keys, r in _FILE_TROUBLE if any(k in said for k in keys)), "cannot be used"
        )
        return DatabaseUnavailableError(f"The database file {where} {reason}.")
    if not isinstance(exc, OperationalError):
        return None
    if any(k in said for k in _LOST):
        return DatabaseUnavailableError(
            "The connection to the database was lost, so this action did not complete and "
            "nothing was saved. Try again; if it keeps failing, check the database server."
        )
    reason = next(
        (r for keys, r in _SERVER_TROUBLE if any(k in said for k in keys)),
        "the server cannot be reached",
    )
    shown = parsed.render_as_string(hide_password=True)
    return DatabaseUnavailableError(
        f"Cannot use the database {shown}: {reason}. Check MODELDESK_DATABASE_URL."
    )


@contextmanager
def database_errors(url: str) -> Iterator[None]:
    """Turn a database that cannot be reached or opened into a DatabaseUnavailableError."""
    try:
        yield
    except DatabaseError as exc:
        translated = unavailable(exc, url)
        if translated is None:
            raise
        raise translated from None


def session_factory(engine: Engine, keyring: Keyring) -> sessionmaker[Session]:
    """Sessions that carry the keyring (``session.info['keyring']``) for the vault."""
    return sessionmaker(bind=engine, expire_on_commit=False, info={"keyring": keyring})


def _alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = engine
    return cfg


def head_revision() -> str:
    """The newest migration this code knows."""
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    heads = script.get_heads()
    if len(heads) != 1:
        raise SchemaError(f"Migrations have {len(heads)} heads; expected one.")
    return heads[0]


def current_revision(engine: Engine) -> str | None:
    """The schema revision the database is at (None for an empty database)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def check_schema(engine: Engine, *, allow_behind: bool = True) -> str | None:
    """Refuse a database whose schema is newer than (unknown to) this code."""
    current = current_revision(engine)
    if current is None:
        if not allow_behind:
            raise SchemaError(
                "The database has no Modeldesk schema yet: run `modeldesk db upgrade`."
            )
        return None
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    try:
        script.get_revision(current)
    except Exception:
        raise SchemaError(
            f"The database schema (revision {current}) is newer than this Modeldesk "
            "understands. Upgrade Modeldesk before using this database."
        ) from None
    if not allow_behind and current != head_revision():
        raise SchemaError("The database schema is out of date: run `modeldesk db upgrade`.")
    return current


def upgrade(engine: Engine) -> None:
    """Apply every pending migration."""
    check_schema(engine)
    command.upgrade(_alembic_config(engine), "head")


def has_table(engine: Engine, name: str) -> bool:
    """True if the database already has the table."""
    return inspect(engine).has_table(name)
