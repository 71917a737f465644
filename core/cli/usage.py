"""``modeldesk usage …``: import, summarize, rebuild the rollups, reprice and prune the
usage ledger (ingest tokens in ``core.cli.tokens``)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from core.cli import tokens
from core.cli.base import PROG, _actor, _provider_mapping, _runtime, _table, as_user, period
from core.config import Settings
from core.errors import ValidationError
from core.terminal import ProgressBar


def _grouping(text: str) -> str:
    from core.usage.summary import check_grouping

    try:
        return check_grouping(text)
    except ValidationError as exc:
        raise argparse.ArgumentTypeError(str(exc).rstrip(".")) from None


def cmd_usage_import(args: argparse.Namespace, settings: Settings) -> int:
    from core.usage import formats  # imported only when used (loads the model catalog)

    text = formats.read_file(Path(args.file), max_bytes=settings.import_max_bytes)
    with (
        ProgressBar(sys.stderr) as progress,
        _runtime(settings) as runtime,
        runtime.sessions.begin() as session,
    ):
        report = formats.import_text(
            session,
            text,
            timezone=settings.timezone,
            all_or_nothing=args.all_or_nothing,
            format=args.format,
            providers=dict(args.provider or []) or None,
            progress=progress,
            retention_days=settings.usage_retention_days,
        )
        _warn_zone(session, settings)
    for bad in report.bad[: formats.MAX_REPORTED]:
        print(f"{PROG}: {args.file}: {bad}", file=sys.stderr)
    if len(report.bad) > formats.MAX_REPORTED:
        print(
            f"{PROG}: {args.file}: {len(report.bad) - formats.MAX_REPORTED} more bad line(s)",
            file=sys.stderr,
        )
    print(f"Imported {args.file}: {report.summary()}.")
    return 1 if report.bad else 0


def cmd_usage_summary(args: argparse.Namespace, settings: Settings) -> int:
    import csv

    from core.accounts.audit import csv_cell
    from core.costs import UNKNOWN, usd
    from core.usage import summary, zones

    with _runtime(settings) as runtime, runtime.sessions() as session:
        groups = summary.summarize(
            session, date_from=args.date_from, date_to=args.date_to, by=args.by
        )
        days_in = zones.rollup_zone(session) or settings.timezone
        _warn_zone(session, settings)
    labels = summary.label_columns(args.by)
    metrics = summary.metric_columns(groups)
    rows = [g.as_dict() for g in groups]
    grand = summary.Group({c: "" for c in labels}, summary.total(groups))
    if args.format == "json":
        print(
            json.dumps(
                {
                    "from": args.date_from.isoformat(),
                    "to": args.date_to.isoformat(),
                    "by": args.by,
                    "timezone": days_in,
                    "groups": [{k: r[k] for k in (*labels, *metrics)} for r in rows],
                    "total": {k: grand.as_dict()[k] for k in metrics},
                },
                indent=2,
                ensure_ascii=False,
            )
        )
    elif args.format == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow([*labels, *metrics])
        for row in rows:
            writer.writerow([csv_cell(str(row[c])) for c in labels] + [row[m] for m in metrics])
    elif not rows:
        print(f"No usage from {args.date_from} to {args.date_to} (exclusive).")
    else:
        # A group with no priced request has no known cost, not a cost of $0; a group with no
        # source cost has none to compare.
        shown = [
            {
                **g.as_dict(),
                "cost_usd": UNKNOWN
                if g.totals.requests and g.totals.unpriced_requests == g.totals.requests
                else usd(g.totals.cost_usd),
                "source_cost_usd": usd(g.totals.source_cost_usd)
                if g.totals.source_costed_requests
                else UNKNOWN,
            }
            for g in (*groups, grand)
        ]
        shown[-1][labels[0]] = "TOTAL"
        print(_table(shown, [*labels, *metrics]))
    return 0


def _warn_zone(session: Session, settings: Settings) -> None:
    """Say on stderr when the rollups are in another zone than MODELDESK_TIMEZONE."""
    from core.usage import zones

    note = zones.mismatch(session, settings.timezone)
    if note:
        print(f"{PROG}: warning: {note}.", file=sys.stderr)


def cmd_usage_rebuild_rollups(args: argparse.Namespace, settings: Settings) -> int:
    from core.usage import zones

    with _runtime(settings) as runtime, runtime.sessions.begin() as session:
        actor = _actor(session, args.as_user)
        result = zones.rebuild(session, actor=actor, timezone=settings.timezone)
    print(f"Done: {result.summary()}.")
    return 0


def cmd_usage_reprice(args: argparse.Namespace, settings: Settings) -> int:
    from core.usage import reprice

    with _runtime(settings) as runtime, runtime.sessions.begin() as session:
        actor = _actor(session, args.as_user)
        record = (
            reprice.find_record(session, provider=args.provider, model_id=args.model)
            if args.provider
            else None
        )
        result = reprice.reprice(
            session,
            actor=actor,
            date_from=args.date_from,
            date_to=args.date_to,
            model_id=None if record else args.model,
            model_record=record,
        )
    print(f"Repriced {args.model}: {result.summary()}.")
    return 0


def cmd_usage_prune(args: argparse.Namespace, settings: Settings) -> int:
    from core.usage import retention

    with _runtime(settings) as runtime:
        result = retention.prune(
            runtime.sessions, retention_days=settings.usage_retention_days, dry_run=args.dry_run
        )
    print(f"{result.summary()}.")
    return 0


def add_commands(sub: Any, add: Callable[..., Any]) -> None:
    """`modeldesk usage …` (its ingest tokens from ``core.cli.tokens``)."""
    usage = sub.add_parser(
        "usage",
        help="the usage ledger",
        description="The usage ledger: import, summarize, reprice, prune, rebuild the "
        "rollups; ingest tokens.",
    )
    usage_sub = usage.add_subparsers(dest="sub", metavar="COMMAND", required=True)
    cmd = add(
        usage_sub,
        "import",
        cmd_usage_import,
        "Import usage events from a Modeldesk CSV (with a header) or JSONL file, from "
        "OpenTelemetry GenAI spans in an OTLP JSON Lines file (the file exporter's), or from "
        "LiteLLM's logging payloads (StandardLoggingPayload, one per line; LiteLLM's "
        "response_cost is kept beside Modeldesk's cost). "
        "Each event is priced at ingest and stored once: importing a file again stores "
        "nothing new. Bad lines are reported with their line number; exits 1 if any. A file "
        "larger than MODELDESK_IMPORT_MAX_BYTES (default 32 MiB) is refused whole.",
    )
    cmd.add_argument("file", metavar="FILE", help="a .csv or .jsonl file")
    cmd.add_argument(
        "--format",
        choices=("auto", "modeldesk", "otlp", "litellm"),
        default="auto",
        help="file format (default: auto, Modeldesk CSV or JSONL, OTLP JSON or LiteLLM "
        "payloads, by content)",
    )
    cmd.add_argument(
        "--provider",
        action="append",
        type=_provider_mapping,
        metavar="[SYSTEM=]NAME",
        help="OTLP and LiteLLM: the provider record for every span or call (NAME), or for "
        "those whose gen_ai.provider.name / custom_llm_provider is SYSTEM (repeatable); "
        "default: by server address, then by type",
    )
    cmd.add_argument(
        "--all-or-nothing", action="store_true", help="store nothing when any line is bad"
    )
    cmd = add(
        usage_sub,
        "summary",
        cmd_usage_summary,
        "Usage totals per group over a period, from the daily rollups (days in "
        "MODELDESK_TIMEZONE; --from inclusive, --to exclusive). LiteLLM's own cost "
        "(source_cost_usd, source_costed_requests) is a column when the period has any. "
        "After MODELDESK_TIMEZONE changed, it warns that the days are still the old zone's "
        "until `usage rebuild-rollups`.",
    )
    period(cmd)
    cmd.add_argument(
        "--by",
        type=_grouping,
        default="day",
        metavar="GROUP",
        help="day, provider, model, user or tag:KEY (default: day)",
    )
    cmd.add_argument(
        "--format",
        choices=("table", "csv", "json"),
        default="table",
        help="output format (default: table)",
    )
    cmd = add(
        usage_sub,
        "rebuild-rollups",
        cmd_usage_rebuild_rollups,
        "Rebuild the daily rollups in MODELDESK_TIMEZONE from the raw events, in one "
        "transaction (every event's day recomputed; audited). Needed after the setting "
        "changed: until then usage keeps being counted in the zone the rollups were built in.",
    )
    as_user(cmd)
    cmd = add(
        usage_sub,
        "reprice",
        cmd_usage_reprice,
        "Recompute the stored cost of one model's events with the current prices "
        "(the model record's, else the catalog's price in effect on each event's "
        "date); the rollups follow and an audit event keeps the old and new totals.",
    )
    cmd.add_argument(
        "--model",
        required=True,
        metavar="MODEL_ID",
        help="the model id whose events to reprice (every provider)",
    )
    cmd.add_argument(
        "--provider", metavar="NAME", help="only the events of this provider record's model record"
    )
    period(cmd)
    as_user(cmd)
    cmd = add(
        usage_sub,
        "prune",
        cmd_usage_prune,
        "Remove raw usage events older than MODELDESK_USAGE_RETENTION_DAYS (unset: keep "
        "forever, nothing is removed): on PostgreSQL by dropping each monthly partition that "
        "lies entirely before the horizon, on SQLite by deleting in batches. The daily "
        "rollups, and so every summary, are kept.",
    )
    cmd.add_argument("--dry-run", action="store_true", help="only say what would be removed")
    tokens.add_commands(usage_sub, add)
