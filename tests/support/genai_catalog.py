"""The genai-prices catalog as the cost tests read it: one fixed request time, and its
providers and models by id."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from genai_prices.data_snapshot import get_snapshot

FIXED_TS = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)  # both sides price at this instant


def genai_provider(provider_id: str) -> Any:
    """A genai-prices provider by id."""
    return next(p for p in get_snapshot().providers if p.id == provider_id)


def genai_model(provider_id: str, model_id: str) -> Any:
    """A genai-prices model by provider id and model id."""
    return next(m for m in genai_provider(provider_id).models if m.id == model_id)
