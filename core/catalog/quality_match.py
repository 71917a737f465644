"""Matching leaderboard names to model ids: one cascade, each match with its method.

A leaderboard (the Arena's) names models its own way (``claude-3-5-sonnet-20241022``,
``gpt-5.4-high``, ``gemini-3-flash (thinking-minimal)``); the catalog and model records use
each provider's id (``anthropic.claude-3-5-sonnet-20241022-v2:0`` on Bedrock,
``models/gemini-2.5-pro`` on Gemini, ``claude-3-5-sonnet@20241022`` on Vertex,
``openai/gpt-4o:free`` on OpenRouter). An id is tried at five levels, first hit wins:

    exact       the id equals a leaderboard name (case aside)
    alias       the shipped alias table (``quality_aliases.yaml``): a vendor's documented
                undated alias and the snapshot it points to; or "no match" for a distinct
                model that stripping would confuse with another (``phi-4-reasoning``)
    normalised  both sides without provider prefixes and suffixes (path segments, Bedrock
                region/vendor prefixes and ``-v1:0``, Vertex ``@``, ``:free``), vendor words
                (``amazon-``, ``nvidia-``), precision tokens (``-fp8``, ``-bf16``) and
                punctuation (``llama3-1`` = ``llama-3.1``); ``-instruct``/``-it`` too, unless
                the board lists other variants of the model (``-thinking``)
    date        dates, versions and snapshot tags stripped (``-2024-08-06``, ``-20241022``,
                ``-0528``, ``-001``, ``-preview``, ``-latest``); an undated id matches a
                dated name, and a dated id an undated name unless the board lists that
                model under other dates (then the undated entry is another snapshot);
                never two different dates. A ``-latest`` id (a moving pointer) only
                matches an undated name of a versioned model (``gpt-5-chat-latest``)
    effort      effort, thinking and variant suffixes stripped too (``-high``,
                ``-thinking-32k``, ``(thinking-minimal)``, ``-instruct``), by the same rule:
                never two different efforts

At each level, two or more leaderboard entries that could be the id make it *ambiguous*:
the id is left unmatched (the candidates are reported), never guessed, and the cascade
stops there (a looser level would only add candidates). So is one name that could be two
models: a versionless name (``mistral-medium``) the board also lists with dates is taken
by the exact id only. ``-max`` is not an effort: it also
names models (``qwen3-max``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

METHODS: tuple[str, ...] = ("exact", "alias", "normalised", "date", "effort")
# What each method means, for a person reading a rating's provenance.
METHOD_NOTES: dict[str, str] = {
    "exact": "the same name",
    "alias": "a known alias",
    "normalised": "the same name in the provider's spelling",
    "date": "another date or version of the same model",
    "effort": "another effort or thinking setting of the same model",
}

# Provider decorations on an id, removed before comparing (never part of a model's name).
_BEDROCK_PREFIX = re.compile(
    r"^(?:(?:us|eu|apac|au|ca|jp|us-gov|global)\.)?"
    r"(?:anthropic|meta|amazon|mistral|cohere|ai21|deepseek|qwen|openai|writer|moonshot|"
    r"moonshotai|minimax|google|nvidia|zai)\."
)
_BEDROCK_VERSION = re.compile(r"-v\d+:\d+$")  # anthropic.claude-...-v2:0
_SIZE_TAG = re.compile(r":(\d+(?:\.\d+)?[bm])$")  # ollama's gemma3:27b
_ROUTE_SUFFIX = re.compile(r":[a-z][a-z0-9-]*$")  # :free, :beta, :extended, :thinking
_VENDOR_WORD = re.compile(r"^(?:amazon|nvidia|ibm|meta|microsoft)-")
_PRECISION = frozenset({"fp8", "bf16", "fp16", "nvfp4"})  # how a model is served, not which
_VARIANT = frozenset({"instruct", "it"})  # the chat-tuned variant, when it is the only one
_SEPARATORS = re.compile(r"[^a-z0-9]+")

# Trailing tokens: snapshot tags (dates, versions, preview/latest) and effort markers.
_DATE = re.compile(
    r"[-_ ](\d{4}-\d{2}-\d{2}|\d{8}|\d{6}|\d{2}-\d{2}-\d{2}|\d{2}-\d{4}|\d{2}-\d{2}|\d{4}|\d{3}"
    r"|preview|latest|exp|beta)$"
)
_WORD_TAGS = frozenset({"preview", "latest", "exp", "beta"})  # name no snapshot date
_EFFORT = re.compile(
    r"(?:\s*\(([^)]*)\)"
    r"|[-_ ]((?:no|non)-?(?:thinking|reasoning)|thinking(?:-\d+k)?|reasoning|adaptive"
    r"|instant|instruct|it|(?:minimal|low|medium|high|xhigh)(?:-\d+k)?))$"
)


@dataclass(frozen=True)
class Key:
    """One name at every level: its normalised form, base, snapshot tag and effort."""

    exact: str
    loose: str  # without separators and precision tokens, variant words kept
    normalised: str  # without variant words too
    base: str
    tag: str  # the date or version stripped ("" = undated; preview/latest are no date)
    effort: str  # "" = none stated
    pointer: bool = False  # ends in -latest: whatever the newest snapshot is


@dataclass(frozen=True)
class Match:
    """What an id matched: the leaderboard name and how, or the candidates it left."""

    name: str | None
    method: str | None
    candidates: tuple[str, ...] = ()

    @property
    def ambiguous(self) -> bool:
        """Two or more leaderboard entries could be this id: it is left unmatched."""
        return self.name is None and len(self.candidates) > 1


NO_MATCH = Match(None, None)


def _compact(text: str, keep_variant: bool = False) -> str:
    dropped = _PRECISION if keep_variant else _PRECISION | _VARIANT
    return "".join(t for t in _SEPARATORS.split(text) if t and t not in dropped)


def strip_provider(model_id: str) -> str:
    """The id without provider decorations: paths, region/vendor prefixes, route suffixes."""
    text = model_id.strip().lower().lstrip("~")
    text = text.rsplit("/", 1)[-1]  # openai/gpt-4o, models/gemini-2.5-pro, hf:org/name
    text = _BEDROCK_PREFIX.sub("", text)
    text = _BEDROCK_VERSION.sub("", text)
    text = text.replace("@latest", "").replace("@", "-")  # Vertex: claude-3-5-sonnet@20241022
    text = _SIZE_TAG.sub(r"-\1", text)
    text = _ROUTE_SUFFIX.sub(lambda m: "-thinking" if m.group(0) == ":thinking" else "", text)
    return _VENDOR_WORD.sub("", text)


def key_of(name: str) -> Key:
    """Every level's form of a name or id."""
    stripped = strip_provider(name)
    rest, tag, effort = stripped, "", ""
    while True:  # tags and efforts come in either order: -high-20260813, -preview-06-17-thinking
        found = _DATE.search(rest)
        if found:
            tag = f"{found.group(1)}-{tag}".strip("-")
            rest = rest[: found.start()]
            continue
        found = _EFFORT.search(rest)
        if found and found.start() > 0:
            effort = f"{(found.group(1) or found.group(2)).lower()}-{effort}".strip("-")
            rest = rest[: found.start()]
            continue
        break
    dated = "-".join(t for t in tag.split("-") if t and t not in _WORD_TAGS)
    return Key(
        exact=name.strip().lower(),
        loose=_compact(stripped, keep_variant=True),
        normalised=_compact(stripped),
        base=_compact(rest),
        tag=dated,
        effort=effort,
        pointer="latest" in tag.split("-"),
    )


class Matcher:
    """Match ids against one board's names; built once, each lookup a few dict reads."""

    def __init__(
        self, names: Iterable[str], aliases: Mapping[str, str | None] | None = None
    ) -> None:
        self._keys: dict[str, Key] = {}
        self._exact: dict[str, list[str]] = {}
        self._normalised: dict[str, list[str]] = {}
        self._base: dict[str, list[str]] = {}
        for name in names:
            if name in self._keys:
                continue
            key = key_of(name)
            self._keys[name] = key
            self._exact.setdefault(key.exact, []).append(name)
            self._normalised.setdefault(key.normalised, []).append(name)
            self._base.setdefault(key.base, []).append(name)
        # The alias table maps a normalised id to a name, or to None: a distinct model that
        # stripping would confuse with another. A name this board lacks still says which
        # snapshot the id is: that one is not rated here, so the id is not either.
        self._aliases = {
            _compact(strip_provider(source), keep_variant=True): target
            for source, target in (aliases or {}).items()
        }

    @property
    def names(self) -> tuple[str, ...]:
        """The board's names, in the order given."""
        return tuple(self._keys)

    def match(self, model_id: str) -> Match:
        """The leaderboard name this id is, with the method; or the ambiguity; or nothing."""
        key = key_of(model_id)
        if not key.normalised:
            return NO_MATCH
        exact = self._exact.get(key.exact, [])
        if exact:
            return _decide(exact, "exact")
        if key.loose in self._aliases:
            alias = self._aliases[key.loose]
            return Match(alias, "alias") if alias in self._keys else NO_MATCH
        found = self._loose_match(key)
        if found.name is None:
            return found
        # A name without a version (mistral-medium, command-r) listed beside dated versions
        # of itself names the first one; the same words in a provider's id may mean a newer
        # one. Only the exact id takes it: one name that could be two models is ambiguous.
        named = self._keys[found.name]
        near = self._base[named.base]
        dated = [n for n in near if self._keys[n].tag]
        if dated and not named.tag and not any(c.isdigit() for c in named.base):
            return Match(None, None, tuple(sorted({found.name, *dated})))
        return found

    def _loose_match(self, key: Key) -> Match:
        """The normalised, date and effort levels."""
        near = self._base.get(key.base, [])
        same = self._normalised.get(key.normalised, [])
        if same:
            if len(same) == 1 and self._keys[same[0]].loose != key.loose:
                # Equal only without "-instruct"/"-it": the chat variant, unless the board
                # lists other variants (thinking…) of the model, and then it could be any.
                chat = self._keys[same[0]]
                others = [
                    n
                    for n in near
                    if self._keys[n].effort != chat.effort and self._keys[n].tag == chat.tag
                ]
                return _decide(same + others, "normalised")
            return _decide(same, "normalised")
        if key.pointer:
            # -latest follows the newest snapshot: only an undated name of a versioned model
            # (gpt-5-chat-latest is gpt-5-chat), never a dated one nor a versionless family.
            if not any(c.isdigit() for c in key.base):
                return NO_MATCH
            near = [n for n in near if not self._keys[n].tag]
        dates = {self._keys[n].tag for n in near} - {""}
        efforts = {self._keys[n].effort for n in near} - {""}
        # An id with a date (effort) the board lists under other dates (efforts) only is
        # another snapshot (setting): the board's undated (plain) entry is not it either.
        date_ok = not key.tag or not dates
        effort_ok = not key.effort or not efforts
        same_effort = [
            n for n in near if self._keys[n].effort == key.effort and self._fits(key, n, date_ok)
        ]
        if same_effort:
            return _decide(same_effort, "date")
        any_effort = [
            n
            for n in near
            if self._fits(key, n, date_ok) and _fit(key.effort, self._keys[n].effort, effort_ok)
        ]
        if any_effort:
            return _decide(any_effort, "effort")
        return NO_MATCH

    def _fits(self, key: Key, name: str, date_ok: bool) -> bool:
        return _fit(key.tag, self._keys[name].tag, date_ok)


def _fit(mine: str, theirs: str, unspecified_ok: bool) -> bool:
    """Two dates (efforts) fit when equal, or when one is unstated and that is allowed."""
    if mine and theirs:
        return mine == theirs
    if mine and not theirs:
        return unspecified_ok
    return True


def _decide(found: list[str], method: str) -> Match:
    if len(found) == 1:
        return Match(found[0], method)
    return Match(None, None, tuple(sorted(found)))
