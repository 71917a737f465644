"""Cost arithmetic: agreement with genai-prices on the whole catalog, worked examples, rules.

The cross-check prices every genai-prices model both ways at one fixed request time and
compares to the cent; the worked examples are written out by hand so the module is not
only checked against another implementation of the same rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import genai_prices
import pytest
from genai_prices.data_snapshot import get_snapshot
from hypothesis import given
from hypothesis import strategies as st

from core.costs import (
    UNKNOWN,
    Cost,
    Prices,
    Rate,
    Tier,
    Usage,
    cost_of,
    monthly_cost,
    price_label,
    to_cents,
    usd,
)
from core.errors import ValidationError
from core.store.tables import ModelRecord

FIXED_TS = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)  # both sides price at this instant
D = Decimal


@dataclass(frozen=True)
class Case:
    provider: Any  # genai_prices.types.Provider
    model: Any  # genai_prices.types.ModelInfo
    prices: Prices
    usage: Usage
    cache: bool  # the usage has tokens of a kind with its own cache price
    tiered: bool  # the prices have tiers and the usage sits at or just above a threshold


def catalog_prices(at: datetime = FIXED_TS):
    """(provider, model, Prices) for every catalog model whose prices convert."""
    for provider in get_snapshot().providers:
        for model in provider.models:
            prices = Prices.from_genai(model.get_prices(at), as_of=at.date())
            if prices is not None:
                yield provider, model, prices


def usages_for(prices: Prices) -> list[tuple[Usage, bool]]:
    """Usages worth pricing under these prices, each flagged when it sits on a tier threshold."""
    out = 1 if prices.output is not None else 0  # input-only models (embeddings) get none
    plain = [
        Usage(input_tokens=1_234, output_tokens=567 * out),
        Usage(input_tokens=10_000, output_tokens=300 * out, cache_read_tokens=6_000),
        Usage(input_tokens=10_000, output_tokens=300 * out, cache_write_tokens=3_000),
        Usage(
            input_tokens=3_333_333,
            output_tokens=1_111_111 * out,
            cache_read_tokens=1_000_000,
            cache_write_tokens=222_222,
        ),
    ]
    if out:
        plain.append(Usage(input_tokens=2_000, output_tokens=2_000, reasoning_tokens=1_500))
    starts = sorted(
        {
            t.start
            for r in (
                prices.input,
                prices.output,
                prices.cache_read,
                prices.cache_write,
                prices.reasoning,
            )
            if r is not None
            for t in r.tiers
        }
    )
    edges = [
        Usage(
            input_tokens=start + above,
            output_tokens=5_000 * out,
            cache_read_tokens=start // 4,
            cache_write_tokens=start // 8,
        )
        for start in starts
        for above in (0, 1)
    ]
    return [(u, False) for u in plain] + [(u, True) for u in edges]


def cross_check_cases() -> list[Case]:
    cases = []
    for provider, model, prices in catalog_prices():
        for usage, on_edge in usages_for(prices):
            cache = bool(
                prices.cache_read
                and usage.cache_read_tokens
                or prices.cache_write
                and usage.cache_write_tokens
            )
            cases.append(Case(provider, model, prices, usage, cache, on_edge and prices.has_tiers))
    return cases


def genai_cost(case: Case, at: datetime = FIXED_TS):
    u = case.usage
    usage = genai_prices.Usage(
        input_tokens=u.input_tokens,
        output_tokens=u.output_tokens,
        cache_read_tokens=u.cache_read_tokens,
        cache_write_tokens=u.cache_write_tokens,
        output_reasoning_tokens=u.reasoning_tokens,
    )
    # The model object itself, not a model_ref: refs can match another provider's model.
    return case.model.calc_price(usage, case.provider, genai_request_timestamp=at)


def cents(cost: Cost) -> tuple[Decimal, Decimal, Decimal]:
    assert cost.priced, cost.unpriced_reason
    return to_cents(cost.total), to_cents(cost.input), to_cents(cost.output)


def disagreements(cases: list[Case]) -> list[str]:
    bad = []
    for case in cases:
        ours = cost_of(case.usage, case.prices)
        theirs = genai_cost(case)
        if cents(ours) != (
            to_cents(theirs.total_price),
            to_cents(theirs.input_price),
            to_cents(theirs.output_price),
        ):
            bad.append(
                f"{case.provider.id}/{case.model.id} {case.usage}: ours "
                f"{ours.total} theirs {theirs.total_price}"
            )
    return bad


@pytest.fixture(scope="module")
def cases() -> list[Case]:
    return cross_check_cases()


def test_every_fully_priced_catalog_model_agrees_with_genai_prices(cases):
    complete = [c for c in cases if not c.prices.unmodelled]
    assert disagreements(complete)[:5] == []
    # Measured on genai-prices 0.2.3: 9,877 pairs over 1,951 models, 1,967 with a cache
    # price in play, 202 on a tier edge. The floors leave room for data updates.
    assert len(complete) >= 5_000
    assert sum(c.cache for c in complete) >= 1_000
    assert sum(c.tiered for c in complete) >= 100


def test_token_costs_agree_even_when_the_model_also_prices_unmodelled_kinds(cases):
    # Anthropic models also charge web searches and 1-hour cache writes; a Usage counts
    # none of those, so genai-prices bills them nothing and the token part must agree.
    partial = [c for c in cases if c.prices.unmodelled]
    assert disagreements(partial)[:5] == []
    assert sum(c.tiered for c in partial) >= 40  # 62 measured (Anthropic, OpenAI, Gemini)


def test_conversion_skips_nothing_silently(cases):
    converted = {(p.id, m.id) for p, m, _ in catalog_prices()}
    for provider in get_snapshot().providers:
        for model in provider.models:
            keys = {k for k, v in vars(model.get_prices(FIXED_TS)).items() if v is not None}
            if (provider.id, model.id) not in converted:
                # Only models pricing no token kind at all (audio hours, pages, characters).
                assert not keys & {"input_mtok", "output_mtok", "cache_read_mtok"}, model.id
    sonar = Prices.from_genai(
        _genai_model("perplexity", "sonar-deep-research").get_prices(FIXED_TS)
    )
    assert sonar.unmodelled == {"output_citation_mtok", "web_searches_kcount"}
    assert not sonar.complete


def test_time_of_day_prices_follow_the_request_time():
    model = _genai_model("deepseek", "deepseek-chat")
    case = Case(
        _genai_provider("deepseek"), model, Prices(), Usage(1_000_000, 1_000_000), False, False
    )
    for at in (FIXED_TS, FIXED_TS.replace(hour=18)):  # 18:00 UTC is off-peak
        prices = Prices.from_genai(model.get_prices(at))
        assert to_cents(cost_of(case.usage, prices).total) == to_cents(
            genai_cost(case, at).total_price
        )
    assert (
        Prices.from_genai(model.get_prices(FIXED_TS)).input
        != Prices.from_genai(model.get_prices(FIXED_TS.replace(hour=18))).input
    )


def _genai_provider(provider_id: str):
    return next(p for p in get_snapshot().providers if p.id == provider_id)


def _genai_model(provider_id: str, model_id: str):
    return next(m for m in _genai_provider(provider_id).models if m.id == model_id)


# --- Worked examples -------------------------------------------------------------------

SONNET_45 = Prices(  # Anthropic Claude Sonnet 4.5, USD per million; long context over 200k
    input=Rate(D("3"), (Tier(200_000, D("6")),)),
    output=Rate(D("15"), (Tier(200_000, D("22.5")),)),
    cache_read=Rate(D("0.3"), (Tier(200_000, D("0.6")),)),
    cache_write=Rate(D("3.75"), (Tier(200_000, D("7.5")),)),
    source="hand",
)


def test_the_catalog_has_the_published_sonnet_prices():
    prices = Prices.from_genai(_genai_model("anthropic", "claude-sonnet-4-5").get_prices(FIXED_TS))
    assert [prices.input, prices.output, prices.cache_read, prices.cache_write] == [
        SONNET_45.input,
        SONNET_45.output,
        SONNET_45.cache_read,
        SONNET_45.cache_write,
    ]
    assert prices.unmodelled == {"web_searches_kcount", "cache_write_1h_mtok"}


def test_sonnet_with_cache_reads_and_writes_by_hand():
    usage = Usage(
        input_tokens=100_000,
        cache_read_tokens=60_000,
        cache_write_tokens=10_000,
        output_tokens=2_000,
    )
    # 30,000 uncached × $3 + 60,000 × $0.30 + 10,000 × $3.75 per million; 2,000 × $15.
    cost = cost_of(usage, SONNET_45)
    assert cost.input == D("0.09") + D("0.018") + D("0.0375")
    assert cost.output == D("0.03")
    assert cost.total == D("0.1755")
    assert cost.label() == "$0.1755" and cost.source == "hand"


def test_sonnet_tier_is_a_cliff_on_total_input():
    at_edge = cost_of(Usage(input_tokens=200_000, output_tokens=1_000), SONNET_45)
    above = cost_of(Usage(input_tokens=200_001, output_tokens=1_000), SONNET_45)
    assert at_edge.total == D("0.6") + D("0.015")  # base prices
    assert above.total == D("1.200006") + D("0.0225")  # every token at the tier
    # Cache reads count toward the threshold: 150k uncached + 60k cached is over 200k.
    mixed = cost_of(Usage(input_tokens=210_000, cache_read_tokens=60_000), SONNET_45)
    assert mixed.total == D("0.9") + D("0.036")
    assert SONNET_45.input.at(200_000) == D("3") and SONNET_45.input.at(200_001) == D("6")


def test_several_tiers_pick_the_highest_one_passed():
    rate = Rate(D("1"), (Tier(256_000, D("4")), Tier(32_000, D("2"))))  # sorted on creation
    assert [rate.at(n) for n in (0, 32_000, 32_001, 256_000, 256_001)] == [
        D("1"),
        D("1"),
        D("2"),
        D("2"),
        D("4"),
    ]


def test_missing_cache_and_reasoning_prices_fall_back_like_genai():
    prices = Prices(input=D("2"), output=D("8"))
    usage = Usage(
        input_tokens=1_000_000,
        cache_read_tokens=400_000,
        output_tokens=1_000_000,
        reasoning_tokens=900_000,
    )
    assert cost_of(usage, prices).total == D("10")  # cached at input, reasoning at output
    with_reasoning = Prices(input=D("2"), output=D("8"), reasoning=D("3"))
    assert cost_of(usage, with_reasoning).output == D("0.8") + D("2.7")


def test_per_request_fee_counts_in_the_total_only():
    prices = Prices.from_genai(_genai_model("perplexity", "sonar").get_prices(FIXED_TS))
    assert prices.per_request == D("0.012")  # $12 per thousand requests
    cost = cost_of(Usage(input_tokens=1_000, output_tokens=1_000, requests=5), prices)
    assert (cost.input, cost.output) == (D("0.001"), D("0.001"))
    assert cost.total == D("0.062")


# --- Unpriced --------------------------------------------------------------------------


def test_unknown_model_is_unpriced_not_free():
    cost = cost_of(Usage(input_tokens=10, output_tokens=10), None)
    assert not cost.priced and cost.total is None and cost.total != 0
    assert cost.unpriced_reason == "no price known for this model"
    assert cost.label() == "unpriced"
    assert not monthly_cost(
        None, input_tokens=1, output_tokens=1, cached_share=0, requests_per_month=10
    ).priced


def test_a_missing_price_for_used_tokens_is_named():
    embedding = Prices(input=D("0.02"))
    cost = cost_of(Usage(input_tokens=100, output_tokens=5), embedding)
    assert (cost.total, cost.input, cost.output) == (None, None, None)
    assert cost.unpriced_reason == "no output price" and cost.label() == "unpriced"
    assert cost_of(Usage(input_tokens=100), embedding).total == D("0.000002")
    assert cost_of(Usage(input_tokens=1), Prices(output=D("1"))).unpriced_reason == "no input price"
    assert cost_of(Usage(requests=0), Prices(output=D("1"))).total == 0  # nothing used


# --- Records, blends, labels, validation ------------------------------------------------


def test_from_record_reads_the_four_decimal_columns():
    record = ModelRecord(
        input_cost_per_million=D("1.10"),
        output_cost_per_million=D("4.40"),
        cache_read_cost_per_million=D("0.275"),
        cache_write_cost_per_million=None,
    )
    prices = Prices.from_record(record)
    assert prices.input == Rate(D("1.10")) and prices.cache_write is None
    assert prices.source == "model record" and not prices.has_tiers and prices.complete
    assert Prices.from_record(ModelRecord(cache_read_cost_per_million=D("1"))) is None
    assert Prices.from_record(record, source="models.dev").source == "models.dev"


def test_blended_price():
    prices = Prices(input=D("3"), output=D("15"))
    assert prices.blended() == D("6")  # (3×3 + 1×15) / 4
    assert prices.blended((1, 1)) == D("9")
    assert prices.blended((0, 1)) == D("15")
    assert Prices(input=D("3")).blended() is None
    with pytest.raises(ValidationError):
        prices.blended((0, 0))


MONEY = [
    ("0", "$0.00"),
    ("1.23454", "$1.235"),
    ("0.01", "$0.01"),
    ("1234.567", "$1,234.57"),
    ("0.0000123456", "$0.00001235"),
    ("0.009999", "$0.009999"),
    ("2.5", "$2.50"),
    ("10", "$10.00"),
    ("0.075", "$0.075"),
    ("0.0000001", "$0.0000001"),
    ("4.8125", "$4.813"),
    ("0.500000075", "$0.50"),
    ("1200", "$1,200.00"),
    ("1000000", "$1,000,000.00"),
    ("0.2625", "$0.2625"),
    ("12.345", "$12.35"),
    ("2.50000000", "$2.50"),
    ("1E+3", "$1,000.00"),
]


@pytest.mark.parametrize(("amount", "label"), MONEY)
def test_labels(amount, label):
    assert Cost(D(amount), D(0), D(0), None).label() == label
    assert usd(D(amount)) == label == price_label(D(amount))  # one formatter for all money


def test_unknown_money_has_one_rendering():
    assert usd(None) == UNKNOWN == "—"
    assert Cost(None, None, None, "no price").label() == "unpriced"


@given(st.decimals(min_value=0, max_value=10**7, allow_nan=False, places=12))
def test_money_text_keeps_every_leading_digit_and_four_significant_ones(amount):
    text = usd(amount)
    assert text.startswith("$") and "E" not in text and "e" not in text
    shown = D(text[1:].replace(",", ""))
    whole, _, cents = text[1:].partition(".")
    assert len(cents) >= 2 and whole.replace(",", "") == str(int(shown))
    if amount:  # never cut: the same magnitude, off by at most half of the 4th digit
        assert abs(shown - amount) <= D(5).scaleb(amount.adjusted() - 4)
        assert shown == amount or len(shown.normalize().as_tuple().digits) <= max(
            4, amount.adjusted() + 3
        )
    else:
        assert text == "$0.00"
    assert usd(amount) == usd(D(str(amount)))  # the same value, the same text


def test_to_cents_rounds_half_up():
    assert to_cents(D("0.005")) == D("0.01") and to_cents(D("0.0049")) == D("0.00")
    assert to_cents(D("2.675")) == D("2.68")


def test_prices_accept_numbers_as_decimal_text():
    prices = Prices(input=0.1, output="0.3", per_request=0.005)
    assert prices.input.base == D("0.1") and prices.per_request == D("0.005")
    with pytest.raises(ValidationError) as error:
        Prices(input=D("-1"))
    assert error.value.field == "input"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"input_tokens": -1}, "input_tokens"),
        ({"output_tokens": 1.0}, "output_tokens"),
        ({"input_tokens": True}, "input_tokens"),
        ({"input_tokens": 10, "cache_read_tokens": 11}, "cache_read_tokens"),
        (
            {"input_tokens": 10, "cache_read_tokens": 6, "cache_write_tokens": 5},
            "cache_write_tokens",
        ),
        ({"output_tokens": 1, "reasoning_tokens": 2}, "reasoning_tokens"),
        ({"input_tokens": 1, "requests": 0}, "requests"),
        ({"requests": -2}, "requests"),
    ],
)
def test_usage_validation_names_the_field(kwargs, field):
    with pytest.raises(ValidationError) as error:
        Usage(**kwargs)
    assert error.value.field == field


# --- Monthly workload -------------------------------------------------------------------


def test_monthly_cost_is_one_request_times_the_month():
    prices = Prices(input=D("2"), output=D("8"), cache_read=D("0.5"))
    month = monthly_cost(
        prices, input_tokens=10_000, output_tokens=500, cached_share=0.25, requests_per_month=30_000
    )
    one = cost_of(Usage(input_tokens=10_000, output_tokens=500, cache_read_tokens=2_500), prices)
    assert month.total == one.total * 30_000 == D("607.5")  # (0.015 + 0.00125 + 0.004) × 30k
    assert month.input == D("487.5")


def test_monthly_cost_chooses_tiers_per_request():
    # 150k tokens per request stays at base price, though the month's total is far over 200k.
    month = monthly_cost(
        SONNET_45,
        input_tokens=150_000,
        output_tokens=0,
        cached_share=D("0"),
        requests_per_month=1_000,
    )
    assert month.total == D("450")
    big = monthly_cost(
        SONNET_45, input_tokens=250_000, output_tokens=0, cached_share=0, requests_per_month=1_000
    )
    assert big.total == D("1500")  # 250k × $6 per million × 1,000
    with pytest.raises(ValidationError) as error:
        monthly_cost(
            SONNET_45, input_tokens=1, output_tokens=1, cached_share=1.5, requests_per_month=1
        )
    assert error.value.field == "cached_share"


# --- Properties -------------------------------------------------------------------------

money = st.decimals(min_value=0, max_value=200, places=3)
counts = st.integers(min_value=0, max_value=2_000_000)


@st.composite
def usages(draw) -> Usage:
    input_tokens, output_tokens = draw(counts), draw(counts)
    cache_read = draw(st.integers(0, input_tokens))
    return Usage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=cache_read,
        cache_write_tokens=draw(st.integers(0, input_tokens - cache_read)),
        reasoning_tokens=draw(st.integers(0, output_tokens)),
    )


@st.composite
def rates(draw, tiered: bool = True) -> Rate:
    tiers = draw(st.lists(st.builds(Tier, counts, money), max_size=2)) if tiered else ()
    return Rate(draw(money), tuple(tiers))


@st.composite
def price_sets(draw, tiered: bool = True) -> Prices:
    optional = st.none() | rates(tiered)
    return Prices(
        input=draw(rates(tiered)),
        output=draw(rates(tiered)),
        cache_read=draw(optional),
        cache_write=draw(optional),
        reasoning=draw(optional),
        per_request=draw(st.none() | money),
    )


@given(usages(), price_sets(tiered=False), st.integers(1, 1_000))
def test_more_output_never_costs_less_without_tiers(usage, prices, more):
    bigger = Usage(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens + more,
        cache_read_tokens=usage.cache_read_tokens,
        cache_write_tokens=usage.cache_write_tokens,
        reasoning_tokens=usage.reasoning_tokens,
    )
    assert cost_of(bigger, prices).total >= cost_of(usage, prices).total


@given(usages(), price_sets(), st.integers(1, 50))
def test_n_identical_requests_cost_n_times_one(usage, prices, n):
    many = Usage(
        input_tokens=usage.input_tokens * n,
        output_tokens=usage.output_tokens * n,
        cache_read_tokens=usage.cache_read_tokens * n,
        cache_write_tokens=usage.cache_write_tokens * n,
        reasoning_tokens=usage.reasoning_tokens * n,
        requests=n,
    )
    one, total = cost_of(usage, prices), cost_of(many, prices)
    assert (total.total, total.input, total.output) == (
        one.total * n,
        one.input * n,
        one.output * n,
    )
