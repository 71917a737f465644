"""``modeldesk db upgrade`` and ``modeldesk db current``: the database schema."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from core.config import Settings
from core.startup import open_engine, open_runtime
from core.store import db


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    runtime = open_runtime(settings, migrate=True)
    try:
        print(f"Database schema is at revision {db.current_revision(runtime.engine)} (head).")
    finally:
        runtime.dispose()
    return 0


def cmd_db_current(args: argparse.Namespace, settings: Settings) -> int:
    engine = open_engine(settings)
    try:
        with db.database_errors(settings.resolved_database_url):
            current, head = db.current_revision(engine), db.head_revision()
    finally:
        engine.dispose()
    state = "up to date" if current == head else "run `modeldesk db upgrade`"
    print(f"current: {current or '(empty database)'}\nhead:    {head}\n{state}")
    return 0


def add_commands(sub: Any, add: Callable[..., Any]) -> None:
    """`modeldesk db upgrade` and `modeldesk db current`."""
    dbp = sub.add_parser(
        "db", help="database schema commands", description="Database schema commands."
    )
    dbsub = dbp.add_subparsers(dest="db_command", metavar="COMMAND", required=True)
    add(dbsub, "upgrade", cmd_db_upgrade, "Apply pending migrations and print the revision.")
    add(dbsub, "current", cmd_db_current, "Print the schema revision and the newest known one.")
