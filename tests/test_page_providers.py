"""The Providers page (AppTest): listing, add/edit forms and their validation, member view,
system providers, toggle, reorder, delete, sharing, stale edits and write-only keys."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from core.accounts import access
from core.records import model_records, providers
from core.records.system_providers import SystemProvider
from core.startup import open_runtime
from core.store.tables import AuditEvent, Grant, ModelRecord, Provider, User
from tests.conftest import TEST_SECRET, make_settings
from tests.support import factories as f
from tests.support.console import Console, state_dump, texts

PAGE = "pages/providers.py"


@pytest.fixture
def team(console: Console, people: dict[str, uuid.UUID]) -> dict[str, uuid.UUID]:
    """``people`` (alice, admin; bob, member) and carol, a member."""
    with console.runtime.sessions.begin() as s:
        return {**people, "carol": f.user(s, "carol").id}


def make(console: Console, owner: str, name: str, **kw: Any) -> uuid.UUID:
    with console.runtime.sessions.begin() as s:
        return f.provider(s, s.scalar(select(User).where(User.username == owner)), name, **kw).id


def stored(console: Console) -> dict[str, Provider]:
    with console.runtime.sessions() as s:
        return {p.name: p for p in s.scalars(select(Provider))}


def submit(at: AppTest, label: str) -> AppTest:
    return next(b for b in at.button if b.label == label).click().run()


def has(widgets: Any, key: str) -> bool:
    return any(w.key == key for w in widgets)


def table(at: AppTest) -> Any:
    return at.dataframe[0].value


def pick(at: AppTest, provider_id: uuid.UUID) -> AppTest:
    return at.selectbox(key="prov_pick").set_value(str(provider_id)).run()


def open_add(at: AppTest) -> AppTest:
    at.session_state["prov_tab"] = "Add provider"
    return at.run()


def fill_add(
    at: AppTest, type_id: str, name: str, key: str = "", extra: str = "", **fields: str
) -> AppTest:
    at.selectbox(key="pa_type").set_value(type_id).run()
    at.text_input(key="pa_name").input(name)
    for field, value in fields.items():
        at.text_input(key=f"pa_cfg_{field}").input(value)
    if key:
        at.text_input(key="pa_key").input(key)
    if extra:
        at.text_area(key="pa_extra").input(extra)
    return submit(at, "Add provider")


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


def test_toggle_flips_the_selected_provider(console: Console, team: dict) -> None:
    pid = make(console, "alice", "Prod OpenAI")
    at = pick(console.open(PAGE, as_user="alice"), pid)
    at.button(key="prov_toggle").click().run()
    assert "'Prod OpenAI' is now inactive." in texts(at)
    assert stored(console)["Prod OpenAI"].status == "inactive"
    assert table(at)["Status"][0] == "inactive"
    assert at.button(key="prov_toggle").label == "Activate"


def test_table_row_selection_picks_the_provider(console: Console, team: dict) -> None:
    make(console, "alice", "First")
    second = make(console, "alice", "Second")
    at = console.open(PAGE, as_user="alice")
    at.session_state["prov_table"] = {"selection": {"rows": [1], "columns": [], "cells": []}}
    at.run()
    assert at.selectbox(key="prov_pick").value == str(second)
    assert at.text_input(key=f"pe_{second}_name").value == "Second"


def test_reorder_saves_all_priorities_in_one_transaction(console: Console, team: dict) -> None:
    for name, priority in (("A", 10), ("B", 20), ("C", 30)):
        make(console, "alice", name, priority=priority)
    at = console.open(PAGE, as_user="alice")
    at.session_state["prov_tab"] = "Priorities"
    at.run()
    at.session_state["prov_order"] = {
        "edited_rows": {0: {"Priority": 40}, 2: {"Priority": 5}},
        "added_rows": [],
        "deleted_rows": [],
    }
    at.button(key="prov_order_save").click().run()
    assert "New order saved (2 provider(s) moved)." in texts(at)
    assert {n: p.priority for n, p in stored(console).items()} == {"A": 40, "B": 20, "C": 5}
    assert list(table(at)["Name"]) == ["C", "B", "A"]
    with console.runtime.sessions() as s:
        assert (
            len(list(s.scalars(select(AuditEvent).where(AuditEvent.action == "provider.reorder"))))
            == 1
        )

    # Edits refer to the rows as shown; one vanishing makes the whole save fail.
    at.session_state["prov_order"] = {
        "edited_rows": {0: {"Priority": 1}, 1: {"Priority": 2}},
        "added_rows": [],
        "deleted_rows": [],
    }
    with console.runtime.sessions.begin() as s:
        providers.delete_provider(
            s, actor=s.get(User, team["alice"]), provider_id=stored(console)["B"].id
        )
    at.button(key="prov_order_save").click().run()
    assert any("No such provider" in e.value for e in at.error)
    assert {n: p.priority for n, p in stored(console).items()} == {"A": 40, "C": 5}


def test_stale_priorities_tab_does_not_overwrite_a_newer_edit(console: Console, team: dict) -> None:
    ids = {
        name: make(console, "alice", name, priority=p)
        for name, p in (("A", 10), ("B", 20), ("C", 30))
    }
    at = console.open(PAGE, as_user="alice")
    at.session_state["prov_tab"] = "Priorities"
    at.run()
    # While the tab is open, the edit form (another tab) moves B.
    with console.runtime.sessions.begin() as s:
        providers.update_provider(
            s,
            actor=s.get(User, team["alice"]),
            provider_id=ids["B"],
            expected_version=1,
            priority=15,
        )
    at.session_state["prov_order"] = {
        "edited_rows": {1: {"Priority": 40}},
        "added_rows": [],
        "deleted_rows": [],
    }
    at.button(key="prov_order_save").click().run()

    assert any(
        "'B' was changed by alice" in e.value and "Nothing was overwritten" in e.value
        for e in at.error
    ), [e.value for e in at.error]
    assert {n: p.priority for n, p in stored(console).items()} == {"A": 10, "B": 15, "C": 30}
    with console.runtime.sessions() as s:
        assert (
            list(s.scalars(select(AuditEvent).where(AuditEvent.action == "provider.reorder"))) == []
        )


def test_delete_dialog_names_the_models_and_needs_the_checkbox(
    console: Console, team: dict
) -> None:
    pid = make(console, "alice", "Prod OpenAI")
    with console.runtime.sessions.begin() as s:
        alice, prov = s.get(User, team["alice"]), s.get(Provider, pid)
        f.model(s, alice, prov, "gpt-4o", name="GPT-4o")
        f.model(s, alice, prov, "o3-mini", name="o3 mini")
    at = pick(console.open(PAGE, as_user="alice"), pid)
    at.button(key="prov_delete").click().run()
    shown = texts(at)
    assert "These 2 model(s) belong to it" in shown
    assert "**GPT-4o** (`gpt-4o`)" in shown and "**o3 mini** (`o3-mini`)" in shown
    assert at.checkbox(key="prov_delete_confirm").label == "Also delete these 2 models"

    at.button(key="prov_delete_go").click().run()
    assert any("Tick “Also delete these 2 models”" in e.value for e in at.error)
    assert "Prod OpenAI" in stored(console)

    at.checkbox(key="prov_delete_confirm").check()
    at.button(key="prov_delete_go").click().run()
    assert "Provider 'Prod OpenAI' deleted with 2 model(s)." in texts(at)
    assert stored(console) == {}
    with console.runtime.sessions() as s:
        assert s.scalar(select(ModelRecord.id)) is None


def test_delete_dialog_counts_but_never_names_other_users_private_models(
    console: Console, team: dict
) -> None:
    pid = make(console, "bob", "Bob's OpenAI")
    with console.runtime.sessions.begin() as s:
        bob, carol, prov = (
            s.get(User, team["bob"]),
            s.get(User, team["carol"]),
            s.get(Provider, pid),
        )
        f.model(s, bob, prov, "gpt-4o", name="GPT-4o")
        access.grant(s, actor=s.get(User, team["alice"]), record=prov, user=carol)
        f.model(s, carol, prov, "carol-x", name="Carol Hidden Project")
    at = pick(console.open(PAGE, as_user="bob"), pid)
    at.button(key="prov_delete").click().run()
    shown = texts(at)
    assert "These 2 model(s) belong to it" in shown
    assert "**GPT-4o** (`gpt-4o`)" in shown
    assert "1 private model(s) of other users (not shown to you)" in shown
    assert "Carol Hidden Project" not in shown and "carol-x" not in shown
    assert "Carol Hidden Project" not in state_dump(at)
    at.checkbox(key="prov_delete_confirm").check()
    at.button(key="prov_delete_go").click().run()
    assert "Provider 'Bob's OpenAI' deleted with 2 model(s)." in texts(at)


def test_delete_without_models_needs_no_checkbox(console: Console, team: dict) -> None:
    pid = make(console, "alice", "Spare")
    make(console, "alice", "Kept")
    at = pick(console.open(PAGE, as_user="alice"), pid)
    at.button(key="prov_delete").click().run()
    assert "It has no models." in texts(at)
    at.button(key="prov_delete_go").click().run()
    assert list(stored(console)) == ["Kept"]
    assert at.selectbox(key="prov_pick").value is None


def test_share_dialog_grants_and_revokes(console: Console, team: dict) -> None:
    pid = make(console, "alice", "Team OpenAI")
    at = pick(console.open(PAGE, as_user="alice"), pid)
    at.button(key="prov_share").click().run()
    at.multiselect(key="share_users").set_value(["bob"])
    at.button(key="share_save").click().run()
    assert "Sharing of 'Team OpenAI' saved: 1 added, 0 removed." in texts(at)
    with console.runtime.sessions() as s:
        assert s.scalar(select(Grant.user_id)) == team["bob"]
    assert table(at)["Scope"][0] == "shared"

    at.button(key="prov_share").click().run()
    at.multiselect(key="share_users").set_value([])
    at.button(key="share_save").click().run()
    with console.runtime.sessions() as s:
        assert s.scalar(select(Grant.id)) is None


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


CANARY = "sk-CANARY-7c1d9e2f4a6b8c0d"
SECRET_CANARY = "aws-CANARY-secret-5e3f"


@pytest.mark.parametrize("fails", [False, True], ids=["success", "failure"])
def test_canary_key_never_stays_in_session_or_page(
    console: Console, team: dict, fails: bool
) -> None:
    at = console.open(PAGE, as_user="alice")
    at = fill_add(
        at,
        "amazon_bedrock",
        "Bedrock",
        key=CANARY,
        region="us-east-1",
        secret_access_key=SECRET_CANARY,
        base_url="not a url" if fails else "",
    )
    assert ("Bedrock" in stored(console)) is not fails
    if not fails:  # then fail an edit of the stored record with the canary again
        pid = stored(console)["Bedrock"].id
        at = pick(at, pid)
        at.text_input(key=f"pe_{pid}_key").input(CANARY)
        at.text_input(key=f"pe_{pid}_cfg_base_url").input("not a url")
        at = submit(at, "Save changes")
        assert any("**Base URL**" in e.value for e in at.error)
    for secret in (CANARY, SECRET_CANARY):
        assert secret not in texts(at)
        assert secret not in state_dump(at)
    with console.runtime.sessions() as s:
        if not fails:
            creds = providers.provider_credentials(s, stored(console)["Bedrock"].id)
            assert (creds.api_key, creds.config["secret_access_key"]) == (CANARY, SECRET_CANARY)


def test_save_after_the_key_was_rotated_away_says_to_restart(
    console: Console, team: dict, tmp_path: Any
) -> None:
    """The console runs with the old secret only while rotate-keys retires it: a save is
    refused with a message (no traceback, nothing written), not sealed with the old key."""
    from core.store.rotation import rotate_keys

    at = console.open(PAGE, as_user="alice")  # this process knows the old secret only
    rotator = open_runtime(
        make_settings(
            console.runtime.settings.resolved_database_url,
            tmp_path / "data",
            MODELDESK_SECRET_KEY="the-new-secret-key-after-rotation-987654321",
            MODELDESK_RETIRED_SECRET_KEYS=TEST_SECRET,
        )
    )
    rotate_keys(rotator.sessions, rotator.keyring)
    rotator.dispose()
    at = fill_add(at, "openai", "After rotation", key="sk-after-rotation-12345678")
    assert not at.exception
    assert "Restart Modeldesk with the new MODELDESK_SECRET_KEY" in texts(at)
    assert "After rotation" not in stored(console)


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


# --- Every problem at once; typed secrets kept server-side for the form's lifetime --------


def held_names(at: AppTest, form: str = "add") -> list[str]:
    """What the server holds for this browser session's form (never in session state)."""
    from pages import _held

    token = at.session_state.get("md_held_token")
    return _held._store().names(token, form) if token else []


def credentials(console: Console, name: str) -> Any:
    with console.runtime.sessions() as s:
        return providers.provider_credentials(s, stored(console)[name].id)


def test_every_field_problem_is_shown_at_once(console: Console, team: dict) -> None:
    at = console.open(PAGE, as_user="alice")
    at = fill_add(at, "openai", "", base_url="ftp://example.com", extra='{\n  "a": 1,\n  "a": 2\n}')
    errors = [e.value for e in at.error]
    assert errors == [
        '**Advanced: extra JSON**: The extra JSON has the key "a" twice (second at line 3, '
        "column 3).",
        "**Name**: The name cannot be empty.",
        "**Base URL**: The base URL must start with http:// or https://.",
        "**API key**: OpenAI needs an API key.",
    ], errors
    assert stored(console) == {}


def test_a_typed_key_is_kept_across_a_refused_save_but_never_shown(
    console: Console, team: dict
) -> None:
    at = console.open(PAGE, as_user="alice")
    at = fill_add(at, "openai", "", key=CANARY)  # refused: no name
    assert [e.value for e in at.error] == ["**Name**: The name cannot be empty."]
    assert at.text_input(key="pa_key").value == ""
    assert "API key: key entered, kept" in texts(at)
    assert held_names(at) == ["api_key"]
    assert CANARY not in texts(at) and CANARY not in state_dump(at)

    at.text_input(key="pa_name").input("Kept key")
    at = submit(at, "Add provider")  # the key is not typed again
    assert "Provider 'Kept key' added." in texts(at)
    assert credentials(console, "Kept key").api_key == CANARY
    assert held_names(at) == []  # a save forgets what the form held
    assert CANARY not in texts(at) and CANARY not in state_dump(at)


def test_clear_forgets_the_kept_key_and_sign_out_forgets_everything(
    console: Console, team: dict
) -> None:
    at = console.open(PAGE, as_user="alice")
    at = fill_add(at, "openai", "", key=CANARY)
    at.button(key="pa_forget_api_key").click().run()
    assert held_names(at) == [] and "key entered, kept" not in texts(at)
    at.text_input(key="pa_name").input("No key")
    at = submit(at, "Add provider")
    assert [e.value for e in at.error] == ["**API key**: OpenAI needs an API key."]

    at = fill_add(at, "openai", "", key=CANARY)
    token = at.session_state["md_held_token"]
    at.button(key="sign_out").click().run()
    from pages import _held

    assert _held._store().names(token, "add") == []
    assert "md_held_token" not in at.session_state


@pytest.mark.parametrize("button", ["Add provider", "Test connection"])
def test_secrets_typed_into_extra_json_leave_the_page_and_are_kept(
    console: Console, team: dict, button: str
) -> None:
    at = open_add(console.open(PAGE, as_user="alice"))
    at.text_input(key="pa_name").input("Org")
    at.text_input(key="pa_key").input(CANARY)
    at.text_input(key="pa_cfg_base_url").input("ftp://example.com")  # refused, or no request
    at.text_area(key="pa_extra").input(
        f'{{"organization": "org-1", "api_token": "{SECRET_CANARY}"}}'
    )
    at = submit(at, button)
    assert any("The base URL must start with http:// or https://." in e.value for e in at.error)
    assert at.text_area(key="pa_extra").value == '{\n  "organization": "org-1"\n}'
    assert "`api_token`: value entered, kept" in texts(at)
    assert held_names(at) == ["api_key", "extra:api_token"]
    for secret in (CANARY, SECRET_CANARY):
        assert secret not in texts(at) and secret not in state_dump(at)

    at.text_input(key="pa_cfg_base_url").input("")
    at = submit(at, "Add provider")
    assert "Provider 'Org' added." in texts(at)
    creds = credentials(console, "Org")
    assert (creds.api_key, creds.config) == (
        CANARY,
        {"organization": "org-1", "api_token": SECRET_CANARY},
    )


def test_a_kept_extra_secret_can_be_removed_before_saving(console: Console, team: dict) -> None:
    at = console.open(PAGE, as_user="alice")
    at = fill_add(at, "openai", "", key=CANARY, extra=f'{{"api_token": "{SECRET_CANARY}"}}')
    assert at.text_area(key="pa_extra").value == ""
    at.button(key="pa_forget_extra:api_token").click().run()
    assert held_names(at) == ["api_key"]
    at.text_input(key="pa_name").input("Org")
    at = submit(at, "Add provider")
    assert credentials(console, "Org").config == {}


def test_a_stored_write_only_config_key_has_a_remove_control(console: Console, team: dict) -> None:
    pid = make(
        console, "alice", "Org", provider_config={"organization": "o", "api_token": SECRET_CANARY}
    )
    at = pick(console.open(PAGE, as_user="alice"), pid)
    assert at.text_area(key=f"pe_{pid}_extra").value == '{\n  "organization": "o"\n}'
    at = submit(at, "Save changes")  # left alone: kept
    assert credentials(console, "Org").config["api_token"] == SECRET_CANARY
    at.checkbox(key=f"pe_{pid}_rmcfg_api_token").check()
    at = submit(at, "Save changes")
    assert "Provider 'Org' saved." in texts(at)
    assert credentials(console, "Org").config == {"organization": "o"}
    assert not has(at.checkbox, f"pe_{pid}_rmcfg_api_token")
    with console.runtime.sessions() as s:
        (event,) = s.scalars(select(AuditEvent).where(AuditEvent.action == "provider.update"))
        assert event.after == {"provider_config": "changed (removed: api_token)"}
    assert SECRET_CANARY not in texts(at) + state_dump(at)


def test_the_edit_form_keeps_a_typed_key_until_saved(console: Console, team: dict) -> None:
    pid = make(console, "alice", "Edited", api_key="sk-old-key-00000000")
    at = pick(console.open(PAGE, as_user="alice"), pid)
    at.text_input(key=f"pe_{pid}_key").input(CANARY)
    at.text_input(key=f"pe_{pid}_name").input("")
    at = submit(at, "Save changes")
    assert [e.value for e in at.error] == ["**Name**: The name cannot be empty."]
    assert held_names(at, str(pid)) == ["api_key"]
    assert CANARY not in texts(at) and CANARY not in state_dump(at)
    at.text_input(key=f"pe_{pid}_name").input("Edited")
    at = submit(at, "Save changes")
    assert "Provider 'Edited' saved." in texts(at)
    assert credentials(console, "Edited").api_key == CANARY
    assert held_names(at, str(pid)) == []
