"""best_model_for over the whole catalog, and the Explorer page with the whole catalog.

    python bench/registry.py [--runs 15] [--page-runs 7]

1. ``best_model_for`` for every task × preference over every catalog model (the catalog
   is built once, as the app does). Baseline, measured in the same run: one pass over
   the same list checking each model's features (the least any ranking must do).
   Target: median under 10 ms for every task and preference.
2. The Explorer page's script run (AppTest, signed in as an admin, whole-catalog scope
   from the URL's query parameters; one warm-up run, then --page-runs timed runs).
   Baseline, measured in the same run: a one-line page in the same harness.
   Target: median under 1 s.

Prints medians, ratios to the baselines and whether each target is met; exit status 1
if one is missed. Uses a scratch SQLite database in a temporary directory.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RANK_TARGET_MS = 10.0
PAGE_TARGET_MS = 1000.0
SECRET = "bench-secret-key-for-modeldesk-0123456789"


def median_ms(action, runs: int) -> float:  # noqa: ANN001
    """Median wall time of action() in milliseconds."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def bench_ranking(runs: int) -> bool:
    """Time best_model_for per task and preference; True when every median meets the target."""
    from core.explorer import tiers
    from core.explorer.registry import PREFERENCES, TASK_FEATURES, best_model_for

    started = time.perf_counter()
    models = tiers.catalog_capabilities()
    print(
        f"catalog: {len(models):,} models, built in "
        f"{(time.perf_counter() - started) * 1000:.0f} ms (once per process)\n"
    )
    ok = True
    print(
        f"{'task':<10} {'prefer':<8} {'matching':>8} {'median ms':>10} "
        f"{'baseline ms':>12} {'ratio':>7} {'target':>7}"
    )
    for task, wanted in TASK_FEATURES.items():
        baseline = median_ms(lambda w=wanted: [m for m in models if w <= m.features], runs)
        for prefer in PREFERENCES:
            ranking = best_model_for(task, prefer, models=models)  # warm-up (keys cached)
            ms = median_ms(lambda t=task, p=prefer: best_model_for(t, p, models=models), runs)
            met = ms < RANK_TARGET_MS
            ok &= met
            print(
                f"{task:<10} {prefer:<8} {len(ranking.candidates) if ranking else 0:>8,} "
                f"{ms:>10.2f} {baseline:>12.2f} {ms / baseline:>6.1f}x "
                f"{'ok' if met else 'SLOW':>7}"
            )
    return ok


def bench_page(runs: int, work: Path) -> bool:
    """Time the Explorer's script run with the whole catalog; True when it meets the target."""
    from bench.signed_in_app import route_pages_through_app, signed_in
    from core.accounts import users
    from core.config import load_settings
    from core.startup import open_runtime

    url = f"sqlite:///{work / 'bench.db'}"
    os.environ.update(
        MODELDESK_DATABASE_URL=url,
        MODELDESK_SECRET_KEY=SECRET,
        MODELDESK_DATA_DIR=str(work),
        MODELDESK_DISABLE_SYSTEM_PROVIDERS="all",
    )
    rt = open_runtime(load_settings(secrets_file=None))
    with rt.sessions.begin() as s:
        admin = users.create_user(s, username="admin", password="bench-password-1", role="admin")
        s.flush()
        epoch = admin.session_epoch
    rt.dispose()

    route_pages_through_app()
    baseline_script = work / "baseline.py"
    baseline_script.write_text("import streamlit as st\nst.title('baseline')\n")
    base = signed_in(str(baseline_script), "admin", epoch)
    base.run()
    baseline = median_ms(base.run, runs)

    at = signed_in(str(ROOT / "app.py"), "admin", epoch)
    at.run()
    at.switch_page("pages/explorer.py")
    at.query_params["scope"] = "catalog"
    started = time.perf_counter()
    at.run()  # warm-up: builds the catalog and the page's cached frames
    first = (time.perf_counter() - started) * 1000
    if at.exception:
        raise SystemExit(f"the Explorer failed: {at.exception[0].message}")
    charts = len(at.get("plotly_chart"))
    ms = median_ms(at.run, runs)
    met = ms < PAGE_TARGET_MS
    print(
        f"\nExplorer, whole catalog ({charts} charts): first run {first:.0f} ms, "
        f"median {ms:.1f} ms; baseline (a one-line page) {baseline:.1f} ms; "
        f"ratio {ms / baseline:.1f}x; target {PAGE_TARGET_MS:.0f} ms: "
        f"{'ok' if met else 'SLOW'}"
    )
    return met


def main() -> int:
    """Run both benchmarks and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="timed runs per ranking")
    parser.add_argument("--page-runs", type=int, default=7, help="timed Explorer runs")
    args = parser.parse_args()
    ranking_ok = bench_ranking(args.runs)
    page_ok = bench_page(args.page_runs, Path(tempfile.mkdtemp(prefix="modeldesk-bench-")))
    return 0 if ranking_ok and page_ok else 1


if __name__ == "__main__":
    sys.exit(main())
