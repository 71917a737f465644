"""The small demo database the browser tests and the screenshots run over: alice (admin)
and bob (member) with a few providers and models, optionally ``modeldesk demo``'s
organisation, and a little usage and health history.
"""

from __future__ import annotations

from pathlib import Path

DEMO_PASSWORD = "demo-password-1"


def seed_demo(url: str, data_dir: Path, *, organisation: bool = False) -> None:
    """A small realistic database: an admin, a member, a few providers and models; with
    organisation, ``modeldesk demo``'s organisation too (its usage, budgets and health
    history fill the Overview; alice sees all of it, bob what a member may)."""
    from core.accounts import access, users
    from core.records import model_records, providers
    from core.startup import open_runtime
    from tests.conftest import make_settings

    rt = open_runtime(make_settings(url, data_dir))
    with rt.sessions.begin() as s:
        admin = users.create_user(
            s, username="alice", password=DEMO_PASSWORD, role="admin", display_name="Alice Admin"
        )
        bob = users.create_user(s, username="bob", password=DEMO_PASSWORD, display_name="Bob")
        s.flush()
        openai = providers.create_provider(
            s,
            actor=admin,
            name="Production OpenAI",
            provider_type="openai",
            api_key="sk-demo-0000wxyz",
            instance_wide=True,
        )
        azure = providers.create_provider(
            s,
            actor=admin,
            name="Azure EU",
            provider_type="azure_openai",
            api_key="az-demo-00001234",
            provider_config={"resource_name": "acme-eu", "api_version": "2025-04-01-preview"},
        )
        providers.create_provider(
            s, actor=bob, name="Bob's Groq", provider_type="groq", api_key="gsk-demo-0000abcd"
        )
        for prov, mid, name, price in (
            (openai, "gpt-4o", "GPT-4o", ("2.5", "10")),
            (openai, "text-embedding-3-small", "Embeddings small", ("0.02", "0")),
            (azure, "gpt-4o", "GPT-4o (Azure EU)", ("2.5", "10")),
        ):
            model = model_records.create_model(
                s,
                actor=admin,
                provider_id=prov.id,
                model_id=mid,
                name=name,
                model_type="embedding" if "embedding" in mid else "inference",
                instance_wide=prov is openai,
                input_cost_per_million=price[0],
                output_cost_per_million=price[1],
                context_window=128000,
            )
            if prov is azure:
                access.grant(s, actor=admin, record=model, user=bob)
        access.grant(s, actor=admin, record=azure, user=bob)
        _health_history(s, openai)
    with rt.sessions.begin() as s:
        _usage_history(s)
    if organisation:
        from core import demo

        demo.seed_demo(rt.sessions, timezone=rt.settings.timezone, force=True)
    rt.dispose()


def _usage_history(session) -> None:  # noqa: ANN001
    """Six weeks of usage (weekday rhythm, two teams, some cache reads, one unpriced model),
    so the Costs page has something to show."""
    from datetime import UTC, datetime, timedelta

    from core.usage.inputs import UsageInput
    from core.usage.ledger import record_usage

    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    work = (  # user, provider, model, team, requests a day, input, output, cached share
        ("alice", "Production OpenAI", "gpt-4o", "search", 120, 1800, 400, 0.4),
        ("bob", "Production OpenAI", "gpt-4o", "support", 60, 2500, 600, 0.1),
        ("bob", "Azure EU", "gpt-4o", "support", 40, 2000, 500, 0.0),
        ("alice", "Production OpenAI", "text-embedding-3-small", "search", 300, 800, 0, 0.0),
        ("alice", "Production OpenAI", "o3-lab-preview", "research", 5, 3000, 900, 0.0),
    )
    reports = []
    for n in range(42):
        at = now - timedelta(days=n)
        rhythm = 0.3 if at.weekday() >= 5 else 1.0 + (42 - n) / 60
        for i, (user, provider, model, team, per_day, tin, tout, cached) in enumerate(work):
            requests = max(1, round(per_day * rhythm * (1 + (n * 7 + i) % 5 / 10)))
            reports.append(
                UsageInput(
                    timestamp=at,
                    provider=provider,
                    model=model,
                    user=user,
                    requests=requests,
                    input_tokens=requests * tin,
                    cached_input_tokens=round(requests * tin * cached),
                    output_tokens=requests * tout,
                    tags={"team": team},
                    idempotency_key=f"shot:{n}:{i}",
                )
            )
    record_usage(session, events=reports, timezone="UTC", now=now + timedelta(minutes=5))


def _health_history(session, provider) -> None:  # noqa: ANN001
    """A day of stored checks for one provider (a short outage and a slow one), so the Health
    page's history has something to show."""
    from datetime import timedelta

    from core.store.tables import HealthCheck, HealthState, utcnow

    now, timeout = (
        utcnow(),
        (
            "timeout: no answer within 10 s (the provider's gateway said 504 "
            "while contacting its upstream)"
        ),
    )
    for i in range(48):
        failed, slow = i in (7, 8, 9), i == 20
        session.add(
            HealthCheck(
                provider_key=provider.id,
                provider_name=provider.name,
                provider_type=provider.provider_type,
                source="database",
                checked_at=now - timedelta(minutes=30 * i),
                status="unreachable" if failed else "degraded" if slow else "healthy",
                latency_ms=None if failed else 2400.0 if slow else 280.0 + (i * 53) % 240,
                reason=timeout if failed else "slow: 2.4 s (over 2 s)" if slow else None,
            )
        )
    session.add(
        HealthState(
            provider_key=provider.id,
            status="healthy",
            consecutive_failures=0,
            last_checked_at=now,
            last_latency_ms=280.0,
            last_failure_at=now - timedelta(minutes=210),
            last_failure_reason=timeout,
        )
    )
    provider.health_status, provider.last_health_check_at = "healthy", now  # as a sweep does
