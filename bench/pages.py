"""Page script run times with 500 providers and 5,000 models.

    python bench/pages.py [--providers 500] [--models-per-provider 10] [--runs 7]
                          [--database-url URL] [--pages Models,Explorer]

Seeds a scratch database through the real services, then runs every console page with
Streamlit's AppTest as an admin and as a member: one warm-up run, then --runs timed runs;
it prints the median per page and role, the ratio to a baseline measured in the same run
(the same app on an empty page script), and whether the page meets the 500 ms budget.
Exit status 1 if any page misses the budget.

    python bench/pages.py --usage-events 10000000 \\
        --postgres postgresql+psycopg://postgres@127.0.0.1:5432 [--keep-db NAME] [--runs 20]
    python bench/pages.py --reuse-db NAME --postgres SERVER_URL     # time a kept one again

times the Costs and Overview pages over that many usage events instead (bench/pages_usage.py:
a scratch PostgreSQL database, dropped at the end unless --keep-db; median, p95, CPU and SQL
time per view; a 1 s budget). Generating 10 million events takes a while (run it in the
background): keep the database with --keep-db NAME and time it again with --reuse-db NAME
(dropdb NAME when done).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BUDGET_MS = 500.0
SECRET = "bench-secret-key-for-modeldesk-0123456789"
TYPES = (
    "openai",
    "anthropic",
    "groq",
    "mistral",
    "deepseek",
    "together_ai",
    "azure_openai",
    "google_gemini",
    "openrouter",
    "fireworks_ai",
)


def seed(url: str, data_dir: Path, n_providers: int, per_provider: int) -> None:
    """Admin, 20 members, n providers with per_provider models each, some shared."""
    from core.accounts import access, users
    from core.config import load_settings
    from core.records import model_records, providers
    from core.startup import open_runtime

    rng = random.Random(7)
    rt = open_runtime(
        load_settings(
            {
                "MODELDESK_DATABASE_URL": url,
                "MODELDESK_SECRET_KEY": SECRET,
                "MODELDESK_DATA_DIR": str(data_dir),
                "MODELDESK_DISABLE_SYSTEM_PROVIDERS": "all",
            },
            secrets_file=None,
        )
    )
    with rt.sessions.begin() as s:
        admin = users.create_user(s, username="admin", password="bench-password-1", role="admin")
        members = [
            users.create_user(s, username=f"member{i:02d}", password="bench-password-1")
            for i in range(20)
        ]
        s.flush()
        for i in range(n_providers):
            ptype = TYPES[i % len(TYPES)]
            config = (
                {"resource_name": f"res{i}", "deployment_id": "gpt-4o"}
                if ptype == "azure_openai"
                else {}
            )
            owner = admin if i % 3 else members[i % len(members)]
            p = providers.create_provider(
                s,
                actor=admin,
                owner=owner,
                name=f"Provider {i:04d}",
                provider_type=ptype,
                api_key=f"bench-key-{i:06d}-abcdefgh",
                provider_config=config,
                instance_wide=i % 3 == 1,
                status="active" if i % 10 else "inactive",
            )
            if i % 7 == 0:
                access.grant(s, actor=admin, record=p, user=members[0])
            for j in range(per_provider):
                m = model_records.create_model(
                    s,
                    actor=admin,
                    owner=owner,
                    provider_id=p.id,
                    name=f"Model {i:04d}-{j:02d}",
                    model_id=f"model-{j:02d}",
                    model_type=("inference", "embedding", "rerank")[j % 3],
                    instance_wide=i % 3 == 1,
                    input_cost_per_million=Decimal(rng.randint(1, 3000)) / 100,
                    output_cost_per_million=Decimal(rng.randint(1, 9000)) / 100,
                    context_window=rng.choice((8192, 32768, 128000, 200000, 1000000)),
                )
                if i % 7 == 0 and j % 2 == 0:
                    access.grant(s, actor=admin, record=m, user=members[0])
            if i % 50 == 49:
                s.flush()
    rt.dispose()


def time_page(app: str, page: str | None, username: str, runs: int) -> float:
    """Median wall time (ms) of an AppTest run of the app on page as username."""
    from bench.signed_in_app import on_page

    at = on_page(app, page, username)  # warmed up on the page itself
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        at.run()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def main() -> int:
    """Seed, measure every page for both roles, print the table."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--providers", type=int, default=500)
    parser.add_argument("--models-per-provider", type=int, default=10)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--database-url", help="an EMPTY database to seed (default: SQLite)")
    parser.add_argument("--pages", help="comma-separated page titles to time (default: all)")
    usage = parser.add_argument_group("Costs and Overview over a usage ledger (PostgreSQL)")
    usage.add_argument("--usage-events", type=int, help="generate this many usage events")
    usage.add_argument(
        "--postgres", metavar="SERVER_URL", help="postgresql+psycopg://user@host:port"
    )
    kept = usage.add_mutually_exclusive_group()
    kept.add_argument("--keep-db", metavar="NAME", help="fill a new database NAME and keep it")
    kept.add_argument("--reuse-db", metavar="NAME", help="time a database kept by --keep-db")
    usage.add_argument("--batch", type=int, default=50_000, help="events per record_usage call")
    usage.add_argument("--explain", action="store_true", help="print each view's slowest SQL")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="modeldesk-bench-"))
    if args.usage_events or args.reuse_db:
        return usage_bench(args, work, parser)
    url = args.database_url or f"sqlite:///{work / 'bench.db'}"
    os.environ.update(
        MODELDESK_DATABASE_URL=url,
        MODELDESK_SECRET_KEY=SECRET,
        MODELDESK_DATA_DIR=str(work),
        MODELDESK_DISABLE_SYSTEM_PROVIDERS="all",
    )
    started = time.perf_counter()
    seed(url, work, args.providers, args.models_per_provider)
    print(
        f"seeded {args.providers} providers, {args.providers * args.models_per_provider} "
        f"models in {time.perf_counter() - started:.1f} s ({url.split(':')[0]})"
    )

    from bench.signed_in_app import route_pages_through_app
    from pages import _ui

    route_pages_through_app()

    baseline_script = work / "baseline.py"
    baseline_script.write_text("import streamlit as st\nst.title('baseline')\n")
    baseline = time_page(str(baseline_script), None, "admin", args.runs)
    print(f"baseline (a one-line page in AppTest): {baseline:.1f} ms\n")
    print(f"{'page':<20} {'role':<7} {'median ms':>10} {'x baseline':>11} {'budget':>8}")
    failed = False
    wanted = {t.strip().lower() for t in args.pages.split(",")} if args.pages else None
    for spec in _ui.PAGES:
        if wanted is not None and spec.title.lower() not in wanted:
            continue
        for role, username in (("admin", "admin"), ("member", "member00")):
            if spec.admin_only and role == "member":
                continue
            ms = time_page(str(ROOT / "app.py"), spec.path, username, args.runs)
            ok = ms < BUDGET_MS
            failed |= not ok
            print(
                f"{spec.title:<20} {role:<7} {ms:>10.1f} {ms / baseline:>10.1f}x "
                f"{'ok' if ok else 'SLOW':>8}"
            )
    return 1 if failed else 0


def usage_bench(args: argparse.Namespace, work: Path, parser: argparse.ArgumentParser) -> int:
    """The Costs and Overview pages over --usage-events events (bench/pages_usage.py)."""
    from bench import pages_usage

    if not args.postgres:
        parser.error("--usage-events and --reuse-db need --postgres SERVER_URL")
    if args.reuse_db and args.usage_events:
        parser.error("--reuse-db times a filled database: leave --usage-events out")
    url, drop = pages_usage.database(args.postgres, args.keep_db, args.reuse_db)
    os.environ.update(
        MODELDESK_DATABASE_URL=url,
        MODELDESK_SECRET_KEY=SECRET,
        MODELDESK_DATA_DIR=str(work),
        MODELDESK_DISABLE_SYSTEM_PROVIDERS="all",
    )
    fill = None if args.reuse_db else (args.usage_events, args.batch)
    try:
        return pages_usage.bench(url, work, args.runs, args.explain, fill)
    finally:
        from pages import _ui

        _ui.runtime().dispose()
        drop()
        if args.keep_db:
            print(f"kept the database {args.keep_db}: --reuse-db {args.keep_db} times it again")


if __name__ == "__main__":
    sys.exit(main())
