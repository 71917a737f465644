"""Cost arithmetic: worked examples, unpriced usage, records, labels, validation, monthly
workloads and properties.

The worked examples are written out by hand so the module is not only checked against
another implementation of the same rules (the cross-check against genai-prices on the
whole catalog is test_costs_genai.py).
"""

from __future__ import annotations

from decimal import Decimal

import pytest
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
from tests.support.genai_catalog import FIXED_TS, genai_model

D = Decimal

# --- Worked examples -------------------------------------------------------------------

SONNET_45 = Prices(  # Anthropic Claude Sonnet 4.5, USD per million; long context over 200k
    input=Rate(D("3"), (Tier(200_000, D("6")),)),
    output=Rate(D("15"), (Tier(200_000, D("22.5")),)),
    cache_read=Rate(D("0.3"), (Tier(200_000, D("0.6")),)),
    cache_write=Rate(D("3.75"), (Tier(200_000, D("7.5")),)),
    source="hand",
)


def test_the_catalog_has_the_published_sonnet_prices():
    prices = Prices.from_genai(genai_model("anthropic", "claude-sonnet-4-5").get_prices(FIXED_TS))
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
    prices = Prices.from_genai(genai_model("perplexity", "sonar").get_prices(FIXED_TS))
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
