"""The live route fed by the real code: the openai SDK calls a fake OpenAI-compatible server
on loopback, opentelemetry-instrumentation-openai-v2 makes the spans (prompt capture on) and
the real OTLP/HTTP protobuf exporter (gzip) sends them to POST /v1/traces, served by uvicorn
in a thread (``core.startup.ingest_app``, on both databases) and by a real
``streamlit run app.py`` (the console's own port). Only the provider's response is canned."""

from __future__ import annotations

import gzip
import json
import logging
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from core import startup
from core.accounts import users
from core.records import providers
from core.store.usage_tables import UsageEvent
from core.usage import ingest_tokens
from tests.conftest import TEST_SECRET, make_settings
from tests.fakes.server import FakeProvider
from tests.support.browser import free_port, serve
from tests.test_usage_otlp_live import CALLS, CANARY, USAGE, _database_text

openai = pytest.importorskip("openai")
uvicorn = pytest.importorskip("uvicorn")
pytest.importorskip("opentelemetry.instrumentation.openai_v2")
pytest.importorskip("opentelemetry.exporter.otlp.proto.http.trace_exporter")
pytest.importorskip("opentelemetry.exporter.otlp.json.common.trace_encoder")


def _seed(runtime: Any) -> str:
    """An admin, an OpenAI provider record and an ingest token (returned)."""
    with runtime.sessions.begin() as s:
        admin = users.create_user(s, username="alice", password="correct-horse-42", role="admin")
        s.flush()
        providers.create_provider(
            s, actor=admin, name="OpenAI", provider_type="openai", api_key="sk-test-000000000000"
        )
        return ingest_tokens.create_token(s, actor=admin, name="chat-backend").token


@contextmanager
def uvicorn_thread(app: Any) -> Iterator[str]:
    """Serve an ASGI app on a free loopback port in a thread; yield its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


class Exported:
    """What one instrumented run sent: the spans, and the exporter (to send them again)."""

    def __init__(self, tracer_provider: Any, exporter: Any, spans: list[Any]) -> None:
        self.tracer_provider, self.exporter, self.spans = tracer_provider, exporter, spans

    def close(self) -> None:
        self.tracer_provider.shutdown()  # and with it the exporter


def export_calls(endpoint: str, token: str) -> Exported:
    """CALLS chat completions through the instrumented openai SDK, each span exported by the
    real OTLP/HTTP protobuf exporter, gzip-compressed, with the token."""
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = OTLPSpanExporter(
        endpoint=f"{endpoint}/v1/traces",
        headers={"Authorization": f"Bearer {token}"},
        compression=Compression.Gzip,
        timeout=30,
    )
    kept = InMemorySpanExporter()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "gen_ai_latest_experimental")
        env.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "SPAN_AND_EVENT")
        tracer_provider = TracerProvider(shutdown_on_exit=False)
        tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracer_provider.add_span_processor(SimpleSpanProcessor(kept))
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
    spans = list(kept.get_finished_spans())
    assert len(spans) == CALLS
    assert any(CANARY in str(dict(s.attributes or {})) for s in spans)  # capture is on
    return Exported(tracer_provider, exporter, spans)


def booked(runtime: Any) -> list[UsageEvent]:
    with runtime.sessions() as s:
        return list(s.scalars(select(UsageEvent).order_by(UsageEvent.idempotency_key)))


def check_totals(events: list[UsageEvent]) -> None:
    assert len(events) == CALLS
    assert sum(e.input_tokens for e in events) == CALLS * USAGE["prompt_tokens"]
    assert sum(e.output_tokens for e in events) == CALLS * USAGE["completion_tokens"]
    assert {e.provider_name for e in events} == {"OpenAI"}
    assert [e.idempotency_key for e in events] == [
        f"otlp:openai:chatcmpl-{n}" for n in range(1, CALLS + 1)
    ]
    assert all(e.cost_usd is not None for e in events)


def test_the_real_exporter_feeds_the_route_under_uvicorn(runtime, monkeypatch, caplog):
    from opentelemetry.sdk.trace.export import SpanExportResult

    caplog.set_level(logging.DEBUG)
    token = _seed(runtime)
    for name, value in {
        "MODELDESK_DATABASE_URL": runtime.settings.database_url,
        "MODELDESK_SECRET_KEY": TEST_SECRET,
        "MODELDESK_DATA_DIR": str(runtime.settings.data_dir),
        "MODELDESK_ENV": "test",
        "MODELDESK_DISABLE_SYSTEM_PROVIDERS": "all",
    }.items():
        monkeypatch.setenv(name, value)
    with uvicorn_thread(startup.ingest_app()) as url:
        run = export_calls(url, token)
        check_totals(booked(runtime))
        # A retry of the same spans: accepted, nothing stored again.
        assert run.exporter.export(run.spans) == SpanExportResult.SUCCESS
        assert len(booked(runtime)) == CALLS
        # The same spans in OTLP/JSON, as the JSON exporters encode them: the same events.
        from opentelemetry.exporter.otlp.json.common.trace_encoder import encode_spans

        as_json = json.dumps(encode_spans(run.spans).to_dict()).encode()
        assert CANARY in as_json.decode()
        answer = httpx.post(
            f"{url}/v1/traces",
            content=gzip.compress(as_json),
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                "Content-Encoding": "gzip",
            },
        )
        assert (answer.status_code, answer.json()) == (200, {})
        assert len(booked(runtime)) == CALLS
        with runtime.sessions.begin() as s:
            admin = users.require_user(s, "alice")
            ingest_tokens.revoke_token(s, actor=admin, name="chat-backend")
        assert run.exporter.export(run.spans) == SpanExportResult.FAILURE  # 401
        run.close()
    stored = _database_text(runtime)
    assert "chatcmpl-1" in stored and CANARY not in stored and token not in stored
    assert CANARY not in caplog.text and token not in caplog.text
    assert "OTLP ingest from chat-backend: 1 span(s) accepted (1 new)" in caplog.text
    assert "OTLP ingest refused (401)" in caplog.text


def test_the_streamlit_server_serves_the_route_and_the_console(
    sqlite_template: Path, tmp_path: Path
):
    shutil.copy(sqlite_template, tmp_path / "app.db")
    url = f"sqlite:///{tmp_path / 'app.db'}"
    seeded = startup.open_runtime(make_settings(url, tmp_path))
    try:
        token = _seed(seeded)
    finally:
        seeded.dispose()
    env = {
        "MODELDESK_DATABASE_URL": url,
        "MODELDESK_SECRET_KEY": TEST_SECRET,
        "MODELDESK_DATA_DIR": str(tmp_path),
        "MODELDESK_DISABLE_SYSTEM_PROVIDERS": "all",
        "MODELDESK_ENV": "test",
    }
    with serve(env) as base:
        export_calls(base, token).close()
        refused = httpx.post(
            f"{base}/v1/traces",
            content=gzip.compress(b"{}"),
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        )
        assert refused.status_code == 401
        # The console still loads beside the route: the page shell, its health check, and
        # Streamlit's own routes.
        page = httpx.get(f"{base}/")
        assert page.status_code == 200 and "<title>Streamlit</title>" in page.text
        assert httpx.get(f"{base}/_stcore/health").text == "ok"
        assert httpx.get(f"{base}/providers").status_code == 200  # a deep link
    reopened = startup.open_runtime(make_settings(url, tmp_path))
    try:
        check_totals(booked(reopened))
        assert CANARY not in _database_text(reopened)
    finally:
        reopened.dispose()
    log = (tmp_path / "streamlit.log").read_text()
    assert "OTLP ingest from chat-backend: 1 span(s) accepted (1 new), 0 refused" in log
    assert "OTLP ingest refused (401): an ingest token is required" in log
    assert token not in log and CANARY not in log


def test_the_same_spans_sent_at_once_are_booked_once(runtime):
    """Overlapping retries (several requests with the same spans at the same moment): every
    request is answered 200 {}, each response is stored and counted in the rollups once."""
    from concurrent.futures import ThreadPoolExecutor

    from core.store.usage_tables import UsageDaily
    from core.usage import otlp_route
    from tests.test_usage_otlp import SPEC, line, span

    token = _seed(runtime)
    body = line(
        *(span({**SPEC, "gen_ai.response.id": f"r-{n}"}, span_id=f"{n:016x}") for n in range(20))
    )
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    with uvicorn_thread(otlp_route.app(lambda: runtime)) as url, httpx.Client() as client:

        def send(_: int) -> tuple[int, Any]:
            answer = client.post(f"{url}/v1/traces", content=body, headers=headers, timeout=60)
            return answer.status_code, answer.json()

        with ThreadPoolExecutor(max_workers=4) as pool:
            answers = list(pool.map(send, range(8)))
    assert answers == [(200, {})] * 8
    assert len(booked(runtime)) == 20
    with runtime.sessions() as s:
        assert s.scalar(select(func.sum(UsageDaily.requests))) == 20
        assert s.scalar(select(func.sum(UsageDaily.input_tokens))) == 20 * 1200
