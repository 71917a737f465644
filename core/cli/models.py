"""``modeldesk models list`` and ``modeldesk models best``: model records, and the
Explorer's Best model ranking (``core.explorer.ranking``) from a terminal."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from core.cli.base import _actor, _emit, _positive, _runtime, as_user
from core.config import Settings
from core.explorer import ranking as explorer_ranking
from core.explorer import registry, scopes
from core.records import exporter, model_records
from core.vocabulary import MODEL_TYPES


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


def add_commands(sub: Any, add: Callable[..., Any]) -> None:
    """`modeldesk models list` and `modeldesk models best`."""
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
