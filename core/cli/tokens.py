"""``modeldesk usage tokens create|list|revoke``: bearer tokens for ``POST /v1/traces``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from core.cli.base import _actor, _emit, _provider_mapping, _runtime, as_user
from core.config import Settings
from core.errors import ValidationError


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


def add_commands(usage_sub: Any, add: Callable[..., Any]) -> None:
    """`modeldesk usage tokens create|list|revoke`, on the usage subparsers."""
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
