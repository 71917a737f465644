"""What the ledger's tests share (tests/test_usage_ledger.py, tests/test_usage_reports.py): a
seeded organisation (the ``ledger_org`` fixture), a usage report, recording and reading back."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from core.accounts import users
from core.records import model_records, providers
from core.store.tables import Provider
from core.store.usage_tables import UsageEvent
from core.usage.inputs import UsageInput
from core.usage.ledger import record_usage

D = Decimal
T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def ledger_org(runtime):
    """An admin, three providers and one priced model record; returns the admin's id."""
    with runtime.sessions.begin() as s:
        admin = users.create_user(s, username="alice", password="correct-horse-42", role="admin")
        s.flush()
        for name, ptype in (
            ("Anthropic prod", "anthropic"),
            ("Perplexity", "perplexity"),
            ("OpenAI", "openai"),
        ):
            providers.create_provider(
                s, actor=admin, name=name, provider_type=ptype, api_key="sk-test-000000000000"
            )
        openai = s.scalar(select(Provider).where(Provider.name == "OpenAI"))
        model_records.create_model(
            s,
            actor=admin,
            provider_id=openai.id,
            model_id="gpt-4o",
            name="GPT-4o",
            input_cost_per_million=D("2"),
            output_cost_per_million=D("8"),
            cache_read_cost_per_million=D("0.5"),
        )
        return admin.id


def report(model="claude-sonnet-4-5", provider="Anthropic prod", at=T0, **kw) -> UsageInput:
    kw.setdefault("input_tokens", 1_000)
    kw.setdefault("output_tokens", 100)
    return UsageInput(timestamp=at, provider=provider, model=model, **kw)


def record(runtime, *events, timezone="UTC"):
    with runtime.sessions.begin() as s:
        return record_usage(s, events=list(events), timezone=timezone)


def stored(runtime) -> list[UsageEvent]:
    with runtime.sessions() as s:
        return list(
            s.scalars(select(UsageEvent).order_by(UsageEvent.occurred_at, UsageEvent.model_id))
        )
