"""Budgets and the Overview/Costs helpers at volume, from the rollups.

    python bench/budgets.py                                 # 200,000 events, scratch SQLite
    createdb -h 127.0.0.1 -U postgres modeldesk_bench_budgets
    python bench/budgets.py --events 1000000 \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/modeldesk_bench_budgets
    dropdb -h 127.0.0.1 -U postgres modeldesk_bench_budgets

Seeds and ingests like bench/usage.py (its 400 days, five providers, 40 users, tags), then
creates a budget per provider, per model, per user and per team tag (about 65), and times
(--runs each, p50 and p95):

- ``budget_status.evaluate`` of every budget as the admin (alerts recorded on the first
  run only) and as a member, beside the same spends summed from the raw events;
- the pages' helpers (``core.usage.overview``): month to date, a 90-day period against the
  previous one, top users, the model lines (price, cache, savings), cost over time by week
  and model, and by day and team tag.

The rollups grow with days × providers × models × users, not with events: from about a
million events on, nearly every combination exists, so the figures hold at 10 million.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
_spec = importlib.util.spec_from_file_location("bench_usage", ROOT / "bench" / "usage.py")
assert _spec and _spec.loader
bench_usage = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_usage)

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)  # inside the generated 400 days
TODAY = NOW.date()


def timed(call: Callable[[], Any], runs: int) -> tuple[float, float, Any]:
    """(p50 ms, p95 ms, last result) of runs calls."""
    took, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = call()
        took.append((time.perf_counter() - started) * 1000)
    took.sort()
    return statistics.median(took), took[min(len(took) - 1, round(0.95 * (len(took) - 1)))], result


def line(
    name: str, fast: tuple[float, float, Any], slow: tuple[float, float, Any] | None = None
) -> None:
    text = f"  {name:<46} p50 {fast[0]:8.1f} ms  p95 {fast[1]:8.1f} ms"
    if slow is not None:
        text += f"   raw events p50 {slow[0]:8.1f} ms  ({slow[0] / max(fast[0], 1e-6):,.0f}×)"
    print(text, flush=True)


def make_budgets(sessions: Any) -> int:
    """A budget per provider, model, user and team; their count."""
    from core.accounts import users
    from core.usage import budgets

    made = 0
    with sessions.begin() as s:
        admin = users.require_user(s, "admin")
        for pname, (_, models) in bench_usage.PROVIDERS.items():
            budgets.create_budget(
                s, actor=admin, name=f"p {pname}", scope="provider", provider=pname, amount_usd=5000
            )
            for model in models:
                budgets.create_budget(
                    s,
                    actor=admin,
                    name=f"m {pname} {model}",
                    scope="model",
                    provider=pname,
                    model_id=model,
                    amount_usd=1000,
                )
            made += 1 + len(models)
        for i in range(40):
            budgets.create_budget(
                s,
                actor=admin,
                name=f"u user{i:02d}",
                scope="user",
                username=f"user{i:02d}",
                amount_usd=100,
                window="rolling" if i % 2 else "month",
                window_days=30 if i % 2 else None,
            )
            made += 1
        for team in bench_usage.TEAMS:
            budgets.create_budget(
                s, actor=admin, name=f"t {team}", scope="tag", tag=f"team={team}", amount_usd=2000
            )
            made += 1
    return made


def raw_spends(session: Any, found: list[Any]) -> dict[str, Decimal]:
    """The same spends summed from usage_events (the baseline), one query per budget."""
    from sqlalchemy import func, select

    from core.store.usage_tables import Budget, UsageEvent

    budgets = {b.name: b for b in session.scalars(select(Budget))}
    out = {}
    for st in found:
        b = budgets[st.name]
        query = select(func.sum(UsageEvent.cost_usd)).where(
            UsageEvent.day >= st.window.start, UsageEvent.day < st.window.end
        )
        if b.scope in ("provider", "model"):
            query = query.where(UsageEvent.provider_id == b.provider_id)
        if b.scope == "model":
            query = query.where(UsageEvent.model_id == b.model_id)
        if b.scope == "user":
            query = query.where(UsageEvent.username == b.username)
        if b.scope == "tag":
            query = query.where(UsageEvent.tags[b.tag_key].as_string() == b.tag_value)
        out[st.name] = Decimal(session.scalar(query) or 0)
    return out


def bench(sessions: Any, runs: int) -> None:
    """Time budgets and helpers; print one line each."""
    from core.accounts import users
    from core.usage import budget_status, overview

    with sessions.begin() as s:
        admin = users.require_user(s, "admin")
        started = time.perf_counter()
        first = budget_status.evaluate(s, viewer=admin, timezone="UTC", now=NOW)
        took = (time.perf_counter() - started) * 1000
    alerted = sum(len(x.alerted) for x in first)
    print(f"  {len(first)} budgets; the first status recorded {alerted} crossings in {took:.0f} ms")
    with sessions() as s:
        admin, member = users.require_user(s, "admin"), users.require_user(s, "user00")
        fast = timed(lambda: budget_status.evaluate(s, viewer=admin, timezone="UTC", now=NOW), runs)
        s.rollback()
        slow = timed(lambda: raw_spends(s, fast[2]), max(1, runs // 5))
        wrong = [st.name for st in fast[2] if st.spent_usd != slow[2][st.name]]
        if s.get_bind().dialect.name == "postgresql":  # SQLite sums decimal text as floats
            assert not wrong, f"rollup and raw spends differ: {wrong[:3]}"
        line("budgets status, every budget (admin)", fast, slow)
        line(
            "budgets status as a member",
            timed(lambda: budget_status.evaluate(s, viewer=member, timezone="UTC", now=NOW), runs),
        )
        s.rollback()
        days90 = overview.period("90d", today=TODAY)
        month = overview.period("30d", today=TODAY)

        def over(viewer: Any, span: Any, by: str, bucket: str = "day") -> Callable[[], Any]:
            return lambda: overview.over_time(s, viewer=viewer, span=span, by=by, bucket=bucket)

        o = overview
        cases: list[tuple[str, Callable[[], Any]]] = [
            ("month to date vs last month", lambda: o.month_to_date(s, viewer=admin, today=TODAY)),
            ("month to date (member)", lambda: o.month_to_date(s, viewer=member, today=TODAY)),
            ("90 days vs the 90 before", lambda: o.period_totals(s, viewer=admin, span=days90)),
            ("top 10 users, 90 days", lambda: o.top(s, viewer=admin, span=days90, by="user")),
            ("model lines, 30 days", lambda: o.models(s, viewer=admin, span=month)),
            ("cost by week and model, 90 days", over(admin, days90, "model", "week")),
            ("cost by day and team, 30 days", over(admin, month, "tag:team")),
            ("cost by day and model, 30 days (member)", over(member, month, "model")),
        ]
        for name, call in cases:
            line(name, timed(call, runs))


def main() -> int:
    """Seed, ingest, budget, time."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--database-url", default=None, help="an empty database (default: SQLite)")
    parser.add_argument("--batch", type=int, default=5_000, help="events per record_usage call")
    parser.add_argument("--runs", type=int, default=20, help="timed runs per figure")
    args = parser.parse_args()

    from core.config import load_settings
    from core.startup import open_runtime

    work = Path(tempfile.mkdtemp(prefix="modeldesk-bench-budgets-"))
    url = args.database_url or f"sqlite:///{work / 'bench.db'}"
    os.environ.update(
        MODELDESK_DATABASE_URL=url,
        MODELDESK_SECRET_KEY=bench_usage.SECRET,
        MODELDESK_DATA_DIR=str(work),
        MODELDESK_DISABLE_SYSTEM_PROVIDERS="all",
    )
    rt = open_runtime(load_settings(secrets_file=None))
    try:
        print(f"database: {rt.engine.dialect.name}, {args.events:,} events")
        usernames = bench_usage.seed(rt.sessions)
        rate = bench_usage.ingest(rt.sessions, args.events, args.batch, usernames)
        print(f"ingest: {rate:,.0f} events/s; {make_budgets(rt.sessions)} budgets")
        if rt.engine.dialect.name == "postgresql":
            from sqlalchemy import text

            with rt.engine.begin() as conn:
                conn.execute(text("ANALYZE"))
        with rt.sessions() as s:
            from sqlalchemy import func, select

            from core.store.usage_tables import UsageDaily

            print(f"rollup rows: {s.scalar(select(func.count()).select_from(UsageDaily)):,}")
        bench(rt.sessions, args.runs)
        return 0
    finally:
        rt.dispose()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
