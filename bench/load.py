"""Load: N simulated users on the console while a health sweep runs and the ingest route
takes OTLP spans.

    python bench/load.py [--users 25] [--duration 180] [--ingest-rate 1000] [--think 1-3]
                         [--database-url URL] [--replicas 1] [--ingest-process]

Seeds a scratch database (SQLite in a temporary folder unless --database-url; give
PostgreSQL a database of its own, never a shared one: the run fills it) with the demo
organisation and --users member accounts, starts ``streamlit run app.py`` on a free port and
runs the scenario of tests/support/load.py: websocket users looping Providers, Explorer,
Costs and Health (every third one also renaming its own provider through the edit form), the
app's health scheduler sweeping every 10 s against a fake provider on loopback, and OTLP
JSON spans POSTed to /v1/traces at --ingest-rate a second. Then it reads the database back.

Configurations (docs/operations.md, "Load", has what each one measured):

- the default: one console process serves the users, the sweep and the ingest route (one
  Python interpreter lock for all of it), on SQLite or --database-url;
- ``--replicas 2 --database-url postgresql://…``: the documented scale-out, two console
  processes on one PostgreSQL database, each user sticky to one of them (user i on process
  i mod 2, as the proxy's cookie keeps a browser), the ingest senders spread over both, the
  health lease keeping one sweep;
- ``--ingest-process``: /v1/traces served by its own ``uvicorn --factory
  core.startup:ingest_app`` process instead of the console (with either of the above).

--think is the pause between one user's clicks, drawn uniformly from the range; the default
1-3 s is harsher than people are (a person reads a page before the next click: a dashboard
for tens of seconds), so 25 such users stand for many more real ones.

Prints per page the count, p50, p95 and max interaction time (the rerun sent → the run's
script_finished), the errors, the edits confirmed and verified, the events sent and stored,
the achieved ingest rate, each server process's CPU and memory, the driver's CPU and the load
average. Exit status 1 when a target is missed: any error, a lost edit or event, an overall
p95 of 2 s or more, or an ingest rate under 95 % of the target. The driver runs on the same
machine as the servers: its CPU (printed) is taken from theirs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

P95_TARGET_S = 2.0
RATE_SHARE = 0.95


def _think(text: str) -> tuple[float, float]:
    low, _, high = text.partition("-")
    return float(low), float(high or low)


def main(argv: list[str] | None = None) -> int:
    """Run the load, print the figures; 1 when a target is missed."""
    from tests.support.load import Figures, LoadConfig, run_load

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=25)
    parser.add_argument("--duration", type=float, default=180.0, help="seconds measured")
    parser.add_argument("--ingest-rate", type=int, default=1000, help="spans a second")
    parser.add_argument("--database-url", help="default: SQLite in a temporary folder")
    parser.add_argument(
        "--think", type=_think, default=(1.0, 3.0), help="seconds between a user's clicks"
    )
    parser.add_argument(
        "--replicas",
        type=int,
        default=1,
        help="console processes (the documented scale-out; needs a PostgreSQL --database-url)",
    )
    parser.add_argument(
        "--ingest-process",
        action="store_true",
        help="serve /v1/traces from its own process (uvicorn core.startup:ingest_app)",
    )
    args = parser.parse_args(argv)
    if args.replicas < 1:
        parser.error("--replicas must be at least 1")
    if args.replicas > 1 and not (args.database_url or "").startswith("postgresql"):
        parser.error("--replicas above 1 is the PostgreSQL scale-out: give --database-url")
    config = LoadConfig(
        users=args.users,
        duration=args.duration,
        ingest_rate=args.ingest_rate,
        database_url=args.database_url,
        think=args.think,
        replicas=args.replicas,
        ingest_process=args.ingest_process,
    )
    with tempfile.TemporaryDirectory(prefix="modeldesk-load-") as work:
        figures: Figures = run_load(config, Path(work), progress=lambda m: print(m, flush=True))
    print()
    print("\n".join(figures.report(args.ingest_rate)))
    missed = [
        what
        for what, bad in (
            ("errors", bool(figures.errors)),
            ("failed ingest requests", bool(figures.ingest_failures)),
            ("lost edits", bool(figures.edits_lost)),
            ("no edit confirmed", figures.edits_confirmed == 0),
            ("lost events", figures.events_stored != figures.events_sent),
            (f"p95 >= {P95_TARGET_S:.0f} s", figures.p95 >= P95_TARGET_S),
            ("ingest rate", figures.ingest_rate < RATE_SHARE * args.ingest_rate),
            ("no health check", figures.health_checks == 0),
        )
        if bad
    ]
    print()
    print("targets missed: " + ", ".join(missed) if missed else "every target met")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
