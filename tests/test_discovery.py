"""Model discovery (core.probes.discovery) against a real provider on loopback: served models
marked configured, types guessed, catalog facts pre-filled with their source, failures as
one sentence, and the import: selected ones only, configured ones skipped, all or nothing."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from core.errors import (
    IntegrityError,
    PermissionDeniedError,
    ProviderUnauthorized,
    ProviderUnreachable,
)
from core.probes import discovery
from core.records import model_records, providers
from core.startup import Runtime
from core.store.tables import AuditEvent, ModelRecord, Provider, User
from tests.fakes import PROTOCOLS, FakeProvider, closed_port_url
from tests.support import factories as f
from tests.test_connection import CANARY, loopback_settings

SERVED = (
    "gpt-4o",
    "text-embedding-3-small",
    "rerank-english-v3.0",
    "acme-finetune-1",
    "gpt-4o",
)  # listed twice: shown once


@pytest.fixture
def world(runtime: Runtime) -> Any:
    """alice (admin) owns an OpenAI provider on the fake with gpt-4o configured; bob is a
    member who may see it (instance-wide) but not manage it."""
    with FakeProvider("openai", key=CANARY, models=SERVED) as fake:
        with runtime.sessions.begin() as s:
            alice, bob = f.user(s, "alice", "admin"), f.user(s, "bob")
            prov = f.provider(
                s,
                alice,
                "Fake OpenAI",
                api_key=CANARY,
                instance_wide=True,
                provider_config={"base_url": fake.base_url},
            )
            f.model(s, alice, prov, "gpt-4o", name="GPT-4o (ours)")
            ids = {"alice": alice.id, "bob": bob.id, "pid": prov.id}
        yield {"rt": runtime, "fake": fake, **ids}


def served(world: Any, who: str = "alice") -> list[discovery.ServedModel]:
    with world["rt"].sessions() as s:
        return discovery.served_models(
            s, actor=s.get(User, world[who]), provider_id=world["pid"], settings=loopback_settings()
        )


def models_of(world: Any) -> dict[str, ModelRecord]:
    with world["rt"].sessions() as s:
        return {m.model_id: m for m in s.scalars(select(ModelRecord))}


@pytest.mark.parametrize(
    "model_id, kind, expected",
    [
        ("text-embedding-3-large", None, "embedding"),
        ("nomic-embed-text", None, "embedding"),
        ("rerank-english-v3.0", None, "rerank"),
        ("BAAI/bge-reranker-v2-m3", None, "rerank"),
        ("gpt-4o", None, "inference"),
        ("llama3:8b", None, "inference"),
        ("oddly-named", "embedding", "embedding"),  # the listing's own kind wins
        ("gpt-4o", "nonsense", "inference"),
    ],
)
def test_guess_type(model_id: str, kind: str | None, expected: str) -> None:
    assert discovery.guess_type(model_id, kind) == expected


def test_catalog_facts_come_from_models_dev_as_decimals() -> None:
    facts = discovery.catalog_facts("openai", "gpt-4o")
    assert facts["context_window"] == 128000
    assert facts["input_cost_per_million"] == Decimal("2.5")
    assert facts["output_cost_per_million"] == Decimal("10")
    assert all(isinstance(facts[p], Decimal) for p in model_records.PRICE_FIELDS if p in facts)
    assert facts["source"] == "models.dev (openai)"
    assert discovery.catalog_facts("openai", "no-such-model") == {}
    assert discovery.catalog_facts("vllm", "gpt-4o") == {}  # a type without catalog data


def test_served_models_marks_configured_guesses_types_and_fills_facts(world: Any) -> None:
    found = {m.model_id: m for m in served(world)}
    assert list(found) == sorted(set(SERVED), key=str.casefold)
    assert [m for m, s in found.items() if s.configured] == ["gpt-4o"]
    assert {m: s.guessed_type for m, s in found.items()} == {
        "acme-finetune-1": "inference",
        "gpt-4o": "inference",
        "rerank-english-v3.0": "rerank",
        "text-embedding-3-small": "embedding",
    }
    # The fake's listing gives every model a 128,000-token window: the listing wins over
    # the catalog's 8,191 for the embedding model; prices come from the catalog.
    embed = found["text-embedding-3-small"]
    assert (embed.context_window, embed.input_cost_per_million, embed.source) == (
        128000,
        Decimal("0.02"),
        "provider listing + models.dev (openai)",
    )
    unknown = found["acme-finetune-1"]
    assert (
        unknown.name,
        unknown.context_window,
        unknown.input_cost_per_million,
        unknown.source,
    ) == ("acme-finetune-1", 128000, None, "provider listing")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_every_protocols_listing_becomes_served_models(runtime: Runtime, protocol: str) -> None:
    with FakeProvider(protocol, key=CANARY) as fake, runtime.sessions() as s:
        target = fake.target()
        alice = f.user(s, "alice", "admin")
        prov = f.provider(
            s,
            alice,
            "Fake",
            provider_type=target.provider_type,
            api_key=target.api_key,
            provider_config=dict(target.config),
        )
        found = discovery.served_models(
            s, actor=alice, provider_id=prov.id, settings=loopback_settings()
        )
        s.rollback()
    assert sorted(m.model_id for m in found) == sorted(fake.models)
    assert {m.model_id: m.guessed_type for m in found if m.guessed_type != "inference"} == {
        m: "embedding" for m in fake.models if "embed" in m
    }
    assert not any(m.configured for m in found)


def test_served_models_needs_a_provider_the_actor_manages(world: Any) -> None:
    with pytest.raises(PermissionDeniedError):
        served(world, "bob")
    assert world["fake"].requests == []


def test_listing_failures_are_one_sentence_without_the_key(world: Any) -> None:
    world["fake"].key = "sk-another-key-0000000"  # the stored key is now refused
    with pytest.raises(ProviderUnauthorized) as refused:
        served(world)
    assert str(refused.value) == "The key was refused (HTTP 401)."
    with world["rt"].sessions.begin() as s:
        prov = s.get(Provider, world["pid"])
        providers.update_provider(
            s,
            actor=s.get(User, world["alice"]),
            provider_id=prov.id,
            expected_version=prov.version,
            provider_config={"base_url": closed_port_url() + "/v1"},
        )
    with pytest.raises(ProviderUnreachable) as unreachable:
        served(world)
    assert "Could not connect to 127.0.0.1:" in str(unreachable.value)
    assert CANARY not in str(refused.value) + str(unreachable.value)


def test_import_adds_the_selected_with_facts_and_skips_configured(world: Any) -> None:
    listing = served(world)
    with world["rt"].sessions.begin() as s:
        added = discovery.import_served_models(
            s,
            actor=s.get(User, world["alice"]),
            provider_id=world["pid"],
            facts=listing,
            model_ids=["gpt-4o", "text-embedding-3-small", "rerank-english-v3.0"],
        )
    assert added == 2
    stored = models_of(world)
    assert stored["gpt-4o"].name == "GPT-4o (ours)"  # the configured one is untouched
    embed, rerank = stored["text-embedding-3-small"], stored["rerank-english-v3.0"]
    assert (embed.model_type, Decimal(embed.input_cost_per_million)) == (
        "embedding",
        Decimal("0.02"),
    )
    assert rerank.model_type == "rerank"
    assert "acme-finetune-1" not in stored  # not selected
    with world["rt"].sessions() as s:
        assert (
            s.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action == "model.create")
            )
            == 3
        )


def test_import_uses_corrected_types_and_lists_again_without_facts(world: Any) -> None:
    listing = [
        m if m.model_id != "acme-finetune-1" else replace(m, guessed_type="embedding")
        for m in served(world)
    ]
    with world["rt"].sessions.begin() as s:
        alice = s.get(User, world["alice"])
        assert (
            discovery.import_served_models(
                s,
                actor=alice,
                provider_id=world["pid"],
                model_ids=["acme-finetune-1"],
                facts=listing,
            )
            == 1
        )
        world["fake"].requests.clear()
        assert (
            discovery.import_served_models(
                s,
                actor=alice,
                provider_id=world["pid"],
                model_ids=["gpt-4o-mini"],
                settings=loopback_settings(),
            )
            == 1
        )
        assert [r.route for r in world["fake"].requests] == ["/v1/models"]
    stored = models_of(world)
    assert stored["acme-finetune-1"].model_type == "embedding"
    mini = stored["gpt-4o-mini"]  # not served by the fake, but the catalog knows it
    assert (mini.name, mini.context_window, mini.model_type) == ("GPT-4o mini", 128000, "inference")


def test_import_is_all_or_nothing(world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    real, calls = model_records.create_model, []

    def second_fails(session: Any, **kw: Any) -> Any:
        calls.append(kw["model_id"])
        if len(calls) == 2:
            raise IntegrityError("simulated failure")
        return real(session, **kw)

    monkeypatch.setattr(model_records, "create_model", second_fails)
    listing = served(world)
    with pytest.raises(IntegrityError) as failed, world["rt"].sessions.begin() as s:
        discovery.import_served_models(
            s,
            actor=s.get(User, world["alice"]),
            provider_id=world["pid"],
            facts=listing,
            model_ids=["acme-finetune-1", "rerank-english-v3.0", "text-embedding-3-small"],
        )
    assert len(calls) == 2
    assert str(failed.value) == (
        "'rerank-english-v3.0' could not be added, so none were: simulated failure"
    )
    assert set(models_of(world)) == {"gpt-4o"}  # the first one was rolled back too


def test_import_needs_a_provider_the_actor_manages(world: Any) -> None:
    with pytest.raises(PermissionDeniedError), world["rt"].sessions.begin() as s:
        discovery.import_served_models(
            s, actor=s.get(User, world["bob"]), provider_id=world["pid"], model_ids=["x"]
        )
    assert set(models_of(world)) == {"gpt-4o"}


@pytest.mark.parametrize(
    "model_id", ["BAAI/bge-m3", "intfloat/e5-large-v2", "thenlper/gte-large", "voyage-3.5"]
)
def test_embedding_families_are_told_by_the_catalog_rule(model_id: str) -> None:
    assert discovery.guess_type(model_id) == "embedding"


def test_the_catalog_type_wins_over_the_id_when_the_id_matches() -> None:
    # models.dev lists it as an embedding model; nothing in its id says so.
    served = discovery.describe("digitalocean", "multi-qa-mpnet-base-dot-v1", configured=False)
    assert served.guessed_type == "embedding"
    assert discovery.describe("openai", "gpt-4o", configured=False).guessed_type == "inference"
