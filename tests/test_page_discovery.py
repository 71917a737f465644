"""The two discovery flows in the console (AppTest, SQLite), against a real provider on
loopback through the real outbound guard: "Test connection" in the provider add/edit
forms (unsaved values, the stored key, the deep test, the canary key) and "Import from
provider" on the Models page."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from core.store.tables import ModelRecord, Provider, User
from tests.fakes import FakeProvider as Fake
from tests.support import factories as f
from tests.support.console import Console, state_dump, texts
from tests.test_connection import CANARY
from tests.test_page_providers import open_add, pick

PROVIDERS, MODELS = "pages/providers.py", "pages/models.py"


@pytest.fixture
def fake(console: Console, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The fake provider; loopback allowed for the console's guard (nothing else is)."""
    monkeypatch.setenv("MODELDESK_ALLOWED_NETWORKS", "127.0.0.0/8")
    with Fake(
        "openai",
        key=CANARY,
        models=("gpt-4o", "gpt-4o-mini", "text-embedding-3-small", "rerank-english-v3.0"),
    ) as served:
        yield served


def provider_on(console: Console, fake: Fake, owner: str = "alice", **kw: Any) -> uuid.UUID:
    with console.runtime.sessions.begin() as s:
        actor = s.scalar(select(User).where(User.username == owner))
        prov = f.provider(
            s,
            actor,
            "Fake OpenAI",
            api_key=CANARY,
            provider_config={"base_url": fake.base_url},
            **kw,
        )
        f.model(s, actor, prov, "gpt-4o", name="GPT-4o")
        return prov.id


def click(at: AppTest, label: str) -> AppTest:
    return next(b for b in at.button if b.label == label).click().run()


def fill_add(at: AppTest, fake: Fake, key: str) -> AppTest:
    at = open_add(at)
    at.text_input(key="pa_name").input("Unsaved")
    at.text_input(key="pa_cfg_base_url").input(fake.base_url)
    if key:
        at.text_input(key="pa_key").input(key)
    return at


def assert_no_canary(at: AppTest) -> None:
    assert CANARY not in texts(at)
    assert CANARY not in state_dump(at)


def saved_providers(console: Console) -> list[str]:
    with console.runtime.sessions() as s:
        return list(s.scalars(select(Provider.name)))


# --- Test connection -------------------------------------------------------------------


def test_add_form_tests_the_unsaved_values(console: Console, people: dict, fake: Fake) -> None:
    at = click(fill_add(console.open(PROVIDERS, as_user="alice"), fake, CANARY), "Test connection")
    assert not at.exception
    assert [s.value for s in at.success] == [
        f"Connected to {f'127.0.0.1:{fake.port}'}: the key works."
    ]
    assert "4 models listed" in texts(at)
    assert [r.route for r in fake.requests] == ["/v1/models"]
    assert saved_providers(console) == []  # a test saves nothing
    assert at.text_input(key="pa_name").value == "Unsaved"  # the form keeps its input...
    assert at.text_input(key="pa_key").value == ""  # ...the key only server-side:
    assert "The key entered for the test is kept for this form" in texts(at)
    assert "API key: key entered, kept" in texts(at)
    assert_no_canary(at)


def test_add_form_reports_a_refused_key(console: Console, people: dict, fake: Fake) -> None:
    fake.key = "sk-the-right-one-0000"
    at = click(fill_add(console.open(PROVIDERS, as_user="alice"), fake, CANARY), "Test connection")
    assert [e.value for e in at.error] == ["The key was refused (HTTP 401)."]
    assert not at.success
    assert_no_canary(at)


def test_add_form_reports_invalid_values_without_a_request(
    console: Console, people: dict, fake: Fake
) -> None:
    at = click(fill_add(console.open(PROVIDERS, as_user="alice"), fake, ""), "Test connection")
    assert [e.value for e in at.error] == ["OpenAI needs an API key."]
    at.text_input(key="pa_cfg_base_url").input("ftp://example.com")
    at = click(at, "Test connection")
    assert [e.value for e in at.error] == ["The base URL must start with http:// or https://."]
    assert fake.requests == []


def test_without_the_allowlist_the_guard_refuses_loopback(
    console: Console, people: dict, fake: Fake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MODELDESK_ALLOWED_NETWORKS")
    at = click(fill_add(console.open(PROVIDERS, as_user="alice"), fake, CANARY), "Test connection")
    assert [e.value for e in at.error] == [
        "The address 127.0.0.1 is not allowed (loopback; not in MODELDESK_ALLOWED_NETWORKS)."
    ]
    assert fake.requests == []


def test_edit_form_uses_the_stored_key_when_the_field_is_empty(
    console: Console, people: dict, fake: Fake
) -> None:
    pid = provider_on(console, fake)
    at = click(pick(console.open(PROVIDERS, as_user="alice"), pid), "Test connection")
    assert [s.value for s in at.success] == [
        f"Connected to {f'127.0.0.1:{fake.port}'}: the key works."
    ]
    at.text_input(key=f"pe_{pid}_key").input("sk-typed-but-wrong-0000")
    at = click(at, "Test connection")
    assert [e.value for e in at.error] == ["The key was refused (HTTP 401)."]
    assert at.text_input(key=f"pe_{pid}_key").value == ""
    assert_no_canary(at)


def test_edit_form_never_sends_the_stored_key_to_an_edited_url(
    console: Console, people: dict, fake: Fake
) -> None:
    pid = provider_on(console, fake, owner="bob")
    with Fake("openai", key=None) as unsaved:
        at = pick(console.open(PROVIDERS, as_user="bob"), pid)
        at.text_input(key=f"pe_{pid}_cfg_base_url").input(unsaved.base_url)
        at = click(at, "Test connection")
        assert [e.value for e in at.error] == [
            f"The stored key is only sent to the saved endpoint (127.0.0.1:{fake.port}): "
            f"type the key again to test 127.0.0.1:{unsaved.port}."
        ]
        assert unsaved.requests == [] and fake.requests == []
    assert_no_canary(at)


def test_admin_deep_test_sends_one_completion(console: Console, people: dict, fake: Fake) -> None:
    pid = provider_on(console, fake)
    at = pick(console.open(PROVIDERS, as_user="alice"), pid)
    at.text_input(key=f"pe_{pid}_deep_model").input("gpt-4o-mini")
    at.checkbox(key=f"pe_{pid}_deep").check()
    at = click(at, "Test connection")
    assert "'gpt-4o-mini' answered in" in at.success[0].value
    assert "Reply from gpt-4o-mini: Hello there" in texts(at)
    assert [r.route for r in fake.requests] == ["/v1/models", "/v1/chat/completions"]


def test_member_tests_own_provider_without_the_deep_option(
    console: Console, people: dict, fake: Fake
) -> None:
    pid = provider_on(console, fake, owner="bob")
    at = pick(console.open(PROVIDERS, as_user="bob"), pid)
    assert not any(c.key == f"pe_{pid}_deep" for c in at.checkbox)
    at = click(at, "Test connection")
    assert at.success and not at.error


# --- Import from provider --------------------------------------------------------------


def open_import(console: Console, user: str = "alice") -> AppTest:
    at = console.open(MODELS, as_user=user)
    return at.segmented_control(key="models_view").set_value("Import from provider").run()


def listing(at: AppTest) -> Any:
    return at.data_editor[0].value


def test_import_lists_marks_configured_and_adds_the_ticked(
    console: Console, people: dict, fake: Fake
) -> None:
    pid = provider_on(console, fake, instance_wide=True)
    at = click(open_import(console), "List models")
    assert not at.exception
    rows = listing(at).set_index("Model ID")
    assert list(rows.index) == [
        "gpt-4o",
        "gpt-4o-mini",
        "rerank-english-v3.0",
        "text-embedding-3-small",
    ]
    assert list(rows["Configured"]) == [True, False, False, False]
    assert rows.loc["text-embedding-3-small", "Type"] == "embedding"
    assert rows.loc["rerank-english-v3.0", "Type"] == "rerank"
    assert rows.loc["gpt-4o-mini", "Facts from"] == "provider listing + models.dev (openai)"
    assert next(b for b in at.button if b.key == "model_imp_add").disabled  # nothing ticked

    at.session_state["model_imp_table"] = {
        "edited_rows": {0: {"Add": True}, 1: {"Add": True}, 3: {"Add": True, "Type": "rerank"}},
        "added_rows": [],
        "deleted_rows": [],
    }
    at = at.run()
    assert "2 ticked to add" in texts(at)  # the configured one is ticked but skipped
    at.checkbox(key="model_imp_wide").check()
    at = click(at, "Add selected (2)")
    assert not at.exception and not at.error
    assert "2 model(s) added from Fake OpenAI." in texts(at)
    with console.runtime.sessions() as s:
        stored = {
            m.model_id: m
            for m in s.scalars(select(ModelRecord).where(ModelRecord.provider_id == pid))
        }
    assert set(stored) == {"gpt-4o", "gpt-4o-mini", "text-embedding-3-small"}
    assert stored["text-embedding-3-small"].model_type == "rerank"  # the corrected type
    assert stored["gpt-4o-mini"].context_window == 128000
    assert stored["gpt-4o-mini"].instance_wide and not stored["gpt-4o"].instance_wide
    assert_no_canary(at)


def test_import_failure_is_one_clear_message(console: Console, people: dict, fake: Fake) -> None:
    provider_on(console, fake)
    fake.key = "sk-rotated-elsewhere-0000"
    at = click(open_import(console), "List models")
    assert [e.value for e in at.error] == ["The key was refused (HTTP 401)."]
    assert not at.data_editor
    assert_no_canary(at)


def test_member_imports_only_into_own_providers(console: Console, people: dict, fake: Fake) -> None:
    provider_on(console, fake, instance_wide=True)  # alice's: bob sees it, cannot manage it
    at = open_import(console, "bob")
    assert "You manage no provider to import into." in texts(at)
    provider_on(console, fake, owner="bob")
    at = open_import(console, "bob")
    # Only his own is offered (the label names owners because both are "Fake OpenAI").
    assert at.selectbox(key="model_imp_provider").options == ["Fake OpenAI (bob)"]
    at = click(at, "List models")
    assert list(listing(at)["Configured"]) == [True, False, False, False]
    assert not any(c.key == "model_imp_wide" for c in at.checkbox)  # admins only
