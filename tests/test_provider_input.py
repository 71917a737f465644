"""Bad provider input: every rule of the issue gets its message and field, and changes
nothing.

The tests call ``providers.create_provider`` / ``update_provider`` in a transaction that
the failure rolls back, then count every table (audit events included) in a fresh session.
The validators on their own are tested in test_validation.py.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from sqlalchemy import select

from core.errors import ValidationError
from core.records import providers
from core.records.credentials import provider_credentials
from core.startup import Runtime
from core.store.tables import Provider, User
from tests.support import factories as f
from tests.support.factories import table_counts

BIG = "a" * (64 * 1024)
DUPLICATE_KEY_JSON = (
    '{\n  "base_url": "https://a.example.com",\n  "base_url": "https://b.example.com"\n}'
)


@pytest.fixture
def admin_id(runtime: Runtime) -> Any:
    with runtime.sessions.begin() as s:
        admin = f.user(s, "boss", "admin")
        f.provider(s, admin, "Existing")
        return admin.id


# (keyword arguments to create_provider, expected field, message fragment, line, column)
BAD_PROVIDER_INPUTS = {
    "unknown-type": (
        dict(provider_type="not_a_type"),
        "provider_type",
        "Unknown provider type 'not_a_type'. Valid types:",
        None,
        None,
    ),
    "azure-without-resource": (  # the deployment is optional: each model names its own
        dict(provider_type="azure_openai", provider_config={"deployment_id": "gpt4o"}),
        "provider_config.resource_name",
        "needs 'resource_name' (or base_url)",
        None,
        None,
    ),
    "azure-api-version-not-a-version": (
        dict(
            provider_type="azure_openai",
            provider_config={"resource_name": "acme", "api_version": "latest; drop"},
        ),
        "provider_config.api_version",
        "API version must be a date like 2024-10-21 or 2024-10-01-preview",
        None,
        None,
    ),
    "azure-api-version-half-a-date": (
        dict(
            provider_type="azure_openai",
            provider_config={"resource_name": "acme", "api_version": "2024-10"},
        ),
        "provider_config.api_version",
        "API version must be",
        None,
        None,
    ),
    "vertex-without-project": (
        dict(
            provider_type="google_vertex",
            api_key=None,
            provider_config={"location": "europe-west4", "service_account_json": "{}"},
        ),
        "provider_config.project_id",
        "needs 'project_id'",
        None,
        None,
    ),
    "openai-compatible-without-base-url": (
        dict(provider_type="openai_compatible", provider_config={}),
        "provider_config.base_url",
        "needs 'base_url'",
        None,
        None,
    ),
    "base-url-not-http": (
        dict(provider_config={"base_url": "ftp://files.example.com"}),
        "provider_config.base_url",
        "http:// or https://",
        None,
        None,
    ),
    "base-url-javascript": (
        dict(provider_config={"base_url": "javascript:alert(1)"}),
        "provider_config.base_url",
        "http:// or https://",
        None,
        None,
    ),
    "base-url-with-credentials": (
        dict(provider_config={"base_url": "https://bob:hunter2@llm.example.com/v1"}),
        "provider_config.base_url",
        "user name or password",
        None,
        None,
    ),
    "base-url-with-user-only": (
        dict(provider_config={"base_url": "https://bob@llm.example.com/v1"}),
        "provider_config.base_url",
        "user name or password",
        None,
        None,
    ),
    "config-duplicate-key": (
        dict(provider_config=DUPLICATE_KEY_JSON),
        "provider_config",
        'key "base_url" twice (second at line 3, column 3)',
        3,
        3,
    ),
    "config-nan": (
        dict(provider_config='{\n  "temperature": NaN\n}'),
        "provider_config",
        "uses NaN, which JSON does not allow, at line 2",
        2,
        18,
    ),
    "config-infinity": (
        dict(provider_config='{"temperature": Infinity}'),
        "provider_config",
        "uses Infinity",
        1,
        17,
    ),
    "config-minus-infinity": (
        dict(provider_config='{"temperature": -Infinity}'),
        "provider_config",
        "uses -Infinity",
        1,
        17,
    ),
    "config-nan-as-data": (
        dict(provider_config={"temperature": math.nan}),
        "provider_config",
        "NaN, Infinity",
        None,
        None,
    ),
    "config-not-an-object": (
        dict(provider_config="[1, 2, 3]"),
        "provider_config",
        "must be a JSON object ({...}), not list",
        None,
        None,
    ),
    "config-a-string": (
        dict(provider_config='"https://x.example.com"'),
        "provider_config",
        "not str",
        None,
        None,
    ),
    "config-syntax-error": (
        dict(provider_config='{"base_url": "https://x.example.com",}'),
        "provider_config",
        "not valid JSON",
        1,
        38,
    ),
    "config-over-64kb": (
        dict(provider_config=json.dumps({"notes": BIG})),
        "provider_config",
        "larger than 64 KB",
        None,
        None,
    ),
    "config-over-64kb-as-data": (
        dict(provider_config={"notes": BIG}),
        "provider_config",
        "larger than 64 KB",
        None,
        None,
    ),
    "name-empty": (dict(name="   "), "name", "cannot be empty", None, None),
    "name-control-char": (dict(name="Bell\x07Provider"), "name", "U+0007", None, None),
    "name-newline": (dict(name="Two\nLines"), "name", "U+000A", None, None),
    "name-bidi-override": (dict(name="invoice\u202efdp.exe"), "name", "U+202E", None, None),
    "name-bidi-isolate": (dict(name="abc\u2066def"), "name", "text-direction", None, None),
    "name-101-chars": (
        dict(name="n" * 101),
        "name",
        "101 characters long; at most 100",
        None,
        None,
    ),
    "name-not-text": (dict(name=42), "name", "must be text", None, None),
    "api-key-over-8kb": (
        dict(api_key="k" * (8 * 1024 + 1)),
        "api_key",
        "longer than 8 KB",
        None,
        None,
    ),
    "api-key-line-break": (
        dict(api_key="sk-first-line\nsecond-line"),
        "api_key",
        "single line",
        None,
        None,
    ),
    "api-key-carriage-return": (
        dict(api_key="sk-first\rsecond"),
        "api_key",
        "single line",
        None,
        None,
    ),
    "api-key-missing": (dict(api_key=None), "api_key", "OpenAI needs an API key", None, None),
    "status-unknown": (
        dict(status="paused"),
        "status",
        "must be one of: active, inactive",
        None,
        None,
    ),
    "priority-negative": (dict(priority=-1), "priority", "whole number from 0 to", None, None),
}


@pytest.mark.parametrize("case", list(BAD_PROVIDER_INPUTS), ids=list(BAD_PROVIDER_INPUTS))
def test_bad_provider_input_is_refused_and_changes_nothing(
    runtime: Runtime, admin_id: Any, case: str
) -> None:
    kwargs, field, fragment, line, column = BAD_PROVIDER_INPUTS[case]
    arguments = {
        "name": "New provider",
        "provider_type": "openai",
        "api_key": "sk-valid-key-0000",
        **kwargs,
    }
    before = table_counts(runtime)

    with pytest.raises(ValidationError) as caught:
        with runtime.sessions.begin() as s:
            providers.create_provider(s, actor=s.get(User, admin_id), **arguments)

    assert fragment in str(caught.value)
    assert caught.value.field == field
    if line is not None:
        assert (caught.value.line, caught.value.column) == (line, column)
    assert table_counts(runtime) == before


def test_unknown_type_message_lists_the_valid_types(runtime: Runtime, admin_id: Any) -> None:
    with runtime.sessions.begin() as s, pytest.raises(ValidationError) as caught:
        providers.create_provider(
            s,
            actor=s.get(User, admin_id),
            name="X",
            provider_type="OpenAI ",
            api_key="sk-valid-key-0000",
        )
    message = str(caught.value)
    for valid in ("openai", "anthropic", "amazon_bedrock", "azure_openai", "ollama"):
        assert valid in message


def test_required_config_with_a_default_is_filled_not_refused(
    runtime: Runtime, admin_id: Any
) -> None:
    with runtime.sessions.begin() as s:
        p = providers.create_provider(
            s,
            actor=s.get(User, admin_id),
            name="Bedrock",
            provider_type="amazon_bedrock",
            api_key="bedrock-token-1",
        )
        creds = provider_credentials(s, p.id)
    assert creds.base_url == "https://bedrock-runtime.us-east-1.amazonaws.com"


def test_azure_resource_name_may_be_replaced_by_base_url(runtime: Runtime, admin_id: Any) -> None:
    with runtime.sessions.begin() as s:
        p = providers.create_provider(
            s,
            actor=s.get(User, admin_id),
            name="Azure",
            provider_type="azure_openai",
            api_key="azure-key-000000",
            provider_config={
                "base_url": "https://acme.openai.azure.com/",
                "deployment_id": "gpt4o",
            },
        )
        assert provider_credentials(s, p.id).base_url == "https://acme.openai.azure.com"


# --- The same rules on update: validated before anything is applied -----------------------

BAD_UPDATES = {
    "name-bidi": (dict(name="x\u202ey"), "name"),
    "name-too-long": (dict(name="n" * 101), "name"),
    "base-url-credentials": (
        dict(provider_config={"base_url": "https://u:p@h.example.com"}),
        "provider_config.base_url",
    ),
    "config-duplicate-key": (dict(provider_config=DUPLICATE_KEY_JSON), "provider_config"),
    "api-key-line-break": (dict(api_key="sk-a\nb"), "api_key"),
    "unknown-type": (dict(provider_type="nope"), "provider_type"),
    "status": (dict(status="on", name="Renamed too"), "status"),
}


@pytest.mark.parametrize("case", list(BAD_UPDATES), ids=list(BAD_UPDATES))
def test_bad_update_leaves_the_record_untouched(runtime: Runtime, admin_id: Any, case: str) -> None:
    changes, field = BAD_UPDATES[case]
    with runtime.sessions() as s:
        stored = s.scalar(select(Provider).where(Provider.name == "Existing"))
        pid, version = stored.id, stored.version
        creds = provider_credentials(s, pid)
    before = table_counts(runtime)

    with pytest.raises(ValidationError) as caught:
        with runtime.sessions.begin() as s:
            providers.update_provider(
                s, actor=s.get(User, admin_id), provider_id=pid, expected_version=version, **changes
            )

    assert caught.value.field == field
    assert table_counts(runtime) == before
    with runtime.sessions() as s:
        stored = s.get(Provider, pid)
        assert (stored.name, stored.version, stored.status) == ("Existing", version, "active")
        assert provider_credentials(s, pid) == creds
