"""A usage report checked before anything is stored: each problem named, a batch with a bad
report stores nothing, ambiguous provider names, the content key, and the timezone setting
(record_usage on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.accounts import users
from core.costs import Prices, Usage, cost_of
from core.errors import ValidationError
from core.records import providers
from core.usage.inputs import content_key, problems_of
from core.usage.ledger import record_usage
from tests.support.usage_ledger import D, record, report, stored

NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"input_tokens": -1}, "input_tokens cannot be negative"),
        ({"output_tokens": 1.5}, "output_tokens must be a whole number"),
        ({"requests": True}, "requests must be a whole number"),
        ({"requests": 0}, "requests must be at least 1"),
        (
            {"input_tokens": 10, "cached_input_tokens": 8, "cache_write_tokens": 3},
            "exceed input_tokens (10), which include them",
        ),
        (
            {"output_tokens": 5, "reasoning_tokens": 6},
            "exceed output_tokens (5), which include them",
        ),
        ({"at": datetime(2026, 5, 1, 12)}, "needs a UTC offset or Z"),
        ({"at": NOW + timedelta(hours=2)}, "is in the future"),
        ({"provider": ""}, "provider is required"),
        ({"model": " gpt-4o"}, "model has surrounding spaces"),
        ({"tags": {"bad key": "x"}}, "tag key 'bad key' is not"),
        ({"tags": {"team": 3}}, "tag team's value must be text"),
        ({"tags": {str(i): "v" for i in range(21)}}, "at most 20 tags"),
        ({"idempotency_key": "x" * 201}, "id is longer than 200 characters"),
    ],
)
def test_each_problem_is_named(changes, reason):
    problems = problems_of(report(**changes), now=NOW)
    assert any(reason in p for p in problems), problems


def test_a_good_report_has_no_problems():
    assert (
        problems_of(
            report(
                cached_input_tokens=1_000,
                output_tokens=100,
                reasoning_tokens=100,
                tags={"env:region": "eu-west/1"},
            ),
            now=NOW,
        )
        == []
    )
    assert problems_of(report(at=NOW + timedelta(minutes=59)), now=NOW) == []


def test_a_batch_with_a_bad_report_stores_nothing_and_names_each(runtime, ledger_org):
    with pytest.raises(ValidationError) as caught, runtime.sessions.begin() as s:
        record_usage(s, events=[report(), report(provider="Nobody"), report(input_tokens=-5)])
    assert [str(p) for p in caught.value.problems] == [
        "Usage report 2: no provider record is named 'Nobody'.",
        "Usage report 3: input_tokens cannot be negative (-5).",
    ]
    assert stored(runtime) == []


def test_a_provider_name_two_owners_use_is_refused_as_ambiguous(runtime, ledger_org):
    with runtime.sessions.begin() as s:
        bob = users.create_user(s, username="bob", password="correct-horse-42")
        s.flush()
        providers.create_provider(
            s, actor=bob, name="openai", provider_type="openai", api_key="sk-test-111111111111"
        )
    with (
        pytest.raises(ValidationError, match="2 provider records are named 'OpenAI'"),
        runtime.sessions.begin() as s,
    ):
        record_usage(s, events=[report(model="gpt-4o", provider="OpenAI")])


def test_the_content_key_ignores_how_the_time_was_written():
    utc = report(at=datetime(2026, 5, 1, 22, 30, tzinfo=UTC))
    paris = report(at=datetime.fromisoformat("2026-05-02T00:30:00+02:00"))
    assert content_key(utc) == content_key(paris) == utc.key
    assert content_key(report(input_tokens=1_001)) != utc.key
    assert report(idempotency_key="abc").key == "abc"


def test_cost_of_agrees_with_the_stored_cost_for_a_record_price(runtime, ledger_org):
    u = report("gpt-4o", "OpenAI", input_tokens=123_457, cached_input_tokens=3, output_tokens=7)
    record(runtime, u)
    prices = Prices(input=D("2"), output=D("8"), cache_read=D("0.5"))
    exact = cost_of(Usage(123_457, 7, cache_read_tokens=3), prices).total
    assert stored(runtime)[0].cost_usd == exact.quantize(D("1e-8"))


# --- The setting -------------------------------------------------------------------------------


def test_the_timezone_setting_is_checked():
    from core.config import load_settings
    from core.errors import ConfigurationError

    assert load_settings({}, secrets_file=None).timezone == "UTC"
    assert (
        load_settings({"MODELDESK_TIMEZONE": "Asia/Tokyo"}, secrets_file=None).timezone
        == "Asia/Tokyo"
    )
    for bad in ("Mars/Olympus", "Europe", "../etc/passwd", "UTC+2"):
        with pytest.raises(ConfigurationError, match="is not a time zone name"):
            load_settings({"MODELDESK_TIMEZONE": bad}, secrets_file=None)


def test_one_event_may_be_passed_alone(runtime, ledger_org):
    with runtime.sessions.begin() as s:
        result = record_usage(s, events=report(model="gpt-4o", provider="OpenAI"))
    assert (result.received, result.inserted) == (1, 1)
    assert result.summary() == "1 stored, 0 already recorded, 0 unpriced, $0.0028"
