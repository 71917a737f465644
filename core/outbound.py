"""The outbound guard: the one HTTP client for URLs that users and admins configure.

A base URL typed into a form must not make Modeldesk a proxy to the cloud metadata service
or the office network. The transport resolves each host itself, vets every address, and
connects to a vetted address, so the address checked is the one used (no DNS rebinding)::

    URL ─▶ http(s)? ─▶ getaddrinfo ─▶ every address vetted ─▶ connect to it ─▶ TLS (hostname)

    never        link-local 169.254/16 and fe80::/10 (cloud metadata), fd00:ec2::254 and other
                 metadata endpoints, unspecified, multicast, broadcast, reserved, and the
                 IPv4-mapped / -compatible / NAT64 / 6to4 spellings of these
    if allowed   loopback, private (10/8, 172.16/12, 192.168/16, fc00::/7), CGNAT 100.64/10,
                 other non-global: a CIDR in MODELDESK_ALLOWED_NETWORKS, or a trusted host:port

Redirects (at most 3) pass the same checks. A request an adapter marked as credentialed
(the ``CREDENTIALS`` extension below: the headers its auth step added, or a body that is a
credential) is never followed to another origin: that hop is refused before anything is
sent, so no key, signature, session token or assertion reaches it, and no answer from a
server that never saw the key can pass for the provider's. Any other request loses the
usual key headers once a hop leaves the first origin.

One deadline covers a whole ``send``, hops and body: each socket read and write gets at
most the time left, so a server trickling a byte a second cannot hold a request.
The body is streamed and capped after decompression. Errors are ``core.errors``, raised by
the client itself, so adapters only map HTTP statuses:

    OutboundRefused      not http(s), or a refused address: nothing was sent
    ProviderUnreachable  DNS, connection refused or lost, TLS, the deadline passed
    ProviderBadResponse  body over max_body_bytes, > 3 redirects, not HTTP, bad encoding
    ProviderError        the request could not be encoded (an invalid header value)

Reasons name host, address and class; never a header, a query or a body.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
import ipaddress
import logging
import select
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import httpcore
import httpx

from core.config import Settings
from core.errors import (
    OutboundRefused,
    ProviderBadResponse,
    ProviderError,
    ProviderUnreachable,
    redact,
)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_REDIRECTS = 3
# The request extension naming what an adapter's auth step added: the (lower-case) names of
# the headers that carry a credential. Its presence marks the request as credentialed (its
# body may be one too, e.g. an OAuth assertion): the guard sends such a request to its first
# origin only and refuses a redirect anywhere else.
CREDENTIALS = "modeldesk.credentials"


def _table(*rows: tuple[str, str]) -> tuple[tuple[IPNetwork, str], ...]:
    return tuple((ipaddress.ip_network(net), kind) for net, kind in rows)


# Checked first; neither the allowlist nor a trusted host opens these.
_NEVER = _table(
    ("169.254.0.0/16", "link-local (cloud metadata)"),
    ("fe80::/10", "link-local"),
    ("fd00:ec2::254/128", "cloud metadata"),
    ("100.100.100.200/32", "cloud metadata"),
    ("168.63.129.16/32", "cloud platform endpoint"),
    ("0.0.0.0/8", "unspecified"),
    ("::/128", "unspecified"),
    ("224.0.0.0/4", "multicast"),
    ("ff00::/8", "multicast"),
    ("255.255.255.255/32", "broadcast"),
    ("240.0.0.0/4", "reserved"),
)
_UNLESS_ALLOWED = _table(
    ("127.0.0.0/8", "loopback"),
    ("::1/128", "loopback"),
    ("10.0.0.0/8", "private"),
    ("172.16.0.0/12", "private"),
    ("192.168.0.0/16", "private"),
    ("fc00::/7", "private"),
    ("100.64.0.0/10", "shared (CGNAT)"),
)
_NAT64, _V4_COMPATIBLE = ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("::/96")
# The usual key headers, dropped from an unmarked request's cross-origin hop (a marked one
# names its own and is never sent there at all).
_SECRET_HEADERS = {
    "authorization",
    "proxy-authorization",
    "cookie",
    "api-key",
    "x-api-key",
    "x-goog-api-key",
}
_STATE = "modeldesk.outbound"
# The deadline (monotonic) of the request this thread is handling. Streams read it here
# because httpcore gives a pooled connection no handle on the request that uses it.
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("_DEADLINE", default=None)


def _judged(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> Any:
    # IPv6 spellings that reach (or name) an IPv4 host are judged as that IPv4 host.
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped or ip.sixtofour:
            return ip.ipv4_mapped or ip.sixtofour
        if ip in _NAT64 or (ip in _V4_COMPATIBLE and int(ip) > 1):
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def _host_key(host: str, port: int) -> str:
    host = host.strip("[]").rstrip(".").lower()
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclasses.dataclass(frozen=True)
class OutboundPolicy:
    """Which non-public destinations outbound requests may reach."""

    allowed_networks: tuple[IPNetwork, ...] = ()
    trusted_hosts: frozenset[str] = frozenset()  # "host:port" an admin trusts

    @classmethod
    def from_settings(cls, settings: Settings) -> OutboundPolicy:
        """The policy MODELDESK_ALLOWED_NETWORKS describes, trusting no host."""
        return cls(
            allowed_networks=tuple(
                ipaddress.ip_network(n, strict=False) for n in settings.allowed_networks
            )
        )

    def trusting(self, base_url: str) -> OutboundPolicy:
        """A copy that also trusts base_url's host:port (a URL without a host adds nothing)."""
        try:
            url = httpx.URL(base_url)
        except (httpx.InvalidURL, TypeError):
            return self
        if url.scheme not in ("http", "https") or not url.host:
            return self
        key = _host_key(url.host, url.port or (443 if url.scheme == "https" else 80))
        return dataclasses.replace(self, trusted_hosts=self.trusted_hosts | {key})

    def refusal(self, address: str, *, host: str = "", port: int = 0) -> str | None:
        """Why connecting to address (resolved from host:port) is refused, or None."""
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        judged = _judged(ip)
        shown = f"{host} ({address})" if host and host.strip("[]") != address else address
        for network, never in _NEVER:
            if judged in network:
                return f"refused {shown}: {never} addresses are never allowed"
        kind = next(
            (k for network, k in _UNLESS_ALLOWED if judged in network),
            None if judged.is_global else "special-purpose",
        )
        if (
            kind is None
            or _host_key(host, port) in self.trusted_hosts
            or any(judged in network or ip in network for network in self.allowed_networks)
        ):
            return None
        return f"refused {shown}: {kind} address not in MODELDESK_ALLOWED_NETWORKS"


def _left(timeout: float | None, expired: type[Exception]) -> float | None:
    # The smaller of httpcore's per-operation timeout and what is left of the deadline.
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise expired("deadline passed")
    return left if timeout is None else min(timeout, left)


def _os_reason(exc: BaseException) -> str:
    if isinstance(exc, (TimeoutError, httpcore.TimeoutException, ProviderUnreachable)):
        return "timed out"
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


class _DeadlineStream(httpcore.NetworkStream):
    """A socket whose every read and write ends by the request's deadline."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    @contextlib.contextmanager
    def _io(
        self, timeout: float | None, expired: type[Exception], failed: type[Exception]
    ) -> Iterator[None]:
        try:
            self._sock.settimeout(_left(timeout, expired))
            yield
        except TimeoutError:
            raise expired("timed out") from None
        except OSError as exc:
            raise failed(_os_reason(exc)) from None

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        with self._io(timeout, httpcore.ReadTimeout, httpcore.ReadError):
            return self._sock.recv(max_bytes)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        while buffer:  # one send() at a time, each given only the time left
            with self._io(timeout, httpcore.WriteTimeout, httpcore.WriteError):
                buffer = buffer[self._sock.send(buffer) :]

    def close(self) -> None:
        self._sock.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        try:  # CPython bounds the whole handshake by the socket timeout
            with self._io(timeout, httpcore.ConnectTimeout, httpcore.ConnectError):
                tls = ssl_context.wrap_socket(self._sock, server_hostname=server_hostname)
        except (httpcore.ConnectTimeout, httpcore.ConnectError) as exc:
            self._sock.close()
            raise ProviderUnreachable(redact(f"TLS with {server_hostname} failed: {exc}")) from None
        return _DeadlineStream(tls)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":  # an idle pooled connection with something to read is dead
            if self._sock.fileno() == -1:
                return True
            poller = select.poll()  # not select(): descriptors above 1024 are common here
            poller.register(self._sock, select.POLLIN)
            return bool(poller.poll(0))
        if info == "ssl_object":  # httpcore asks it for the ALPN protocol
            return self._sock if isinstance(self._sock, ssl.SSLSocket) else None
        if info == "server_addr":  # the vetted address actually connected to
            return self._sock.getpeername()
        return self._sock if info == "socket" else None


def _resolve(host: str, port: int, timeout: float | None) -> list[tuple]:
    kind = {"type": socket.SOCK_STREAM, "proto": socket.IPPROTO_TCP}
    try:  # numeric forms (127.1, 2852039166, ::ffff:a.b.c.d) are parsed as the OS does
        return socket.getaddrinfo(host, port, flags=socket.AI_NUMERICHOST, **kind)
    except (socket.gaierror, UnicodeError):
        pass
    found: list[tuple] = []

    def lookup() -> None:
        with contextlib.suppress(OSError, UnicodeError):
            found.extend(socket.getaddrinfo(host, port, **kind))

    # getaddrinfo has no timeout: wait for it only as long as the deadline allows.
    worker = threading.Thread(target=lookup, name="outbound-dns", daemon=True)
    worker.start()
    worker.join(_left(timeout, ProviderUnreachable))
    if worker.is_alive() or not found:
        raise ProviderUnreachable(
            redact(f"cannot resolve {host}" + (" in time" if worker.is_alive() else ""))
        )
    return found


class _GuardedBackend(httpcore.NetworkBackend):
    """Resolves, vets every address, then connects to a vetted address itself."""

    def __init__(self, policy: OutboundPolicy) -> None:
        self._policy = policy

    def _vet(self, address: str, host: str, port: int) -> None:
        reason = self._policy.refusal(address, host=host, port=port)
        if reason:
            raise OutboundRefused(redact(reason))

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        with contextlib.suppress(ValueError):  # a literal, even one getaddrinfo rejects
            self._vet(host, host, port)
        for *_, sockaddr in (infos := _resolve(host, port, timeout)):
            self._vet(sockaddr[0], host, port)  # one bad address refuses the host
        reason = "no address"
        for family, kind, proto, _, sockaddr in infos:
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(_left(timeout, ProviderUnreachable))
                for option in socket_options or ():
                    sock.setsockopt(*option)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.connect(sockaddr)
                return _DeadlineStream(sock)
            except (OSError, ProviderUnreachable) as exc:
                sock.close()
                reason = _os_reason(exc)
        raise ProviderUnreachable(redact(f"cannot connect to {_host_key(host, port)}: {reason}"))


def _same_origin(first: httpx.URL, hop: httpx.URL) -> bool:
    # Like httpx for Authorization: the http -> https upgrade of one host keeps the keys.
    return (first.scheme, first.host, first.port) == (hop.scheme, hop.host, hop.port) or (
        first.scheme,
        hop.scheme,
        first.host,
        first.port,
        hop.port,
    ) == ("http", "https", hop.host, None, None)


def _origin_label(url: httpx.URL) -> str:
    return _host_key(url.host, url.port or (443 if url.scheme == "https" else 80))


def _credential_values(request: httpx.Request) -> list[str]:
    names = _SECRET_HEADERS.union(request.extensions.get(CREDENTIALS) or ())
    return [v for k, v in request.headers.items() if k.lower() in names]


def _size(n: int) -> str:
    return f"{n / 2**20:g} MB" if n >= 2**20 else f"{n} bytes"


@contextlib.contextmanager
def _translated(deadline: float, deadline_s: float, secrets: list[str]) -> Iterator[None]:
    """Run under the request's deadline; httpcore's errors become core.errors."""
    token = _DEADLINE.set(deadline)
    try:
        yield
    except httpcore.TimeoutException:
        raise ProviderUnreachable(
            f"no complete response within the {deadline_s:g} s deadline"
        ) from None
    except httpcore.RemoteProtocolError as exc:
        raise ProviderBadResponse(redact(f"not a valid HTTP response: {exc}", secrets)) from None
    except httpcore.NetworkError as exc:
        raise ProviderUnreachable(redact(f"connection failed: {exc}", secrets)) from None
    except (httpcore.ProtocolError, httpcore.UnsupportedProtocol):  # h11 quotes the header
        raise ProviderError("the request could not be sent (an invalid header or body)") from None
    finally:
        _DEADLINE.reset(token)


class _CappedBody(httpx.SyncByteStream):
    """The response body, inflated here so that the cap counts what is kept in memory."""

    def __init__(
        self, raw: Any, *, cap: int, compressed: bool, translated: Callable[[], Any]
    ) -> None:
        self._raw, self._cap, self._translated = raw, cap, translated
        self._decoder = zlib.decompressobj(zlib.MAX_WBITS | 32) if compressed else None

    def __iter__(self) -> Iterator[bytes]:
        total, parts = 0, iter(self._raw)
        while True:
            with self._translated():
                raw = next(parts, None)
            try:  # never inflate more than one byte past the cap: a gzip bomb stays small
                chunk = (
                    raw
                    if self._decoder is None
                    else self._decoder.flush()
                    if raw is None
                    else self._decoder.decompress(raw, self._cap - total + 1)
                )
            except zlib.error:
                self.close()
                raise ProviderBadResponse("the compressed response is corrupt") from None
            total += len(chunk or b"")
            if total > self._cap:
                self.close()  # an unfinished body closes its connection: nothing more is read
                raise ProviderBadResponse(f"response larger than {_size(self._cap)}")
            if chunk:
                yield chunk
            if raw is None:
                return

    def close(self) -> None:
        with self._translated():
            getattr(self._raw, "close", lambda: None)()


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # httpx's default (certifi) verification; built once, it costs ~30 ms per client.
    return httpx.create_ssl_context()


class GuardedTransport(httpx.BaseTransport):
    """An httpx transport over an httpcore pool that connects only to vetted addresses."""

    def __init__(self, policy: OutboundPolicy, *, deadline_s: float, max_body_bytes: int) -> None:
        if deadline_s <= 0 or max_body_bytes <= 0:
            raise ValueError("deadline_s and max_body_bytes must be positive")
        self.deadline_s, self.max_body_bytes = deadline_s, max_body_bytes
        # httpx's default limits (httpcore alone allows 10 connections: too few for a sweep).
        self._pool = httpcore.ConnectionPool(
            ssl_context=_tls_context(),
            network_backend=_GuardedBackend(policy),
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
        )

    def begin(self, request: httpx.Request) -> None:
        """Start one exchange: its deadline runs from now, its origin is this URL."""
        exchange = (time.monotonic() + self.deadline_s, request.url)
        request.extensions = {**request.extensions, _STATE: exchange}

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in ("http", "https") or not url.host:  # file:///x arrives as /x
            raise OutboundRefused("refused: only http and https URLs with a host are allowed")
        if _STATE not in request.extensions:  # a plain httpx.Client: this hop starts it
            self.begin(request)
        deadline, origin = request.extensions[_STATE]
        marked = request.extensions.get(CREDENTIALS)
        if not _same_origin(origin, url):
            if marked is not None:
                raise OutboundRefused(
                    redact(
                        f"refused: the provider redirected to {_origin_label(url)}, another "
                        "origin; credentials are only sent to the configured endpoint (set the "
                        "base URL to the one that answers)"
                    )
                )
            for name in [n for n in request.headers if n.lower() in _SECRET_HEADERS]:
                del request.headers[name]  # gone for every later hop too
        secrets = _credential_values(request)
        secrets += [part for v in secrets for part in v.split()[1:]]  # "Bearer <key>"

        def translated() -> Any:
            return _translated(deadline, self.deadline_s, secrets)

        with translated():
            left = _left(None, httpcore.PoolTimeout)
            timeouts = {
                k: left if v is None else min(v, left)
                for k, v in {
                    "connect": None,
                    "read": None,
                    "write": None,
                    "pool": None,
                    **request.extensions.get("timeout", {}),
                }.items()
            }
            response = self._pool.handle_request(
                httpcore.Request(
                    method=request.method,
                    headers=request.headers.raw,
                    content=request.stream,
                    url=httpcore.URL(
                        scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
                    ),
                    extensions={**request.extensions, "timeout": timeouts},
                )
            )
        headers = httpx.Headers(response.headers)
        encoding = headers.get("content-encoding", "identity").strip().lower()
        length = headers.get("content-length", "")
        body = _CappedBody(
            response.stream,
            cap=self.max_body_bytes,
            compressed=encoding != "identity",
            translated=translated,
        )
        if encoding not in ("identity", "gzip", "x-gzip", "deflate"):
            body.close()
            raise ProviderBadResponse("the response uses an unsupported content encoding")
        if request.method != "HEAD" and length.isdigit() and int(length) > self.max_body_bytes:
            body.close()  # refused on its declared length, before reading any of it
            raise ProviderBadResponse(f"response larger than {_size(self.max_body_bytes)}")
        if encoding != "identity":  # inflated by the body; httpx must not decode it again
            del headers["content-encoding"]
            headers.pop("content-length", None)
        return httpx.Response(
            status_code=response.status,
            headers=headers,
            stream=body,
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._pool.close()


class _GuardedClient(httpx.Client):
    """An httpx.Client whose send() starts one deadline per call and maps its own errors."""

    def __init__(self, transport: GuardedTransport, **kwargs: Any) -> None:
        super().__init__(transport=transport, **kwargs)
        self._guard = transport

    def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        self._guard.begin(request)
        try:
            return super().send(request, **kwargs)
        except httpx.TooManyRedirects:
            raise ProviderBadResponse(f"more than {MAX_REDIRECTS} redirects") from None
        except httpx.HTTPError as exc:  # e.g. an invalid Location header
            secrets = _credential_values(request)
            raise ProviderBadResponse(redact(f"invalid response: {exc}", secrets)) from None


def guarded_client(
    policy: OutboundPolicy, *, deadline_s: float = 10.0, max_body_bytes: int = 5 * 1024 * 1024
) -> httpx.Client:
    """An httpx.Client that enforces policy, one deadline per request and a body cap."""
    transport = GuardedTransport(policy, deadline_s=deadline_s, max_body_bytes=max_body_bytes)
    # trust_env=False: no proxy or .netrc from the environment may route around the guard.
    return _GuardedClient(
        transport,
        timeout=httpx.Timeout(deadline_s),
        trust_env=False,
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
        headers={"Accept-Encoding": "gzip, deflate"},
    )


class _RedactedUrls(logging.Filter):
    """httpx logs every request URL at INFO; a ?key= in it must not reach the logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, httpx.URL) else a for a in record.args)
        return True


if not any(isinstance(f, _RedactedUrls) for f in logging.getLogger("httpx").filters):
    logging.getLogger("httpx").addFilter(_RedactedUrls())
# httpcore's DEBUG traces print raw response headers (a Location with ?key=) and h11 errors
# quoting request header values: off unless someone turns them on explicitly.
if logging.getLogger("httpcore").level == logging.NOTSET:
    logging.getLogger("httpcore").setLevel(logging.INFO)
