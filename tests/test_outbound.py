"""The outbound guard's address rules against real sockets on loopback: refusals make no
connection, allowed destinations work.

"No connection" is proven two ways: a listening socket that must have nothing queued for
accept() afterwards, and a spy on ``socket.socket.connect`` for addresses nobody can listen on.
"""

from __future__ import annotations

import ipaddress
import socket

import httpx
import pytest

from core.config import load_settings
from core.errors import (
    ConfigurationError,
    OutboundRefused,
    ProviderBadResponse,
)
from core.outbound import GuardedTransport, OutboundPolicy
from tests.support.outbound_servers import (
    EVERYTHING,
    LOOPBACK,
    MB,
    _Server,
    get,
    nothing_queued,
    serving,
)

# --- settings and the pure policy ------------------------------------------------------------


def test_allowed_networks_setting_is_parsed_and_validated() -> None:
    settings = load_settings(
        {"MODELDESK_ALLOWED_NETWORKS": "10.1.2.3/16, ::1  127.0.0.0/8"}, secrets_file=None
    )
    assert settings.allowed_networks == ("10.1.0.0/16", "::1/128", "127.0.0.0/8")
    policy = OutboundPolicy.from_settings(settings)
    assert policy.refusal("10.1.200.3") is None and policy.refusal("10.2.0.1")
    assert policy.trusted_hosts == frozenset()
    assert load_settings({}, secrets_file=None).allowed_networks == ()
    with pytest.raises(ConfigurationError, match="MODELDESK_ALLOWED_NETWORKS"):
        load_settings({"MODELDESK_ALLOWED_NETWORKS": "10.0.0.0/8,10.0.0/33"}, secrets_file=None)


def test_numeric_host_forms_resolve_as_the_os_parses_them() -> None:
    def first(host: str) -> str:
        return socket.getaddrinfo(host, 80, type=socket.SOCK_STREAM)[0][4][0]

    assert first("2852039166") == "169.254.169.254"
    assert first("127.1") == "127.0.0.1"
    assert first("0x7f.1") == "127.0.0.1"
    assert first("localhost") == "127.0.0.1"


NEVER = [
    "169.254.169.254",
    "169.254.0.1",
    "fe80::1",
    "fd00:ec2::254",
    "0.0.0.0",
    "::",
    "224.0.0.1",
    "ff02::1",
    "255.255.255.255",
    "240.0.0.1",
    "100.100.100.200",
    "::ffff:169.254.169.254",
    "::169.254.169.254",
    "64:ff9b::a9fe:a9fe",
    "2002:a9fe:a9fe::1",
    "::ffff:0.0.0.0",
]
UNLESS_ALLOWED = [
    "127.0.0.1",
    "127.9.9.9",
    "::1",
    "10.1.2.3",
    "172.16.0.1",
    "172.31.255.1",
    "192.168.1.1",
    "fc00::1",
    "fd12::1",
    "100.64.0.1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "2002:0a00:0001::1",
    "198.18.0.1",
]
PUBLIC = ["8.8.8.8", "1.1.1.1", "172.32.0.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("address", NEVER)
def test_some_addresses_are_refused_whatever_the_allowlist(address: str) -> None:
    assert OutboundPolicy().refusal(address)
    reason = EVERYTHING.refusal(address, host="h", port=80)
    assert reason and "never allowed" in reason
    assert OutboundPolicy(trusted_hosts=frozenset({"h:80"})).refusal(address, host="h", port=80)


@pytest.mark.parametrize("address", UNLESS_ALLOWED)
def test_loopback_and_private_addresses_need_the_allowlist(address: str) -> None:
    reason = OutboundPolicy().refusal(address)
    assert reason and "not in MODELDESK_ALLOWED_NETWORKS" in reason
    assert EVERYTHING.refusal(address) is None


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert OutboundPolicy().refusal(address) is None


def test_refusal_names_the_address_class() -> None:
    assert "link-local" in OutboundPolicy().refusal("169.254.169.254")
    assert "cloud metadata" in OutboundPolicy().refusal("fd00:ec2::254")
    assert "loopback" in OutboundPolicy().refusal("127.0.0.1", host="localhost")
    assert "private" in OutboundPolicy().refusal("192.168.0.10")
    assert "CGNAT" in OutboundPolicy().refusal("100.64.1.1")


def test_trusting_adds_exactly_one_host_and_port() -> None:
    policy = OutboundPolicy().trusting("http://LocalHost:11434/v1")
    assert policy.trusted_hosts == frozenset({"localhost:11434"})
    assert policy.refusal("127.0.0.1", host="localhost", port=11434) is None
    assert policy.refusal("127.0.0.1", host="localhost", port=11435)
    assert policy.refusal("127.0.0.1", host="127.0.0.1", port=11434)
    assert OutboundPolicy().trusting("https://[::1]/").trusted_hosts == frozenset({"[::1]:443"})
    assert OutboundPolicy().trusting("not a url") == OutboundPolicy()


# --- refusals through the client: no connection is made --------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/",
        "http://2852039166/",
        "http://[fd00:ec2::254]/",
        "https://169.254.169.254/",
        "http://[fe80::1%25eth0]/",
    ],
)
@pytest.mark.parametrize("policy", [OutboundPolicy(), EVERYTHING], ids=["default", "allow-all"])
def test_metadata_addresses_are_refused_without_connecting(
    url: str, policy: OutboundPolicy, connects: list[object]
) -> None:
    with pytest.raises(OutboundRefused, match="never allowed") as caught:
        get(policy, url)
    assert "link-local" in str(caught.value) or "metadata" in str(caught.value)
    assert connects == []


@pytest.mark.parametrize("host", ["127.1", "localhost", "127.0.0.1", "0x7f.1", "LOCALHOST"])
def test_loopback_spellings_are_refused_without_connecting(
    host: str, listener: socket.socket, connects: list[object]
) -> None:
    url = f"http://{host}:{listener.getsockname()[1]}/"
    with pytest.raises(OutboundRefused, match="loopback address not in MODELDESK_ALLOWED"):
        get(OutboundPolicy(), url)
    assert connects == []
    assert nothing_queued(listener)


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://127.0.0.1:{port}/",
        "gopher://127.0.0.1:{port}/_x",
        "dict://127.0.0.1:{port}/",
    ],
)
def test_other_schemes_are_refused_before_anything(
    url: str, listener: socket.socket, connects: list[object]
) -> None:
    with pytest.raises(OutboundRefused, match="only http and https URLs"):
        get(EVERYTHING, url.format(port=listener.getsockname()[1]))
    assert connects == [] and nothing_queued(listener)


def test_an_allowed_network_reaches_a_loopback_server(server: _Server) -> None:
    response = get(LOOPBACK, server.url())
    assert response.status_code == 200 and response.json() == {"ok": True}
    assert get(LOOPBACK, server.url(host="127.1")).status_code == 200
    assert get(LOOPBACK, server.url(host="localhost")).status_code == 200
    assert server.accepted == 3
    narrow = OutboundPolicy(allowed_networks=(ipaddress.ip_network("127.0.0.2/32"),))
    with pytest.raises(OutboundRefused):
        get(narrow, server.url())
    assert server.accepted == 3


class _V6Server(_Server):
    address_family = socket.AF_INET6


def test_ipv6_loopback_follows_the_same_rules() -> None:
    try:
        srv = _V6Server("::1")
    except OSError:
        pytest.skip("no IPv6 loopback here")
    with serving(srv) as running:
        url = f"http://[::1]:{running.port}/ok"
        assert get(LOOPBACK, url).json() == {"ok": True}
        with pytest.raises(OutboundRefused, match="loopback"):
            get(OutboundPolicy(), url)
        with pytest.raises(OutboundRefused, match="loopback"):  # allowing 127/8 is not ::1
            get(OutboundPolicy(allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),)), url)
        assert running.accepted == 1


def test_the_transport_guards_a_plain_httpx_client_too(server: _Server) -> None:
    transport = GuardedTransport(LOOPBACK, deadline_s=2.0, max_body_bytes=MB)
    with httpx.Client(transport=transport, follow_redirects=True) as client:
        assert client.get(server.url("/hop/2")).text == "arrived"
        assert server.accepted == 1  # three hops over one pooled connection
        with pytest.raises(OutboundRefused, match="link-local"):
            client.get(server.url("/redirect?to=http://169.254.169.254/"))
        with pytest.raises(ProviderBadResponse, match="larger than 1 MB"):
            client.get(server.url("/big-undeclared"))


def test_a_trusted_host_works_for_exactly_that_host_and_port(
    server: _Server, listener: socket.socket
) -> None:
    policy = OutboundPolicy().trusting(server.url("/"))
    assert get(policy, server.url()).json() == {"ok": True}
    with pytest.raises(OutboundRefused):  # same address, other port
        get(policy, f"http://127.0.0.1:{listener.getsockname()[1]}/")
    with pytest.raises(OutboundRefused):  # same port, another name for it
        get(policy, server.url(host="localhost"))
    assert server.accepted == 1 and nothing_queued(listener)
