"""The savings finder (core.usage.savings) on SQLite and PostgreSQL: its figure equals the
period's events repriced by hand on the alternative (Decimal, to the cent; cached input,
cache writes and reasoning tokens included), the Explorer's rules pick the candidates, a
member's finder uses only the usage and the records they may see, unpriced usage is left
out and counted."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from core.accounts import users
from core.costs import CENT, Prices, Rate
from core.errors import ValidationError
from core.records import model_records, providers
from core.startup import Runtime
from core.usage import savings
from core.usage.inputs import UsageInput
from core.usage.ledger import record_usage
from core.usage.rollups import Totals
from tests.support import factories

M = Decimal(1_000_000)
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
FIRST, END = date(2026, 11, 1), date(2026, 11, 16)  # the period: Nov 1-15
TOOLS = "chat,tool_use"
# model id → (input, output, cache read, cache write per million; quality tier; features;
# context window); none of these ids is in the catalog, so the record is all there is.
SHARED_MODELS: dict[str, tuple[Any, ...]] = {
    "big-model": ("10", "30", "1", "12.5", "high", TOOLS, 200_000),  # the one used
    "alt-model": ("2", "8", "0.5", "2.5", "high", TOOLS + ",reasoning", 200_000),
    "nocache-model": ("3", "9", None, None, "high", TOOLS, 400_000),
    "cheap-low": ("0.1", "0.2", None, None, "low", TOOLS, 200_000),  # lower quality
    "cheap-small": ("0.1", "0.2", None, None, "high", TOOLS, 8_000),  # smaller context
    "cheap-chat": ("0.1", "0.2", None, None, "high", "chat", 200_000),  # no tool use
    "pricey": ("20", "60", "2", "25", "high", TOOLS, 1_000_000),  # costs more
}
PRIVATE_MODELS = {"secret-cheap": ("1", "3", "0.1", "1", "high", TOOLS, 200_000)}


def _events() -> list[UsageInput]:
    out = []
    for day in range(1, 16):
        at = datetime(2026, 11, day, 9, 30, tzinfo=UTC)
        for who, n in (("mia", 1), ("boss", 2)):
            out.append(
                UsageInput(
                    timestamp=at,
                    provider="Shared",
                    model="big-model",
                    user=who,
                    input_tokens=12_345 * day * n + 777,
                    cached_input_tokens=5_000 * day * n,
                    cache_write_tokens=1_111 * n,
                    output_tokens=3_333 * day + 13,
                    reasoning_tokens=1_001 * day,
                    requests=day,
                    idempotency_key=f"big-{who}-{day}",
                )
            )
    out.append(  # boss's private provider: mia never sees it
        UsageInput(
            timestamp=datetime(2026, 11, 3, 8, 0, tzinfo=UTC),
            provider="Boss Private",
            model="secret-cheap",
            user="boss",
            input_tokens=2_000_000,
            output_tokens=500_000,
            idempotency_key="private",
        )
    )
    out.append(  # unpriced: no record, not in the catalog
        UsageInput(
            timestamp=datetime(2026, 11, 4, 8, 0, tzinfo=UTC),
            provider="Shared",
            model="mystery-model-z7",
            user="mia",
            input_tokens=4_321,
            output_tokens=99,
            requests=3,
            idempotency_key="mystery",
        )
    )
    out.append(  # outside the period
        UsageInput(
            timestamp=datetime(2026, 11, 18, 8, 0, tzinfo=UTC),
            provider="Shared",
            model="big-model",
            user="mia",
            input_tokens=9_999_999,
            output_tokens=1,
            idempotency_key="later",
        )
    )
    return out


def _model(
    s: Any, owner: Any, provider_id: Any, model_id: str, spec: tuple[Any, ...], shared: bool
) -> None:
    price_in, price_out, read, write, tier, features, context = spec
    model_records.create_model(
        s,
        actor=owner,
        provider_id=provider_id,
        model_id=model_id,
        name=model_id,
        input_cost_per_million=price_in,
        output_cost_per_million=price_out,
        cache_read_cost_per_million=read,
        cache_write_cost_per_million=write,
        quality_tier=tier,
        features=features,
        context_window=context,
        instance_wide=shared,
    )


@pytest.fixture
def org(runtime: Runtime) -> Runtime:
    with runtime.sessions.begin() as s:
        boss, mia = factories.user(s, "boss", "admin"), factories.user(s, "mia")
        shared = providers.create_provider(
            s,
            actor=boss,
            name="Shared",
            provider_type="openai",
            api_key="sk-test-000000000000",
            instance_wide=True,
        )
        private = providers.create_provider(
            s, actor=boss, name="Boss Private", provider_type="openai", api_key="sk-test-111111111"
        )
        s.flush()
        for model_id, spec in SHARED_MODELS.items():
            _model(s, boss, shared.id, model_id, spec, True)
        for model_id, spec in PRIVATE_MODELS.items():
            _model(s, boss, private.id, model_id, spec, False)
        del mia
    with runtime.sessions.begin() as s:
        record_usage(s, events=_events(), timezone="UTC", now=NOW)
    return runtime


def by_hand(events: list[UsageInput], spec: tuple[Any, ...]) -> Decimal:
    """Each event priced at a record's prices, written out: input minus cache reads and
    writes at the input price, cache reads and writes at theirs (input's when unpriced),
    output (reasoning included: records have no reasoning price) at the output price."""
    price_in, price_out, read, write = (Decimal(p) if p else None for p in spec[:4])
    assert price_in is not None and price_out is not None
    total = Decimal(0)
    for e in events:
        plain = e.input_tokens - e.cached_input_tokens - e.cache_write_tokens
        total += plain * price_in / M
        total += e.cached_input_tokens * (read if read is not None else price_in) / M
        total += e.cache_write_tokens * (write if write is not None else price_in) / M
        total += e.output_tokens * price_out / M
    return total.quantize(CENT, ROUND_HALF_UP)


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, ROUND_HALF_UP)


def _find(runtime: Runtime, username: str, scope: str = "configured") -> savings.Savings:
    with runtime.sessions() as s:
        viewer = users.require_user(s, username)
        return savings.find(s, viewer=viewer, date_from=FIRST, date_to=END, scope=scope)


def _in_period(events: list[UsageInput], *, provider: str, model: str, users: set[str]) -> list:
    return [
        e
        for e in events
        if e.provider == provider
        and e.model == model
        and e.user in users
        and FIRST <= e.timestamp.date() < END
    ]


def test_the_figure_equals_the_events_repriced_by_hand(org: Runtime) -> None:
    found = _find(org, "mia")
    big = next(f for f in found.findings if f.model == "big-model")
    used = _in_period(_events(), provider="Shared", model="big-model", users={"mia", "boss"})
    assert big.totals.requests == sum(e.requests for e in used)
    assert big.totals.reasoning_tokens == sum(e.reasoning_tokens for e in used) > 0
    assert big.totals.cache_write_tokens > 0 and big.totals.cached_input_tokens > 0
    assert cents(big.spent_usd) == by_hand(used, SHARED_MODELS["big-model"])  # the ledger's
    assert big.best is not None and big.best.model.model == "alt-model"
    assert cents(big.best.cost_usd) == by_hand(used, SHARED_MODELS["alt-model"])
    assert cents(big.best.saving_usd) == cents(big.spent_usd) - by_hand(
        used, SHARED_MODELS["alt-model"]
    )
    # the other fitting, cheaper one: no cache price, so cached input pays the input price
    nocache = next(a for a in big.alternatives if a.model.model == "nocache-model")
    assert cents(nocache.cost_usd) == by_hand(used, SHARED_MODELS["nocache-model"])
    assert [a.cost_usd for a in big.alternatives] == sorted(a.cost_usd for a in big.alternatives)


def test_only_models_that_fit_the_task_at_equal_or_higher_quality(org: Runtime) -> None:
    big = next(f for f in _find(org, "boss").findings if f.model == "big-model")
    offered = {a.model.model for a in big.alternatives}
    assert offered == {"alt-model", "nocache-model", "secret-cheap"}  # boss sees his own
    # lower quality, smaller context, missing tool use, dearer: never offered
    assert not offered & {"cheap-low", "cheap-small", "cheap-chat", "pricey", "big-model"}
    assert big.best is not None and big.best.model.model == "secret-cheap"
    used = _in_period(_events(), provider="Shared", model="big-model", users={"mia", "boss"})
    assert cents(big.best.cost_usd) == by_hand(used, PRIVATE_MODELS["secret-cheap"])


def test_a_member_sees_only_usage_and_records_they_may_see(org: Runtime) -> None:
    mine = _find(org, "mia")
    assert {(f.provider, f.model) for f in mine.findings} == {("Shared", "big-model")}
    offered = {a.model.model for f in mine.findings for a in f.alternatives}
    assert "secret-cheap" not in offered
    boss = _find(org, "boss")
    assert ("Boss Private", "secret-cheap") in {(f.provider, f.model) for f in boss.findings}
    assert boss.spent_usd > mine.spent_usd


def test_unpriced_usage_is_left_out_and_counted(org: Runtime) -> None:
    found = _find(org, "mia")
    assert "mystery-model-z7" not in {f.model for f in found.findings}
    assert found.left_out_requests == 3 and found.left_out_unpriced == 3
    assert found.left_out_cost_usd == 0


def test_catalog_alternatives_follow_the_same_rules(org: Runtime) -> None:
    found = _find(org, "mia", scope="catalog")
    big = next(f for f in found.findings if f.model == "big-model")
    assert found.candidates > 1000
    assert big.alternatives  # the catalog has cheaper models rated at least "high" (1400)
    for alt in big.alternatives:
        assert savings.why_not(big.used, alt.model) is None  # type: ignore[arg-type]
        assert alt.model.record_id is None
        assert alt.cost_usd == savings.cost_on(alt.model.prices, big.totals) < big.spent_usd
        key = savings.compare_keys("catalog", big, alt)
        assert key == [f"{alt.model.provider_type}/{alt.model.model}"]  # no record there


def test_a_bad_scope_or_period_is_refused(org: Runtime) -> None:
    with org.sessions() as s, pytest.raises(ValidationError, match="one of configured"):
        savings.find(s, viewer=None, date_from=FIRST, date_to=END, scope="everything")
    with org.sessions() as s, pytest.raises(ValidationError, match="empty"):
        savings.find(s, viewer=None, date_from=END, date_to=FIRST)


def test_reasoning_and_cache_prices_by_hand() -> None:
    """The token mix on prices with a reasoning price: reasoning tokens leave output."""
    prices = Prices(
        input=Rate(Decimal("1.25")),
        output=Rate(Decimal(10)),
        cache_read=Rate(Decimal("0.125")),
        cache_write=Rate(Decimal("1.5")),
        reasoning=Rate(Decimal(12)),
    )
    mix = Totals(
        requests=40,
        input_tokens=3_000_000,
        cached_input_tokens=1_200_000,
        cache_write_tokens=300_000,
        output_tokens=900_000,
        reasoning_tokens=400_000,
    )
    hand = (
        Decimal("1.5") * Decimal("1.25")  # 1.5M plain input
        + Decimal("1.2") * Decimal("0.125")
        + Decimal("0.3") * Decimal("1.5")
        + Decimal("0.5") * 10  # output minus reasoning
        + Decimal("0.4") * 12
    )
    assert savings.cost_on(prices, mix) == hand.quantize(Decimal("1e-8"))
    assert savings.cost_on(Prices(input=Rate(Decimal(1))), mix) is None  # no output price


def test_period_boundaries_follow_the_rollup_days(org: Runtime) -> None:
    with org.sessions() as s:
        later = savings.find(
            s, viewer=None, date_from=END, date_to=END + timedelta(days=5), scope="configured"
        )
    assert [f.totals.input_tokens for f in later.findings] == [9_999_999]


def test_a_period_without_spend_loads_no_candidates(org: Runtime) -> None:
    with org.sessions() as s:
        viewer = users.require_user(s, "mia")
        found = savings.find(
            s, viewer=viewer, date_from=date(2026, 10, 1), date_to=date(2026, 10, 31)
        )
    assert found.findings == () and found.candidates is None and found.saving_usd == 0
