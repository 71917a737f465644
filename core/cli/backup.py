"""``modeldesk backup FILE`` and ``modeldesk restore FILE``: SQLite databases, copied with
the online backup API (PostgreSQL: pg_dump / pg_restore, docs/operations.md).

Restore checks everything on a working copy beside the database before the database is
touched: the file is a Modeldesk database at a schema revision this code knows, the
configured secret key opens its secrets (the key canaries), and it is migrated up when
older. Only then is the copy written over the database, which must hold nothing yet unless
``--force``. Neither command reads or writes the secret key.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.config import Settings, ensure_folder
from core.errors import KeyringError, ValidationError
from core.startup import open_runtime
from core.store import backup, db

KEEP_THE_KEY = (
    "The backup does not hold the secret key: keep MODELDESK_SECRET_KEY (and any "
    "MODELDESK_RETIRED_SECRET_KEYS) separately; restoring needs it."
)


def _scratch(beside: Path, purpose: str) -> Path:
    """A hidden working file in the same folder (so the final rename stays on one disk)."""
    return beside.parent / f".{beside.name}.{purpose}-{uuid.uuid4().hex[:8]}"


def _remove(path: Path) -> None:
    for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()


def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    source = backup.sqlite_file(settings.resolved_database_url, "backup")
    if not source.is_file():
        raise ValidationError(f"There is no database at {source} to back up.", field="database")
    revision = backup.check_backup(source)
    target = Path(args.file)
    if target.exists() and target.resolve() == source.resolve():
        raise ValidationError("The backup file cannot be the database itself.", field="file")
    if target.exists() and not args.force:
        raise ValidationError(
            f"{target} already exists; choose another name or add --force to replace it.",
            field="file",
        )
    if not target.parent.is_dir():
        raise ValidationError(f"The folder {target.parent} does not exist.", field="file")
    partial = _scratch(target, "partial")
    try:
        backup.copy(source, partial)
        partial.replace(target)  # a half-written backup never carries the final name
    finally:
        _remove(partial)
    print(
        f"Backed up {source} (schema revision {revision}: "
        f"{backup.summary(backup.counts(target))}) to {target} (mode 0600)."
    )
    print(KEEP_THE_KEY)
    return 0


def cmd_restore(args: argparse.Namespace, settings: Settings) -> int:
    target = backup.sqlite_file(settings.resolved_database_url, "restore")
    source = Path(args.file)
    if not source.is_file():
        raise ValidationError(f"{source}: no such file.", field="file")
    held = backup.holds_data(target)
    held_text = ", ".join(f"{n} row(s) in {t}" for t, n in sorted(held.items()))
    if held and not args.force:
        raise ValidationError(
            f"The database {target} already holds data ({held_text}); restore "
            "refuses to replace it without --force. Back it up first if you may need it.",
            field="database",
        )
    ensure_folder(target.parent, "MODELDESK_DATABASE_URL")
    work = _scratch(target, "restore")
    try:
        shutil.copyfile(source, work)  # the given file itself is only read
        work.chmod(0o600)
        revision = backup.check_backup(work, shown=str(source))
        opened = dataclasses.replace(settings, database_url=f"sqlite:///{work}")
        try:  # checks the key canaries, then migrates the copy up to this code's schema
            runtime = open_runtime(opened, migrate=True, bootstrap=False)
        except KeyringError as exc:
            raise KeyringError(
                f"{source} was not made with the configured secret key, so restore refuses "
                f"it and leaves {target} as it was. {exc}"
            ) from None
        runtime.dispose()
        backup.copy(work, target, single_file=False)
    finally:
        _remove(work)
    head = db.head_revision()
    moved = f"schema revision {revision}" + (f", migrated to {head}" if revision != head else "")
    print(f"Restored {source} ({moved}) into {target}: {backup.summary(backup.counts(target))}.")
    return 0


def add_commands(sub: Any, add: Callable[..., Any]) -> None:
    """The backup and restore subcommands, on the main parser's subparsers."""
    cmd = add(
        sub,
        "backup",
        cmd_backup,
        "Copy the SQLite database to FILE (mode 0600) while the console may keep running "
        "(SQLite's online backup API). The secret key is not in the backup: keep it "
        "separately. PostgreSQL: use pg_dump -Fc (docs/operations.md).",
    )
    cmd.add_argument("file", metavar="FILE", help="the backup file to write")
    cmd.add_argument("--force", action="store_true", help="replace FILE if it exists")
    cmd = add(
        sub,
        "restore",
        cmd_restore,
        "Restore the SQLite database from a backup FILE. The file must be a Modeldesk "
        "database at a known schema revision whose secrets the configured "
        "MODELDESK_SECRET_KEY opens; an older one is migrated up. Refuses a database that "
        "already holds data unless --force. Stop the console first. PostgreSQL: use "
        "pg_restore (docs/operations.md).",
    )
    cmd.add_argument("file", metavar="FILE", help="a file made by `modeldesk backup`")
    cmd.add_argument(
        "--force", action="store_true", help="replace a database that already holds data"
    )
