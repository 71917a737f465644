"""Bad input: every rule of the issue gets its message and field, and changes nothing.

The service-level tests call ``providers.create_provider`` / ``update_provider`` in a
transaction that the failure rolls back, then count every table (audit events included) in
a fresh session. The unit tests below pin the JSON parser's line and column reporting and
the name and price rules on their own.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from core import validation
from core.errors import ValidationError
from core.records import provider_checks, providers
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
        creds = providers.provider_credentials(s, p.id)
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
        assert providers.provider_credentials(s, p.id).base_url == "https://acme.openai.azure.com"


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
        creds = providers.provider_credentials(s, pid)
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
        assert providers.provider_credentials(s, pid) == creds


# --- The validators on their own ----------------------------------------------------------


def test_config_json_accepts_an_object_and_blank_text() -> None:
    assert validation.parse_config_json('{"region": "eu-west-1", "n": 1.5}') == {
        "region": "eu-west-1",
        "n": 1.5,
    }
    assert validation.parse_config_json("  ") == {}
    assert validation.parse_config_json(None) == {}


def test_config_json_duplicate_key_deep_in_the_text() -> None:
    text = '{"a": 1,\n "b": 2,\n\n    "a": 3}'
    with pytest.raises(ValidationError) as caught:
        validation.parse_config_json(text, field="model_config")
    assert (caught.value.field, caught.value.line, caught.value.column) == ("model_config", 4, 5)


def test_config_json_huge_number_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="more than 4,300 digits") as caught:
        validation.parse_config_json('{"n": ' + "9" * 5000 + "}")
    assert caught.value.field == "config"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '{"limits": {"stop": [1, ' + "9" * 5000 + "]}}",
            "The model config's value at limits.stop[2] is a whole number with more than "
            "4,300 digits",
        ),
        ('{"temperature": 1e999}', "value at temperature is a number too large to represent"),
        ('{"top_p": -1.5E+400}', "value at top_p is a number too large to represent"),
        (
            '{"top_p": 1e-999}',
            "value at top_p is a number too small to represent (it would read as 0)",
        ),
    ],
)
def test_config_json_numbers_it_cannot_hold_name_the_key(text: str, expected: str) -> None:
    with pytest.raises(ValidationError) as caught:
        validation.parse_config_json(text, field="model config")
    assert expected in str(caught.value) and caught.value.field == "model config"


def test_config_json_ordinary_numbers_still_read() -> None:
    text = '{"a": 0, "b": -0.0, "c": 1e-300, "d": 1.7e308, "e": ' + "9" * 4300 + ', "f": 0e5}'
    assert validation.parse_config_json(text)["e"] == int("9" * 4300)


def test_numbers_beyond_any_column_are_refused_without_conversion_errors() -> None:
    huge = 10**5000  # str(huge) itself raises ValueError
    with pytest.raises(ValidationError, match="between 1 and 100,000,000"):
        validation.check_context_window(huge)
    with pytest.raises(ValidationError, match="between 1 and 100,000,000"):
        validation.check_context_window("9" * 5000)
    with pytest.raises(ValidationError, match="between 1 and 100,000,000"):
        validation.check_context_window(10**30)
    with pytest.raises(ValidationError, match="implausibly large"):
        validation.check_price(huge, field="input_cost_per_million")
    with pytest.raises(ValidationError, match="must be a whole number from 0"):
        validation.check_priority(huge)


def test_config_exactly_at_the_limit_is_accepted() -> None:
    padding = 64 * 1024 - len('{"x": ""}')
    assert len(validation.parse_config_json('{"x": "' + "a" * padding + '"}')["x"]) == padding


def test_names_are_nfc_normalised_and_trimmed() -> None:
    assert validation.clean_name("  Cafe\u0301  ") == "Café"
    assert validation.name_key(" OpenAI ") == validation.name_key("openai")
    assert validation.name_key("Cafe\u0301") == validation.name_key("CAFÉ")
    assert validation.clean_name("n" * 100) == "n" * 100


@pytest.mark.parametrize(
    "value",
    [
        "-0.01",
        -1,
        math.nan,
        math.inf,
        -math.inf,
        "NaN",
        "Infinity",
        "-Infinity",
        Decimal("NaN"),
        "abc",
        True,
    ],
)
def test_bad_prices_are_refused(value: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        validation.check_price(value, field="input_cost_per_million")
    assert caught.value.field == "input_cost_per_million"
    assert "input cost per million" in str(caught.value)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2.5", Decimal("2.5")),
        (0, Decimal(0)),
        (Decimal("0.00000001"), Decimal("0.00000001")),
        (None, None),
        ("", None),
    ],
)
def test_good_prices_are_decimals(value: Any, expected: Decimal | None) -> None:
    assert validation.check_price(value, field="p") == expected


def test_api_key_is_trimmed_but_never_echoed() -> None:
    assert validation.check_api_key("  sk-abc123  ") == "sk-abc123"
    with pytest.raises(ValidationError) as caught:
        validation.check_api_key("sk-SECRET-VALUE\nmore")
    assert "SECRET" not in str(caught.value)
    assert validation.check_api_key("k" * 8192) == "k" * 8192


@pytest.mark.parametrize(
    "url", ["https://llm.example.com/v1/", "http://localhost:11434", "https://10.0.0.5:8443/v1"]
)
def test_good_base_urls(url: str) -> None:
    assert validation.check_base_url(url) == url.rstrip("/")


@pytest.mark.parametrize(
    "url",
    [
        "llm.example.com",
        "https://",
        "https://x.example.com#frag",
        "https://999.1.1.1/",
        "https://x .example.com",
        "https://x.example.com:99999",
    ],
)
def test_bad_base_urls(url: str) -> None:
    with pytest.raises(ValidationError) as caught:
        validation.check_base_url(url)
    assert caught.value.field == "base_url"


def test_problems_collects_checks_and_raises_them_together() -> None:
    found = validation.Problems()
    assert found.check(validation.clean_name, " ok ") == "ok"
    assert found.check(validation.clean_name, "") is None
    assert found.check(validation.check_priority, -1) is None
    with pytest.raises(ValidationError) as caught:
        found.raise_any()
    assert [p.field for p in caught.value.problems] == ["name", "priority"]
    assert str(caught.value).startswith("The name cannot be empty. The priority must be")
    single = ValidationError("One.", field="x")
    assert ValidationError.of([single]) is single and single.problems == (single,)
    validation.Problems().raise_any()  # nothing found: nothing raised


@pytest.mark.parametrize("version", ["2024-10-21", "2024-10-01-preview", " 2025-04-01-preview "])
def test_azure_api_versions_in_the_documented_format_are_accepted(version: str) -> None:
    config = provider_checks.validate_provider_config(
        "azure_openai", {"resource_name": "acme", "api_version": version}
    )
    assert config["api_version"] == version.strip()
