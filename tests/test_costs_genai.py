"""Cost arithmetic against genai-prices on the whole catalog: every genai-prices model is
priced both ways at one fixed request time and compared to the cent, and time-of-day
prices follow the request time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import genai_prices
import pytest
from genai_prices.data_snapshot import get_snapshot

from core.costs import (
    Cost,
    Prices,
    Usage,
    cost_of,
    to_cents,
)
from tests.support.genai_catalog import FIXED_TS, genai_model, genai_provider

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
    sonar = Prices.from_genai(genai_model("perplexity", "sonar-deep-research").get_prices(FIXED_TS))
    assert sonar.unmodelled == {"output_citation_mtok", "web_searches_kcount"}
    assert not sonar.complete


def test_time_of_day_prices_follow_the_request_time():
    model = genai_model("deepseek", "deepseek-chat")
    case = Case(
        genai_provider("deepseek"), model, Prices(), Usage(1_000_000, 1_000_000), False, False
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
