"""Engine, session factory and schema migrations (Alembic, batch mode on SQLite)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from core.crypto import Keyring
from core.errors import ConfigurationError, SchemaError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 10_000


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
        f"Unsupported database {backend!r}: use sqlite:///path or postgresql+psycopg://...")


def create_db_engine(url: str) -> Engine:
    """An engine for SQLite (WAL, busy timeout, foreign keys) or PostgreSQL (psycopg 3)."""
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


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
            raise SchemaError("The database has no Modeldesk schema yet: run "
                              "`modeldesk db upgrade`.")
        return None
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    try:
        script.get_revision(current)
    except Exception:
        raise SchemaError(
            f"The database schema (revision {current}) is newer than this Modeldesk "
            "understands. Upgrade Modeldesk before using this database.") from None
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
