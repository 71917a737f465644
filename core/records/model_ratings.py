"""An admin's word on a model: its quality tier and the features it supports.

Both are optional and neither is secret. ``None`` means "not said": the registry then
falls back to its seed table (quality) or to the catalog's facts (features). An empty
feature list is stored as ``None`` too, since "supports nothing" is never what is meant.

    models.quality_tier   'high' | 'medium' | 'low' | NULL
    models.features       '["chat", "vision"]' (sorted JSON list, no duplicates) | NULL

Tiers and feature names are ``core.vocabulary``'s ``QUALITY_TIERS`` and ``FEATURES``, the
lists the registry ranks by.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from core.errors import ValidationError
from core.vocabulary import FEATURES, QUALITY_TIERS


def feature_names() -> list[str]:
    """Every valid feature name, sorted (the registry's list)."""
    return sorted(FEATURES)


def check_quality_tier(value: Any, *, field: str = "quality_tier") -> str | None:
    """'high', 'medium' or 'low'; None or '' means not rated."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    cleaned = value.strip().lower() if isinstance(value, str) else value
    if cleaned not in QUALITY_TIERS:
        shown = repr(value)[:40]
        raise ValidationError(
            f"The quality tier {shown} is not valid: use one of "
            f"{', '.join(QUALITY_TIERS)}, or leave it empty (not rated).",
            field=field,
        )
    return cleaned


def check_features(value: Any, *, field: str = "features") -> tuple[str, ...] | None:
    """Sorted, de-duplicated feature names; None, '' or an empty list means 'from the
    catalog'. A string is read as a comma-separated list."""
    if value is None:
        return None
    if isinstance(value, str):
        value = [part for part in value.split(",") if part.strip()]
    if not isinstance(value, Iterable) or isinstance(value, (bytes, dict)):
        raise ValidationError(f"The {field} must be a list of feature names.", field=field)
    valid = feature_names()
    names = set()
    for item in value:
        name = item.strip() if isinstance(item, str) else item
        if name not in valid:
            shown = repr(item)[:40]
            raise ValidationError(
                f"Unknown feature {shown} in {field}. Valid: {', '.join(valid)}.", field=field
            )
        names.add(name)
    return tuple(sorted(names)) or None


def encode_features(features: tuple[str, ...] | None) -> str | None:
    """The column text of checked features."""
    return json.dumps(list(features)) if features else None


def decode_features(text: str | None) -> tuple[str, ...] | None:
    """The stored features (None when unset; a damaged value reads as unset)."""
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, list):
        return None
    return tuple(str(v) for v in value) or None
