"""``modeldesk budgets list|create|delete|status``: in-process through main(), both databases.
The status JSON is the documented form a gateway reads (docs/budgets.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from core.usage.inputs import UsageInput
from core.usage.ledger import record_usage
from tests.support import spend


@pytest.fixture
def run(run, env):
    """The CLI fixture (tests/support/cli.py), with the spend fixtures' time zone."""
    env.setenv("MODELDESK_TIMEZONE", spend.TZ)
    return run


@pytest.fixture
def org(runtime):
    """The spend organisation, plus $6 of vera's usage an hour ago (inside today's month)."""
    found = spend.seed(runtime)
    now = datetime.now(UTC)
    with runtime.sessions.begin() as s:
        record_usage(
            s,
            events=[
                UsageInput(
                    timestamp=now - timedelta(minutes=1),
                    provider="Vera AI",
                    model="house-model",
                    input_tokens=6_000_000,
                    output_tokens=0,
                    user="vera",
                    idempotency_key="cli-now",
                )
            ],
            timezone=spend.TZ,
            now=now,
        )
    return found


def test_create_list_status_delete(run, org):
    code, out, err = run(
        "budgets", "create", "Vera now", "--scope", "provider", "--provider", "Vera AI",
        "--amount", "2", "--thresholds", "50,100",
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert out == "Created budget Vera now: $2.00 per calendar month for provider Vera AI.\n"
    code, out, _ = run(
        "budgets", "create", "Olga rolling", "--scope", "user", "--user", "olga",
        "--amount", "1000", "--window", "rolling", "--days", "3",
    )  # fmt: skip
    assert code == 0
    code, out, _ = run("budgets", "list", "--format", "json")
    assert [(b["name"], b["amount_usd"], b["window"]) for b in json.loads(out)] == [
        ("Olga rolling", "1000", "last 3 days"),
        ("Vera now", "2", "calendar month"),
    ]
    code, out, _ = run("budgets", "status", "--format", "json")
    document = json.loads(out)
    assert code == 0 and document["timezone"] == spend.TZ
    vera = next(b for b in document["budgets"] if b["name"] == "Vera now")
    assert float(vera["spent_usd"]) >= 6  # this month's spend on Vera AI, at least the $6
    assert vera["state"] == "over" and vera["crossed"] == [50, 100]
    assert set(vera) >= {"window", "forecast_usd", "share", "unpriced_requests", "spend_complete"}
    assert vera["window"]["kind"] == "month" and vera["amount_usd"] == "2"
    code, out, _ = run("budgets", "status", "Vera now")
    assert "over" in out and f"Days in {spend.TZ}" in out
    code, out, _ = run("budgets", "status", "--as", "olga", "--format", "json")
    assert [b["name"] for b in json.loads(out)["budgets"]] == ["Olga rolling"]
    code, out, _ = run("budgets", "delete", "vera NOW")
    assert (code, out) == (0, "Deleted budget Vera now.\n")
    code, out, _ = run("budgets", "list")
    assert "Vera now" not in out and "Olga rolling" in out


def test_refusals_are_one_line(run, org):
    code, _, err = run("budgets", "create", "X", "--scope", "tag", "--amount", "abc")
    assert code == 1
    assert err.startswith("modeldesk: error: ") and "like 250 or 99.50" in err
    assert "key=value" in err
    code, _, err = run(
        "budgets", "create", "X", "--scope", "user", "--user", "olga", "--amount", "5",
        "--as", "olga",
    )  # fmt: skip
    assert (code, err) == (1, "modeldesk: error: Only admins can manage budgets.\n")
    code, _, err = run("budgets", "delete", "Nope")
    assert (code, err) == (1, "modeldesk: error: No budget is named 'Nope'.\n")
    code, out, _ = run("budgets", "list", "--as", "vera")
    assert (code, out) == (0, "No budgets.\n")


def test_the_documented_status_json_has_the_commands_fields(run, org):
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "docs" / "budgets.md").read_text()
    block = text[text.index("```json\n") + 8 :]
    example = json.loads(block[: block.index("```")].replace('"5f0c6a3e-…"', '"x"'))
    run("budgets", "create", "B", "--scope", "user", "--user", "olga", "--amount", "5")
    _, out, _ = run("budgets", "status", "--format", "json")
    document = json.loads(out)
    assert set(document) == set(example)
    assert set(document["budgets"][0]) == set(example["budgets"][0])
    assert set(document["budgets"][0]["window"]) == set(example["budgets"][0]["window"])


def test_a_budget_whose_usage_has_no_price_shows_its_spend_as_unknown(run, org, runtime):
    run("budgets", "create", "Lab bot", "--scope", "user", "--user", "lab-bot", "--amount", "5")
    code, out, _ = run("budgets", "status", "Lab bot")
    assert "$0.00" in out.splitlines()[1]  # no usage yet: nothing spent
    now = datetime.now(UTC)
    with runtime.sessions.begin() as s:
        record_usage(
            s,
            events=[
                UsageInput(
                    timestamp=now - timedelta(minutes=1),
                    provider="Shared",
                    model="mystery-model-x9",
                    input_tokens=10,
                    output_tokens=1,
                    requests=4,
                    user="lab-bot",
                )
            ],
            timezone=spend.TZ,
            now=now,
        )
    code, out, _ = run("budgets", "status", "Lab bot")
    row = out.splitlines()[1]
    assert "$0.00" not in row.split("$5.00", 1)[1] and "—" in row and "4 requests" in row
    _, out, _ = run("budgets", "status", "Lab bot", "--format", "json")
    [status] = json.loads(out)["budgets"]
    assert (status["spent_usd"], status["unpriced_requests"], status["spend_complete"]) == (
        "0",
        4,
        False,
    )
