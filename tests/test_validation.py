"""The validators on their own (core.validation): the JSON parser's line and column
reporting, numbers a config cannot hold, names, prices, API keys, base URLs, and Problems.
What the services make of bad provider input is tested in test_provider_input.py.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import pytest

from core import validation
from core.errors import ValidationError
from core.records import provider_checks


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
