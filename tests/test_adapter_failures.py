"""Every adapter against its fake provider in every failure mode: the right ProviderError
subclass, within the deadline, and the canary key in no exception text or log record.

Fast modes run through a plain ``httpx.Client`` (adapters must behave with any client);
the modes only the outbound guard can bound (hang, trickle, 50 MB, redirect to the
metadata address) run through ``core.outbound.guarded_client`` with a short deadline.
"""

from __future__ import annotations

import logging
import time
import traceback
import uuid
from collections.abc import Iterator
from ipaddress import ip_network

import httpx
import pytest

from core.adapters import ADAPTERS
from core.errors import (
    OutboundRefused,
    ProviderBadResponse,
    ProviderError,
    ProviderRateLimited,
    ProviderServerError,
    ProviderUnauthorized,
    ProviderUnreachable,
)
from tests.fakes import PROTOCOLS, FakeProvider

CANARY = f"sk-canary-{uuid.uuid4().hex}"
DEADLINE = 0.5  # seconds; the guard must end hang and trickle modes within it
SLACK = 1.0  # scheduling and teardown margin on a loaded machine

EXPECTED = {
    "401": ProviderUnauthorized,
    "403": ProviderUnauthorized,
    "429": ProviderRateLimited,
    "500": ProviderServerError,
    "html": ProviderBadResponse,
    "invalid_json": ProviderBadResponse,
    "wrong_shape": ProviderBadResponse,
    "huge": ProviderBadResponse,
    "redirect": ProviderBadResponse,  # a plain client does not follow: a redirect is no answer
    "refused": ProviderUnreachable,
    "echo_key": ProviderUnauthorized,
}
GUARDED = {
    "hang": ProviderUnreachable,
    "trickle": ProviderUnreachable,
    "huge": ProviderBadResponse,
    "redirect": OutboundRefused,
    "refused": ProviderUnreachable,
}
# Fragments that must never surface: the key itself and any long stretch of it.
FRAGMENTS = (CANARY, CANARY[:14], CANARY[-14:])


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, FakeProvider]]:
    """One fake per protocol for the module; each test sets the mode it needs."""
    started = {p: FakeProvider(p, key=CANARY).start() for p in PROTOCOLS}
    yield started
    for fake in started.values():
        fake.stop()


@pytest.fixture
def fake(request: pytest.FixtureRequest, fakes: dict[str, FakeProvider]) -> Iterator[FakeProvider]:
    provider = fakes[request.param]
    provider.mode = "success"
    yield provider
    provider.mode = "success"


@pytest.fixture(scope="module")
def plain() -> Iterator[httpx.Client]:
    """A plain client with a short timeout (built once: an SSL context costs ~50 ms)."""
    with httpx.Client(timeout=DEADLINE) as client:
        yield client


@pytest.fixture(scope="module")
def guarded() -> Iterator[httpx.Client]:
    """The outbound guard with loopback allowed and a short deadline per request."""
    outbound = pytest.importorskip("core.outbound")
    policy = outbound.OutboundPolicy(allowed_networks=(ip_network("127.0.0.0/8"),))
    with outbound.guarded_client(policy, deadline_s=DEADLINE) as client:
        yield client


def call(fake: FakeProvider, client: httpx.Client, operation: str) -> None:
    adapter = ADAPTERS[fake.protocol.name]
    if operation == "probe":
        adapter.probe(client, fake.target())
    else:
        adapter.complete(client, fake.target(), model=fake.models[0], prompt="Say hi")


def assert_clean(exc: BaseException, caplog: pytest.LogCaptureFixture) -> None:
    texts = [
        str(exc),
        repr(exc),
        getattr(exc, "reason", ""),
        caplog.text,
        "".join(traceback.format_exception(exc)),
    ]
    for text in texts:
        for fragment in FRAGMENTS:
            assert fragment not in text


def run(
    fake: FakeProvider,
    client: httpx.Client,
    operation: str,
    expected: type[ProviderError],
    caplog: pytest.LogCaptureFixture,
    limit: float,
) -> ProviderError:
    caplog.set_level(logging.DEBUG)
    started = time.perf_counter()
    with pytest.raises(ProviderError) as caught:
        call(fake, client, operation)
    elapsed = time.perf_counter() - started
    assert type(caught.value) is expected, f"{caught.value!r}"
    assert elapsed < limit, f"took {elapsed:.2f} s"
    assert caught.value.reason and len(caught.value.reason) <= 200
    assert_clean(caught.value, caplog)
    return caught.value


ALL = pytest.mark.parametrize("fake", PROTOCOLS, indirect=True)


@ALL
@pytest.mark.parametrize("operation", ["probe", "complete"])
@pytest.mark.parametrize("mode", sorted(EXPECTED))
def test_failure_mode_with_a_plain_client(
    fake: FakeProvider,
    operation: str,
    mode: str,
    plain: httpx.Client,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake.mode = mode
    error = run(fake, plain, operation, EXPECTED[mode], caplog, DEADLINE + SLACK)
    if mode == "429":
        assert error.retry_after == 7
    if mode in ("401", "403", "429", "500"):
        assert error.status_code == int(mode)


@ALL
@pytest.mark.parametrize("operation", ["probe", "complete"])
@pytest.mark.parametrize("mode", sorted(GUARDED))
def test_failure_mode_through_the_guard(
    fake: FakeProvider,
    operation: str,
    mode: str,
    guarded: httpx.Client,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake.mode = mode
    run(fake, guarded, operation, GUARDED[mode], caplog, DEADLINE + SLACK)


@ALL
def test_a_stream_that_stalls_midway_ends_at_the_deadline(
    fake: FakeProvider, guarded: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    fake.stream_delay = 5.0  # the first chunk arrives, the rest would take seconds each
    try:
        run(fake, guarded, "complete", ProviderUnreachable, caplog, DEADLINE + SLACK)
    finally:
        fake.stream_delay = 0.0


@ALL
def test_an_error_event_inside_a_stream_is_translated(
    fake: FakeProvider, plain: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    fake.mode = "stream_error"
    expected = ProviderRateLimited if fake.protocol.name == "bedrock" else ProviderServerError
    run(fake, plain, "complete", expected, caplog, DEADLINE + SLACK)


@pytest.mark.parametrize(
    "fake",
    [p for p in PROTOCOLS if p != "ollama"],  # Ollama: no auth
    indirect=True,
)
def test_a_wrong_key_is_unauthorized(
    fake: FakeProvider, plain: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    adapter = ADAPTERS[fake.protocol.name]
    wrong = "sk-wrong-" + uuid.uuid4().hex
    target = fake.target(api_key=wrong)
    if fake.protocol.name == "vertex":  # a service-account key the token endpoint rejects
        target = fake.target(
            config={**target.config, "service_account_json": rsa_service_account(fake)}
        )
    with pytest.raises(ProviderUnauthorized) as caught:
        adapter.probe(plain, target)
    assert wrong not in str(caught.value) and wrong[:14] not in str(caught.value)
    assert_clean(caught.value, caplog)


def rsa_service_account(fake: FakeProvider) -> str:
    """A well-formed service-account key the fake token endpoint will reject."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return fake.service_account_json(private_key=pem)


@ALL
def test_an_unknown_model_is_model_missing(
    fake: FakeProvider, plain: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    from core.errors import ProviderModelMissing

    adapter = ADAPTERS[fake.protocol.name]
    target = fake.target()  # Azure: the model names the deployment, whatever the default
    with pytest.raises(ProviderModelMissing) as caught:
        adapter.complete(plain, target, model="no-such-model", prompt="hi")
    assert caught.value.status_code in (400, 404)
    assert_clean(caught.value, caplog)
