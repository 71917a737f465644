"""``modeldesk providers list``: provider records by priority (keys only as …last4)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from core.cli.base import _actor, _emit, _runtime, as_user
from core.config import Settings
from core.records import providers


def cmd_providers_list(args: argparse.Namespace, settings: Settings) -> int:
    with _runtime(settings) as runtime, runtime.sessions() as session:
        actor = _actor(session, args.as_user)
        views = providers.list_providers(session, user=actor, manage=actor.is_admin)
    rows = [
        {
            "name": v.name,
            "type": v.provider_type,
            "scope": v.scope,
            "status": v.status,
            "priority": v.priority,
            "key": v.key_hint or "-",
            "owner": v.owner,
            "models": v.model_count,
            "base_url": v.base_url,
        }
        for v in views
    ]
    columns = ("name", "type", "scope", "status", "priority", "key", "owner", "models")
    _emit(rows, columns, args.json, "No providers.")
    return 0


def add_commands(sub: Any, add: Callable[..., Any]) -> None:
    """`modeldesk providers list`."""
    prov = sub.add_parser("providers", help="provider records", description="Provider records.")
    cmd = add(
        prov.add_subparsers(dest="sub", metavar="COMMAND", required=True),
        "list",
        cmd_providers_list,
        "List providers by priority (keys only as …last4).",
    )
    cmd.add_argument("--json", action="store_true", help="print JSON instead of a table")
    as_user(cmd)
