"""Tiers derived from data, and best_model_for over the whole catalog."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.catalog import model_facts
from core.costs import Prices
from core.errors import ValidationError
from core.explorer import tiers
from core.explorer.registry import PREFERENCES, TASK_FEATURES, best_model_for, list_models
from core.explorer.tiers import CostScale, check_blend, derive, speed_estimate


@pytest.fixture(scope="module")
def catalog():
    return tiers.catalog_capabilities()


def test_catalog_has_thousands_of_models_and_every_seed_model(catalog):
    assert len(catalog) >= 2_000
    for seed in list_models():
        entry = next(
            c for c in catalog if (c.provider_type, c.model) == (seed.provider_type, seed.model)
        )
        # The built-in registry table exactly: tiers, context and features.
        assert (entry.speed, entry.quality, entry.cost, entry.context_window, entry.features) == (
            seed.speed,
            seed.quality,
            seed.cost,
            seed.context_window,
            seed.features,
        )
        assert {entry.sources[k] for k in ("speed", "quality", "cost")} == {tiers.SEED}


def test_cost_tier_is_the_blended_price_percentile(catalog):
    scale = tiers.cost_scale()
    for c in catalog:
        if c.sources.get("cost") == tiers.SEED:
            continue
        if c.blended_price is None:
            assert c.cost is None, "unpriced must never be a cost tier, least of all free"
        else:
            assert c.cost == scale.tier(c.blended_price)
            assert (c.cost == "free") == (c.blended_price == 0)
    counts = Counter(c.cost for c in catalog)
    # Percentile thirds: the three paid tiers are roughly the same size.
    paid = [counts[t] for t in ("low", "medium", "high")]
    assert max(paid) < 1.3 * min(paid)


def test_blend_ratio_is_a_parameter():
    prices = Prices(input=Decimal("1"), output=Decimal("5"))
    assert prices.blended((3, 1)) == Decimal("2")
    assert prices.blended((1, 1)) == Decimal("3")
    default = {(c.provider_type, c.model): c.blended_price for c in tiers.catalog_capabilities()}
    even = {(c.provider_type, c.model): c.blended_price for c in tiers.catalog_capabilities((1, 1))}
    changed = [k for k, v in even.items() if v is not None and v != default.get(k)]
    assert changed


@pytest.mark.parametrize("ratio", [(0, 0), (-1, 1), (1,), (1.5, 1), ("3", "1"), (True, 1)])
def test_bad_blend_ratio_is_refused(ratio):
    with pytest.raises(ValidationError) as caught:
        check_blend(ratio)
    assert caught.value.field == "blend"


def test_cost_scale_tiers():
    scale = CostScale.of([Decimal(n) for n in range(1, 10)] + [None, Decimal(0)], (3, 1))
    assert scale.sorted_prices == tuple(Decimal(n) for n in range(1, 10))
    assert scale.tier(None) is None
    assert scale.tier(Decimal(0)) == "free"
    assert [scale.tier(Decimal(n)) for n in (1, 4, 9)] == ["low", "medium", "high"]
    assert CostScale.of([], (3, 1)).tier(Decimal(1)) == "medium"


@given(
    st.lists(st.decimals(min_value=0, max_value=1000, places=3), min_size=1, max_size=40),
    st.decimals(min_value=0, max_value=1000, places=3),
    st.decimals(min_value=0, max_value=1000, places=3),
)
@settings(max_examples=80, deadline=None)
def test_cost_tier_is_monotonic_in_price(population, a, b):
    scale = CostScale.of(population, (3, 1))
    order = ["free", "low", "medium", "high"]
    low, high = sorted([a, b])
    assert order.index(scale.tier(low)) <= order.index(scale.tier(high))


@pytest.mark.parametrize(
    "model_id, tier",
    [
        ("gpt-4o-mini", "fast"),
        ("gemini-2.5-flash", "fast"),
        ("claude-haiku-4-5", "fast"),
        ("llama-3.1-8b-instant", "fast"),
        ("o3", "slow"),
        ("deepseek-reasoner", "slow"),
        ("qwen3-235b-a22b-thinking-2507", "slow"),
        ("gpt-4.1", "medium"),
        ("claude-opus-4-1", "medium"),
        ("o3-mini", "fast"),
    ],
)
def test_speed_estimate_from_the_id(model_id, tier):
    assert speed_estimate(model_id)[0] == tier


def test_record_values_override_the_catalog_and_say_so():
    facts = model_facts.lookup("openai", "gpt-4.1")
    scale = tiers.cost_scale()
    plain = derive(provider_type="openai", model_id="gpt-4.1", facts=facts, scale=scale)
    assert plain.quality is None and plain.sources["speed"] == "estimated"
    mine = derive(
        provider_type="openai",
        model_id="gpt-4.1",
        facts=facts,
        scale=scale,
        prices=Prices(input=Decimal("0"), output=Decimal("0"), source="record"),
        context_window=4_096,
        features=frozenset({"chat"}),
        quality="high",
        measured=("fast", "measured: 300 ms to first token"),
        record_id="r1",
        provider_label="Team OpenAI",
    )
    assert (mine.cost, mine.quality, mine.speed, mine.context_window, mine.features) == (
        "free",
        "high",
        "fast",
        4_096,
        frozenset({"chat"}),
    )
    assert (
        mine.sources["prices"]
        == mine.sources["features"]
        == mine.sources["context_window"]
        == tiers.ON_RECORD
    )
    assert mine.sources["quality"] == tiers.ON_RECORD
    assert mine.sources["speed"].startswith("measured")
    assert mine.provider_label == "Team OpenAI" and mine.record_id == "r1"


def test_a_model_unknown_to_the_catalog_still_ranks_honestly():
    made_up = derive(
        provider_type="vllm", model_id="in-house-7b", facts=None, scale=tiers.cost_scale()
    )
    assert (made_up.cost, made_up.quality, made_up.context_window) == (None, None, None)
    assert made_up.features == frozenset()
    assert (
        "unpriced"
        in best_model_for(
            "chat",
            "cost",
            models=[
                derive(
                    provider_type="vllm",
                    model_id="x",
                    facts=None,
                    scale=tiers.cost_scale(),
                    features=frozenset({"chat"}),
                )
            ],
        )
        .candidates[0]
        .reason
    )


@pytest.mark.parametrize("task", sorted(TASK_FEATURES))
@pytest.mark.parametrize("prefer", PREFERENCES)
def test_best_model_over_the_catalog(catalog, task, prefer):
    ranking = best_model_for(task, prefer, models=catalog)
    assert ranking is not None
    assert all(TASK_FEATURES[task] <= c.model.features for c in ranking.candidates)
    best = ranking.candidates[0].score
    scores = [c.score for c in ranking.candidates]
    assert best == (max(scores) if prefer == "quality" else min(scores))
    if prefer == "cost":
        priced = [c for c in ranking.candidates if c.model.cost is not None]
        unpriced = [c for c in ranking.candidates if c.model.cost is None]
        if priced and unpriced:
            assert ranking.candidates.index(priced[-1]) < ranking.candidates.index(unpriced[0])
    assert ranking.candidates[0].reason  # written on demand, one line
    assert "\n" not in ranking.candidates[0].reason


def test_provider_filter_over_the_catalog(catalog):
    ranking = best_model_for("chat", "cost", provider_types=["groq", "mistral"], models=catalog)
    assert {c.model.provider_type for c in ranking.candidates} == {"groq", "mistral"}


def test_a_record_with_one_price_keeps_the_catalogs_other_one():
    facts = model_facts.lookup("anthropic", "claude-opus-4-6")
    mine = derive(
        provider_type="anthropic",
        model_id="claude-opus-4-6",
        facts=facts,
        scale=tiers.cost_scale(),
        prices=Prices(input=Decimal("2.5")),
    )
    assert mine.prices.input.base == Decimal("2.5")
    assert mine.prices.output == facts.prices.output
    assert mine.prices.cache_read is None  # a cache price goes with its own input price
    assert mine.blended_price == (3 * Decimal("2.5") + facts.prices.output.base) / 4
    assert mine.cost is not None and mine.sources["prices"].startswith(
        f"{tiers.ON_RECORD}; output from genai-prices"
    )


def test_an_embedding_model_priced_for_input_only_is_priced():
    made = derive(
        provider_type="openai",
        model_id="text-embedding-3-small",
        facts=None,
        scale=tiers.cost_scale(),
        prices=Prices(input=Decimal("0.02")),
        features=frozenset({"embedding"}),
    )
    assert made.blended_price == Decimal("0.02") and made.cost is not None
    chat = derive(
        provider_type="vllm",
        model_id="x",
        facts=None,
        scale=tiers.cost_scale(),
        prices=Prices(input=Decimal("0.02")),
        features=frozenset({"chat"}),
    )
    assert chat.blended_price is None and chat.cost is None
