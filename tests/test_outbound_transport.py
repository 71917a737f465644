"""The outbound guard against hostile servers on loopback: redirects, the per-request
deadline, the body cap, failures becoming ProviderUnreachable, and no secret in any message.
"""

from __future__ import annotations

import datetime
import logging
import socket
import socketserver
import ssl
import time
from pathlib import Path

import pytest

from core.errors import (
    OutboundRefused,
    ProviderBadResponse,
    ProviderError,
    ProviderUnreachable,
)
from core.outbound import OutboundPolicy, guarded_client
from tests.support.outbound_servers import CANARY, LOOPBACK, MB, _Server, get, nothing_queued

# --- redirects --------------------------------------------------------------------------------


def test_a_redirect_to_the_metadata_address_is_refused(
    server: _Server, connects: list[object]
) -> None:
    url = server.url("/redirect?to=http://169.254.169.254/latest/meta-data/iam/")
    with pytest.raises(OutboundRefused, match="link-local"):
        get(LOOPBACK, url)
    assert server.paths == ["/redirect"]
    assert [address[0] for address in connects] == ["127.0.0.1"]  # the server, nothing else


def test_a_redirect_from_a_trusted_host_gets_no_trust(
    server: _Server, listener: socket.socket
) -> None:
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
    keys = {
        "Authorization": f"Bearer {CANARY}",
        "api-key": CANARY,
        "x-api-key": CANARY,
        "x-goog-api-key": CANARY,
    }
    same = get(LOOPBACK, server.url("/redirect?to=/headers"), headers={**keys, "X-Other": "1"})
    assert {k.lower() for k in keys} <= set(same.json())  # same origin: kept
    elsewhere = server.url("/headers", host="localhost")
    moved = get(LOOPBACK, server.url(f"/redirect?to={elsewhere}"), headers={**keys, "X-Other": "1"})
    assert moved.json()["x-other"] == "1" and CANARY not in moved.text


# --- deadline ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["headers", "body", "hang"])
def test_a_trickling_server_cannot_hold_a_request_past_its_deadline(
    trickle: socketserver.ThreadingTCPServer, mode: str
) -> None:
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
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), False)
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    return context


def test_an_untrusted_certificate_is_unreachable(server: _Server, tmp_path: Path) -> None:
    context = _self_signed(tmp_path)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    with pytest.raises(
        ProviderUnreachable, match="TLS with localhost failed: .*certificate verify failed"
    ):
        get(LOOPBACK, f"https://localhost:{server.port}/ok")


# --- secrets ----------------------------------------------------------------------------------


def test_a_canary_key_is_in_no_message_or_log(
    server: _Server, trickle: socketserver.TCPServer, caplog: pytest.LogCaptureFixture
) -> None:
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
    assert (
        get(LOOPBACK, server.url(f"/headers?key={CANARY}"), headers=headers).json()["x-api-key"]
        == CANARY
    )
    requests = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert requests and all("key=[redacted]" in m for m in requests)
    assert len(texts) == 3 * len(attempts)
    assert [t for t in texts if CANARY in t] == []
    assert CANARY not in caplog.text
