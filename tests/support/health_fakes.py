"""A fake adapter for health tests: it implements the real Adapter interface and behaves
as told per base URL (answer after a delay, raise a provider error, hang)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from core.adapters.base import ProbeResult, Target

Behaviour = Callable[[Target], ProbeResult]


def answers(latency_ms: float = 5.0, detail: str = "3 models listed") -> Behaviour:
    """A probe that succeeds after latency_ms."""

    def probe(target: Target) -> ProbeResult:
        time.sleep(latency_ms / 1000)
        return ProbeResult(latency_ms=latency_ms, detail=detail)

    return probe


def raises(make: Callable[[Target], BaseException]) -> Behaviour:
    """A probe that raises what make(target) builds (it may quote the key: a leaky adapter)."""

    def probe(target: Target) -> ProbeResult:
        raise make(target)

    return probe


class FakeAdapter:
    """Adapter.probe by base URL; list_models/complete are never used by health checks."""

    protocol = "openai"

    def __init__(self, behaviours: dict[str, Behaviour] | None = None) -> None:
        self.behaviours = dict(behaviours or {})
        self.calls: list[str] = []
        self.release = threading.Event()  # ends every hanging probe
        self.active = 0
        self.peak = 0
        self._lock = threading.Lock()

    def hang(self, target: Target) -> ProbeResult:
        """A probe that never answers (until the test releases it)."""
        self.release.wait(30)
        return ProbeResult(latency_ms=30_000, detail="too late")

    def probe(self, client: httpx.Client, target: Target) -> ProbeResult:
        with self._lock:
            self.calls.append(target.base_url)
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            return self.behaviours.get(target.base_url, answers())(target)
        finally:
            with self._lock:
                self.active -= 1

    def list_models(self, client: httpx.Client, target: Target) -> list[Any]:
        raise AssertionError("health checks only probe")

    def complete(self, client: httpx.Client, target: Target, **kw: Any) -> Any:
        raise AssertionError("health checks never make a paid call")


class Clients:
    """A client_factory seam that records what it was asked for."""

    def __init__(self) -> None:
        self.trusted: list[str | None] = []

    def __call__(self, *, trust: str | None, deadline_s: float) -> httpx.Client:
        self.trusted.append(trust)
        return httpx.Client(timeout=deadline_s)


def seams(adapter: FakeAdapter) -> dict[str, Any]:
    """check_providers keyword arguments that route every protocol to the fake."""
    from core.catalog import PROTOCOLS

    return {"adapters": {p: adapter for p in PROTOCOLS}, "client_factory": Clients()}
