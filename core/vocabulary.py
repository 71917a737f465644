"""Every closed list of the console, written once: the values a field may take.

The tables' CHECK constraints, the services' input checks, the registry's scores and the
pages' choices all read from here, so a list cannot drift from its copy. This module sits
at the bottom of ``core`` and imports nothing from it.
"""

from __future__ import annotations

# --- Accounts and records ---------------------------------------------------------------------

ROLES: tuple[str, ...] = ("admin", "member")
STATUSES: tuple[str, ...] = ("active", "inactive")  # of a provider or model record
MODEL_TYPES: tuple[str, ...] = ("inference", "embedding", "rerank")
GRANT_ENTITIES: tuple[str, ...] = ("provider", "model")  # what a grant shares

# --- Health -----------------------------------------------------------------------------------

HEALTH_STATUSES: tuple[str, ...] = ("healthy", "degraded", "unreachable", "unauthorized", "unknown")
# The health statuses of a provider that answers.
UP: tuple[str, ...] = ("healthy", "degraded")

# --- Quality and features ---------------------------------------------------------------------

QUALITY_TIERS: tuple[str, ...] = ("high", "medium", "low")  # best first
# The registry's quality score of each tier (maximised): high=3, medium=2, low=1.
QUALITY_SCORES: dict[str, int] = {
    tier: len(QUALITY_TIERS) - rank for rank, tier in enumerate(QUALITY_TIERS)
}

# What a model can do, in the order features are shown, with their labels.
FEATURE_ORDER: tuple[str, ...] = (
    "chat",
    "vision",
    "audio",
    "tool_use",
    "json_mode",
    "reasoning",
    "embedding",
    "rerank",
)
FEATURE_LABELS: dict[str, str] = {
    "chat": "chat",
    "vision": "vision",
    "audio": "audio",
    "tool_use": "tool use",
    "json_mode": "JSON mode",
    "reasoning": "reasoning",
    "embedding": "embedding",
    "rerank": "rerank",
}
FEATURES: frozenset[str] = frozenset(FEATURE_ORDER)

# What a model accepts or produces, in the order they are shown.
MODALITIES: tuple[str, ...] = ("text", "image", "audio", "video", "pdf")
