"""A small organisation with known spend, for budget and Costs/Overview helper tests.

Users: boss (admin), olga and vera (members). Providers: "Shared" (instance-wide, boss),
"Olga AI" (olga's, private), "Vera AI" (vera's, private); each has "house-model" at $1 per
million input tokens and $2 per million output tokens. Days are in Europe/Paris; NOW is
2026-12-15 12:00 UTC. December's usage:

    olga  Shared     house-model   1M input a day, Dec 1-15             $15   team=search
    olga  Shared     house-model   5M input at 2026-11-30 23:30 UTC      $5   team=search
                                   (Dec 1 in Paris, Nov 30 in UTC)
    olga  Olga AI    house-model   1M input + 1M output on Dec 12        $3   (private)
    vera  Vera AI    house-model   2M input a day, Dec 1-15             $30   team=ads
    olga  Shared     mystery-model 3 requests on Dec 10, no price       unpriced
    olga  Shared     house-model   1M input a day, Nov 1-30             $30   (last month)
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from core.records import model_records, providers
from core.startup import Runtime
from core.store.tables import User
from core.usage.inputs import UsageInput
from core.usage.ledger import record_usage
from tests.support import factories

TZ = "Europe/Paris"
NOW = datetime(2026, 12, 15, 12, 0, tzinfo=UTC)
MILLION = 1_000_000


@dataclass(frozen=True)
class Org:
    """Ids of the seeded records."""

    users: dict[str, uuid.UUID]
    providers: dict[str, uuid.UUID]


def _event(key: str, at: datetime, provider: str, user: str, **kw: object) -> UsageInput:
    kw.setdefault("model", "house-model")
    kw.setdefault("output_tokens", 0)
    return UsageInput(
        timestamp=at,
        provider=provider,
        user=user,
        idempotency_key=key,
        **kw,  # type: ignore[arg-type]
    )


def usage() -> list[UsageInput]:
    """December's (and November's) usage as the module's docstring lists it."""
    out = []
    for day in range(1, 16):
        at = datetime(2026, 12, day, 10, 0, tzinfo=UTC)
        out.append(
            _event(f"o{day}", at, "Shared", "olga", input_tokens=MILLION, tags={"team": "search"})
        )
        out.append(
            _event(f"v{day}", at, "Vera AI", "vera", input_tokens=2 * MILLION, tags={"team": "ads"})
        )
    for day in range(1, 31):
        at = datetime(2026, 11, day, 10, 0, tzinfo=UTC)
        out.append(_event(f"n{day}", at, "Shared", "olga", input_tokens=MILLION))
    out.append(
        _event(
            "edge",
            datetime(2026, 11, 30, 23, 30, tzinfo=UTC),
            "Shared",
            "olga",
            input_tokens=5 * MILLION,
            tags={"team": "search"},
        )
    )
    out.append(
        _event(
            "private",
            datetime(2026, 12, 12, 9, 0, tzinfo=UTC),
            "Olga AI",
            "olga",
            input_tokens=MILLION,
            output_tokens=MILLION,
        )
    )
    out.append(
        _event(
            "mystery",
            datetime(2026, 12, 10, 9, 0, tzinfo=UTC),
            "Shared",
            "olga",
            model="mystery-model-x9",
            input_tokens=1234,
            output_tokens=56,
            requests=3,
        )
    )
    return out


def seed(runtime: Runtime) -> Org:
    """The organisation and its usage, committed."""
    with runtime.sessions.begin() as s:
        people = {
            u.username: u
            for u in (
                factories.user(s, "boss", "admin"),
                factories.user(s, "olga"),
                factories.user(s, "vera"),
            )
        }
        owners: dict[str, User] = {"Shared": people["boss"], "Olga AI": people["olga"]}
        owners["Vera AI"] = people["vera"]
        found = {}
        for name, owner in owners.items():
            provider = providers.create_provider(
                s,
                actor=owner,
                name=name,
                provider_type="openai",
                api_key="sk-test-000000000000",
                instance_wide=name == "Shared",
            )
            s.flush()
            model_records.create_model(
                s,
                actor=owner,
                provider_id=provider.id,
                model_id="house-model",
                name="House model",
                input_cost_per_million=Decimal(1),
                output_cost_per_million=Decimal(2),
            )
            found[name] = provider.id
        ids = {name: u.id for name, u in people.items()}
    with runtime.sessions.begin() as s:
        record_usage(s, events=usage(), timezone=TZ, now=NOW + timedelta(minutes=1))
    return Org(users=ids, providers=found)


def user(session: Session, org: Org, name: str) -> User:
    """The seeded user row named name, in session."""
    found = session.get(User, org.users[name])
    assert found is not None
    return found
