"""Import and export documents (core.records.importer) on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select

from core import catalog, documents
from core.accounts import users
from core.errors import ValidationError
from core.records import exporter, importer, model_records, providers
from core.records.importer import DocumentError
from core.startup import Runtime
from core.store.tables import AuditEvent, ModelRecord, Provider
from tests.support import factories as f

CANARY_KEY = "sk-CANARY-key-7f3a9c1e5b2d"
CANARY_TOKEN = "CANARY-token-0d9e8f7a6b5c"

DOC_YAML = """
providers:
  - name: OpenAI prod
    provider_type: openai
    api_key: sk-import-0000000000001234
    provider_config: {base_url: "https://proxy.example.com/v1"}
    priority: 5
  - name: Local Ollama
    provider_type: ollama
    status: inactive
models:
  - name: GPT-4o
    model_id: gpt-4o
    provider: OpenAI prod
    input_cost_per_million: "2.5"
    output_cost_per_million: 10
    cache_read_cost_per_million: 1.25
    context_window: 128000
    model_config: {temperature: 0.2, max_tokens: 4096}
  - model_id: nomic-embed-text
    provider: local ollama
    model_type: embedding
"""


def _counts(runtime: Runtime) -> tuple[int, int, int]:
    with runtime.sessions() as s:
        return tuple(
            s.scalar(select(func.count()).select_from(t))  # type: ignore[return-value]
            for t in (Provider, ModelRecord, AuditEvent)
        )


def _with_env(runtime: Runtime, **env: str):  # noqa: ANN202
    return dataclasses.replace(
        runtime.settings, environ=MappingProxyType({**runtime.settings.environ, **env})
    )


def _import(
    runtime: Runtime,
    doc: Any,
    username: str = "admin",
    *,  # noqa: ANN202
    allow_env: tuple[str, ...] = (),
    **env: str,
):
    with runtime.sessions.begin() as s:
        actor = users.require_user(s, username)
        plan = importer.plan_import(
            s, actor=actor, document=doc, settings=_with_env(runtime, **env), allow_env=allow_env
        )
        return importer.apply_import(s, actor=actor, plan=plan)


def _export(runtime: Runtime, username: str = "admin") -> exporter.ExportDocument:
    with runtime.sessions() as s:
        return exporter.export_document(s, actor=users.require_user(s, username))


def _problems(
    runtime: Runtime,
    doc: Any,
    username: str = "admin",
    *,
    allow_env: tuple[str, ...] = (),
    **env: str,
) -> str:
    before = _counts(runtime)
    with pytest.raises(DocumentError) as info:
        _import(runtime, doc, username, allow_env=allow_env, **env)
    assert _counts(runtime) == before, "a refused import must write nothing"
    return str(info.value)


# --- load_document ----------------------------------------------------------------------


def test_load_yaml_json_and_unknown_extension(tmp_path: Path) -> None:
    data = yaml.safe_load(DOC_YAML)
    (tmp_path / "a.yaml").write_text(DOC_YAML)
    (tmp_path / "a.json").write_text(json.dumps(data))
    (tmp_path / "a.txt").write_text(json.dumps(data))
    (tmp_path / "b.conf").write_text(DOC_YAML)
    for name in ("a.yaml", "a.json", "a.txt", "b.conf"):
        assert documents.load_document(tmp_path / name) == data


@pytest.mark.parametrize(
    ("name", "text", "expected", "line"),
    [
        ("bad.yaml", "providers:\n  - name: x\n   bad: [", "not valid YAML", 3),
        ("bad.json", '{"providers": [\n  {"name": }]}', "not valid JSON", 2),
        ("dup.yaml", "providers: []\nproviders: []\n", "appears twice", 2),
        ("dup.json", '{"models": [], "models": []}', "appears twice", None),
        ("nan.json", '{"models": NaN}', "NaN", None),
        ("alias.yaml", "a: &x {k: 1}\nproviders: [*x]\n", "aliases", 2),
        ("list.yaml", "- 1\n- 2\n", "top level must be a mapping", None),
        ("empty.yaml", "", "is empty", None),
    ],
)
def test_load_errors(tmp_path: Path, name: str, text: str, expected: str, line: int | None) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(ValidationError) as info:
        documents.load_document(tmp_path / name)
    assert expected in str(info.value)
    if line is not None:
        assert info.value.line == line and f"line {line}" in str(info.value)


_DIGITS = "9" * 5000


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        (
            "big.json",
            '{"models": [{"model_id": "m", "context_window": %s}]}' % _DIGITS,
            "big.json: models[1].context_window is a whole number with more than 4,300 digits",
        ),
        (
            "big.yaml",
            "models:\n  - model_id: m\n    context_window: %s\n" % _DIGITS,
            "big.yaml: models[1].context_window is a whole number with more than 4,300 digits",
        ),
        (
            "hex.yaml",
            "providers:\n  - priority: 0x%s\n" % ("f" * 5000),
            "hex.yaml: providers[1].priority is a whole number with more than 4,300 digits",
        ),
        (
            "key.yaml",
            "models:\n  - ? 0b%s\n    : 1\n" % ("1" * 20000),
            "key.yaml: models[1] has a key that is a whole number with more than 4,300 digits",
        ),
        (
            "cfg.json",
            '{"models": [{"model_config": {"n": [1, %s]}}]}' % _DIGITS,
            "cfg.json: models[1].model_config.n[2] is a whole number with more than 4,300 digits",
        ),
        (
            "over.json",
            '{"models": [{"input_cost_per_million": 1e999}]}',
            "over.json: models[1].input_cost_per_million is a number too large to represent",
        ),
        (
            "over.yaml",
            "models:\n  - input_cost_per_million: 1.0e+999\n",
            "over.yaml: models[1].input_cost_per_million is a number too large to represent",
        ),
        (
            "under.json",
            '{"models": [{"input_cost_per_million": 1e-999}]}',
            "under.json: models[1].input_cost_per_million is a number too small to represent",
        ),
        (
            "under.yaml",
            "models:\n  - input_cost_per_million: 1.0e-999\n",
            "under.yaml: models[1].input_cost_per_million is a number too small to represent",
        ),
        (
            "inf.yaml",
            "models:\n  - output_cost_per_million: -.inf\n",
            "inf.yaml: models[1].output_cost_per_million is not a finite number",
        ),
        (
            "nan.yaml",
            "providers:\n  - priority: .NaN\n",
            "nan.yaml: providers[1].priority is not a finite number",
        ),
        (
            "two.json",
            '{"models": [{"context_window": %s, "input_cost_per_million": 1e999}]}' % _DIGITS,
            "(and 1 more number like it)",
        ),
    ],
)
def test_numbers_a_document_cannot_hold_are_named(
    tmp_path: Path, name: str, text: str, expected: str
) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(ValidationError) as info:
        documents.load_document(tmp_path / name)
    assert expected in str(info.value)


def test_plan_import_names_numbers_it_cannot_use(runtime: Runtime, admin: str) -> None:
    huge = 10**5000  # str(), repr() and json.dumps() of it raise ValueError
    doc = {
        "providers": [{"name": "P", "provider_type": "ollama", "priority": huge}],
        "models": [
            {
                "model_id": "m",
                "provider": "P",
                "context_window": huge,
                "input_cost_per_million": huge,
                "quality_tier": huge,
                "features": ["tools", huge],
                "model_config": {"n": [huge]},
                "output_cost_per_million": float("inf"),
                huge: 1,
            }
        ],
    }
    message = _problems(runtime, doc)
    digits = "is a whole number with more than 4,300 digits (too long to read)"
    for where in (
        "providers[1].priority",
        "models[1].context_window",
        "models[1].input_cost_per_million",
        "models[1].quality_tier",
        "models[1].features[2]",
        "models[1].model_config.n[1]",
    ):
        assert f"{where} {digits}" in message, where
    assert f"models[1] has a key that {digits}" in message
    assert "models[1].output_cost_per_million is not a finite number" in message


def test_numbers_out_of_range_for_the_columns_are_refused(runtime: Runtime, admin: str) -> None:
    doc = {
        "providers": [{"name": "P", "provider_type": "ollama", "priority": 10**30}],
        "models": [
            {
                "model_id": "m",
                "provider": "P",
                "context_window": 10**30,
                "input_cost_per_million": 10**30,
                "output_cost_per_million": "1e999999999999",
                "cache_read_cost_per_million": 1e300,
            }
        ],
    }
    message = _problems(runtime, doc)
    for part in (
        "providers[1] ('P'): The priority must be a whole number from 0 to 1000000",
        "models[1] ('m'): The context window must be between 1 and 100,000,000",
        "models[1] ('m'): The input cost per million is implausibly large",
        "models[1] ('m'): The output cost per million is implausibly large",
        "models[1] ('m'): The cache read cost per million is implausibly large",
    ):
        assert part in message, part


def test_load_size_cap_and_missing_file(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * documents.MAX_DOCUMENT_BYTES)
    with pytest.raises(ValidationError, match="larger than 5 MB"):
        documents.load_document(big)
    with pytest.raises(ValidationError, match="Cannot read"):
        documents.load_document(tmp_path / "nope.yaml")


def test_yaml_error_never_quotes_the_line(tmp_path: Path) -> None:
    path = tmp_path / "leak.yaml"
    path.write_text(f"providers:\n  - api_key: {CANARY_KEY}: oops\n")
    with pytest.raises(ValidationError) as info:
        documents.load_document(path)
    assert CANARY_KEY not in str(info.value)


# --- import ------------------------------------------------------------------------------


def test_import_creates_records(runtime: Runtime, admin: str) -> None:
    result = _import(runtime, yaml.safe_load(DOC_YAML))
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


def test_env_references_are_resolved(runtime: Runtime, admin: str) -> None:
    doc = {
        "providers": [
            {
                "name": "Gateway",
                "provider_type": "openai_compatible",
                "api_key": "${GATEWAY_KEY}",
                "provider_config": {
                    "base_url": "https://gw.example.com/v1",
                    "extra_token": "Bearer ${GW_TOKEN}",
                    "note": "costs $${NOT_A_VAR}",
                },
            }
        ]
    }
    _import(
        runtime,
        doc,
        allow_env=("GATEWAY_KEY", "GW_TOKEN"),
        GATEWAY_KEY=CANARY_KEY,
        GW_TOKEN=CANARY_TOKEN,
    )
    with runtime.sessions() as s:
        pid = s.scalar(select(Provider.id).where(Provider.name == "Gateway"))
        creds = providers.provider_credentials(s, pid)
    assert creds.api_key == CANARY_KEY
    assert creds.config["extra_token"] == f"Bearer {CANARY_TOKEN}"
    assert creds.config["note"] == "costs ${NOT_A_VAR}"


def test_missing_env_var_is_named_and_no_value_is_shown(runtime: Runtime, admin: str) -> None:
    doc = {
        "providers": [
            {"name": "A", "provider_type": "openai", "api_key": "${MISSING_OPENAI_KEY}"},
            {
                "name": "B",
                "provider_type": "litellm",
                "api_key": "${PRESENT_KEY}",
                "provider_config": {
                    "base_url": "https://llm.example.com",
                    "token": "${MISSING_TOKEN}",
                },
            },
            {"name": "C", "provider_type": "openai", "api_key": "sk-${broken"},
        ]
    }
    message = _problems(
        runtime,
        doc,
        allow_env=("MISSING_OPENAI_KEY", "PRESENT_KEY", "MISSING_TOKEN"),
        PRESENT_KEY=CANARY_KEY,
    )
    assert (
        "providers[1] ('A'): api_key: the environment variable MISSING_OPENAI_KEY is not set"
        in message
    )
    assert (
        "providers[2] ('B'): provider_config.token: the environment variable MISSING_TOKEN"
        in message
    )
    assert "providers[3] ('C'): api_key: '${' must start a ${VARIABLE} reference" in message
    assert CANARY_KEY not in message


def test_references_never_reach_modeldesk_settings(runtime: Runtime, admin: str) -> None:
    doc = {
        "providers": [
            {
                "name": "Evil",
                "provider_type": "openai_compatible",
                "api_key": "${MODELDESK_SECRET_KEY}",
                "provider_config": {
                    "base_url": "https://evil.example.com/v1",
                    "extra_token": "${MODELDESK_ADMIN_PASSWORD}",
                },
            },
            {
                "name": "Evil 2",
                "provider_type": "openai",
                "api_key": "${STREAMLIT_SERVER_COOKIE_SECRET}",
            },
        ],
        "models": [
            {
                "model_id": "m",
                "provider": "Evil",
                "model_config": {"api_token": "x-${MODELDESK_SECRET_KEY}"},
            }
        ],
    }
    env = {
        "MODELDESK_SECRET_KEY": CANARY_KEY,
        "MODELDESK_ADMIN_PASSWORD": CANARY_TOKEN,
        "STREAMLIT_SERVER_COOKIE_SECRET": CANARY_TOKEN,
    }
    message = _problems(runtime, doc, **env)
    assert (
        "providers[1] ('Evil'): api_key: ${MODELDESK_SECRET_KEY} is refused: it is a "
        "Modeldesk setting"
    ) in message
    assert (
        "providers[1] ('Evil'): provider_config.extra_token: ${MODELDESK_ADMIN_PASSWORD} "
        "is refused: it is a Modeldesk setting"
    ) in message
    assert (
        "providers[2] ('Evil 2'): api_key: ${STREAMLIT_SERVER_COOKIE_SECRET} is refused" in message
    )
    assert "models[1] ('m'): model_config.api_token: ${MODELDESK_SECRET_KEY} is refused" in message
    assert CANARY_KEY not in message and CANARY_TOKEN not in message
    # whatever the operator allows
    for name in ("MODELDESK_SECRET_KEY", "modeldesk_admin_password", "STREAMLIT_X", "1BAD", ""):
        with runtime.sessions() as s, pytest.raises(ValidationError) as info:
            importer.plan_import(
                s,
                actor=users.require_user(s, admin),
                document=doc,
                settings=_with_env(runtime, **env),
                allow_env=(name,),
            )
        assert name in str(info.value) and CANARY_KEY not in str(info.value)
    assert _counts(runtime)[:2] == (0, 0)


def test_references_are_expanded_only_in_secret_fields(runtime: Runtime, admin: str) -> None:
    doc = {
        "providers": [
            {
                "name": "Gateway",
                "provider_type": "litellm",
                "api_key": "${GW_KEY}",
                "provider_config": {
                    "base_url": "https://${GW_HOST}/v1",
                    "token": "${GW_TOKEN}",
                    "headers": {"X-Api-Key": "${GW_TOKEN}"},
                    "tags": ["a", "${GW_TOKEN}"],
                },
            }
        ],
        "models": [
            {
                "model_id": "m",
                "provider": "Gateway",
                "model_config": {
                    "user": "${GW_HOST}",
                    "max_tokens": 10,
                    "client_secret": {"value": "${GW_TOKEN}"},
                },
            }
        ],
    }
    names = ("GW_KEY", "GW_HOST", "GW_TOKEN")
    env = {"GW_KEY": CANARY_KEY, "GW_HOST": "gw.example.com", "GW_TOKEN": CANARY_TOKEN}
    message = _problems(runtime, doc, allow_env=names, **env)
    why = "is refused: variables are expanded only in secret fields"
    for where, var in (
        ("provider_config.base_url", "GW_HOST"),
        ("provider_config.headers.X-Api-Key", "GW_TOKEN"),
        ("provider_config.tags[2]", "GW_TOKEN"),
        ("models[1] ('m'): model_config.user", "GW_HOST"),
    ):
        assert f"{where}: ${{{var}}} {why}" in message, where
    assert "): api_key:" not in message and "provider_config.token:" not in message
    assert "model_config.client_secret" not in message and message.count("is refused") == 4
    assert CANARY_KEY not in message and CANARY_TOKEN not in message
    # the secret fields alone import, and an export holds none of their values
    doc["providers"][0]["provider_config"] = {
        "base_url": "https://gw.example.com/v1",
        "token": "Bearer ${GW_TOKEN}",
    }
    doc["models"][0]["model_config"] = {"max_tokens": 10, "client_secret": {"value": "${GW_TOKEN}"}}
    assert _import(runtime, doc, allow_env=names, **env).created == {"providers": 1, "models": 1}
    with runtime.sessions() as s:
        pid = s.scalar(select(Provider.id).where(Provider.name == "Gateway"))
        creds = providers.provider_credentials(s, pid)
    assert creds.api_key == CANARY_KEY and creds.config["token"] == f"Bearer {CANARY_TOKEN}"
    text = documents.dump_document(_export(runtime), "json")
    assert CANARY_KEY not in text and CANARY_TOKEN not in text


def test_only_variables_the_operator_allowed(runtime: Runtime, admin: str) -> None:
    env = {
        "OPENAI_API_KEY": CANARY_KEY,
        "ANTHROPIC_API_KEY": CANARY_KEY,
        "TEAM_KEY": CANARY_KEY,
        "HOME_SECRET": CANARY_TOKEN,
    }
    refused = {
        "providers": [
            # another type's key variable, and any other variable, need --allow-env
            {"name": "A", "provider_type": "openai", "api_key": "${ANTHROPIC_API_KEY}"},
            {"name": "B", "provider_type": "openai", "api_key": "${TEAM_KEY}"},
            # the type's own key variable goes by default only to the type's own endpoint
            {
                "name": "C",
                "provider_type": "openai",
                "api_key": "${OPENAI_API_KEY}",
                "provider_config": {"base_url": "https://proxy.example.com/v1"},
            },
            {"name": "D", "provider_type": "openai", "api_key": "${NOT_SET_ANYWHERE}"},
        ],
        "models": [
            {"model_id": "m", "provider": "A", "model_config": {"api_token": "${HOME_SECRET}"}}
        ],
    }
    message = _problems(runtime, refused, **env)
    for label, var in (
        ("providers[1] ('A')", "ANTHROPIC_API_KEY"),
        ("providers[2] ('B')", "TEAM_KEY"),
        ("providers[4] ('D')", "NOT_SET_ANYWHERE"),
    ):
        assert (
            f"{label}: api_key: ${{{var}}} is refused: the variable is not allowed for this "
            f"import (allow it with --allow-env {var})"
        ) in message
    assert (
        "providers[3] ('C'): api_key: ${OPENAI_API_KEY} is refused: the entry sets its own base_url"
    ) in message and "--allow-env OPENAI_API_KEY" in message
    assert (
        "models[1] ('m'): model_config.api_token: ${HOME_SECRET} is refused: the variable "
        "is not allowed"
    ) in message
    assert "is not set" not in message  # a refused name is never looked up
    assert CANARY_KEY not in message and CANARY_TOKEN not in message
    # the catalog's own key variable for the type's own endpoint needs no flag
    result = _import(
        runtime,
        {
            "providers": [
                {"name": "Default", "provider_type": "openai", "api_key": "${OPENAI_API_KEY}"}
            ]
        },
        **env,
    )
    assert result.created["providers"] == 1
    # what the operator names is allowed
    refused["providers"].pop()
    allowed = ("ANTHROPIC_API_KEY", "TEAM_KEY", "OPENAI_API_KEY", "HOME_SECRET")
    assert _import(runtime, refused, allow_env=allowed, **env).created == {
        "providers": 3,
        "models": 1,
    }


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
    message = _problems(runtime, doc)
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
        _import(runtime, doc)
    assert len(info.value.problems) == 30
    assert len(str(info.value).splitlines()) == importer.MAX_REPORTED + 2
    assert "… and 10 more" in str(info.value)


def test_reimport_is_idempotent(runtime: Runtime, admin: str) -> None:
    doc = yaml.safe_load(DOC_YAML)
    _import(runtime, doc)
    before = _counts(runtime)
    result = _import(runtime, doc)
    assert result.created == result.updated == {"providers": 0, "models": 0}
    assert result.unchanged == {"providers": 2, "models": 2}
    assert _counts(runtime) == before


def test_changed_fields_are_updated_and_audited(runtime: Runtime, admin: str) -> None:
    doc = yaml.safe_load(DOC_YAML)
    _import(runtime, doc)
    _, _, events = _counts(runtime)
    doc["providers"][0]["priority"] = 7
    del doc["providers"][0]["api_key"]  # omitted: the stored key stays
    doc["models"][0]["input_cost_per_million"] = "3"
    doc["models"][0]["name"] = "GPT-4o (2024)"
    result = _import(runtime, doc)
    assert result.updated == {"providers": 1, "models": 1}
    assert result.unchanged == {"providers": 1, "models": 1}
    with runtime.sessions() as s:
        prov = s.scalar(select(Provider).where(Provider.name == "OpenAI prod"))
        assert prov.priority == 7
        assert providers.provider_credentials(s, prov.id).api_key.endswith("1234")
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
    message = _problems(runtime, doc, username="bob")
    assert "providers[1] ('Mine'): Only admins can import instance-wide providers." in message
    assert "providers[2] ('Theirs'): Only admins can import records for another user." in message
    assert "providers[3] ('Ghost'): There is no user named 'nobody'." in message
    result = _import(
        runtime, {"providers": [{"name": "Mine", "provider_type": "ollama"}]}, username="bob"
    )
    assert result.created["providers"] == 1


def test_ambiguous_provider_names(runtime: Runtime, admin: str) -> None:
    with runtime.sessions.begin() as s:
        for owner in ("carol", "dave"):
            f.provider(s, f.user(s, owner), name="Shared name")
    message = _problems(runtime, {"models": [{"model_id": "m", "provider": "Shared name"}]})
    assert "ambiguous (owners: carol, dave)" in message
    doc = {
        "models": [
            {"model_id": "m", "provider": {"name": "Shared name", "owner": "dave"}},
            {"model_id": "m", "provider": "Shared name", "owner": "carol"},
        ]
    }
    assert _import(runtime, doc).created["models"] == 2
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


# --- export ------------------------------------------------------------------------------


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
    doc = _export(runtime)
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
    before = _counts(runtime)
    result = _import(runtime, _export(runtime))
    assert result.unchanged == {"providers": 1, "models": 1}
    assert _counts(runtime) == before
    with runtime.sessions() as s:
        prov = s.scalar(select(Provider).where(Provider.name == "Canary"))
        creds = providers.provider_credentials(s, prov.id)
    assert creds.api_key == CANARY_KEY and creds.config["token"] == CANARY_TOKEN


def test_export_warns_about_config_that_needs_reentry(runtime: Runtime, admin: str) -> None:
    _plant_canaries(runtime, admin)
    with runtime.sessions.begin() as s:
        prov = s.scalar(select(Provider).where(Provider.name == "Canary"))
        prov.provider_config_enc = prov.api_key_enc  # a ciphertext from another column
    doc = _export(runtime)
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
    first = _export(runtime)
    assert {"name": "Team OpenAI", "owner": "admin"} in [m["provider"] for m in first["models"]]
    with runtime.sessions.begin() as s:
        actor = users.require_user(s, admin)
        for pid in list(s.scalars(select(Provider.id))):
            providers.delete_provider(s, actor=actor, provider_id=pid, cascade=True)
    assert _counts(runtime)[:2] == (0, 0)
    doc = json.loads(documents.dump_document(first, "json"))
    for entry in doc["providers"]:
        entry["api_key"] = "${ROUND_TRIP_KEY}"
    result = _import(
        runtime, doc, allow_env=("ROUND_TRIP_KEY",), ROUND_TRIP_KEY="sk-roundtrip-00000000"
    )
    assert result.created == {"providers": 3, "models": 4}
    assert _export(runtime) == first


def test_member_exports_only_what_they_manage(runtime: Runtime, admin: str) -> None:
    with runtime.sessions.begin() as s:
        actor, bob = users.require_user(s, admin), users.require_user(s, "bob")
        shared = f.provider(s, actor, name="Instance", instance_wide=True)
        f.provider(s, bob, name="Bob's", provider_type="ollama")
        f.model(s, bob, shared, "bob-model")
    doc = _export(runtime, "bob")
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
    assert _import(runtime, doc, username="bob").unchanged == {"providers": 1, "models": 1}


def test_dump_document_refuses_unknown_format() -> None:
    with pytest.raises(ValidationError, match="choose yaml or json"):
        documents.dump_document({}, "toml")


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


def test_type_change_checks_the_kept_config(runtime: Runtime, admin: str) -> None:
    with runtime.sessions.begin() as s:
        f.provider(s, users.require_user(s, admin), name="Switch", provider_type="ollama")
    message = _problems(
        runtime, {"providers": [{"name": "switch", "provider_type": "google_vertex"}]}
    )
    assert "providers[1] ('switch'): Google Vertex AI needs 'project_id'" in message
