"""${VAR} references in import documents (core.records.import_references): expanded only
in secret fields, only for allowed names, never Modeldesk's own settings; on SQLite and
PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core import documents
from core.accounts import users
from core.errors import ValidationError
from core.records import importer
from core.records.credentials import provider_credentials
from core.startup import Runtime
from core.store.tables import Provider
from tests.support.import_docs import (
    CANARY_KEY,
    CANARY_TOKEN,
    counts,
    export_as,
    refusal,
    run_import,
    with_env,
)


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
    run_import(
        runtime,
        doc,
        allow_env=("GATEWAY_KEY", "GW_TOKEN"),
        GATEWAY_KEY=CANARY_KEY,
        GW_TOKEN=CANARY_TOKEN,
    )
    with runtime.sessions() as s:
        pid = s.scalar(select(Provider.id).where(Provider.name == "Gateway"))
        creds = provider_credentials(s, pid)
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
    message = refusal(
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
    message = refusal(runtime, doc, **env)
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
                settings=with_env(runtime, **env),
                allow_env=(name,),
            )
        assert name in str(info.value) and CANARY_KEY not in str(info.value)
    assert counts(runtime)[:2] == (0, 0)


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
    message = refusal(runtime, doc, allow_env=names, **env)
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
    assert run_import(runtime, doc, allow_env=names, **env).created == {"providers": 1, "models": 1}
    with runtime.sessions() as s:
        pid = s.scalar(select(Provider.id).where(Provider.name == "Gateway"))
        creds = provider_credentials(s, pid)
    assert creds.api_key == CANARY_KEY and creds.config["token"] == f"Bearer {CANARY_TOKEN}"
    text = documents.dump_document(export_as(runtime), "json")
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
    message = refusal(runtime, refused, **env)
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
    result = run_import(
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
    assert run_import(runtime, refused, allow_env=allowed, **env).created == {
        "providers": 3,
        "models": 1,
    }
