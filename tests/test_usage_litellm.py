"""LiteLLM payload lines (core.usage.litellm): the mapping rules and every bad line's reason,
on SQLite and PostgreSQL. tests/test_usage_litellm_live.py imports what LiteLLM really writes."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from core.accounts import users
from core.records import providers
from core.store.usage_tables import UsageEvent
from core.usage import formats
from tests.test_usage_import import run  # noqa: F401 (fixture)

NOW = datetime(2026, 6, 2, tzinfo=UTC)
BASE = {  # the fields of a StandardLoggingPayload the import reads (plus content it must not)
    "id": "chatcmpl-a1",
    "call_type": "completion",
    "status": "success",
    "custom_llm_provider": "openai",
    "startTime": 1780300000.5,
    "endTime": 1780300001.25,
    "model": "gpt-4o",
    "model_group": "",
    "api_base": "https://api.openai.com/v1",
    "prompt_tokens": 1000,
    "completion_tokens": 200,
    "total_tokens": 1200,
    "response_cost": 0.0045,
    "cache_hit": None,
    "end_user": None,
    "request_tags": [],
    "messages": [{"role": "user", "content": "CANARY-litellm-unit"}],
    "model_parameters": {},
    "metadata": {
        "user_api_key_user_id": None,
        "user_api_key_alias": None,
        "user_api_key_team_alias": None,
        "usage_object": {"prompt_tokens": 1000, "completion_tokens": 200},
    },
}


def line(**changes) -> str:
    payload = copy.deepcopy(BASE)
    for key, value in changes.items():
        if key.startswith("metadata__"):
            payload["metadata"][key[10:]] = value
        else:
            payload[key] = value
    return json.dumps(payload)


@pytest.fixture
def seeded(runtime):
    with runtime.sessions.begin() as s:
        admin = users.create_user(s, username="alice", password="correct-horse-42", role="admin")
        s.flush()
        providers.create_provider(
            s, actor=admin, name="OpenAI", provider_type="openai", api_key="sk-test-000000000000"
        )
        providers.create_provider(
            s,
            actor=admin,
            name="Claude",
            provider_type="anthropic",
            api_key="sk-ant-test-00000000000",
        )
    return runtime


def do_import(runtime, text: str, **kw) -> formats.ImportReport:
    with runtime.sessions.begin() as s:
        return formats.import_text(s, text, now=NOW, format="litellm", **kw)


def events(runtime) -> dict[str, UsageEvent]:
    with runtime.sessions() as s:
        return {e.idempotency_key: e for e in s.scalars(select(UsageEvent))}


def test_a_payload_maps_to_one_event(seeded):
    text = line(
        request_tags=["team=search", "beta"],
        model_group="fast",
        metadata__user_api_key_user_id="alice",
        metadata__user_api_key_alias="ci-key",
        end_user="customer-9",
    )
    report = do_import(seeded, text)
    assert report.bad == [] and report.stored == 1
    event = events(seeded)["litellm:chatcmpl-a1"]
    assert (event.provider_name, event.model_id, event.username) == ("OpenAI", "gpt-4o", "alice")
    assert event.occurred_at == datetime(2026, 6, 1, 7, 46, 41, 250000, tzinfo=UTC)
    assert event.tags == {
        "beta": "true",
        "end_user": "customer-9",
        "key_alias": "ci-key",
        "model_group": "fast",
        "team": "search",
    }
    assert event.source_cost_usd == Decimal("0.0045") and event.cost_usd == Decimal("0.0045")


def test_an_unknown_user_is_kept_as_a_tag(seeded):
    do_import(seeded, line(metadata__user_api_key_user_id="u-123"))
    event = events(seeded)["litellm:chatcmpl-a1"]
    assert event.username is None and event.tags == {"litellm_user": "u-123"}


def test_anthropic_cache_fields_are_parts_of_the_input(seeded):
    usage = {
        "prompt_tokens": 8050,
        "completion_tokens": 300,
        "cache_creation_input_tokens": 2000,
        "cache_read_input_tokens": 6000,
        "prompt_tokens_details": {"cached_tokens": 6000, "cache_creation_tokens": 2000},
        "completion_tokens_details": {"reasoning_tokens": 120},
    }
    text = line(
        custom_llm_provider="anthropic",
        api_base="https://api.anthropic.com/v1/messages",
        model="claude-sonnet-4-5",
        prompt_tokens=8050,
        completion_tokens=300,
        metadata__usage_object=usage,
    )
    assert do_import(seeded, text).stored == 1
    event = events(seeded)["litellm:chatcmpl-a1"]
    assert event.provider_name == "Claude"
    assert (event.input_tokens, event.cached_input_tokens, event.cache_write_tokens) == (
        8050,
        6000,
        2000,
    )
    assert (event.output_tokens, event.reasoning_tokens) == (300, 120)


def test_anthropic_shaped_usage_is_converted(seeded):
    payload = json.loads(line(custom_llm_provider="anthropic", model="claude-sonnet-4-5"))
    del payload["prompt_tokens"], payload["completion_tokens"]
    payload["metadata"]["usage_object"] = {
        "input_tokens": 50,
        "output_tokens": 10,
        "cache_creation_input_tokens": 2000,
        "cache_read_input_tokens": 6000,
    }
    assert do_import(seeded, json.dumps(payload)).stored == 1
    event = events(seeded)["litellm:chatcmpl-a1"]
    assert (event.input_tokens, event.cached_input_tokens, event.cache_write_tokens) == (
        8050,
        6000,
        2000,
    )


def test_cache_hits_and_tokenless_failures_are_skipped_failures_with_tokens_counted(seeded):
    text = "\n".join(
        [
            line(id="hit", cache_hit=True),
            line(id="failed-empty", status="failure", prompt_tokens=0, completion_tokens=0),
            line(id="failed-billed", status="failure", response_cost=0.0),
        ]
    )
    report = do_import(seeded, text)
    assert report.bad == [] and report.stored == 1 and report.skipped == 2
    assert "2 call(s) skipped" in report.summary()
    event = events(seeded)["litellm:failed-billed"]
    assert event.tags == {"status": "failure"} and event.input_tokens == 1000
    assert event.source_cost_usd == Decimal(0)


BAD = [
    ("not json", "not JSON"),
    (json.dumps({"call_type": "x"}), "not a LiteLLM StandardLoggingPayload"),
    (line(prompt_tokens=-5), "prompt_tokens cannot be negative (-5)"),
    (line(completion_tokens="12"), "completion_tokens is not a whole number"),
    (line(endTime=None, startTime="yesterday"), "endTime/startTime is not a time"),
    (line(id=None), "the payload has no id"),
    (line(model=""), "the payload names no model"),
    (
        line(custom_llm_provider="groq", api_base="https://api.groq.com/openai/v1"),
        "no provider record of type 'groq' at api.groq.com; map it with --provider",
    ),
    (line(endTime=4102444800.0), "is in the future"),
    (line(request_tags=["bad key=x"]), "tag key 'bad key' is not"),
    (
        line(metadata__usage_object={"prompt_tokens_details": {"cached_tokens": 5000}}),
        "exceed input_tokens (1000)",
    ),
]


def test_every_bad_line_is_reported_with_its_number_and_reason(seeded):
    text = "\n".join([line(id="good"), *(raw for raw, _ in BAD)])
    report = do_import(seeded, text)
    assert report.stored == 1
    assert [b.line for b in report.bad] == list(range(2, len(BAD) + 2))
    for bad, (_, reason) in zip(report.bad, BAD):
        assert reason in bad.reason, (bad, reason)
    assert all("CANARY" not in b.reason for b in report.bad)


def test_all_or_nothing_stores_none(seeded):
    report = do_import(seeded, line(id="good") + "\n" + line(id=None), all_or_nothing=True)
    assert report.stored == 0 and len(report.bad) == 1 and events(seeded) == {}


def test_an_explicit_mapping_names_the_provider(seeded):
    text = line(custom_llm_provider="groq", api_base="https://api.groq.com/openai/v1")
    report = do_import(seeded, text, providers={"groq": "OpenAI"})
    assert report.bad == [] and events(seeded)["litellm:chatcmpl-a1"].provider_name == "OpenAI"


def test_auto_detects_litellm_payloads_and_not_modeldesk_lines():
    from core.usage import litellm

    assert litellm.detect(line())
    assert litellm.detect(json.dumps({"standard_logging_object": json.loads(line())}))
    assert not litellm.detect('{"timestamp": "2026-05-01T10:00:00Z", "provider": "OpenAI"}')


def test_the_commands_import_litellm_and_show_its_cost_beside_ours(run, tmp_path):  # noqa: F811
    import csv
    import io

    from tests.test_usage_import import write

    text = "\n".join(
        [line(id="a"), line(id="b", response_cost=0.005), line(id="c", cache_hit=True)]
    )
    code, out, err = run(
        "usage", "import", write(tmp_path, "ll.jsonl", text), "--format", "litellm"
    )
    assert (code, err) == (0, "")
    assert "2 stored" in out and "1 call(s) skipped" in out
    code, out, err = run(
        "usage", "summary", "--from", "2026-06-01", "--to", "2026-06-02", "--format", "csv"
    )
    assert (code, err) == (0, "")
    (row,) = list(csv.DictReader(io.StringIO(out)))
    assert (row["cost_usd"], row["source_cost_usd"], row["source_costed_requests"]) == (
        "0.009",
        "0.0095",
        "2",
    )
    code, out, _ = run("usage", "summary", "--from", "2026-06-01", "--to", "2026-06-02")
    assert code == 0 and "SOURCE_COST_USD" in out.splitlines()[0] and "$0.0095" in out


def test_without_source_costs_the_summary_has_no_source_column(run, tmp_path):  # noqa: F811
    from tests.test_usage_import import CSV, write

    run("usage", "import", write(tmp_path, "usage.csv", CSV))
    code, out, _ = run(
        "usage", "summary", "--from", "2026-05-01", "--to", "2026-05-03", "--format", "csv"
    )
    assert code == 0 and "source_cost_usd" not in out
