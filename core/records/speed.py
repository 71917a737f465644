"""Measured speed: completion timings kept per model, their medians and a speed tier.

A sample is one completion: time to first token (streamed protocols), total time and the
output token count. ``record_sample`` keeps the newest ``SAMPLES_KEPT`` per model (older
ones are pruned on insert); ``measurements`` reads every model's samples in ONE query (the
Explorer calls it over thousands of models) and takes the medians in Python.

Tokens per second is the decode rate, output tokens over the time after the first token
(over the whole time when the protocol gives no first-token time). A reply shorter than
``MIN_TOKENS_FOR_RATE`` tokens (a connection test's one-word answer) says nothing about it,
so such a sample counts for time to first token only.

Speed tier from the medians (thresholds below, both inclusive where written so):

    fast    TTFT <= 800 ms  and  >= 60 tokens/s        (both must be known)
    slow    TTFT >= 3,000 ms  or  < 20 tokens/s        (either one suffices)
    medium  anything else, both medians known
    None    no sample with a usable time, or only one median and it is not slow (a deep
            check's first-token time alone cannot tell fast from medium)
"""

from __future__ import annotations

import math
import statistics
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.errors import ValidationError
from core.store.tables import ModelSpeedSample, utcnow

SAMPLES_KEPT = 50
MIN_TOKENS_FOR_RATE = 20
FAST_TTFT_MS, FAST_TOKENS_PER_S = 800.0, 60.0
SLOW_TTFT_MS, SLOW_TOKENS_PER_S = 3000.0, 20.0
SOURCE_MAX = 32
MAX_IDS_IN_QUERY = 5000  # more ids than this are filtered in Python (bound-parameter limits)


@dataclass(frozen=True)
class SpeedMeasurement:
    """A model's measured speed: medians over its kept samples."""

    samples: int
    median_ttft_ms: float | None
    median_tokens_per_s: float | None
    last_at: datetime


def _duration(value: object, field: str, *, required: bool) -> float | None:
    if value is None and not required:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise ValidationError(
            f"The {field.replace('_', ' ')} must be a finite number of milliseconds, zero or more.",
            field=field,
        )
    return float(value)


def record_sample(
    session: Session,
    *,
    model_record_id: uuid.UUID,
    ttft_ms: float | None,
    total_ms: float,
    output_tokens: int | None,
    source: str = "deep check",
    at: datetime | None = None,
) -> ModelSpeedSample:
    """Add one sample and prune the model's samples to the newest SAMPLES_KEPT."""
    total = _duration(total_ms, "total_ms", required=True)
    first = _duration(ttft_ms, "ttft_ms", required=False)
    if output_tokens is not None and (
        isinstance(output_tokens, bool) or not isinstance(output_tokens, int) or output_tokens < 0
    ):
        raise ValidationError(
            "The output tokens must be a whole number, zero or more.", field="output_tokens"
        )
    if not isinstance(source, str) or not source.strip() or len(source) > SOURCE_MAX:
        raise ValidationError(
            f"The source must be text of 1 to {SOURCE_MAX} characters.", field="source"
        )
    sample = ModelSpeedSample(
        id=uuid.uuid4(),
        model_record_id=model_record_id,
        measured_at=at or utcnow(),
        ttft_ms=first,
        total_ms=total,
        output_tokens=output_tokens,
        source=source.strip(),
    )
    session.add(sample)
    session.flush()
    s = ModelSpeedSample
    kept = (
        select(s.id)
        .where(s.model_record_id == model_record_id)
        .order_by(s.measured_at.desc(), s.id.desc())
        .limit(SAMPLES_KEPT)
    )
    session.execute(
        delete(s)
        .where(s.model_record_id == model_record_id, s.id.not_in(kept))
        .execution_options(synchronize_session=False)
    )
    return sample


def tokens_per_s(ttft_ms: float | None, total_ms: float, output_tokens: int | None) -> float | None:
    """The decode rate of one sample, or None when the reply is too short to tell."""
    if output_tokens is None or output_tokens < MIN_TOKENS_FOR_RATE:
        return None
    generating_ms = total_ms - (ttft_ms or 0.0)
    return output_tokens / (generating_ms / 1000) if generating_ms > 0 else None


def summarise(
    rows: Iterable[tuple[datetime, float | None, float, int | None]],
) -> SpeedMeasurement | None:
    """The measurement of one model's samples (measured_at, ttft_ms, total_ms, tokens)."""
    rows = list(rows)
    if not rows:
        return None
    ttfts = [r[1] for r in rows if r[1] is not None]
    rates = [rate for r in rows if (rate := tokens_per_s(r[1], r[2], r[3])) is not None]
    return SpeedMeasurement(
        samples=len(rows),
        median_ttft_ms=statistics.median(ttfts) if ttfts else None,
        median_tokens_per_s=statistics.median(rates) if rates else None,
        last_at=max(r[0] for r in rows),
    )


def measurements(
    session: Session, model_record_ids: Iterable[uuid.UUID] | None = None
) -> dict[uuid.UUID, SpeedMeasurement]:
    """Every measured model's SpeedMeasurement (or only these models'), in one query."""
    s = ModelSpeedSample
    stmt = select(s.model_record_id, s.measured_at, s.ttft_ms, s.total_ms, s.output_tokens)
    wanted: set[uuid.UUID] | None = None
    if model_record_ids is not None:
        wanted = set(model_record_ids)
        if not wanted:
            return {}
        if len(wanted) <= MAX_IDS_IN_QUERY:
            stmt = stmt.where(s.model_record_id.in_(wanted))
        # else: read every sample and keep the wanted ones (still one query; no huge IN)
    grouped: dict[uuid.UUID, list[tuple[datetime, float | None, float, int | None]]] = {}
    for mid, at, ttft, total, tokens in session.execute(stmt):
        if wanted is None or mid in wanted:
            grouped.setdefault(mid, []).append((at, ttft, total, tokens))
    return {mid: m for mid, rows in grouped.items() if (m := summarise(rows)) is not None}


def speed_tier(m: SpeedMeasurement | None) -> str | None:
    """'fast', 'medium' or 'slow' by the thresholds in the module docstring; None when
    nothing usable was measured."""
    if m is None or m.samples == 0:
        return None
    ttft, rate = m.median_ttft_ms, m.median_tokens_per_s
    if ttft is None and rate is None:
        return None
    if (ttft is not None and ttft >= SLOW_TTFT_MS) or (
        rate is not None and rate < SLOW_TOKENS_PER_S
    ):
        return "slow"
    if ttft is None or rate is None:
        # One figure that is not slow cannot tell fast from medium (a deep check's one-word
        # answer has no throughput): no measured tier, so the seed or the estimate stays.
        return None
    if ttft <= FAST_TTFT_MS and rate >= FAST_TOKENS_PER_S:
        return "fast"
    return "medium"


def describe(m: SpeedMeasurement) -> str:
    """One line, e.g. 'measured: 420 ms to first token, 85 tok/s (3 samples, last
    2026-11-20)'."""
    parts = []
    if m.median_ttft_ms is not None:
        parts.append(f"{m.median_ttft_ms:,.0f} ms to first token")
    if m.median_tokens_per_s is not None:
        parts.append(f"{m.median_tokens_per_s:,.0f} tok/s")
    count = f"{m.samples} sample{'' if m.samples == 1 else 's'}"
    what = ", ".join(parts) if parts else "no usable timing"
    return f"measured: {what} ({count}, last {m.last_at:%Y-%m-%d})"
