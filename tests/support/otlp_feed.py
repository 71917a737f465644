"""OTLP/HTTP JSON spans fed to ``POST /v1/traces`` at a steady rate (the load scenario's
ingest, tests/support/load.py): each span a GenAI chat with token counts and a response id
of its own, so every accepted span must be in the ledger exactly once."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any, Protocol

import httpx

BATCHES_PER_S = 10
RETRIES = 5  # OTLP exporters retry 429 and 503 with a growing pause
RETRY_PAUSE_S = 0.5


class Tally(Protocol):
    """Where the feed counts (tests/support/load.py Figures)."""

    events_sent: int
    ingest_requests: int
    ingest_failures: list[str]
    ingest_seconds: float
    ingest_times: list[float]
    ingest_retries: int


def _span(response_id: str, now_ns: int) -> dict[str, Any]:
    attrs = {
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "gpt-4o",
        "gen_ai.response.id": response_id,
        "gen_ai.usage.input_tokens": 1200,
        "gen_ai.usage.output_tokens": 300,
    }
    return {
        "traceId": uuid.uuid4().hex,
        "spanId": uuid.uuid4().hex[:16],
        "name": "chat gpt-4o",
        "kind": 3,
        "startTimeUnixNano": str(now_ns - 10**9),
        "endTimeUnixNano": str(now_ns),
        "attributes": [
            {"key": k, "value": {"intValue": str(v)} if isinstance(v, int) else {"stringValue": v}}
            for k, v in attrs.items()
        ],
    }


class Ingest:
    """POST ``rate`` spans a second as ``BATCHES_PER_S`` requests, from ``SENDERS`` threads
    (a slow answer does not hold back the next request); a span counts as sent when its
    request got a 200 without ``partialSuccess`` (after up to ``RETRIES`` retries of a 503 or
    429). Behind by more than a second, a sender skips ahead instead of bursting. With
    several base URLs (replicas), sender n posts to base URL n modulo their number."""

    SENDERS = 16  # requests in flight at most: enough to offer the rate when answers slow

    def __init__(
        self, base_urls: Sequence[str], token: str, rate: int, prefix: str, figures: Tally
    ) -> None:
        self.base_urls, self.token, self.prefix, self.figures = base_urls, token, prefix, figures
        self.per_batch = max(1, rate // BATCHES_PER_S)
        self.interval = self.per_batch / rate
        self.lock = threading.Lock()
        self.batches = 0
        self.next_at = 0.0

    def _slot(self) -> tuple[int, float]:
        with self.lock:
            now = time.perf_counter()
            if self.next_at < now - 1:
                self.next_at = now
            slot, at = self.batches, self.next_at
            self.batches += 1
            self.next_at += self.interval
            return slot, at

    def _send(self, base_url: str, stop: threading.Event) -> None:
        with httpx.Client(base_url=base_url, timeout=30) as client:
            while not stop.is_set():
                slot, at = self._slot()
                if stop.wait(max(0.0, at - time.perf_counter())):
                    return
                now_ns = time.time_ns()
                first = slot * self.per_batch
                spans = [_span(f"{self.prefix}-{first + i}", now_ns) for i in range(self.per_batch)]
                body = {
                    "resourceSpans": [
                        {
                            "resource": {"attributes": []},
                            "scopeSpans": [{"scope": {"name": "load"}, "spans": spans}],
                        }
                    ]
                }
                failure = self._post(client, body)
                with self.lock:
                    self.figures.ingest_requests += 1
                    if failure is None:
                        self.figures.events_sent += self.per_batch
                    else:
                        self.figures.ingest_failures.append(failure)

    def _post(self, client: httpx.Client, body: dict[str, Any]) -> str | None:
        """One export as an OTLP exporter makes it: a 503 or 429 is retried (the same spans,
        after a pause that doubles); None when accepted, else why not."""
        pause = RETRY_PAUSE_S
        for attempt in range(1 + RETRIES):
            sent_at = time.perf_counter()
            try:
                answer = client.post(
                    "/v1/traces", json=body, headers={"Authorization": f"Bearer {self.token}"}
                )
                ok = answer.status_code == 200 and not answer.json().get("partialSuccess")
                failure = None if ok else f"{answer.status_code}: {answer.text[:200]}"
                retry = answer.status_code in (429, 503)
            except (httpx.HTTPError, ValueError) as exc:
                failure, retry = f"{type(exc).__name__}: {exc}", False
            with self.lock:
                self.figures.ingest_times.append(time.perf_counter() - sent_at)
                if retry and attempt < RETRIES:
                    self.figures.ingest_retries += 1
            if not retry:
                return failure
            if attempt < RETRIES:
                time.sleep(pause)
                pause *= 2
        return failure

    def __call__(self, stop: threading.Event) -> None:
        started = time.perf_counter()
        self.next_at = started
        senders = [
            threading.Thread(
                target=self._send, args=(self.base_urls[n % len(self.base_urls)], stop), daemon=True
            )
            for n in range(self.SENDERS)
        ]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join()
        self.figures.ingest_seconds = time.perf_counter() - started
