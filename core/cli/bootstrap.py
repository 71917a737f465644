"""``modeldesk demo`` and ``modeldesk bootstrap``: filling an installation, with a demo
organisation or from the environment."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from core.accounts.audit import last4
from core.bootstrap import ensure_admin_from_env, ensure_bedrock_provider
from core.cli.base import _runtime, _table
from core.config import Settings
from core.records.system_providers import system_providers


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


def add_commands(sub: Any, add: Callable[..., Any]) -> None:
    """`modeldesk demo` and `modeldesk bootstrap`."""
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
