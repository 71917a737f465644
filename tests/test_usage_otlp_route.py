"""The live OTLP route (core.usage.otlp_route) through Starlette's test client, on both
databases: tokens (401), size caps (413, gzip bombs included), malformed requests (400),
partial success, idempotent re-sends, explicit mappings, protobuf, and no prompt text in
the database or the logs. The real exporters run in test_usage_otlp_route_live.py."""

from __future__ import annotations

import dataclasses
import gzip
import json
import logging
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from core.accounts import users
from core.config import load_settings
from core.errors import ConfigurationError
from core.store.usage_tables import IngestToken, UsageEvent
from core.usage import ingest_tokens, otlp_route
from tests.support import factories as f
from tests.test_usage_otlp import CANARY, SPEC, line, span
from tests.test_usage_otlp_live import _database_text

CAP = 64 * 1024


@pytest.fixture
def seeded(runtime, admin):
    with runtime.sessions.begin() as s:
        boss = users.require_user(s, "admin")
        f.provider(s, boss, name="OpenAI")
        f.provider(s, boss, name="Gateway", provider_type="litellm", provider_config={})
    return runtime


def make_token(runtime, name: str = "ci-app", **kw: Any) -> str:
    with runtime.sessions.begin() as s:
        actor = users.require_user(s, "admin")
        return ingest_tokens.create_token(s, actor=actor, name=name, **kw).token


@pytest.fixture
def client(seeded):
    backend = SimpleNamespace(
        settings=dataclasses.replace(seeded.settings, ingest_max_bytes=CAP),
        sessions=seeded.sessions,
    )
    with TestClient(otlp_route.app(lambda: backend)) as test_client:
        yield test_client


@pytest.fixture
def token(seeded) -> str:
    return make_token(seeded)


def post(client, token: str | None, body: bytes | str, **headers: str):
    sent = {"Content-Type": "application/json", **headers}
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    data = body.encode() if isinstance(body, str) else body
    return client.post("/v1/traces", content=data, headers=sent)


def events(runtime) -> list[UsageEvent]:
    with runtime.sessions() as s:
        return list(s.scalars(select(UsageEvent).order_by(UsageEvent.idempotency_key)))


def spec(**changes: Any) -> dict[str, Any]:
    return {**SPEC, **changes}


# --- Good requests ----------------------------------------------------------------------


def test_a_good_request_is_booked_and_answered_with_an_empty_response(seeded, client, token):
    response = post(client, token, line(span(spec())))
    assert response.status_code == 200 and response.json() == {}
    assert response.headers["content-type"] == "application/json"
    (event,) = events(seeded)
    assert (event.provider_name, event.input_tokens, event.output_tokens) == ("OpenAI", 1200, 300)
    assert (event.cached_input_tokens, event.reasoning_tokens) == (1024, 256)
    assert event.idempotency_key == "otlp:openai:chatcmpl-1" and event.cost_usd is not None
    with seeded.sessions() as s:
        assert s.scalar(select(IngestToken.last_used_at)) is not None


def test_resending_the_same_spans_stores_nothing_new(seeded, client, token):
    body = line(span(spec()), span(spec(**{"gen_ai.response.id": "chatcmpl-2"}), span_id="b" * 16))
    assert post(client, token, body).json() == {}
    assert post(client, token, body).json() == {}  # an exporter's retry: accepted, not stored
    assert [e.idempotency_key for e in events(seeded)] == [
        "otlp:openai:chatcmpl-1",
        "otlp:openai:chatcmpl-2",
    ]


def test_spans_without_usage_are_ignored_not_refused(seeded, client, token):
    http_span = span({"http.request.method": "POST", "url.full": "https://api.openai.com/v1"})
    response = post(client, token, line(http_span, span(spec()), span({"app": "x"})))
    assert response.json() == {} and len(events(seeded)) == 1
    assert post(client, token, line(http_span)).json() == {}
    assert post(client, token, "{}").json() == {}  # an empty request is a request


def test_refused_spans_are_counted_in_a_partial_success(seeded, client, token):
    spans = [
        span(spec()),
        span(spec(**{"gen_ai.provider.name": "cohere", "gen_ai.response.id": "c1"})),
        span(spec(**{"gen_ai.usage.input_tokens": -5, "gen_ai.response.id": "n1"})),
        span(spec(**{"gen_ai.usage.input_tokens": "lots " + CANARY, "gen_ai.response.id": "n2"})),
    ]
    response = post(client, token, line(*spans))
    assert response.status_code == 200
    partial = response.json()["partialSuccess"]
    assert partial["rejectedSpans"] == 3
    message = partial["errorMessage"]
    assert message.startswith("3 span(s) refused: ")
    assert "no provider record of type 'cohere'" in message
    assert "input_tokens cannot be negative (-5)" in message
    assert "gen_ai.usage.input_tokens is not a whole number" in message
    assert CANARY not in message
    assert [e.idempotency_key for e in events(seeded)] == ["otlp:openai:chatcmpl-1"]


def test_the_tokens_explicit_mapping_books_the_spans(seeded, client):
    every = make_token(seeded, "all-to-gateway", provider="Gateway")
    post(client, every, line(span(spec())))
    by_system = make_token(seeded, "cohere-via-gateway", mapping={"cohere": "Gateway"})
    cohere = spec(**{"gen_ai.provider.name": "cohere", "gen_ai.response.id": "c1"})
    openai = spec(**{"gen_ai.response.id": "o2"})
    assert post(client, by_system, line(span(cohere), span(openai, span_id="c" * 16))).json() == {}
    assert {e.idempotency_key: e.provider_name for e in events(seeded)} == {
        "otlp:openai:chatcmpl-1": "Gateway",  # every span of the first token
        "otlp:cohere:c1": "Gateway",  # mapped by gen_ai.provider.name
        "otlp:openai:o2": "OpenAI",  # not mapped: by type, as the file import does
    }


def test_a_token_whose_provider_was_deleted_refuses_its_spans(seeded, client):
    from core.records import providers
    from core.store.tables import Provider

    orphan = make_token(seeded, "orphan", provider="Gateway")
    with seeded.sessions.begin() as s:
        gateway = s.scalar(select(Provider).where(Provider.name == "Gateway"))
        providers.delete_provider(s, actor=users.require_user(s, "admin"), provider_id=gateway.id)
    partial = post(client, orphan, line(span(spec()))).json()["partialSuccess"]
    assert partial["rejectedSpans"] == 1 and "was deleted" in partial["errorMessage"]
    assert events(seeded) == []


def test_protobuf_in_protobuf_out(seeded, client, token):
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
    from opentelemetry.proto.common.v1 import common_pb2
    from opentelemetry.proto.trace.v1 import trace_pb2

    def attr(key: str, v: Any) -> common_pb2.KeyValue:
        value = (
            common_pb2.AnyValue(int_value=v)
            if isinstance(v, int)
            else common_pb2.AnyValue(string_value=v)
        )
        return common_pb2.KeyValue(key=key, value=value)

    def proto_span(attrs: dict[str, Any], span_id: bytes) -> trace_pb2.Span:
        return trace_pb2.Span(
            trace_id=bytes(range(16)),
            span_id=span_id,
            name="chat",
            end_time_unix_nano=1_780_000_000_123_456_789,
            attributes=[attr(k, v) for k, v in attrs.items()],
        )

    request = trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[
            trace_pb2.ResourceSpans(
                scope_spans=[
                    trace_pb2.ScopeSpans(
                        spans=[
                            proto_span(spec(), b"\x01" * 8),
                            proto_span(
                                spec(**{"gen_ai.provider.name": "x", "gen_ai.response.id": "x1"}),
                                b"\x02" * 8,
                            ),
                        ]
                    )
                ]
            )
        ]
    )
    headers = {"Content-Type": "application/x-protobuf"}
    response = post(client, token, request.SerializeToString(), **headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-protobuf"
    answer = trace_service_pb2.ExportTraceServiceResponse.FromString(response.content)
    assert answer.partial_success.rejected_spans == 1
    assert "no provider record of type 'x'" in answer.partial_success.error_message
    (event,) = events(seeded)
    assert (event.input_tokens, event.cached_input_tokens) == (1200, 1024)
    # Without a response id the key has the ids in hex, as the JSON encoding writes them.
    no_id = {k: v for k, v in spec().items() if k != "gen_ai.response.id"}
    request.resource_spans[0].scope_spans[0].spans[0].CopyFrom(proto_span(no_id, b"\x03" * 8))
    post(client, token, request.SerializeToString(), **headers)
    assert f"otlp:span:{bytes(range(16)).hex()}:{'03' * 8}" in {
        e.idempotency_key for e in events(seeded)
    }
    bad = post(client, token, b"\xff\xff\xff", **headers)
    assert bad.status_code == 400 and bad.headers["content-type"] == "application/x-protobuf"
    assert b"not a protobuf ExportTraceServiceRequest" in bad.content


def test_gzip_bodies_are_accepted(seeded, client, token):
    body = gzip.compress(line(span(spec())).encode())
    assert post(client, token, body, **{"Content-Encoding": "gzip"}).json() == {}
    assert len(events(seeded)) == 1


# --- Refusals: nothing stored -----------------------------------------------------------


def refused(runtime, response, status: int, words: str) -> None:
    assert response.status_code == status, response.text
    assert words in response.json()["message"]
    assert events(runtime) == []


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer ", "Basic abc", "Bearer mdk_unknown", "bearer nonsense"],
)
def test_a_missing_or_unknown_token_is_401(seeded, client, header):
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers["Authorization"] = header
    response = client.post("/v1/traces", content=line(span(spec())), headers=headers)
    refused(seeded, response, 401, "token")
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["code"] == 16


def test_a_revoked_token_is_401(seeded, client, token):
    assert post(client, token, line(span(spec(**{"gen_ai.response.id": "before"})))).json() == {}
    with seeded.sessions.begin() as s:
        ingest_tokens.revoke_token(s, actor=users.require_user(s, "admin"), name="ci-app")
    response = post(client, token, line(span(spec())))
    assert response.status_code == 401
    assert [e.idempotency_key for e in events(seeded)] == ["otlp:openai:before"]


def test_a_body_over_the_cap_is_413(seeded, client, token):
    padding = {"http.note": "x" * CAP}
    refused(seeded, post(client, token, line(span(spec(**padding)))), 413, f"{CAP} bytes")


def test_a_body_without_a_length_is_cut_at_the_cap(seeded, client, token):
    def chunks():
        yield line(span(spec()))[:-1].encode()
        for _ in range(CAP // 1024 + 2):
            yield b" " * 1024
        yield b"}"

    response = client.post(
        "/v1/traces",
        content=chunks(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    refused(seeded, response, 413, f"{CAP} bytes")


def test_a_gzip_bomb_is_413(seeded, client, token):
    document = line(span(spec()))[:-1] + " " * (CAP * 50) + "}"
    bomb = gzip.compress(document.encode(), compresslevel=9)
    assert len(bomb) < CAP // 4  # small as sent
    refused(seeded, post(client, token, bomb, **{"Content-Encoding": "gzip"}), 413, "bytes")


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("{not json", "not JSON"),
        (b"\xff\xfe{}", "not JSON"),
        ("", "not JSON"),
        ("[]", "a JSON object is expected"),
        ('{"resourceSpans": 5}', "resourceSpans is not a list"),
        ('{"resourceSpans": ["x"]}', "resourceSpans holds a non-object"),
        ('{"resourceSpans": [{"resource": 1}]}', "resource is not an object"),
        ('{"resourceSpans": [{"scopeSpans": {"spans": []}}]}', "scopeSpans is not a list"),
        ('{"resourceSpans": [{"scopeSpans": [{"spans": [7]}]}]}', "spans holds a non-object"),
        ('{"resourceSpans": [{"scopeSpans": [{"spans": [{"attributes": [1]}]}]}]}', "attributes"),
        ("[" * 30_000 + "]" * 30_000, "not JSON"),
    ],
)
def test_a_malformed_request_is_400(seeded, client, token, body, words):
    refused(seeded, post(client, token, body), 400, words)


def test_a_malformed_gzip_body_is_400(seeded, client, token):
    body = gzip.compress(line(span(spec())).encode())
    refused(seeded, post(client, token, body[:-12], **{"Content-Encoding": "gzip"}), 400, "gzip")
    refused(seeded, post(client, token, b"nope", **{"Content-Encoding": "gzip"}), 400, "gzip")


def test_other_media_types_and_encodings_are_415(seeded, client, token):
    body = line(span(spec()))
    refused(seeded, post(client, token, body, **{"Content-Type": "text/plain"}), 415, "json")
    refused(seeded, post(client, token, body, **{"Content-Encoding": "br"}), 415, "gzip")


def test_only_post(client):
    assert client.get("/v1/traces").status_code == 405


def test_an_unavailable_database_is_503_and_retried(seeded, token):
    calls = []

    def opener():
        calls.append(1)
        if len(calls) == 1:
            raise ConfigurationError("MODELDESK_DATABASE_URL cannot be reached.")
        return seeded

    with TestClient(otlp_route.app(opener)) as test_client:
        first = post(test_client, token, line(span(spec())))
        assert first.status_code == 503 and first.headers["retry-after"] == "30"
        assert post(test_client, token, line(span(spec()))).json() == {}
    assert len(calls) == 2 and len(events(seeded)) == 1


# --- Content is never stored or logged --------------------------------------------------


def test_prompt_text_never_reaches_the_database_or_the_log(seeded, client, token, caplog):
    caplog.set_level(logging.DEBUG)
    content = {
        "gen_ai.input.messages": json.dumps([{"role": "user", "content": CANARY}]),
        "gen_ai.output.messages": CANARY,
        "gen_ai.system_instructions": CANARY,
        "gen_ai.prompt.0.content": CANARY,  # Traceloop's
        "input.value": CANARY,  # OpenInference's
    }
    events_ = [
        {
            "name": "gen_ai.user.message",
            "attributes": [{"key": "content", "value": {"stringValue": CANARY}}],
        }
    ]
    good = span(spec(**content), events=events_)
    bad = span(spec(**content, **{"gen_ai.provider.name": "nope", "gen_ai.response.id": "n"}))
    response = post(client, token, line(good, bad))
    assert response.json()["partialSuccess"]["rejectedSpans"] == 1
    assert CANARY not in response.text
    stored = _database_text(seeded)
    assert "chatcmpl-1" in stored and CANARY not in stored
    assert token not in stored
    ingest_lines = [r.getMessage() for r in caplog.records if r.name == otlp_route.__name__]
    assert ingest_lines == [
        "OTLP ingest from ci-app: 1 span(s) accepted (1 new), 1 refused, 0 ignored, "
        + ingest_lines[0].rsplit(", ", 1)[1]
    ]
    assert CANARY not in caplog.text and token not in caplog.text


def test_one_log_line_per_request_never_the_token(seeded, client, token, caplog):
    caplog.set_level(logging.INFO, logger=otlp_route.__name__)
    post(client, token, line(span(spec())))
    post(client, token + "x", line(span(spec())))
    post(client, token, "{nope")
    lines = [r.getMessage() for r in caplog.records if r.name == otlp_route.__name__]
    assert len(lines) == 3
    assert lines[0].startswith("OTLP ingest from ci-app: 1 span(s) accepted (1 new), 0 refused")
    assert lines[1] == "OTLP ingest refused (401): the ingest token is unknown or revoked"
    assert lines[2] == "OTLP ingest refused (400): the body is not JSON (UTF-8)"
    assert token[4:] not in caplog.text


# --- The setting --------------------------------------------------------------------------


def test_the_size_cap_is_a_setting():
    assert load_settings({}, secrets_file=None).ingest_max_bytes == 4 * 1024 * 1024
    settings = load_settings({"MODELDESK_INGEST_MAX_BYTES": "1048576"}, secrets_file=None)
    assert settings.ingest_max_bytes == 1048576
    for bad in ("lots", "10", str(2**40)):
        with pytest.raises(ConfigurationError, match="MODELDESK_INGEST_MAX_BYTES"):
            load_settings({"MODELDESK_INGEST_MAX_BYTES": bad}, secrets_file=None)


def test_nothing_of_a_refused_request_is_counted(seeded, client, token):
    with seeded.sessions() as s:
        before = s.scalar(select(func.count()).select_from(UsageEvent))
    post(client, None, line(span(spec())))
    post(client, token, "{")
    with seeded.sessions() as s:
        assert s.scalar(select(func.count()).select_from(UsageEvent)) == before == 0
