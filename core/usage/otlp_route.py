"""The live OTLP/HTTP ingest route: ``POST /v1/traces`` books GenAI spans as usage.

A plain Starlette endpoint (no Streamlit): ``app.py`` mounts ``routes(open_runtime)`` on
Streamlit's own server (``st.App(..., routes=...)``), and ``core.startup.ingest_app`` serves
it alone under uvicorn. Each request, in this order (nothing is stored unless all pass)::

    Authorization: Bearer mdk_…     missing, unknown or revoked token      → 401
    Content-Type                    application/json or application/x-protobuf, else 415
    Content-Encoding                gzip or none, else 415
    body size                       over MODELDESK_INGEST_MAX_BYTES, as sent or once
                                    decompressed (read in chunks, never past the cap)  → 413
    an ExportTraceServiceRequest    not JSON / protobuf, or not its shape  → 400
    booking (core.usage.otlp → core.usage.formats.book → the ledger, in one transaction)
                                    → 200 ``{}``, or ``{"partialSuccess": {"rejectedSpans": N,
                                      "errorMessage": "…"}}`` when spans were refused

Spans without token counts (HTTP clients, application spans) are ignored, not refused; a
usage span that cannot be booked (no provider to map it to, bad counts, a timestamp in the
future…) is refused with a short reason. A span already booked (same response id) is
accepted and not stored again, so an exporter's retry changes nothing. The answer to a
protobuf request is protobuf (an ExportTraceServiceResponse, or a google.rpc.Status for an
error), else JSON. A database that cannot be reached answers 503 (the exporter retries).
Database work, inflating and parsing run in the thread pool, off the event loop. On SQLite
a process books one request at a time (SQLite takes one writer at a time anyway): queued
requests wait in order on a lock of the process instead of all polling SQLite's busy handler,
so a page's save meets one ingest writer, not a dozen (under load, a dozen made saves wait
past the busy timeout).

Only counts, ids, model and provider names are read from a span: prompts and completions in
its attributes or events are never stored or logged. One log line per request names the
source (the token's name, never the token) and the spans accepted and refused.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import zlib
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from core.config import Settings
from core.errors import ModeldeskError
from core.usage import formats, ingest_tokens, otlp
from core.usage.inputs import UsageInput

log = logging.getLogger(__name__)

PATH = "/v1/traces"
JSON = "application/json"
PROTOBUF = "application/x-protobuf"
MESSAGE_REASONS = 5  # refused spans' reasons quoted in errorMessage; the rest are counted
MESSAGE_MAX = 1000
# google.rpc.Code of each refusal, for the Status body OTLP asks for.
GRPC_CODE = {400: 3, 401: 16, 413: 8, 415: 3, 500: 13, 503: 14}


class Backend(Protocol):
    """What the route needs of an opened Modeldesk (core.startup.Runtime is one)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def sessions(self) -> sessionmaker[Session]: ...


class Refused(Exception):
    """A request refused with an HTTP status and a short reason (nothing stored)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


@dataclass(frozen=True)
class Outcome:
    """What one request booked: spans accepted (new or already booked), refused, ignored."""

    source: str
    accepted: int
    stored: int
    rejected: int
    ignored: int
    message: str


def ensure_request_log() -> None:
    """Send the route's one line per request to stderr when nothing else would show it
    (Streamlit and uvicorn configure only their own loggers, and Python drops INFO lines
    that reach no handler); an application that configured logging keeps its own."""
    if log.hasHandlers():
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)


def routes(open_backend: Callable[[], Backend]) -> list[BaseRoute]:
    """The route to mount: ``POST /v1/traces``, opening the backend on its first request."""
    return [TracesEndpoint(open_backend).route()]


def app(open_backend: Callable[[], Backend]) -> Starlette:
    """The route alone as an ASGI app (uvicorn; tests); its shutdown closes the backend."""
    endpoint = TracesEndpoint(open_backend)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            endpoint.close()

    return Starlette(routes=[endpoint.route()], lifespan=lifespan)


class TracesEndpoint:
    """``POST /v1/traces`` over a backend opened once, on first use (a failed open is
    retried by the next request)."""

    def __init__(self, open_backend: Callable[[], Backend]) -> None:
        self._open = open_backend
        self._backend: Backend | None = None
        self._lock = threading.Lock()
        self._sqlite_writer = threading.Lock()  # one booking at a time on SQLite

    def route(self) -> Route:
        """``POST /v1/traces`` answered by this endpoint."""
        return Route(PATH, self.handle, methods=["POST"])

    def close(self) -> None:
        """Dispose of the backend if it was opened (its pooled connections)."""
        with self._lock:
            backend, self._backend = self._backend, None
        dispose = getattr(backend, "dispose", None)
        if callable(dispose):
            dispose()

    def backend(self) -> Backend:
        """The opened backend (called in the thread pool: opening migrates and checks keys)."""
        if self._backend is None:
            with self._lock:
                if self._backend is None:
                    self._backend = self._open()
        return self._backend

    async def handle(self, request: Request) -> Response:
        """One export request; see the module docstring."""
        kind = _media_type(request)
        answer = PROTOBUF if kind == PROTOBUF else JSON
        started = time.monotonic()
        try:
            backend = await run_in_threadpool(self.backend)
        except ModeldeskError as exc:  # a database that cannot be opened: said once, retried
            log.warning("OTLP ingest: Modeldesk cannot start: %s", exc)
            return _error(503, "Modeldesk cannot open its database; retry later", answer)
        try:
            source = await run_in_threadpool(_verify, backend, request.headers.get("authorization"))
            if kind not in (JSON, PROTOBUF):
                raise Refused(415, f"Content-Type must be {JSON} or {PROTOBUF}")
            cap = backend.settings.ingest_max_bytes
            body, gzipped = await _read(request, cap)
            # Inflating and parsing up to the cap takes milliseconds: off the event loop too.
            spans = await run_in_threadpool(_spans, body, gzipped, kind, cap)
            outcome = await run_in_threadpool(self._book, backend, source, spans)
        except Refused as refused:
            log.info("OTLP ingest refused (%d): %s", refused.status, refused.reason)
            return _error(refused.status, refused.reason, answer)
        except OperationalError as exc:  # the database went away: the exporter retries
            log.warning("OTLP ingest: database unavailable (%s)", type(exc).__name__)
            return _error(503, "the database is unavailable; retry later", answer)
        except Exception as exc:  # noqa: BLE001 - never a traceback, nor what it may quote
            log.error("OTLP ingest failed (%s)", type(exc).__name__)
            return _error(500, "internal error", answer)
        log.info(
            "OTLP ingest from %s: %d span(s) accepted (%d new), %d refused, %d ignored, %.0f ms",
            outcome.source,
            outcome.accepted,
            outcome.stored,
            outcome.rejected,
            outcome.ignored,
            (time.monotonic() - started) * 1000,
        )
        return _success(outcome, answer)

    def _book(self, backend: Backend, source: ingest_tokens.Source, spans: Spans) -> Outcome:
        if not backend.settings.resolved_database_url.startswith("sqlite"):
            return _book(backend, source, spans)
        with self._sqlite_writer:
            return _book(backend, source, spans)


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _verify(backend: Backend, header: str | None) -> ingest_tokens.Source:
    scheme, _, token = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Refused(401, "an ingest token is required (Authorization: Bearer mdk_…)")
    with backend.sessions() as session:
        source = ingest_tokens.verify(session, token.strip())
    if source is None:
        raise Refused(401, "the ingest token is unknown or revoked")
    return source


async def _read(request: Request, cap: int) -> tuple[bytes, bool]:
    """The body as sent and whether it is gzipped; 413 past ``cap`` bytes (read in chunks,
    never past the cap)."""
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("gzip", "identity", ""):
        raise Refused(415, "Content-Encoding must be gzip or none")
    declared = request.headers.get("content-length", "")
    if declared.strip().isdigit() and int(declared) > cap:
        raise _too_large(cap)
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > cap:
                raise _too_large(cap)
            chunks.append(chunk)
    except ClientDisconnect:
        raise Refused(400, "the client went away before the body ended") from None
    return b"".join(chunks), encoding == "gzip"


def _too_large(cap: int) -> Refused:
    return Refused(413, f"the body is larger than {cap} bytes")


def _gunzip(body: bytes, cap: int) -> bytes:
    """The gzip body inflated; 413 as soon as it would pass ``cap`` (no zip bombs)."""
    inflate = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # gzip framing only
    try:
        out = inflate.decompress(body, cap + 1)  # never more than cap + 1 bytes
        if len(out) > cap or inflate.unconsumed_tail:
            raise _too_large(cap)
        out += inflate.flush()
        if len(out) > cap:
            raise _too_large(cap)
    except zlib.error:
        raise Refused(400, "the body is not valid gzip") from None
    if not inflate.eof:
        raise Refused(400, "the gzip body is truncated")
    return out


Spans = list[tuple[dict[str, Any], dict[str, Any]]]


def _spans(body: bytes, gzipped: bool, kind: str, cap: int) -> Spans:
    """(resource attributes, span) of each span of the request; 400 when it is not one."""
    if gzipped:
        body = _gunzip(body, cap)
    if kind == PROTOBUF:
        document = _from_protobuf(body)
    else:
        try:
            document = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise Refused(400, "the body is not JSON (UTF-8)") from None
    try:
        return list(otlp.spans_of(document))
    except (ValueError, RecursionError) as exc:
        raise Refused(400, f"not an OTLP ExportTraceServiceRequest ({str(exc)[:80]})") from None


def _from_protobuf(body: bytes) -> dict[str, Any]:
    """The request in OTLP/JSON's shape (ids as hex, as the JSON encoding writes them, so a
    span without a response id gets the same key both ways)."""
    from google.protobuf import json_format
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

    message = trace_service_pb2.ExportTraceServiceRequest()
    try:
        message.ParseFromString(body)
    except (DecodeError, RecursionError):
        raise Refused(400, "the body is not a protobuf ExportTraceServiceRequest") from None
    document = json_format.MessageToDict(message)
    for resource_spans, proto_rs in zip(
        document.get("resourceSpans", []), message.resource_spans, strict=True
    ):
        for scope_spans, proto_ss in zip(
            resource_spans.get("scopeSpans", []), proto_rs.scope_spans, strict=True
        ):
            for span, proto_span in zip(scope_spans.get("spans", []), proto_ss.spans, strict=True):
                span["traceId"] = proto_span.trace_id.hex()
                span["spanId"] = proto_span.span_id.hex()
    return document


def _book(backend: Backend, source: ingest_tokens.Source, spans: Spans) -> Outcome:
    """Book the spans in one transaction; 401 (nothing stored) if the token was revoked."""
    with backend.sessions.begin() as session:
        found = otlp.SpanReport()
        providers = otlp.ProviderMap.load(session, source.explicit or None)
        otlp.add_spans(found, 1, spans, providers)
        items: list[tuple[int, UsageInput | str]] = found.items
        if source.problem:
            items = [(n, source.problem if not isinstance(i, str) else i) for n, i in items]
        report = formats.book(
            session,
            items,
            skipped=found.skipped,
            unit="span",
            timezone=backend.settings.timezone,
            retention_days=backend.settings.usage_retention_days,
        )
        if not ingest_tokens.mark_used(session, source):  # raising rolls the booking back
            raise Refused(401, "the ingest token is unknown or revoked")
    rejected = len(report.bad)
    return Outcome(
        source=source.name,
        accepted=len(items) - rejected,
        stored=report.stored,
        rejected=rejected,
        ignored=found.skipped,
        message=_message([b.reason for b in report.bad]),
    )


def _message(reasons: Sequence[str]) -> str:
    """'2 span(s) refused: span 1: …; span 4: …' (the first few reasons, each once)."""
    if not reasons:
        return ""
    distinct = list(dict.fromkeys(reasons))
    shown = "; ".join(distinct[:MESSAGE_REASONS])
    more = (
        f"; {len(distinct) - MESSAGE_REASONS} more reason(s)"
        if len(distinct) > MESSAGE_REASONS
        else ""
    )
    text = f"{len(reasons)} span(s) refused: {shown}{more}"
    return text if len(text) <= MESSAGE_MAX else text[: MESSAGE_MAX - 1] + "…"


def _success(outcome: Outcome, answer: str) -> Response:
    if answer == PROTOBUF:
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

        message = trace_service_pb2.ExportTraceServiceResponse()
        if outcome.rejected:
            message.partial_success.rejected_spans = outcome.rejected
            message.partial_success.error_message = outcome.message
        return Response(message.SerializeToString(), 200, media_type=PROTOBUF)
    body: dict[str, Any] = {}
    if outcome.rejected:
        body["partialSuccess"] = {
            "rejectedSpans": outcome.rejected,
            "errorMessage": outcome.message,
        }
    return Response(json.dumps(body), 200, media_type=JSON)


def _error(status: int, reason: str, answer: str) -> Response:
    """A refusal as OTLP asks: a google.rpc.Status (protobuf or JSON)."""
    code = GRPC_CODE.get(status, 2)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    if status == 503:
        headers["Retry-After"] = "30"
    if answer == PROTOBUF:
        return Response(_status_proto(code, reason), status, headers, media_type=PROTOBUF)
    body = json.dumps({"code": code, "message": reason})
    return Response(body, status, headers, media_type=JSON)


def _status_proto(code: int, message: str) -> bytes:
    """google.rpc.Status{code = 1; message = 2} in the protobuf wire format."""
    text = message.encode("utf-8")
    return b"\x08" + _varint(code) + b"\x12" + _varint(len(text)) + text


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)
