"""The ``modeldesk`` command: database, admin, listings, import/export, key rotation.

Parsing and printing only; the work is done by ``core`` services. Exit codes: 0 ok,
1 a ModeldeskError (one ``modeldesk: error: ...`` line on stderr), 2 usage, 130 interrupted.
"""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import json
import logging
import os
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from core import documents
from core.accounts import users
from core.accounts.audit import last4
from core.bootstrap import ensure_admin_from_env, ensure_bedrock_provider
from core.config import OWN_SETTING_NAMES, OWN_SETTING_PREFIXES, Settings, load_settings
from core.errors import ModeldeskError, NotFoundError, PermissionDeniedError, ValidationError
from core.explorer import registry, scopes
from core.probes import health
from core.records import exporter, importer, model_records, providers
from core.records.system_providers import system_providers
from core.startup import Runtime, open_engine, open_runtime
from core.store import db, rotation
from core.store.tables import User
from core.vocabulary import MODEL_TYPES

PROG = "modeldesk"
log = logging.getLogger(PROG)


# --- Helpers ----------------------------------------------------------------------------


@contextmanager
def _runtime(settings: Settings, *, migrate: bool = False) -> Iterator[Runtime]:
    runtime = open_runtime(settings, migrate=migrate, bootstrap=False)
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


def _env_name(text: str) -> str:
    """An --allow-env NAME: a variable name that is none of Modeldesk's own settings."""
    try:
        importer.check_allow_env([text])
    except ValidationError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("allow-env: ")) from None
    return text


def _own_settings_text() -> str:
    return ", ".join([f"{p}*" for p in OWN_SETTING_PREFIXES] + sorted(OWN_SETTING_NAMES))


def _write_private(path: Path, text: str) -> None:
    """Write text to path with mode 0600 (also when the file already existed)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        os.fchmod(fh.fileno(), 0o600)
        fh.write(text)


# --- Commands ---------------------------------------------------------------------------


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


def cmd_models_list(args: argparse.Namespace, settings: Settings) -> int:
    with _runtime(settings) as runtime, runtime.sessions() as session:
        actor = _actor(session, args.as_user)
        views = model_records.list_models(
            session, user=actor, manage=actor.is_admin, model_type=args.type
        )
    if args.provider:
        views = [v for v in views if v.provider_name.casefold() == args.provider.casefold()]
    rows = [
        {
            "name": v.name,
            "model_id": v.model_id,
            "provider": v.provider_name,
            "type": v.model_type,
            "scope": v.scope,
            "status": v.status,
            "input": exporter.price_text(v.input_cost_per_million),
            "output": exporter.price_text(v.output_cost_per_million),
            "context": v.context_window,
            "quality": v.quality_tier,
            "features": ",".join(v.features) if v.features else None,
            "owner": v.owner,
        }
        for v in views
    ]
    columns = (
        "name",
        "model_id",
        "provider",
        "type",
        "scope",
        "status",
        "input",
        "output",
        "context",
        "quality",
        "features",
        "owner",
    )
    _emit(rows, columns, args.json, "No models.")
    return 0


def cmd_models_best(args: argparse.Namespace, settings: Settings) -> int:
    with _runtime(settings) as runtime, runtime.sessions() as session:
        actor = _actor(session, args.as_user)
        scope = "catalog" if args.catalog else "configured"
        models = scopes.capabilities(
            session, scope=scope, user=actor, usable_only=not args.catalog and not args.all
        )
    ranking = registry.best_model_for(args.task, args.prefer, args.provider_type, models=models)
    candidates = ranking.candidates[: args.top] if ranking else ()
    rows = [
        {
            "rank": i,
            "model_id": c.model.model,
            "name": c.model.name,
            "provider": c.model.provider_label,
            "score": c.score,
            "why": c.reason,
        }
        for i, c in enumerate(candidates, start=1)
    ]
    where = (
        "in the catalog"
        if args.catalog
        else "that you can use"
        if not args.all
        else "configured here"
    )
    _emit(
        rows,
        ("rank", "model_id", "provider", "score", "why"),
        args.json,
        f"No model {where} has the features '{args.task}' needs "
        f"({', '.join(sorted(registry.TASK_FEATURES[args.task]))}).",
    )
    return 0


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    document = documents.load_document(Path(args.file))
    with _runtime(settings) as runtime:
        if args.dry_run:
            with runtime.sessions() as session:  # closed without commit: nothing is written
                plan = importer.plan_import(
                    session,
                    actor=_actor(session, args.as_user),
                    document=document,
                    settings=settings,
                    allow_env=args.allow_env,
                )
            for change in (*plan.providers, *plan.models):
                fields = (
                    f" ({', '.join(sorted(change.values))})" if change.action == "update" else ""
                )
                print(f"would {change.action} {change.kind} {change.label}{fields}")
            print(f"Dry run, nothing written: would have {plan.preview().summary()}.")
            return 0
        with runtime.sessions.begin() as session:
            actor = _actor(session, args.as_user)
            plan = importer.plan_import(
                session, actor=actor, document=document, settings=settings, allow_env=args.allow_env
            )
            result = importer.apply_import(session, actor=actor, plan=plan)
    print(f"Imported {args.file}: {result.summary()}.")
    return 0


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    with _runtime(settings) as runtime, runtime.sessions() as session:
        doc = exporter.export_document(
            session, actor=_actor(session, args.as_user), settings=settings
        )
    text = documents.dump_document(doc, args.format)
    for warning in doc.warnings:
        print(f"{PROG}: warning: {warning}", file=sys.stderr)
    if args.output:
        _write_private(Path(args.output), text)
        print(
            f"Wrote {len(doc['providers'])} provider(s) and {len(doc['models'])} model(s) "
            f"to {args.output} (mode 0600).",
            file=sys.stderr,
        )
    else:
        sys.stdout.write(text)
    return 0


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


def cmd_bootstrap(args: argparse.Namespace, settings: Settings) -> int:
    with _runtime(settings) as runtime, runtime.sessions.begin() as session:
        admin = ensure_admin_from_env(session, settings)
        bedrock = ensure_bedrock_provider(session, settings)
        print(
            f"Admin from MODELDESK_ADMIN_USERNAME: "
            f"{'created ' + admin.username if admin else 'nothing to do'}."
        )
        print(
            f"Bedrock from AWS_BEARER_TOKEN_BEDROCK: "
            f"{'ensured ' + repr(bedrock.name) if bedrock else 'not configured'}."
        )
    found = system_providers(settings)
    rows = [
        {
            "type": s.provider_type,
            "label": s.label,
            "env_vars": ", ".join(s.env_vars) or "built-in default",
            "base_url": s.base_url,
            "key": last4(s.api_key) or "-",
        }
        for s in found
    ]
    print(f"System providers from the environment: {len(rows)}")
    if rows:
        print(_table(rows, ("type", "label", "env_vars", "base_url", "key")))
    return 0


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


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, not {text!r}") from None


def _grouping(text: str) -> str:
    from core.usage.summary import check_grouping

    try:
        return check_grouping(text)
    except ValidationError as exc:
        raise argparse.ArgumentTypeError(str(exc).rstrip(".")) from None


def _provider_mapping(text: str) -> tuple[str | None, str]:
    system, sep, name = text.rpartition("=")
    if not name.strip() or (sep and not system.strip()):
        raise argparse.ArgumentTypeError(f"expected NAME or SYSTEM=NAME, not {text!r}")
    return (system.strip().lower() if sep else None), name.strip()


def cmd_usage_import(args: argparse.Namespace, settings: Settings) -> int:
    from core.usage import formats  # imported only when used (loads the model catalog)

    text = formats.read_file(Path(args.file))
    with _runtime(settings) as runtime, runtime.sessions.begin() as session:
        report = formats.import_text(
            session,
            text,
            timezone=settings.timezone,
            all_or_nothing=args.all_or_nothing,
            format=args.format,
            providers=dict(args.provider or []) or None,
            retention_days=settings.usage_retention_days,
        )
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
    from core.usage import summary

    with _runtime(settings) as runtime, runtime.sessions() as session:
        groups = summary.summarize(
            session, date_from=args.date_from, date_to=args.date_to, by=args.by
        )
    labels = summary.label_columns(args.by)
    rows = [g.as_dict() for g in groups]
    grand = summary.Group({c: "" for c in labels}, summary.total(groups))
    if args.format == "json":
        print(
            json.dumps(
                {
                    "from": args.date_from.isoformat(),
                    "to": args.date_to.isoformat(),
                    "by": args.by,
                    "timezone": settings.timezone,
                    "groups": rows,
                    "total": {k: grand.as_dict()[k] for k in summary.METRICS},
                },
                indent=2,
                ensure_ascii=False,
            )
        )
    elif args.format == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow([*labels, *summary.METRICS])
        for row in rows:
            writer.writerow(
                [csv_cell(str(row[c])) for c in labels] + [row[m] for m in summary.METRICS]
            )
    elif not rows:
        print(f"No usage from {args.date_from} to {args.date_to} (exclusive).")
    else:
        # A group with no priced request has no known cost, not a cost of $0.
        shown = [
            {
                **g.as_dict(),
                "cost_usd": UNKNOWN
                if g.totals.requests and g.totals.unpriced_requests == g.totals.requests
                else usd(g.totals.cost_usd),
            }
            for g in (*groups, grand)
        ]
        shown[-1][labels[0]] = "TOTAL"
        print(_table(shown, [*labels, *summary.METRICS]))
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


# --- Parser -----------------------------------------------------------------------------


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

    dbp = sub.add_parser(
        "db", help="database schema commands", description="Database schema commands."
    )
    dbsub = dbp.add_subparsers(dest="db_command", metavar="COMMAND", required=True)
    add(dbsub, "upgrade", cmd_db_upgrade, "Apply pending migrations and print the revision.")
    add(dbsub, "current", cmd_db_current, "Print the schema revision and the newest known one.")

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

    prov = sub.add_parser("providers", help="provider records", description="Provider records.")
    cmd = add(
        prov.add_subparsers(dest="sub", metavar="COMMAND", required=True),
        "list",
        cmd_providers_list,
        "List providers by priority (keys only as …last4).",
    )
    cmd.add_argument("--json", action="store_true", help="print JSON instead of a table")
    as_user(cmd)

    mod = sub.add_parser("models", help="model records", description="Model records.")
    models_sub = mod.add_subparsers(dest="sub", metavar="COMMAND", required=True)
    cmd = add(models_sub, "list", cmd_models_list, "List models by provider priority.")
    cmd.add_argument("--json", action="store_true", help="print JSON instead of a table")
    cmd.add_argument("--provider", metavar="NAME", help="only models of this provider")
    cmd.add_argument("--type", choices=MODEL_TYPES, help="only models of this type")
    as_user(cmd)
    cmd = add(
        models_sub,
        "best",
        cmd_models_best,
        "Rank the models fit for a task by a preference, best first, each with why "
        "(the Explorer's Best model). By default the models you can use: active, "
        "visible to you, provider not failing its health checks.",
    )
    cmd.add_argument("task", choices=registry.TASK_FEATURES, help="what the model must do")
    cmd.add_argument(
        "--prefer",
        choices=registry.PREFERENCES,
        default="quality",
        help="what matters most (default: quality)",
    )
    cmd.add_argument(
        "--provider-type",
        action="append",
        metavar="TYPE",
        help="only this provider type (repeat for several)",
    )
    cmd.add_argument(
        "--all", action="store_true", help="every model configured here you can see, usable or not"
    )
    cmd.add_argument("--catalog", action="store_true", help="rank the whole model catalog instead")
    cmd.add_argument(
        "--top", type=_positive, default=5, metavar="N", help="how many to list (default: 5)"
    )
    cmd.add_argument("--json", action="store_true", help="print JSON instead of a table")
    as_user(cmd)

    cmd = add(
        sub,
        "import",
        cmd_import,
        "Import providers and models from a YAML or JSON file. The whole file is "
        "validated first and applied in one transaction: all or nothing. Secret "
        "fields (api_key and secret config values) may be written as ${ENV_VAR}; "
        "other fields never expand a reference. A provider's api_key may name its "
        "type's own key variable (e.g. ${OPENAI_API_KEY} for openai) unless the entry "
        "sets its own base_url; any other variable must be allowed with --allow-env. "
        f"Modeldesk's own settings ({_own_settings_text()}) are never read.",
    )
    cmd.add_argument("file", metavar="FILE", help="a .yaml, .yml or .json document")
    cmd.add_argument("--dry-run", action="store_true", help="validate and show, write nothing")
    cmd.add_argument(
        "--allow-env",
        action="append",
        default=[],
        type=_env_name,
        metavar="NAME",
        help="let the file's secret fields read the environment variable NAME (repeat for several)",
    )
    as_user(cmd)

    cmd = add(
        sub,
        "export",
        cmd_export,
        "Export the providers and models you manage, without API keys or secret config values.",
    )
    cmd.add_argument(
        "--format", choices=documents.FORMATS, default="yaml", help="output format (default: yaml)"
    )
    cmd.add_argument("--output", metavar="FILE", help="write to FILE (mode 0600), not stdout")
    as_user(cmd)

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

    usage = sub.add_parser(
        "usage",
        help="the usage ledger",
        description="The usage ledger: import, summarize, reprice, prune.",
    )
    usage_sub = usage.add_subparsers(dest="sub", metavar="COMMAND", required=True)
    cmd = add(
        usage_sub,
        "import",
        cmd_usage_import,
        "Import usage events from a Modeldesk CSV (with a header) or JSONL file, or from "
        "OpenTelemetry GenAI spans in an OTLP JSON Lines file (the file exporter's). "
        "Each event is priced at ingest and stored once: importing a file again stores "
        "nothing new. Bad lines are reported with their line number; exits 1 if any.",
    )
    cmd.add_argument("file", metavar="FILE", help="a .csv or .jsonl file")
    cmd.add_argument(
        "--format",
        choices=("auto", "modeldesk", "otlp"),
        default="auto",
        help="file format (default: auto, Modeldesk CSV or JSONL, or OTLP JSON, by content)",
    )
    cmd.add_argument(
        "--provider",
        action="append",
        type=_provider_mapping,
        metavar="[SYSTEM=]NAME",
        help="OTLP: the provider record for every span (NAME), or for spans whose "
        "gen_ai.provider.name is SYSTEM (repeatable); default: by server address, then by type",
    )
    cmd.add_argument(
        "--all-or-nothing", action="store_true", help="store nothing when any line is bad"
    )
    cmd = add(
        usage_sub,
        "summary",
        cmd_usage_summary,
        "Usage totals per group over a period, from the daily rollups (days in "
        "MODELDESK_TIMEZONE; --from inclusive, --to exclusive).",
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

    add(
        sub,
        "bootstrap",
        cmd_bootstrap,
        "Run the environment bootstraps (admin, Bedrock provider) and list the system "
        "providers the environment defines.",
    )
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
        print(f"{PROG}: error: {db.unavailable(exc, url)}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, no secrets
        print(
            f"{PROG}: internal error ({type(exc).__name__}); run with MODELDESK_DEBUG=1 "
            "for details",
            file=sys.stderr,
        )
        if settings is not None and settings.environ.get("MODELDESK_DEBUG", "") not in ("", "0"):
            traceback.print_exc()
        return 1


if __name__ == "__main__":
    sys.exit(main())
