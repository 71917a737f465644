"""The quick batch path (core.usage.batch, pricing.cost_usd, core.usage.bulk) against the
reference (ledger.prepare, pricing.charge, ledger.store): same rows, same reasons, same
costs to the last decimal, same stored events and rollups, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from genai_prices.data_snapshot import get_snapshot
from sqlalchemy import select

from core.accounts import users
from core.costs import Prices, Rate, Tier, Usage
from core.records import model_records, providers
from core.store.tables import Provider
from core.store.usage_tables import UsageDaily, UsageDailyTag, UsageEvent
from core.usage import bulk, ledger, pipeline, pricing
from core.usage.inputs import UsageInput

NOW = datetime(2026, 6, 1, tzinfo=UTC)
PROVIDERS = {
    "Anthropic prod": ("anthropic", ["claude-sonnet-4-6", "claude-haiku-4-5", "no-such-model"]),
    "OpenAI": ("openai", ["gpt-4o", "gpt-4o-mini", "ft:acme-internal-7"]),
    "DeepSeek": ("deepseek", ["deepseek-chat", "deepseek-reasoner"]),  # time-of-day prices
}


@pytest.fixture
def seeded(runtime):
    with runtime.sessions.begin() as s:
        admin = users.create_user(s, username="alice", password="correct-horse-42", role="admin")
        users.create_user(s, username="bob", password="correct-horse-42")
        s.flush()
        for name, (ptype, _) in PROVIDERS.items():
            providers.create_provider(
                s, actor=admin, name=name, provider_type=ptype, api_key="sk-test-000000000000"
            )
        openai = s.scalar(select(Provider).where(Provider.name == "OpenAI"))
        model_records.create_model(  # a record price, the output price from the catalog
            s,
            actor=admin,
            provider_id=openai.id,
            model_id="gpt-4o",
            name="GPT-4o",
            input_cost_per_million=Decimal("2"),
            cache_read_cost_per_million=Decimal("0.5"),
        )


def varied(n: int, seed: int = 3) -> list[UsageInput]:
    """Good reports of every kind: models priced by record, catalog (dated and time-of-day
    prices, Sonnet 4.6's 2026-03-13 change), unpriced; users known, unknown, none; tags."""
    rng = random.Random(seed)
    pairs = [(p, m) for p, (_, models) in PROVIDERS.items() for m in models]
    start = datetime(2026, 3, 1, tzinfo=UTC)
    found = []
    for i in range(n):
        provider, model = rng.choice(pairs)
        inp = rng.randint(0, 300_000)
        cached = rng.randint(0, inp // 2)
        written = rng.randint(0, inp - cached) if rng.random() < 0.3 else 0
        out = rng.randint(0, 9_000)
        zone = UTC if rng.random() < 0.7 else ZoneInfo("America/New_York")
        found.append(
            UsageInput(
                timestamp=(start + timedelta(seconds=rng.randint(0, 90 * 86_400))).astimezone(zone),
                provider=provider,
                model=model,
                input_tokens=inp,
                cached_input_tokens=cached,
                cache_write_tokens=written,
                output_tokens=out,
                reasoning_tokens=rng.randint(0, out),
                requests=1 if rng.random() < 0.8 else rng.randint(2, 30),
                user=rng.choice([None, "alice", "bob", "svc-batch"]),
                tags=rng.choice([{}, {"team": "search"}, {"team": "ads", "env": "prod"}]),
                idempotency_key=f"k-{i}" if rng.random() < 0.9 else None,
                source_cost_usd=(
                    Decimal(rng.randint(0, 10**8)).scaleb(-8) if rng.random() < 0.3 else None
                ),
            )
        )
    return found


BAD = [
    {"input_tokens": -1},
    {"output_tokens": 1.5},
    {"requests": True},
    {"requests": 0},
    {"input_tokens": 10, "cached_input_tokens": 8, "cache_write_tokens": 3},
    {"output_tokens": 5, "reasoning_tokens": 6},
    {"timestamp": datetime(2026, 5, 1, 12)},
    {"timestamp": NOW + timedelta(hours=2)},
    {"timestamp": NOW - timedelta(days=100)},  # before the 75-day retention horizon
    {"provider": ""},
    {"provider": "Nobody"},
    {"model": " gpt-4o"},
    {"user": ""},
    {"tags": {"bad key": "x"}},
    {"tags": {"team": 3}},
    {"tags": {"team": ["a"]}},
    {"idempotency_key": "x" * 201},
    {"idempotency_key": " padded"},
    {"idempotency_key": "tab\there"},
]


def bad_reports() -> list[UsageInput]:
    base = {
        "timestamp": NOW - timedelta(days=1),
        "provider": "OpenAI",
        "model": "gpt-4o",
        "input_tokens": 100,
        "output_tokens": 10,
        "idempotency_key": "bad",
    }
    return [UsageInput(**{**base, **change}) for change in BAD]


def as_row(prepared: dict | list) -> tuple | list:
    if isinstance(prepared, list):
        return prepared
    return tuple(json.dumps(prepared["tags"]) if c == "tags" else prepared[c] for c in bulk.STAGED)


def test_the_quick_preparer_gives_the_reference_rows_and_reasons(runtime, seeded):
    reports = varied(600) + bad_reports()
    with runtime.sessions() as s:
        quick = ledger.preparer(s, timezone="Europe/Paris", now=NOW, retention_days=75).prepare(
            reports
        )
        reference = ledger.prepare(s, reports, timezone="Europe/Paris", now=NOW, retention_days=75)
    assert quick == [as_row(r) for r in reference]
    problems = [q for q in quick if isinstance(q, list)]
    horizon = [r for r in reports[:600] if r.timestamp < NOW - timedelta(days=75)]
    assert horizon
    assert len(problems) == len(BAD) + len(horizon)  # every bad report, nothing else
    cost, source = bulk.STAGED.index("cost_usd"), bulk.STAGED.index("price_source")
    priced = [q for q in quick if isinstance(q, tuple) and q[cost] is not None]
    assert len(priced) > 300 and any(q[source].startswith("model record") for q in priced)


@pytest.mark.parametrize("chunked", [False, True])
def test_the_fast_path_stores_what_the_reference_path_stores(runtime, seeded, monkeypatch, chunked):
    if chunked:  # pipelined on PostgreSQL: chunks of 16, 32, 64…, the repeats in later ones
        monkeypatch.setattr(pipeline, "FIRST", 16)
        monkeypatch.setattr(pipeline, "CHUNK", 64)
    reports = varied(400)
    reports += reports[:50]  # sent twice in one batch

    def snapshot(s):
        events = sorted(
            (
                (
                    e.idempotency_key,
                    e.occurred_at,
                    e.day,
                    e.username,
                    e.model_id,
                    e.tags,
                    e.input_tokens,
                    e.requests,
                    e.cost_usd,
                    e.price_source,
                    e.model_record_id,
                    e.source_cost_usd,
                )
                for e in s.scalars(select(UsageEvent))
            ),
            key=lambda event: event[0],
        )
        daily = sorted(tuple(r) for r in s.execute(select(UsageDaily.__table__)))
        tagged = sorted(tuple(r) for r in s.execute(select(UsageDailyTag.__table__)))
        return events, daily, tagged

    with runtime.sessions() as s:
        fast = ledger.record_usage(s, events=reports, timezone="Asia/Tokyo", now=NOW)
        s.flush()
        fast_state = snapshot(s)
        s.rollback()
        prepared = ledger.prepare(s, reports, timezone="Asia/Tokyo", now=NOW)
        slow = ledger.store(s, [p for p in prepared if isinstance(p, dict)])
        s.flush()
        slow_state = snapshot(s)
        s.rollback()
    assert fast == slow
    assert (fast.received, fast.duplicates) == (450, 50)
    assert fast_state == slow_state
    assert len(fast_state[0]) == 400 and fast_state[1] and fast_state[2]


def _catalog_prices() -> list[Prices]:
    """Prices of a few hundred catalog models, and tiered and per-request ones."""
    found = []
    at = datetime(2026, 5, 1, 12, tzinfo=UTC)
    for provider in get_snapshot().providers:
        for model in provider.models[:40]:
            prices = Prices.from_genai(model.get_prices(at), source="catalog")
            if prices is not None:
                found.append(prices)
    tiered = Rate(Decimal("1.25"), (Tier(200_000, Decimal("2.5")), Tier(1_000_000, Decimal(5))))
    found += [
        Prices(input=tiered, output=tiered, cache_read=Rate(Decimal("0.3")), source="tiers"),
        Prices(input=Decimal(1), output=Decimal(2), per_request=Decimal("0.005"), source="fee"),
        Prices(input=Decimal(1), source="no output price"),
        Prices(output=Decimal(1), reasoning=Decimal(3), source="no input price"),
    ]
    return found


def test_cost_usd_is_the_reference_charge_to_the_last_decimal():
    rng = random.Random(11)
    prices_list = _catalog_prices()
    assert len(prices_list) > 200
    compared = 0
    for prices in [None, *prices_list]:
        for _ in range(25):
            inp = rng.choice([0, rng.randint(1, 2_000), rng.randint(0, 3_000_000)])
            cached = rng.randint(0, inp // 2)
            written = rng.randint(0, inp - cached)
            out = rng.choice([0, rng.randint(0, 50_000)])
            reasoning = rng.randint(0, out)
            requests = rng.choice([1, 1, 2, 7, 40])
            usage = Usage(
                input_tokens=inp,
                output_tokens=out,
                cache_read_tokens=cached,
                cache_write_tokens=written,
                reasoning_tokens=reasoning,
                requests=requests,
            )
            expected = pricing.charge(usage, prices).cost_usd
            got = pricing.cost_usd(prices, inp, cached, written, out, reasoning, requests)
            assert got == expected and str(got) == str(expected), (prices, usage)
            compared += 1
    assert compared > 5_000
