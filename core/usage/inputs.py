"""What a usage report says, and the one check every report passes before it is stored.

Token convention (written once, here and in docs/architecture.md)::

    input_tokens   every input token of the request(s)
      ├─ cached_input_tokens   read from the provider's cache   (part of input_tokens)
      └─ cache_write_tokens    written to the provider's cache  (part of input_tokens)
    output_tokens  every output token
      └─ reasoning_tokens      thinking tokens                  (part of output_tokens)

A report with ``requests=n`` stands for n requests whose tokens are summed. A report that
names no idempotency key gets one from its content (``content_key``), so sending the same
report twice stores it once.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

TOKEN_FIELDS = (
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
)
COUNT_FIELDS = (*TOKEN_FIELDS, "requests")
FUTURE_SLACK = timedelta(hours=1)  # clock skew tolerated; later timestamps are refused
MAX_COUNT = 10**15  # far above any real batch; keeps sums inside BIGINT
MAX_TAGS = 20
KEY_MAX = 200
TAG_KEY = re.compile(r"[A-Za-z0-9_.:/-]{1,64}")
TAG_VALUE_MAX = 200
USERNAME_MAX = 64
MODEL_ID_MAX = 255


@dataclass(frozen=True)
class UsageInput:
    """One usage report as a client sends it (see the module docstring for the tokens)."""

    timestamp: datetime
    provider: str  # the provider record's name
    model: str  # the model id as the provider knows it
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    requests: int = 1
    user: str | None = None  # a username (kept even when no console user has it)
    tags: Mapping[str, str] = field(default_factory=dict)
    idempotency_key: str | None = None  # None: a digest of the content
    source_cost_usd: Decimal | None = None  # the source's own cost (LiteLLM's), kept beside ours

    @property
    def key(self) -> str:
        """The idempotency key: the given one, else the content's digest."""
        return self.idempotency_key if self.idempotency_key is not None else content_key(self)


def content_key(report: UsageInput) -> str:
    """'sha256:…' of the report's content, the same for a CSV line and a JSONL line."""
    content = {name: getattr(report, name) for name in COUNT_FIELDS}
    content.update(
        timestamp=report.timestamp.astimezone(UTC).isoformat()
        if isinstance(report.timestamp, datetime) and report.timestamp.tzinfo
        else str(report.timestamp),
        provider=report.provider,
        model=report.model,
        user=report.user,
        tags=dict(sorted(dict(report.tags).items()))
        if isinstance(report.tags, Mapping)
        else str(report.tags),
    )
    text = json.dumps(content, sort_keys=True, ensure_ascii=False, default=str)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def has_control(text: str) -> bool:
    """Whether text holds a control, invisible format (bidi, zero-width) or line separator
    character, or half of a surrogate pair (a JSON escape such as \\udc00 on its own: not
    text, and no database can store it): none may be in a usage field, nor in a budget scope
    that has to match one."""
    if text.isprintable():  # no Cc, Cf, Cs, Zl or Zp character (the common case, in C)
        return False
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp") for ch in text)


def _text(value: Any, name: str, limit: int, *, required: bool = True) -> list[str]:
    if value is None and not required:
        return []
    if not isinstance(value, str) or not value.strip():
        return [f"{name} is required"]
    if len(value) > limit:
        return [f"{name} is longer than {limit} characters"]
    if value != value.strip() or has_control(value):
        return [f"{name} has surrounding spaces or control characters"]
    return []


def check_tags(tags: Any) -> list[str]:
    """Problems of a tags mapping: str keys like team or env:prod, str values, at most 20."""
    if not isinstance(tags, Mapping):
        return ["tags must be an object of key=value pairs"]
    problems = []
    if len(tags) > MAX_TAGS:
        problems.append(f"at most {MAX_TAGS} tags are kept, not {len(tags)}")
    for key, value in tags.items():
        if not isinstance(key, str) or not TAG_KEY.fullmatch(key):
            problems.append(f"tag key {str(key)[:70]!r} is not 1 to 64 letters, digits or _.:/-")
        elif not isinstance(value, str):
            problems.append(f"tag {key}'s value must be text, not {type(value).__name__}")
        elif not value or len(value) > TAG_VALUE_MAX or has_control(value):
            problems.append(
                f"tag {key}'s value must be 1 to {TAG_VALUE_MAX} characters "
                "without control characters"
            )
    return problems


def problems_of(  # noqa: C901
    report: UsageInput, *, now: datetime | None = None, horizon: datetime | None = None
) -> list[str]:
    """Every problem of a report, as short reasons (empty when it may be stored). With a
    retention horizon (core.usage.retention), an event before it is refused: its raw row
    would be pruned at once and could never be drilled into."""
    problems: list[str] = []
    for name in COUNT_FIELDS:
        value = getattr(report, name)
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(f"{name} must be a whole number, not {value!r}"[:120])
        elif value < 0:
            problems.append(f"{name} cannot be negative ({value})")
        elif value > MAX_COUNT:
            problems.append(f"{name} is implausibly large ({value})")
    counts_ok = not problems
    if counts_ok:
        if report.cached_input_tokens + report.cache_write_tokens > report.input_tokens:
            problems.append(
                "cached_input_tokens + cache_write_tokens "
                f"({report.cached_input_tokens + report.cache_write_tokens}) exceed "
                f"input_tokens ({report.input_tokens}), which include them"
            )
        if report.reasoning_tokens > report.output_tokens:
            problems.append(
                f"reasoning_tokens ({report.reasoning_tokens}) exceed output_tokens "
                f"({report.output_tokens}), which include them"
            )
        if report.requests < 1:
            problems.append("requests must be at least 1")
    stamp = report.timestamp
    if not isinstance(stamp, datetime):
        problems.append("timestamp must be a date and time")
    elif stamp.tzinfo is None or stamp.utcoffset() is None:
        problems.append("timestamp needs a UTC offset or Z (a time without one is ambiguous)")
    elif stamp > (now or datetime.now(UTC)) + FUTURE_SLACK:
        problems.append(f"timestamp {stamp.isoformat()} is in the future")
    elif horizon is not None and stamp < horizon:
        problems.append(
            f"timestamp {stamp.isoformat()} is before the retention horizon "
            f"{horizon.isoformat(timespec='seconds')} (MODELDESK_USAGE_RETENTION_DAYS): "
            "raw events that old are pruned"
        )
    problems += _text(report.provider, "provider", 100)
    problems += _text(report.model, "model", MODEL_ID_MAX)
    problems += _text(report.user, "user", USERNAME_MAX, required=False)
    problems += check_tags(report.tags)
    if report.idempotency_key is not None:
        problems += _text(report.idempotency_key, "id", KEY_MAX)
    problems += _source_cost(report.source_cost_usd)
    return problems


MAX_SOURCE_COST = Decimal(10) ** 11  # Money is NUMERIC(20, 8): 12 digits before the point


def _source_cost(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, Decimal) or not value.is_finite():
        return [f"the source's cost must be a decimal number, not {str(value)[:40]!r}"]
    if value < 0 or value >= MAX_SOURCE_COST:
        return [f"the source's cost {value} is out of range"]
    return []
