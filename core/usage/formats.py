"""Modeldesk's own usage file format, CSV with a header or JSONL, and importing it.

Keys (CSV header names = JSONL object keys)::

    timestamp            ISO 8601 with an offset or Z              required
    provider             the provider record's name                required
    model                the model id as the provider knows it     required
    input_tokens         whole number ≥ 0, cached reads and writes included   required
    output_tokens        whole number ≥ 0, reasoning included      required
    cached_input_tokens, cache_write_tokens, reasoning_tokens      default 0
    requests             default 1
    user                 a username
    tags                 CSV: key=value;key=value   JSONL: {"key": "value"}
    id                   the idempotency key; absent: a digest of the line's content

``--format otlp`` (or auto, when the first line has "resourceSpans") reads OpenTelemetry
GenAI spans instead (core.usage.otlp); ``--format litellm`` (or auto, when the first line is a
StandardLoggingPayload) reads LiteLLM's logging payloads (core.usage.litellm). Every bad line
is reported with its line number and reason (line numbers count the CSV header as line 1 and
every JSONL line, blank ones included). Good lines are stored, or none at all with
``all_or_nothing``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from core.accounts import users
from core.errors import ValidationError
from core.usage import gc_pause, ledger, litellm, otlp
from core.usage.inputs import COUNT_FIELDS, UsageInput
from core.validation import loads_json

FORMATS = ("auto", "modeldesk", "otlp", "litellm")
REQUIRED = ("timestamp", "provider", "model", "input_tokens", "output_tokens")
OPTIONAL = (
    "cached_input_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "requests",
    "user",
    "tags",
    "id",
)
KEYS = REQUIRED + OPTIONAL
_DEFAULTS = {
    "cached_input_tokens": 0,
    "cache_write_tokens": 0,
    "reasoning_tokens": 0,
    "requests": 1,
}
MAX_REPORTED = 1000  # bad lines listed one by one; the rest are counted
STEP = 50_000  # reports checked, then stored, per batch (progress is told after each)


@dataclass(frozen=True)
class BadLine:
    """A line that was not stored, and why."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class ImportReport:
    """What an import did: lines read, stored, already recorded, and the bad ones."""

    lines: int = 0
    result: ledger.RecordResult | None = None
    bad: list[BadLine] = field(default_factory=list)
    all_or_nothing: bool = False
    unit: str = "line"  # "span" for OTLP: one line can hold many spans
    skipped: int = 0  # OTLP spans without token counts; LiteLLM cache hits, tokenless failures

    @property
    def stored(self) -> int:
        """Events stored by this import."""
        return self.result.inserted if self.result else 0

    def summary(self) -> str:
        """One sentence for people."""
        text = self._summary()
        if self.unit == "span":
            text = text.replace("line(s)", "span(s)")
        if self.skipped and self.unit == "span":
            text += f"; {self.skipped} span(s) without token counts ignored"
        elif self.skipped:
            text += (
                f"; {self.skipped} call(s) skipped (LiteLLM cache hits, failures without tokens)"
            )
        return text

    def _summary(self) -> str:
        if self.bad and (self.all_or_nothing or self.result is None):
            return (
                f"{len(self.bad)} bad line(s) of {self.lines}; nothing stored (all or nothing)"
                if self.all_or_nothing
                else f"{len(self.bad)} bad line(s) of {self.lines}; nothing to store"
            )
        done = self.result.summary() if self.result else "nothing stored"
        skipped = f"; {len(self.bad)} bad line(s) skipped" if self.bad else ""
        return f"{self.lines} line(s): {done}{skipped}"


def _integer(value: Any, name: str) -> int:
    if value is None or value == "":
        if name in _DEFAULTS:
            return _DEFAULTS[name]
        raise ValueError(f"{name} is required")
    if isinstance(value, int) and not isinstance(value, bool):  # true is not 1 token
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise ValueError(f"{name} must be a whole number, not {str(value)[:40]!r}")


def _timestamp(value: Any) -> datetime:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("timestamp is required")
    text = value.strip()
    try:
        stamp = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "Zz" else text)
    except ValueError:
        raise ValueError(f"timestamp {text[:40]!r} is not ISO 8601") from None
    if stamp.tzinfo is None:
        raise ValueError(f"timestamp {text[:40]!r} needs a UTC offset or Z")
    return stamp


def _csv_tags(text: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for part in text.split(";"):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"tag {part.strip()[:40]!r} is not key=value")
        key, value = key.strip(), value.strip()
        if key in tags:
            raise ValueError(f"tag {key[:40]!r} is given twice")
        tags[key] = value
    return tags


def to_input(fields_: dict[str, Any], *, csv_tags: bool) -> UsageInput:
    """A report from one line's keys; ValueError with every problem of the line."""
    problems = []
    unknown = sorted(k for k in fields_ if k not in KEYS)
    if unknown:
        problems.append(f"unknown key(s) {', '.join(repr(k[:30]) for k in unknown[:5])}")
    values: dict[str, Any] = {}
    try:
        values["timestamp"] = _timestamp(fields_.get("timestamp"))
    except ValueError as exc:
        problems.append(str(exc))
    for name in COUNT_FIELDS:
        try:
            values[name] = _integer(fields_.get(name), name)
        except ValueError as exc:
            problems.append(str(exc))
    for name in ("provider", "model", "user", "id"):
        value = fields_.get(name)
        if value is not None and not isinstance(value, str):
            problems.append(f"{name} must be text, not {type(value).__name__}")
        values[name] = value if value != "" else None
    raw_tags = fields_.get("tags")
    try:
        if raw_tags in (None, ""):
            values["tags"] = {}
        elif csv_tags:
            values["tags"] = _csv_tags(raw_tags)
        else:
            values["tags"] = raw_tags  # checked with the rest (an object of text values)
    except ValueError as exc:
        problems.append(str(exc))
    if problems:
        raise ValueError("; ".join(problems))
    return UsageInput(
        timestamp=values["timestamp"],
        provider=values["provider"] or "",
        model=values["model"] or "",
        user=values["user"],
        tags=values["tags"],
        idempotency_key=values["id"],
        **{n: values[n] for n in COUNT_FIELDS},
    )


def _csv_lines(text: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        return
    header = [h.strip() for h in header]
    missing = [k for k in REQUIRED if k not in header]
    duplicated = sorted({h for h in header if header.count(h) > 1})
    unknown = [h for h in header if h not in KEYS]
    problems = (
        ([f"the header lacks {', '.join(missing)}"] if missing else [])
        + ([f"the header repeats {', '.join(duplicated)}"] if duplicated else [])
        + (
            [f"the header has unknown column(s) {', '.join(repr(h[:30]) for h in unknown)}"]
            if unknown
            else []
        )
    )
    if problems:
        yield 1, "; ".join(problems)
        return
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            yield line, f"{len(row)} fields where the header has {len(header)}"
            continue
        yield line, {k: v.strip() for k, v in zip(header, row, strict=True) if v.strip() != ""}


def _jsonl_lines(text: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            value = loads_json(raw, parse_constant=_no_constant)
        except ValueError as exc:
            yield line, f"not JSON ({str(exc).split(':')[0][:60]})"
            continue
        if not isinstance(value, dict):
            yield line, f"a JSON object is expected, not {type(value).__name__}"
            continue
        yield line, value


def _no_constant(token: str) -> Any:
    raise ValueError(f"{token} is not allowed")


def detect(text: str) -> str:
    """'jsonl' when the first non-blank character opens JSON, else 'csv' (a CSV header
    starts with a key name)."""
    return "jsonl" if text.lstrip()[:1] in ("{", "[") else "csv"


def parse(text: str) -> list[tuple[int, UsageInput | str]]:
    """Each non-blank line: (line number, report or the reason it cannot be read)."""
    kind = detect(text)
    source = _jsonl_lines(text) if kind == "jsonl" else _csv_lines(text)
    parsed: list[tuple[int, UsageInput | str]] = []
    for line, item in source:
        if isinstance(item, str):
            parsed.append((line, item))
            continue
        try:
            parsed.append((line, to_input(item, csv_tags=kind == "csv")))
        except ValueError as exc:
            parsed.append((line, str(exc)))
    return parsed


IMPORT_MAX_BYTES = 32 * 1024 * 1024  # the default of MODELDESK_IMPORT_MAX_BYTES


def read_file(path: Path, *, max_bytes: int = IMPORT_MAX_BYTES) -> str:
    """A usage file's text; a ValidationError saying why it cannot be read (never more
    than max_bytes + 1 bytes are read)."""
    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise ValidationError(
            f"Cannot read {path}: {exc.strerror or type(exc).__name__}.", field="file"
        ) from None
    return text_of(data, path.name, max_bytes=max_bytes)


def _size(n: int) -> str:
    return f"{n / 2**20:g} MiB" if n >= 2**20 else f"{n / 2**10:g} KiB"


def text_of(data: bytes, name: str, *, max_bytes: int = IMPORT_MAX_BYTES) -> str:
    """An uploaded usage file's text; a ValidationError when it is larger than max_bytes
    (MODELDESK_IMPORT_MAX_BYTES) or not UTF-8."""
    if len(data) > max_bytes:
        raise ValidationError(
            f"{name} is larger than {_size(max_bytes)}, the limit for a usage import "
            "(MODELDESK_IMPORT_MAX_BYTES); split it and import the parts one by one.",
            field="file",
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationError(
            f"{name} is not UTF-8 text (byte {exc.start}).", field="file"
        ) from None


def import_text(
    session: Session,
    text: str,
    *,
    timezone: str | tzinfo = "UTC",
    all_or_nothing: bool = False,
    now: datetime | None = None,
    format: str = "auto",
    providers: dict[str | None, str] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    retention_days: int | None = None,
) -> ImportReport:
    """Import a usage file's text: bad lines reported, good ones stored (or none with
    all_or_nothing). ``format``: one of FORMATS; ``providers``: an OTLP span's provider
    record by its gen_ai.provider.name, a LiteLLM payload's by its custom_llm_provider (None:
    every one); ``progress(phase, done, total)``: called after each batch of STEP reports
    checked ("checking") and stored ("storing"); ``retention_days``: lines older than the
    retention horizon are refused. The caller commits."""
    if format not in FORMATS:
        raise ValidationError(f"Unknown usage format {format!r}.", field="format")
    with gc_pause.paused():  # a file is a large batch (core.usage.gc_pause)
        parsed, skipped, unit = _parse_as(session, text.removeprefix("\ufeff"), format, providers)
        return book(
            session,
            parsed,
            skipped=skipped,
            unit=unit,
            timezone=timezone,
            all_or_nothing=all_or_nothing,
            now=now,
            progress=progress,
            retention_days=retention_days,
        )


def book(
    session: Session,
    parsed: list[tuple[int, UsageInput | str]],
    *,
    skipped: int = 0,
    unit: str = "line",
    timezone: str | tzinfo = "UTC",
    all_or_nothing: bool = False,
    now: datetime | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    retention_days: int | None = None,
) -> ImportReport:
    """Store parsed reports through the ledger's one validation path: each bad one (a reason,
    or refused by the ledger's checks) reported, the good ones stored (or none with
    all_or_nothing). The file import and the live OTLP route both end here."""
    report = ImportReport(
        lines=len(parsed), all_or_nothing=all_or_nothing, unit=unit, skipped=skipped
    )
    readable = [(line, item) for line, item in parsed if isinstance(item, UsageInput)]
    report.bad = [BadLine(line, item) for line, item in parsed if isinstance(item, str)]
    reports = [item for _, item in readable]
    now = now or datetime.now(UTC)
    preparer = ledger.preparer(session, timezone=timezone, now=now, retention_days=retention_days)
    prepared: list[Any] = []
    for start in range(0, len(reports), STEP):
        prepared += preparer.prepare(reports[start : start + STEP])
        if progress:
            progress("checking", len(prepared), len(reports))
    rows = []
    for (line, _), outcome in zip(readable, prepared, strict=True):
        if isinstance(outcome, list):
            report.bad.append(BadLine(line, "; ".join(outcome)))
        else:
            rows.append(outcome)
    report.bad.sort(key=lambda b: b.line)
    if report.bad and all_or_nothing:
        return report
    report.result = _store(session, rows, progress, now=now)
    return report


def _parse_as(
    session: Session, text: str, format: str, providers: dict[str | None, str] | None
) -> tuple[list[tuple[int, UsageInput | str]], int, str]:
    """(line, report or reason) of each item, items skipped, and the unit the file counts."""
    if format == "otlp" or (format == "auto" and otlp.detect(text)):
        spans = otlp.parse(text, otlp.ProviderMap.load(session, providers))
        return spans.items, spans.skipped, "span"
    if format == "litellm" or (format == "auto" and litellm.detect(text)):
        known: dict[str, bool] = {}

        def is_user(name: str) -> bool:
            if name not in known:
                known[name] = users.get_by_username(session, name) is not None
            return known[name]

        calls = litellm.parse(text, otlp.ProviderMap.load(session, providers), is_user)
        return calls.items, calls.skipped, "line"
    return parse(text), 0, "line"


def _store(
    session: Session,
    rows: list[Any],
    progress: Callable[[str, int, int], None] | None,
    *,
    now: datetime,
) -> ledger.RecordResult:
    """Store the prepared rows STEP at a time, telling progress after each batch."""
    results = []
    for start in range(0, max(len(rows), 1), STEP):
        results.append(ledger.store_rows(session, rows[start : start + STEP], now=now))
        if progress:
            progress("storing", min(start + STEP, len(rows)), len(rows))
    return ledger.RecordResult(
        received=sum(r.received for r in results),
        inserted=sum(r.inserted for r in results),
        duplicates=sum(r.duplicates for r in results),
        unpriced=sum(r.unpriced for r in results),
        cost_usd=sum((r.cost_usd for r in results), Decimal(0)),
    )
