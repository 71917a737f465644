"""A database with a row in most tables (users, providers with sealed keys, models, a grant,
usage events and their rollups, audit events), and every row of every table read back, to
prove a backup and restore lose nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, select, text

from core.accounts import access
from core.records.credentials import provider_credentials
from core.startup import Runtime
from core.store.tables import Base
from core.usage.inputs import UsageInput
from core.usage.ledger import record_usage
from tests.support import factories as f

API_KEY = "sk-CANARY-backup-7f3a9c21"
T0 = datetime(2026, 11, 3, 9, 30, tzinfo=UTC)


def seed_everything(runtime: Runtime) -> str:
    """Fill the database through the services; returns the id of the provider whose key
    is API_KEY."""
    with runtime.sessions.begin() as s:
        alice = f.user(s, "alice", role="admin")
        bob = f.user(s, "bob")
        openai = f.provider(s, alice, "OpenAI", api_key=API_KEY)
        anthropic = f.provider(
            s, alice, "Anthropic prod", provider_type="anthropic", api_key="sk-ant-000000000000"
        )
        gpt = f.model(
            s,
            alice,
            openai,
            "gpt-4o",
            input_cost_per_million=Decimal("2.5"),
            output_cost_per_million=Decimal("10"),
        )
        access.grant(s, actor=alice, record=gpt, user=bob)
        s.flush()
        provider_id = str(openai.id)
        del anthropic
    with runtime.sessions.begin() as s:
        record_usage(
            s,
            events=[
                UsageInput(
                    timestamp=T0,
                    provider="OpenAI",
                    model="gpt-4o",
                    input_tokens=1_200,
                    output_tokens=340,
                    cached_input_tokens=200,
                    user="bob",
                    tags={"team": "search"},
                ),
                UsageInput(
                    timestamp=T0.replace(day=4),
                    provider="Anthropic prod",
                    model="claude-sonnet-4-5",
                    input_tokens=5_000,
                    output_tokens=900,
                    reasoning_tokens=300,
                    requests=3,
                ),
                UsageInput(
                    timestamp=T0,
                    provider="OpenAI",
                    model="gpt-unknown-model",
                    input_tokens=10,
                    output_tokens=1,
                ),
            ],
        )
    return provider_id


def every_row(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (and the schema revision), in primary-key order."""
    with engine.connect() as conn:
        rows: dict[str, list[tuple[Any, ...]]] = {
            "alembic_version": [
                tuple(r) for r in conn.execute(text("SELECT * FROM alembic_version"))
            ]
        }
        for table in Base.metadata.sorted_tables:
            query = select(table).order_by(*table.primary_key.columns)
            rows[table.name] = [tuple(r) for r in conn.execute(query)]
    return rows


def api_key_of(runtime: Runtime, provider_id: str) -> str | None:
    """The provider's key, opened with the runtime's keyring."""
    with runtime.sessions() as s:
        return provider_credentials(s, provider_id).api_key
