"""The HTTP boundary every adapter shares: send, read with a cap, stream, translate failures.

    adapter ──▶ request_json / open_stream ──▶ httpx.Client (the outbound guard in production)
                      │                              │
                      │   2xx ◀──────────────────────┤──▶ JSON, SSE events, NDJSON lines
                      │   other status ──▶ error_for_status() ──▶ ProviderError subclass
                      └── httpx.TimeoutException / TransportError ──▶ ProviderUnreachable
                          malformed HTTP, HTML, bad JSON, too big ──▶ ProviderBadResponse

A ``ProviderError`` the client raises itself (the guard's refusals, deadline, body cap)
passes through untouched. Chained exceptions are cut (``from None``) because the httpx
ones can carry bodies and headers. Statuses and reasons are failures.py's.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx

from core.adapters.base import ModelInfo, ProbeResult, Target
from core.adapters.failures import error_for_status, secrets_of
from core.errors import ProviderBadResponse, ProviderError, ProviderUnreachable, redact
from core.outbound import CREDENTIALS

# A model listing is kilobytes and a short completion less; past this it is not an answer.
MAX_BODY = 8 * 1024 * 1024
ERROR_BODY = 64 * 1024  # enough of an error body for its message; the rest is not read


# --- Transport ---------------------------------------------------------------------------------


@contextmanager
def translated(secrets: Iterable[str]) -> Iterator[None]:
    """Turn httpx failures into ProviderErrors (ProviderErrors pass through untouched)."""
    secrets = list(secrets)
    try:
        yield
    except ProviderError:
        raise
    except httpx.TimeoutException as exc:
        raise ProviderUnreachable(f"Timed out: no answer in time ({type(exc).__name__})") from None
    except httpx.ConnectError as exc:
        raise ProviderUnreachable(redact(f"Could not connect: {exc}", secrets)) from None
    except httpx.TooManyRedirects:
        raise ProviderBadResponse("Too many redirects") from None
    except httpx.UnsupportedProtocol as exc:
        raise ProviderUnreachable(redact(f"Unsupported URL: {exc}", secrets)) from None
    except httpx.RemoteProtocolError as exc:
        if "disconnect" in str(exc).lower() or "closed" in str(exc).lower():
            raise ProviderUnreachable("The connection dropped before a full answer") from None
        raise ProviderBadResponse("Malformed HTTP response") from None
    except httpx.ProtocolError:
        raise ProviderBadResponse("Malformed HTTP exchange") from None
    except httpx.TransportError as exc:
        raise ProviderUnreachable(
            redact(f"Connection failed ({type(exc).__name__}: {exc})", secrets)
        ) from None
    except httpx.InvalidURL as exc:
        raise ProviderUnreachable(redact(f"Invalid provider URL: {exc}", secrets)) from None


def too_large() -> ProviderBadResponse:
    """The error for a body past MAX_BODY."""
    return ProviderBadResponse(f"The response is larger than {MAX_BODY // (1024 * 1024)} MB")


def read_capped(response: httpx.Response) -> bytes:
    """The whole body, refusing past MAX_BODY (declared or counted)."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise too_large()
    body, size = bytearray(), 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_BODY:
            raise too_large()
        body += chunk
    return bytes(body)


def read_error_body(response: httpx.Response) -> bytes:
    """The first ERROR_BODY bytes of an error answer (its status decides, not its size)."""
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) >= ERROR_BODY:
            break
    return bytes(body[:ERROR_BODY])


def parse_json(body: bytes, response: httpx.Response) -> Any:
    """The body as JSON; HTML and non-JSON are bad responses."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        if "html" in response.headers.get("content-type", "") or body.lstrip()[:1] == b"<":
            raise ProviderBadResponse(
                "Expected JSON but got an HTML page (check the base URL)"
            ) from None
        raise ProviderBadResponse("Expected JSON but the response is not valid JSON") from None


def credentialed(
    headers: Mapping[str, str],
    auth: Mapping[str, str] | None,
    credential_body: bool,
    kwargs: dict[str, Any],
) -> dict[str, str]:
    """The headers to send with ``auth`` added; a request with credentials (``auth`` headers
    or a ``credential_body``) names them in its CREDENTIALS extension, for the guard."""
    if auth or credential_body:
        kwargs["extensions"] = {
            **kwargs.get("extensions", {}),
            CREDENTIALS: tuple(name.lower() for name in auth or ()),
        }
    return {**headers, **(auth or {})}


def request_json(
    client: httpx.Client,
    target: Target,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    auth: Mapping[str, str] | None = None,
    credential_body: bool = False,
    secrets: Iterable[str] = (),
    model: str | None = None,
    **kwargs: Any,
) -> Any:
    """Send one request and return its JSON body, or raise the translated error. ``auth``
    is what the adapter's auth step made (credential headers); ``credential_body`` says the
    body itself is one. Either way the request goes to its own origin only."""
    secrets = secrets_of(target, *secrets)
    headers = credentialed(
        {"Accept": "application/json", **(headers or {})}, auth, credential_body, kwargs
    )
    with translated(secrets), client.stream(method, url, headers=headers, **kwargs) as response:
        if not response.is_success:
            raise error_for_status(
                target, secrets, response, read_error_body(response), model=model
            )
        return parse_json(read_capped(response), response)


@contextmanager
def open_stream(
    client: httpx.Client,
    target: Target,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str],
    auth: Mapping[str, str] | None = None,
    secrets: Iterable[str] = (),
    model: str | None = None,
    **kwargs: Any,
) -> Iterator[httpx.Response]:
    """A streaming response that answered 2xx and is not HTML; failures are translated.
    ``auth`` as for request_json."""
    secrets = secrets_of(target, *secrets)
    headers = credentialed(headers, auth, False, kwargs)
    with translated(secrets), client.stream(method, url, headers=headers, **kwargs) as response:
        if not response.is_success:
            raise error_for_status(
                target, secrets, response, read_error_body(response), model=model
            )
        if "html" in response.headers.get("content-type", ""):
            raise ProviderBadResponse("Expected a stream but got an HTML page (check the base URL)")
        yield response


def is_json(response: httpx.Response) -> bool:
    """True for a plain JSON answer (a server that ignored the request to stream)."""
    return "json" in response.headers.get(
        "content-type", ""
    ) and "ndjson" not in response.headers.get("content-type", "")


def probe_by_listing(
    list_models: Callable[[httpx.Client, Target], list[ModelInfo]],
    client: httpx.Client,
    target: Target,
) -> ProbeResult:
    """The probe every protocol uses: its free model listing, timed."""
    started = time.perf_counter()
    models = list_models(client, target)
    return ProbeResult(
        latency_ms=(time.perf_counter() - started) * 1000,
        detail=f"{len(models)} model{'s' if len(models) != 1 else ''} listed",
    )


class ListingProbe:
    """Every protocol's probe: its free model listing, timed (never a paid completion)."""

    def probe(self, client: httpx.Client, target: Target) -> ProbeResult:
        """The model listing, timed."""
        return probe_by_listing(self.list_models, client, target)  # type: ignore[attr-defined]
