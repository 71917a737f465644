"""Credentials go to the configured origin only: every adapter, through the outbound guard,
against a fake that answers 307 to another origin (a second fake on another port).

The other origin must receive nothing: no key header, no SigV4 session token, no OAuth
assertion in a re-sent body, no ``?key=`` query; and the call fails with a refusal that
names where the redirect pointed, so neither health nor test connection can report that a
key works after its request was sent somewhere else.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from ipaddress import ip_network

import httpx
import pytest

from core.adapters import ADAPTERS
from core.adapters.base import Target
from core.errors import OutboundRefused, ProviderBadResponse
from core.outbound import OutboundPolicy, guarded_client
from tests.fakes import PROTOCOLS, FakeProvider

CANARY = f"sk-canary-{uuid.uuid4().hex}"
SESSION = f"session-canary-{uuid.uuid4().hex}"
LOOPBACK = OutboundPolicy(allowed_networks=(ip_network("127.0.0.0/8"),))
SIGV4 = {
    "access_key_id": "AKIDCANARY",
    "secret_access_key": f"secret-{uuid.uuid4().hex}",
    "session_token": SESSION,
}
# Every way an adapter authenticates (bedrock both ways; vertex's token endpoint moved too).
CASES = [*PROTOCOLS, "bedrock-sigv4", "vertex-token"]


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with guarded_client(LOOPBACK, deadline_s=2.0) as guarded:
        yield guarded


@pytest.fixture
def elsewhere() -> Iterator[FakeProvider]:
    """The other origin: records whatever reaches it."""
    with FakeProvider("openai", key=None) as other:
        yield other


def origin(case: str) -> FakeProvider:
    protocol, _, variant = case.partition("-")
    options = SIGV4 if variant == "sigv4" else {"fail_token": True} if variant == "token" else {}
    return FakeProvider(protocol, key=CANARY, **options)


def call(fake: FakeProvider, client: httpx.Client, operation: str) -> None:
    adapter = ADAPTERS[fake.protocol.name]
    target: Target = fake.target()
    if fake.protocol.name == "ollama":  # keyless by default; behind a proxy it has a bearer key
        target = fake.target(api_key=CANARY)
    if operation == "probe":
        adapter.probe(client, target)
    else:
        adapter.complete(client, target, model=fake.models[0], prompt="Say hi")


def leaked(other: FakeProvider) -> list[str]:
    found = []
    for request in other.requests:
        text = f"{request.path} {request.headers} {request.body!r}"
        found += [secret for secret in (CANARY, SESSION, "assertion", "key=") if secret in text]
    return found


@pytest.mark.parametrize("operation", ["probe", "complete"])
@pytest.mark.parametrize("case", CASES)
def test_a_redirect_to_another_origin_receives_no_credential(
    case: str, operation: str, client: httpx.Client, elsewhere: FakeProvider
) -> None:
    with origin(case) as fake:
        fake.moved_to = elsewhere.url
        fake.mode = "moved"
        with pytest.raises(OutboundRefused) as caught:
            call(fake, client, operation)
        assert fake.requests, "the configured origin was asked first"
    assert leaked(elsewhere) == []
    assert elsewhere.requests == []  # nothing at all: a request without its key proves nothing
    reason = caught.value.reason
    assert f"127.0.0.1:{elsewhere.port}" in reason and "another origin" in reason
    assert CANARY not in reason and SESSION not in reason


def test_a_keyless_request_still_follows_a_redirect(client: httpx.Client) -> None:
    # Nothing to protect (a local Ollama without a key): the redirect is followed as before.
    with FakeProvider("ollama", key=None) as fake, FakeProvider("ollama", key=None) as answering:
        fake.moved_to = answering.url
        fake.mode = "moved"
        result = ADAPTERS["ollama"].probe(client, fake.target())
    assert result.detail.endswith("listed") and answering.requests


def test_the_same_origin_keeps_the_credentials(client: httpx.Client) -> None:
    with FakeProvider("bedrock", key=CANARY, **SIGV4) as fake:
        fake.moved_to = fake.url  # a redirect within the origin (e.g. a moved path)
        fake.mode = "moved"
        with pytest.raises(ProviderBadResponse, match="more than 3 redirects"):  # forever
            ADAPTERS["bedrock"].probe(client, fake.target())
    assert len(fake.requests) == 4
    assert all(r.headers.get("x-amz-security-token") == SESSION for r in fake.requests)
