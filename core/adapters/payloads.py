"""Reading provider payloads: a shape guard and tolerant value converters.

Provider JSON is foreign input: a listing row missing its id or a chunk whose ``choices``
is a string must end as ``ProviderBadResponse``, never as a ``TypeError`` in a page.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from core.errors import ProviderBadResponse


@contextmanager
def shape(what: str) -> Iterator[None]:
    """Parse a payload; any type or key surprise becomes a ProviderBadResponse naming ``what``."""
    try:
        yield
    except (KeyError, IndexError, TypeError, AttributeError, ValueError):
        raise ProviderBadResponse(f"Unexpected {what} from the provider") from None


def text(value: Any) -> str:
    """A non-empty string, else a shape error."""
    if not isinstance(value, str) or not value.strip():
        raise TypeError("expected text")
    return value


def string(value: Any) -> str:
    """Any string (empty allowed), else a shape error."""
    if not isinstance(value, str):
        raise TypeError("expected a string")
    return value


def optional_text(value: Any) -> str | None:
    """A non-empty string or None."""
    return value if isinstance(value, str) and value.strip() else None


def optional_int(value: Any) -> int | None:
    """A non-negative int (bools excluded) or None."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def from_unix(value: Any) -> datetime | None:
    """A UTC datetime from unix seconds, or None."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < 1e11:
        return datetime.fromtimestamp(value, UTC)
    return None


def from_iso(value: Any) -> datetime | None:
    """A UTC datetime from an ISO-8601 string (nanoseconds tolerated), or None."""
    if not isinstance(value, str):
        return None
    cleaned = re.sub(r"(\.\d{6})\d+", r"\1", value.strip()).replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(cleaned)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
