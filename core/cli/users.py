"""``modeldesk create-admin``: an admin account, its password from the settings, a
terminal prompt or stdin."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from typing import Any

from core.accounts import users
from core.cli.base import _runtime
from core.config import Settings
from core.errors import ValidationError


def _read_password(settings: Settings) -> str:
    if settings.admin_password:
        print("Using the password from MODELDESK_ADMIN_PASSWORD.", file=sys.stderr)
        return settings.admin_password
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        users.check_password(first)
        if getpass.getpass("Repeat the password: ") != first:
            raise ValidationError("The two passwords differ.", field="password")
        return first
    line = sys.stdin.readline()
    return line.rstrip("\r\n")


def cmd_create_admin(args: argparse.Namespace, settings: Settings) -> int:
    username = users.check_username(args.username)
    try:
        password = users.check_password(_read_password(settings))
    except ValidationError as exc:  # say the rules, never the password
        raise ValidationError(
            f"{exc} Passwords need {users.PASSWORD_RULES}.", field="password"
        ) from None
    with _runtime(settings) as runtime, runtime.sessions.begin() as session:
        user = users.create_user(
            session,
            username=username,
            password=password,
            role="admin",
            display_name=args.display_name,
            email=args.email,
        )
    print(f"Created admin {user.username}.")
    return 0


def add_commands(sub: Any, add: Callable[..., Any]) -> None:
    """`modeldesk create-admin`."""
    cmd = add(
        sub,
        "create-admin",
        cmd_create_admin,
        "Create an admin account. The password is read from MODELDESK_ADMIN_PASSWORD, "
        "else prompted twice on a terminal, else read as one line from stdin. "
        f"Passwords need {users.PASSWORD_RULES}.",
    )
    cmd.add_argument("--username", required=True, help="login name")
    cmd.add_argument("--display-name", help="name shown in the console (default: username)")
    cmd.add_argument("--email", help="email address")
