"""Import documents (core.records.importer) on SQLite and PostgreSQL: records created and
updated, every problem collected, idempotent re-import, who may import what."""

from __future__ import annotations

from decimal import Decimal

import pytest
import yaml
from sqlalchemy import select

from core.accounts import users
from core.records import importer, model_records, providers
from core.records.credentials import provider_credentials
from core.records.importer import DocumentError
from core.startup import Runtime
from core.store.tables import AuditEvent, ModelRecord, Provider
from tests.support import factories as f
from tests.support.import_docs import (
    DOC_YAML,
    counts,
    refusal,
    run_import,
)


def test_import_creates_records(runtime: Runtime, admin: str) -> None:
    result = run_import(runtime, yaml.safe_load(DOC_YAML))
    assert result.created == {"providers": 2, "models": 2}
    assert result.updated == result.unchanged == {"providers": 0, "models": 0}
    with runtime.sessions() as s:
        actor = users.require_user(s, admin)
        views = {v.name: v for v in providers.list_providers(s, user=actor, manage=True)}
        assert views["OpenAI prod"].key_hint == "…1234"
        assert views["OpenAI prod"].base_url == "https://proxy.example.com/v1"
        assert views["OpenAI prod"].priority == 5 and views["OpenAI prod"].owner == "admin"
        assert views["Local Ollama"].status == "inactive"
        models = {m.model_id: m for m in model_records.list_models(s, user=actor, manage=True)}
        gpt = models["gpt-4o"]
        assert gpt.input_cost_per_million == Decimal("2.5")
        assert gpt.output_cost_per_million == Decimal("10")
        assert gpt.cache_read_cost_per_million == Decimal("1.25")
        assert gpt.context_window == 128000 and gpt.config == {
            "temperature": 0.2,
            "max_tokens": 4096,
        }
        embed = models["nomic-embed-text"]
        assert embed.name == "nomic-embed-text" and embed.provider_name == "Local Ollama"
        assert embed.model_type == "embedding"
        actions = sorted(e.action for e in s.scalars(select(AuditEvent)))
    assert actions.count("provider.create") == 2 and actions.count("model.create") == 2


def test_every_problem_is_collected_and_nothing_is_written(runtime: Runtime, admin: str) -> None:
    with runtime.sessions.begin() as s:
        f.provider(s, users.require_user(s, admin), name="Existing")
    doc = {
        "providers": [
            {"name": "Good", "provider_type": "openai", "api_key": "sk-good-000000000000"},
            {"name": "Typo", "provider_type": "nosuch"},
            {"name": "Groq prod", "provider_type": "groq", "apikey": "x"},
            {
                "name": "Bad URL",
                "provider_type": "openai",
                "api_key": "sk-1-000000000000",
                "provider_config": {"base_url": "ftp://files.example.com"},
            },
            {"name": "Not object", "provider_type": "ollama", "provider_config": ["a", "b"]},
            {"name": "good", "provider_type": "ollama"},
            {
                "name": "Bad status",
                "provider_type": "ollama",
                "status": "paused",
                "priority": True,
                "instance_wide": "yes",
            },
            {"provider_type": "ollama"},
            "just a string",
        ],
        "models": [
            {"model_id": "m1", "provider": "Good", "input_cost_per_million": "-1"},
            {"model_id": "m2", "provider": "Nowhere"},
            {"model_id": "m1", "provider": "good"},
            {
                "model_id": "has space",
                "provider": "Existing",
                "context_window": 0,
                "model_type": "chat",
                "model_config": "[]",
            },
        ],
        "extra": 1,
    }
    message = refusal(runtime, doc)
    expected = [
        "top level: unknown key 'extra'",
        "providers[2] ('Typo'): Unknown provider type 'nosuch'. Valid types:",
        "openai_compatible",
        "providers[3] ('Groq prod'): unknown key 'apikey' (did you mean 'api_key'?)",
        "providers[3] ('Groq prod'): Groq needs an API key",
        "providers[4] ('Bad URL'): The base URL must start with http:// or https://.",
        "providers[5] ('Not object'): The provider_config must be a JSON object",
        "providers[6] ('good'): same owner and name as providers[1] ('Good')",
        "providers[7] ('Bad status'): The status must be one of: active, inactive",
        "providers[7] ('Bad status'): The priority must be a whole number",
        "providers[7] ('Bad status'): The instance wide flag must be true or false",
        "providers[8]: 'name' is required",
        "providers[9]: must be a mapping",
        "models[1] ('m1'): The input cost per million cannot be negative",
        "models[2] ('m2'): there is no provider named 'Nowhere'",
        "models[3] ('m1'): same provider and model_id as models[1] ('m1')",
        "models[4] ('has space'): The model ID must not contain spaces",
        "models[4] ('has space'): The context window must be between",
        "models[4] ('has space'): The model type must be one of",
        "models[4] ('has space'): The model_config must be a JSON object",
    ]
    for part in expected:
        assert part in message, part
    assert message.count("\n  - ") <= importer.MAX_REPORTED


def test_error_list_is_capped(runtime: Runtime, admin: str) -> None:
    doc = {"providers": [{"name": f"P{i}", "provider_type": "nosuch"} for i in range(30)]}
    with pytest.raises(DocumentError) as info:
        run_import(runtime, doc)
    assert len(info.value.problems) == 30
    assert len(str(info.value).splitlines()) == importer.MAX_REPORTED + 2
    assert "… and 10 more" in str(info.value)


def test_reimport_is_idempotent(runtime: Runtime, admin: str) -> None:
    doc = yaml.safe_load(DOC_YAML)
    run_import(runtime, doc)
    before = counts(runtime)
    result = run_import(runtime, doc)
    assert result.created == result.updated == {"providers": 0, "models": 0}
    assert result.unchanged == {"providers": 2, "models": 2}
    assert counts(runtime) == before


def test_changed_fields_are_updated_and_audited(runtime: Runtime, admin: str) -> None:
    doc = yaml.safe_load(DOC_YAML)
    run_import(runtime, doc)
    _, _, events = counts(runtime)
    doc["providers"][0]["priority"] = 7
    del doc["providers"][0]["api_key"]  # omitted: the stored key stays
    doc["models"][0]["input_cost_per_million"] = "3"
    doc["models"][0]["name"] = "GPT-4o (2024)"
    result = run_import(runtime, doc)
    assert result.updated == {"providers": 1, "models": 1}
    assert result.unchanged == {"providers": 1, "models": 1}
    with runtime.sessions() as s:
        prov = s.scalar(select(Provider).where(Provider.name == "OpenAI prod"))
        assert prov.priority == 7
        assert provider_credentials(s, prov.id).api_key.endswith("1234")
        model = s.scalar(select(ModelRecord).where(ModelRecord.model_id == "gpt-4o"))
        assert model.input_cost_per_million == Decimal("3") and model.name == "GPT-4o (2024)"
        new = list(s.scalars(select(AuditEvent).order_by(AuditEvent.at)))[events:]
    assert sorted(e.action for e in new) == ["model.update", "provider.update"]
    by_action = {e.action: e for e in new}
    assert by_action["provider.update"].after == {"priority": 7}
    assert set(by_action["model.update"].after) == {"name", "input_cost_per_million"}


def test_member_import_rules(runtime: Runtime, admin: str) -> None:
    doc = {
        "providers": [
            {"name": "Mine", "provider_type": "ollama", "instance_wide": True},
            {"name": "Theirs", "provider_type": "ollama", "owner": "admin"},
            {"name": "Ghost", "provider_type": "ollama", "owner": "nobody"},
        ]
    }
    message = refusal(runtime, doc, username="bob")
    assert "providers[1] ('Mine'): Only admins can import instance-wide providers." in message
    assert "providers[2] ('Theirs'): Only admins can import records for another user." in message
    assert "providers[3] ('Ghost'): There is no user named 'nobody'." in message
    result = run_import(
        runtime, {"providers": [{"name": "Mine", "provider_type": "ollama"}]}, username="bob"
    )
    assert result.created["providers"] == 1


def test_ambiguous_provider_names(runtime: Runtime, admin: str) -> None:
    with runtime.sessions.begin() as s:
        for owner in ("carol", "dave"):
            f.provider(s, f.user(s, owner), name="Shared name")
    message = refusal(runtime, {"models": [{"model_id": "m", "provider": "Shared name"}]})
    assert "ambiguous (owners: carol, dave)" in message
    doc = {
        "models": [
            {"model_id": "m", "provider": {"name": "Shared name", "owner": "dave"}},
            {"model_id": "m", "provider": "Shared name", "owner": "carol"},
        ]
    }
    assert run_import(runtime, doc).created["models"] == 2
    with runtime.sessions() as s:
        actor = users.require_user(s, admin)
        provider_owner = {
            v.id: v.owner for v in providers.list_providers(s, user=actor, manage=True)
        }
        placed = {
            (provider_owner[m.provider_id], m.owner)
            for m in model_records.list_models(s, user=actor, manage=True)
        }
    assert placed == {("dave", "admin"), ("carol", "carol")}


def test_type_change_checks_the_kept_config(runtime: Runtime, admin: str) -> None:
    with runtime.sessions.begin() as s:
        f.provider(s, users.require_user(s, admin), name="Switch", provider_type="ollama")
    message = refusal(
        runtime, {"providers": [{"name": "switch", "provider_type": "google_vertex"}]}
    )
    assert "providers[1] ('switch'): Google Vertex AI needs 'project_id'" in message
