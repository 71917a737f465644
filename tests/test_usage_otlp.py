"""OpenTelemetry GenAI spans in OTLP JSON files: attribute aliases, provider mapping,
de-duplication and malformed input (spans written in the exporters' shape; the real SDK,
instrumentation and exporter run in test_usage_otlp_live.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from core import cli
from core.accounts import users
from core.records import providers
from core.store.usage_tables import UsageEvent
from core.usage import formats, otlp
from core.usage.inputs import UsageInput
from tests.conftest import TEST_SECRET

END = 1_780_000_000_123_456_789  # 2026-05-28T20:26:40.123456Z, in nanoseconds
NOW = datetime(2026, 6, 1, tzinfo=UTC)
CANARY = "CANARY-prompt-7f3e do not store me"


def value(v: Any) -> dict[str, Any]:
    """An OTLP AnyValue as the JSON exporters write it (intValue as a string)."""
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": v}
    if isinstance(v, list):
        return {"arrayValue": {"values": [value(x) for x in v]}}
    return {"stringValue": v}


def span(attrs: dict[str, Any], *, span_id: str = "00f067aa0ba902b7", **extra: Any) -> dict:
    return {
        "traceId": "4bf92f3577b34da6a3ce929d0e0e4736",
        "spanId": span_id,
        "name": "chat",
        "kind": 3,
        "startTimeUnixNano": str(END - 10**9),
        "endTimeUnixNano": str(END),
        "attributes": [{"key": k, "value": value(v)} for k, v in attrs.items()],
        **extra,
    }


def line(*spans: dict, resource: dict[str, Any] | None = None) -> str:
    return json.dumps(
        {
            "resourceSpans": [
                {
                    "resource": {
                        "attributes": [
                            {"key": k, "value": value(v)}
                            for k, v in (resource or {"service.name": "svc"}).items()
                        ]
                    },
                    "scopeSpans": [{"scope": {"name": "test", "version": "1"}, "spans": [*spans]}],
                }
            ]
        }
    )


MAP = otlp.ProviderMap(
    [
        ("OpenAI", "openai", "https://api.openai.com/v1"),
        ("Claude", "anthropic", "https://api.anthropic.com"),
        ("Local", "vllm", "http://10.0.0.5:8000/v1"),
        ("Local 2", "vllm", "http://10.0.0.6:8000/v1"),
    ]
)

SPEC = {
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
    "gen_ai.response.id": "chatcmpl-1",
    "gen_ai.usage.input_tokens": 1200,
    "gen_ai.usage.output_tokens": 300,
    "gen_ai.usage.cache_read.input_tokens": 1024,
    "gen_ai.usage.reasoning.output_tokens": 256,
    "gen_ai.input.messages": CANARY,
}


def parse_one(attrs: dict[str, Any], providers: otlp.ProviderMap = MAP) -> UsageInput | str:
    found = otlp.parse(line(span(attrs)), providers)
    assert len(found.items) == 1, found
    return found.items[0][1]


def test_a_spec_span_is_one_report():
    report = parse_one(SPEC)
    assert report == UsageInput(
        timestamp=datetime(2026, 5, 28, 20, 26, 40, 123456, tzinfo=UTC),
        provider="OpenAI",
        model="gpt-4o-mini-2024-07-18",  # the response model: the dated snapshot is priced
        input_tokens=1200,
        output_tokens=300,
        cached_input_tokens=1024,
        reasoning_tokens=256,
        idempotency_key="otlp:openai:chatcmpl-1",
    )
    assert CANARY not in repr(report)


@pytest.mark.parametrize(
    "attrs",
    [
        # Traceloop / OpenLLMetry: gen_ai.system and a non-standard reasoning name
        {
            "gen_ai.system": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.response.id": "r",
            "gen_ai.usage.input_tokens": 1200,
            "gen_ai.usage.output_tokens": 300,
            "gen_ai.usage.cache_read.input_tokens": 1024,
            "gen_ai.usage.reasoning_tokens": 256,
            "gen_ai.usage.total_tokens": 1500,
        },
        # the spec's names before 1.27
        {
            "gen_ai.system": "openai",
            "gen_ai.response.model": "gpt-4o-mini",
            "gen_ai.response.id": "r",
            "gen_ai.usage.prompt_tokens": 1200,
            "gen_ai.usage.completion_tokens": 300,
            "gen_ai.usage.cache_read.input_tokens": 1024,
            "gen_ai.usage.reasoning.output_tokens": 256,
        },
        # OpenInference (Arize): its own convention
        {
            "llm.system": "openai",
            "llm.model_name": "gpt-4o-mini",
            "gen_ai.response.id": "r",
            "llm.token_count.prompt": 1200,
            "llm.token_count.completion": 300,
            "llm.token_count.total": 1500,
            "llm.token_count.prompt_details.cache_read": 1024,
            "llm.token_count.completion_details.reasoning": 256,
        },
    ],
    ids=["traceloop", "old-spec", "openinference"],
)
def test_aliases_that_instrumentations_emit(attrs):
    report = parse_one(attrs)
    assert isinstance(report, UsageInput), report
    assert (report.provider, report.model) == ("OpenAI", "gpt-4o-mini")
    assert (
        report.input_tokens,
        report.output_tokens,
        report.cached_input_tokens,
        report.reasoning_tokens,
    ) == (1200, 300, 1024, 256)


def test_anthropic_counts_include_the_cache_as_the_spec_says():
    # The anthropic SDK's own span: cache writes as cache_write, input = 50 + 2000 + 6000.
    report = parse_one(
        {
            "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": "claude-sonnet-4-5",
            "gen_ai.response.id": "msg_01",
            "gen_ai.usage.input_tokens": 8050,
            "gen_ai.usage.output_tokens": 20,
            "gen_ai.usage.cache_read.input_tokens": 6000,
            "gen_ai.usage.cache_write.input_tokens": 2000,
        }
    )
    assert isinstance(report, UsageInput)
    assert report.provider == "Claude"
    assert (report.input_tokens, report.cached_input_tokens, report.cache_write_tokens) == (
        8050,
        6000,
        2000,
    )


def test_one_response_reported_by_two_instrumentations_has_one_key():
    # The anthropic SDK's own span and Traceloop's, for the same call (survey §2.2).
    common = {
        "gen_ai.request.model": "claude-sonnet-4-5",
        "gen_ai.response.id": "msg_01",
        "gen_ai.usage.input_tokens": 8050,
        "gen_ai.usage.output_tokens": 20,
    }
    native = parse_one({**common, "gen_ai.provider.name": "anthropic"})
    traceloop = parse_one({**common, "gen_ai.system": "Anthropic"})
    assert isinstance(native, UsageInput) and isinstance(traceloop, UsageInput)
    assert native.key == traceloop.key == "otlp:anthropic:msg_01"


def test_spans_without_tokens_are_skipped_and_counted():
    http = span({"http.request.method": "POST", "url.full": "https://api.openai.com/v1/x"})
    found = otlp.parse(line(http, span(SPEC, span_id="1" * 16), http), MAP)
    assert found.skipped == 2
    assert [type(item) for _, item in found.items] == [UsageInput]


@pytest.mark.parametrize(
    ("extra", "explicit", "provider"),
    [
        ({"server.address": "10.0.0.6", "server.port": 8000}, None, "Local 2"),
        ({"url.full": "http://10.0.0.5:8000/v1/chat/completions"}, None, "Local"),
        ({"server.address": "api.openai.com"}, None, "OpenAI"),
        ({}, {None: "Local"}, "Local"),  # --provider Local: every span
        ({}, {"OpenAI": "Local 2"}, "Local 2"),  # --provider openai=Local 2
        ({"server.address": "10.0.0.5"}, {"openai": "OpenAI"}, "OpenAI"),  # explicit wins
    ],
)
def test_provider_by_mapping_then_address_then_type(extra, explicit, provider):
    providers = otlp.ProviderMap(MAP.records, explicit)
    report = parse_one({**SPEC, "gen_ai.provider.name": "openai", **extra}, providers)
    assert isinstance(report, UsageInput), report
    assert report.provider == provider


@pytest.mark.parametrize(
    ("attrs", "reason"),
    [
        (
            {"gen_ai.provider.name": "vllm"},
            "2 provider records of type 'vllm'; map it with --provider",
        ),
        (
            {"gen_ai.provider.name": "cohere"},
            "no provider record of type 'cohere'; map it with --provider",
        ),
        (
            {"gen_ai.provider.name": "openai", "server.address": "10.9.9.9"},
            None,
        ),
        (
            {"gen_ai.provider.name": ""},
            "the span names no provider (gen_ai.provider.name); use --provider",
        ),
    ],
)
def test_an_unknown_provider_is_a_bad_span(attrs, reason):
    report = parse_one({**SPEC, **attrs})
    if reason is None:  # an unknown address falls back to the type: the one OpenAI record
        assert isinstance(report, UsageInput) and report.provider == "OpenAI"
    else:
        assert report == f"span 1: {reason}"


def test_malformed_otlp_lines_are_reported_with_their_number():
    bad_count = dict(SPEC, **{"gen_ai.usage.input_tokens": "lots " + CANARY})
    no_model = {k: v for k, v in SPEC.items() if "model" not in k}
    lines = [
        line(span(SPEC)),
        "{not json",
        json.dumps({"resourceLogs": []}),
        json.dumps({"resourceSpans": "nope"}),
        "",
        line(span(bad_count)),
        line(span(no_model)),
        line(span(SPEC, endTimeUnixNano="yesterday", startTimeUnixNano=None)),
        json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [7]}]}]}),
        json.dumps({"resourceSpans": 5}),  # was a TypeError: no line to report
        json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [{"attributes": {}}]}]}]}),
    ]
    found = otlp.parse("\n".join(lines), MAP)
    reasons = {n: item for n, item in found.items if isinstance(item, str)}
    assert reasons == {
        2: "not JSON (Expecting property name enclosed in double quotes)",
        3: "not an OTLP trace export (no resourceSpans)",
        4: "not an OTLP trace export (resourceSpans is not a list)",
        6: "span 1: gen_ai.usage.input_tokens is not a whole number",
        7: "span 1: the span names no model (gen_ai.response.model / gen_ai.request.model)",
        8: "span 1: endTimeUnixNano is missing or not a whole number",
        9: "not an OTLP trace export (spans holds a non-object)",
        10: "not an OTLP trace export (resourceSpans is not a list)",
        11: "not an OTLP trace export (attributes is not a list)",
    }
    assert CANARY not in repr(found)


def test_detect():
    assert otlp.detect("\n" + line(span(SPEC)))
    assert not otlp.detect('{"timestamp": "2026-05-01T10:00:00Z"}')
    assert not otlp.detect("timestamp,provider\n")


# --- Importing, on both databases ---------------------------------------------------------------


@pytest.fixture
def seeded(runtime):
    with runtime.sessions.begin() as s:
        admin = users.create_user(s, username="alice", password="correct-horse-42", role="admin")
        s.flush()
        providers.create_provider(
            s, actor=admin, name="OpenAI", provider_type="openai", api_key="sk-test-000000000000"
        )
        providers.create_provider(
            s,
            actor=admin,
            name="Local",
            provider_type="vllm",
            provider_config={"base_url": "http://10.0.0.5:8000/v1"},
        )
    return runtime


def test_import_dedups_on_the_response_id_and_reimports_nothing(seeded, caplog):
    twice = dict(SPEC, **{"gen_ai.input.messages": CANARY})  # a second instrumentation's span
    local = {
        **SPEC,
        "gen_ai.provider.name": "openai",
        "server.address": "10.0.0.5",
        "server.port": 8000,
        "gen_ai.response.id": "local-1",
        "gen_ai.response.model": "llama-3-8b",
    }
    no_id = {k: v for k, v in SPEC.items() if k != "gen_ai.response.id"}
    text = "\n".join(
        [
            line(span(SPEC), span({"http.request.method": "POST"})),
            line(span(twice, span_id="2" * 16), span(local, span_id="3" * 16)),
            line(span(no_id, span_id="4" * 16)),
        ]
    )
    with seeded.sessions.begin() as s:
        report = formats.import_text(s, text, now=NOW)
    assert report.bad == []
    assert (report.stored, report.skipped, report.unit) == (3, 1, "span")
    assert report.summary().startswith("4 span(s): 3 stored, 1 already recorded")
    with seeded.sessions() as s:
        events = {e.idempotency_key: e for e in s.scalars(select(UsageEvent))}
    assert sorted(events) == [
        "otlp:openai:chatcmpl-1",
        "otlp:openai:local-1",
        "otlp:span:4bf92f3577b34da6a3ce929d0e0e4736:4444444444444444",
    ]
    assert events["otlp:openai:local-1"].provider_name == "Local"
    assert sum(e.input_tokens for e in events.values()) == 3600
    assert sum(e.cached_input_tokens for e in events.values()) == 3072
    with seeded.sessions.begin() as s:
        again = formats.import_text(s, text, now=NOW, format="otlp")
    assert (again.stored, again.result.duplicates) == (0, 4)
    assert CANARY not in caplog.text


def test_cli_reports_bad_spans_and_maps_providers(seeded, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MODELDESK_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("MODELDESK_ENV", "test")
    monkeypatch.setenv("MODELDESK_DATA_DIR", str(tmp_path / "cli-data"))
    monkeypatch.setenv("MODELDESK_DISABLE_SYSTEM_PROVIDERS", "all")
    url = seeded.settings.database_url
    path = tmp_path / "spans.jsonl"
    cohere = {**SPEC, "gen_ai.provider.name": "cohere", "gen_ai.response.id": "co-1"}
    path.write_text(line(span(SPEC)) + "\n" + line(span(cohere)) + "\n")
    assert cli.main(["--database-url", url, "usage", "import", str(path)]) == 1
    out, err = capsys.readouterr()
    assert "line 2: span 1: no provider record of type 'cohere'; map it with --provider" in err
    assert "2 span(s): 1 stored" in out
    mapped = ["--format", "otlp", "--provider", "cohere=Local"]
    assert cli.main(["--database-url", url, "usage", "import", str(path), *mapped]) == 0
    out, _ = capsys.readouterr()
    assert "1 stored, 1 already recorded" in out
    assert CANARY not in out + err
