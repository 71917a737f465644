"""record_usage on SQLite and PostgreSQL: validation, idempotency, pricing at ingest
(cross-checked with genai_prices.calc_price), unpriced events, rollups, day buckets."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import genai_prices
import pytest
from genai_prices.data_snapshot import get_snapshot
from sqlalchemy import select

from core.accounts import users
from core.catalog import model_facts
from core.costs import to_cents
from core.records import model_records, providers
from core.store.tables import Provider, User
from core.store.usage_tables import NO_PROVIDER_ID, UsageDaily, UsageDailyTag
from core.usage.inputs import UsageInput
from core.usage.ledger import record_usage
from tests.support.usage_ledger import T0, D, record, report, stored

GENAI = f"genai-prices {model_facts.package_version('genai-prices')}"


def rollup_rows(runtime) -> tuple[list[tuple], list[tuple]]:
    with runtime.sessions() as s:
        daily = [
            (
                r.day,
                r.provider_name,
                r.model_id,
                r.username,
                r.requests,
                r.input_tokens,
                r.cached_input_tokens,
                r.cache_write_tokens,
                r.output_tokens,
                r.reasoning_tokens,
                r.cost_usd,
                r.unpriced_requests,
            )
            for r in s.scalars(
                select(UsageDaily).order_by(
                    UsageDaily.day, UsageDaily.model_id, UsageDaily.username
                )
            )
        ]
        tags = [
            (r.day, r.tag_key, r.tag_value, r.requests, r.cost_usd, r.unpriced_requests)
            for r in s.scalars(
                select(UsageDailyTag).order_by(
                    UsageDailyTag.day, UsageDailyTag.tag_key, UsageDailyTag.tag_value
                )
            )
        ]
    return daily, tags


def genai_total(provider_id: str, model_id: str, u: UsageInput) -> Decimal:
    """What genai-prices charges for this report (the model object, as tests/test_costs.py)."""
    provider = next(p for p in get_snapshot().providers if p.id == provider_id)
    model = next(m for m in provider.models if m.id == model_id)
    usage = genai_prices.Usage(
        input_tokens=u.input_tokens,
        output_tokens=u.output_tokens,
        cache_read_tokens=u.cached_input_tokens,
        cache_write_tokens=u.cache_write_tokens,
        output_reasoning_tokens=u.reasoning_tokens,
    )
    return model.calc_price(usage, provider, genai_request_timestamp=u.timestamp).total_price


# --- Pricing at ingest ---------------------------------------------------------------------

CATALOG_CASES = [
    # Sonnet 4.5: cache reads and writes, under and over the 200k long-context cliff.
    (
        "anthropic",
        "Anthropic prod",
        "claude-sonnet-4-5",
        T0,
        {
            "input_tokens": 100_000,
            "cached_input_tokens": 60_000,
            "cache_write_tokens": 10_000,
            "output_tokens": 2_000,
        },
    ),
    (
        "anthropic",
        "Anthropic prod",
        "claude-sonnet-4-5",
        T0 + timedelta(hours=1),
        {
            "input_tokens": 250_000,
            "cached_input_tokens": 100_000,
            "cache_write_tokens": 20_000,
            "output_tokens": 3_000,
        },
    ),
    # Sonnet 4.6 dropped its long-context tier on 2026-03-13: the date decides the price.
    (
        "anthropic",
        "Anthropic prod",
        "claude-sonnet-4-6",
        datetime(2026, 3, 12, 23, tzinfo=UTC),
        {"input_tokens": 300_000, "cached_input_tokens": 50_000, "output_tokens": 1_000},
    ),
    (
        "anthropic",
        "Anthropic prod",
        "claude-sonnet-4-6",
        datetime(2026, 3, 13, 1, tzinfo=UTC),
        {"input_tokens": 300_000, "cached_input_tokens": 50_000, "output_tokens": 1_000},
    ),
    # Perplexity prices reasoning tokens apart from the rest of the output.
    (
        "perplexity",
        "Perplexity",
        "sonar-deep-research",
        T0,
        {"input_tokens": 5_000, "output_tokens": 40_000, "reasoning_tokens": 30_000},
    ),
    # Several requests in one report: the tier is chosen per request, as genai-prices would
    # for one of them, and the total is n times that.
    (
        "anthropic",
        "Anthropic prod",
        "claude-sonnet-4-5",
        T0 + timedelta(hours=2),
        {"input_tokens": 3 * 210_000, "output_tokens": 3 * 1_000, "requests": 3},
    ),
]


def test_catalog_priced_events_cost_what_genai_prices_charges(runtime, ledger_org):
    reports = [report(model, provider, at, **kw) for _, provider, model, at, kw in CATALOG_CASES]
    result = record(runtime, *reports)
    assert (result.inserted, result.unpriced) == (len(CATALOG_CASES), 0)
    rows = {e.idempotency_key: e for e in stored(runtime)}
    for (genai_provider, _, model, _, kw), u in zip(CATALOG_CASES, reports):
        event = rows[u.key]
        one = UsageInput(
            **{
                **u.__dict__,
                **{k: v // u.requests for k, v in kw.items() if k != "requests"},
                "requests": 1,
            }
        )
        expected = genai_total(genai_provider, model, one) * u.requests
        assert to_cents(event.cost_usd) == to_cents(expected), (model, kw)
        assert abs(event.cost_usd - expected) < D("1e-8"), (model, kw)
        assert event.price_source.startswith(GENAI) and not event.configured
    before, after = (rows[reports[i].key] for i in (2, 3))
    assert before.cost_usd > after.cost_usd  # the cliff price before 2026-03-13 only
    assert after.price_source == f"{GENAI}, price since 2026-03-13"
    assert before.price_source == GENAI


def test_a_model_record_prices_its_events(runtime, ledger_org):
    u = report(
        "gpt-4o",
        "openai",
        input_tokens=1_000_000,
        cached_input_tokens=400_000,
        output_tokens=100_000,
    )
    record(runtime, u)
    (event,) = stored(runtime)
    # 600k × $2 + 400k × $0.50 per million in, 100k × $8 per million out.
    assert event.cost_usd == D("1.2") + D("0.2") + D("0.8")
    assert event.price_source == "model record"
    assert event.configured and event.model_record_id is not None
    assert event.provider_name == "OpenAI" and event.provider_type == "openai"


def test_a_record_without_an_output_price_takes_the_catalogs(runtime, ledger_org):
    with runtime.sessions.begin() as s:
        admin = s.get(User, ledger_org)
        openai = s.scalar(select(Provider).where(Provider.name == "OpenAI"))
        model_records.create_model(
            s,
            actor=admin,
            provider_id=openai.id,
            model_id="gpt-4o-mini",
            name="mini",
            input_cost_per_million=D("1"),
        )
    record(
        runtime, report("gpt-4o-mini", "OpenAI", input_tokens=1_000_000, output_tokens=1_000_000)
    )
    (event,) = stored(runtime)
    catalog = model_facts.lookup("openai", "gpt-4o-mini").prices
    assert event.cost_usd == D("1") + catalog.output.base
    assert event.price_source.startswith("model record; output from genai-prices")


def test_an_unknown_model_is_unpriced_not_free(runtime, ledger_org):
    result = record(runtime, report("house-model-7b", requests=4, input_tokens=40, output_tokens=8))
    assert result.unpriced == 1 and result.cost_usd == 0
    (event,) = stored(runtime)
    assert event.cost_usd is None and event.price_source is None and not event.configured
    daily, _ = rollup_rows(runtime)
    assert daily == [
        (date(2026, 5, 1), "Anthropic prod", "house-model-7b", "", 4, 40, 0, 0, 8, 0, D(0), 4)
    ]


# --- Idempotency and rollups ---------------------------------------------------------------


def test_an_event_sent_twice_is_stored_once_and_counted_once(runtime, ledger_org):
    events = [
        report(tags={"team": "search"}, user="alice"),
        report(model="gpt-4o", provider="OpenAI", idempotency_key="req-1"),
        report(model="house-model", at=T0 + timedelta(days=1)),
    ]
    first = record(runtime, *events)
    snapshot = rollup_rows(runtime)
    again = record(runtime, *events, events[1])
    assert (first.inserted, first.duplicates) == (3, 0)
    assert (again.inserted, again.duplicates, again.cost_usd) == (0, 4, 0)
    assert len(stored(runtime)) == 3
    assert rollup_rows(runtime) == snapshot
    # A different report under a key already used is the same event, not a new one.
    assert record(runtime, report(input_tokens=9, idempotency_key="req-1")).inserted == 0


def test_rollups_hold_the_sums_of_the_events(runtime, ledger_org):
    record(
        runtime,
        report(
            user="alice",
            tags={"team": "search", "env": "prod"},
            input_tokens=100,
            cached_input_tokens=30,
            cache_write_tokens=20,
            output_tokens=50,
            reasoning_tokens=10,
        ),
        report(
            user="alice", tags={"team": "search"}, input_tokens=200, output_tokens=70, requests=2
        ),
        report(user="Bob-external", tags={"team": "ads"}, model="house-model"),
    )
    daily, tags = rollup_rows(runtime)
    events = stored(runtime)
    assert sum(r[4] for r in daily) == sum(e.requests for e in events) == 4
    assert sum(r[10] for r in daily) == sum(e.cost_usd for e in events if e.cost_usd)
    assert [(r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[11]) for r in daily] == [
        ("claude-sonnet-4-5", "alice", 3, 300, 30, 20, 120, 10, 0),
        ("house-model", "Bob-external", 1, 1_000, 0, 0, 100, 0, 1),
    ]
    by_tag = {(k, v): (n, unpriced) for _, k, v, n, _, unpriced in tags}
    assert by_tag == {("env", "prod"): (1, 0), ("team", "ads"): (1, 1), ("team", "search"): (3, 0)}


def test_users_are_linked_when_known_and_kept_by_name_otherwise(runtime, ledger_org):
    record(
        runtime, report(user="ALICE"), report(user="svc-batch", model="gpt-4o", provider="OpenAI")
    )
    alice, svc = stored(runtime)
    assert (alice.user_id, alice.username) == (ledger_org, "alice")
    assert (svc.user_id, svc.username) == (None, "svc-batch")


def test_history_survives_deleting_the_provider(runtime, ledger_org):
    record(runtime, report(model="gpt-4o", provider="OpenAI"))
    with runtime.sessions.begin() as s:
        admin = s.get(User, ledger_org)
        openai = s.scalar(select(Provider).where(Provider.name == "OpenAI"))
        provider_id = openai.id
        providers.delete_provider(s, actor=admin, provider_id=openai.id, cascade=True)
    (event,) = stored(runtime)
    assert (event.provider_id, event.provider_name, event.provider_type) == (
        provider_id,
        "OpenAI",
        "openai",
    )
    assert event.model_record_id is None and event.cost_usd == D("0.0028")
    with runtime.sessions() as s:
        assert s.scalar(select(UsageDaily.provider_id)) == provider_id != NO_PROVIDER_ID


# --- Day buckets -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "day"),
    [
        ("UTC", date(2026, 5, 1)),
        ("Europe/Paris", date(2026, 5, 2)),
        ("America/Los_Angeles", date(2026, 5, 1)),
        ("Pacific/Kiritimati", date(2026, 5, 2)),
    ],
)
def test_events_count_on_the_day_of_the_configured_timezone(runtime, ledger_org, zone, day):
    late = datetime(2026, 5, 1, 22, 30, tzinfo=UTC)  # 00:30 on May 2 in Paris (UTC+2)
    record(runtime, report(at=late), timezone=zone)
    (event,) = stored(runtime)
    assert event.day == day and event.occurred_at == late
    assert rollup_rows(runtime)[0][0][0] == day


def test_offsets_in_the_timestamp_are_kept_as_the_same_instant(runtime, ledger_org):
    paris = datetime.fromisoformat("2026-05-02T00:30:00+02:00")
    record(runtime, report(at=paris), timezone="UTC")
    (event,) = stored(runtime)
    assert event.occurred_at == datetime(2026, 5, 1, 22, 30, tzinfo=UTC)
    assert event.day == date(2026, 5, 1)


# --- The whole catalog of a few providers, cross-checked -------------------------------------

GENAI_OF_TYPE = {
    "anthropic": "anthropic",
    "openai": "openai",
    "google_gemini": "google",
    "deepseek": "deepseek",
    "mistral": "mistral",
    "perplexity": "perplexity",
    "groq": "groq",
}


def test_every_model_of_several_providers_costs_what_genai_prices_charges(runtime):
    # 12:00 UTC is DeepSeek's peak price and 20:00 UTC its off-peak one (time-of-day).
    instants = (datetime(2026, 5, 1, 12, tzinfo=UTC), datetime(2026, 5, 1, 20, tzinfo=UTC))
    with runtime.sessions.begin() as s:
        admin = users.create_user(s, username="alice", password="correct-horse-42", role="admin")
        s.flush()
        for ptype in GENAI_OF_TYPE:
            providers.create_provider(
                s, actor=admin, name=ptype, provider_type=ptype, api_key="sk-test-000000000000"
            )
        events = [
            UsageInput(
                timestamp=at,
                provider=ptype,
                model=m.id,
                input_tokens=300_000,
                cached_input_tokens=100_000,
                cache_write_tokens=20_000,
                output_tokens=5_000,
                reasoning_tokens=1_000,
            )
            for ptype, genai_id in GENAI_OF_TYPE.items()
            for m in next(p for p in get_snapshot().providers if p.id == genai_id).models
            for at in instants
        ]
        record_usage(s, events=events)
    compared, disagreements = 0, []
    for event in stored(runtime):
        if event.cost_usd is None or not event.price_source.startswith(GENAI):
            continue  # unpriced, or priced from models.dev where genai-prices has none
        try:
            theirs = genai_prices.calc_price(
                genai_prices.Usage(
                    input_tokens=event.input_tokens,
                    output_tokens=event.output_tokens,
                    cache_read_tokens=event.cached_input_tokens,
                    cache_write_tokens=event.cache_write_tokens,
                    output_reasoning_tokens=event.reasoning_tokens,
                ),
                model_ref=event.model_id,
                provider_id=GENAI_OF_TYPE[event.provider_type],
                genai_request_timestamp=event.occurred_at,
            ).total_price
        except LookupError:  # an id only the catalog's listing names (ft:gpt-4o)
            continue
        compared += 1
        if to_cents(event.cost_usd) != to_cents(theirs):
            disagreements.append((event.model_id, event.occurred_at, event.cost_usd, theirs))
    assert disagreements == []
    assert compared >= 500  # 576 measured on genai-prices 0.2.5
    deepseek = {e.occurred_at.hour: e for e in stored(runtime) if e.model_id == "deepseek-chat"}
    assert deepseek[12].cost_usd == 2 * deepseek[20].cost_usd
    assert deepseek[12].price_source == f"{GENAI}, time-of-day price"
