"""Typed secrets on the Providers page (AppTest): a canary key never stays in session state
or the page, a save after key rotation is refused cleanly, every problem is shown at once,
and typed secrets are kept server-side for the form's lifetime."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from core.records.credentials import provider_credentials
from core.startup import open_runtime
from core.store.tables import AuditEvent
from tests.conftest import TEST_SECRET, make_settings
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
)

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
            creds = provider_credentials(s, stored(console)["Bedrock"].id)
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


# --- Every problem at once; typed secrets kept server-side for the form's lifetime --------


def held_names(at: AppTest, form: str = "add") -> list[str]:
    """What the server holds for this browser session's form (never in session state)."""
    from pages import _held

    token = at.session_state.get("md_held_token")
    return _held._store().names(token, form) if token else []


def credentials(console: Console, name: str) -> Any:
    with console.runtime.sessions() as s:
        return provider_credentials(s, stored(console)[name].id)


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
