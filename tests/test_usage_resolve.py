"""Looking up the records a batch names together (Resolver.preload, Preparer.preload): the
same answers as one lookup per name, in a few queries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event

from core.accounts import users
from core.errors import ValidationError
from core.records import model_records, providers
from core.usage import ledger
from core.usage.inputs import UsageInput
from core.usage.resolve import Resolver

NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture
def named(runtime):
    """alice (admin) and Bob; OpenAI with a gpt-4o record; two records named "Shared" (one
    per owner: ambiguous); Anthropic without records."""
    with runtime.sessions.begin() as s:
        admin = users.create_user(s, username="alice", password="correct-horse-42", role="admin")
        bob = users.create_user(s, username="Bob", password="correct-horse-42", role="admin")
        s.flush()
        openai = providers.create_provider(
            s, actor=admin, name="OpenAI", provider_type="openai", api_key="sk-test-000000000000"
        )
        providers.create_provider(
            s, actor=admin, name="Anthropic", provider_type="anthropic", api_key="sk-test-0000000"
        )
        for owner in (admin, bob):
            providers.create_provider(
                s,
                actor=owner,
                name="Shared",
                provider_type="openai",
                api_key="sk-test-000000000000",
            )
        model_records.create_model(
            s, actor=admin, provider_id=openai.id, model_id="gpt-4o", name="GPT-4o"
        )
    return runtime


PROVIDER_NAMES = ["OpenAI", " openai ", "Anthropic", "Shared", "Nobody", ""]
TARGETS = [("OpenAI", "gpt-4o"), ("openai", "gpt-4o-mini"), ("Anthropic", "gpt-4o")]
USERNAMES = ["alice", "BOB", " bob", "nobody", "", "ALICE "]


def answers(resolver: Resolver) -> tuple:
    """What each name resolves to (ids, None or the reason), asked one by one."""
    found_providers = []
    for name in PROVIDER_NAMES:
        found = resolver.provider(name)
        found_providers.append(found if isinstance(found, str) else found.id)
    records = []
    for name, model_id in TARGETS:
        provider = resolver.provider(name)
        assert not isinstance(provider, str)
        record = resolver.record(provider, model_id)
        records.append(record.id if record is not None else None)
    found_users = [getattr(resolver.user(n), "id", None) for n in USERNAMES]
    return found_providers, records, found_users


def counting(session) -> list[str]:
    """The statements the session's connection runs from now on."""
    statements: list[str] = []
    event.listen(
        session.connection(),
        "before_cursor_execute",
        lambda _c, _cur, statement, *_: statements.append(statement),
    )
    return statements


def test_preloaded_answers_equal_single_lookups_in_three_queries(named):
    with named.sessions() as s:
        expected = answers(Resolver(s))
    with named.sessions() as s:
        resolver = Resolver(s)
        statements = counting(s)
        resolver.preload(PROVIDER_NAMES, TARGETS, USERNAMES)
        assert len(statements) == 3  # providers, model records, users
        statements.clear()
        assert answers(resolver) == expected
        assert statements == []  # every answer came from the preload
    found_providers, records, found_users = expected
    assert found_providers[0] == found_providers[1]  # case and spaces do not matter
    assert "2 provider records are named 'Shared'" in found_providers[3]
    assert found_providers[4].startswith("no provider record is named 'Nobody'")
    assert records[0] is not None and records[1:] == [None, None]
    assert found_users[1] == found_users[2] is not None and found_users[3:5] == [None, None]


def test_a_batch_looks_its_names_up_together(named):
    reports = [
        UsageInput(
            timestamp=NOW - timedelta(hours=i + 1),
            provider=("OpenAI", "Anthropic")[i % 2],
            model=("gpt-4o", "gpt-4o-mini", "claude-haiku-4-5")[i % 3],
            input_tokens=100,
            output_tokens=10,
            user=("alice", "Bob", None)[i % 3],
            idempotency_key=f"k{i}",
        )
        for i in range(60)
    ]
    with named.sessions.begin() as s:
        quick = ledger.preparer(s, timezone="UTC", now=NOW)
        statements = counting(s)
        rows = quick.prepare(reports)
    assert all(isinstance(r, tuple) for r in rows)
    lookups = [q for q in statements if "FROM providers" in q or "FROM users" in q]
    assert len(lookups) <= 2, statements  # one per table, not one per name
    with named.sessions.begin() as s:
        stored = ledger.record_usage(s, events=reports, now=NOW)
    assert stored.inserted == 60


@pytest.mark.parametrize(
    "field, value",
    [
        ("provider", "Open\x00AI"),
        ("provider", "Open\udc00AI"),
        ("model", "gpt\udc00"),
        ("user", "bo\x07b"),
        ("user", "bob\udc00"),
        ("provider", " OpenAI"),
        ("tags", {"team": "se\udc00arch"}),
        ("idempotency_key", "k\udc00"),
    ],
)
def test_a_name_prepare_would_not_look_up_is_not_preloaded_either(named, field, value):
    # (half a surrogate pair, a JSON escape such as \udc00 alone, is refused like a control
    # character: before, the lookup's query failed to encode it)
    good = dict(
        timestamp=NOW - timedelta(hours=1),
        provider="OpenAI",
        model="gpt-4o",
        input_tokens=100,
        output_tokens=10,
        user="alice",
    )
    reports = [
        UsageInput(**good, idempotency_key="a"),
        UsageInput(**{**good, "idempotency_key": "b", field: value}),
    ]
    with named.sessions.begin() as s, pytest.raises(ValidationError) as raised:
        ledger.record_usage(s, events=reports, now=NOW)
    assert "Usage report 2" in str(raised.value) and "Usage report 1" not in str(raised.value)
