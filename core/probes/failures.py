"""A failed provider call, said as one sentence for a person; httpx errors an adapter let
through, translated into the ProviderError they mean.

Messages name the endpoint by host (``endpoint_label``), never a key: every reason is
passed through ``redact`` with the target's secrets first.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx

from core.adapters.base import Target
from core.errors import (
    OutboundRefused,
    ProviderBadResponse,
    ProviderError,
    ProviderModelMissing,
    ProviderRateLimited,
    ProviderUnreachable,
    redact,
)


def endpoint_label(base_url: str | None) -> str:
    """'api.example.com' or 'host:port' for messages (a base URL never carries credentials)."""
    parts = urlsplit(base_url or "")
    return parts.netloc.rsplit("@", 1)[-1] or "the provider"


def _sentence(text: str) -> str:
    text = text.strip().rstrip(".") if text else ""
    return f"{text[:1].upper()}{text[1:]}." if text else ""


# The guard's refusal reasons (core.outbound), turned into a sentence for a person.
_NEVER_ALLOWED = re.compile(r"refused (?P<shown>.+?): (?P<kind>.+?) addresses are never allowed")
_NOT_LISTED = re.compile(
    r"refused (?P<shown>.+?): (?P<kind>.+?) address not in "
    r"MODELDESK_ALLOWED_NETWORKS"
)


def _refusal_message(reason: str, host: str) -> str:
    for pattern, why in (
        (_NEVER_ALLOWED, "{kind}"),
        (_NOT_LISTED, "{kind}; not in MODELDESK_ALLOWED_NETWORKS"),
    ):
        found = pattern.search(reason)
        if found:
            kind = found["kind"].replace(" (", " / ").replace(")", "")
            return f"The address {found['shown']} is not allowed ({why.format(kind=kind)})."
    return _sentence(reason.removeprefix("refused: ")) or f"The address of {host} is not allowed."


def _unreachable_message(host: str, reason: str, deadline_s: float) -> str:
    lowered = reason.lower()
    if any(w in lowered for w in ("timed out", "timeout", "deadline")):
        return f"{host} did not answer within {deadline_s:g} s."
    if "refused" in lowered:
        return f"Could not connect to {host}: connection refused."
    if any(
        w in lowered
        for w in ("name resolution", "getaddrinfo", "not known", "nodename", "resolve", "dns")
    ):
        return f"Could not resolve the host name of {host}."
    if any(w in lowered for w in ("ssl", "tls", "certificate")):
        return f"The TLS handshake with {host} failed: {_sentence(reason)}"
    return f"Could not connect to {host}: {_sentence(reason) or 'no answer.'}"


def describe_failure(
    exc: ProviderError,
    *,
    base_url: str | None,
    deadline_s: float,
    secrets: list[str] | tuple[str, ...] = (),
    model: str | None = None,
) -> str:
    """One sentence saying exactly what failed, for a translated provider error."""
    host = endpoint_label(base_url)
    reason = redact(exc.reason or "", secrets)
    code = f" (HTTP {exc.status_code})" if exc.status_code else ""
    if isinstance(exc, OutboundRefused):
        return _refusal_message(reason, host)
    if isinstance(exc, ProviderUnreachable):
        return _unreachable_message(host, reason, deadline_s)
    if isinstance(exc, ProviderRateLimited):
        wait = f"; retry after {exc.retry_after:g} s" if exc.retry_after else ""
        return f"The provider is rate limiting this key{code}{wait}."
    if isinstance(exc, ProviderModelMissing):
        return (
            f"The model '{model}' does not exist at {host}."
            if model
            else f"{host} does not serve the requested model."
        )
    return {
        "unauthorized": f"The key was refused{code}.",
        "bad_response": f"{host} answered, but not with the expected API response"
        + (f": {_sentence(reason)}" if reason else "."),
        "server_error": f"The provider failed on its side{code}.",
    }.get(exc.kind, f"The provider call failed{code}: {_sentence(reason) or 'no reason given.'}")


def translate_transport(exc: Exception, target: Target) -> ProviderError | None:
    """An httpx error an adapter let through, as the ProviderError it means (else None)."""
    reason = redact(f"{type(exc).__name__}: {exc}", target.secrets())
    if isinstance(exc, httpx.TooManyRedirects):
        return ProviderBadResponse(f"too many redirects ({reason})")
    if isinstance(exc, httpx.TransportError):
        return ProviderUnreachable(reason)
    return None
