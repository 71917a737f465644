"""Reading streamed answers: lines with a size cap, server-sent events, NDJSON, and timing.

SSE (OpenAI, Anthropic, Gemini, Vertex, Cohere)      NDJSON (Ollama)
    event: name                                      {"message": {...}, "done": false}
    data: {json}                                     {"done": true, "eval_count": 9}
    <blank line ends the event>; data: [DONE] ends the stream
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx

from core.adapters.http import MAX_BODY, too_large
from core.errors import ProviderBadResponse


def capped_bytes(response: httpx.Response) -> Iterator[bytes]:
    """The body's chunks as they arrive, refusing past MAX_BODY."""
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_BODY:
            raise too_large()
        yield chunk


def lines(response: httpx.Response) -> Iterator[str]:
    """The body's lines as they arrive, refusing past MAX_BODY."""
    buffer = bytearray()
    for chunk in capped_bytes(response):
        buffer += chunk
        while (end := buffer.find(b"\n")) >= 0:
            yield buffer[:end].rstrip(b"\r").decode("utf-8", "replace")
            del buffer[: end + 1]
    if buffer:
        yield buffer.decode("utf-8", "replace")


def _loads(data: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except ValueError:
        raise ProviderBadResponse(f"The {what} is not valid JSON") from None
    if not isinstance(value, dict):
        raise ProviderBadResponse(f"Unexpected {what}: not a JSON object")
    return value


def sse_json(response: httpx.Response) -> Iterator[tuple[str, dict[str, Any]]]:
    """Server-sent events as (event name, JSON object); stops at ``[DONE]``."""
    event, data = "", []
    for line in _with_final_blank(lines(response)):
        if line.startswith(":"):
            continue
        if line:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
            continue
        if data:
            payload = "\n".join(data)
            if payload.strip() == "[DONE]":
                return
            yield event or "message", _loads(payload, "stream event")
        event, data = "", []


def _with_final_blank(source: Iterator[str]) -> Iterator[str]:
    yield from source
    yield ""  # dispatch a last event the server did not terminate with a blank line


def json_lines(response: httpx.Response) -> Iterator[dict[str, Any]]:
    """Newline-delimited JSON objects (Ollama's stream)."""
    for line in lines(response):
        if line.strip():
            yield _loads(line, "stream line")


class Stopwatch:
    """Wall time of one call: time to the first token and in total."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.first: float | None = None

    def mark(self) -> None:
        """Note the first token (later calls change nothing)."""
        if self.first is None:
            self.first = time.perf_counter()

    @property
    def ttft_ms(self) -> float | None:
        """Milliseconds to the first token, None when none came."""
        return None if self.first is None else (self.first - self.started) * 1000

    @property
    def total_ms(self) -> float:
        """Milliseconds since the call started."""
        return (time.perf_counter() - self.started) * 1000
