"""Looking for a secret where it must not be: every websocket frame a page exchanges, and
byte haystacks (files, pages, frames) searched for a canary in the forms it could be
written in (as is, base64, hex, URL-encoded, JSON-escaped, UTF-16).

Used by the browser flows (tests/test_browser.py) and the secret sweep
(tests/reliability/test_secret_sweep.py).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, quote_plus


@dataclass
class Wire:
    """Every websocket frame of a page, in order, as bytes (received and sent apart)."""

    received: list[bytes] = field(default_factory=list)
    sent: list[bytes] = field(default_factory=list)

    def attach(self, page) -> None:  # noqa: ANN001
        """Listen on every websocket the page opens (reloads open new ones)."""

        def as_bytes(payload: str | bytes) -> bytes:
            return payload.encode() if isinstance(payload, str) else payload

        def opened(ws) -> None:  # noqa: ANN001
            ws.on("framereceived", lambda p: self.received.append(as_bytes(p)))
            ws.on("framesent", lambda p: self.sent.append(as_bytes(p)))

        page.on("websocket", opened)

    def sent_with(self, secret: str, start: int = 0) -> list[int]:
        """Indexes of the sent frames from start on that carry secret."""
        return [i for i, f in enumerate(self.sent) if i >= start and secret.encode() in f]


def _base64_forms(raw: bytes) -> set[bytes]:
    """The canary inside any base64 text, whatever its offset there: for each of the three
    alignments, the encoded run without its first and last (shared) characters."""
    forms = set()
    for pad in range(3):
        encoded = base64.b64encode(b"\0" * pad + raw)
        core = encoded[(pad * 4 + 2) // 3 + 1 : -3]  # drop what the padding bytes touch
        forms.add(core)
        forms.add(core.translate(bytes.maketrans(b"+/", b"-_")))  # urlsafe
    return {f for f in forms if len(f) >= 16}


def needles(canary: str) -> dict[str, bytes]:
    """The byte forms of canary a leak could take, by name."""
    raw = canary.encode()
    found = {
        "plain": raw,
        "hex": binascii.hexlify(raw),
        "HEX": binascii.hexlify(raw).upper(),
        "url": quote(canary, safe="").encode(),
        "url+": quote_plus(canary).encode(),
        "json": json.dumps(canary)[1:-1].encode(),
        "utf-16": canary.encode("utf-16-le"),
    }
    for n, form in enumerate(sorted(_base64_forms(raw))):
        found[f"base64#{n}"] = form
    unique: dict[str, bytes] = {}
    for name, form in found.items():  # a canary of letters, digits and '-' repeats forms
        if form not in unique.values():
            unique[name] = form
    return unique


def fragments(canary: str, size: int = 12) -> dict[str, bytes]:
    """Every size-character run of canary, as is: a partial echo (a provider quoting the
    first characters of a key) is a leak too. 12 random hex digits never occur by chance."""
    raw = canary.encode()
    return {f"chars {i}-{i + size}": raw[i : i + size] for i in range(len(raw) - size + 1)}


@dataclass
class Haystack:
    """Named byte blobs to search, grouped by the kind of place they came from."""

    places: dict[str, list[tuple[str, bytes]]] = field(default_factory=dict)

    def add(self, kind: str, name: str, data: bytes | str) -> None:
        """One place of this kind (a file, a page's HTML, a frame...)."""
        blob = data.encode() if isinstance(data, str) else data
        self.places.setdefault(kind, []).append((name, blob))

    def add_files(self, kind: str, paths: Iterable[Path]) -> None:
        """Every regular file of paths, by name."""
        for path in paths:
            if path.is_file():
                self.add(kind, path.name, path.read_bytes())

    def count(self) -> int:
        """How many places were added."""
        return sum(len(v) for v in self.places.values())

    def find(self, canary: str, *, partial: bool = False) -> list[str]:
        """Where canary is, in any of its forms (with partial, any 12 characters of it too):
        'kind: name (form) …context…'."""
        hits = []
        forms = needles(canary) | (fragments(canary) if partial else {})
        for kind, blobs in self.places.items():
            for name, blob in blobs:
                for form_name, form in forms.items():
                    at = blob.find(form)
                    if at >= 0:
                        context = blob[max(0, at - 80) : at + len(form) + 40]
                        hits.append(f"{kind}: {name} ({form_name}) …{context!r}…")
        return hits
