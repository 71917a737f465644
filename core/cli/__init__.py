"""The ``modeldesk`` command: the parser, the entry point, and one module per command group.

    base        what commands share: runtime, acting user, tables, argument types
    db          db upgrade, db current           users      create-admin
    providers   providers list                   models     models list, models best
    records     import, export                   keys       rotate-keys
    health      check                            usage      usage import/summary/...
    tokens      usage tokens create/list/revoke  quality    quality import, coverage
    budgets     budgets list/create/delete/status
    bootstrap   demo, bootstrap                  backup     backup, restore (SQLite)

Parsing and printing only; the work is done by ``core`` services. Exit codes: 0 ok,
1 a ModeldeskError (one ``modeldesk: error: ...`` line on stderr), 2 usage, 130 interrupted.
A new command goes in its group's module, with its parser lines in that module's
``add_commands``; ``build_parser`` calls the ``GROUPS`` in the order ``--help`` lists them.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import traceback
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from sqlalchemy.exc import OperationalError

from core.cli import (
    backup,
    bootstrap,
    budgets,
    db,
    health,
    keys,
    models,
    providers,
    quality,
    records,
    usage,
    users,
)
from core.cli.base import PROG
from core.config import Settings, load_settings
from core.errors import ModeldeskError
from core.store.db import unavailable

# The command groups, in the order `modeldesk --help` lists their commands.
GROUPS: tuple[ModuleType, ...] = (
    db,
    users,
    providers,
    models,
    records,
    keys,
    health,
    usage,
    quality,
    budgets,
    bootstrap,
    backup,
)


def build_parser() -> argparse.ArgumentParser:
    """The argparse tree of every subcommand."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--database-url",
        default=argparse.SUPPRESS,
        metavar="URL",
        help="database to use instead of MODELDESK_DATABASE_URL",
    )
    parser = argparse.ArgumentParser(
        prog=PROG, parents=[common], description="Manage a Modeldesk installation."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(parent: Any, name: str, func: Callable[..., int], text: str) -> Any:
        summary = text.split(". ")[0].rstrip(".")  # the listing shows the first sentence
        cmd = parent.add_parser(name, parents=[common], help=summary, description=text)
        cmd.set_defaults(func=func)
        return cmd

    for group in GROUPS:
        group.add_commands(sub, add)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the modeldesk command; returns the exit code."""
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.WARNING, stream=sys.stderr, format=f"{PROG}: %(levelname)s: %(message)s"
        )
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else 2
    if not hasattr(args, "func"):
        parser.print_help(sys.stderr)
        return 2
    settings: Settings | None = None
    try:
        settings = load_settings()
        if getattr(args, "database_url", None):
            settings = dataclasses.replace(settings, database_url=args.database_url)
        return args.func(args, settings)
    except KeyboardInterrupt:
        print(f"\n{PROG}: interrupted", file=sys.stderr)
        return 130
    except ModeldeskError as exc:
        lines = str(exc).splitlines() or [type(exc).__name__]
        print(f"{PROG}: error: {lines[0]}", *lines[1:], sep="\n", file=sys.stderr)
        return 1
    except OperationalError as exc:  # the database went away while a command ran
        url = settings.resolved_database_url if settings else "sqlite://"
        print(f"{PROG}: error: {unavailable(exc, url)}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, no secrets
        print(
            f"{PROG}: internal error ({type(exc).__name__}); run with MODELDESK_DEBUG=1 "
            "for details",
            file=sys.stderr,
        )
        if settings is not None and settings.debug:
            traceback.print_exc()
        return 1
