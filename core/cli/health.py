"""``modeldesk check``: one health sweep now (for cron), stored and printed."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from core.cli.base import _emit, _positive, _runtime
from core.config import Settings
from core.probes import health


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value <= 120:
        raise argparse.ArgumentTypeError(f"expected seconds from 0 to 120, not {text!r}")
    return value


def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    with _runtime(settings) as runtime:
        results = health.check_providers(
            runtime, concurrency=args.concurrency, deadline_s=args.deadline
        )
    rows = [
        {
            "name": r.provider_name,
            "type": r.provider_type,
            "source": r.source,
            "status": r.status,
            "latency_ms": None if r.latency_ms is None else round(r.latency_ms),
            "reason": r.reason or "",
        }
        for r in results
    ]
    _emit(
        rows,
        ("name", "type", "source", "status", "latency_ms", "reason"),
        args.json,
        "No providers to check.",
    )
    if not args.json and rows:
        counts: dict[str, int] = {}
        for r in results:
            counts[r.status] = counts.get(r.status, 0) + 1
        print(
            f"Checked {len(rows)} provider(s): "
            + ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
            + "."
        )
    return 0  # down providers are reported, not an error of this command


def add_commands(sub: Any, add: Callable[..., Any]) -> None:
    """`modeldesk check`."""
    cmd = add(
        sub,
        "check",
        cmd_check,
        "Check every active provider and system provider once (a health sweep, for "
        "cron), store the results and print them. Exits 0 even when providers are "
        "down.",
    )
    cmd.add_argument(
        "--concurrency",
        type=_positive,
        default=16,
        metavar="N",
        help="providers probed at once (default: 16)",
    )
    cmd.add_argument(
        "--deadline",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help="hard deadline of one probe (default: MODELDESK_HEALTH_DEADLINE)",
    )
    cmd.add_argument("--json", action="store_true", help="print JSON instead of a table")
