"""Adapters against fake providers on loopback that speak their protocol: listings with
metadata, probes that never pay, streamed completions, and each protocol's auth and
request details. Failure modes are in test_adapter_failures.py, wire formats (SigV4,
event stream, SSE, status mapping) in test_adapter_wire.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from core import catalog
from core.adapters import ADAPTERS, adapter_for, bedrock
from core.adapters.base import Target
from core.errors import ConfigurationError, ProviderUnauthorized, ValidationError
from core.records.credentials import Credentials, target_from_credentials
from core.records.system_providers import SystemProvider, target_from_system
from tests.fakes import PROTOCOLS, FakeProvider

CANARY = f"sk-canary-{uuid.uuid4().hex}"
# Paths of paid calls: a probe or a listing must never touch one.
PAID = ("chat", "messages", "generate", "converse")


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as plain:
        yield plain


# --- Registry ----------------------------------------------------------------------------------


def test_every_catalog_protocol_has_exactly_one_adapter() -> None:
    assert set(ADAPTERS) == set(catalog.PROTOCOLS)
    assert all(adapter.protocol == name for name, adapter in ADAPTERS.items())


def test_adapter_for_follows_the_catalog_for_every_type() -> None:
    for ptype in catalog.provider_types():
        assert adapter_for(ptype.id) is ADAPTERS[ptype.protocol]
    assert adapter_for("groq") is ADAPTERS["openai"]
    with pytest.raises(ValidationError):
        adapter_for("no_such_type")


def test_target_from_credentials_carries_key_config_and_endpoint() -> None:
    creds = Credentials(
        provider_type="groq",
        api_key=CANARY,
        config={"note": "x"},
        base_url="https://api.groq.com/openai/v1",
    )
    target = target_from_credentials(creds)
    assert (target.provider_type, target.base_url, target.api_key) == (
        "groq",
        "https://api.groq.com/openai/v1",
        CANARY,
    )
    assert CANARY not in repr(target)
    with pytest.raises(ConfigurationError):
        target_from_credentials(
            Credentials(provider_type="azure_openai", api_key="k", config={}, base_url=None)
        )


def test_target_from_system_uses_the_catalog_default_or_the_override() -> None:
    ollama = SystemProvider(
        provider_type="ollama", label="Ollama", api_key=None, base_url=None, env_vars=()
    )
    assert target_from_system(ollama).base_url == "http://localhost:11434"
    openai = SystemProvider(
        provider_type="openai",
        label="OpenAI",
        api_key=CANARY,
        base_url="https://proxy.example/v1",
        env_vars=("OPENAI_API_KEY",),
    )
    target = target_from_system(openai)
    assert (target.base_url, target.api_key) == ("https://proxy.example/v1", CANARY)


# --- Every protocol: listing, probe, completion ------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_listing_probe_and_streamed_completion(protocol: str, client: httpx.Client) -> None:
    with FakeProvider(protocol, key=CANARY, reply="Hello there friend", latency=0.02) as fake:
        adapter = ADAPTERS[protocol]
        target = fake.target()
        models = adapter.list_models(client, target)
        assert [m.id for m in models] == fake.models
        probe = adapter.probe(client, target)
        assert probe.latency_ms >= 20 and probe.detail == f"{len(fake.models)} models listed"
        assert not any(word in r.route for r in fake.requests for word in PAID)

        fake.stream_delay = 0.05
        done = adapter.complete(client, target, model=fake.models[0], prompt="Say hello")
        assert done.text == "Hello there friend"
        assert done.input_tokens and done.input_tokens > 0
        assert done.output_tokens and done.output_tokens > 0
        assert done.ttft_ms is not None and 20 <= done.ttft_ms < done.total_ms - 40
        assert CANARY not in repr((models, probe, done))


def test_probe_latency_reflects_a_slow_provider(client: httpx.Client) -> None:
    with FakeProvider("openai", latency=0.3) as fake:
        assert ADAPTERS["openai"].probe(client, fake.target()).latency_ms >= 300


@pytest.mark.parametrize("protocol", ["anthropic", "gemini", "vertex", "cohere"])
def test_listings_follow_every_page(protocol: str, client: httpx.Client) -> None:
    with FakeProvider(protocol, page_size=1) as fake:
        models = ADAPTERS[protocol].list_models(client, fake.target())
        assert [m.id for m in models] == fake.models
        listing = [r for r in fake.requests if r.method == "GET"]
        assert len(listing) == len(fake.models)


def by_id(protocol: str, client: httpx.Client, **options: object) -> dict[str, object]:
    with FakeProvider(protocol, **options) as fake:  # type: ignore[arg-type]
        return {m.id: m for m in ADAPTERS[protocol].list_models(client, fake.target())}


def test_listing_metadata_is_parsed(client: httpx.Client) -> None:
    gpt = by_id("openai", client)["gpt-4o-mini"]
    assert gpt.created == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)  # type: ignore[attr-defined]
    assert (gpt.owned_by, gpt.context_window) == ("fake-org", 128000)  # type: ignore[attr-defined]
    claude = by_id("anthropic", client)["claude-haiku-4-5"]
    assert claude.name == "Claude Haiku 4 5"  # type: ignore[attr-defined]
    assert claude.created == datetime(2025, 2, 19, tzinfo=UTC)  # type: ignore[attr-defined]
    gemini = by_id("gemini", client)
    assert gemini["text-embedding-004"].kind == "embedding"  # type: ignore[attr-defined]
    assert gemini["gemini-2.5-flash"].context_window == 1048576  # type: ignore[attr-defined]
    ollama = by_id("ollama", client)
    assert ollama["nomic-embed-text:latest"].kind == "embedding"  # type: ignore[attr-defined]
    assert ollama["llama3.2:latest"].created == datetime(  # type: ignore[attr-defined]
        2025, 5, 1, 8, 0, 0, 123456, tzinfo=UTC
    )
    assert by_id("azure_openai", client)["gpt-4o"].kind == "inference"  # type: ignore[attr-defined]
    titan = by_id("bedrock", client)["amazon.titan-embed-text-v2:0"]
    assert (titan.kind, titan.owned_by) == ("embedding", "amazon")  # type: ignore[attr-defined]
    assert by_id("cohere", client)["embed-english-v3.0"].kind == "embedding"  # type: ignore[attr-defined]


# --- Protocol details --------------------------------------------------------------------------


def last_post(fake: FakeProvider) -> dict:
    return next(r for r in reversed(fake.requests) if r.method == "POST").json()


def test_openai_sends_a_bearer_key_and_asks_for_usage_in_the_stream(client: httpx.Client) -> None:
    with FakeProvider("openai", key=CANARY) as fake:
        ADAPTERS["openai"].complete(
            client, fake.target(), model="gpt-4o-mini", prompt="hi", max_tokens=1
        )
        request = fake.requests[-1]
        assert request.headers["authorization"] == f"Bearer {CANARY}"
        body = request.json()
        assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
        assert body["max_tokens"] >= 16  # never the max_tokens=1 ping


def test_openai_reasoning_models_get_a_completion_budget(client: httpx.Client) -> None:
    with FakeProvider("openai") as fake:
        done = ADAPTERS["openai"].complete(
            client, fake.target(), model="o3-mini", prompt="hi", max_tokens=1
        )
        body = last_post(fake)
        assert "max_tokens" not in body and body["max_completion_tokens"] >= 1024
        assert done.text == "Hello there"


def test_an_openai_compatible_server_without_a_key_gets_no_auth_header(
    client: httpx.Client,
) -> None:
    with FakeProvider("openai", key=None) as fake:
        ADAPTERS["openai"].probe(client, fake.target(provider_type="vllm", api_key=None))
        assert "authorization" not in fake.requests[-1].headers


def test_anthropic_headers_and_thinking_budget(client: httpx.Client) -> None:
    with FakeProvider("anthropic", key=CANARY) as fake:
        done = ADAPTERS["anthropic"].complete(
            client,
            fake.target(),
            model="claude-3-7-sonnet-20250219:thinking",
            prompt="hi",
            max_tokens=64,
        )
        request = fake.requests[-1]
        assert request.headers["x-api-key"] == CANARY
        assert request.headers["anthropic-version"] == "2023-06-01"
        assert "authorization" not in request.headers
        body = request.json()
        assert body["model"] == "claude-3-7-sonnet-20250219"
        assert body["thinking"] == {"type": "enabled", "budget_tokens": 1024}
        assert body["max_tokens"] > 1024
        assert done.text == "Hello there" and done.ttft_ms is not None


def test_anthropic_and_azure_send_a_bearer_token_written_as_such(client: httpx.Client) -> None:
    token = f"Bearer {CANARY}"
    with FakeProvider("anthropic", key=None) as fake:
        ADAPTERS["anthropic"].probe(client, fake.target(api_key=token))
        assert fake.requests[-1].headers["authorization"] == token
        assert "x-api-key" not in fake.requests[-1].headers
    with FakeProvider("azure_openai", key=token) as fake:
        ADAPTERS["azure_openai"].probe(client, fake.target())
        assert fake.requests[-1].headers["authorization"] == token
        assert "api-key" not in fake.requests[-1].headers


def test_gemini_keeps_the_key_in_a_header_never_in_the_url(client: httpx.Client) -> None:
    with FakeProvider("gemini", key=CANARY) as fake:
        adapter = ADAPTERS["gemini"]
        adapter.probe(client, fake.target())
        adapter.complete(
            client, fake.target(), model="models/gemini-2.5-flash", prompt="hi", max_tokens=8
        )
        assert all(r.headers["x-goog-api-key"] == CANARY for r in fake.requests)
        assert not any(CANARY in r.path or "key=" in r.path for r in fake.requests)
        assert fake.requests[-1].query == {"alt": "sse"}
        assert last_post(fake)["generationConfig"]["maxOutputTokens"] >= 1024  # 2.5 thinks


def test_ollama_sends_no_auth_and_a_token_budget(client: httpx.Client) -> None:
    with FakeProvider("ollama") as fake:
        done = ADAPTERS["ollama"].complete(
            client,
            fake.target(base_url=fake.url + "/v1"),
            model="llama3.2:latest",
            prompt="hi",
            max_tokens=1,
        )
        assert "authorization" not in fake.requests[-1].headers
        assert last_post(fake)["options"]["num_predict"] >= 16
        assert (done.input_tokens, done.output_tokens) == (26, 3)


def test_azure_uses_the_deployment_path_api_version_and_api_key(client: httpx.Client) -> None:
    with FakeProvider("azure_openai", key=CANARY) as fake:
        adapter = ADAPTERS["azure_openai"]
        adapter.probe(client, fake.target())
        assert fake.requests[-1].query["api-version"] == "2025-04-01-preview"
        target = fake.target(config={"deployment_id": "o3-mini", "api_version": "2024-10-21"})
        adapter.complete(client, target, model="o3-mini", prompt="hi")
        request = fake.requests[-1]
        assert request.route == "/openai/deployments/o3-mini/chat/completions"
        assert request.query["api-version"] == "2024-10-21"
        assert request.headers["api-key"] == CANARY
        body = request.json()
        assert "model" not in body and body["max_completion_tokens"] >= 1024


def test_azure_calls_the_models_own_deployment_not_the_provider_default(
    client: httpx.Client,
) -> None:
    with FakeProvider("azure_openai", key=CANARY, models=("dep-gpt4o", "gpt-4o-mini")) as fake:
        target = fake.target(config={"base_url": fake.base_url, "deployment_id": "dep-gpt4o"})
        done = ADAPTERS["azure_openai"].complete(client, target, model="gpt-4o-mini", prompt="hi")
        assert fake.requests[-1].route == "/openai/deployments/gpt-4o-mini/chat/completions"
        assert done.model == "gpt-4o-mini"
        # The provider's deployment is only a default, for a call that names no model.
        ADAPTERS["azure_openai"].complete(client, target, model=" ", prompt="hi")
        assert fake.requests[-1].route == "/openai/deployments/dep-gpt4o/chat/completions"


def test_bedrock_bearer_key_lists_on_the_control_plane_and_streams(client: httpx.Client) -> None:
    model = "anthropic.claude-3-haiku-20240307-v1:0"
    with FakeProvider("bedrock", key=CANARY) as fake:
        ADAPTERS["bedrock"].complete(client, fake.target(), model=model, prompt="hi")
        assert (
            fake.requests[-1].path == "/model/anthropic.claude-3-haiku-20240307-v1%3A0"
            "/converse-stream"
        )
        assert fake.requests[-1].headers["authorization"] == f"Bearer {CANARY}"
        assert last_post(fake)["inferenceConfig"]["maxTokens"] >= 16


def test_bedrock_sigv4_requests_verify_at_the_fake(client: httpx.Client) -> None:
    secret = CANARY
    keys = {
        "access_key_id": "AKIDEXAMPLE",
        "secret_access_key": secret,
        "session_token": "session-token-value",
    }
    with FakeProvider("bedrock", key=None, **keys) as fake:  # type: ignore[arg-type]
        adapter = ADAPTERS["bedrock"]
        assert len(adapter.list_models(client, fake.target())) == 2
        done = adapter.complete(client, fake.target(), model=fake.models[0], prompt="hi")
        assert done.text == "Hello there"
        assert all(
            r.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
            and r.headers["x-amz-security-token"] == "session-token-value"
            for r in fake.requests
        )
        assert not any(
            secret in r.path or secret.encode() in r.body or secret in str(r.headers)
            for r in fake.requests
        )
        wrong = fake.target(config={**fake.target().config, "secret_access_key": "wrong-secret"})
        with pytest.raises(ProviderUnauthorized):
            adapter.probe(client, wrong)


def test_bedrock_without_credentials_is_unauthorized_before_any_request(
    client: httpx.Client,
) -> None:
    with FakeProvider("bedrock") as fake:
        with pytest.raises(ProviderUnauthorized):
            ADAPTERS["bedrock"].probe(client, fake.target(api_key=None))
        assert fake.requests == []


def test_bedrock_control_plane_host_comes_from_the_runtime_host() -> None:
    runtime = Target(
        provider_type="amazon_bedrock", base_url="https://bedrock-runtime.eu-west-1.amazonaws.com"
    )
    assert bedrock.control_base(runtime) == "https://bedrock.eu-west-1.amazonaws.com"
    assert bedrock.region(runtime) == "eu-west-1"
    proxy = Target(
        provider_type="amazon_bedrock",
        base_url="http://127.0.0.1:9/",
        config={"region": "ap-south-1"},
    )
    assert bedrock.control_base(proxy) == "http://127.0.0.1:9"
    assert bedrock.region(proxy) == "ap-south-1"


def test_vertex_exchanges_a_signed_jwt_once_and_reuses_the_token(client: httpx.Client) -> None:
    with FakeProvider("vertex", key=CANARY) as fake:
        adapter, target = ADAPTERS["vertex"], fake.target()
        adapter.probe(client, target)
        adapter.complete(client, target, model="gemini-2.5-pro", prompt="hi")
        routes = [r.route for r in fake.requests]
        assert routes.count("/token") == 1  # the fake verified the RS256 signature and claims
        api = [r for r in fake.requests if r.route != "/token"]
        assert all(r.headers["authorization"] == f"Bearer {CANARY}" for r in api)
        assert last_post(fake)["generationConfig"]["maxOutputTokens"] >= 1024
        fake.mode = "401"  # a refused token is forgotten, and the next call fetches a new one
        with pytest.raises(ProviderUnauthorized):
            adapter.probe(client, target)
        fake.mode = "success"
        adapter.probe(client, target)
        assert [r.route for r in fake.requests].count("/token") == 2


@pytest.mark.parametrize(
    "account",
    [
        "not json",
        '{"client_email": "a@b.c"}',
        '{"client_email": "a@b.c", "private_key": "garbage"}',
    ],
)
def test_vertex_with_an_unusable_service_account_is_unauthorized(
    account: str, client: httpx.Client
) -> None:
    with FakeProvider("vertex") as fake:
        target = fake.target(config={**fake.target().config, "service_account_json": account})
        with pytest.raises(ProviderUnauthorized) as caught:
            ADAPTERS["vertex"].probe(client, target)
        assert "garbage" not in str(caught.value)
        assert fake.requests == []


def test_vertex_token_endpoint_failures_are_translated(client: httpx.Client) -> None:
    from core.errors import ProviderBadResponse

    with FakeProvider("vertex", fail_token=True) as fake:  # type: ignore[arg-type]
        for mode, expected in (("401", ProviderUnauthorized), ("html", ProviderBadResponse)):
            fake.mode = mode
            with pytest.raises(expected):
                ADAPTERS["vertex"].probe(client, fake.target())


def test_cohere_sends_a_bearer_key_and_a_v2_chat(client: httpx.Client) -> None:
    with FakeProvider("cohere", key=CANARY) as fake:
        done = ADAPTERS["cohere"].complete(
            client, fake.target(base_url=fake.url + "/v1"), model="command-r-plus", prompt="hi"
        )
        assert fake.requests[-1].route == "/v2/chat"
        assert fake.requests[-1].headers["authorization"] == f"Bearer {CANARY}"
        assert (done.input_tokens, done.output_tokens) == (71, 3)


def test_retry_after_as_an_http_date_is_seconds_from_now(client: httpx.Client) -> None:
    from email.utils import format_datetime

    from core.errors import ProviderRateLimited

    later = datetime.now(UTC).replace(microsecond=0).timestamp() + 120
    with FakeProvider("anthropic", mode="429") as fake:
        fake.retry_after = format_datetime(datetime.fromtimestamp(later, UTC), usegmt=True)
        with pytest.raises(ProviderRateLimited) as caught:
            ADAPTERS["anthropic"].probe(client, fake.target())
        assert caught.value.retry_after is not None and 100 < caught.value.retry_after <= 120
