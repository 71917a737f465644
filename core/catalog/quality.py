"""Quality ratings: the Arena (LMArena) leaderboards as a dated, sourced, licensed snapshot.

The data ships in ``core/catalog/data/arena-<date>.json`` (written by
``modeldesk quality import``, see ``quality_import``; its ``NOTICE-arena.md`` beside it
gives the attribution and changes CC BY 4.0 asks for). No network, no third-party package
at run time. Per board (``text``, ``coding``, ``math``, ``hard_prompts``, ``vision``,
``webdev``) each entry is a leaderboard name with its rating, 95 % interval and votes.

    rating_for(provider_type, model_id, board="text") -> Rating | None
    snapshot_info() -> SnapshotInfo          (source, URL, date, licence, attribution)

A model id is matched to a leaderboard name by ``quality_match`` (exact, normalised, alias,
date, effort; ambiguous ids stay unrated) and every ``Rating`` says which method matched
and which name. The snapshot is loaded once per process; each id's match is computed once
and kept, so the Explorer's thousands of lookups are dictionary reads.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from core.catalog.quality_match import METHOD_NOTES, Match, Matcher
from core.errors import ConfigurationError, ValidationError

DATA_DIR = Path(__file__).resolve().parent / "data"
SNAPSHOT_GLOB = "arena-*.json"
ALIASES_FILE = DATA_DIR / "quality_aliases.yaml"
FORMAT = 1
# The boards kept, in display order, each with what it rates.
BOARDS: dict[str, str] = {
    "text": "Text (overall)",
    "coding": "Text: coding",
    "math": "Text: math",
    "hard_prompts": "Text: hard prompts",
    "vision": "Vision",
    "webdev": "WebDev",
}
_INFO_FIELDS = ("source", "url", "dataset_url", "licence", "licence_url", "attribution", "changes")


@dataclass(frozen=True)
class Rating:
    """One model's Arena rating on one board, with its uncertainty and provenance."""

    score: float
    ci_low: float
    ci_high: float
    votes: int
    board: str
    source: str
    fetched: date
    licence: str
    method: str  # how the id matched: exact, normalised, alias, date, effort
    matched_name: str  # the leaderboard's name for the model

    def text(self) -> str:
        """One line for a table cell or a reason: the rating, its interval, votes and date."""
        return (
            f"Arena {BOARDS[self.board].lower()} {self.score:.0f} "
            f"(95 % CI {self.ci_low:.0f}–{self.ci_high:.0f}, {self.votes:,} votes, "
            f"{self.fetched.isoformat()})"
        )

    def provenance(self) -> str:
        """Where the number comes from: the leaderboard name, how it matched, the licence."""
        how = METHOD_NOTES.get(self.method, self.method)
        return f"{self.source}, as {self.matched_name} ({how}); {self.licence}"


@dataclass(frozen=True)
class SnapshotInfo:
    """What the UI footer says about the data: where from, when, under which licence."""

    source: str
    url: str
    dataset_url: str
    fetched: date  # the newest board's date
    licence: str
    licence_url: str
    attribution: str
    changes: str
    boards: Mapping[str, date] = field(default_factory=dict)  # board -> its fetched date
    origins: Mapping[str, str] = field(default_factory=dict)  # board -> the file it came from
    file: str = ""


@dataclass(frozen=True)
class Entry:
    """One leaderboard row as shipped."""

    name: str
    score: float
    ci_low: float
    ci_high: float
    votes: int


class QualityData:
    """One loaded snapshot: its boards, their matchers and every id's match, kept."""

    def __init__(
        self,
        info: SnapshotInfo,
        boards: Mapping[str, tuple[Entry, ...]],
        aliases: Mapping[str, str | None],
    ) -> None:
        self.info = info
        self.boards = {board: {e.name: e for e in entries} for board, entries in boards.items()}
        self._matchers = {board: Matcher(names, aliases) for board, names in self.boards.items()}
        self._ratings: dict[tuple[str, str], Rating | None] = {}
        self._matches: dict[tuple[str, str], Match] = {}

    def match(self, model_id: str, board: str = "text") -> Match:
        """How ``model_id`` matches this board (the name and method, or the candidates)."""
        _check_board(board)
        key = (board, model_id)
        found = self._matches.get(key)
        if found is None:
            matcher = self._matchers.get(board)
            found = matcher.match(model_id) if matcher else Match(None, None)
            self._matches[key] = found
        return found

    def rating_for(self, provider_type: str, model_id: str, board: str = "text") -> Rating | None:
        """The rating of this provider type's model on ``board``, or None when unrated."""
        # The id alone decides the match (provider decorations are stripped from it); the
        # provider type is part of the interface so a rule per type can come without churn.
        key = (board, model_id)
        if key in self._ratings:
            return self._ratings[key]
        found = self.match(model_id, board)
        rating = None
        if found.name is not None and found.method is not None:
            entry = self.boards[board][found.name]
            rating = Rating(
                score=entry.score,
                ci_low=entry.ci_low,
                ci_high=entry.ci_high,
                votes=entry.votes,
                board=board,
                source=self.info.source,
                fetched=self.info.boards[board],
                licence=self.info.licence,
                method=found.method,
                matched_name=found.name,
            )
        self._ratings[key] = rating
        return rating


def _check_board(board: str) -> None:
    if board not in BOARDS:
        raise ValidationError(
            f"Unknown quality board {board!r}. Valid: {', '.join(BOARDS)}.", field="board"
        )


# --- Reading a snapshot file ----------------------------------------------------------------


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigurationError(f"{where}: expected a number, found {str(value)[:40]!r}.")
    return float(value)


def _entry(row: Any, where: str) -> Entry:
    if not isinstance(row, list) or len(row) != 5 or not isinstance(row[0], str) or not row[0]:
        raise ConfigurationError(f"{where}: expected [name, rating, low, high, votes].")
    score, low, high = (_number(v, where) for v in row[1:4])
    votes = row[4]
    if isinstance(votes, bool) or not isinstance(votes, int) or votes < 0:
        raise ConfigurationError(f"{where}: votes must be a whole number.")
    if not low <= score <= high:
        raise ConfigurationError(f"{where}: the rating is outside its interval.")
    return Entry(row[0], score, low, high, votes)


def parse_snapshot(data: Any, file: str = "") -> tuple[SnapshotInfo, dict[str, tuple[Entry, ...]]]:
    """A snapshot document checked strictly (a broken shipped file is a packaging bug)."""
    where = file or "quality snapshot"
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ConfigurationError(f"{where}: not a quality snapshot of format {FORMAT}.")
    missing = [k for k in _INFO_FIELDS if not isinstance(data.get(k), str) or not data[k]]
    if missing:
        raise ConfigurationError(f"{where}: missing {', '.join(missing)}.")
    raw_boards = data.get("boards")
    if not isinstance(raw_boards, dict) or not raw_boards:
        raise ConfigurationError(f"{where}: no boards.")
    boards: dict[str, tuple[Entry, ...]] = {}
    dates: dict[str, date] = {}
    origins: dict[str, str] = {}
    for board, body in raw_boards.items():
        if board not in BOARDS or not isinstance(body, dict):
            raise ConfigurationError(f"{where}: unknown board {str(board)[:40]!r}.")
        try:
            dates[board] = date.fromisoformat(str(body.get("fetched")))
        except ValueError:
            raise ConfigurationError(f"{where}: board {board} has no fetched date.") from None
        origins[board] = str(body.get("origin") or "")
        rows = body.get("entries")
        if not isinstance(rows, list) or not rows:
            raise ConfigurationError(f"{where}: board {board} has no entries.")
        boards[board] = tuple(_entry(r, f"{where}, {board} #{n}") for n, r in enumerate(rows, 1))
    info = SnapshotInfo(
        **{k: data[k] for k in _INFO_FIELDS},
        fetched=max(dates.values()),
        boards=dates,
        origins=origins,
        file=file,
    )
    return info, boards


def load_aliases(path: Path = ALIASES_FILE) -> dict[str, str | None]:
    """The shipped alias table: model id -> leaderboard name (None: never match)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    aliases = data.get("aliases") if isinstance(data, dict) else None
    if not isinstance(aliases, dict) or not all(
        isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in aliases.items()
    ):
        raise ConfigurationError(f"{path.name}: expected `aliases:` mapping ids to names or null.")
    return dict(aliases)


def snapshot_files(folder: Path = DATA_DIR) -> list[Path]:
    """The snapshot files in ``folder``, oldest first (the name carries the date)."""
    return sorted(folder.glob(SNAPSHOT_GLOB))


def load(path: Path, aliases: Mapping[str, str | None] | None = None) -> QualityData:
    """One snapshot file, ready for lookups."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"{path.name}: cannot be read ({type(exc).__name__}).") from None
    info, boards = parse_snapshot(data, path.name)
    return QualityData(info, boards, load_aliases() if aliases is None else aliases)


@functools.cache
def shipped() -> QualityData:
    """The newest shipped snapshot, loaded once per process."""
    files = snapshot_files()
    if not files:
        raise ConfigurationError("No quality snapshot ships with this installation.")
    return load(files[-1])


def rating_for(provider_type: str, model_id: str, board: str = "text") -> Rating | None:
    """The shipped Arena rating of a model on ``board`` (text by default), or None."""
    return shipped().rating_for(provider_type, model_id, board)


def snapshot_info() -> SnapshotInfo:
    """Source, URL, date, licence and attribution of the shipped ratings (the UI footer)."""
    return shipped().info
