"""The outbound guard against real sockets on loopback: refusals make no connection,
allowed destinations work, and deadline, body cap and redirects hold against hostile servers.

"No connection" is proven two ways: a listening socket that must have nothing queued for
accept() afterwards, and a spy on ``socket.socket.connect`` for addresses nobody can listen on.
"""

from __future__ import annotations

import contextlib
import datetime
import gzip
import ipaddress
import json
import logging
import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from core.config import load_settings
from core.errors import (
    ConfigurationError,
    OutboundRefused,
    ProviderBadResponse,
    ProviderError,
    ProviderUnreachable,
)
from core.outbound import GuardedTransport, OutboundPolicy, guarded_client

MB = 1024 * 1024
CANARY = "sk-canary-5f2b9c0e7d1a4b3c"
LOOPBACK = OutboundPolicy(allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),
                                            ipaddress.ip_network("::1/128")))
EVERYTHING = OutboundPolicy(allowed_networks=(ipaddress.ip_network("0.0.0.0/0"),
                                              ipaddress.ip_network("::/0")))
GZIP_BOMB = gzip.compress(b"\0" * 50 * MB, compresslevel=9)


# --- servers the tests start ------------------------------------------------------------------

class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes = b"", **headers: str) -> None:
        self.send_response(status)
        for name, value in {"Content-Length": str(len(body)), **headers}.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def _stream(self, total: int, *, declare: bool) -> None:
        self.send_response(200)
        if declare:
            self.send_header("Content-Length", str(total))
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        chunk = b"x" * 65536
        for _ in range(total // len(chunk)):
            self.wfile.write(chunk)
            self.server.body_bytes += len(chunk)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        self.server.paths.append(url.path)
        if url.path == "/ok":
            self._send(200, b'{"ok": true}', Content_Type="application/json")
        elif url.path == "/headers":
            self._send(200, json.dumps({k.lower(): v for k, v in self.headers.items()}).encode())
        elif url.path == "/redirect":
            self._send(302, Location=query["to"])
        elif url.path.startswith("/hop/"):
            left = int(url.path.rsplit("/", 1)[1])
            time.sleep(float(query.get("sleep", 0)))
            if left:
                self._send(302, Location=f"/hop/{left - 1}?{url.query}")
            else:
                self._send(200, b"arrived")
        elif url.path == "/big":
            self._stream(50 * MB, declare=True)
        elif url.path == "/big-undeclared":
            self._stream(50 * MB, declare=False)
        elif url.path == "/gzip-bomb":
            self._send(200, GZIP_BOMB, Content_Encoding="gzip")
        elif url.path == "/gzip-json":
            self._send(200, gzip.compress(b'{"models": [1, 2]}'), Content_Encoding="gzip")
        else:
            self._send(404, b"no such path")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str = "127.0.0.1") -> None:
        super().__init__((host, 0), _Handler)
        self.accepted, self.paths, self.body_bytes = 0, [], 0

    def get_request(self):
        self.accepted += 1
        return super().get_request()

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients hang up on purpose (body cap, deadline)

    @property
    def port(self) -> int:
        return self.server_address[1]

    def url(self, path: str = "/ok", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


@contextlib.contextmanager
def serving(srv: _Server) -> Iterator[_Server]:
    """Serve srv in a thread for the duration of the block."""
    threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.fixture
def server() -> Iterator[_Server]:
    with serving(_Server()) as srv:
        yield srv


class _Trickle(socketserver.BaseRequestHandler):
    """Answers one byte a second: in the status line and headers, or in the body."""

    def handle(self) -> None:
        self.request.recv(65536)
        head = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
        if self.server.mode == "body":
            self.request.sendall(head)
        data = head + b"x" * 100 if self.server.mode == "headers" else b"x" * 100
        if self.server.mode == "hang":
            data = b""
            self.server.stop.wait(30)
        for byte in data:
            if self.server.stop.wait(1.0):
                return
            try:
                self.request.sendall(bytes([byte]))
            except OSError:
                return


@pytest.fixture
def trickle() -> Iterator[socketserver.ThreadingTCPServer]:
    srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Trickle)
    srv.daemon_threads, srv.stop, srv.mode = True, threading.Event(), "headers"
    threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True).start()
    yield srv
    srv.stop.set()
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A listening socket on 127.0.0.1 nobody accepts on: a connection would queue."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield sock
    sock.close()


def nothing_queued(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        sock.accept()[0].close()
    except BlockingIOError:
        return True
    return False


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every address a socket.connect was attempted to (still connecting for real)."""
    seen: list[object] = []
    real = socket.socket.connect

    def spy(self: socket.socket, address: object) -> None:
        seen.append(address)
        return real(self, address)

    monkeypatch.setattr(socket.socket, "connect", spy)
    return seen


def get(policy: OutboundPolicy, url: str, *, deadline_s: float = 5.0,
        max_body_bytes: int = 5 * MB, **kwargs: object) -> httpx.Response:
    with guarded_client(policy, deadline_s=deadline_s, max_body_bytes=max_body_bytes) as c:
        return c.get(url, **kwargs)


# --- settings and the pure policy ------------------------------------------------------------

def test_allowed_networks_setting_is_parsed_and_validated() -> None:
    settings = load_settings({"MODELDESK_ALLOWED_NETWORKS": "10.1.2.3/16, ::1  127.0.0.0/8"},
                             secrets_file=None)
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


NEVER = ["169.254.169.254", "169.254.0.1", "fe80::1", "fd00:ec2::254", "0.0.0.0", "::",
         "224.0.0.1", "ff02::1", "255.255.255.255", "240.0.0.1", "100.100.100.200",
         "::ffff:169.254.169.254", "::169.254.169.254", "64:ff9b::a9fe:a9fe",
         "2002:a9fe:a9fe::1", "::ffff:0.0.0.0"]
UNLESS_ALLOWED = ["127.0.0.1", "127.9.9.9", "::1", "10.1.2.3", "172.16.0.1", "172.31.255.1",
                  "192.168.1.1", "fc00::1", "fd12::1", "100.64.0.1", "::ffff:127.0.0.1",
                  "::ffff:10.0.0.1", "2002:0a00:0001::1", "198.18.0.1"]
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

@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/",
                                 "http://[::ffff:169.254.169.254]/",
                                 "http://2852039166/", "http://[fd00:ec2::254]/",
                                 "https://169.254.169.254/", "http://[fe80::1%25eth0]/"])
@pytest.mark.parametrize("policy", [OutboundPolicy(), EVERYTHING], ids=["default", "allow-all"])
def test_metadata_addresses_are_refused_without_connecting(
        url: str, policy: OutboundPolicy, connects: list[object]) -> None:
    with pytest.raises(OutboundRefused, match="never allowed") as caught:
        get(policy, url)
    assert "link-local" in str(caught.value) or "metadata" in str(caught.value)
    assert connects == []


@pytest.mark.parametrize("host", ["127.1", "localhost", "127.0.0.1", "0x7f.1", "LOCALHOST"])
def test_loopback_spellings_are_refused_without_connecting(
        host: str, listener: socket.socket, connects: list[object]) -> None:
    url = f"http://{host}:{listener.getsockname()[1]}/"
    with pytest.raises(OutboundRefused, match="loopback address not in MODELDESK_ALLOWED"):
        get(OutboundPolicy(), url)
    assert connects == []
    assert nothing_queued(listener)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1:{port}/",
                                 "gopher://127.0.0.1:{port}/_x", "dict://127.0.0.1:{port}/"])
def test_other_schemes_are_refused_before_anything(
        url: str, listener: socket.socket, connects: list[object]) -> None:
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
        server: _Server, listener: socket.socket) -> None:
    policy = OutboundPolicy().trusting(server.url("/"))
    assert get(policy, server.url()).json() == {"ok": True}
    with pytest.raises(OutboundRefused):  # same address, other port
        get(policy, f"http://127.0.0.1:{listener.getsockname()[1]}/")
    with pytest.raises(OutboundRefused):  # same port, another name for it
        get(policy, server.url(host="localhost"))
    assert server.accepted == 1 and nothing_queued(listener)


# --- redirects --------------------------------------------------------------------------------

def test_a_redirect_to_the_metadata_address_is_refused(server: _Server,
                                                        connects: list[object]) -> None:
    url = server.url("/redirect?to=http://169.254.169.254/latest/meta-data/iam/")
    with pytest.raises(OutboundRefused, match="link-local"):
        get(LOOPBACK, url)
    assert server.paths == ["/redirect"]
    assert [address[0] for address in connects] == ["127.0.0.1"]  # the server, nothing else


def test_a_redirect_from_a_trusted_host_gets_no_trust(server: _Server,
                                                      listener: socket.socket) -> None:
    target = f"http://127.0.0.1:{listener.getsockname()[1]}/"
    with pytest.raises(OutboundRefused, match="loopback"):
        get(OutboundPolicy().trusting(server.url("/")), server.url(f"/redirect?to={target}"))
    assert nothing_queued(listener)


def test_a_redirect_to_another_scheme_is_refused(server: _Server) -> None:
    with pytest.raises(OutboundRefused):
        get(LOOPBACK, server.url("/redirect?to=file:///etc/passwd"))


def test_at_most_three_redirects_are_followed(server: _Server) -> None:
    assert get(LOOPBACK, server.url("/hop/3")).text == "arrived"
    with pytest.raises(ProviderBadResponse, match="more than 3 redirects"):
        get(LOOPBACK, server.url("/hop/4"))


def test_keys_are_dropped_when_a_redirect_leaves_the_origin(server: _Server) -> None:
    keys = {"Authorization": f"Bearer {CANARY}", "api-key": CANARY, "x-api-key": CANARY,
            "x-goog-api-key": CANARY}
    same = get(LOOPBACK, server.url("/redirect?to=/headers"), headers={**keys, "X-Other": "1"})
    assert {k.lower() for k in keys} <= set(same.json())  # same origin: kept
    elsewhere = server.url("/headers", host="localhost")
    moved = get(LOOPBACK, server.url(f"/redirect?to={elsewhere}"),
                headers={**keys, "X-Other": "1"})
    assert moved.json()["x-other"] == "1" and CANARY not in moved.text


# --- deadline ---------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["headers", "body", "hang"])
def test_a_trickling_server_cannot_hold_a_request_past_its_deadline(
        trickle: socketserver.ThreadingTCPServer, mode: str) -> None:
    trickle.mode = mode
    started = time.monotonic()
    with pytest.raises(ProviderUnreachable, match="1.5 s deadline"):
        get(LOOPBACK, f"http://127.0.0.1:{trickle.server_address[1]}/", deadline_s=1.5)
    assert 1.4 < time.monotonic() - started < 2.5


def test_a_streamed_body_keeps_the_deadline(trickle: socketserver.ThreadingTCPServer) -> None:
    trickle.mode = "body"
    url = f"http://127.0.0.1:{trickle.server_address[1]}/"
    started = time.monotonic()
    with guarded_client(LOOPBACK, deadline_s=1.5) as client, client.stream("GET", url) as resp:
        assert resp.status_code == 200
        with pytest.raises(ProviderUnreachable):
            resp.read()
    assert time.monotonic() - started < 2.5


def test_one_deadline_covers_all_redirect_hops(server: _Server) -> None:
    # Each hop takes 0.4 s: fine per hop, too slow for a 1 s deadline over four of them.
    assert get(LOOPBACK, server.url("/hop/1?sleep=0.4"), deadline_s=1.0).text == "arrived"
    started = time.monotonic()
    with pytest.raises(ProviderUnreachable, match="deadline"):
        get(LOOPBACK, server.url("/hop/3?sleep=0.4"), deadline_s=1.0)
    assert time.monotonic() - started < 1.5


# --- body cap ---------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/big", "/big-undeclared", "/gzip-bomb"])
def test_a_50_mb_body_is_cut_off_early(server: _Server, path: str) -> None:
    started = time.monotonic()
    with pytest.raises(ProviderBadResponse, match="response larger than 1 MB"):
        get(LOOPBACK, server.url(path), max_body_bytes=MB)
    assert time.monotonic() - started < 1.5
    assert server.body_bytes < 40 * MB  # the server never got to send it all


def test_a_body_under_the_cap_arrives_whole_and_decompressed(server: _Server) -> None:
    assert len(get(LOOPBACK, server.url("/gzip-json"), max_body_bytes=100).content) == 18
    assert get(LOOPBACK, server.url("/gzip-json")).json() == {"models": [1, 2]}


# --- failures become ProviderUnreachable ------------------------------------------------------

def test_connection_refused_is_unreachable_at_once() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    started = time.monotonic()
    with pytest.raises(ProviderUnreachable, match="cannot connect to 127.0.0.1") as caught:
        get(LOOPBACK, f"http://127.0.0.1:{port}/")
    assert not isinstance(caught.value, OutboundRefused)
    assert time.monotonic() - started < 1.0


def test_an_unknown_host_is_unreachable_within_the_deadline() -> None:
    started = time.monotonic()
    with pytest.raises(ProviderUnreachable, match="nonexistent.invalid"):
        get(OutboundPolicy(), "http://nonexistent.invalid/", deadline_s=2.0)
    assert time.monotonic() - started < 3.0


def _self_signed(tmp_path: Path) -> ssl.SSLContext:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), False)
            .sign(key, hashes.SHA256()))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    return context


def test_an_untrusted_certificate_is_unreachable(server: _Server, tmp_path: Path) -> None:
    context = _self_signed(tmp_path)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    with pytest.raises(ProviderUnreachable, match="TLS with localhost failed: .*certificate verify failed"):
        get(LOOPBACK, f"https://localhost:{server.port}/ok")


# --- secrets ----------------------------------------------------------------------------------

def test_a_canary_key_is_in_no_message_or_log(server: _Server, trickle: socketserver.TCPServer,
                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    trickle.mode = "hang"
    headers = {"Authorization": f"Bearer {CANARY}", "x-api-key": CANARY}
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    dead_port = closed.getsockname()[1]
    closed.close()
    attempts = [
        (OutboundPolicy(), f"http://169.254.169.254/v1?key={CANARY}", headers),
        (OutboundPolicy(), server.url(f"/ok?key={CANARY}"), headers),
        (LOOPBACK, f"http://127.0.0.1:{dead_port}/v1?key={CANARY}", headers),
        (LOOPBACK, f"http://127.0.0.1:{trickle.server_address[1]}/?key={CANARY}", headers),
        (LOOPBACK, server.url(f"/big?key={CANARY}"), headers),
        (LOOPBACK, server.url(f"/redirect?key={CANARY}&to=http://169.254.169.254/"), headers),
        (LOOPBACK, server.url(f"/hop/9?key={CANARY}"), headers),
        (LOOPBACK, server.url("/ok"), {"x-api-key": f"{CANARY}\n"}),
        (OutboundPolicy(), f"file:///{CANARY}?key={CANARY}", headers),
    ]
    texts = []
    for policy, url, sent in attempts:
        with pytest.raises(ProviderError) as caught:
            get(policy, url, headers=sent, deadline_s=0.5, max_body_bytes=MB)
        texts += [str(caught.value), repr(caught.value), caught.value.reason]
    # The canary did travel and was logged by httpx, redacted (so this test can fail).
    assert get(LOOPBACK, server.url(f"/headers?key={CANARY}"), headers=headers).json()[
        "x-api-key"] == CANARY
    requests = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert requests and all("key=[redacted]" in m for m in requests)
    assert len(texts) == 3 * len(attempts)
    assert [t for t in texts if CANARY in t] == []
    assert CANARY not in caplog.text
