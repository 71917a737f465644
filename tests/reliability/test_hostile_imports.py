"""Hostile imports: JSON nested 100,000 deep, YAML alias bombs and 50 MB files through every
import (``modeldesk import``, ``modeldesk usage import`` in each format, ``modeldesk quality
import``, the Costs page's parser, config JSON) and ``POST /v1/traces``: refused quickly with
a message (or a bad line), never a RecursionError or a traceback, nothing written. The
inventory of routes is in test_hostile_input.py (C3-C7 there are the tests here).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from core.errors import ValidationError
from core.startup import Runtime
from core.store.usage_tables import UsageEvent
from core.usage import formats
from tests.support import hostile
from tests.support.factories import table_counts
from tests.test_usage_otlp_route import client, seeded, token  # noqa: F401 - fixtures

# --- Deeply nested JSON, YAML bombs, oversized files --------------------------------------

QUICK = 5.0  # seconds: a refusal never parses its way through the whole bomb


@pytest.fixture
def run_cli(world: Runtime, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """`modeldesk ARGS` against the world's database: (exit code, stdout, stderr)."""
    from core import cli
    from tests.conftest import TEST_SECRET

    monkeypatch.setenv("MODELDESK_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("MODELDESK_ENV", "test")
    monkeypatch.setenv("MODELDESK_DISABLE_SYSTEM_PROVIDERS", "all")
    monkeypatch.setenv("MODELDESK_DATA_DIR", str(world.settings.data_dir))
    url = world.settings.resolved_database_url

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        started = time.monotonic()
        code = cli.main(["--database-url", url, *args])
        assert time.monotonic() - started < QUICK * 3, args
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err
        return code, out, err

    return run


def _write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


DOCUMENTS = {
    "deep.json": hostile.deep_json(),
    "deep-object.json": hostile.deep_object(),
    "deep.yaml": hostile.deep_json(),
    "deep.txt": hostile.deep_object(),  # no suffix says which: JSON, then YAML
    "bomb.yaml": hostile.YAML_BOMB,
    "bomb.txt": hostile.YAML_BOMB,
    "merge.yaml": hostile.YAML_MERGE_BOMB,
}


@pytest.mark.parametrize("name", list(DOCUMENTS))
def test_documents_nested_or_aliased_are_refused_by_modeldesk_import(
    world: Runtime, run_cli: Any, tmp_path: Path, name: str
) -> None:
    before = table_counts(world)
    code, out, err = run_cli("import", _write(tmp_path / name, DOCUMENTS[name]))
    assert code != 0 and not out
    assert "nested too deeply" in err or "aliases" in err, err
    assert table_counts(world) == before


USAGE_FORMATS = ("auto", "modeldesk", "otlp", "litellm")


@pytest.mark.parametrize("fmt", USAGE_FORMATS)
@pytest.mark.parametrize("bomb", ["array", "object"])
def test_usage_import_nested_lines_are_bad_lines(world: Runtime, fmt: str, bomb: str) -> None:
    """Each deep line is reported bad (with its number), the good line is stored."""
    import json

    deep = hostile.deep_json() if bomb == "array" else hostile.deep_object()
    good = json.dumps(
        {
            "timestamp": "2026-01-01T00:00:00Z",
            "provider": "OpenAI",
            "model": "gpt-4o",
            "input_tokens": 1,
            "output_tokens": 1,
        }
    )
    text = f"{good}\n{deep}\n" if fmt in ("auto", "modeldesk") else f"{deep}\n"
    started = time.monotonic()
    with world.sessions.begin() as s:
        report = formats.import_text(s, text, format=fmt)
    assert time.monotonic() - started < QUICK
    bad = [str(b) for b in report.bad]
    assert any("nested too deeply" in b for b in bad), bad
    with world.sessions() as s:
        assert len(s.scalars(select(UsageEvent)).all()) == (
            1 if fmt != "otlp" and fmt != "litellm" else 0
        )


@pytest.mark.parametrize("fmt", USAGE_FORMATS)
def test_usage_import_command_reports_nested_lines(
    world: Runtime, run_cli: Any, tmp_path: Path, fmt: str
) -> None:
    before = table_counts(world)
    path = _write(tmp_path / "deep.jsonl", hostile.deep_json() + "\n")
    code, out, err = run_cli("usage", "import", "--format", fmt, "--all-or-nothing", path)
    assert code == 1 and "nested too deeply" in err, err
    # the ledger's day zone is noted on the first import, stored or not: no usage row
    assert {**table_counts(world), "usage_meta": 0} == {**before, "usage_meta": 0}


def test_config_json_nested_within_the_size_cap_is_refused() -> None:
    from core import validation

    text = '{"a":' + hostile.deep_json(30_000) + "}"  # under 64 KB
    assert len(text) < validation.CONFIG_MAX_BYTES
    with pytest.raises(ValidationError, match="nested too deeply"):
        validation.parse_config_json(text, field="provider config")


def test_provider_form_extra_json_nested_is_refused(world: Runtime) -> None:
    """The Providers form's extra-JSON box: the split of secret keys does not crash on it,
    and the save refuses it."""
    from core.records import provider_forms

    text = '{"a":' + hostile.deep_json(30_000) + "}"
    split = provider_forms.split_extra_secrets(text, "openai")
    assert split.shown is None  # cannot be read: the save reports why


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_quality_import_nested_file_is_refused(run_cli: Any, tmp_path: Path, suffix: str) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    path = _write(tmp_path / f"arena{suffix}", hostile.deep_object() + "\n")
    code, out, err = run_cli(
        "quality", "import", path, "--date", "2026-01-01", "--output-dir", str(out_dir)
    )
    assert code != 0 and "not valid JSON" in err, err
    assert not list(out_dir.iterdir())


FIFTY_MB = 50 * 1024 * 1024


def _fifty_mb(path: Path, line: str) -> str:
    """A 50 MB file of one good line repeated (so only the size refuses it)."""
    with path.open("w", encoding="utf-8") as out:
        chunk = (line + "\n") * (1024 * 1024 // (len(line) + 1))
        while out.tell() < FIFTY_MB:
            out.write(chunk)
    return str(path)


def test_50_mb_usage_import_is_refused_by_the_size_cap(
    world: Runtime, run_cli: Any, tmp_path: Path
) -> None:
    before = table_counts(world)
    line = "2026-01-01T00:00:00Z,OpenAI,gpt-4o,1,1"
    path = tmp_path / "usage.csv"
    path.write_text("timestamp,provider,model,input_tokens,output_tokens\n")
    with path.open("a") as out:
        out.write(Path(_fifty_mb(tmp_path / "body.csv", line)).read_text())
    code, out, err = run_cli("usage", "import", str(path))
    assert code != 0 and not out
    assert "larger than 32 MiB" in err and "MODELDESK_IMPORT_MAX_BYTES" in err, err
    assert table_counts(world) == before


def test_the_usage_import_cap_is_a_setting(tmp_path: Path) -> None:
    from core.config import load_settings
    from core.errors import ConfigurationError

    assert load_settings({}, secrets_file=None).import_max_bytes == formats.IMPORT_MAX_BYTES
    settings = load_settings({"MODELDESK_IMPORT_MAX_BYTES": "2048"}, secrets_file=None)
    assert settings.import_max_bytes == 2048
    path = tmp_path / "usage.jsonl"
    path.write_text("x" * 2049)
    with pytest.raises(ValidationError, match="larger than 2 KiB"):
        formats.read_file(path, max_bytes=settings.import_max_bytes)
    for bad in ("0", "1023", "lots", str(2**31)):
        with pytest.raises(ConfigurationError, match="MODELDESK_IMPORT_MAX_BYTES"):
            load_settings({"MODELDESK_IMPORT_MAX_BYTES": bad}, secrets_file=None)


def test_50_mb_records_import_is_refused(world: Runtime, run_cli: Any, tmp_path: Path) -> None:
    before = table_counts(world)
    path = _fifty_mb(tmp_path / "records.yaml", "# padding " + "x" * 100)
    code, out, err = run_cli("import", path)
    assert code != 0 and "larger than 5 MB" in err, err
    assert table_counts(world) == before


def test_50_mb_quality_import_is_refused(run_cli: Any, tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    path = _fifty_mb(tmp_path / "arena.jsonl", '{"model_name": "' + "x" * 200 + '"}')
    code, out, err = run_cli(
        "quality", "import", path, "--date", "2026-01-01", "--output-dir", str(out_dir)
    )
    assert code != 0 and err, err
    assert not list(out_dir.iterdir())


# --- POST /v1/traces (more in tests/test_usage_otlp_route.py) -----------------------------


@pytest.fixture
def otlp(runtime: Runtime, request: pytest.FixtureRequest) -> tuple[Runtime, Any, str]:
    """tests/test_usage_otlp_route.py's database, route client (64 KB cap) and token."""
    return tuple(request.getfixturevalue(n) for n in ("seeded", "client", "token"))  # type: ignore[return-value]


@pytest.mark.parametrize("bomb", ["array", "object", "attribute"])
def test_otlp_route_nested_body_is_400(otlp: tuple[Runtime, Any, str], bomb: str) -> None:
    from tests.test_usage_otlp_route import post

    rt, route, bearer = otlp

    # under the client's 64 KB cap, thousands of levels past the parser's depth
    deep = hostile.deep_json(30_000) if bomb == "array" else hostile.deep_object(10_000)
    if bomb == "attribute":  # a well-formed export whose one attribute value is the bomb
        deep = (
            '{"resourceSpans": [{"scopeSpans": [{"spans": [{"attributes": '
            '[{"key": "gen_ai.request.model", "value": ' + hostile.deep_object(9_000) + "}]}]}]}]}"
        )
    before = table_counts(rt)
    started = time.monotonic()
    response = post(route, bearer, deep)
    assert time.monotonic() - started < QUICK
    assert response.status_code == 400, response.text[:200]
    assert "Traceback" not in response.text and len(response.text) < 500
    assert {**table_counts(rt), "ingest_tokens": 0} == {**before, "ingest_tokens": 0}


def test_otlp_route_50_mb_body_is_413_at_the_default_cap(otlp: tuple[Runtime, Any, str]) -> None:
    from types import SimpleNamespace

    from starlette.testclient import TestClient

    from core.usage import otlp_route
    from tests.test_usage_otlp_route import post

    rt, _, bearer = otlp
    assert rt.settings.ingest_max_bytes < FIFTY_MB  # the default cap, not the client's
    backend = SimpleNamespace(settings=rt.settings, sessions=rt.sessions)
    body = b'{"resourceSpans": [' + b" " * FIFTY_MB + b"]}"
    before = table_counts(rt)
    with TestClient(otlp_route.app(lambda: backend)) as test_client:
        response = post(test_client, bearer, body)
    assert response.status_code == 413 and "bytes" in response.text
    assert table_counts(rt) == before
