"""Usage summaries read from the rollups equal an independent SQL sum over the raw events,
to the cent, for several periods and groupings, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import event, text

from core.accounts import users
from core.costs import to_cents
from core.errors import ValidationError
from core.records import model_records, providers
from core.usage import summary
from core.usage.inputs import UsageInput
from core.usage.ledger import record_usage

D = Decimal
START = datetime(2026, 4, 20, tzinfo=UTC)
MODELS = [
    ("Anthropic prod", "claude-sonnet-4-5"),
    ("Anthropic prod", "claude-haiku-4-5"),
    ("Anthropic prod", "house-model"),
    ("OpenAI", "gpt-4o"),
    ("OpenAI", "gpt-4o-mini"),
]
USERS = ["alice", "bob", "svc-batch", None]
PERIODS = [
    (date(2026, 4, 20), date(2026, 6, 1)),
    (date(2026, 4, 25), date(2026, 5, 2)),
    (date(2026, 5, 1), date(2026, 5, 2)),
    (date(2026, 5, 10), date(2026, 5, 20)),
]
GROUPINGS = ["day", "provider", "model", "user", "tag:team", "tag:env"]
# Each SQL shape summary has: by day in the rollups' key order, by day and user, and the
# groupings without days folded from one read per provider, model and user.
GROUPINGS += ["day,provider", "day,model", "day,user", "provider,model", "model,user"]
TZ = "Europe/Paris"


def events(n: int = 240) -> list[UsageInput]:
    """A reproducible mix: two providers, priced and unpriced models, users, tags, hours
    around midnight (so the Paris day differs from the UTC day), several requests."""
    rng = random.Random(20261206)
    out = []
    for i in range(n):
        provider, model = rng.choice(MODELS)
        input_tokens = rng.choice([0, 17, 1_234, 50_000, 250_000])
        output_tokens = rng.choice([0, 1, 999, 20_000])
        tags = {}
        if rng.random() < 0.7:
            tags["team"] = rng.choice(["search", "ads", "support"])
        if rng.random() < 0.4:
            tags["env"] = rng.choice(["prod", "dev"])
        out.append(
            UsageInput(
                timestamp=START
                + timedelta(hours=rng.randrange(0, 24 * 35), minutes=rng.randrange(60)),
                provider=provider,
                model=model,
                input_tokens=input_tokens,
                cached_input_tokens=input_tokens // rng.choice([1, 3, 10])
                if rng.random() < 0.5
                else 0,
                output_tokens=output_tokens,
                reasoning_tokens=output_tokens // 2 if rng.random() < 0.3 else 0,
                requests=rng.choice([1, 1, 1, 2, 5]),
                user=rng.choice(USERS),
                tags=tags,
                idempotency_key=f"evt-{i}",
            )
        )
    return out


@pytest.fixture
def ledger(runtime):
    with runtime.sessions.begin() as s:
        admin = users.create_user(s, username="alice", password="correct-horse-42", role="admin")
        s.flush()
        providers.create_provider(
            s,
            actor=admin,
            name="Anthropic prod",
            provider_type="anthropic",
            api_key="sk-test-000000000000",
        )
        openai = providers.create_provider(
            s, actor=admin, name="OpenAI", provider_type="openai", api_key="sk-test-000000000000"
        )
        model_records.create_model(
            s,
            actor=admin,
            provider_id=openai.id,
            model_id="gpt-4o",
            name="GPT-4o",
            input_cost_per_million=D("2.5"),
            output_cost_per_million=D("10"),
        )
    batch = events()
    for start in range(0, len(batch), 70):  # several transactions, rollup rows shared
        with runtime.sessions.begin() as s:
            record_usage(
                s,
                events=batch[start : start + 70],
                timezone=TZ,
                now=datetime(2026, 7, 1, tzinfo=UTC),
            )
    return runtime


def sql_groups(runtime, by: str, date_from: date, date_to: date) -> dict[tuple, dict]:
    """The same totals straight from usage_events, grouped in SQL (independent of rollups)."""
    pg = runtime.engine.dialect.name == "postgresql"
    if by.startswith("tag:"):
        key = by[4:]
        label = f"tags->>'{key}'" if pg else f"json_extract(tags, '$.{key}')"
        labels = [f"COALESCE({label}, '(no {key})')"]
    else:
        parts = {
            "day": ["CAST(day AS TEXT)" if not pg else "to_char(day, 'YYYY-MM-DD')"],
            "provider": ["provider_name", "provider_type", "CAST(provider_id AS TEXT)"],
            "model": ["provider_name", "model_id"],
            "user": ["COALESCE(username, '(no user)')"],
        }
        labels = list(dict.fromkeys(c for part in by.split(",") for c in parts[part]))

    # PostgreSQL sums NUMERIC exactly; SQLite keeps the decimal text, summed in units of 1e-8.
    def money(column: str) -> str:
        return (
            f"SUM({column})" if pg else f"SUM(CAST(ROUND(CAST({column} AS REAL) * 1e8) AS INTEGER))"
        )

    sql = (
        f"SELECT {', '.join(labels)}, SUM(requests), SUM(input_tokens), "
        "SUM(cached_input_tokens), SUM(cache_write_tokens), SUM(output_tokens), "
        f"SUM(reasoning_tokens), {money('cost_usd')}, "
        "SUM(CASE WHEN cost_usd IS NULL THEN requests ELSE 0 END), "
        f"{money('source_cost_usd')}, "
        "SUM(CASE WHEN source_cost_usd IS NULL THEN 0 ELSE requests END) FROM usage_events "
        f"WHERE day >= :f AND day < :t GROUP BY {', '.join(labels)}"
    )
    with runtime.engine.connect() as conn:
        rows = conn.execute(text(sql), {"f": date_from, "t": date_to}).all()
    n = len(labels)
    out = {}
    for row in rows:
        total, source = D(row[n + 6] or 0), D(row[n + 8] or 0)
        labels_ = [str(v) for v in row[:n]]
        if "provider" in by.split(","):  # SQLite keeps a UUID as 32 hex digits
            at = labels.index("CAST(provider_id AS TEXT)")
            labels_[at] = str(uuid.UUID(labels_[at]))
        out[tuple(labels_)] = dict(
            zip(
                summary.METRICS,
                [
                    *map(int, row[n : n + 6]),
                    total if pg else total.scaleb(-8),
                    int(row[n + 7]),
                    source if pg else source.scaleb(-8),
                    int(row[n + 9]),
                ],
            )
        )
    return out


@pytest.mark.parametrize("by", GROUPINGS)
def test_summary_equals_the_sum_over_the_events(ledger, by):
    for date_from, date_to in PERIODS:
        with ledger.sessions() as s:
            groups = summary.summarize(s, date_from=date_from, date_to=date_to, by=by)
        ours = {tuple(g.labels.values()): g.totals.as_dict() for g in groups}
        theirs = sql_groups(ledger, by, date_from, date_to)
        assert set(ours) == set(theirs), (by, date_from)
        for key, totals in ours.items():
            expected = theirs[key]
            assert to_cents(totals.pop("cost_usd")) == to_cents(expected.pop("cost_usd"))
            assert totals == expected, (by, key)
    assert groups or by.startswith("tag:")


def test_summaries_cover_priced_and_unpriced_usage(ledger):
    with ledger.sessions() as s:
        groups = summary.summarize(
            s, date_from=date(2026, 4, 1), date_to=date(2026, 7, 1), by="model"
        )
    by_model = {g.labels["model"]: g.totals for g in groups}
    assert by_model["house-model"].cost_usd == 0 and by_model["house-model"].unpriced_requests
    assert by_model["claude-sonnet-4-5"].unpriced_requests == 0
    assert by_model["claude-sonnet-4-5"].cost_usd > 0
    assert summary.total(groups).requests == sum(e.requests for e in events())


def test_the_period_is_from_inclusive_to_exclusive(ledger):
    with ledger.sessions() as s:
        days = summary.summarize(s, date_from=date(2026, 5, 1), date_to=date(2026, 5, 3))
    assert [g.labels["day"] for g in days] == ["2026-05-01", "2026-05-02"]


def test_summaries_never_read_the_events(ledger):
    statements = []

    def seen(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(ledger.engine, "before_cursor_execute", seen)
    try:
        with ledger.sessions() as s:
            for by in GROUPINGS:
                summary.summarize(s, date_from=date(2026, 4, 1), date_to=date(2026, 7, 1), by=by)
    finally:
        event.remove(ledger.engine, "before_cursor_execute", seen)
    assert statements and not [s for s in statements if "usage_events" in s]


@pytest.mark.parametrize("by", ["week", "tag:", "tag:bad key", ""])
def test_unknown_groupings_are_refused(by):
    with pytest.raises(ValidationError, match="Group by one of day, provider"):
        summary.check_grouping(by)


def test_an_empty_period_is_refused(runtime):
    with pytest.raises(ValidationError, match="The period is empty"), runtime.sessions() as s:
        summary.summarize(s, date_from=date(2026, 5, 2), date_to=date(2026, 5, 2))
