"""The Costs and Overview pages over a large usage ledger on PostgreSQL (``bench/pages.py
--usage-events N``).

    database   a scratch database on --postgres SERVER_URL: modeldesk_bench_pages_<pid>,
               dropped at the end; --keep-db NAME fills NAME and keeps it; --reuse-db NAME
               times an already filled NAME again without generating anything
    ledger     bench/usage.py's seed (admin, 40 users user00…user39, five providers, a
               priced model record) and generator (a dozen models, two of them unpriced,
               team/env tags, a price change) over the 400 days (about 13 months) up to
               now, through record_usage; then bench/budgets.py's ~65 budgets and ANALYZE
    timed      every view in VIEWS as admin and as user00 (a member: their own usage only;
               tag views are admins'), one warm-up run then --runs runs each

Per view it prints the median and p95 wall time of the AppTest script run, the ratio of the
median to the baseline's (the one-line page, measured in the same run), and the medians of
the CPU time of this process (script and AppTest), of the PostgreSQL backends serving the
database (read from /proc: the server must be on this machine) and of the SQL statements'
time as the driver sees it, with their count. Budget: 1 s a run at p95; exit status 1 when a
view misses it. ``--explain`` also prints the slowest statement of each view.

On a shared machine the wall time follows the load average (printed before and after): the
CPU columns are what to compare between runs. Figures: docs/architecture.md, "Page cost at
10 million events".
"""

from __future__ import annotations

import logging
import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import usage as bench_usage

BUDGET_MS = 1000.0
MEMBER = "user00"
COSTS, OVERVIEW = "pages/costs.py", "pages/overview.py"
# (label, page, the Costs page's URL query, admins only)
VIEWS: list[tuple[str, str, dict[str, str], bool]] = [
    ("Overview", OVERVIEW, {}, False),
    ("Costs this month", COSTS, {}, False),
    ("Costs this month by model", COSTS, {"by": "model"}, False),
    ("Costs this month by tag team", COSTS, {"by": "tag:team"}, True),
    ("Costs last month by user", COSTS, {"period": "last_month", "by": "user"}, False),
    ("Costs 90 days", COSTS, {"period": "90d"}, False),
    ("Costs 90 days by model", COSTS, {"period": "90d", "by": "model"}, False),
    ("Costs 90 days by user", COSTS, {"period": "90d", "by": "user"}, False),
    ("Costs 90 days by tag team", COSTS, {"period": "90d", "by": "tag:team"}, True),
    (
        "Costs 90 days weekly by model",
        COSTS,
        {"period": "90d", "bucket": "week", "by": "model"},
        False,
    ),
]


# --- The database ---------------------------------------------------------------------------


def database(server: str, keep: str | None, reuse: str | None) -> tuple[str, Callable[[], None]]:
    """The bench database's URL and what to do at the end (drop it, or nothing when kept or
    reused); refuses the shared ``test`` database and a --keep-db name that exists."""
    from sqlalchemy import create_engine, text

    name = reuse or keep
    if name == "test":
        raise SystemExit("the shared `test` database is never a bench database")
    base = server.rstrip("/")
    if reuse:
        admin = create_engine(base + "/postgres")
        with admin.connect() as conn:
            found = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": reuse})
        admin.dispose()
        if not found:
            raise SystemExit(f"--reuse-db {reuse}: no such database (fill it with --keep-db)")
        return f"{base}/{reuse}", lambda: None
    try:
        name = keep or f"modeldesk_bench_pages_{os.getpid()}"
        url, drop = bench_usage.scratch_database(server, name)
    except Exception as exc:  # noqa: BLE001 - the server's own words, shortened
        raise SystemExit(f"cannot create the bench database: {str(exc).splitlines()[0]}") from None
    return url, (lambda: None) if keep else drop


def fill(sessions: Any, engine: Any, events: int, batch: int) -> None:
    """Seed, ingest events over the 400 days up to now, create the budgets, ANALYZE."""
    from sqlalchemy import func, select, text

    from bench import budgets as bench_budgets
    from core.store.usage_tables import UsageDaily, UsageDailyTag

    usernames = bench_usage.seed(sessions)
    print(f"ingesting {events:,} events over the {bench_usage.DAYS} days up to now …", flush=True)
    measured = bench_usage.ingest(sessions, events, batch, usernames, end=datetime.now(UTC))
    print(f"ingest: {measured.rate:,.0f} events/s, {measured.wall:.0f} s; {measured.cpu_line()}")
    made = bench_budgets.make_budgets(sessions)
    with engine.begin() as conn:  # committed: statistics for the planner
        conn.execute(text("ANALYZE"))
    with sessions() as s:
        daily = s.scalar(select(func.count()).select_from(UsageDaily))
        tagged = s.scalar(select(func.count()).select_from(UsageDailyTag))
    print(f"{made} budgets; rollup rows: {daily:,} daily, {tagged:,} by tag")


# --- Measuring ------------------------------------------------------------------------------


@dataclass
class Sample:
    """One script run: wall, CPU of this process and of the server, SQL time and count."""

    wall: float = 0.0
    cpu: float = 0.0
    server: float | None = None
    sql: float = 0.0
    statements: int = 0
    slowest: tuple[float, str] = (0.0, "")


@dataclass
class Meter:
    """Times every statement any engine runs, and the CPU of the database's backends."""

    url: str
    current: Sample | None = None
    _started: dict[int, float] = field(default_factory=dict)

    def install(self) -> None:
        """Listen to every engine's cursor executions."""
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        event.listen(Engine, "before_cursor_execute", self._before)
        event.listen(Engine, "after_cursor_execute", self._after)

    def _before(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self._started[id(cursor)] = time.perf_counter()

    def _after(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        started = self._started.pop(id(cursor), None)
        if self.current is None or started is None:
            return
        took = (time.perf_counter() - started) * 1000
        self.current.sql += took
        self.current.statements += 1
        if took > self.current.slowest[0]:
            self.current.slowest = (took, statement)

    def server_cpu(self) -> float | None:
        """CPU seconds of the backends connected to the database (None: not readable)."""
        import psycopg

        dsn = self.url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn, autocommit=True) as conn:
            pids = [
                r[0]
                for r in conn.execute(
                    "SELECT pid FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ]
        total = 0.0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                return None
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total

    @contextmanager
    def measure(self, into: list[Sample]) -> Iterator[None]:
        """Measure the block as one Sample appended to into."""
        sample = Sample()
        server = self.server_cpu()
        self.current = sample
        cpu, wall = time.process_time(), time.perf_counter()
        try:
            yield
        finally:
            sample.wall = (time.perf_counter() - wall) * 1000
            sample.cpu = (time.process_time() - cpu) * 1000
            self.current = None
            after = self.server_cpu()
            if server is not None and after is not None:
                sample.server = (after - server) * 1000
            into.append(sample)


def run_view(
    meter: Meter, app: str, page: str | None, username: str, query: dict[str, str], runs: int
) -> list[Sample]:
    """A warm-up run then runs measured AppTest runs of page (with query) as username."""
    from bench.signed_in_app import on_page

    at = on_page(app, page, username, query)
    samples: list[Sample] = []
    for _ in range(runs):
        with meter.measure(samples):
            at.run()
    return samples


def p95(values: list[float]) -> float:
    """The nearest-rank 95th percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _median(values: list[float | None]) -> str:
    known = [v for v in values if v is not None]
    return f"{statistics.median(known):.0f}" if len(known) == len(values) else "-"


HEADER = (
    f"{'view':<30} {'role':<6} {'median ms':>9} {'p95 ms':>7} {'x base':>7} "
    f"{'cpu py':>7} {'cpu pg':>7} {'sql ms':>7} {'stmts':>5} {'budget':>6}"
)


def report(name: str, role: str, samples: list[Sample], baseline: float) -> bool:
    """Print one line; True when p95 is within the budget."""
    walls = [s.wall for s in samples]
    median, high = statistics.median(walls), p95(walls)
    ok = high < BUDGET_MS
    print(
        f"{name:<30} {role:<6} {median:>9.0f} {high:>7.0f} {median / baseline:>6.1f}x "
        f"{_median([s.cpu for s in samples]):>7} {_median([s.server for s in samples]):>7} "
        f"{_median([s.sql for s in samples]):>7} {samples[-1].statements:>5} "
        f"{'ok' if ok else 'SLOW':>6}",
        flush=True,
    )
    return ok


def slowest(samples: list[Sample]) -> str:
    """The slowest statement of the runs, shortened, with its time."""
    took, statement = max((s.slowest for s in samples), key=lambda x: x[0])
    return f"    slowest statement {took:.0f} ms: {' '.join(statement.split())[:300]}"


def bench(url: str, work: Path, runs: int, explain: bool, fill_with: tuple[int, int] | None) -> int:
    """Fill (unless reused), then time the baseline and every view for both roles."""
    from bench.signed_in_app import route_pages_through_app
    from pages import _ui

    ROOT = Path(__file__).resolve().parent.parent
    # The bench reads the database outside a script run (the users' session epochs), which
    # Streamlit warns about on every cached call; a filter (Streamlit resets levels) drops it.
    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").addFilter(
        lambda record: "missing ScriptRunContext" not in record.getMessage()
    )
    rt = _ui.runtime()
    if rt.engine.dialect.name != "postgresql":
        raise SystemExit("--usage-events runs on PostgreSQL: give --postgres SERVER_URL")
    if fill_with is not None:
        started = time.perf_counter()
        fill(rt.sessions, rt.engine, *fill_with)
        print(f"filled in {time.perf_counter() - started:.0f} s")
    meter = Meter(url)
    meter.install()
    route_pages_through_app()
    baseline_script = work / "baseline.py"
    baseline_script.write_text("import streamlit as st\nst.title('baseline')\n")
    base = run_view(meter, str(baseline_script), None, "admin", {}, runs)
    baseline = statistics.median(s.wall for s in base)
    print(f"load average: {' '.join(f'{v:.2f}' for v in os.getloadavg())} ({os.cpu_count()} CPUs)")
    print(HEADER)
    report("baseline (a one-line page)", "admin", base, baseline)
    ok = True
    for name, page, query, admin_only in VIEWS:
        for role, username in (("admin", "admin"), ("member", MEMBER)):
            if admin_only and role == "member":
                continue
            samples = run_view(meter, str(ROOT / "app.py"), page, username, query, runs)
            ok &= report(name, role, samples, baseline)
            if explain:
                print(slowest(samples))
    print(f"load average: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0 if ok else 1
