"""``modeldesk demo``: a demo organisation, so a newcomer sees every page populated.

    users      ada (admin), ben and cleo (members), each with a known demo password
    providers  OpenAI and Anthropic (instance-wide), Google Gemini (ada's, shared with cleo
               by a grant), Ben's Groq (ben's), Lab vLLM (cleo's, a self-hosted model
               without prices); every key fake
    usage      90 days up to now through the ledger's batch path: a weekly rhythm (weekends
               quiet), growth, GPT-4o's price cut on day 60, prompt caching on the Claude
               and GPT-4o mini workloads, the lab model unpriced, tags team= and env=
    budgets    one over its limit (svc-batch this month), one near it (OpenAI this month),
               a rolling 7-day user budget, a tag budget and a model budget; their
               threshold crossings alerted
    health     7 days of checks every 30 minutes: Gemini had an outage, Groq is degraded
               now, the lab's server is unreachable; five speed samples per priced model

One transaction: all of it or nothing. Deterministic: the same ``now`` gives the same rows
(a seeded RNG per day, fixed idempotency keys), so running it again with ``force`` stores
nothing twice. It refuses a database that already holds users, providers or usage unless
``force``; an account that already has a demo name keeps its password.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.accounts import access, users
from core.errors import IntegrityError
from core.records import model_records, providers, speed
from core.store.tables import (
    HealthCheck,
    HealthState,
    ModelRecord,
    ModelSpeedSample,
    Provider,
    User,
)
from core.store.usage_tables import Budget, UsageEvent
from core.usage import budget_status, budgets
from core.usage.inputs import UsageInput
from core.usage.ledger import record_usage
from core.validation import name_key

SEED = 20261206
DAYS = 90
PRICE_CUT_DAY = 60
USERS = (  # username, role, display name, password (a demo's, printed by the command)
    ("ada", "admin", "Ada (demo admin)", "ada-demo-2026"),
    ("ben", "member", "Ben", "ben-demo-2026"),
    ("cleo", "member", "Cleo", "cleo-demo-2026"),
)
PROVIDERS = (  # name, type, owner, instance-wide, fake key, config
    ("OpenAI", "openai", "ada", True, "sk-demo-openai-0000d3m0", None),
    ("Anthropic", "anthropic", "ada", True, "sk-ant-demo-0000d3m0", None),
    ("Google Gemini", "google_gemini", "ada", False, "AIza-demo-0000d3m0", None),
    ("Ben's Groq", "groq", "ben", False, "gsk_demo_0000d3m0", None),
    ("Lab vLLM", "vllm", "cleo", False, None, {"base_url": "http://gpu-lab.internal:8000/v1"}),
)
MODELS = (  # provider, model id, name, input, output, cache read, cache write per million
    ("OpenAI", "gpt-4o", "GPT-4o", "5", "15", "2.5", None),
    ("OpenAI", "gpt-4o-mini", "GPT-4o mini", "0.15", "0.6", "0.075", None),
    ("Anthropic", "claude-sonnet-4-5", "Claude Sonnet 4.5", "3", "15", "0.3", "3.75"),
    ("Anthropic", "claude-haiku-4-5", "Claude Haiku 4.5", "1", "5", "0.1", "1.25"),
    ("Google Gemini", "gemini-2.5-flash", "Gemini 2.5 Flash", "0.3", "2.5", "0.075", None),
    ("Ben's Groq", "llama-3.3-70b-versatile", "Llama 3.3 70B", "0.59", "0.79", None, None),
    ("Lab vLLM", "lab-llama-8b", "Lab Llama 8B", None, None, None, None),
)
NEW_GPT4O_PRICES = {"input_cost_per_million": "2.5", "output_cost_per_million": "10"}
# user, provider, model, team, env, requests a weekday at the start, input, output per
# request, share of input read from the cache
WORKLOADS = (
    ("ada", "OpenAI", "gpt-4o", "search", "prod", 120, 1800, 350, 0.0),
    ("ben", "OpenAI", "gpt-4o-mini", "support", "prod", 900, 1200, 250, 0.5),
    ("ben", "Ben's Groq", "llama-3.3-70b-versatile", "support", "dev", 200, 900, 300, 0.0),
    ("cleo", "Anthropic", "claude-sonnet-4-5", "research", "prod", 160, 6000, 900, 0.7),
    ("cleo", "Google Gemini", "gemini-2.5-flash", "research", "dev", 300, 2500, 400, 0.2),
    ("cleo", "Lab vLLM", "lab-llama-8b", "research", "dev", 400, 1500, 300, 0.0),
    ("svc-batch", "Anthropic", "claude-haiku-4-5", "search", "prod", 1500, 3000, 200, 0.6),
    ("svc-batch", "OpenAI", "gpt-4o", "support", "prod", 60, 4000, 800, 0.0),
)
HOURS = (9, 11, 14, 16, 21)  # the local hours a day's requests are reported at


@dataclass(frozen=True)
class DemoResult:
    """What the demo seeded (counts of this run; a forced re-run stores no usage twice)."""

    users: tuple[tuple[str, str, str | None], ...]  # username, role, password (None: existed)
    providers: int
    models: int
    events: int
    duplicates: int
    budgets: tuple[str, ...]
    seconds: float


def holdings(session: Session) -> dict[str, int]:
    """Users, providers and usage events already stored."""
    return {
        "users": session.scalar(select(func.count()).select_from(User)) or 0,
        "providers": session.scalar(select(func.count()).select_from(Provider)) or 0,
        "usage events": session.scalar(select(func.count()).select_from(UsageEvent)) or 0,
    }


def _refuse_unless_empty(session: Session) -> None:
    held = {k: n for k, n in holdings(session).items() if n}
    if held:
        listed = ", ".join(f"{n} {k}" for k, n in held.items())
        raise IntegrityError(
            f"The database already holds records ({listed}); the demo only seeds an empty "
            "one. Use --force to add the demo organisation to it anyway."
        )


def _people(session: Session) -> tuple[dict[str, User], set[str]]:
    """The demo's users, and the names of those this call created (an account that existed
    keeps its password: the demo's is not printed for it)."""
    found, created = {}, set()
    for username, role, display, password in USERS:
        user = users.get_by_username(session, username)
        if user is None:
            user = users.create_user(
                session, username=username, password=password, role=role, display_name=display
            )
            session.flush()
            created.add(username)
        found[username] = user
    return found, created


def _records(session: Session, people: dict[str, User]) -> dict[str, Provider]:
    found: dict[str, Provider] = {}
    for name, ptype, owner, shared, key, config in PROVIDERS:
        provider = session.scalar(
            select(Provider).where(
                Provider.name_key == name_key(name), Provider.owner_id == people[owner].id
            )
        )
        if provider is None:
            provider = providers.create_provider(
                session,
                actor=people[owner],
                name=name,
                provider_type=ptype,
                api_key=key,
                provider_config=config,
                instance_wide=shared,
            )
            session.flush()
            if name == "Google Gemini":
                access.grant(session, actor=people["ada"], record=provider, user=people["cleo"])
        found[name] = provider
    for pname, model_id, label, price_in, price_out, cache_read, cache_write in MODELS:
        provider = found[pname]
        exists = session.scalar(
            select(ModelRecord.id).where(
                ModelRecord.provider_id == provider.id, ModelRecord.model_id == model_id
            )
        )
        if exists is None:
            keeper = session.get(User, provider.owner_id)
            assert keeper is not None
            model_records.create_model(
                session,
                actor=keeper,
                provider_id=provider.id,
                model_id=model_id,
                name=label,
                instance_wide=provider.instance_wide,
                input_cost_per_million=price_in,
                output_cost_per_million=price_out,
                cache_read_cost_per_million=cache_read,
                cache_write_cost_per_million=cache_write,
                context_window=128_000,
            )
    session.flush()
    return found


def usage(now: datetime, timezone: str, days: range) -> Iterator[UsageInput]:
    """The demo's usage reports of these days (0 is 89 days before today), never after now."""
    zone = ZoneInfo(timezone)
    today = now.astimezone(zone).date()
    for n in days:
        day = today - timedelta(days=DAYS - 1 - n)
        rng = random.Random(f"{SEED}:{day.isoformat()}")
        rhythm = 0.35 if day.weekday() >= 5 else 1.0
        growth = 1 + 0.8 * n / (DAYS - 1)
        for w, (user, provider, model, team, env, per_day, tin, tout, cache) in enumerate(
            WORKLOADS
        ):
            total = max(1, round(per_day * rhythm * growth * rng.uniform(0.8, 1.2)))
            for h, hour in enumerate(HOURS):
                at = datetime(day.year, day.month, day.day, hour, rng.randrange(60), tzinfo=zone)
                if at > now:
                    continue
                requests = max(1, total // len(HOURS) + (1 if h < total % len(HOURS) else 0))
                input_tokens = round(requests * tin * rng.uniform(0.7, 1.3))
                output_tokens = round(requests * tout * rng.uniform(0.7, 1.3))
                yield UsageInput(
                    timestamp=at,
                    provider=provider,
                    model=model,
                    input_tokens=input_tokens,
                    cached_input_tokens=round(input_tokens * cache * rng.uniform(0.8, 1.0)),
                    output_tokens=output_tokens,
                    reasoning_tokens=output_tokens // 5 if model == "gpt-4o" and n % 3 == 0 else 0,
                    requests=requests,
                    user=user,
                    tags={"team": team, "env": env},
                    idempotency_key=f"demo:{day.isoformat()}:{w}:{hour}",
                )


def _record(
    session: Session, reports: list[UsageInput], timezone: str, now: datetime
) -> tuple[int, int]:
    result = record_usage(session, events=reports, timezone=timezone, now=now)  # one batch
    return result.inserted, result.duplicates


def _budgets(
    session: Session,
    people: dict[str, User],
    found: dict[str, Provider],
    timezone: str,
    now: datetime,
) -> tuple[str, ...]:
    today = budget_status.today_in(timezone, now)

    def spent(**scope: Any) -> Decimal:
        probe = Budget(window_kind="month", window_days=None, **scope)
        window = budget_status.window_of(probe, today)
        return max(budget_status.scope_totals(session, probe, window).cost_usd, Decimal(1))

    over = (spent(scope="user", username="svc-batch") * Decimal("0.8")).quantize(1, ROUND_FLOOR)
    near = (spent(scope="provider", provider_id=found["OpenAI"].id) / Decimal("0.86")).quantize(
        1, ROUND_CEILING
    )
    plans: list[dict[str, Any]] = [
        {
            "name": "Batch jobs",
            "scope": "user",
            "username": "svc-batch",
            "amount_usd": max(over, 1),
        },
        {
            "name": "OpenAI monthly",
            "scope": "provider",
            "provider": found["OpenAI"].id,
            "amount_usd": near,
        },
        {"name": "Research team", "scope": "tag", "tag": "team=research", "amount_usd": 300},
        {
            "name": "Ben, last 7 days",
            "scope": "user",
            "username": "ben",
            "amount_usd": 20,
            "window": "rolling",
            "window_days": 7,
        },
        {
            "name": "Claude Sonnet",
            "scope": "model",
            "provider": found["Anthropic"].id,
            "model_id": "claude-sonnet-4-5",
            "amount_usd": 500,
            "thresholds": [50, 80, 100],
        },
    ]
    made = []
    for plan in plans:
        if session.scalar(select(Budget.id).where(Budget.name_key == name_key(plan["name"]))):
            continue
        budgets.create_budget(session, actor=people["ada"], **plan)
        made.append(plan["name"])
    session.flush()
    return tuple(made)


def _health(session: Session, found: dict[str, Provider], now: datetime) -> None:
    """Seven days of checks every 30 minutes for providers without history."""
    rng = random.Random(SEED)
    checks: list[dict[str, Any]] = []
    for name, provider in found.items():
        if session.scalar(
            select(HealthCheck.id).where(HealthCheck.provider_key == provider.id).limit(1)
        ):
            continue
        last_failure: tuple[datetime, str] | None = None
        for i in range(7 * 48 - 1, -1, -1):
            at = now - timedelta(minutes=30 * i)
            latency: float | None = 180.0 + rng.random() * 400
            status, reason = "healthy", None
            if name == "Google Gemini" and 100 <= i < 106:
                status, latency, reason = "unreachable", None, "timeout: no answer within 10 s"
            elif name == "Ben's Groq" and i < 3:
                status, latency, reason = "degraded", 2600.0, "slow: 2.6 s (over 2 s)"
            elif name == "Lab vLLM" and i < 5:
                status, latency, reason = (
                    "unreachable",
                    None,
                    "connection refused by gpu-lab.internal",
                )
            if status != "healthy":
                last_failure = (at, reason or status)
            checks.append(
                {
                    "provider_key": provider.id,
                    "provider_name": provider.name,
                    "provider_type": provider.provider_type,
                    "source": "database",
                    "checked_at": at,
                    "status": status,
                    "latency_ms": None if latency is None else round(latency, 1),
                    "reason": reason,
                }
            )
        state = checks[-1]
        session.add(
            HealthState(
                provider_key=provider.id,
                status=state["status"],
                consecutive_failures=5 if state["status"] == "unreachable" else 0,
                last_checked_at=now,
                last_latency_ms=state["latency_ms"],
                last_reason=state["reason"],
                last_failure_at=last_failure[0] if last_failure else None,
                last_failure_reason=last_failure[1] if last_failure else None,
            )
        )
        provider.health_status, provider.last_health_check_at = state["status"], now
    if checks:
        session.execute(HealthCheck.__table__.insert(), checks)


SPEEDS = {  # model id → (time to first token, tokens per second) of its demo samples
    "gpt-4o": (420.0, 95.0),
    "gpt-4o-mini": (300.0, 140.0),
    "claude-sonnet-4-5": (900.0, 70.0),
    "claude-haiku-4-5": (380.0, 160.0),
    "gemini-2.5-flash": (350.0, 210.0),
    "llama-3.3-70b-versatile": (180.0, 320.0),
}


def _speed(session: Session, now: datetime) -> None:
    """Five measured completions per model without samples (the Models page's speed)."""
    rng = random.Random(SEED + 1)
    taken = set(session.scalars(select(ModelSpeedSample.model_record_id).distinct()))
    for record in session.scalars(select(ModelRecord).order_by(ModelRecord.model_id)):
        if record.model_id not in SPEEDS or record.id in taken:
            continue
        first, rate = SPEEDS[record.model_id]
        for i in range(5):
            ttft = round(first * rng.uniform(0.85, 1.2), 1)
            speed.record_sample(
                session,
                model_record_id=record.id,
                ttft_ms=ttft,
                total_ms=round(ttft + 200 / (rate * rng.uniform(0.9, 1.1)) * 1000, 1),
                output_tokens=200,
                at=now - timedelta(days=6 - i, hours=3),
            )


def seed_demo(
    sessions: Callable[[], Any],
    *,
    timezone: str,
    force: bool = False,
    now: datetime | None = None,
) -> DemoResult:
    """Seed the demo organisation (see the module's docstring) through ``sessions`` (a
    session factory); refuses a database with records unless force."""
    started = time.perf_counter()
    now = (now or datetime.now(UTC)).astimezone(UTC)
    with sessions() as session, session.begin():  # one transaction: all of it or nothing
        if not force:
            _refuse_unless_empty(session)
        people, created = _people(session)
        found = _records(session, people)
        counts = (len(found), session.scalar(select(func.count()).select_from(ModelRecord)) or 0)
        before = _record(session, list(usage(now, timezone, range(PRICE_CUT_DAY))), timezone, now)
        gpt4o = session.scalar(
            select(ModelRecord).where(
                ModelRecord.provider_id == found["OpenAI"].id, ModelRecord.model_id == "gpt-4o"
            )
        )
        assert gpt4o is not None
        if gpt4o.input_cost_per_million != Decimal(NEW_GPT4O_PRICES["input_cost_per_million"]):
            model_records.update_model(  # the price cut: later events are priced lower
                session,
                actor=people["ada"],
                model_record_id=gpt4o.id,
                expected_version=None,
                **NEW_GPT4O_PRICES,
            )
            session.flush()
        after = _record(
            session, list(usage(now, timezone, range(PRICE_CUT_DAY, DAYS))), timezone, now
        )
        made = _budgets(session, people, found, timezone, now)
        budget_status.evaluate(session, viewer=people["ada"], timezone=timezone, now=now)
        _health(session, found, now)
        _speed(session, now)
    inserted, duplicates = before[0] + after[0], before[1] + after[1]
    return DemoResult(
        users=tuple(
            (u, role, password if u in created else None) for u, role, _, password in USERS
        ),
        providers=counts[0],
        models=counts[1],
        events=inserted,
        duplicates=duplicates,
        budgets=made,
        seconds=time.perf_counter() - started,
    )
