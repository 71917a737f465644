"""Usage ledger at volume: ingest rate, and the Costs page's queries from the rollups.

    python bench/usage.py                                   # 1,000,000 events, scratch SQLite
    python bench/usage.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432
                                    # 10,000,000 events in a scratch database it creates
                                    # (modeldesk_bench_usage_<pid>) and drops when done
    python bench/usage.py --events 200000                   # a quick run

--database-url runs on an empty database of your own instead (never a shared one such as
``test``: the bench fills it). A 10-million run takes a while: run it in the background,
e.g. ``nohup python bench/usage.py --postgres URL > /tmp/bench_usage.log 2>&1 &``.

1. Seeds an admin, users, five providers and a priced model record through the services,
   then ingests generated events (five providers, a dozen models, 40 users, team/env tags,
   Sonnet 4.6's 2026-03-13 price change, unpriced models) through ``record_usage`` in
   batches of --batch, one commit each, rollups included. Target on PostgreSQL: at least
   50,000 events/s.
2. The Costs page's queries, from the rollups (core.usage.summary) and the raw events'
   keyset page (core.usage.events): one month by day by model, 90-day top 10 users, year
   total by provider, and --pages pages of one model's month. Each runs --runs times (p50,
   p95); beside it the same answer computed from the raw events in the same run (GROUP BY
   over usage_events; for the page, the same page by OFFSET), asserted equal, with the
   ratio. Target on PostgreSQL at 10 million events: p95 under 150 ms.
3. Retention: prunes every month before 2025-12-01 (on PostgreSQL by dropping those
   monthly partitions, on SQLite by batched deletes), timed, and checks that the rollups'
   totals did not move.

The load average is printed beside the ingest rate: the rate depends on what else the
machine runs.

Exit status 1 if a target is missed (targets are checked on PostgreSQL only). The database
must be empty (a fresh scratch database); without --database-url a temporary SQLite file.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SECRET = "bench-secret-key-for-modeldesk-0123456789"
INGEST_TARGET = 50_000  # events/s on PostgreSQL
QUERY_TARGET_MS = 150.0  # p95 on PostgreSQL

# The generated ledger (bench/budgets.py reads these names from this module too).
from bench.usage_data import DAYS, END, PROVIDERS, TEAMS, events, seed  # noqa: E402, F401


def backend_cpu(session: Any) -> float | None:
    """CPU seconds the session's PostgreSQL backend has used (None: not PostgreSQL, or the
    server is not on this machine so its /proc entry cannot be read)."""
    from sqlalchemy import text

    if session.get_bind().dialect.name != "postgresql":
        return None
    pid = session.scalar(text("SELECT pg_backend_pid()"))
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


class Ingest:
    """What an ingest measured: wall time, and CPU time of this process and the server."""

    def __init__(self) -> None:
        self.events = 0
        self.wall = self.client = self.server = 0.0
        self.server_known = True

    @property
    def rate(self) -> float:
        return self.events / self.wall

    def cpu_line(self) -> str:
        client = 1e6 * self.client / self.events
        if not self.server_known:
            return f"CPU per event: {client:.1f} µs in Python (the server's is not visible here)"
        server = 1e6 * self.server / self.events
        return (
            f"CPU per event: {client:.1f} µs in Python + {server:.1f} µs in the PostgreSQL "
            f"backend = {client + server:.1f} µs; on two otherwise idle cores (WAL writer and "
            f"checkpointer aside) {1e6 / max(client, server):,.0f} events/s with the two "
            f"overlapped (core.usage.pipeline), {1e6 / (client + server):,.0f} one after the other"
        )


def ingest(
    sessions: Any,
    n: int,
    batch: int,
    usernames: list[str],
    *,
    end: datetime = END,
    days: int = DAYS,
) -> Ingest:
    """Record n events over the days before end in batches (one commit each), timed."""
    from core.usage.ledger import record_usage

    rng = random.Random(7)
    source = events(n, usernames, rng, end=end, days=days)
    found, last = Ingest(), time.perf_counter()
    while found.events < n:
        reports = [next(source) for _ in range(min(batch, n - found.events))]
        started, cpu = time.perf_counter(), time.process_time()
        with sessions.begin() as s:
            server = backend_cpu(s)
            record_usage(s, events=reports, timezone="UTC")
            after = backend_cpu(s)
        found.client += time.process_time() - cpu
        found.wall += time.perf_counter() - started
        if server is None or after is None:
            found.server_known = False
        else:
            found.server += after - server
        found.events += len(reports)
        if time.perf_counter() - last > 30:
            last = time.perf_counter()
            print(f"  … {found.events:,} events, {found.rate:,.0f}/s so far", flush=True)
    return found


def timed(action: Callable[[], Any], runs: int) -> tuple[float, float, Any]:
    """p50 and p95 in ms over runs (after one warm-up run), and the answer."""
    answer = action()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
    return statistics.median(samples), p95, answer


# --- the same answers from the raw events ---------------------------------------------------


def raw_groups(session: Any, date_from: date, date_to: date, by: str) -> dict[tuple, dict]:
    """GROUP BY over usage_events: label tuple → sums, labelled as core.usage.summary does."""
    from sqlalchemy import Float, Integer, case, cast, func, select

    from core.store.usage_tables import NO_PROVIDER_ID
    from core.store.usage_tables import UsageEvent as E

    columns = {
        "day": [E.day],
        "model": [E.provider_name, E.model_id],
        "user": [E.username],
        "provider": [E.provider_name, E.provider_type, E.provider_id],
        "day,model": [E.day, E.provider_name, E.model_id],
    }[by]
    if session.get_bind().dialect.name == "sqlite":
        # SQLite keeps money as text; every stored cost has at most 8 places, so a cost in
        # units of 1e-8 is an exact integer and its SUM is exact.
        cost = func.sum(cast(func.round(cast(E.cost_usd, Float) * 100_000_000), Integer))
        source = func.sum(cast(func.round(cast(E.source_cost_usd, Float) * 100_000_000), Integer))
    else:
        cost, source = func.sum(E.cost_usd), func.sum(E.source_cost_usd)
    query = (
        select(
            *columns,
            func.sum(E.requests),
            *(func.sum(getattr(E, t)) for t in TOKENS),
            cost,
            func.sum(case((E.cost_usd.is_(None), E.requests), else_=0)),
            source,
            func.sum(case((E.source_cost_usd.is_(None), 0), else_=E.requests)),
        )
        .where(E.day >= date_from, E.day < date_to)
        .group_by(*columns)
    )
    found = {}
    sqlite = session.get_bind().dialect.name == "sqlite"
    for row in session.execute(query):
        labels = list(row[: len(columns)])
        sums = row[len(columns) :]
        labels = [
            "" if v == NO_PROVIDER_ID else (v.isoformat() if isinstance(v, date) else v)
            for v in labels
        ]
        if by == "provider":
            labels[2] = str(labels[2]) if labels[2] else ""
        if by == "user":
            labels = [labels[0] or "(no user)"]
        money, source_money = (
            Decimal(m or 0).scaleb(-8) if sqlite else Decimal(m or 0) for m in (sums[-4], sums[-2])
        )
        found[tuple(labels)] = {
            "requests": sums[0],
            **dict(zip(TOKENS, sums[1:-4], strict=True)),
            "cost_usd": money,
            "unpriced_requests": sums[-3],
            "source_cost_usd": source_money,
            "source_costed_requests": sums[-1],
        }
    return found


TOKENS = (
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
)


def rollup_groups(session: Any, date_from: date, date_to: date, by: str) -> dict[tuple, dict]:
    """core.usage.summary's answer: label tuple → sums."""
    from core.usage import summary

    return {
        tuple(g.labels.values()): g.totals.as_dict()
        for g in summary.summarize(session, date_from=date_from, date_to=date_to, by=by)
    }


def top(groups: dict[tuple, dict], n: int) -> list[tuple]:
    """The first n groups as the summary ranks them (cost, requests, labels)."""
    ranked = sorted(groups.items(), key=lambda kv: (-kv[1]["cost_usd"], -kv[1]["requests"], kv[0]))
    return ranked[:n]


def bench_queries(sessions: Any, runs: int, pages: int, postgres: bool) -> bool:
    """Time the Costs page's queries beside their raw-event answers; True if targets met."""
    from sqlalchemy import select

    from core.store.usage_tables import UsageEvent as E
    from core.usage import events as drill

    month = (date(2026, 11, 1), date(2026, 12, 1))
    quarter = (date(2026, 9, 2), date(2026, 12, 1))
    year = (date(2025, 12, 1), date(2026, 12, 1))
    raw_runs = max(3, runs // 5)
    ok = True
    print(
        f"\n{'query':<34} {'rows':>5} {'p50 ms':>8} {'p95 ms':>8} "
        f"{'raw p50':>9} {'raw p95':>9} {'ratio':>7} {'target':>7}"
    )

    def line(name: str, rows: int, fast: tuple, slow: tuple) -> None:
        nonlocal ok
        met = fast[1] < QUERY_TARGET_MS
        ok &= met or not postgres
        verdict = ("ok" if met else "SLOW") if postgres else "-"
        print(
            f"{name:<34} {rows:>5} {fast[0]:>8.1f} {fast[1]:>8.1f} {slow[0]:>9.1f} "
            f"{slow[1]:>9.1f} {slow[0] / fast[0]:>6.1f}x {verdict:>7}"
        )

    with sessions() as s:
        cases = [
            ("month by day by model", month, "day,model", None),
            ("90-day top 10 users", quarter, "user", 10),
            ("year total by provider", year, "provider", None),
        ]
        for name, (lo, hi), by, n in cases:

            def ours(lo: date = lo, hi: date = hi, by: str = by, n: int | None = n) -> Any:
                found = rollup_groups(s, lo, hi, by)
                return found if n is None else top(found, n)

            def theirs(lo: date = lo, hi: date = hi, by: str = by, n: int | None = n) -> Any:
                found = raw_groups(s, lo, hi, by)
                return found if n is None else top(found, n)

            fast, slow = timed(ours, runs), timed(theirs, raw_runs)
            assert fast[2] == slow[2], f"{name}: the rollups and the raw events disagree"
            line(name, len(fast[2]), fast, slow)

        # Drill-down: one model's month, page after page by key; the raw answer of page k is
        # the same filter by OFFSET k × 50.
        lo, hi = month
        keys: list[Any] = [None]
        for _ in range(pages - 1):  # the key each page starts after (fewer when it ends)
            found = drill.page(s, date_from=lo, date_to=hi, model="gpt-4o", after=keys[-1])
            if len(found) < 50:
                break
            keys.append(drill.key_of(found[-1]))
        offset_query = (
            select(E)
            .where(E.day >= lo, E.day < hi, E.model_id == "gpt-4o")
            .order_by(E.occurred_at, E.id)
            .limit(50)
        )
        for k in sorted({0, len(keys) - 1}):
            fast = timed(
                lambda k=k: [
                    e.id
                    for e in drill.page(s, date_from=lo, date_to=hi, model="gpt-4o", after=keys[k])
                ],
                runs,
            )
            slow = timed(
                lambda k=k: [e.id for e in s.scalars(offset_query.offset(50 * k))], raw_runs
            )
            assert fast[2] == slow[2], f"drill-down page {k + 1}: keyset and OFFSET disagree"
            line(f"drill-down page {k + 1} (vs OFFSET)", len(fast[2]), fast, slow)
    return ok


def scratch_database(server: str, name: str | None = None) -> tuple[str, Callable[[], None]]:
    """Create a scratch database (default name: modeldesk_bench_usage_<pid>) on a PostgreSQL
    server URL; its URL and how to drop it."""
    from sqlalchemy import create_engine, text

    name = name or f"modeldesk_bench_usage_{os.getpid()}"
    admin = create_engine(server.rstrip("/") + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return server.rstrip("/") + f"/{name}", drop


def main() -> int:
    """Seed, ingest, query, prune; print the figures."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--events",
        type=int,
        default=None,
        help="events to ingest (default: 10,000,000 on PostgreSQL, 1,000,000 on SQLite)",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--postgres",
        metavar="SERVER_URL",
        help="a PostgreSQL server (postgresql+psycopg://user@host:port): the bench creates "
        "its own scratch database there and drops it when done",
    )
    where.add_argument(
        "--database-url", default=None, help="an empty database of your own (default: SQLite)"
    )
    parser.add_argument(
        "--batch", type=int, default=50_000, help="events per record_usage call (one commit)"
    )
    parser.add_argument("--runs", type=int, default=20, help="timed runs per query")
    parser.add_argument("--pages", type=int, default=200, help="drill-down pages walked")
    args = parser.parse_args()

    from core.config import load_settings
    from core.startup import open_runtime

    work = Path(tempfile.mkdtemp(prefix="modeldesk-bench-usage-"))
    drop: Callable[[], None] = lambda: None  # noqa: E731
    if args.postgres:
        url, drop = scratch_database(args.postgres)
    else:
        url = args.database_url or f"sqlite:///{work / 'bench.db'}"
    if url.rsplit("/", 1)[-1].split("?")[0] == "test":
        parser.error("the shared `test` database is never a bench database; use --postgres")
    if args.events is None:
        args.events = 10_000_000 if url.startswith("postgresql") else 1_000_000
    os.environ.update(
        MODELDESK_DATABASE_URL=url,
        MODELDESK_SECRET_KEY=SECRET,
        MODELDESK_DATA_DIR=str(work),
        MODELDESK_DISABLE_SYSTEM_PROVIDERS="all",
    )
    rt = open_runtime(load_settings(secrets_file=None))
    try:
        return run(rt, args)
    finally:
        rt.dispose()
        drop()  # the scratch PostgreSQL database, if the bench made one
        shutil.rmtree(work, ignore_errors=True)  # the scratch SQLite file and data folder


def run(rt: Any, args: argparse.Namespace) -> int:
    """Seed, ingest, query; the exit status."""
    postgres = rt.engine.dialect.name == "postgresql"
    print(f"database: {rt.engine.dialect.name}, {args.events:,} events, batch {args.batch:,}")
    print(f"load average before: {load()} ({os.cpu_count()} CPUs)")
    usernames = seed(rt.sessions)
    measured = ingest(rt.sessions, args.events, args.batch, usernames)
    met = measured.rate >= INGEST_TARGET
    print(
        f"ingest: {measured.rate:,.0f} events/s through record_usage (rollups included); "
        f"target {INGEST_TARGET:,}/s on PostgreSQL: "
        f"{('ok' if met else 'SLOW') if postgres else '-'}; load average after: {load()}"
    )
    print(measured.cpu_line())
    if postgres:
        from sqlalchemy import text

        with rt.engine.begin() as conn:  # committed: statistics for the planner
            conn.execute(text("ANALYZE"))
    ok = bench_queries(rt.sessions, args.runs, args.pages, postgres)
    bench_prune(rt.sessions, postgres)
    return 0 if ok and (met or not postgres) else 1


def load() -> str:
    """The 1, 5 and 15-minute load averages."""
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


PRUNE_BEFORE = datetime(2025, 12, 1, tzinfo=UTC)


def bench_prune(sessions: Any, postgres: bool) -> None:
    """Prune every event before PRUNE_BEFORE, timed; the rollups must not move."""
    from core.usage import retention

    everything = (END.date() - timedelta(days=DAYS + 40), END.date() + timedelta(days=1))
    with sessions() as s:
        before = rollup_groups(s, *everything, "provider")
    days = (datetime.now(UTC) - PRUNE_BEFORE).days  # the horizon falls on 2025-12-01 or after
    started = time.perf_counter()
    result = retention.prune(sessions, retention_days=days, now=PRUNE_BEFORE + timedelta(days=days))
    spent = time.perf_counter() - started
    with sessions() as s:
        after = rollup_groups(s, *everything, "provider")
    assert before == after, "pruning raw events moved the rollups"
    how = "dropped partitions" if postgres else "batched deletes"
    print(f"\nretention ({how}): {result.summary()}; {spent:.2f} s; rollups unchanged")


if __name__ == "__main__":
    sys.exit(main())
