"""Modeldesk's usage file format (CSV and JSONL) and the `modeldesk usage` commands, on
SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.accounts import users
from core.records import model_records, providers
from core.store.tables import AuditEvent
from core.store.usage_tables import UsageDaily, UsageEvent
from core.usage import formats
from core.usage.inputs import UsageInput

D = Decimal
NOW = datetime(2026, 6, 1, tzinfo=UTC)

CSV = """timestamp,provider,model,input_tokens,output_tokens,cached_input_tokens,tags,user,id
2026-05-01T10:00:00Z,OpenAI,gpt-4o,1000,200,400,team=search;env=prod,alice,
2026-05-01T11:00:00+02:00,OpenAI,gpt-4o,2000,100,,team=ads,,req-2
2026-05-02T09:30:00Z,OpenAI,house-model,10,10,,,,
"""

JSONL = (
    "\n".join(
        json.dumps(o)
        for o in [
            {
                "timestamp": "2026-05-01T10:00:00Z",
                "provider": "OpenAI",
                "model": "gpt-4o",
                "input_tokens": 1000,
                "output_tokens": 200,
                "cached_input_tokens": 400,
                "tags": {"team": "search", "env": "prod"},
                "user": "alice",
            },
            {
                "timestamp": "2026-05-01T11:00:00+02:00",
                "provider": "OpenAI",
                "model": "gpt-4o",
                "input_tokens": 2000,
                "output_tokens": 100,
                "tags": {"team": "ads"},
                "id": "req-2",
            },
            {
                "timestamp": "2026-05-02T09:30:00Z",
                "provider": "OpenAI",
                "model": "house-model",
                "input_tokens": 10,
                "output_tokens": 10,
            },
        ]
    )
    + "\n"
)

BAD_CSV = """timestamp,provider,model,input_tokens,output_tokens,reasoning_tokens,tags
2026-05-01T10:00:00Z,OpenAI,gpt-4o,1000,200,0,team=search
2026-05-01T10:00:00,OpenAI,gpt-4o,1000,200,0,
2026-05-01T10:00:00Z,OpenAI,gpt-4o,1000,200,300,
2026-05-01T10:00:00Z,Nobody,gpt-4o,1000,200,0,
2026-05-01T10:00:00Z,OpenAI,gpt-4o,ten,200,0,
2026-05-01T10:00:00Z,OpenAI,gpt-4o,1000,200,0,team

2026-05-01T10:00:00Z,OpenAI,gpt-4o,1000
2026-05-03T10:00:00Z,OpenAI,gpt-4o,5,5,0,team=ads
"""
BAD_LINES = [
    (3, "timestamp '2026-05-01T10:00:00' needs a UTC offset or Z"),
    (4, "reasoning_tokens (300) exceed output_tokens (200), which include them"),
    (5, "no provider record is named 'Nobody'"),
    (6, "input_tokens must be a whole number, not 'ten'"),
    (7, "tag 'team' is not key=value"),
    (9, "4 fields where the header has 7"),
]


@pytest.fixture
def seeded(runtime):
    with runtime.sessions.begin() as s:
        admin = users.create_user(s, username="alice", password="correct-horse-42", role="admin")
        s.flush()
        openai = providers.create_provider(
            s, actor=admin, name="OpenAI", provider_type="openai", api_key="sk-test-000000000000"
        )
        model_records.create_model(
            s,
            actor=admin,
            provider_id=openai.id,
            model_id="gpt-4o",
            name="GPT-4o",
            input_cost_per_million=D("2"),
            output_cost_per_million=D("8"),
            cache_read_cost_per_million=D("1"),
        )
    return runtime


def do_import(runtime, text: str, **kw) -> formats.ImportReport:
    with runtime.sessions.begin() as s:
        return formats.import_text(s, text, now=NOW, **kw)


def count(runtime, model=UsageEvent) -> int:
    with runtime.sessions() as s:
        return s.scalar(select(func.count()).select_from(model))


def keys_and_costs(runtime) -> list[tuple]:
    with runtime.sessions() as s:
        return sorted(
            (e.idempotency_key, e.cost_usd, e.tags, e.username)
            for e in s.scalars(select(UsageEvent))
        )


# --- The format --------------------------------------------------------------------------------


def test_csv_and_jsonl_say_the_same_thing():
    from_csv = [item for _, item in formats.parse(CSV)]
    from_jsonl = [item for _, item in formats.parse(JSONL)]
    assert from_csv == from_jsonl
    first = from_csv[0]
    assert first == UsageInput(
        timestamp=datetime(2026, 5, 1, 10, tzinfo=UTC),
        provider="OpenAI",
        model="gpt-4o",
        input_tokens=1000,
        output_tokens=200,
        cached_input_tokens=400,
        user="alice",
        tags={"team": "search", "env": "prod"},
    )
    assert first.key.startswith("sha256:") and from_csv[1].key == "req-2"
    assert [line for line, _ in formats.parse(CSV)] == [2, 3, 4]


def test_importing_a_file_again_stores_nothing_new(seeded):
    first = do_import(seeded, CSV)
    assert (first.stored, first.bad) == (3, [])
    assert first.result.unpriced == 1
    before = keys_and_costs(seeded)
    again = do_import(seeded, JSONL)  # the same events, written as JSONL
    assert (again.stored, again.result.duplicates) == (0, 3)
    assert keys_and_costs(seeded) == before
    # req-2: 2,000 × $2 + 100 × $8 per million; the first line (keyed by its digest):
    # 600 × $2 + 400 cached × $1 + 200 × $8.
    assert [c for _, c, _, _ in before if c is not None] == [D("0.0048"), D("0.0032")]


def test_every_bad_line_is_reported_and_good_lines_are_stored(seeded):
    result = do_import(seeded, BAD_CSV)
    assert [(b.line, b.reason) for b in result.bad] == BAD_LINES
    assert result.stored == 2 and count(seeded) == 2
    assert "6 bad line(s) skipped" in result.summary()


def test_all_or_nothing_stores_none_of_a_file_with_a_bad_line(seeded):
    result = do_import(seeded, BAD_CSV, all_or_nothing=True)
    assert [(b.line, b.reason) for b in result.bad] == BAD_LINES
    assert result.stored == 0
    assert count(seeded) == 0 and count(seeded, UsageDaily) == 0
    assert result.summary() == "6 bad line(s) of 8; nothing stored (all or nothing)"


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("timestamp,provider,model,input_tokens\n", 1, "the header lacks output_tokens"),
        (
            (
                "timestamp,provider,model,input_tokens,output_tokens,prompt\n2026-05-01T00:00:00Z,a,b,1,1,"
                "hello\n"
            ),
            1,
            "the header has unknown column(s) 'prompt'",
        ),
        ('{"timestamp": "2026-05-01T00:00:00Z"\n', 1, "not JSON"),
        ("[1, 2]\n", 1, "a JSON object is expected, not list"),
        (
            (
                '\n{"timestamp": "2026-05-01T00:00:00Z", "provider": "OpenAI", "model": "m", '
                '"input_tokens": 1, "output_tokens": 1, "prompt": "hi"}\n'
            ),
            2,
            "unknown key(s) 'prompt'",
        ),
        (
            (
                '{"timestamp": "2026-05-01T00:00:00Z", "provider": "OpenAI", "model": "m", '
                '"input_tokens": 1.0, "output_tokens": NaN}\n'
            ),
            1,
            "not JSON",
        ),
        (
            (
                '{"timestamp": "2026-05-01T00:00:00Z", "provider": "OpenAI", "model": "m", '
                '"input_tokens": true, "output_tokens": 1}\n'
            ),
            1,
            "input_tokens must be a whole number",
        ),
        (
            (
                '{"timestamp": "yesterday", "provider": "OpenAI", "model": "m", '
                '"input_tokens": 1, "output_tokens": 1}\n'
            ),
            1,
            "timestamp 'yesterday' is not ISO 8601",
        ),
    ],
)
def test_unreadable_lines_say_why(text, line, reason):
    (found,) = [(n, item) for n, item in formats.parse(text)]
    assert found[0] == line and isinstance(found[1], str) and reason in found[1], found


# --- The commands -------------------------------------------------------------------------------


@pytest.fixture
def run(seeded, run):
    """The CLI fixture (tests/support/cli.py), over the seeded database."""
    return run


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_usage_import_command(run, tmp_path, seeded):
    path = write(tmp_path, "usage.csv", CSV)
    code, out, err = run("usage", "import", path)
    assert (code, err) == (0, "")
    assert out == f"Imported {path}: 3 line(s): 3 stored, 0 already recorded, 1 unpriced, $0.008.\n"
    code, out, _ = run(
        "usage", "import", write(tmp_path, "usage.jsonl", JSONL), "--format", "modeldesk"
    )
    assert code == 0 and "0 stored, 3 already recorded" in out


def test_usage_import_command_reports_bad_lines(run, tmp_path, seeded):
    path = write(tmp_path, "bad.csv", BAD_CSV)
    code, out, err = run("usage", "import", path, "--all-or-nothing")
    assert code == 1
    assert err.splitlines() == [f"modeldesk: {path}: line {n}: {why}" for n, why in BAD_LINES]
    assert "nothing stored (all or nothing)" in out and count(seeded) == 0
    code, _, err = run("usage", "import", str(tmp_path / "missing.csv"))
    assert (
        code == 1 and err.startswith("modeldesk: error: Cannot read") and len(err.splitlines()) == 1
    )


def test_usage_summary_command(run, tmp_path):
    run("usage", "import", write(tmp_path, "usage.csv", CSV))
    code, out, err = run(
        "usage",
        "summary",
        "--from",
        "2026-05-01",
        "--to",
        "2026-05-03",
        "--by",
        "tag:team",
        "--format",
        "json",
    )
    assert (code, err) == (0, "")
    doc = json.loads(out)
    assert doc["total"]["requests"] == 3 and doc["total"]["cost_usd"] == "0.008"
    assert {g["team"]: (g["cost_usd"], g["unpriced_requests"]) for g in doc["groups"]} == {
        "search": ("0.0032", 0),
        "ads": ("0.0048", 0),
        "(no team)": ("0", 1),
    }
    code, out, _ = run(
        "usage", "summary", "--from", "2026-05-01", "--to", "2026-05-03", "--format", "csv"
    )
    assert out.splitlines() == [
        (
            "day,requests,input_tokens,cached_input_tokens,cache_write_tokens,output_tokens,"
            "reasoning_tokens,cost_usd,unpriced_requests"
        ),
        "2026-05-01,2,3000,400,0,300,0,0.008,0",
        "2026-05-02,1,10,0,0,10,0,0,1",
    ]
    code, out, _ = run(
        "usage", "summary", "--from", "2026-05-01", "--to", "2026-05-03", "--by", "model"
    )
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["PROVIDER", "MODEL", "REQUESTS"]
    assert "$0.008" in lines[1] and "—" in lines[2] and lines[3].startswith("TOTAL")
    code, out, _ = run("usage", "summary", "--from", "2027-01-01", "--to", "2027-02-01")
    assert (code, out) == (0, "No usage from 2027-01-01 to 2027-02-01 (exclusive).\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--from", "2026-05-01", "--to", "2026-05-03", "--by", "week"), "Group by one of"),
        (("--from", "May 1", "--to", "2026-05-03"), "expected a date YYYY-MM-DD"),
        (
            (
                "--from",
                "2026-05-01",
            ),
            "required: --to",
        ),
    ],
)
def test_usage_summary_usage_errors(run, args, message):
    code, _, err = run("usage", "summary", *args)
    assert code == 2 and message in err


def test_usage_summary_refuses_an_empty_period(run):
    code, _, err = run("usage", "summary", "--from", "2026-05-03", "--to", "2026-05-01")
    assert code == 1 and err.startswith("modeldesk: error: The period is empty")


def test_usage_reprice_command(run, tmp_path, seeded):
    run("usage", "import", write(tmp_path, "usage.csv", CSV))
    with seeded.sessions.begin() as s:
        record = s.scalar(select(model_records.ModelRecord))
        model_records.update_model(
            s,
            actor=users.first_admin(s),
            model_record_id=record.id,
            expected_version=None,
            output_cost_per_million=D("16"),
        )
    code, out, err = run(
        "usage",
        "reprice",
        "--model",
        "gpt-4o",
        "--provider",
        "OpenAI",
        "--from",
        "2026-05-01",
        "--to",
        "2026-06-01",
    )
    assert (code, err) == (0, "")
    # 300 output tokens at $8 more per million.
    assert (
        out == "Repriced gpt-4o: 2 of 2 event(s) repriced: $0.008 → $0.0104, unpriced "
        "requests 0 → 0.\n"
    )
    with seeded.sessions() as s:
        audit = s.scalar(select(AuditEvent).where(AuditEvent.action == "usage.reprice"))
    assert (audit.before["cost_usd"], audit.after["cost_usd"]) == ("0.008", "0.0104")
    assert audit.actor_label == "alice"
    code, _, err = run(
        "usage",
        "reprice",
        "--model",
        "gpt-4o",
        "--provider",
        "Nobody",
        "--from",
        "2026-05-01",
        "--to",
        "2026-06-01",
    )
    assert (
        code == 1
        and err == "modeldesk: error: Cannot reprice: no provider record is named 'Nobody'.\n"
    )


def test_the_day_bucket_follows_modeldesk_timezone(run, tmp_path, seeded, monkeypatch):
    monkeypatch.setenv("MODELDESK_TIMEZONE", "Asia/Tokyo")
    run(
        "usage",
        "import",
        write(
            tmp_path,
            "late.csv",
            "timestamp,provider,model,input_tokens,output_tokens\n"
            "2026-05-01T20:00:00Z,OpenAI,gpt-4o,1,1\n",
        ),
    )
    with seeded.sessions() as s:
        assert s.scalar(select(UsageDaily.day)) == date(2026, 5, 2)
