"""``modeldesk rotate-keys``: re-encrypt every stored secret with the current key."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from core.cli.base import _positive, _runtime
from core.config import Settings
from core.store import rotation


def cmd_rotate_keys(args: argparse.Namespace, settings: Settings) -> int:
    def after_batch(column: str, rows: int) -> None:
        print(f"  {column}: {rows} row(s) checked", file=sys.stderr)

    with _runtime(settings) as runtime:
        report = rotation.rotate_keys(
            runtime.sessions, runtime.keyring, batch_size=args.batch_size, after_batch=after_batch
        )
    print(
        f"Re-encrypted {report.reencrypted} secret(s); {report.already_current} already "
        "used the current key."
    )
    for column, count in sorted(report.by_column.items()):
        print(f"  {column}: {count}")
    if getattr(report, "undecryptable", 0):
        print(f"{report.undecryptable} secret(s) cannot be decrypted and need re-entry.")
    for key_id in report.forgotten_key_ids:
        print(
            f"Key {key_id} is no longer used: it can be removed from MODELDESK_RETIRED_SECRET_KEYS."
        )
    for key_id, count in sorted(report.retired_still_used.items()):
        print(
            f"Retired key {key_id} is still used by {count} value(s) written meanwhile; "
            "keep it configured and run rotate-keys again."
        )
    return 1 if report.retired_still_used else 0


def add_commands(sub: Any, add: Callable[..., Any]) -> None:
    """`modeldesk rotate-keys`."""
    cmd = add(
        sub,
        "rotate-keys",
        cmd_rotate_keys,
        "Re-encrypt every stored secret with the current MODELDESK_SECRET_KEY.",
    )
    cmd.add_argument(
        "--batch-size",
        type=_positive,
        default=200,
        metavar="N",
        help="rows per transaction (default: 200)",
    )
