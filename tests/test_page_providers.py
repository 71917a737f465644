"""The Providers page (AppTest): listing, the add and edit forms and their validation, the
member view, system providers, stale edits and write-only keys. Toggle, reorder, delete and
sharing: test_page_provider_actions.py; typed secrets: test_page_provider_secrets.py."""

from __future__ import annotations

import pytest

from core.accounts import access
from core.records import model_records, providers
from core.records.system_providers import SystemProvider
from core.store.tables import Provider, User
from tests.support import factories as f
from tests.support.console import Console, state_dump, texts
from tests.support.provider_page import (
    PAGE,
    fill_add,
    has,
    make,
    open_add,
    pick,
    stored,
    submit,
    table,
)


def test_empty_database_as_admin_shows_the_empty_state_and_add_form(
    console: Console, team: dict
) -> None:
    at = console.open(PAGE, as_user="alice")
    assert not at.exception
    assert "No providers yet" in texts(at)
    assert not at.dataframe
    assert any(b.label == "Add provider" for b in at.button)
    assert has(at.toggle, "pa_wide")  # admins may add instance-wide providers
    assert at.text_input(key="pa_key").proto.type == at.text_input(key="pa_key").proto.PASSWORD


def test_add_openai_and_azure_through_the_form(console: Console, team: dict) -> None:
    at = console.open(PAGE, as_user="alice")
    at = fill_add(at, "openai", "Prod OpenAI", key="sk-live-abcdefgh12345678")
    assert not at.exception
    assert "Provider 'Prod OpenAI' added." in texts(at)
    at = open_add(at)
    at = fill_add(
        at,
        "azure_openai",
        "Azure EU",
        key="az-key-000000009999",
        resource_name="acme-eu",
        deployment_id="gpt-4o",
    )
    assert "Provider 'Azure EU' added." in texts(at)

    rows = table(at).set_index("Name")
    assert rows.loc["Prod OpenAI", "API key"] == "…5678"
    assert rows.loc["Azure EU", "API key"] == "…9999"
    assert rows.loc["Azure EU", "Type"] == "Azure OpenAI"
    assert rows.loc["Azure EU", "Health"] == "unknown"
    assert "sk-live-abcdefgh12345678" not in texts(at)
    with console.runtime.sessions() as s:
        azure = next(
            v
            for v in providers.list_providers(s, user=s.get(User, team["alice"]))
            if v.name == "Azure EU"
        )
    assert azure.config == {"resource_name": "acme-eu", "deployment_id": "gpt-4o"}
    assert azure.base_url == "https://acme-eu.openai.azure.com/openai"


def test_a_lookalike_name_is_refused_naming_the_existing_provider(
    console: Console, team: dict
) -> None:
    make(console, "alice", "OpenAI")
    at = open_add(console.open(PAGE, as_user="alice"))
    at = fill_add(at, "openai", "\u041epenAI", key="sk-live-abcdefgh12345678")  # Cyrillic О
    assert any(
        "looks the same as alice's provider" in e.value and "OpenAI" in e.value for e in at.error
    ), [e.value for e in at.error]
    assert list(stored(console)) == ["OpenAI"]


@pytest.mark.parametrize(
    "type_id, fields, key, extra, expected",
    [
        (
            "azure_openai",
            {"deployment_id": "gpt-4o"},
            "az-key-1234567890",
            "",
            "**Resource name**: Azure OpenAI needs 'resource_name' (or base_url)",
        ),
        (
            "azure_openai",
            {"resource_name": "acme", "api_version": "latest"},
            "az-key-1234567890",
            "",
            "**API version**: API version must be a date like 2024-10-21 or 2024-10-01-preview.",
        ),
        (
            "openai",
            {"base_url": "ftp://example.com/v1"},
            "sk-key-1234567890",
            "",
            "**Base URL**: The base URL must start with http:// or https://.",
        ),
        (
            "openai",
            {},
            "sk-key-1234567890",
            '{\n  "a": 1,\n  "a": 2\n}',
            '**Advanced: extra JSON**: The extra JSON has the key "a" twice (second at line 3, '
            + "column 3).",
        ),
        ("openai", {}, "sk-key-12345\n67890", "", "**API key**: The API key must be a single line"),
        ("openai", {}, "", "", "**API key**: OpenAI needs an API key."),
    ],
)
def test_form_validation_messages_name_the_field(
    console: Console, team: dict, type_id: str, fields: dict, key: str, extra: str, expected: str
) -> None:
    at = console.open(PAGE, as_user="alice")
    at = fill_add(at, type_id, "Broken", key=key, extra=extra, **fields)
    errors = [e.value for e in at.error]
    assert any(expected in e for e in errors), errors
    assert stored(console) == {}
    assert at.text_input(key="pa_name").value == "Broken"  # non-secret input is kept
    assert at.text_input(key="pa_key").value == ""


def test_member_sees_visible_records_and_cannot_edit_instance_wide(
    console: Console, team: dict
) -> None:
    wide = make(console, "alice", "Shared OpenAI", instance_wide=True)
    granted = make(console, "alice", "Alice private")
    make(console, "carol", "Carol private")
    own = make(console, "bob", "Bob own")
    with console.runtime.sessions.begin() as s:
        access.grant(
            s,
            actor=s.get(User, team["alice"]),
            record=s.get(Provider, granted),
            user=s.get(User, team["bob"]),
        )

    at = console.open(PAGE, as_user="bob")
    rows = table(at).set_index("Name")
    assert sorted(rows.index) == ["Alice private", "Bob own", "Shared OpenAI"]
    assert rows.loc["Alice private", "Scope"] == "shared"
    assert "Carol private" not in texts(at)
    assert not has(at.toggle, "prov_show_all") and not has(at.button, "prov_share")

    at = pick(at, wide)
    assert "Read-only for you. It is instance-wide" in texts(at)
    assert at.button(key="prov_toggle").disabled and at.button(key="prov_delete").disabled
    assert not any(b.label == "Save changes" for b in at.button)
    at = pick(at, granted)
    assert "It belongs to alice: only its owner or an admin can change it." in texts(at)

    at = pick(at, own)
    assert any(b.label == "Save changes" for b in at.button)
    assert not has(at.toggle, f"pe_{own}_wide")
    at = open_add(at)
    assert not has(at.toggle, "pa_wide")


def test_member_models_count_shows_only_models_they_can_see(console: Console, team: dict) -> None:
    wide = make(console, "alice", "Shared OpenAI", instance_wide=True)
    with console.runtime.sessions.begin() as s:
        alice, carol = s.get(User, team["alice"]), s.get(User, team["carol"])
        prov = s.get(Provider, wide)
        f.model(s, alice, prov, "gpt-4o", instance_wide=True)
        f.model(s, alice, prov, "gpt-4o-mini")  # alice's private model
        f.model(s, carol, prov, "o3")  # carol's private model

    rows = table(console.open(PAGE, as_user="bob")).set_index("Name")
    assert rows.loc["Shared OpenAI", "Models"] == 1
    rows = table(console.open(PAGE, as_user="carol")).set_index("Name")
    assert rows.loc["Shared OpenAI", "Models"] == 2


def test_admin_show_all_lists_every_record(console: Console, team: dict) -> None:
    make(console, "carol", "Carol private")
    at = console.open(PAGE, as_user="alice")
    assert "No providers yet" in texts(at)
    at.toggle(key="prov_show_all").set_value(True).run()
    assert list(table(at)["Name"]) == ["Carol private"]


def test_system_provider_is_listed_read_only(
    console: Console, team: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The runtime (and its settings snapshot) is opened on the first page run, so the
    # environment set here is what the page reads through _ui.runtime().settings.
    monkeypatch.setenv("MODELDESK_DISABLE_SYSTEM_PROVIDERS", "")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-secret-0000wxyz")
    make(console, "alice", "Stored Anthropic", provider_type="anthropic")
    at = console.open(PAGE, as_user="alice")
    rows = table(at).set_index("Name")
    assert rows.loc["OpenAI (environment)", "Scope"] == "system"
    assert rows.loc["OpenAI (environment)", "Owner"] == "environment"
    assert rows.loc["OpenAI (environment)", "API key"] == "…wxyz"
    assert "from `OPENAI_API_KEY`" in " ".join(c.value for c in at.caption)
    at = pick(at, SystemProvider("openai", "", None, None, ()).id)
    assert "Read-only for you. It comes from the environment (OPENAI_API_KEY)" in texts(at)
    assert at.button(key="prov_toggle").disabled and at.button(key="prov_delete").disabled
    assert at.button(key="prov_share").disabled
    assert "sk-env-secret-0000wxyz" not in texts(at) + state_dump(at)


def test_stale_edit_shows_who_changed_it_and_keeps_the_input(console: Console, team: dict) -> None:
    pid = make(console, "bob", "Bob's OpenAI")
    at = console.open(PAGE, as_user="alice")
    at = pick(at.toggle(key="prov_show_all").set_value(True).run(), pid)
    at.text_input(key=f"pe_{pid}_name").input("Renamed by alice")
    with console.runtime.sessions.begin() as s:
        providers.update_provider(
            s, actor=s.get(User, team["bob"]), provider_id=pid, expected_version=1, priority=99
        )
    at = submit(at, "Save changes")
    warning = " ".join(w.value for w in at.warning)
    assert "Changed by **bob** at" in warning and "reload" in warning
    assert at.text_input(key=f"pe_{pid}_name").value == "Renamed by alice"
    assert stored(console)["Bob's OpenAI"].priority == 99

    at = submit(at, "Save changes")  # still stale until reloaded: nothing overwritten
    assert "Bob's OpenAI" in stored(console)
    at.button(key="prov_reload").click().run()
    assert at.text_input(key=f"pe_{pid}_name").value == "Bob's OpenAI"
    assert at.number_input(key=f"pe_{pid}_priority").value == 99
    at.text_input(key=f"pe_{pid}_name").input("Renamed by alice")
    at = submit(at, "Save changes")
    assert "Provider 'Renamed by alice' saved." in texts(at)


def test_edit_keeps_the_key_when_empty_and_can_remove_it(console: Console, team: dict) -> None:
    pid = make(
        console,
        "alice",
        "Local vLLM",
        provider_type="vllm",
        api_key="vllm-key-00001234",
        provider_config={"base_url": "http://gpu-box:8000/v1"},
    )
    at = pick(console.open(PAGE, as_user="alice"), pid)
    assert at.text_input(key=f"pe_{pid}_key").value == ""  # never pre-filled
    assert at.text_input(key=f"pe_{pid}_cfg_base_url").value == "http://gpu-box:8000/v1"
    at = submit(at, "Save changes")
    assert table(at)["API key"][0] == "…1234"
    at.checkbox(key=f"pe_{pid}_clear").check()
    at = submit(at, "Save changes")
    assert table(at)["API key"][0] == "—"


def test_needs_reentry_is_flagged(console: Console, team: dict) -> None:
    first = make(console, "alice", "First")
    second = make(console, "alice", "Second")
    with console.runtime.sessions.begin() as s:  # a ciphertext moved to another row
        s.get(Provider, second).api_key_enc = s.get(Provider, first).api_key_enc
    at = console.open(PAGE, as_user="alice")
    assert "1 provider(s) hold an API key or config that can no longer be decrypted" in texts(at)
    assert table(at).set_index("Name").loc["Second", "API key"] == "needs re-entry"
    at = pick(at, second)
    assert "Re-enter the key and config and save." in texts(at)


def test_member_adds_a_private_provider(console: Console, team: dict) -> None:
    at = console.open(PAGE, as_user="bob")
    at = fill_add(at, "groq", "Bob's Groq", key="gsk-bob-000000000abc")
    row = table(at).iloc[0]
    assert (row["Name"], row["Scope"], row["Owner"], row["Models"]) == (
        "Bob's Groq",
        "private",
        "bob",
        0,
    )
    with console.runtime.sessions() as s:
        assert model_records.list_models(s, user=s.get(User, team["bob"])) == []
