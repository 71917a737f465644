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
from core.explorer.tiers import check_blend, derive, speed_estimate


@pytest.fixture(scope="module")
def catalog():
    return tiers.catalog_capabilities()


def test_catalog_has_thousands_of_models_and_every_seed_model(catalog):
    assert len(catalog) >= 2_000
    for seed in list_models():
        entry = next(
            c for c in catalog if (c.provider_type, c.model) == (seed.provider_type, seed.model)
        )
        # The seed table's context, features and speed; cost and quality follow the
        # Explorer's one rule (the seed API keeps its published tiers: test_registry).
        assert (entry.speed, entry.context_window, entry.features) == (
            seed.speed,
            seed.context_window,
            seed.features,
        )
        assert entry.sources["speed"] == tiers.SEED
        if entry.blended_price is not None:
            assert entry.cost == tiers.cost_tier(entry.blended_price)
        else:
            assert (entry.cost, entry.sources["cost"]) == (seed.cost, tiers.SEED)


def test_cost_tier_is_one_fixed_scale(catalog):
    for c in catalog:
        if c.blended_price is None:
            assert c.cost is None or c.sources["cost"] == tiers.SEED, "unpriced is never free"
        else:
            assert c.cost == tiers.cost_tier(c.blended_price)
            assert (c.cost == "free") == (c.blended_price == 0)
    # The cases: o3-mini at $1.93/M and Claude Haiku 4.5 at $2/M are both low.
    assert tiers.cost_tier(Decimal("1.925")) == tiers.cost_tier(Decimal(2)) == "low"
    assert [tiers.cost_tier(Decimal(v)) for v in ("0", "2.49", "2.5", "9.99", "10")] == [
        "free",
        "low",
        "medium",
        "medium",
        "high",
    ]
    counts = Counter(c.cost for c in catalog)
    assert all(counts[t] for t in ("free", "low", "medium", "high"))


def test_the_same_price_has_the_same_tier_in_every_scope_and_ratio():
    price = Prices(input=Decimal("2.5"), output=Decimal("10"))  # GPT-4o: $4.375/M at 3:1
    made = [
        derive(
            provider_type="vllm",
            model_id=f"m{i}",
            facts=None,
            scale=tiers.cost_scale(),
            prices=price,
            features=frozenset({"chat"}),
        )
        for i in range(2)
    ]
    gpt = next(
        c
        for c in tiers.catalog_capabilities()
        if c.model == "gpt-4o" and c.provider_type == "openai"
    )
    assert {m.cost for m in made} == {gpt.cost} == {"medium"}


@pytest.mark.parametrize(
    "score, tier",
    [(1547.5, "high"), (1400, "high"), (1399.9, "medium"), (1300, "medium"), (1259.6, "low")],
)
def test_quality_tier_from_the_arena_rating(score, tier):
    assert tiers.quality_tier(score) == tier
    assert tiers.quality_tier(None) is None


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


@given(
    st.decimals(min_value=0, max_value=1000, places=3),
    st.decimals(min_value=0, max_value=1000, places=3),
)
@settings(max_examples=80, deadline=None)
def test_cost_tier_is_monotonic_in_price(a, b):
    order = ["free", "low", "medium", "high"]
    low, high = sorted([a, b])
    assert order.index(tiers.cost_tier(low)) <= order.index(tiers.cost_tier(high))


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
