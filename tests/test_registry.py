"""The capability registry: the built-in table, worked examples, loader strictness, properties."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from core.errors import ConfigurationError, ValidationError
from core.explorer.registry import (
    COST_SCORES,
    PREFERENCES,
    SPEED_SCORES,
    TASK_FEATURES,
    ModelCapability,
    _load,
    best_model_for,
    get_model,
    list_models,
    models_for_task,
    reason,
    sort_key,
)
from core.vocabulary import FEATURES, QUALITY_SCORES

# The built-in registry table, typed out again by hand (not read from the YAML).
SEED_TABLE = [
    (
        "anthropic",
        "claude-opus-4-6",
        "slow",
        "high",
        "high",
        200_000,
        "chat, vision, tool_use, json_mode",
    ),
    (
        "anthropic",
        "claude-sonnet-4-20250514",
        "medium",
        "high",
        "medium",
        200_000,
        "chat, vision, tool_use, json_mode",
    ),
    (
        "anthropic",
        "claude-haiku-4-5-20251001",
        "fast",
        "medium",
        "low",
        200_000,
        "chat, vision, tool_use, json_mode",
    ),
    (
        "openai",
        "gpt-4o",
        "medium",
        "high",
        "medium",
        128_000,
        "chat, vision, tool_use, json_mode, audio",
    ),
    (
        "openai",
        "gpt-4o-mini",
        "fast",
        "medium",
        "low",
        128_000,
        "chat, vision, tool_use, json_mode",
    ),
    ("openai", "o3", "slow", "high", "high", 128_000, "chat, tool_use, json_mode"),
    (
        "google_gemini",
        "gemini-2.0-flash",
        "fast",
        "medium",
        "low",
        1_000_000,
        "chat, vision, tool_use, json_mode, audio",
    ),
    (
        "google_gemini",
        "gemini-2.5-pro",
        "medium",
        "high",
        "medium",
        1_000_000,
        "chat, vision, tool_use, json_mode, audio",
    ),
    ("ollama", "llama3.2", "medium", "medium", "free", 128_000, "chat, tool_use"),
    ("ollama", "mistral", "fast", "medium", "free", 32_000, "chat"),
    ("ollama", "codellama", "medium", "medium", "free", 16_000, "chat"),
    (
        "azure_openai",
        "gpt-4o",
        "medium",
        "high",
        "medium",
        128_000,
        "chat, vision, tool_use, json_mode",
    ),
]


def ids(ranking) -> list[tuple[str, str]]:
    return [(c.model.provider_type, c.model.model) for c in ranking.candidates]


# --- The table's data ---------------------------------------------------------------------


def test_seed_data_matches_the_table_row_for_row():
    rows = [
        (m.provider_type, m.model, m.speed, m.quality, m.cost, m.context_window, m.features)
        for m in list_models()
    ]
    expected = [(*row[:6], frozenset(row[6].split(", "))) for row in SEED_TABLE]
    assert rows == expected


def test_azure_gpt_4o_has_no_audio_but_openai_gpt_4o_does():
    assert "audio" not in get_model("azure_openai", "gpt-4o").features
    assert "audio" in get_model("openai", "gpt-4o").features


def test_seed_is_loaded_once():
    assert list_models() is list_models()


# --- Worked examples of best_model_for ----------------------------------------------------


def test_analysis_prefer_speed():
    # analysis needs chat + json_mode. Fast ones in table order: haiku, gpt-4o-mini,
    # gemini-2.0-flash (mistral is fast but lacks json_mode). Enum.min_by keeps the first
    # of the tied rows: haiku.
    ranking = best_model_for("analysis", prefer="speed")
    assert ranking.pick == get_model("anthropic", "claude-haiku-4-5-20251001")
    assert ids(ranking)[:3] == [
        ("anthropic", "claude-haiku-4-5-20251001"),
        ("openai", "gpt-4o-mini"),
        ("google_gemini", "gemini-2.0-flash"),
    ]
    assert [c.score for c in ranking.candidates[:3]] == [0, 0, 0]
    assert ranking.candidates[0].reason == "fast (0); medium quality; low cost; 200k context"
    assert ("ollama", "mistral") not in ids(ranking)


def test_chat_prefer_quality_anthropic_only():
    # opus and sonnet are both high (3); opus is the first row, so Enum.max_by keeps it;
    # haiku (medium quality) comes last.
    ranking = best_model_for("chat", prefer="quality", provider_types=["anthropic"])
    assert ids(ranking) == [
        ("anthropic", "claude-opus-4-6"),
        ("anthropic", "claude-sonnet-4-20250514"),
        ("anthropic", "claude-haiku-4-5-20251001"),
    ]
    assert [c.score for c in ranking.candidates] == [3, 3, 2]
    assert ranking.candidates[0].reason == "high quality (3); high cost; slow; 200k context"


def test_quality_is_the_default_preference():
    # Every high-quality row ties on the score; the table's first one wins.
    ranking = best_model_for("chat")
    assert ranking.prefer == "quality"
    assert ranking.pick == get_model("anthropic", "claude-opus-4-6")
    assert ids(ranking)[:6] == [
        ("anthropic", "claude-opus-4-6"),
        ("anthropic", "claude-sonnet-4-20250514"),
        ("openai", "gpt-4o"),
        ("openai", "o3"),
        ("google_gemini", "gemini-2.5-pro"),
        ("azure_openai", "gpt-4o"),
    ]


def test_chat_prefer_cost():
    # The three Ollama models are free; llama3.2 is the first of them in the table.
    ranking = best_model_for("chat", prefer="cost")
    assert ids(ranking)[:3] == [
        ("ollama", "llama3.2"),
        ("ollama", "mistral"),
        ("ollama", "codellama"),
    ]
    assert ranking.candidates[0].reason == "free (0); medium quality; medium speed; 128k context"


def test_tool_use_prefer_cost_and_vision_prefer_cost():
    # llama3.2 is the only free model with tool_use.
    assert best_model_for("tool_use", prefer="cost").pick == get_model("ollama", "llama3.2")
    # No free vision model; low cost in table order: haiku, gpt-4o-mini, gemini-2.0-flash.
    assert best_model_for("vision", prefer="cost").pick.model == "claude-haiku-4-5-20251001"


def _elixir_pick(task, prefer, provider_types=None):
    """The ranking rule written out: filter, then the first row with the best score."""
    rows = [
        m
        for m in list_models()
        if TASK_FEATURES[task] <= m.features
        and (provider_types is None or m.provider_type in provider_types)
    ]
    if not rows:
        return None
    best = (max if prefer == "quality" else min)(m.scores[prefer] for m in rows)
    return next(m for m in rows if m.scores[prefer] == best)  # Enum.max_by/min_by: first


@pytest.mark.parametrize("task", sorted(TASK_FEATURES))
@pytest.mark.parametrize("prefer", PREFERENCES)
@pytest.mark.parametrize(
    "provider_types",
    [None, ["anthropic"], ["openai"], ["ollama", "google_gemini"], ["azure_openai"], []],
)
def test_pick_is_exactly_the_seeds_pick(task, prefer, provider_types):
    ranking = best_model_for(task, prefer, provider_types=provider_types)
    expected = _elixir_pick(task, prefer, provider_types)
    assert (ranking.pick if ranking else None) == expected


def test_vision_prefer_speed_within_openai():
    # gpt-4o-mini is fast, gpt-4o medium; o3 has no vision.
    ranking = best_model_for("vision", prefer="speed", provider_types=["openai"])
    assert ids(ranking) == [("openai", "gpt-4o-mini"), ("openai", "gpt-4o")]


def test_no_match_returns_none():
    # No seed model has reasoning, embedding or rerank.
    for task in ("reasoning", "embedding", "rerank"):
        assert best_model_for(task) is None
    assert best_model_for("vision", provider_types=["ollama"]) is None
    assert best_model_for("chat", provider_types=[]) is None


def test_provider_types_accepts_a_single_name():
    assert best_model_for("chat", provider_types="ollama").pick.provider_type == "ollama"


def test_invalid_task_and_preference_name_the_valid_ones():
    with pytest.raises(ValidationError, match="Unknown task 'summarise'") as info:
        best_model_for("summarise")
    assert info.value.field == "task"
    assert "chat, analysis, vision, tool_use, reasoning, embedding, rerank" in str(info.value)
    with pytest.raises(ValidationError, match="Valid: quality, speed, cost") as info:
        best_model_for("chat", prefer="price")
    assert info.value.field == "prefer"


# --- get_model, models_for_task -------------------------------------------------------------


def test_get_model_hits_and_misses():
    opus = get_model("anthropic", "claude-opus-4-6")
    assert (opus.speed, opus.quality, opus.cost, opus.context_window) == (
        "slow",
        "high",
        "high",
        200_000,
    )
    assert get_model("anthropic", "gpt-4o") is None
    assert get_model("nobody", "claude-opus-4-6") is None
    assert get_model("ollama", "mistral", models=[]) is None


def test_models_for_task():
    # Vision: all but o3 and the three Ollama models.
    vision = models_for_task(["chat", "vision"])
    assert len(vision) == 8
    assert {m.model for m in vision}.isdisjoint({"o3", "llama3.2", "mistral", "codellama"})
    assert [m.model for m in models_for_task(["audio"])] == [
        "gpt-4o",
        "gemini-2.0-flash",
        "gemini-2.5-pro",
    ]
    assert len(models_for_task([])) == 12
    assert models_for_task("tool_use") == models_for_task(["tool_use"])
    with pytest.raises(ValidationError, match="Unknown feature 'smell'"):
        models_for_task(["smell"])


def test_models_parameter_replaces_the_seed():
    mine = [ModelCapability("vllm", "qwen", "fast", "low", "free", 8_000, {"chat"})]
    assert list_models(mine) == tuple(mine)
    assert best_model_for("chat", models=mine).pick.model == "qwen"
    assert (
        best_model_for("chat", models=mine).candidates[0].reason
        == "low quality (1); free; fast; 8k context"
    )


GOOD_ROW = {
    "provider_type": "ollama",
    "model": "m",
    "speed": "fast",
    "quality": "low",
    "cost": "free",
    "context_window": 1000,
    "features": ["chat"],
}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("speed", "warp", "Unknown speed 'warp'"),
        ("quality", "great", "Unknown quality 'great'"),
        ("cost", "cheap", "Unknown cost 'cheap'"),
        ("features", ["chat", "telepathy"], "Unknown feature 'telepathy'"),
        ("features", "chat", "Features must be a list"),
        ("context_window", 0, "positive integer"),
        ("context_window", True, "positive integer"),
        ("provider_type", "Anthropic", "Bad provider type"),
        ("model", " ", "Bad model id"),
    ],
)
def test_capability_rejects_bad_values(field, value, message):
    row = {**GOOD_ROW, field: value}
    with pytest.raises(ValidationError, match=message):
        ModelCapability(**row)


# --- Loader strictness ----------------------------------------------------------------------


def write(tmp_path: Path, data) -> Path:
    path = tmp_path / "registry_seed.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"speed": "ludicrous"}, r"entry 1 \(ollama/m\): Unknown speed 'ludicrous'"),
        ({"features": ["chat", "smell"]}, "Unknown feature 'smell'"),
        ({"features": ["chat", "chat"]}, "features repeat a name"),
        ({"features": "chat"}, "features must be a list"),
        ({"colour": "blue"}, r"unknown keys \['colour'\]"),
        ({"context_window": "200k"}, "positive integer"),
    ],
)
def test_loader_rejects_bad_rows_naming_the_entry(tmp_path, change, message):
    with pytest.raises(ConfigurationError, match=message):
        _load(write(tmp_path, {"models": [{**GOOD_ROW, **change}]}))


def test_loader_rejects_bad_shapes_and_duplicates(tmp_path):
    with pytest.raises(ConfigurationError, match="missing keys"):
        _load(write(tmp_path, {"models": [{k: v for k, v in GOOD_ROW.items() if k != "cost"}]}))
    with pytest.raises(ConfigurationError, match="one key, 'models'"):
        _load(write(tmp_path, [GOOD_ROW]))
    with pytest.raises(ConfigurationError, match="entry 2 .*duplicate"):
        _load(write(tmp_path, {"models": [GOOD_ROW, GOOD_ROW]}))
    with pytest.raises(ConfigurationError, match="Cannot read"):
        _load(tmp_path / "absent.yaml")


# --- Properties over generated model lists ---------------------------------------------------

capabilities = st.builds(
    ModelCapability,
    provider_type=st.sampled_from(["anthropic", "openai", "ollama", "azure_openai", "vllm"]),
    model=st.sampled_from(["a", "b", "c", "d"]),
    speed=st.sampled_from(sorted(SPEED_SCORES)),
    quality=st.sampled_from(sorted(QUALITY_SCORES)),
    cost=st.sampled_from(sorted(COST_SCORES)),
    context_window=st.sampled_from([8_000, 32_000, 128_000, 200_000, 1_000_000]),
    features=st.frozensets(st.sampled_from(sorted(FEATURES))),
)
model_lists = st.lists(capabilities, max_size=12)
tasks = st.sampled_from(sorted(TASK_FEATURES))
prefs = st.sampled_from(PREFERENCES)
provider_filters = st.none() | st.lists(
    st.sampled_from(["anthropic", "openai", "ollama", "azure_openai", "vllm"]), max_size=3
)


def primary(model: ModelCapability, prefer: str) -> int:
    """The preferred score, oriented so that smaller is better."""
    return -model.scores[prefer] if prefer == "quality" else model.scores[prefer]


@given(model_lists, tasks, prefs, provider_filters)
def test_property_selection_invariants(models, task, prefer, providers):
    ranking = best_model_for(task, prefer=prefer, provider_types=providers, models=models)
    eligible = [
        m
        for m in models
        if TASK_FEATURES[task] <= m.features and (providers is None or m.provider_type in providers)
    ]
    if not eligible:
        assert ranking is None
        return
    # Every candidate has the task's features and an allowed provider; none is missed.
    assert Counter(c.model for c in ranking.candidates) == Counter(eligible)
    for c in ranking.candidates:
        assert TASK_FEATURES[task] <= c.model.features
        assert providers is None or c.model.provider_type in providers
        assert c.score == c.model.scores[prefer]
        assert "\n" not in c.reason and c.reason == reason(c.model, prefer)
    # The pick is optimal on the preferred dimension, and the ranking is sorted by it.
    assert primary(ranking.pick, prefer) == min(primary(m, prefer) for m in eligible)
    orders = [primary(c.model, prefer) for c in ranking.candidates]
    assert orders == sorted(orders)
    keys = [sort_key(c.model, prefer) for c in ranking.candidates]
    assert keys == sorted(keys)


@given(model_lists, tasks, prefs, provider_filters, st.randoms(use_true_random=False))
def test_property_deterministic_under_shuffle(models, task, prefer, providers, rnd):
    first = best_model_for(task, prefer=prefer, provider_types=providers, models=models)
    assert best_model_for(task, prefer=prefer, provider_types=providers, models=models) == first
    shuffled = list(models)
    rnd.shuffle(shuffled)
    again = best_model_for(task, prefer=prefer, provider_types=providers, models=shuffled)
    if first is None:
        assert again is None
    else:
        assert again == first


@given(tasks, prefs)
def test_property_seed_pick_is_first_of_its_own_ranking(task, prefer):
    ranking = best_model_for(task, prefer=prefer)
    if ranking is not None:
        assert ranking.pick == ranking.candidates[0].model
        assert len({(c.model.provider_type, c.model.model) for c in ranking.candidates}) == len(
            ranking.candidates
        )


def test_shuffled_seed_gives_the_same_rankings():
    shuffled = list(list_models())
    random.Random(2).shuffle(shuffled)
    for task in TASK_FEATURES:
        for prefer in PREFERENCES:
            assert best_model_for(task, prefer, models=shuffled) == best_model_for(task, prefer)
