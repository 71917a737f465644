"""OpenTelemetry GenAI spans from OTLP JSON files: one usage report per span with token counts.

The file is JSON Lines, one ``ExportTraceServiceRequest`` per line, as the Collector's file
exporter and ``opentelemetry-exporter-otlp-json-file`` write it::

    {"resourceSpans": [{"resource": {"attributes": [...]},
      "scopeSpans": [{"scope": {...},
        "spans": [{"traceId", "spanId", "name",
                   "endTimeUnixNano": "1796…",                      (a string)
                   "attributes": [{"key": "gen_ai.usage.input_tokens",
                                   "value": {"intValue": "1200"}},  (a string too)
                                  …]}]}]}]}

A span is usage when it carries an input or output token attribute (``ALIASES``: the
semantic conventions' names, then what widely used instrumentations emit instead); other spans
(httpx, application spans) are skipped and counted. Only counts, model ids, the response id
and the provider's name or address are read: prompts and completions in attributes or events
are never copied, stored or logged.

Provider, in this order: an explicit mapping (``--provider NAME``, or ``SYSTEM=NAME`` per
``gen_ai.provider.name``), else the record whose base URL has the span's ``server.address``
(and port), else the one record whose type is the span's ``gen_ai.provider.name`` /
``gen_ai.system``. Anything else makes the span a bad line with the reason.

Token convention: the spec's input count includes cache reads and writes, and every
instrumentation surveyed (OpenAI v2, Traceloop, the anthropic SDK, OpenInference, Logfire,
OpenLIT) reports it that way, Anthropic's included (50 + 2,000 + 6,000 → 8,050), so counts
are taken as they are; a span whose cache parts exceed its input is refused, not guessed at.

Idempotency key: ``otlp:<provider name in the span>:<gen_ai.response.id>``, so one response
reported by two instrumentations (the Anthropic SDK's own spans plus an instrumentor's) is
stored once; without a response id, ``otlp:span:<traceId>:<spanId>``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import catalog
from core.errors import ValidationError
from core.store import vault
from core.store.tables import Provider
from core.usage.inputs import UsageInput
from core.validation import loads_json

# Each report field, from the first attribute present (spec name first; survey §2.2).
ALIASES: dict[str, tuple[str, ...]] = {
    "input_tokens": (
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.prompt_tokens",  # the spec's name before 1.27
        "llm.token_count.prompt",  # OpenInference
    ),
    "output_tokens": (
        "gen_ai.usage.output_tokens",
        "gen_ai.usage.completion_tokens",
        "llm.token_count.completion",
    ),
    "cached_input_tokens": (
        "gen_ai.usage.cache_read.input_tokens",
        "llm.token_count.prompt_details.cache_read",
    ),
    "cache_write_tokens": (
        "gen_ai.usage.cache_creation.input_tokens",
        "gen_ai.usage.cache_write.input_tokens",  # the anthropic SDK's own spans
    ),
    "reasoning_tokens": (
        "gen_ai.usage.reasoning.output_tokens",
        "gen_ai.usage.reasoning_tokens",  # Traceloop, OpenLIT
        "llm.token_count.completion_details.reasoning",
    ),
}
MODEL = ("gen_ai.response.model", "gen_ai.request.model", "llm.model_name")  # response: dated
SYSTEM = ("gen_ai.provider.name", "gen_ai.system", "llm.system")
USAGE_MARKERS = ALIASES["input_tokens"] + ALIASES["output_tokens"]
# gen_ai.provider.name values (the spec's enum) whose catalog type id differs.
SYSTEM_TYPES = {
    "gcp.gemini": "google_gemini",
    "gcp.gen_ai": "google_gemini",
    "gcp.vertex_ai": "google_vertex",
    "aws.bedrock": "amazon_bedrock",
    "azure.ai.openai": "azure_openai",
    "azure.ai.inference": "azure",
    "mistral_ai": "mistral",
    "x_ai": "x_ai",
}


@dataclass
class SpanReport:
    """What parsing found: (line, report or reason) per usage span, and spans skipped."""

    items: list[tuple[int, UsageInput | str]] = field(default_factory=list)
    skipped: int = 0  # spans without token counts


def detect(text: str) -> bool:
    """Whether the first non-blank line is an OTLP trace export (has "resourceSpans")."""
    for raw in text.splitlines():
        if raw.strip():
            try:
                first = loads_json(raw)
            except ValueError:
                return False
            return isinstance(first, dict) and "resourceSpans" in first
    return False


def _scalar(value: Any) -> Any:
    """An AnyValue's scalar (intValue arrives as a string); None for arrays, maps, bytes."""
    if not isinstance(value, dict):
        return None
    for kind in ("stringValue", "intValue", "doubleValue", "boolValue"):
        if kind in value:
            return (kind, value[kind])
    return None


def _attributes(raw: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(raw, list):
        for item in raw:
            if isinstance(item, dict) and isinstance(item.get("key"), str):
                out[item["key"]] = _scalar(item.get("value"))
    return out


def _count(attrs: Mapping[str, Any], name: str) -> int | None:
    for key in ALIASES[name]:
        if key not in attrs:
            continue
        kind, value = attrs[key] or (None, None)
        if kind == "intValue" and isinstance(value, int | str) and not isinstance(value, bool):
            text = str(value).strip()
            if text.lstrip("-").isdigit():
                return int(text)
        if kind == "doubleValue" and isinstance(value, int | float) and float(value).is_integer():
            return int(value)
        raise ValueError(f"{key} is not a whole number")
    return None


def _text(attrs: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        kind, value = attrs.get(key) or (None, None)
        if kind == "stringValue" and isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _end_time(span: Mapping[str, Any]) -> datetime:
    raw = span.get("endTimeUnixNano") or span.get("startTimeUnixNano")
    text = str(raw).strip() if isinstance(raw, int | str) and not isinstance(raw, bool) else ""
    if not text.isdigit() or int(text) == 0:
        raise ValueError("endTimeUnixNano is missing or not a whole number")
    nanos = int(text)
    seconds, micros = nanos // 10**9, nanos // 1000 % 10**6
    return datetime.fromtimestamp(seconds, UTC) + timedelta(microseconds=micros)


def _list(value: Any, name: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{name} is not a list")
    return value


def spans_of(document: Any) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(resource attributes, span) for each span of one ExportTraceServiceRequest; ValueError
    when the document does not have the request's shape (lists of objects where it has them)."""
    if not isinstance(document, dict):
        raise ValueError(f"a JSON object is expected, not {type(document).__name__}")
    for resource_spans in _list(document.get("resourceSpans"), "resourceSpans"):
        if not isinstance(resource_spans, dict):
            raise ValueError("resourceSpans holds a non-object")
        resource = resource_spans.get("resource") or {}
        if not isinstance(resource, dict):
            raise ValueError("resource is not an object")
        resource_attrs = _attributes(_list(resource.get("attributes"), "attributes"))
        for scope_spans in _list(resource_spans.get("scopeSpans"), "scopeSpans"):
            if not isinstance(scope_spans, dict):
                raise ValueError("scopeSpans holds a non-object")
            for span in _list(scope_spans.get("spans"), "spans"):
                if not isinstance(span, dict):
                    raise ValueError("spans holds a non-object")
                if not all(
                    isinstance(a, dict) for a in _list(span.get("attributes"), "attributes")
                ):
                    raise ValueError("a span's attributes hold a non-object")
                yield resource_attrs, span


class ProviderMap:
    """Which provider record a span's usage belongs to (see the module docstring)."""

    def __init__(
        self,
        records: list[tuple[str, str, str | None]],
        explicit: Mapping[str | None, str] | None = None,
    ) -> None:
        self.records = records  # (name, provider type, base URL) of each provider record
        self.explicit = {(k.lower() if k else None): v for k, v in (explicit or {}).items()}

    @classmethod
    def load(
        cls, session: Session, explicit: Mapping[str | None, str] | None = None
    ) -> ProviderMap:
        """Every provider record's name, type and effective base URL (no API key is opened)."""
        records: list[tuple[str, str, str | None]] = []
        for provider in session.scalars(select(Provider).order_by(Provider.created_at)):
            config = vault.try_open_json(session, provider, "provider_config_enc").value
            try:
                base = catalog.get_provider_type(provider.provider_type).base_url_for(config)
            except ValidationError:  # a type dropped from the catalog, or a bad stored URL
                raw = config.get("base_url")
                base = raw if isinstance(raw, str) else None
            records.append((provider.name, provider.provider_type, base))
        return cls(records, explicit)

    def name_for(self, attrs: Mapping[str, Any]) -> str:
        """The provider record's name; ValueError saying why none is certain."""
        system = (_text(attrs, SYSTEM) or "").lower()
        host, port = _server(attrs)
        ptype = SYSTEM_TYPES.get(system, system.replace(".", "_")) if system else ""
        return self.resolve(
            system, ptype, host, port, what="the span", names="gen_ai.provider.name"
        )

    def resolve(
        self,
        system: str,
        ptype: str,
        host: str | None,
        port: int | None,
        *,
        what: str,
        names: str,
    ) -> str:
        """The record for a source's provider name (``system``, lower case; explicit mapping
        first), its server (host, port), else the one record of type ``ptype``; ValueError
        saying why none is certain (``what`` / ``names``: the source's words for them)."""
        if system in self.explicit:
            return self.explicit[system]
        if None in self.explicit:
            return self.explicit[None]
        if host:
            hits = {name for name, _, base in self.records if base and same_host(base, host, port)}
            if len(hits) == 1:
                return hits.pop()
            if len(hits) > 1:
                raise ValueError(
                    f"{len(hits)} provider records use server {host}; name one with --provider"
                )
        if not ptype:
            raise ValueError(f"{what} names no provider ({names}); use --provider")
        typed = [name for name, kind, _ in self.records if kind == ptype]
        if len(typed) == 1:
            return typed[0]
        where = f" at {host}" if host else ""
        found = "no provider record" if not typed else f"{len(typed)} provider records"
        raise ValueError(f"{found} of type {ptype[:40]!r}{where}; map it with --provider")


def _server(attrs: Mapping[str, Any]) -> tuple[str | None, int | None]:
    host = _text(attrs, ("server.address",))
    kind, port = attrs.get("server.port") or (None, None)
    port_number = int(str(port)) if kind == "intValue" and str(port).isdigit() else None
    if host is None:
        url = _text(attrs, ("url.full",))
        if url:
            parts = urlsplit(url)
            host, port_number = parts.hostname, parts.port
    return (host.lower() if host else None), port_number


def same_host(base_url: str, host: str, port: int | None) -> bool:
    parts = urlsplit(base_url)
    if (parts.hostname or "").lower() != host:
        return False
    default = 443 if parts.scheme == "https" else 80
    return port is None or (parts.port or default) == port


def to_input(
    resource: Mapping[str, Any], span: Mapping[str, Any], providers: ProviderMap
) -> UsageInput | None:
    """A span's usage report, None when it has no token counts; ValueError with reasons."""
    attrs = {**resource, **_attributes(span.get("attributes"))}
    if not any(key in attrs for key in USAGE_MARKERS):
        return None
    problems: list[str] = []
    counts: dict[str, int] = {}
    for name in ALIASES:
        try:
            counts[name] = _count(attrs, name) or 0
        except ValueError as exc:
            problems.append(str(exc))
    try:
        stamp = _end_time(span)
    except ValueError as exc:
        problems.append(str(exc))
    model = _text(attrs, MODEL)
    if model is None:
        problems.append("the span names no model (gen_ai.response.model / gen_ai.request.model)")
    try:
        provider = providers.name_for(attrs)
    except ValueError as exc:
        problems.append(str(exc))
    if problems:
        raise ValueError("; ".join(problems))
    return UsageInput(
        timestamp=stamp,
        provider=provider,
        model=model or "",
        idempotency_key=_key(attrs, span),
        input_tokens=counts["input_tokens"],
        output_tokens=counts["output_tokens"],
        cached_input_tokens=counts["cached_input_tokens"],
        cache_write_tokens=counts["cache_write_tokens"],
        reasoning_tokens=counts["reasoning_tokens"],
    )


def _key(attrs: Mapping[str, Any], span: Mapping[str, Any]) -> str:
    response_id = _text(attrs, ("gen_ai.response.id",))
    if response_id:
        system = (_text(attrs, SYSTEM) or "").lower()
        return f"otlp:{system[:40]}:{response_id[:140]}"
    return f"otlp:span:{str(span.get('traceId'))[:32]}:{str(span.get('spanId'))[:16]}"


def parse(text: str, providers: ProviderMap) -> SpanReport:
    """Each usage span of each non-blank line: (line number, report or why it is bad)."""
    found = SpanReport()
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            document = loads_json(raw)
        except ValueError as exc:
            found.items.append((line, f"not JSON ({str(exc).split(':')[0][:60]})"))
            continue
        if not isinstance(document, dict) or "resourceSpans" not in document:
            found.items.append((line, "not an OTLP trace export (no resourceSpans)"))
            continue
        try:
            spans = list(spans_of(document))
        except ValueError as exc:
            found.items.append((line, f"not an OTLP trace export ({exc})"[:120]))
            continue
        add_spans(found, line, spans, providers)
    return found


def add_spans(
    found: SpanReport,
    line: int,
    spans: list[tuple[dict[str, Any], dict[str, Any]]],
    providers: ProviderMap,
) -> None:
    """Each usage span's report (or why it is bad) into ``found``; other spans counted."""
    for number, (resource, span) in enumerate(spans, start=1):
        try:
            report = to_input(resource, span, providers)
        except ValueError as exc:
            found.items.append((line, f"span {number}: {exc}"))
            continue
        if report is None:
            found.skipped += 1
        else:
            found.items.append((line, report))
