"""``modeldesk import`` and ``modeldesk export``: providers and models as YAML or JSON
documents (secrets never exported; ``${ENV_VAR}`` references only where allowed)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core import documents
from core.cli.base import PROG, _actor, _runtime, as_user
from core.config import OWN_SETTING_NAMES, OWN_SETTING_PREFIXES, Settings
from core.errors import ValidationError
from core.records import exporter, importer
from core.records.import_references import check_allow_env


def _env_name(text: str) -> str:
    """An --allow-env NAME: a variable name that is none of Modeldesk's own settings."""
    try:
        check_allow_env([text])
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


def add_commands(sub: Any, add: Callable[..., Any]) -> None:
    """`modeldesk import` and `modeldesk export`."""
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
