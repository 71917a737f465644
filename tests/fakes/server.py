"""A real threaded HTTP server on 127.0.0.1 that plays one provider, switchable per test
into a failure mode.

    FakeProvider("anthropic", key=CANARY) as fake      starts on 127.0.0.1:<free port>
        fake.base_url / fake.url / fake.target()       where adapters should point
        fake.mode = "429"                              every later request fails that way
        fake.latency = 0.2                             seconds before each answer
        fake.stream_delay = 0.1                        seconds between streamed pieces
        fake.requests                                  what arrived (method, path, headers, body)

Modes (MODES): success; 401, 403, 429 (Retry-After: fake.retry_after), 500; html,
invalid_json, wrong_shape (200 answers that are not the API's); hang (never answers);
trickle (the whole response, status line included, one byte a second); huge (50 MB,
no Content-Length); redirect (302 to the cloud metadata address); moved (307 to the same
path and query on ``fake.moved_to``, another origin); refused (the port
stops listening, and listens again on the next mode); echo_key (401 whose message
quotes every credential the request carried); stream_error (listings succeed, a
completion stream fails midway with the protocol's error event).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

MODES = (
    "success",
    "401",
    "403",
    "429",
    "500",
    "html",
    "invalid_json",
    "wrong_shape",
    "hang",
    "trickle",
    "huge",
    "redirect",
    "moved",
    "refused",
    "echo_key",
    "stream_error",
)
HUGE_BYTES = 50 * 1024 * 1024
METADATA_URL = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"
CREDENTIAL_HEADERS = (
    "authorization",
    "x-api-key",
    "api-key",
    "x-goog-api-key",
    "x-amz-security-token",
)


@dataclass
class Request:
    """One request as the fake received it."""

    method: str
    path: str  # the raw request target: path and query, as sent
    headers: dict[str, str]  # lower-case names
    body: bytes

    @property
    def route(self) -> str:
        """The path without the query."""
        return urlsplit(self.path).path

    @property
    def query(self) -> dict[str, str]:
        """The query parameters (first value of each)."""
        return {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}

    def json(self) -> Any:
        """The body as JSON (None when it is not)."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None


@dataclass
class Reply:
    """An answer: a status, headers and a body that is bytes or streamed pieces."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | Iterable[bytes] = b""


def json_reply(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    """A JSON answer."""
    return Reply(
        status,
        {"Content-Type": "application/json", **(headers or {})},
        json.dumps(payload).encode(),
    )


def sse_reply(events: Iterable[tuple[str | None, Any]]) -> Reply:
    """A server-sent-event stream of (event name or None, JSON payload or the text [DONE])."""

    def pieces() -> Iterable[bytes]:
        for name, data in events:
            head = f"event: {name}\n" if name else ""
            body = data if isinstance(data, str) else json.dumps(data)
            yield f"{head}data: {body}\n\n".encode()

    return Reply(200, {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}, pieces())


def ndjson_reply(lines: Iterable[Any]) -> Reply:
    """A newline-delimited JSON stream."""
    return Reply(
        200,
        {"Content-Type": "application/x-ndjson"},
        (json.dumps(line).encode() + b"\n" for line in lines),
    )


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a hanging handler must never block shutdown
    allow_reuse_address = True
    fake: FakeProvider


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        return

    def _any(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        request = Request(
            self.command,
            self.path,
            {k.lower(): v for k, v in self.headers.items()},
            self.rfile.read(length) if length else b"",
        )
        self.close_connection = True
        self.server.fake._serve(self, request)

    do_GET = do_POST = do_PUT = do_DELETE = _any


class FakeProvider:
    """A fake provider speaking ``protocol`` on loopback (see the module docstring)."""

    def __init__(
        self,
        protocol: str = "openai",
        *,
        key: str | None = "fake-key-0123456789",
        mode: str = "success",
        latency: float = 0.0,
        models: Iterable[str] | None = None,
        retry_after: str = "7",
        page_size: int | None = None,
        reply: str = "Hello there",
        stream_delay: float = 0.0,
        **options: Any,
    ) -> None:
        from tests.fakes.protocols import protocol_for

        self.protocol = protocol_for(protocol, self, **options)
        self.key = key
        self.latency = latency
        self.stream_delay = stream_delay
        self.models = list(models) if models is not None else list(self.protocol.default_models)
        self.retry_after = retry_after
        self.page_size = page_size
        self.reply = reply
        self.moved_to = ""  # the origin the "moved" mode redirects to, e.g. another fake's url
        self.requests: list[Request] = []
        self._mode = "success"
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self._initial_mode = mode

    # --- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> FakeProvider:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> FakeProvider:
        """Listen on 127.0.0.1 (a free port the first time, the same port afterwards)."""
        self._listen()
        self.mode = self._initial_mode
        return self

    def stop(self) -> None:
        """Stop listening and release every hanging or trickling handler."""
        self._stop.set()
        self._close()

    def _listen(self) -> None:
        server = _Server(("127.0.0.1", self.port), _Handler)
        server.fake = self
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name=f"fake-{self.protocol.name}-{self.port}",
        )
        self._thread.start()

    def _close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # --- configuration -----------------------------------------------------------------------

    @property
    def mode(self) -> str:
        """The current failure mode (one of MODES)."""
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in MODES:
            raise ValueError(f"unknown mode {value!r}; modes: {', '.join(MODES)}")
        with self._lock:
            if value == "refused" and self._server is not None:
                self._close()  # a closed port: connection refused
            elif value != "refused" and self._server is None:
                self._listen()
            self._mode = value

    @property
    def url(self) -> str:
        """The server root, http://127.0.0.1:<port>."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """The base URL a provider record of this protocol would hold."""
        return self.url + self.protocol.base_path

    def target(self, **overrides: Any) -> Any:
        """A core Target pointing here with the fake's credentials (fields overridable)."""
        return self.protocol.target(**overrides)

    def service_account_json(self, **overrides: Any) -> str:
        """(vertex) A service-account key whose token_uri is this fake."""
        return self.protocol.service_account_json(**overrides)

    # --- serving -----------------------------------------------------------------------------

    def _serve(self, handler: _Handler, request: Request) -> None:
        with self._lock:
            self.requests.append(request)
        if self.latency:
            self._stop.wait(self.latency)
        mode = self._mode if self.protocol.applies(request) else "success"
        try:
            if mode == "hang":
                self._stop.wait(60)
            elif mode == "trickle":
                self._trickle(handler)
            elif mode == "huge":
                self._huge(handler)
            else:
                self._write(handler, self._reply(mode, request))
        except (TimeoutError, BrokenPipeError, ConnectionResetError, OSError):
            pass  # the client gave up: exactly what these modes provoke

    def _reply(self, mode: str, request: Request) -> Reply:
        errors = {
            "401": "Invalid credentials",
            "403": "Permission denied",
            "429": "Rate limit reached",
            "500": "Internal server error",
        }
        if mode in errors:
            headers = {"Retry-After": self.retry_after} if mode == "429" else {}
            return self.protocol.error(int(mode), errors[mode], headers)
        if mode == "html":
            return Reply(
                200,
                {"Content-Type": "text/html; charset=utf-8"},
                b"<!doctype html><html><body><h1>Welcome to nginx!</h1></body></html>",
            )
        if mode == "invalid_json":
            return Reply(200, {"Content-Type": "application/json"}, b'{"data": [{"id": "gp')
        if mode == "wrong_shape":
            return json_reply({"unexpected": ["shape"], "data": "not a list", "models": 7})
        if mode == "redirect":
            return Reply(302, {"Location": METADATA_URL, "Content-Type": "text/plain"}, b"moved")
        if mode == "moved":  # 307 keeps the method and the body, as a hostile server would want
            return Reply(
                307,
                {"Location": self.moved_to + request.path, "Content-Type": "text/plain"},
                b"moved",
            )
        if mode == "echo_key":
            sent = [request.headers[h] for h in CREDENTIAL_HEADERS if h in request.headers]
            # The whole credential, a provider-style partial echo, the URL and the body.
            message = (
                f"Incorrect API key provided: {' / '.join(sent)} "
                f"(starts {' / '.join(v[:16] for v in sent)}...); "
                f"request {request.path} body {request.body[:300]!r}"
            )
            return self.protocol.error(401, message, {})
        return self.protocol.handle(request, stream_error=(mode == "stream_error"))

    def _write(self, handler: _Handler, reply: Reply) -> None:
        handler.send_response(reply.status)
        streamed = not isinstance(reply.body, bytes)
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        if streamed:
            handler.send_header("Transfer-Encoding", "chunked")
        else:
            handler.send_header("Content-Length", str(len(reply.body)))
        handler.send_header("Connection", "close")
        handler.end_headers()
        if not streamed:
            handler.wfile.write(reply.body)
            return
        for i, piece in enumerate(reply.body):
            if i and self.stream_delay and self._stop.wait(self.stream_delay):
                return
            handler.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            handler.wfile.flush()
        handler.wfile.write(b"0\r\n\r\n")

    def _trickle(self, handler: _Handler) -> None:
        body = json.dumps({"data": [{"id": m} for m in self.models]}).encode()
        raw = (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        for i in range(len(raw)):
            handler.wfile.write(raw[i : i + 1])
            handler.wfile.flush()
            if self._stop.wait(1.0):
                return

    def _huge(self, handler: _Handler) -> None:
        handler.wfile.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
        )
        piece = b'{"id": "padding-model-0000000000000000000000000000000000000000"},' * 1000
        handler.wfile.write(b'{"data": [')
        sent = 0
        while sent < HUGE_BYTES and not self._stop.is_set():
            handler.wfile.write(piece)
            sent += len(piece)
        handler.wfile.write(b'{"id": "last"}]}')


def closed_port_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    time.sleep(0)
    return f"http://127.0.0.1:{port}"
