"""Measured speed in the console (AppTest, SQLite) against a real provider on loopback
through the real outbound guard: "Measure speed" on the Models page (success, failure,
who may), and a provider's deep connection test kept as a sample. A canary API key is
planted on the provider and must appear in no page text and no session state."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from core.store.tables import ModelSpeedSample
from tests.fakes import FakeProvider as Fake
from tests.support import factories as f
from tests.support.console import Console, state_dump, texts
from tests.test_page_models import PAGE, pick
from tests.test_page_providers import pick as pick_provider

CANARY = "sk-CANARY-speed-5e2d7a9c1b"


@pytest.fixture
def fake(console: Console, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The fake provider; loopback allowed for the console's guard (nothing else is)."""
    monkeypatch.setenv("MODELDESK_ALLOWED_NETWORKS", "127.0.0.0/8")
    with Fake("openai", key=CANARY, models=("gpt-4o", "gpt-4o-mini")) as served:
        yield served


@pytest.fixture
def world(console: Console, fake: Fake) -> dict[str, uuid.UUID]:
    """alice (admin) owns an instance-wide provider on the fake with GPT-4o and an
    embedding model; bob (member) has his own model on it."""
    with console.runtime.sessions.begin() as s:
        alice, bob = f.user(s, "alice", "admin"), f.user(s, "bob")
        prov = f.provider(
            s,
            alice,
            "Fake OpenAI",
            api_key=CANARY,
            instance_wide=True,
            provider_config={"base_url": fake.base_url},
        )
        return {
            "pid": prov.id,
            "gpt": f.model(s, alice, prov, "gpt-4o", name="GPT-4o", instance_wide=True).id,
            "embed": f.model(
                s,
                alice,
                prov,
                "text-embedding-3-small",
                name="Embed",
                model_type="embedding",
                instance_wide=True,
            ).id,
            "bobs": f.model(s, bob, prov, "gpt-4o-mini", name="Bob's mini").id,
        }


def samples(console: Console) -> list[ModelSpeedSample]:
    with console.runtime.sessions() as s:
        return list(s.scalars(select(ModelSpeedSample)))


def measure_button(at: AppTest) -> Any:
    return at.button(key="model_measure")


def assert_no_canary(at: AppTest) -> None:
    assert CANARY not in texts(at)
    assert CANARY not in state_dump(at)


def test_measure_speed_stores_a_sample_and_shows_the_line(
    console: Console, world: dict, fake: Fake
) -> None:
    at = pick(console.open(PAGE, as_user="alice"), world["gpt"])
    assert not measure_button(at).disabled
    assert "Speed measured" not in texts(at)  # nothing measured yet
    assert fake.requests == []  # opening the page spends nothing
    at = measure_button(at).click().run()
    assert not at.exception and not at.error
    assert at.success[0].value.startswith("'GPT-4o' answered in ")
    assert "3 output tokens" in at.success[0].value
    caption = next(c.value for c in at.caption if c.value.startswith("Speed measured: "))
    assert "ms to first token (1 sample, last " in caption
    assert "speed tier" not in caption  # 3 tokens give no throughput, so no measured tier
    (sample,) = samples(console)
    assert (sample.model_record_id, sample.source) == (world["gpt"], "measure speed")
    assert [r.route for r in fake.requests] == ["/v1/models", "/v1/chat/completions"]
    assert_no_canary(at)
    at = at.run()  # the result was shown once; the stored measurement stays
    assert not at.success and any(c.value.startswith("Speed measured: ") for c in at.caption)
    assert len(fake.requests) == 2  # and a rerun measured nothing


def test_a_failed_measurement_shows_the_reason_and_stores_nothing(
    console: Console, world: dict, fake: Fake
) -> None:
    at = pick(console.open(PAGE, as_user="alice"), world["gpt"])
    fake.mode = "echo_key"  # a 401 whose message quotes the key it was sent
    at = measure_button(at).click().run()
    assert not at.exception
    assert [e.value for e in at.error] == ["The key was refused (HTTP 401)."]
    assert not at.success and samples(console) == []
    assert_no_canary(at)


def test_a_missing_model_is_named(console: Console, world: dict, fake: Fake) -> None:
    fake.models = ("gpt-4o-mini",)
    at = measure_button(pick(console.open(PAGE, as_user="alice"), world["gpt"])).click().run()
    assert [e.value for e in at.error] == [
        "The key works, but the test completion failed: The model 'gpt-4o' does not exist "
        f"at 127.0.0.1:{fake.port}."
    ]
    assert samples(console) == []


def test_who_may_measure(console: Console, world: dict, fake: Fake) -> None:
    at = pick(console.open(PAGE, as_user="alice"), world["embed"])
    assert measure_button(at).disabled
    assert "is an embedding model" in measure_button(at).proto.help
    at = pick(console.open(PAGE, as_user="bob"), world["bobs"])
    assert measure_button(at).disabled  # his model, but alice's provider key
    assert "only an admin or the provider's owner" in measure_button(at).proto.help
    assert fake.requests == []


def test_a_deep_provider_test_keeps_a_sample_of_the_named_model(
    console: Console, world: dict, fake: Fake
) -> None:
    pid = world["pid"]
    at = pick_provider(console.open("pages/providers.py", as_user="alice"), pid)
    at.text_input(key=f"pe_{pid}_deep_model").input("gpt-4o")
    at.checkbox(key=f"pe_{pid}_deep").check()
    at = next(b for b in at.button if b.label == "Test connection").click().run()
    assert not at.exception and "'gpt-4o' answered in" in at.success[0].value
    (sample,) = samples(console)
    assert (sample.model_record_id, sample.source) == (world["gpt"], "deep check")
    assert_no_canary(at)
    at = pick(console.open(PAGE, as_user="alice"), world["gpt"])
    assert any("(1 sample, last " in c.value for c in at.caption)
