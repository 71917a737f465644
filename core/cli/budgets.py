"""``modeldesk budgets list|create|delete|status`` (docs/budgets.md)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.cli.base import _actor, _emit, _positive, _runtime, as_user
from core.config import Settings


def _budget_rows(session: Session, found: Sequence[Any]) -> list[dict[str, Any]]:
    from core.costs import usd
    from core.store.tables import Provider
    from core.usage import budgets

    names = dict(session.execute(select(Provider.id, Provider.name)).all()) if found else {}
    return [
        {
            "name": b.name,
            "scope": b.scope,
            "target": budgets.target_label(b, names.get(b.provider_id)),
            "amount": usd(b.amount_usd),
            "amount_usd": format(b.amount_usd, "f"),
            "window": budgets.window_label(b),
            "thresholds": ", ".join(f"{t} %" for t in b.thresholds),
        }
        for b in found
    ]


def cmd_budgets_list(args: argparse.Namespace, settings: Settings) -> int:
    from core.usage import budgets

    with _runtime(settings) as runtime, runtime.sessions() as session:
        rows = _budget_rows(
            session, budgets.list_budgets(session, viewer=_actor(session, args.as_user))
        )
    if args.format == "json":
        rows = [{k: v for k, v in r.items() if k != "amount"} for r in rows]
    _emit(
        rows,
        ("name", "target", "amount", "window", "thresholds"),
        args.format == "json",
        "No budgets.",
    )
    return 0


def cmd_budgets_create(args: argparse.Namespace, settings: Settings) -> int:
    from core.usage import budgets

    with _runtime(settings) as runtime, runtime.sessions.begin() as session:
        budget = budgets.create_budget(
            session,
            actor=_actor(session, args.as_user),
            name=args.name,
            scope=args.scope,
            amount_usd=args.amount,
            window=args.window,
            window_days=args.days,
            thresholds=args.thresholds,
            provider=args.provider,
            model_id=args.model,
            username=args.user,
            tag=args.tag,
        )
        [row] = _budget_rows(session, [budget])
    print(f"Created budget {row['name']}: {row['amount']} per {row['window']} for {row['target']}.")
    return 0


def cmd_budgets_delete(args: argparse.Namespace, settings: Settings) -> int:
    from core.usage import budgets

    with _runtime(settings) as runtime, runtime.sessions.begin() as session:
        actor = _actor(session, args.as_user)
        budget = budgets.find_budget(session, viewer=actor, name=args.name)
        name = budget.name
        budgets.delete_budget(session, actor=actor, budget_id=budget.id)
    print(f"Deleted budget {name}.")
    return 0


def cmd_budgets_status(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import UTC, datetime

    from core.costs import UNKNOWN, usd
    from core.usage import budget_status

    now = datetime.now(UTC)
    with _runtime(settings) as runtime, runtime.sessions.begin() as session:
        found = budget_status.evaluate(
            session,
            viewer=_actor(session, args.as_user),
            timezone=settings.timezone,
            now=now,
            names=args.names or None,
        )
    if args.format == "json":
        document = budget_status.document(found, timezone=settings.timezone, now=now)
        print(json.dumps(document, indent=2, ensure_ascii=False))
        return 0

    def known(st: Any, amount: Any) -> str:
        # spend with no priced request is unknown, not $0 (its requests are listed)
        unknown = st.totals.requests and st.unpriced_requests == st.totals.requests
        return UNKNOWN if unknown else usd(amount)

    rows = [
        {
            "name": st.name,
            "target": st.target,
            "window": f"{st.window.start} to {st.window.end} (excl.)",
            "amount": usd(st.amount_usd),
            "spent": known(st, st.spent_usd),
            "used": f"{st.share * 100:.1f} %",
            "forecast": known(st, st.forecast_usd),
            "unpriced": f"{st.unpriced_requests} requests" if st.unpriced_requests else "",
            "state": st.state,
        }
        for st in found
    ]
    _emit(rows, list(rows[0]) if rows else [], False, "No budgets.")
    if rows:
        print(f"Days in {settings.timezone}. Unpriced requests are not in the spend.")
    return 0


def add_commands(sub: Any, add: Callable[..., Any]) -> None:
    """`modeldesk budgets …`."""
    budgets_parser = sub.add_parser(
        "budgets",
        help="spending budgets and their status",
        description="Budgets: limits in USD per calendar month (in MODELDESK_TIMEZONE) or "
        "rolling N days over a provider, a model, a user or a tag value. Modeldesk is not in "
        "the request path: a budget is a view, it stops nothing.",
    )
    budgets_sub = budgets_parser.add_subparsers(dest="sub", metavar="COMMAND", required=True)

    def budget_format(cmd: Any) -> None:
        cmd.add_argument(
            "--format",
            choices=("table", "json"),
            default="table",
            help="output format (default: table)",
        )

    cmd = add(budgets_sub, "list", cmd_budgets_list, "List the budgets you may see.")
    budget_format(cmd)
    as_user(cmd)
    cmd = add(
        budgets_sub,
        "create",
        cmd_budgets_create,
        "Create a budget (admins). Thresholds (default 80,100) are percents of the amount "
        "whose crossing is alerted, once per window, in the audit log.",
    )
    cmd.add_argument("name", metavar="NAME", help="the budget's name")
    cmd.add_argument("--scope", required=True, choices=("provider", "model", "user", "tag"))
    cmd.add_argument("--amount", required=True, metavar="USD", help="the limit in dollars")
    cmd.add_argument("--provider", metavar="NAME", help="provider and model scopes: the record")
    cmd.add_argument("--model", metavar="MODEL_ID", help="model scope: the model id")
    cmd.add_argument("--user", metavar="USERNAME", help="user scope: the username")
    cmd.add_argument("--tag", metavar="KEY=VALUE", help="tag scope: the tag, like team=search")
    cmd.add_argument(
        "--window",
        choices=("month", "rolling"),
        default="month",
        help="the calendar month (default) or the last --days days",
    )
    cmd.add_argument("--days", type=_positive, metavar="N", help="rolling window: its days")
    cmd.add_argument("--thresholds", metavar="PERCENTS", help="alert thresholds, like 50,80,100")
    as_user(cmd)
    cmd = add(budgets_sub, "delete", cmd_budgets_delete, "Delete a budget (admins).")
    cmd.add_argument("name", metavar="NAME", help="the budget's name")
    as_user(cmd)
    cmd = add(
        budgets_sub,
        "status",
        cmd_budgets_status,
        "Each budget's spend in its current window (from the daily rollups), share used, "
        "straight-line forecast and state (ok, near, over); records threshold crossings "
        "not yet alerted. --format json is what a gateway can read (docs/budgets.md).",
    )
    cmd.add_argument("names", nargs="*", metavar="NAME", help="only these budgets")
    budget_format(cmd)
    as_user(cmd)
