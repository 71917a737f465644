"""The lookalike skeleton and its shipped data (Unicode confusables, a sourced selection)."""

from __future__ import annotations

import re
import unicodedata

import pytest

from core.catalog import lookalikes
from core.catalog.lookalikes import skeleton


@pytest.mark.parametrize(
    "name, alike",
    [
        ("OpenAI", "\u041epenAI"),  # Cyrillic capital O
        ("openai", "\u043epen\u0430i"),  # Cyrillic small o and a
        ("Azure", "\u0391zure"),  # Greek capital alpha
        ("OpenAI", "OpenAl"),  # capital I vs lower-case L
        ("Llama 1", "Llama l"),  # digit one vs lower-case L
        ("GPT-4o", "GPT-4\u03bf"),  # Greek omicron
        ("Mistral", "M\u0456stral"),  # Cyrillic i
        ("modern", "rnodern"),  # rn vs m
        ("OpenAI", "\uff2f\uff50\uff45\uff4e\uff21\uff29"),  # fullwidth
        ("OpenAI", "\U0001d40e\U0001d429\U0001d41e\U0001d427\U0001d400\U0001d408"),  # math bold
        ("OpenAI", "Open\u200bAI"),  # zero-width space
        ("OpenAI", "\u202eOpenAI\u202c"),  # bidi override
        ("OpenAI", "Open\u00adAI\ufeff"),  # soft hyphen, BOM
        ("Open AI", "Open\u00a0 AI"),  # no-break space, doubled space
        ("Caf\u00e9", "Caf\u0435\u0301"),  # Cyrillic e + combining acute
        ("\u03f2loud", "cloud"),  # lunate sigma (NFKC alone makes it ς)
        ("GPT-4o", "GPT-40"),  # digit zero vs letter o
    ],
)
def test_lookalikes_share_a_skeleton(name: str, alike: str) -> None:
    assert skeleton(name) == skeleton(alike)


@pytest.mark.parametrize(
    "name, other",
    [
        ("OpenAI", "OpenAI 2"),
        ("Mistral", "Mixtral"),
        ("Work", "Home"),
        ("GPT-4o", "GPT-4"),
        ("Caf\u00e9", "Cafe"),
        ("\u041c\u0438\u0440", "Mnp"),
    ],
)
def test_different_names_keep_different_skeletons(name: str, other: str) -> None:
    assert skeleton(name) != skeleton(other)


def test_lookalike_names_the_first_existing_match() -> None:
    assert lookalikes.lookalike("\u041epenAI", {"Anthropic": 1, "OpenAI": 2}) == "OpenAI"
    assert lookalikes.lookalike("Groq", {"Anthropic": 1, "OpenAI": 2}) is None


_LINE = re.compile(r"^([0-9A-F]{4,6}) ;\t([0-9A-F ]+) ;\tMA\t# \( (.+) → (.+) \) (.+) → (.+)$")


def test_the_shipped_table_says_where_it_comes_from_and_is_consistent() -> None:
    text = lookalikes.DATA.read_text(encoding="utf-8")
    header = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    for needed in (
        "unicode.org/Public/security/17.0.0/confusables.txt",
        "2025-07-22",
        "Unicode License v3",
        "Unicode-3.0",
        "Copyright © 1991-2026 Unicode, Inc.",
        "Changes:",
    ):
        assert needed in header
    rows = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert len(rows) == len(lookalikes.confusables()) > 300
    for row in rows:
        match = _LINE.match(row)
        assert match, row
        source = chr(int(match[1], 16))
        target = "".join(chr(int(cp, 16)) for cp in match[2].split())
        assert (match[3], match[4]) == (source, target), row
        assert match[5] == unicodedata.name(source), row
        # Targets are ASCII letters and digits, and none is itself mapped further.
        assert target.isascii() and target.isalnum(), row
        assert not any(ch in lookalikes.confusables() for ch in target), row
