"""Test servers and helpers for the outbound-guard tests: an HTTP server with hostile
routes, a raw trickling server, a listener that must see no connection, and a spy on
``socket.connect`` for addresses nobody can listen on.
"""

from __future__ import annotations

import contextlib
import gzip
import ipaddress
import json
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from core.outbound import OutboundPolicy, guarded_client

MB = 1024 * 1024
CANARY = "sk-canary-5f2b9c0e7d1a4b3c"
LOOPBACK = OutboundPolicy(
    allowed_networks=(ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
)
EVERYTHING = OutboundPolicy(
    allowed_networks=(ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0"))
)
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


def get(
    policy: OutboundPolicy,
    url: str,
    *,
    deadline_s: float = 5.0,
    max_body_bytes: int = 5 * MB,
    **kwargs: object,
) -> httpx.Response:
    with guarded_client(policy, deadline_s=deadline_s, max_body_bytes=max_body_bytes) as c:
        return c.get(url, **kwargs)
