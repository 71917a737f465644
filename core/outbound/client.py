"""The guarded transport and client: origins and redirects, credentials kept to the first
origin, the body cap, one deadline per send, and httpcore's errors as ``core.errors``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import ssl
import time
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import httpcore
import httpx

from core.errors import (
    OutboundRefused,
    ProviderBadResponse,
    ProviderError,
    ProviderUnreachable,
    redact,
)
from core.outbound.addresses import OutboundPolicy, host_key
from core.outbound.sockets import DEADLINE, GuardedBackend, time_left

MAX_REDIRECTS = 3
# The request extension naming what an adapter's auth step added: the (lower-case) names of
# the headers that carry a credential. Its presence marks the request as credentialed (its
# body may be one too, e.g. an OAuth assertion): the guard sends such a request to its first
# origin only and refuses a redirect anywhere else.
CREDENTIALS = "modeldesk.credentials"
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
    return host_key(url.host, url.port or (443 if url.scheme == "https" else 80))


def _credential_values(request: httpx.Request) -> list[str]:
    names = _SECRET_HEADERS.union(request.extensions.get(CREDENTIALS) or ())
    return [v for k, v in request.headers.items() if k.lower() in names]


def _size(n: int) -> str:
    return f"{n / 2**20:g} MB" if n >= 2**20 else f"{n} bytes"


@contextlib.contextmanager
def _translated(deadline: float, deadline_s: float, secrets: list[str]) -> Iterator[None]:
    """Run under the request's deadline; httpcore's errors become core.errors."""
    token = DEADLINE.set(deadline)
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
        DEADLINE.reset(token)


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
            network_backend=GuardedBackend(policy),
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
            left = time_left(None, httpcore.PoolTimeout)
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
