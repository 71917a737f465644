"""Import documents as files (core.documents): YAML and JSON read strictly, numbers a
document cannot hold named, sizes capped, errors that never quote a secret."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from core import documents
from core.errors import ValidationError
from core.startup import Runtime
from tests.support.import_docs import (
    CANARY_KEY,
    DOC_YAML,
    refusal,
)


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
    message = refusal(runtime, doc)
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
    message = refusal(runtime, doc)
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


def test_dump_document_refuses_unknown_format() -> None:
    with pytest.raises(ValidationError, match="choose yaml or json"):
        documents.dump_document({}, "toml")
