"""What the ``modeldesk`` commands share: the runtime a command opens, the user it acts as,
plain-text tables, the argument types and the options several commands take."""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from core.accounts import users
from core.config import Settings
from core.errors import NotFoundError, PermissionDeniedError
from core.startup import Runtime, open_runtime
from core.store.tables import User

PROG = "modeldesk"
log = logging.getLogger(PROG)


@contextmanager
def _runtime(settings: Settings, *, migrate: bool = False) -> Iterator[Runtime]:
    runtime = open_runtime(settings, migrate=migrate, bootstrap=False, zone_warning=False)
    try:
        yield runtime
    finally:
        runtime.dispose()


def _actor(session: Session, username: str | None) -> User:
    """The user a command acts as: --as USERNAME, else the first admin."""
    if username:
        user = users.require_user(session, username)
        if not user.active:
            raise PermissionDeniedError(f"The account {user.username} is deactivated.")
        return user
    admin = users.first_admin(session)
    if admin is None:
        raise NotFoundError("There is no admin yet; create one with `modeldesk create-admin`.")
    return admin


def _table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    cells = [[("" if r.get(c) is None else str(r[c])) for c in columns] for r in rows]
    widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(columns)]
    lines = [[c.upper() for c in columns], *cells]
    return "\n".join(
        "  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip() for line in lines
    )


def _emit(rows: list[dict[str, Any]], columns: Sequence[str], as_json: bool, empty: str) -> None:
    if as_json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
    elif rows:
        print(_table(rows, columns))
    else:
        print(empty)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, not {text!r}")
    return value


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, not {text!r}") from None


def _provider_mapping(text: str) -> tuple[str | None, str]:
    system, sep, name = text.rpartition("=")
    if not name.strip() or (sep and not system.strip()):
        raise argparse.ArgumentTypeError(f"expected NAME or SYSTEM=NAME, not {text!r}")
    return (system.strip().lower() if sep else None), name.strip()


def as_user(cmd: Any) -> None:
    cmd.add_argument(
        "--as",
        dest="as_user",
        metavar="USERNAME",
        help="act as this user (default: the first admin)",
    )


def period(cmd: Any) -> None:
    """--from (inclusive) and --to (exclusive), as days."""
    cmd.add_argument(
        "--from",
        dest="date_from",
        type=_day,
        required=True,
        metavar="DATE",
        help="first day, YYYY-MM-DD",
    )
    cmd.add_argument(
        "--to",
        dest="date_to",
        type=_day,
        required=True,
        metavar="DATE",
        help="day after the last, YYYY-MM-DD",
    )
