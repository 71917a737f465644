"""The usage the ledger benches generate: five providers with a dozen models (the last model
of each unpriced), 40 users and two names no console user has, team/env tags, 400 days of
events ending on END (Sonnet 4.6's 2026-03-13 price change inside), time roughly increasing."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

END = datetime(2026, 12, 1, tzinfo=UTC)  # events fill the 400 days before this instant
DAYS = 400
PROVIDERS = {  # record name → (type, models); the last model of each is unpriced
    "Anthropic prod": ("anthropic", ["claude-sonnet-4-6", "claude-sonnet-4-5", "claude-haiku-4-5"]),
    "OpenAI": ("openai", ["gpt-4o", "gpt-4o-mini", "gpt-4.1", "ft:acme-internal-7"]),
    "DeepSeek": ("deepseek", ["deepseek-chat", "deepseek-reasoner"]),
    "Mistral": ("mistral", ["mistral-large-latest", "mistral-small-latest"]),
    "Groq": ("groq", ["llama-3.3-70b-versatile", "acme-distill-v2"]),
}
TEAMS = ["search", "support", "research", "billing", "growth"]


def seed(sessions: Any) -> list[str]:
    """The admin, 40 users, the providers and a priced model record; returns usernames."""
    from sqlalchemy import select

    from core.accounts import users
    from core.records import model_records, providers
    from core.store.tables import Provider

    with sessions.begin() as s:
        admin = users.create_user(s, username="admin", password="bench-password-1", role="admin")
        names = [f"user{i:02d}" for i in range(40)]
        for name in names:
            users.create_user(s, username=name, password="bench-password-1")
        s.flush()
        for name, (ptype, _) in PROVIDERS.items():
            providers.create_provider(
                s, actor=admin, name=name, provider_type=ptype, api_key="sk-bench-0000000000"
            )
        openai = s.scalar(select(Provider).where(Provider.name == "OpenAI"))
        model_records.create_model(
            s,
            actor=admin,
            provider_id=openai.id,
            model_id="gpt-4o",
            name="GPT-4o (negotiated)",
            input_cost_per_million=Decimal("2"),
            output_cost_per_million=Decimal("8"),
            cache_read_cost_per_million=Decimal("0.5"),
        )
    return [*names, "svc-batch", "svc-nightly"]  # two names no console user has


def events(
    n: int, usernames: list[str], rng: random.Random, *, end: datetime = END, days: int = DAYS
) -> Any:
    """n usage reports over the days before end, in order of generation (time roughly
    increasing)."""
    from core.usage.inputs import UsageInput

    start = end - timedelta(days=days)
    span = days * 86_400
    pairs = [(p, m) for p, (_, models) in PROVIDERS.items() for m in models]
    weights = [8, 5, 4, 6, 4, 3, 1, 4, 2, 2, 1, 3, 1][: len(pairs)]
    for i in range(n):
        provider, model = rng.choices(pairs, weights)[0]
        inp = rng.randint(50, 120_000)
        out = rng.randint(10, 8_000)
        cached = rng.randint(0, inp // 2) if rng.random() < 0.4 else 0
        tags = {"team": rng.choice(TEAMS)}
        if rng.random() < 0.7:
            tags["env"] = "prod" if rng.random() < 0.8 else "staging"
        yield UsageInput(
            timestamp=start + timedelta(seconds=span * (i + rng.random()) / n),
            provider=provider,
            model=model,
            input_tokens=inp,
            output_tokens=out,
            cached_input_tokens=cached,
            reasoning_tokens=rng.randint(0, out) if "reasoner" in model else 0,
            requests=1 if rng.random() < 0.95 else rng.randint(2, 20),
            user=rng.choice(usernames) if rng.random() < 0.9 else None,
            tags=tags,
            idempotency_key=f"bench-{i}",
        )
