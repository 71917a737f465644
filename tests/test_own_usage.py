"""Modeldesk's own paid calls in the usage ledger (core.probes.own_usage): Measure speed and
the deep connection test against a fake provider on loopback record the tokens it returned,
tagged as Modeldesk's, as the user who clicked; on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from core.store.usage_tables import UsageDailyTag, UsageEvent
from tests.test_speed import T0, deep_test, live, measure  # noqa: F401 (fixture)

RETURNED = {"prompt_tokens": 41, "completion_tokens": 87, "total_tokens": 128}


def events(live: dict[str, Any]) -> list[UsageEvent]:  # noqa: F811
    with live["rt"].sessions() as s:
        return list(s.scalars(select(UsageEvent).order_by(UsageEvent.occurred_at)))


def test_a_speed_measurement_is_recorded_as_modeldesk_usage(live):  # noqa: F811
    live["fake"].protocol.options["usage"] = RETURNED
    assert measure(live, "alice", "gpt").ok
    (event,) = events(live)
    assert (event.input_tokens, event.output_tokens) == (41, 87)
    assert event.tags == {"app": "modeldesk", "feature": "speed-check"}
    assert (event.username, event.provider_name, event.model_id) == ("alice", "Fake", "gpt-4o")
    assert event.model_record_id == live["gpt"] and event.occurred_at == T0
    assert event.cost_usd is not None  # the record's or the catalog's gpt-4o price
    with live["rt"].sessions() as s:
        tagged = {(r.tag_key, r.tag_value): r.requests for r in s.scalars(select(UsageDailyTag))}
    assert tagged == {("app", "modeldesk"): 1, ("feature", "speed-check"): 1}


def test_a_members_measurement_is_theirs(live):  # noqa: F811
    assert measure(live, "bob", "bobs").ok
    (event,) = events(live)
    assert (event.username, event.provider_name) == ("bob", "Bob's")
    assert (event.input_tokens, event.output_tokens) == (9, 3)  # the fake's default usage


def test_a_deep_test_is_recorded_as_modeldesk_usage(live):  # noqa: F811
    live["fake"].protocol.options["usage"] = RETURNED
    live["fake"].models = ("gpt-4o", "gpt-4o-mini", "other")
    assert deep_test(live, "gpt-4o").ok
    assert deep_test(live, "other").ok  # served but not configured: still paid, still usage
    found = events(live)
    assert [(e.model_id, e.input_tokens, e.output_tokens) for e in found] == [
        ("gpt-4o", 41, 87),
        ("other", 41, 87),
    ]
    assert all(e.tags == {"app": "modeldesk", "feature": "connection-test"} for e in found)
    assert {e.username for e in found} == {"alice"}


def test_failed_calls_record_no_usage(live):  # noqa: F811
    live["fake"].mode = "500"
    assert not measure(live, "alice", "gpt").ok
    assert not deep_test(live, "gpt-4o").ok
    assert events(live) == []
