"""What a provider must satisfy before a write (core.records.provider_checks through the
services): names unique per owner and unlike the owner's others, every field's problem at
once, and the explicit removal of write-only config keys."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from core.errors import (
    IntegrityError,
    ValidationError,
)
from core.records import providers
from core.records.credentials import provider_credentials
from core.startup import Runtime
from core.store.tables import Provider, User
from tests.support import factories as f
from tests.support.factories import LIVE_KEY, events, table_counts


def update_as_olga(runtime: Runtime, staff: dict[str, Any], pid: Any, **changes: Any) -> None:
    """update_provider by olga at version 1, in a transaction of its own."""
    with runtime.sessions.begin() as s:
        providers.update_provider(
            s, actor=s.get(User, staff["olga"]), provider_id=pid, expected_version=1, **changes
        )


# --- Names: unique per owner, case-insensitive after NFC and trimming ----------------------


@pytest.mark.parametrize(
    "first, second",
    [("OpenAI", " openai "), ("Café", "Cafe\u0301"), ("Cafe\u0301", "CAFÉ"), ("Team ß", "team ß")],
)
def test_same_name_for_the_same_owner_is_refused(
    runtime: Runtime, staff: dict[str, Any], first: str, second: str
) -> None:
    with runtime.sessions.begin() as s:
        f.provider(s, s.get(User, staff["olga"]), first)
    before = table_counts(runtime)

    with pytest.raises(IntegrityError, match="already exists for olga"):
        with runtime.sessions.begin() as s:
            f.provider(s, s.get(User, staff["olga"]), second)

    assert table_counts(runtime) == before


def test_same_name_for_two_owners_is_allowed(runtime: Runtime, staff: dict[str, Any]) -> None:
    with runtime.sessions.begin() as s:
        f.provider(s, s.get(User, staff["olga"]), "OpenAI")
        f.provider(s, s.get(User, staff["vera"]), "openai")
    with runtime.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Provider)) == 2


def test_rename_onto_a_taken_name_is_refused(runtime: Runtime, staff: dict[str, Any]) -> None:
    with runtime.sessions.begin() as s:
        olga = s.get(User, staff["olga"])
        f.provider(s, olga, "Work")
        pid = f.provider(s, olga, "Home").id
    with pytest.raises(IntegrityError, match="already exists"):
        update_as_olga(runtime, staff, pid, name="  WORK ")
    update_as_olga(runtime, staff, pid, name="HOME")  # a change of case of its own name is fine
    with runtime.sessions() as s:
        assert s.get(Provider, pid).name == "HOME"


@pytest.mark.parametrize(
    "lookalike",
    [
        "\u041epenAI",  # Cyrillic capital O
        "Open\u0391I",  # Greek capital alpha
        "OpenAl",  # lower-case L for capital I
        "\uff2f\uff50\uff45\uff4e\uff21\uff29",  # fullwidth
        "\U0001d40e\U0001d429\U0001d41e\U0001d427\U0001d400\U0001d408",  # mathematical bold
        "Open  AI \u0399nc",  # double space, Greek capital iota
    ],
)
def test_lookalike_name_for_the_same_owner_is_refused_naming_the_existing_one(
    runtime: Runtime, staff: dict[str, Any], lookalike: str
) -> None:
    existing = "Open AI Inc" if lookalike.endswith("nc") else "OpenAI"
    with runtime.sessions.begin() as s:
        f.provider(s, s.get(User, staff["olga"]), existing)
    before = table_counts(runtime)

    with pytest.raises(IntegrityError) as caught:
        with runtime.sessions.begin() as s:
            f.provider(s, s.get(User, staff["olga"]), lookalike)

    assert f"looks the same as olga's provider '{existing}'" in str(caught.value)
    assert table_counts(runtime) == before


def test_lookalike_rename_is_refused_and_other_owners_and_clear_names_are_free(
    runtime: Runtime, staff: dict[str, Any]
) -> None:
    with runtime.sessions.begin() as s:
        olga = s.get(User, staff["olga"])
        f.provider(s, olga, "Mistral")
        pid = f.provider(s, olga, "Home").id
        f.provider(s, s.get(User, staff["vera"]), "M\u0456stral")  # another owner: free
        f.provider(s, olga, "Mistral 2")  # clearly different
    with pytest.raises(IntegrityError, match="looks the same as olga's provider 'Mistral'"):
        update_as_olga(runtime, staff, pid, name="M\u0456stral")
    with runtime.sessions() as s:
        assert s.get(Provider, pid).name == "Home"


# --- Every field's problem at once; explicit removal of write-only config keys ------------


def test_create_names_every_field_problem_at_once(runtime: Runtime, staff: dict[str, Any]) -> None:
    before = table_counts(runtime)
    with pytest.raises(ValidationError) as caught:
        with runtime.sessions.begin() as s:
            providers.create_provider(
                s,
                actor=s.get(User, staff["olga"]),
                name="  ",
                provider_type="openai",
                api_key="sk-one\ntwo",
                provider_config={"base_url": "ftp://example.com"},
                status="paused",
                priority=-1,
            )
    problems = caught.value.problems
    assert [p.field for p in problems] == [
        "name",
        "provider_config.base_url",
        "api_key",
        "status",
        "priority",
    ]
    assert "The name cannot be empty." in str(caught.value)
    assert "The base URL must start with http:// or https://." in str(caught.value)
    assert "sk-one" not in str(caught.value)
    assert caught.value.field == "name"  # the first problem, for callers that show one
    assert table_counts(runtime) == before


def test_update_names_every_field_problem_at_once(runtime: Runtime, staff: dict[str, Any]) -> None:
    with runtime.sessions.begin() as s:
        pid = f.provider(s, s.get(User, staff["olga"]), "Work").id
    with pytest.raises(ValidationError) as caught:
        update_as_olga(
            runtime,
            staff,
            pid,
            name="",
            clear_api_key=True,
            provider_config={"base_url": "not a url"},
            priority=10**9,
        )
    assert [p.field for p in caught.value.problems] == [
        "name",
        "provider_config.base_url",
        "api_key",
        "priority",
    ]
    with runtime.sessions() as s:
        assert (s.get(Provider, pid).name, s.get(Provider, pid).version) == ("Work", 1)


def test_a_caller_s_own_problems_are_reported_with_the_service_s(
    runtime: Runtime, staff: dict[str, Any]
) -> None:
    from core.validation import Problems

    earlier = Problems([ValidationError("The extra JSON is not valid JSON.", field="extra JSON")])
    with pytest.raises(ValidationError) as caught:
        with runtime.sessions.begin() as s:  # otherwise valid: still nothing is written
            providers.create_provider(
                s,
                actor=s.get(User, staff["olga"]),
                name="Fine",
                provider_type="openai",
                api_key=LIVE_KEY,
                problems=earlier,
            )
    assert [p.field for p in caught.value.problems] == ["extra JSON"]
    with pytest.raises(ValidationError) as caught:
        with runtime.sessions.begin() as s:
            providers.create_provider(
                s,
                actor=s.get(User, staff["olga"]),
                name="",
                provider_type="openai",
                api_key=LIVE_KEY,
                problems=earlier,
            )
    assert [p.field for p in caught.value.problems] == ["extra JSON", "name"]
    with runtime.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Provider)) == 0


def test_a_write_only_config_key_is_removed_explicitly_and_audited(
    runtime: Runtime, staff: dict[str, Any]
) -> None:
    config = {"organization": "org-1", "org_token": "tok-SECRET-1"}
    with runtime.sessions.begin() as s:
        pid = f.provider(s, s.get(User, staff["olga"]), "Org", provider_config=config).id
    shown = {"organization": "org-1"}  # what an edit form shows and sends back
    update_as_olga(runtime, staff, pid, provider_config=shown)  # left out: kept (write-only)
    with runtime.sessions() as s:
        assert provider_credentials(s, pid).config == config
    with pytest.raises(ValidationError, match="no stored config key 'api_token'"):
        update_as_olga(runtime, staff, pid, provider_config=shown, remove_config_keys=["api_token"])
    update_as_olga(runtime, staff, pid, provider_config=shown, remove_config_keys=["org_token"])
    with runtime.sessions() as s:
        assert provider_credentials(s, pid).config == shown
        (view,) = providers.list_providers(s, user=s.get(User, staff["olga"]))
        assert view.secret_config_keys == ()
    (updated,) = events(runtime, "provider.update")
    assert updated.after == {"provider_config": "changed (removed: org_token)"}
    assert "tok-SECRET" not in json.dumps([updated.before, updated.after])


@pytest.mark.parametrize("empty", [None, ""])
def test_a_write_only_config_key_given_empty_is_removed(
    runtime: Runtime, staff: dict[str, Any], empty: Any
) -> None:
    with runtime.sessions.begin() as s:
        pid = f.provider(
            s,
            s.get(User, staff["olga"]),
            "Org",
            provider_config={"api_key": "x-SECRET", "organization": "o"},
        ).id
    update_as_olga(runtime, staff, pid, provider_config={"organization": "o", "api_key": empty})
    with runtime.sessions() as s:
        assert provider_credentials(s, pid).config == {"organization": "o"}
