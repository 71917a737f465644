"""LiteLLM payloads from the real code: ``litellm.completion`` (plain, streamed, and with
cached tokens) calls a fake OpenAI-compatible server on loopback (and once, streamed, a fake
Anthropic server with cache reads and writes), a real ``CustomLogger``
writes each ``standard_logging_object`` as a JSON line, and Modeldesk imports the file, on
both databases. Offline: the local model cost map, and any connection off loopback fails."""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import time
import warnings
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from core.accounts import users
from core.records import providers
from core.store.usage_tables import UsageEvent
from core.usage import formats, summary
from core.usage.litellm import source_cost
from tests.fakes.server import FakeProvider
from tests.test_usage_otlp_live import _database_text

CANARY = "CANARY-litellm-8b3e the secret plan"
PLAIN = {  # what the fake returns, call by call (chatcmpl-1, -2, -3)
    "prompt_tokens": 1200,
    "completion_tokens": 300,
    "total_tokens": 1500,
    "completion_tokens_details": {"reasoning_tokens": 256},
}
STREAMED = {"prompt_tokens": 700, "completion_tokens": 90, "total_tokens": 790}
CACHED = {
    "prompt_tokens": 2000,
    "completion_tokens": 100,
    "total_tokens": 2100,
    "prompt_tokens_details": {"cached_tokens": 1536},
}
RETURNED = {"chatcmpl-1": PLAIN, "chatcmpl-2": STREAMED, "chatcmpl-3": CACHED}
ANTHROPIC = {  # Anthropic's own shape: input_tokens excludes the cache reads and writes
    "input_tokens": 50,
    "output_tokens": 1,
    "cache_creation_input_tokens": 2000,
    "cache_read_input_tokens": 6000,
}
CALLS = len(RETURNED) + 1


def _loopback_only(real_connect):
    def connect(self: socket.socket, address: object) -> object:
        host = address[0] if isinstance(address, tuple) else None
        if host is not None and not ipaddress.ip_address(host).is_loopback:
            raise OSError(f"test is offline: connection to {host} refused")
        return real_connect(self, address)

    return connect


@pytest.fixture(scope="module")
def payload_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("litellm") / "payloads.jsonl"
    with pytest.MonkeyPatch.context() as env, warnings.catch_warnings():
        # litellm's own code warns under pydantic 2.14 (ReadOnly in its TypedDicts, instance
        # model_computed_fields in its stream handler): not ours; only while litellm runs here.
        warnings.filterwarnings("ignore", r".*`ReadOnly` qualifier", UserWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="litellm")
        env.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # read before the import
        env.setattr(socket.socket, "connect", _loopback_only(socket.socket.connect))
        litellm = pytest.importorskip("litellm")
        from litellm.integrations.custom_logger import CustomLogger

        class JsonlLogger(CustomLogger):
            def log_success_event(self, kwargs, response_obj, start_time, end_time):
                self._write(kwargs)

            def log_failure_event(self, kwargs, response_obj, start_time, end_time):
                self._write(kwargs)

            def _write(self, kwargs):
                with path.open("a", encoding="utf-8") as out:
                    out.write(json.dumps(kwargs["standard_logging_object"], default=str) + "\n")

        env.setattr(litellm, "callbacks", [JsonlLogger()])
        messages = [{"role": "user", "content": CANARY}]
        with FakeProvider("openai", usage=PLAIN) as fake:
            call = {"model": "openai/gpt-4o-mini", "api_base": fake.base_url, "api_key": fake.key}
            litellm.completion(messages=messages, user="alice", **call)
            fake.protocol.options["usage"] = STREAMED
            stream = litellm.completion(
                messages=messages,
                stream=True,
                stream_options={"include_usage": True},
                metadata={"tags": ["team=search", "beta"]},
                user="carol",
                **call,
            )
            assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
            fake.protocol.options["usage"] = CACHED
            litellm.completion(messages=messages, **call)
        with FakeProvider("anthropic", usage=ANTHROPIC, models=("claude-sonnet-4-5",)) as fake:
            stream = litellm.completion(
                model="anthropic/claude-sonnet-4-5",
                api_base=fake.url,
                api_key=fake.key,
                messages=messages,
                stream=True,
                stream_options={"include_usage": True},
            )
            assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
            deadline = time.monotonic() + 20  # the logger runs after the call returns
            while time.monotonic() < deadline:
                if path.exists() and len(path.read_text().splitlines()) >= CALLS:
                    break
                time.sleep(0.05)
    yield path


def test_the_file_is_what_litellm_really_writes(payload_file):
    text = payload_file.read_text()
    assert CANARY in text  # the payload carries the prompt: the import must drop it
    payloads = [json.loads(line) for line in text.splitlines()]
    assert len(payloads) == CALLS and set(RETURNED) <= {p["id"] for p in payloads}
    assert all(p["status"] == "success" and p["response_cost"] > 0 for p in payloads)
    (claude,) = [p for p in payloads if p["custom_llm_provider"] == "anthropic"]
    assert claude["prompt_tokens"] == 8050  # LiteLLM adds the cache parts in


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
            api_key="sk-ant-test-0000000000",
        )
    return runtime


@pytest.mark.parametrize("format", ["litellm", "auto"])
def test_imported_tokens_equal_what_the_server_returned(seeded, payload_file, format, caplog):
    caplog.set_level(logging.DEBUG)
    text = payload_file.read_text()
    now = datetime.now(UTC)
    with seeded.sessions.begin() as s:
        report = formats.import_text(s, text, now=now, format=format)
    assert report.bad == [] and report.stored == CALLS, report.summary()
    with seeded.sessions() as s:
        events = {e.idempotency_key: e for e in s.scalars(select(UsageEvent))}
    claude = next(e for e in events.values() if e.provider_name == "Claude")
    # message_delta's cumulative output count (4) is the call's
    assert (claude.model_id, claude.output_tokens) == ("claude-sonnet-4-5", 4)
    assert (claude.input_tokens, claude.cached_input_tokens, claude.cache_write_tokens) == (
        ANTHROPIC["input_tokens"]
        + ANTHROPIC["cache_read_input_tokens"]
        + ANTHROPIC["cache_creation_input_tokens"],
        ANTHROPIC["cache_read_input_tokens"],
        ANTHROPIC["cache_creation_input_tokens"],
    )
    assert claude.cost_usd == claude.source_cost_usd  # both price cache reads and writes
    every = dict(events)
    del events[claude.idempotency_key]
    assert set(events) == {f"litellm:{key}" for key in RETURNED}
    for key, usage in RETURNED.items():
        event = events[f"litellm:{key}"]
        assert (event.input_tokens, event.output_tokens) == (
            usage["prompt_tokens"],
            usage["completion_tokens"],
        )
        cached = usage.get("prompt_tokens_details", {}).get("cached_tokens", 0)
        reasoning = usage.get("completion_tokens_details", {}).get("reasoning_tokens", 0)
        assert (event.cached_input_tokens, event.reasoning_tokens) == (cached, reasoning)
        assert event.provider_name == "OpenAI" and event.model_id == "gpt-4o-mini"
        assert event.cost_usd is not None  # ours, from the catalog
    # LiteLLM's own cost is kept beside ours, exactly as it logged it (to 8 places).
    logged = {json.loads(line)["id"]: json.loads(line) for line in text.splitlines()}
    for key, payload in logged.items():
        assert every[f"litellm:{key}"].source_cost_usd == source_cost(payload["response_cost"])
    assert events["litellm:chatcmpl-1"].username == "alice"  # a Modeldesk user
    assert events["litellm:chatcmpl-2"].username is None
    assert events["litellm:chatcmpl-2"].tags == {
        "beta": "true",
        "end_user": "carol",
        "team": "search",
    }

    today = now.date().toordinal()  # the calls ran moments ago (a day back: midnight)
    with seeded.sessions() as s:
        groups = summary.summarize(
            s,
            date_from=date.fromordinal(today - 1),
            date_to=date.fromordinal(today + 1),
            by="provider",
        )
    totals = summary.total(groups)
    assert totals.source_costed_requests == CALLS
    assert totals.source_cost_usd == sum(e.source_cost_usd for e in every.values())
    assert totals.cost_usd == sum(e.cost_usd for e in every.values())
    assert "source_cost_usd" in summary.metric_columns(groups)

    with seeded.sessions.begin() as s:
        again = formats.import_text(s, text, now=now, format=format)
    assert (again.stored, again.result.duplicates) == (0, CALLS)
    stored = _database_text(seeded)
    assert "litellm:chatcmpl-1" in stored and CANARY not in stored
    assert CANARY not in caplog.text


def test_a_summary_without_source_costs_shows_no_source_column():
    assert "source_cost_usd" not in summary.metric_columns([])
    assert source_cost(0.1 + 0.2) == Decimal("0.30000000")
