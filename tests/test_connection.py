"""Test connection (core.probes.connection) through the real adapters and the real outbound guard
against fake providers on loopback (tests/fakes): every protocol's ok and refused key, each
failure mode as one sentence, refused addresses, invalid form values, the stored-key path,
the deep test, and a canary key that appears in no report and no log record."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from core.config import load_settings
from core.probes import connection
from core.startup import Runtime
from core.store.tables import User
from tests.fakes import METADATA_URL, PROTOCOLS, FakeProvider, closed_port_url
from tests.support import factories as f

CANARY = "sk-CANARY-4b1e8d2f9a7c3e5d"
PAID = (
    "/chat/completions",
    "/messages",
    "generateContent",
    "/converse",
    "/invoke",
    "/chat",
    "/api/generate",
)


def loopback_settings(allowed: str = "127.0.0.0/8", deadline: str = "2") -> Any:
    """Settings whose guard may reach loopback (the fakes), with a short deadline."""
    return load_settings(
        {
            "MODELDESK_ENV": "test",
            "MODELDESK_ALLOWED_NETWORKS": allowed,
            "MODELDESK_HEALTH_DEADLINE": deadline,
        },
        secrets_file=None,
    )


def form_of(fake: FakeProvider) -> dict[str, Any]:
    """What an add form holding the fake's settings would pass."""
    target = fake.target()
    return {
        "provider_type": target.provider_type,
        "api_key": target.api_key,
        "config": dict(target.config),
    }


def run(fake: FakeProvider, settings: Any = None, **kw: Any) -> connection.ConnectionReport:
    return connection.test_connection(settings or loopback_settings(), **{**form_of(fake), **kw})


def host_of(fake: FakeProvider) -> str:
    return f"127.0.0.1:{fake.port}"


@pytest.fixture
def openai() -> Iterator[FakeProvider]:
    with FakeProvider("openai", key=CANARY, models=("gpt-4o", "gpt-4o-mini")) as fake:
        yield fake


# --- Every protocol: a probe is a listing, and a refused key says so --------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_every_protocol_connects_with_a_listing_only(protocol: str) -> None:
    with FakeProvider(protocol, key=CANARY) as fake:
        report = run(fake)
    assert (report.ok, report.status) == (True, "ok"), report
    works = "it answers" if protocol == "ollama" else "the key works"  # Ollama takes no key
    assert report.message == f"Connected to {host_of(fake)}: {works}."
    assert report.detail and report.latency_ms is not None
    assert not [r.path for r in fake.requests if any(p in r.route for p in PAID)]


def test_a_keyless_endpoint_only_answers() -> None:
    with FakeProvider("ollama", key=None) as fake:
        report = run(fake, api_key="")
    assert report.message == f"Connected to {host_of(fake)}: it answers."


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_every_protocol_reports_a_refused_key(protocol: str) -> None:
    with FakeProvider(protocol, key=CANARY, mode="401") as fake:
        report = run(fake)
    assert (report.ok, report.status, report.message) == (
        False,
        "unauthorized",
        "The key was refused (HTTP 401).",
    )


# --- Failure modes: one sentence each ----------------------------------------------------


@pytest.mark.parametrize(
    "mode, status, expected",
    [
        ("403", "unauthorized", "The key was refused (HTTP 403)."),
        (
            "429",
            "rate_limited",
            "The provider is rate limiting this key (HTTP 429); retry after 7 s.",
        ),
        ("500", "server_error", "The provider failed on its side (HTTP 500)."),
        ("html", "bad_response", "{host} answered, but not with the expected API response: "),
        ("invalid_json", "bad_response", "{host} answered, but not with the expected API response"),
        ("wrong_shape", "bad_response", "{host} answered, but not with the expected API response"),
        ("huge", "bad_response", "{host} answered, but not with the expected API response"),
        ("hang", "unreachable", "{host} did not answer within 1 s."),
        ("trickle", "unreachable", "{host} did not answer within 1 s."),
        # A request carrying a key is never followed to another origin, metadata address or not.
        (
            "redirect",
            "refused",
            "The provider redirected to 169.254.169.254:80, another origin; "
            "credentials are only sent to the configured endpoint",
        ),
        ("refused", "unreachable", "Could not connect to {host}: connection refused."),
    ],
)
def test_failure_modes_say_exactly_what_failed(
    openai: FakeProvider, mode: str, status: str, expected: str
) -> None:
    openai.mode = mode
    started = time.monotonic()
    report = run(openai, settings=loopback_settings(deadline="1"))
    assert time.monotonic() - started < 3  # the deadline holds, even against a trickle
    assert (report.ok, report.status) == (False, status), report
    assert report.message.startswith(expected.format(host=host_of(openai)))
    assert report.message.endswith(".") and "\n" not in report.message


@pytest.mark.parametrize(
    "url, shown",
    [
        (METADATA_URL, "169.254.169.254"),
        ("http://[::ffff:169.254.169.254]/v1", "::ffff:169.254.169.254"),
    ],
)
def test_metadata_address_is_refused_even_when_everything_is_allowed(url: str, shown: str) -> None:
    report = connection.test_connection(
        loopback_settings(allowed="0.0.0.0/0,::/0"),
        provider_type="openai",
        api_key=CANARY,
        config={"base_url": url},
    )
    assert (report.ok, report.status, report.message) == (
        False,
        "refused",
        f"The address {shown} is not allowed (link-local / cloud metadata).",
    )


def test_a_redirect_elsewhere_never_reports_that_the_key_works(openai: FakeProvider) -> None:
    with FakeProvider("openai", key=None) as elsewhere:  # it would answer anyone
        openai.moved_to, openai.mode = elsewhere.url, "moved"
        report = run(openai)
    assert (report.ok, report.status, elsewhere.requests) == (False, "refused", [])
    assert report.message.startswith(
        f"The provider redirected to {host_of(elsewhere)}, another origin"
    )


def test_loopback_is_refused_unless_allowed(openai: FakeProvider) -> None:
    plain = load_settings({"MODELDESK_ENV": "test"}, secrets_file=None)
    refused, allowed = run(openai, settings=plain), run(openai)
    assert (refused.status, allowed.status) == ("refused", "ok")
    assert refused.message == (
        "The address 127.0.0.1 is not allowed (loopback; not in MODELDESK_ALLOWED_NETWORKS)."
    )
    assert "MODELDESK_ALLOWED_NETWORKS" in (refused.detail or "")
    assert len(openai.requests) == 1  # the refused test never connected


@pytest.mark.parametrize(
    "provider_type, key, config, expected",
    [
        (
            "openai",
            CANARY,
            {"base_url": "ftp://example.com/v1"},
            "The base URL must start with http:// or https://.",
        ),
        ("openai", "", {}, "OpenAI needs an API key."),
        ("openai", "sk-two\nlines-000000", {}, "The API key must be a single line"),
        ("azure_openai", CANARY, {"deployment_id": "d"}, "Azure OpenAI needs 'resource_name'"),
        ("openai_compatible", CANARY, {}, "needs 'base_url'"),
        ("nonsense", CANARY, {}, "Unknown provider type 'nonsense'"),
    ],
)
def test_invalid_form_values_are_reported_without_a_request(
    provider_type: str, key: str, config: dict, expected: str
) -> None:
    def never() -> httpx.Client:
        raise AssertionError("no request may be made for invalid values")

    report = connection.test_connection(
        loopback_settings(),
        provider_type=provider_type,
        api_key=key,
        config=config,
        client_factory=never,
    )
    assert (report.ok, report.status) == (False, "invalid")
    assert expected in report.message


# --- The stored key (an edit form whose key field is left empty) ------------------------


@pytest.fixture
def seeded(runtime: Runtime, openai: FakeProvider) -> dict[str, Any]:
    with runtime.sessions.begin() as s:
        alice, bob = f.user(s, "alice", "admin"), f.user(s, "bob")
        prov = f.provider(
            s, alice, "Fake", api_key=CANARY, provider_config={"base_url": openai.base_url}
        )
        return {"fake": openai, "rt": runtime, "alice": alice.id, "bob": bob.id, "pid": prov.id}


def stored(seeded: dict[str, Any], username: str, key: str = "", **kw: Any) -> Any:
    kw.setdefault("config", {"base_url": seeded["fake"].base_url})
    with seeded["rt"].sessions() as s:
        return connection.test_connection(
            loopback_settings(),
            provider_type="openai",
            api_key=key,
            stored_provider_id=seeded["pid"],
            actor=s.get(User, seeded[username]),
            session=s,
            **kw,
        )


def test_empty_key_with_a_stored_provider_uses_the_stored_key(seeded: dict[str, Any]) -> None:
    assert stored(seeded, "alice").status == "ok"  # the fake accepts only the stored key
    assert stored(seeded, "alice", key="sk-typed-instead-0000").status == "unauthorized"


def test_a_stored_key_is_only_sent_to_the_saved_endpoint(seeded: dict[str, Any]) -> None:
    with FakeProvider("openai", key=None) as unsaved:  # it would answer anyone
        report = stored(seeded, "alice", config={"base_url": unsaved.base_url})
        assert (report.ok, report.status) == (False, "invalid")
        assert report.message == (
            f"The stored key is only sent to the saved endpoint ({host_of(seeded['fake'])}): "
            f"type the key again to test {host_of(unsaved)}."
        )
        assert unsaved.requests == [] and seeded["fake"].requests == []
        typed = stored(
            seeded, "alice", key="sk-typed-for-the-new-url", config={"base_url": unsaved.base_url}
        )
    assert typed.status == "ok"
    assert [r.headers.get("authorization") for r in unsaved.requests] == [
        "Bearer sk-typed-for-the-new-url"
    ]


def never_called() -> httpx.Client:
    raise AssertionError("no request may be made")


@pytest.mark.parametrize(
    "provider_type, saved, edited",
    [
        # Fields the endpoint is built from change the host as surely as the base URL does.
        (
            "azure_openai",
            {"resource_name": "acme", "deployment_id": "d"},
            {"resource_name": "evil", "deployment_id": "d"},
        ),
        (
            "amazon_bedrock",
            {
                "region": "us-east-1",
                "access_key_id": "AKIA1",
                "secret_access_key": "SECRET-canary-1",
            },
            {"region": "eu-west-1", "access_key_id": "AKIA1"},
        ),
        (
            "google_vertex",
            {
                "project_id": "p",
                "location": "us-central1",
                "service_account_json": '{"client_email": "a@b", "private_key": "k"}',
            },
            {"project_id": "p", "location": "europe-west4"},
        ),
    ],
)
def test_stored_secrets_never_follow_an_edited_endpoint_field(
    runtime: Runtime, provider_type: str, saved: dict, edited: dict
) -> None:
    with runtime.sessions.begin() as s:
        alice = f.user(s, "alice", "admin")
        key = CANARY if provider_type == "azure_openai" else None
        pid = f.provider(
            s, alice, "Saved", provider_type=provider_type, api_key=key, provider_config=saved
        ).id
    with runtime.sessions() as s:
        actor = s.get(User, alice.id)
        report = connection.test_connection(
            loopback_settings(),
            provider_type=provider_type,
            api_key="",
            config=edited,
            stored_provider_id=pid,
            actor=actor,
            session=s,
            client_factory=never_called,
        )
        same = connection.build_target(
            provider_type=provider_type,
            api_key=None,
            config={k: v for k, v in saved.items() if k in edited},
            stored_provider_id=pid,
            actor=actor,
            session=s,
        )
    assert report.status == "invalid"
    assert report.message.startswith("The stored key is only sent to the saved endpoint (")
    assert same.secrets()  # the saved endpoint still gets the stored secrets


def test_a_typed_key_for_an_edited_endpoint_takes_no_stored_secret(runtime: Runtime) -> None:
    saved = {
        "region": "us-east-1",
        "access_key_id": "AKIA1",
        "secret_access_key": "SECRET-canary-1",
        "session_token": "TOKEN-canary-1",
    }
    with runtime.sessions.begin() as s:
        alice = f.user(s, "alice", "admin")
        pid = f.provider(
            s, alice, "Saved", provider_type="amazon_bedrock", api_key=None, provider_config=saved
        ).id
    with runtime.sessions() as s:
        target = connection.build_target(
            provider_type="amazon_bedrock",
            api_key="bedrock-api-key-typed",
            config={"region": "eu-west-1", "access_key_id": "AKIA1"},
            stored_provider_id=pid,
            actor=s.get(User, alice.id),
            session=s,
        )
    assert target.api_key == "bedrock-api-key-typed"
    assert target.config == {"region": "eu-west-1", "access_key_id": "AKIA1"}


def test_stored_key_needs_a_user_who_may_manage_the_provider(seeded: dict[str, Any]) -> None:
    report = stored(seeded, "bob")
    assert (report.status, report.message) == ("invalid", "You can only change a provider you own.")
    assert seeded["fake"].requests == []


# --- Deep test: one short completion, admins only ---------------------------------------


def test_deep_test_runs_one_completion(seeded: dict[str, Any]) -> None:
    report = stored(seeded, "alice", deep=True, model="gpt-4o-mini")
    assert (report.ok, report.status, report.preview, report.model) == (
        True,
        "ok",
        "Hello there",
        "gpt-4o-mini",
    )
    assert "'gpt-4o-mini' answered in" in report.message
    assert [r.route for r in seeded["fake"].requests] == ["/v1/models", "/v1/chat/completions"]


def test_azure_deep_test_calls_the_named_models_deployment(runtime: Runtime) -> None:
    with runtime.sessions.begin() as s:
        alice = f.user(s, "alice", "admin")
    with (
        FakeProvider("azure_openai", key=CANARY, models=("dep-gpt4o", "gpt-4o-mini")) as fake,
        runtime.sessions() as s,
    ):
        report = connection.test_connection(
            loopback_settings(),
            provider_type="azure_openai",
            api_key=CANARY,
            config={"base_url": fake.base_url, "deployment_id": "dep-gpt4o"},
            actor=s.get(User, alice.id),
            session=s,
            deep=True,
            model="gpt-4o-mini",
        )
    assert report.ok, report
    assert fake.requests[-1].route == "/openai/deployments/gpt-4o-mini/chat/completions"


def test_deep_test_of_a_missing_model(seeded: dict[str, Any]) -> None:
    report = stored(seeded, "alice", deep=True, model="gpt-9")
    assert (report.ok, report.status) == (False, "model_missing")
    assert report.message == (
        "The key works, but the test completion failed: The model "
        f"'gpt-9' does not exist at {host_of(seeded['fake'])}."
    )


def test_deep_test_is_for_admins_and_needs_a_model(seeded: dict[str, Any]) -> None:
    assert stored(seeded, "alice", deep=True).message == "Name the model for the test completion."
    member = stored(seeded, "bob", deep=True, model="gpt-4o")
    assert (member.status, member.message) == ("invalid", "Only admins can run a test completion.")
    assert seeded["fake"].requests == []


# --- The canary key goes nowhere --------------------------------------------------------


class Exploding:
    """An adapter with a bug whose exception text carries the key."""

    protocol = "openai"

    def probe(self, client: httpx.Client, target: Any) -> Any:
        raise RuntimeError(f"adapter bug with {target.api_key} and ?key={target.api_key}")


@pytest.mark.parametrize(
    "mode",
    [
        "success",
        "echo_key",
        "401",
        "500",
        "html",
        "redirect",
        "refused",
        "hang",
        "bug",
        "deep-404",
        "deep-stream_error",
    ],
)
def test_canary_key_is_in_no_report_and_no_log(
    mode: str, caplog: pytest.LogCaptureFixture, seeded: dict[str, Any]
) -> None:
    caplog.set_level(logging.DEBUG)
    kw: dict[str, Any] = {}
    if mode == "bug":
        kw["adapter"] = Exploding()
    elif mode.startswith("deep-"):
        seeded["fake"].mode = mode.removeprefix("deep-").replace("404", "success")
        kw.update(deep=True, model="gpt-4o" if mode.endswith("error") else f"gpt-{CANARY}")
    else:
        seeded["fake"].mode = mode
    report = stored(seeded, "alice", **kw)
    assert report.ok is (mode == "success"), report
    logged = "\n".join(f"{r.getMessage()} {r.exc_text or ''} {r.args!r}" for r in caplog.records)
    assert CANARY not in repr(report) + logged
    if mode == "refused":
        report = connection.test_connection(
            loopback_settings(),
            provider_type="openai",
            api_key=CANARY,
            config={"base_url": closed_port_url()},
        )
        assert CANARY not in repr(report)
