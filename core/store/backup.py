"""SQLite backups: a consistent copy of a live database file (SQLite's online backup API,
safe while the console writes), and the checks a file must pass before it is restored.

PostgreSQL is backed up with its own tools (``pg_dump -Fc`` / ``pg_restore``, see
docs/operations.md). Neither kind of backup holds the secret key: the sealed columns are
copied as ciphertext and open only with the MODELDESK_SECRET_KEY they were written with.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

from core.errors import ConfigurationError, ValidationError
from core.store import db

SQLITE_HEADER = b"SQLite format 3\x00"
# Tables every Modeldesk database fills by itself (the schema version, the key canary):
# a database with rows in no other table holds nothing a restore could lose.
BOOKKEEPING = frozenset({"alembic_version", "key_canaries"})
# What the summary of a backup or a restore counts, by table.
COUNTED = (
    ("users", "user(s)"),
    ("providers", "provider(s)"),
    ("models", "model(s)"),
    ("usage_events", "usage event(s)"),
    ("audit_events", "audit event(s)"),
)


def sqlite_file(url: str, command: str) -> Path:
    """The database file of a SQLite URL; any other database is refused with where its
    backup is documented."""
    parsed = make_url(db.normalise_url(url))
    if parsed.get_backend_name() != "sqlite":
        raise ConfigurationError(
            f"modeldesk {command} works on SQLite databases; back up and restore PostgreSQL "
            "with pg_dump -Fc and pg_restore (see docs/operations.md)."
        )
    if not parsed.database or parsed.database == ":memory:":
        raise ConfigurationError(f"modeldesk {command} needs a SQLite database file.")
    return Path(parsed.database)


@contextlib.contextmanager
def _connect(path: Path) -> Iterator[sqlite3.Connection]:
    # Not read-only: a database in WAL mode may need its -shm file created to be read.
    conn = sqlite3.connect(str(path), timeout=db.SQLITE_BUSY_TIMEOUT_MS / 1000)
    try:
        yield conn
    finally:
        conn.close()


def _create_private(path: Path) -> None:
    """Create an empty file only its owner may read (a backup holds password hashes and
    sealed provider keys)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)


def copy(source: Path, target: Path, *, single_file: bool = True) -> None:
    """Copy a SQLite database into ``target`` with the online backup API: a consistent
    snapshot even while other connections write. A new target is created with mode 0600;
    ``single_file`` leaves it out of WAL mode, so the one file is the whole database."""
    if not target.exists():
        _create_private(target)
    with _connect(source) as src, _connect(target) as dst:
        src.backup(dst)
        if single_file:
            dst.execute("PRAGMA journal_mode=DELETE")


def counts(path: Path) -> dict[str, int]:
    """Rows per table of a SQLite database file (only tables that exist)."""
    with _connect(path) as conn:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {n: conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}


def holds_data(path: Path) -> dict[str, int]:
    """The tables of an existing database that hold rows of their own (empty: nothing a
    restore over it would lose; a file SQLite cannot read counts as holding data)."""
    if not path.exists() or path.stat().st_size == 0:
        return {}
    try:
        return {t: n for t, n in counts(path).items() if n and t not in BOOKKEEPING}
    except sqlite3.DatabaseError:
        return {"(a file SQLite cannot read)": 1}


def summary(table_counts: dict[str, int]) -> str:
    """'2 user(s), 3 provider(s), ...' of the tables a person cares about."""
    return ", ".join(f"{table_counts.get(t, 0)} {label}" for t, label in COUNTED)


def check_backup(path: Path, shown: str | None = None) -> str:
    """The schema revision of a file that is a readable Modeldesk SQLite database at a
    revision this code knows; a ValidationError says what else it is (naming the file as
    ``shown``, when ``path`` is a working copy of it)."""
    shown = shown or str(path)
    try:
        with path.open("rb") as fh:
            header = fh.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        raise ValidationError(f"{shown}: no such file.", field="file") from None
    except OSError as exc:
        raise ValidationError(
            f"{shown} cannot be read ({exc.strerror or type(exc).__name__}).", field="file"
        ) from None
    if header != SQLITE_HEADER:
        raise ValidationError(f"{shown} is not a SQLite database file.", field="file")
    try:
        with _connect(path) as conn:
            (check,) = conn.execute("PRAGMA quick_check").fetchone()
            if check != "ok":
                raise ValidationError(f"{shown} is damaged (SQLite: {check[:80]}).", field="file")
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            if "alembic_version" not in tables or "key_canaries" not in tables:
                raise ValidationError(
                    f"{shown} is a SQLite database but not a Modeldesk one (it has no schema "
                    "version or key canary).",
                    field="file",
                )
            rows = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    except sqlite3.DatabaseError:
        raise ValidationError(
            f"{shown} is damaged or not a SQLite database.", field="file"
        ) from None
    if len(rows) != 1:
        raise ValidationError(f"{shown} has no single schema version.", field="file")
    revision = str(rows[0][0])
    try:
        ScriptDirectory(str(db.MIGRATIONS_DIR)).get_revision(revision)
    except Exception:  # noqa: BLE001 - alembic's error for an unknown id varies by version
        raise ValidationError(
            f"{shown} is at schema revision {revision[:20]!r}, which this Modeldesk does not "
            "know (a newer version made it): use that version, or a newer one.",
            field="file",
        ) from None
    return revision
