"""Classifying a health probe (pure): what one probe showed, and the status it earns.

    probe answered               -> healthy, or degraded when slower than slow_threshold_ms
    429 rate limited             -> degraded (it answered and knows the key)
    failure while up, streak < N -> degraded: one blip does not flap it (N = FLIP_AFTER)
    failure otherwise            -> unauthorized (401/403) or unreachable (anything else)
    nothing to probe             -> unknown (a key that needs re-entry, no endpoint)

Whatever a probe raised becomes an ``Outcome`` with a short, redacted reason
(``outcome_of_error``); ``classify`` turns it into a ``Verdict`` given the provider's previous
status and failure streak. No database, no network: ``core.probes.health`` runs the probes and
stores the verdicts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import httpx

from core.errors import (
    REASON_MAX,
    ModeldeskError,
    ProviderError,
    ProviderRateLimited,
    ProviderUnauthorized,
    redact,
)
from core.store.tables import utcnow
from core.vocabulary import UP

log = logging.getLogger(__name__)

FLIP_AFTER = 3  # consecutive failures before a provider that was up is marked down
SLOW_MS_MAX = 2000.0  # slower than this (or half the deadline) is degraded
_KIND_TEXT = {
    "unauthorized": "unauthorized",
    "rate_limited": "rate limited",
    "unreachable": "unreachable",
    "refused": "refused by the outbound guard",
    "bad_response": "bad response",
    "model_missing": "model missing",
    "server_error": "server error",
}


@dataclass(frozen=True)
class Outcome:
    """What one probe showed, before classification: kind is ok / rate_limited /
    unauthorized / unreachable / skipped."""

    kind: str
    latency_ms: float | None
    reason: str | None
    at: datetime


@dataclass(frozen=True)
class Verdict:
    """A classified outcome: the status to show and the failure streak to keep."""

    status: str
    consecutive_failures: int
    reason: str | None
    failed: bool


def slow_threshold_ms(deadline_s: float) -> float:
    """Latency above which an answering provider counts as degraded."""
    return min(SLOW_MS_MAX, deadline_s * 500.0)


def classify(
    outcome: Outcome, *, previous_status: str | None, previous_failures: int, deadline_s: float
) -> Verdict:
    """The status of one probe given the provider's previous status and failure streak."""
    if outcome.kind == "skipped":
        return Verdict("unknown", previous_failures, outcome.reason, failed=False)
    if outcome.kind == "ok":
        limit = slow_threshold_ms(deadline_s)
        if outcome.latency_ms is not None and outcome.latency_ms > limit:
            return Verdict(
                "degraded",
                0,
                f"slow: {outcome.latency_ms / 1000:.1f} s (over {limit / 1000:g} s)",
                failed=False,
            )
        return Verdict("healthy", 0, outcome.reason, failed=False)
    if outcome.kind == "rate_limited":
        return Verdict("degraded", 0, outcome.reason, failed=False)
    streak = previous_failures + 1
    if previous_status in UP and streak < FLIP_AFTER:
        return Verdict(
            "degraded",
            streak,
            _clip(f"{outcome.reason} (failure {streak} of {FLIP_AFTER} before it is marked down)"),
            failed=True,
        )
    status = "unauthorized" if outcome.kind == "unauthorized" else "unreachable"
    return Verdict(status, streak, outcome.reason, failed=True)


def _clip(text: str) -> str:
    return text if len(text) <= REASON_MAX else text[: REASON_MAX - 1] + "…"


def outcome_of_error(
    exc: BaseException,
    *,
    latency_ms: float,
    secrets: Iterable[str] = (),
    at: datetime | None = None,
) -> Outcome:
    """Translate whatever a probe raised into an Outcome with a short redacted reason."""
    at = at or utcnow()
    if isinstance(exc, ProviderError):
        reason, kind_text = str(exc.reason), _KIND_TEXT.get(exc.kind, "error")
        # Say what kind of failure it was unless the adapter's reason already does.
        if not reason.lower().startswith((kind_text, "http ", "refused")):
            reason = f"{kind_text}: {reason}"
        if (
            isinstance(exc, ProviderRateLimited)
            and exc.retry_after is not None
            and "retry after" not in reason.lower()
        ):
            reason += f" (retry after {exc.retry_after:g} s)"
        kind = (
            "rate_limited"
            if isinstance(exc, ProviderRateLimited)
            else "unauthorized"
            if isinstance(exc, ProviderUnauthorized)
            else "unreachable"
        )
        return Outcome(kind, latency_ms, redact(reason, secrets), at)
    if isinstance(exc, httpx.TimeoutException):
        return Outcome("unreachable", latency_ms, "unreachable: timed out", at)
    if isinstance(exc, httpx.HTTPError):
        return Outcome("unreachable", latency_ms, f"unreachable: {type(exc).__name__}", at)
    if isinstance(exc, ModeldeskError):  # messages meant for people; redacted all the same
        return Outcome("unreachable", latency_ms, redact(exc, secrets), at)
    # An adapter bug: its message might quote anything, so only the type is kept.
    log.warning("health probe failed unexpectedly (%s)", type(exc).__name__)
    return Outcome("unreachable", latency_ms, f"probe failed ({type(exc).__name__})", at)
