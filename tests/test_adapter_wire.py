"""Wire formats and boundary rules shared by the adapters, without a network: SigV4 against
AWS's published vectors, the event-stream framing, SSE parsing, Retry-After, the status
mapping and the redaction of provider messages, and reasoning budgets.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from core.adapters import eventstream, failures, http, reasoning, sigv4, streams
from core.adapters.base import Target
from core.errors import (
    ProviderBadResponse,
    ProviderModelMissing,
    ProviderRateLimited,
    ProviderServerError,
    ProviderUnauthorized,
    ProviderUnreachable,
)

# AWS SigV4 test suite (get-vanilla / post-vanilla): example credentials, fixed time.
VECTOR_KEYS = sigv4.AwsCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
VECTOR_TIME = datetime(2015, 8, 30, 12, 36, 0, tzinfo=UTC)
EMPTY_SHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
KEY = "sk-live-0123456789abcdefghij"


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("GET", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
        ("POST", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
    ],
)
def test_sigv4_matches_the_published_vanilla_vectors(method: str, expected: str) -> None:
    headers = sigv4.sign(
        method,
        "https://example.amazonaws.com/",
        body=b"",
        credentials=VECTOR_KEYS,
        region="us-east-1",
        service="service",
        now=VECTOR_TIME,
    )
    assert headers == {
        "x-amz-date": "20150830T123600Z",
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/"
        f"aws4_request, SignedHeaders=host;x-amz-date, Signature={expected}",
    }


def test_sigv4_canonical_request_of_the_vector() -> None:
    canonical = sigv4.canonical_request(
        "GET",
        "/",
        {"host": "example.amazonaws.com", "x-amz-date": "20150830T123600Z"},
        ["host", "x-amz-date"],
        EMPTY_SHA,
    )
    assert canonical == (
        "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
        f"host;x-amz-date\n{EMPTY_SHA}"
    )
    assert (
        sigv4.sha256_hex(canonical.encode())
        == "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"
    )


def test_sigv4_double_encodes_path_segments_and_sorts_the_query() -> None:
    assert sigv4.canonical_uri("/model/a.b-v1%3A0/converse") == "/model/a.b-v1%253A0/converse"
    assert sigv4.canonical_query("b=2&a=x%20y&a=1") == "a=1&a=x%20y&b=2"


def test_sigv4_signs_the_session_token_and_never_exposes_the_secret() -> None:
    keys = sigv4.AwsCredentials("AKID", "very-secret-access-key", "token-123")
    headers = sigv4.sign(
        "POST",
        "https://bedrock-runtime.us-east-1.amazonaws.com/model/x/converse",
        body=b"{}",
        credentials=keys,
        region="us-east-1",
        service="bedrock",
    )
    assert headers["x-amz-security-token"] == "token-123"
    assert "SignedHeaders=host;x-amz-date;x-amz-security-token" in headers["Authorization"]
    assert "very-secret" not in str(headers) and "very-secret" not in repr(keys)


# --- Event stream --------------------------------------------------------------------------------


def test_event_stream_round_trips_across_arbitrary_chunking() -> None:
    data = b"".join(
        eventstream.encode({":event-type": f"e{i}", ":message-type": "event"}, {"n": i})
        for i in range(3)
    )
    chunks = [data[i : i + 5] for i in range(0, len(data), 5)]
    messages = list(eventstream.decode(chunks))
    assert [(m.headers[":event-type"], m.payload["n"]) for m in messages] == [
        ("e0", 0),
        ("e1", 1),
        ("e2", 2),
    ]


@pytest.mark.parametrize("damage", ["prelude", "message", "truncated"])
def test_a_damaged_event_stream_is_a_bad_response(damage: str) -> None:
    data = bytearray(eventstream.encode({":message-type": "event"}, {"text": "hello"}))
    if damage == "prelude":
        data[2] ^= 0xFF
    elif damage == "message":
        data[-6] ^= 0xFF
    else:
        data = data[:-3]
    with pytest.raises(ProviderBadResponse):
        list(eventstream.decode([bytes(data)]))


# --- SSE -----------------------------------------------------------------------------------------


def sse(body: bytes) -> httpx.Response:
    return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})


def test_sse_events_with_names_comments_multiline_data_and_done() -> None:
    body = (
        b': keep-alive\n\nevent: first\ndata: {"a":\ndata: 1}\n\n'
        b'data: {"b": 2}\r\n\r\ndata: [DONE]\n\ndata: {"after": true}\n\n'
    )
    assert list(streams.sse_json(sse(body))) == [("first", {"a": 1}), ("message", {"b": 2})]


def test_sse_last_event_without_a_blank_line_still_counts() -> None:
    assert list(streams.sse_json(sse(b'data: {"x": 1}'))) == [("message", {"x": 1})]


def test_sse_with_non_json_data_is_a_bad_response() -> None:
    with pytest.raises(ProviderBadResponse):
        list(streams.sse_json(sse(b"data: <html>\n\n")))


def test_a_stream_past_the_body_cap_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streams, "MAX_BODY", 1000)
    with pytest.raises(ProviderBadResponse):
        list(streams.lines(sse(b"data: {}\n\n" * 200)))


# --- Status mapping and redaction -----------------------------------------------------------------

TARGET = Target(provider_type="openai", base_url="https://api.example/v1", api_key=KEY)


def response(status: int, body: bytes = b"{}", **headers: str) -> httpx.Response:
    return httpx.Response(status, content=body, headers=headers)


@pytest.mark.parametrize(
    ("status", "body", "model", "expected"),
    [
        (401, b'{"error": {"message": "bad key"}}', None, ProviderUnauthorized),
        (403, b"{}", None, ProviderUnauthorized),
        (
            400,
            b'{"error": {"message": "API key not valid. Please pass a valid API key."}}',
            None,
            ProviderUnauthorized,
        ),
        (404, b"{}", "gpt-x", ProviderModelMissing),
        (
            400,
            b'{"message": "The provided model identifier is invalid."}',
            "m",
            ProviderModelMissing,
        ),
        (404, b"{}", None, ProviderBadResponse),
        (429, b"{}", None, ProviderRateLimited),
        (408, b"", None, ProviderUnreachable),
        (500, b"<html>oops</html>", None, ProviderServerError),
        (
            529,
            b'{"type": "error", "error": {"type": "overloaded_error"}}',
            None,
            ProviderServerError,
        ),
        (302, b"", None, ProviderBadResponse),
        (422, b'{"detail": "bad field"}', None, ProviderBadResponse),
    ],
)
def test_status_codes_map_to_the_error_tree(
    status: int, body: bytes, model: str | None, expected: type
) -> None:
    error = failures.error_for_status(
        TARGET, failures.secrets_of(TARGET), response(status, body), body, model=model
    )
    assert type(error) is expected and error.status_code == status
    assert error.reason.startswith(f"HTTP {status}")


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7.0),
        (" 2.5 ", 2.5),
        ("-4", 0.0),
        ("soon", None),
        ("", None),
        ("nan", None),
        ("inf", None),
    ],
)
def test_retry_after_seconds(header: str, seconds: float | None) -> None:
    assert failures.retry_after(header) == seconds


def test_retry_after_http_dates_count_from_now() -> None:
    future = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    assert 80 < (failures.retry_after(future) or 0) <= 90
    assert failures.retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


@pytest.mark.parametrize(
    "echo",
    [
        f"Incorrect API key provided: {KEY}",
        f"Incorrect API key provided: {KEY[:12]}***",  # a partial echo survives plain substitution
        f"Key ***{KEY[-11:]} is disabled",
        f"see https://api.example/v1/models?key={KEY}",
        f"Authorization: Bearer {KEY}",
    ],
)
def test_a_provider_message_quoting_the_key_is_withheld(echo: str) -> None:
    body = ('{"error": {"message": "%s"}}' % echo).encode()
    error = failures.error_for_status(
        TARGET, failures.secrets_of(TARGET), response(401, body), body
    )
    for fragment in (KEY, KEY[:12], KEY[-11:]):
        assert fragment not in error.reason
    assert "withheld" in error.reason


def test_a_harmless_provider_message_is_kept_and_keys_in_urls_are_redacted() -> None:
    body = b'{"error": {"message": "Quota exceeded, see https://x.example/doc?key=abcdef"}}'
    error = failures.error_for_status(TARGET, [], response(429, body, **{"retry-after": "3"}), body)
    assert "Quota exceeded" in error.reason and "abcdef" not in error.reason
    assert error.retry_after == 3.0


def test_a_bearer_written_key_is_redacted_with_and_without_its_prefix() -> None:
    target = Target(provider_type="azure_openai", base_url="https://x", api_key=f"Bearer {KEY}")
    assert KEY in failures.secrets_of(target)


def test_an_oversized_declared_body_is_refused_before_reading() -> None:
    big = response(200, b"{}", **{"content-length": str(http.MAX_BODY + 1)})
    with pytest.raises(ProviderBadResponse):
        http.read_capped(big)


# --- Reasoning budgets ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "model",
    [
        "o1",
        "o3-mini",
        "openai/o4-mini",
        "gpt-5",
        "gpt-5-mini",
        "deepseek-reasoner",
        "deepseek-r1:8b",
        "claude-3-7-sonnet:thinking",
        "gemini-2.5-flash",
        "qwq-32b",
        "grok-4",
    ],
)
def test_reasoning_models_get_room_to_think(model: str) -> None:
    assert reasoning.is_reasoning(model)
    assert reasoning.output_budget(model, 1) >= 1024


@pytest.mark.parametrize(
    "model",
    [
        "gpt-4o",
        "gpt-4o-mini",
        "llama3.2:latest",
        "command-r-plus",
        "claude-3-5-haiku",
        "gemini-2.0-flash",
        "mistral-large",
    ],
)
def test_ordinary_models_keep_a_small_budget_but_never_one_token(model: str) -> None:
    assert not reasoning.is_reasoning(model)
    assert reasoning.output_budget(model, 1) == reasoning.MIN_ANSWER
    assert reasoning.output_budget(model, 300) == 300


def test_only_openai_reasoning_families_take_max_completion_tokens() -> None:
    assert reasoning.is_openai_reasoning("o3-mini") and reasoning.is_openai_reasoning("gpt-5")
    assert not reasoning.is_openai_reasoning("deepseek-reasoner")
    assert not reasoning.is_openai_reasoning("gpt-4o")


def test_an_error_answer_is_judged_by_its_status_not_its_size() -> None:
    huge = httpx.Response(500, content=b"<html>" + b"x" * (http.MAX_BODY + 10))
    body = http.read_error_body(huge)
    assert len(body) == http.ERROR_BODY
    error = failures.error_for_status(TARGET, [], huge, body)
    assert type(error) is ProviderServerError
