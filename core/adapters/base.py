"""What every adapter is: the interface, its value types, and redaction.

An adapter speaks one wire protocol. It is given an ``httpx.Client`` (the outbound guard's
client in production, which enforces address rules, deadline and body cap) and a
``Target`` (base URL, key, config), and translates every failure into a
``core.errors.ProviderError`` subclass at its boundary, with a short reason that has been
passed through ``redact``.

    Adapter.list_models(client, target)         -> list[ModelInfo]   the provider's listing
    Adapter.probe(client, target)               -> ProbeResult       cheapest authenticated call
    Adapter.complete(client, target, model=...) -> Completion        a short chat completion
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import httpx

REASON_MAX = 200
# The request extension naming what an adapter's auth step added: the (lower-case) names of
# the headers that carry a credential. Its presence marks the request as credentialed (its
# body may be one too, e.g. an OAuth assertion): the outbound guard sends such a request to
# its first origin only and refuses a redirect anywhere else (core.outbound).
CREDENTIALS = "modeldesk.credentials"


@dataclass(frozen=True)
class Target:
    """Where and how to call a provider. Never logged, rendered or stored."""

    provider_type: str
    base_url: str
    api_key: str | None = field(default=None, repr=False)
    config: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def secrets(self) -> list[str]:
        """Every value that must never appear in a message: the key and the secret config
        values (by the catalog's rule, the same one that hides them on pages)."""
        from core import catalog  # the catalog imports nothing from adapters

        try:
            ptype = catalog.get_provider_type(self.provider_type)
        except Exception:  # an unknown type: treat every config string as secret
            ptype = None
        values = [self.api_key] if self.api_key else []
        values += [str(v) for k, v in self.config.items()
                   if isinstance(v, str) and v
                   and (ptype is None or catalog.looks_secret(k, ptype))]
        return values


@dataclass(frozen=True)
class ModelInfo:
    """One model as a provider lists it."""

    id: str
    name: str | None = None
    created: datetime | None = None
    context_window: int | None = None
    owned_by: str | None = None
    kind: str | None = None  # 'inference' / 'embedding' / 'rerank' when the listing says


@dataclass(frozen=True)
class ProbeResult:
    """A successful probe: how long it took and what it showed (e.g. '12 models listed')."""

    latency_ms: float
    detail: str


@dataclass(frozen=True)
class Completion:
    """A short completion: its text, token usage and timings."""

    model: str
    text: str
    input_tokens: int | None
    output_tokens: int | None
    ttft_ms: float | None
    total_ms: float


class Adapter(Protocol):
    """One wire protocol."""

    protocol: str

    def list_models(self, client: httpx.Client, target: Target) -> list[ModelInfo]:
        """The provider's model listing."""
        ...

    def probe(self, client: httpx.Client, target: Target) -> ProbeResult:
        """The cheapest authenticated call that proves reachability and a valid key."""
        ...

    def complete(self, client: httpx.Client, target: Target, *, model: str, prompt: str,
                 max_tokens: int = 256) -> Completion:
        """A short chat completion (streamed where the protocol allows)."""
        ...


_KEY_PARAMS = re.compile(r"([?&](?:key|api[_-]?key|token|access_token|sig|signature)=)[^&\s\"']+",
                         re.IGNORECASE)
_BEARER = re.compile(r"(bearer\s+)[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE)


def redact(text: object, secrets: Iterable[str] = ()) -> str:
    """A short, single-line reason without the given secrets, key query parameters or
    bearer tokens."""
    out = " ".join(str(text).split())
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        out = out.replace(secret, "[redacted]")
    out = _KEY_PARAMS.sub(r"\1[redacted]", out)
    out = _BEARER.sub(r"\1[redacted]", out)
    return out if len(out) <= REASON_MAX else out[:REASON_MAX - 1] + "…"
