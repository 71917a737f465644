"""What every adapter is: the interface and its value types.

An adapter speaks one wire protocol. It is given an ``httpx.Client`` (the outbound guard's
client in production, which enforces address rules, deadline and body cap) and a
``Target`` (base URL, key, config), and translates every failure into a
``core.errors.ProviderError`` subclass at its boundary, with a short reason that has been
passed through ``core.errors.redact``.

    Adapter.list_models(client, target)         -> list[ModelInfo]   the provider's listing
    Adapter.probe(client, target)               -> ProbeResult       cheapest authenticated call
    Adapter.complete(client, target, model=...) -> Completion        a short chat completion
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import httpx

from core import catalog


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
        try:
            ptype = catalog.get_provider_type(self.provider_type)
        except Exception:  # an unknown type: treat every config string as secret
            ptype = None
        values = [self.api_key] if self.api_key else []
        values += [
            str(v)
            for k, v in self.config.items()
            if isinstance(v, str) and v and (ptype is None or catalog.looks_secret(k, ptype))
        ]
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

    def complete(
        self,
        client: httpx.Client,
        target: Target,
        *,
        model: str,
        prompt: str,
        max_tokens: int = 256,
    ) -> Completion:
        """A short chat completion (streamed where the protocol allows)."""
        ...
