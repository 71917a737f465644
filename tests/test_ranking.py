"""Best model by values (core.explorer.ranking): never a dominated pick, ties broken by the
other values, unknown features counted, quality shown as a number with its uncertainty."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.catalog import model_facts
from core.errors import ValidationError
from core.explorer import ranking, tiers
from core.explorer.registry import PREFERENCES, TASK_FEATURES, ModelCapability


@dataclass(frozen=True)
class Rating:
    """The shape of core.catalog.quality.Rating, for hand-built models."""

    score: float
    ci_low: float | None = None
    ci_high: float | None = None
    votes: int = 1000
    board: str = "text"
    source: str = "Arena (arena.ai), CC BY 4.0"
    fetched: date | None = date(2026, 10, 5)
    licence: str = "CC BY 4.0"
    method: str = "exact"
    matched_name: str = ""


def model(name, *, rating=None, price=None, speed="medium", tps=None, quality=None, **kw):
    sources = {"quality": tiers.ON_RECORD} if quality else {}
    return ModelCapability(
        provider_type=kw.pop("provider_type", "openai"),
        model=name,
        speed=speed,
        quality=quality or (tiers.quality_tier(rating.score) if rating else None),
        cost=tiers.cost_tier(price),
        context_window=kw.pop("context_window", 128_000),
        features=kw.pop("features", frozenset({"chat"})),
        blended_price=price,
        rating=rating,
        tokens_per_s=tps,
        sources=sources,
        **kw,
    )


def test_gpt_4o_against_gpt_4o_mini_same_tier_picks_the_cheaper_faster_one():
    # The case: both rated "high" (on the record), GPT-4o dearer and slower.
    big = model("gpt-4o", quality="high", price=Decimal("4.375"), speed="medium")
    mini = model("gpt-4o-mini", quality="high", price=Decimal("0.2625"), speed="fast")
    got = ranking.best("chat", "quality", [big, mini])
    assert got.pick.model == "gpt-4o-mini"
    assert not ranking.dominates(big, mini) and ranking.dominates(mini, big)


def test_a_higher_rating_wins_quality_and_the_reason_names_it():
    big = model("gpt-4o", rating=Rating(1360.2, 1352.0, 1368.4, 7318), price=Decimal("4.375"))
    mini = model(
        "gpt-4o-mini", rating=Rating(1347.9, 1341.4, 1354.5, 10926), price=Decimal("0.2625")
    )
    got = ranking.best("chat", "quality", [mini, big])
    assert got.pick.model == "gpt-4o"
    why = got.candidates[0].reason
    assert why.startswith("Arena 1360 ± 8 (7,318 votes, text board, 2026-10-05)")
    assert "2026-10-05" in why and "$4.375/M blended" in why
    assert ranking.best("chat", "cost", [mini, big]).pick.model == "gpt-4o-mini"


def test_a_tier_on_the_record_overrides_the_rating_and_says_so():
    m = model("x", rating=Rating(1460.0, 1455.0, 1465.0), quality="low", price=Decimal(1))
    assert ranking.quality_value(m) == ranking.BAND_VALUES["low"]
    text = ranking.quality_text(m)
    assert text.startswith(f"low quality [{tiers.ON_RECORD}]") and "Arena 1460 ± 5" in text


def test_measured_tokens_per_second_break_a_speed_tie():
    slow = model("a", speed="fast", tps=70.0, price=Decimal(1))
    quick = model("b", speed="fast", tps=140.0, price=Decimal(1))
    assert ranking.best("chat", "speed", [slow, quick]).pick.model == "b"


def test_unknown_features_are_flagged_included_or_counted():
    known = model("known", price=Decimal(3))
    unknown = replace(
        model("vllm-llama", price=Decimal("0.05"), provider_type="vllm"),
        features=frozenset(),
        features_known=False,
    )
    embed = model("embed", features=frozenset({"embedding"}), price=Decimal("0.02"))
    got = ranking.best("chat", "cost", [known, unknown, embed])
    assert got.pick.model == "vllm-llama" and got.candidates[0].unknown_features
    assert got.candidates[0].reason.endswith("features unknown")
    assert got.left_out == {"lack the task's features": 1}
    without = ranking.best("chat", "cost", [known, unknown, embed], include_unknown=False)
    assert [p.model.model for p in without.candidates] == ["known"]
    assert without.left_out == {ranking.UNKNOWN_FEATURES: 1, "lack the task's features": 1}
    assert "1 with features unknown" in ranking.left_out_text(without.left_out)


def test_bad_task_or_preference_is_refused():
    with pytest.raises(ValidationError, match="Valid: chat"):
        ranking.best("poetry", "quality", [])
    with pytest.raises(ValidationError, match="Valid: quality"):
        ranking.best("chat", "beauty", [])


ratings = st.none() | st.builds(Rating, st.sampled_from([1200.0, 1300.0, 1350.5, 1400.0, 1460.0]))
prices = st.none() | st.sampled_from([Decimal(0), Decimal("0.25"), Decimal(2), Decimal(10)])
candidates = st.builds(
    model,
    st.sampled_from(["a", "b", "c", "d", "e"]),
    rating=ratings,
    price=prices,
    speed=st.none() | st.sampled_from(["fast", "medium", "slow"]),
    tps=st.none() | st.sampled_from([15.0, 60.0, 120.0]),
    quality=st.none() | st.sampled_from(["high", "medium", "low"]),
    provider_type=st.sampled_from(["openai", "anthropic", "vllm"]),
)


@given(st.lists(candidates, min_size=1, max_size=10), st.sampled_from(PREFERENCES))
@settings(max_examples=300, deadline=None)
def test_property_no_pick_is_dominated(models, prefer):
    got = ranking.best("chat", prefer, models)
    pick = got.pick
    assert not any(ranking.dominates(other, pick) for other in models)
    # Each candidate is beaten on all three only by models ranked above it.
    order = [p.model for p in got.candidates]
    for i, m in enumerate(order):
        assert not any(ranking.dominates(later, m) for later in order[i + 1 :])


def test_catalog_best_for_chat_by_quality_is_rated_and_undominated():
    catalog = tiers.catalog_capabilities()
    for prefer in PREFERENCES:
        got = ranking.best("chat", prefer, catalog, include_unknown=False)
        fit = [m for m in catalog if TASK_FEATURES["chat"] <= m.features]
        assert not any(ranking.dominates(m, got.pick) for m in fit)
    assert model_facts.lookup("openai", "gpt-4o") is not None


def test_an_arena_rated_model_without_listed_features_chats():
    made = tiers.derive(
        provider_type="vllm",
        model_id="in-house",
        facts=None,
        scale=tiers.cost_scale(),
        rating=Rating(1350.0, 1345.0, 1355.0),
    )
    assert made.features == frozenset({"chat"}) and not made.features_known
    assert made.sources["features"].startswith("chat: it has an Arena text rating")
    assert made.quality == "medium" and made.sources["quality"].startswith("Arena 1350 ± 5")
    assert ranking.reason(made, "quality").endswith("other features unknown")
    assert ranking.best("vision", "quality", [made], include_unknown=False).left_out == {
        ranking.UNKNOWN_FEATURES: 1
    }
