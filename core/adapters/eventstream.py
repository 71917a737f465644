"""AWS event-stream framing (``application/vnd.amazon.eventstream``), as Bedrock's
ConverseStream sends it. One message:

    ┌──────────────┬───────────────┬────────────┬─────────┬─────────┬─────────────┐
    │ total length │ headers length│ prelude CRC│ headers │ payload │ message CRC │
    │   u32 BE     │    u32 BE     │ CRC32 of 8 │         │  JSON   │ CRC32 of all│
    └──────────────┴───────────────┴────────────┴─────────┴─────────┴─────────────┘
    header = name length u8, name, value type u8, value (type 7 string: u16 length + UTF-8)

``:message-type`` is "event", "exception" or "error"; ``:event-type`` / ``:exception-type``
name it. ``encode`` exists for the tests' fake Bedrock.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from core.errors import ProviderBadResponse

MAX_MESSAGE = 1024 * 1024
# Fixed-size header value types: bool true/false, byte, short, int, long, timestamp, uuid.
_FIXED = {0: 0, 1: 0, 2: 1, 3: 2, 4: 4, 5: 8, 8: 8, 9: 16}


@dataclass(frozen=True)
class Message:
    """One decoded message: its string headers and JSON payload."""

    headers: dict[str, str]
    payload: dict[str, Any]


def _bad(what: str) -> ProviderBadResponse:
    return ProviderBadResponse(f"Malformed event stream: {what}")


def _headers(raw: bytes) -> dict[str, str]:
    headers, at = {}, 0
    while at < len(raw):
        size = raw[at]
        name = raw[at + 1 : at + 1 + size].decode("utf-8", "replace")
        kind = raw[at + 1 + size]
        at += 2 + size
        if kind in (6, 7):
            (length,) = struct.unpack_from(">H", raw, at)
            value = raw[at + 2 : at + 2 + length]
            at += 2 + length
            if kind == 7:
                headers[name] = value.decode("utf-8", "replace")
        elif kind in _FIXED:
            at += _FIXED[kind]
        else:
            raise _bad("unknown header type")
    return headers


def decode(chunks: Iterable[bytes]) -> Iterator[Message]:
    """The messages in a byte stream, checking both CRCs."""
    buffer = bytearray()
    for chunk in chunks:
        buffer += chunk
        while len(buffer) >= 12:
            total, header_len, prelude_crc = struct.unpack_from(">III", buffer)
            if zlib.crc32(buffer[:8]) != prelude_crc:
                raise _bad("prelude checksum")
            if not 16 + header_len <= total <= MAX_MESSAGE:
                raise _bad("message length")
            if len(buffer) < total:
                break
            message = bytes(buffer[:total])
            del buffer[:total]
            if zlib.crc32(message[:-4]) != struct.unpack(">I", message[-4:])[0]:
                raise _bad("message checksum")
            try:
                headers = _headers(message[12 : 12 + header_len])
                body = message[12 + header_len : -4]
                payload = json.loads(body) if body else {}
            except (IndexError, struct.error, ValueError):
                raise _bad("message content") from None
            yield Message(headers, payload if isinstance(payload, dict) else {})
    if buffer:
        raise _bad("truncated message")


def encode(headers: dict[str, str], payload: dict[str, Any]) -> bytes:
    """One message with string headers (for fakes and tests)."""
    raw = b"".join(
        bytes([len(k.encode())])
        + k.encode()
        + b"\x07"
        + struct.pack(">H", len(v.encode()))
        + v.encode()
        for k, v in headers.items()
    )
    body = json.dumps(payload).encode()
    total = 16 + len(raw) + len(body)
    prelude = struct.pack(">II", total, len(raw))
    head = prelude + struct.pack(">I", zlib.crc32(prelude)) + raw + body
    return head + struct.pack(">I", zlib.crc32(head))
