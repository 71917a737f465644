"""OTLP spans from the real code: the openai SDK calls a fake OpenAI-compatible server on
loopback, opentelemetry-instrumentation-openai-v2 makes the spans (prompt capture on) and
the OTLP JSON file exporter writes them; Modeldesk imports the file, on both databases.
Only the provider's response body is canned."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import MetaData, select, text

from core.accounts import users
from core.records import providers
from core.store.usage_tables import UsageEvent
from core.usage import formats
from tests.fakes.server import FakeProvider

openai = pytest.importorskip("openai")
pytest.importorskip("opentelemetry.sdk.trace")
pytest.importorskip("opentelemetry.instrumentation.openai_v2")
pytest.importorskip("opentelemetry.exporter.otlp.json.file")

CANARY = "CANARY-otlp-5d21 the secret plan"
USAGE = {  # what the fake returns for every call
    "prompt_tokens": 1200,
    "completion_tokens": 300,
    "total_tokens": 1500,
    "prompt_tokens_details": {"cached_tokens": 1024},
    "completion_tokens_details": {"reasoning_tokens": 256},
}
CALLS = 3


@pytest.fixture(scope="module")
def span_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The exporter's file after CALLS chat completions (once per module: the instrumentor
    patches the openai module globally)."""
    from opentelemetry.exporter.otlp.json.file import FileSpanExporter
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    path = tmp_path_factory.mktemp("otlp") / "spans.jsonl"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "gen_ai_latest_experimental")
        env.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "SPAN_AND_EVENT")
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(FileSpanExporter(path)))
        instrumentor = OpenAIInstrumentor()
        instrumentor.instrument(tracer_provider=tracer_provider)
        try:
            with FakeProvider("openai", usage=USAGE) as fake:
                client = openai.OpenAI(base_url=fake.base_url, api_key=fake.key)
                for _ in range(CALLS):
                    client.chat.completions.create(
                        model="gpt-4o-mini", messages=[{"role": "user", "content": CANARY}]
                    )
                client.close()
        finally:
            instrumentor.uninstrument()
            tracer_provider.shutdown()
    yield path


def test_the_span_file_is_what_the_instrumentation_really_writes(span_file):
    text = span_file.read_text()
    assert CANARY in text  # prompt capture is on: the import must drop it
    lines = [json.loads(raw) for raw in text.splitlines() if raw.strip()]
    spans = [
        s
        for doc in lines
        for rs in doc["resourceSpans"]
        for ss in rs["scopeSpans"]
        for s in ss["spans"]
    ]
    keys = {a["key"] for s in spans for a in s["attributes"]}
    assert len(spans) == CALLS
    assert {"gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "gen_ai.response.id"} <= keys
    # Survey §2.2: openai-v2 2.4b0 reports no cache-read or reasoning tokens.
    assert "gen_ai.usage.cache_read.input_tokens" not in keys
    assert "gen_ai.usage.reasoning.output_tokens" not in keys


@pytest.fixture
def seeded(runtime):
    with runtime.sessions.begin() as s:
        admin = users.create_user(s, username="alice", password="correct-horse-42", role="admin")
        s.flush()
        providers.create_provider(
            s, actor=admin, name="OpenAI", provider_type="openai", api_key="sk-test-000000000000"
        )
    return runtime


def test_imported_totals_equal_what_the_server_returned(seeded, span_file, caplog):
    caplog.set_level(logging.DEBUG)
    text = span_file.read_text()
    with seeded.sessions.begin() as s:
        report = formats.import_text(s, text, now=datetime.now(UTC))
    assert report.bad == [] and report.stored == CALLS, report.summary()
    with seeded.sessions() as s:
        events = list(s.scalars(select(UsageEvent)))
    assert sum(e.input_tokens for e in events) == CALLS * USAGE["prompt_tokens"]
    assert sum(e.output_tokens for e in events) == CALLS * USAGE["completion_tokens"]
    assert {e.provider_name for e in events} == {"OpenAI"}  # gen_ai.provider.name → the type
    assert {e.idempotency_key for e in events} == {
        f"otlp:openai:chatcmpl-{n}" for n in range(1, CALLS + 1)
    }
    assert all(e.cost_usd is not None for e in events)  # gpt-4o-mini: priced from the catalog

    with seeded.sessions.begin() as s:
        again = formats.import_text(s, text, now=datetime.now(UTC))
    assert (again.stored, again.result.duplicates) == (0, CALLS)

    stored = _database_text(seeded)
    assert "chatcmpl-1" in stored  # the scan sees the events...
    assert CANARY not in stored  # ...and no prompt
    assert CANARY not in caplog.text


def _database_text(runtime) -> str:
    """Every row of every table as text, plus the SQLite file's bytes."""
    found = []
    url = runtime.settings.database_url
    if url.startswith("sqlite"):
        path = Path(url.split("///", 1)[1])
        for name in (path, path.with_name(path.name + "-wal")):
            if name.exists():
                found.append(name.read_bytes().decode("utf-8", "replace"))
    with runtime.sessions() as s:
        meta = MetaData()
        meta.reflect(bind=s.get_bind())
        for table in meta.sorted_tables:
            found += [repr(tuple(row)) for row in s.execute(text(f'SELECT * FROM "{table.name}"'))]
    return "\n".join(found)
