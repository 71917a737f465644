"""Lookalike names: the skeleton that duplicate-name checks compare (after UTS #39).

Two names collide when they read the same to a person, not only when their code points
match: "ОpenAI" with a Cyrillic "О", "OpenAI" with a zero-width space inside, "ＯｐｅｎＡＩ"
in fullwidth and "OpenAl" with a lower-case L all look like "OpenAI". ``skeleton`` maps a
name to a key on which such names are equal (mapping before casefolding, as UTS #39 does,
so "I" and "l" meet; names equal but for case are what ``validation.name_key`` catches,
and duplicate checks compare both):

    name ─▶ NFD ─▶ drop invisibles ─▶ confusables ─▶ NFKC ─▶ confusables ─▶ casefold
         ─▶ confusables ─▶ NFC, spaces collapsed

- invisibles: format characters (category Cf: zero-width spaces and joiners, bidi
  controls, soft hyphen, BOM), controls, and the other default-ignorable characters
  (variation selectors, combining grapheme joiner, Hangul fillers);
- confusables: ``catalog/confusables.txt``, Unicode's mapping of lookalike letters to
  the Latin letter or digit they imitate (Cyrillic "о" → "o", Greek "Ι" → "l", "1" → "l",
  "0" → "O", "m" → "rn"). It is applied before NFKC because NFKC turns some lookalikes
  into other letters (Greek lunate sigma "ϲ" becomes "ς", which no longer maps to "c"),
  and again after NFKC and casefolding, which produce letters of their own;
- NFKC folds fullwidth forms, mathematical alphanumerics, ligatures and Roman numerals.

A skeleton is only ever compared, never shown or stored.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from functools import cache
from pathlib import Path

DATA = Path(__file__).resolve().parent / "confusables.txt"
_LINE = re.compile(r"^([0-9A-F]{4,6}) ;\t([0-9A-F]{4,6}(?: [0-9A-F]{4,6})*) ;\tMA\t#")

# Default-ignorable code points outside category Cf (those are dropped by category).
_IGNORABLE = frozenset(
    map(
        chr,
        (
            0x034F,
            0x115F,
            0x1160,
            0x17B4,
            0x17B5,
            0x3164,
            0xFFA0,
            *range(0x180B, 0x1810),
            *range(0xFE00, 0xFE10),
        ),
    )
)


@cache
def confusables() -> dict[str, str]:
    """The shipped confusables table: one source character -> the text it imitates."""
    table: dict[str, str] = {}
    for number, line in enumerate(DATA.read_text(encoding="utf-8").splitlines(), 1):
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise ValueError(f"{DATA.name}:{number}: not a confusables line")
        source = chr(int(match[1], 16))
        if source in table:
            raise ValueError(f"{DATA.name}:{number}: U+{match[1]} is mapped twice")
        table[source] = "".join(chr(int(cp, 16)) for cp in match[2].split())
    return table


def _visible(text: str) -> str:
    return "".join(
        ch for ch in text if ch not in _IGNORABLE and unicodedata.category(ch) not in ("Cf", "Cc")
    )


def _fold(text: str) -> str:
    table = confusables()
    return "".join(table.get(ch, ch) for ch in text)


def skeleton(name: str) -> str:
    """The comparison key of a name: equal for names a reader cannot tell apart."""
    text = _fold(_visible(unicodedata.normalize("NFD", name)))
    text = _fold(unicodedata.normalize("NFKC", text)).casefold()
    text = unicodedata.normalize("NFC", _fold(text))
    return " ".join(text.split())


def lookalike(name: str, others: Mapping[str, object]) -> str | None:
    """The first of others (name -> anything) that reads the same as name, else None."""
    key = skeleton(name)
    return next((other for other in others if skeleton(other) == key), None)
