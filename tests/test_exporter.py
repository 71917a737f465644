"""Export documents (core.records.exporter): secrets omitted, what a user manages, round
trips through import; on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
import yaml
from sqlalchemy import select

from core import catalog, documents
from core.accounts import users
from core.records import providers
from core.records.credentials import provider_credentials
from core.startup import Runtime
from core.store.tables import Provider
from tests.support import factories as f
from tests.support.import_docs import (
    CANARY_KEY,
    CANARY_TOKEN,
    counts,
    export_as,
    run_import,
)


def _plant_canaries(runtime: Runtime, admin: str) -> None:
    with runtime.sessions.begin() as s:
        actor = users.require_user(s, admin)
        prov = f.provider(
            s,
            actor,
            name="Canary",
            api_key=CANARY_KEY,
            provider_type="litellm",
            provider_config={"base_url": "https://llm.example.com", "token": CANARY_TOKEN},
        )
        f.model(
            s,
            actor,
            prov,
            "canary-model",
            input_cost_per_million="0.15",
            model_config={
                "api_secret": CANARY_TOKEN,
                "max_tokens": 100,
                "Private-Key": CANARY_TOKEN,
            },
        )


def test_export_omits_secrets(runtime: Runtime, admin: str) -> None:
    _plant_canaries(runtime, admin)
    doc = export_as(runtime)
    assert doc.warnings == []
    for fmt in documents.FORMATS:
        text = documents.dump_document(doc, fmt)
        assert "CANARY" not in text and "api_key:" not in text.replace("# ", "")
    prov = doc["providers"][0]
    assert "api_key" not in prov
    assert prov["provider_config"] == {"base_url": "https://llm.example.com"}
    model = doc["models"][0]
    assert model["model_config"] == {"max_tokens": 100}
    assert model["input_cost_per_million"] == "0.15" and model["owner"] == "admin"
    reloaded = yaml.safe_load(documents.dump_document(doc, "yaml"))
    assert reloaded["models"][0]["input_cost_per_million"] == "0.15"  # stays a string


def test_reimporting_an_export_keeps_stored_secrets(runtime: Runtime, admin: str) -> None:
    _plant_canaries(runtime, admin)
    before = counts(runtime)
    result = run_import(runtime, export_as(runtime))
    assert result.unchanged == {"providers": 1, "models": 1}
    assert counts(runtime) == before
    with runtime.sessions() as s:
        prov = s.scalar(select(Provider).where(Provider.name == "Canary"))
        creds = provider_credentials(s, prov.id)
    assert creds.api_key == CANARY_KEY and creds.config["token"] == CANARY_TOKEN


def test_export_warns_about_config_that_needs_reentry(runtime: Runtime, admin: str) -> None:
    _plant_canaries(runtime, admin)
    with runtime.sessions.begin() as s:
        prov = s.scalar(select(Provider).where(Provider.name == "Canary"))
        prov.provider_config_enc = prov.api_key_enc  # a ciphertext from another column
    doc = export_as(runtime)
    assert "provider_config" not in doc["providers"][0]
    assert doc.warnings and "'Canary'" in doc.warnings[0] and "re-enter" in doc.warnings[0]


def test_export_then_import_into_an_empty_database_round_trips(
    runtime: Runtime, admin: str
) -> None:
    with runtime.sessions.begin() as s:
        actor, bob = users.require_user(s, admin), users.require_user(s, "bob")
        a = f.provider(
            s,
            actor,
            name="Team OpenAI",
            instance_wide=True,
            priority=3,
            provider_config={"base_url": "https://proxy.example.com/v1"},
        )
        b = f.provider(s, bob, name="Team OpenAI", provider_type="anthropic", priority=9)
        c = f.provider(s, actor, name="Local", provider_type="ollama", status="inactive")
        f.model(
            s,
            actor,
            a,
            "gpt-4o",
            input_cost_per_million="2.50",
            output_cost_per_million="10",
            context_window=128000,
            instance_wide=True,
        )
        f.model(s, bob, a, "gpt-4o-mini", cache_write_cost_per_million="0.00000001")
        f.model(s, bob, b, "claude-sonnet", model_config={"max_tokens": 8192})
        f.model(s, actor, c, "llama3", model_type="inference", status="inactive")
    first = export_as(runtime)
    assert {"name": "Team OpenAI", "owner": "admin"} in [m["provider"] for m in first["models"]]
    with runtime.sessions.begin() as s:
        actor = users.require_user(s, admin)
        for pid in list(s.scalars(select(Provider.id))):
            providers.delete_provider(s, actor=actor, provider_id=pid, cascade=True)
    assert counts(runtime)[:2] == (0, 0)
    doc = json.loads(documents.dump_document(first, "json"))
    for entry in doc["providers"]:
        entry["api_key"] = "${ROUND_TRIP_KEY}"
    result = run_import(
        runtime, doc, allow_env=("ROUND_TRIP_KEY",), ROUND_TRIP_KEY="sk-roundtrip-00000000"
    )
    assert result.created == {"providers": 3, "models": 4}
    assert export_as(runtime) == first


def test_member_exports_only_what_they_manage(runtime: Runtime, admin: str) -> None:
    with runtime.sessions.begin() as s:
        actor, bob = users.require_user(s, admin), users.require_user(s, "bob")
        shared = f.provider(s, actor, name="Instance", instance_wide=True)
        f.provider(s, bob, name="Bob's", provider_type="ollama")
        f.model(s, bob, shared, "bob-model")
    doc = export_as(runtime, "bob")
    assert [p["name"] for p in doc["providers"]] == ["Bob's"]
    assert doc["models"] == [
        {
            "name": "bob-model",
            "model_id": "bob-model",
            "provider": "Instance",
            "model_type": "inference",
            "instance_wide": False,
            "status": "active",
            "owner": "bob",
        }
    ]
    assert run_import(runtime, doc, username="bob").unchanged == {"providers": 1, "models": 1}


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("token", True),
        ("api_key", True),
        ("apiKey", True),
        ("client_secret", True),
        ("session_token", True),
        ("Private-Key", True),
        ("password", True),
        ("credentials_file", True),
        ("max_tokens", False),
        ("temperature", False),
        ("base_url", False),
        ("region", False),
    ],
)
def test_looks_secret(key: str, secret: bool) -> None:
    assert catalog.looks_secret(key) is secret
