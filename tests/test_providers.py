"""Provider records: name uniqueness, delete and cascade, optimistic locking, reorder, toggle,
write-only API keys and the audit trail they leave."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from core.accounts import access
from core.errors import (
    ConflictError,
    IntegrityError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from core.records import providers
from core.startup import Runtime
from core.store.tables import Grant, Provider, User
from tests.support import factories as f
from tests.support.factories import events, table_counts

KEY = "sk-live-abcdefghijklmnop1234"


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
        with runtime.sessions.begin() as s:
            providers.update_provider(
                s,
                actor=s.get(User, staff["olga"]),
                provider_id=pid,
                expected_version=1,
                name="  WORK ",
            )
    with runtime.sessions.begin() as s:  # a change of case of its own name is fine
        providers.update_provider(
            s, actor=s.get(User, staff["olga"]), provider_id=pid, expected_version=1, name="HOME"
        )
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
        with runtime.sessions.begin() as s:
            providers.update_provider(
                s,
                actor=s.get(User, staff["olga"]),
                provider_id=pid,
                expected_version=1,
                name="M\u0456stral",
            )
    with runtime.sessions() as s:
        assert s.get(Provider, pid).name == "Home"


# --- Delete: refused while models remain, unless cascade ----------------------------------


@pytest.fixture
def provider_with_models(runtime: Runtime, staff: dict[str, Any]) -> uuid.UUID:
    with runtime.sessions.begin() as s:
        boss, vera = s.get(User, staff["boss"]), s.get(User, staff["vera"])
        prov = f.provider(s, boss, "Doomed")
        access.grant(s, actor=boss, record=prov, user=vera)
        for mid in ("gpt-4o", "gpt-4o-mini"):
            access.grant(s, actor=boss, record=f.model(s, boss, prov, mid), user=vera)
        return prov.id


def test_delete_with_models_is_refused_without_cascade(
    runtime: Runtime, staff: dict[str, Any], provider_with_models: uuid.UUID
) -> None:
    before = table_counts(runtime)

    with pytest.raises(IntegrityError) as caught:
        with runtime.sessions.begin() as s:
            providers.delete_provider(
                s, actor=s.get(User, staff["boss"]), provider_id=provider_with_models
            )

    assert "still has 2 model(s): gpt-4o, gpt-4o-mini" in str(caught.value)
    assert table_counts(runtime) == before


def test_cascade_deletes_models_and_grants_and_audits_them(
    runtime: Runtime, staff: dict[str, Any], provider_with_models: uuid.UUID
) -> None:
    before = table_counts(runtime)
    with runtime.sessions.begin() as s:
        deleted = providers.delete_provider(
            s, actor=s.get(User, staff["boss"]), provider_id=provider_with_models, cascade=True
        )

    assert deleted == ["gpt-4o", "gpt-4o-mini"]
    after = table_counts(runtime)
    assert after["providers"] == before["providers"] - 1
    assert after["models"] == before["models"] - 2
    assert after["grants"] == before["grants"] - 3
    assert after["audit_events"] == before["audit_events"] + 3
    assert [e.entity_label for e in events(runtime, "model.delete")] == ["gpt-4o", "gpt-4o-mini"]
    (gone,) = events(runtime, "provider.delete")
    assert gone.before["models_deleted"] == 2 and gone.actor_label == "boss"
    assert gone.entity_id == provider_with_models


def test_delete_without_models_needs_no_cascade(runtime: Runtime, staff: dict[str, Any]) -> None:
    with runtime.sessions.begin() as s:
        pid = f.provider(s, s.get(User, staff["olga"]), "Lonely").id
    with runtime.sessions.begin() as s:
        assert providers.delete_provider(s, actor=s.get(User, staff["olga"]), provider_id=pid) == []
    with runtime.sessions() as s:
        assert s.get(Provider, pid) is None
        assert s.scalar(select(func.count()).select_from(Grant)) == 0


# --- Optimistic locking --------------------------------------------------------------------


def test_stale_edit_raises_conflict_naming_who_changed_it(
    runtime: Runtime, staff: dict[str, Any]
) -> None:
    with runtime.sessions.begin() as s:
        pid = f.provider(s, s.get(User, staff["boss"]), "Shared", instance_wide=True).id
    with runtime.sessions() as s:  # the first editor opens the form
        opened_version = s.get(Provider, pid).version
    with runtime.sessions.begin() as s:  # someone else saves first
        other = f.user(s, "ines", "admin")
        providers.update_provider(
            s, actor=other, provider_id=pid, expected_version=opened_version, priority=7
        )

    with pytest.raises(ConflictError) as caught:
        with runtime.sessions.begin() as s:
            providers.update_provider(
                s,
                actor=s.get(User, staff["boss"]),
                provider_id=pid,
                expected_version=opened_version,
                name="Mine now",
            )

    assert caught.value.changed_by == "ines"
    assert "changed by ines" in str(caught.value) and "Nothing was overwritten" in str(caught.value)
    with runtime.sessions() as s:
        stored = s.get(Provider, pid)
        assert (stored.name, stored.priority, stored.version) == ("Shared", 7, opened_version + 1)


def test_stale_delete_raises_conflict(runtime: Runtime, staff: dict[str, Any]) -> None:
    with runtime.sessions.begin() as s:
        pid = f.provider(s, s.get(User, staff["olga"]), "Mine").id
    with runtime.sessions.begin() as s:
        providers.set_provider_status(s, actor=s.get(User, staff["olga"]), provider_id=pid)
    with pytest.raises(ConflictError):
        with runtime.sessions.begin() as s:
            providers.delete_provider(
                s, actor=s.get(User, staff["olga"]), provider_id=pid, expected_version=1
            )
    with runtime.sessions() as s:
        assert s.get(Provider, pid).status == "inactive"


def test_concurrent_edit_of_the_same_row_raises_conflict(
    runtime: Runtime, staff: dict[str, Any]
) -> None:
    with runtime.sessions.begin() as s:
        pid = f.provider(s, s.get(User, staff["olga"]), "Raced").id
    first, second = runtime.sessions(), runtime.sessions()
    try:
        # Both load the same version before either saves (and keep it loaded, as a form does).
        loaded = first.get(Provider, pid), second.get(Provider, pid)
        assert [p.version for p in loaded] == [1, 1]
        providers.update_provider(
            first,
            actor=first.get(User, staff["olga"]),
            provider_id=pid,
            expected_version=1,
            name="First wins",
        )
        first.commit()
        with pytest.raises(ConflictError, match="changed or deleted by someone else"):
            providers.update_provider(
                second,
                actor=second.get(User, staff["olga"]),
                provider_id=pid,
                expected_version=1,
                name="Second loses",
            )
        second.rollback()
    finally:
        first.close()
        second.close()
    with runtime.sessions() as s:
        stored = s.get(Provider, pid)
        assert (stored.name, stored.version) == ("First wins", 2)
        assert len(events(runtime, "provider.update")) == 1


def test_delete_racing_an_edit_raises_conflict(runtime: Runtime, staff: dict[str, Any]) -> None:
    with runtime.sessions.begin() as s:
        pid = f.provider(s, s.get(User, staff["olga"]), "Raced").id
    first, second = runtime.sessions(), runtime.sessions()
    try:
        loaded = first.get(Provider, pid), second.get(Provider, pid)
        assert [p.version for p in loaded] == [1, 1]
        providers.set_provider_status(first, actor=first.get(User, staff["olga"]), provider_id=pid)
        first.commit()
        with pytest.raises(ConflictError, match="'Raced' was changed or deleted"):
            providers.delete_provider(
                second, actor=second.get(User, staff["olga"]), provider_id=pid
            )
        second.rollback()
    finally:
        first.close()
        second.close()
    with runtime.sessions() as s:
        assert s.get(Provider, pid).status == "inactive"
        assert events(runtime, "provider.delete") == []


# --- Reorder: all or nothing ---------------------------------------------------------------


@pytest.fixture
def three(runtime: Runtime, staff: dict[str, Any]) -> list[uuid.UUID]:
    with runtime.sessions.begin() as s:
        olga = s.get(User, staff["olga"])
        return [
            f.provider(s, olga, name, priority=p).id
            for name, p in (("A", 10), ("B", 20), ("C", 30))
        ]


def priorities(runtime: Runtime, ids: list[uuid.UUID]) -> list[int]:
    with runtime.sessions() as s:
        return [s.get(Provider, i).priority for i in ids]


def test_reorder_sets_every_priority_and_writes_one_event(
    runtime: Runtime, staff: dict[str, Any], three: list[uuid.UUID]
) -> None:
    with runtime.sessions.begin() as s:
        providers.reorder_providers(
            s,
            actor=s.get(User, staff["olga"]),
            order=[(three[2], 0, 1), (three[0], 1, 1), (str(three[1]), 2, 1)],
        )
    assert priorities(runtime, three) == [1, 2, 0]
    (event,) = events(runtime, "provider.reorder")
    assert {m["name"] for m in event.after["moved"]} == {"A", "B", "C"}
    with runtime.sessions() as s:
        assert [v.name for v in providers.list_providers(s, user=s.get(User, staff["olga"]))] == [
            "C",
            "A",
            "B",
        ]


@pytest.mark.parametrize(
    "bad, error",
    [
        ((uuid.uuid4(), 1, 1), NotFoundError),
        (("not-a-uuid", 1, 1), NotFoundError),
        ("duplicate", ValidationError),
        ("bad-priority", ValidationError),
        ("not-mine", PermissionDeniedError),
    ],
)
def test_reorder_with_one_bad_entry_changes_nothing(
    runtime: Runtime,
    staff: dict[str, Any],
    three: list[uuid.UUID],
    bad: Any,
    error: type[Exception],
) -> None:
    if bad == "duplicate":
        bad = (three[0], 5, 1)
    elif bad == "bad-priority":
        bad = (three[1], -3, 1)
    elif bad == "not-mine":
        with runtime.sessions.begin() as s:
            bad = (f.provider(s, s.get(User, staff["vera"]), "Vera's").id, 0, 1)
    before = table_counts(runtime)

    with pytest.raises(error):
        with runtime.sessions.begin() as s:
            providers.reorder_providers(
                s, actor=s.get(User, staff["olga"]), order=[(three[0], 3, 1), (three[2], 2, 1), bad]
            )

    assert priorities(runtime, three) == [10, 20, 30]
    assert table_counts(runtime) == before


def test_reorder_racing_an_edit_raises_conflict(
    runtime: Runtime, staff: dict[str, Any], three: list[uuid.UUID]
) -> None:
    first, second = runtime.sessions(), runtime.sessions()
    try:
        loaded = [first.get(Provider, i) for i in three] + [second.get(Provider, i) for i in three]
        assert {p.version for p in loaded} == {1}
        providers.update_provider(
            first,
            actor=first.get(User, staff["olga"]),
            provider_id=three[0],
            expected_version=1,
            priority=15,
        )
        first.commit()
        with pytest.raises(ConflictError, match="Nothing was changed"):
            providers.reorder_providers(
                second,
                actor=second.get(User, staff["olga"]),
                order=[(three[0], 1, None), (three[1], 2, None)],
            )
        second.rollback()
    finally:
        first.close()
        second.close()
    assert priorities(runtime, three) == [15, 20, 30]


def test_stale_reorder_is_refused_naming_who_changed_what(
    runtime: Runtime, staff: dict[str, Any], three: list[uuid.UUID]
) -> None:
    """A Priorities tab opened before someone else's edit must not overwrite it."""
    with runtime.sessions() as s:  # the Priorities tab is opened: it shows every version
        opened = {i: s.get(Provider, i).version for i in three}
    with runtime.sessions.begin() as s:  # meanwhile the edit form saves B
        providers.update_provider(
            s,
            actor=s.get(User, staff["boss"]),
            provider_id=three[1],
            expected_version=opened[three[1]],
            priority=25,
        )
    before = table_counts(runtime)

    with pytest.raises(ConflictError) as caught:
        with runtime.sessions.begin() as s:
            providers.reorder_providers(
                s,
                actor=s.get(User, staff["olga"]),
                order=[
                    (three[0], 1, opened[three[0]]),
                    (three[1], 2, opened[three[1]]),
                    (three[2], 3, opened[three[2]]),
                ],
            )

    assert caught.value.changed_by == "boss" and caught.value.changed_at is not None
    assert "'B' was changed by boss" in str(caught.value)
    assert "Nothing was overwritten" in str(caught.value)
    assert priorities(runtime, three) == [10, 25, 30]  # nothing partially written
    assert table_counts(runtime) == before


def test_reorder_checks_the_versions_of_unmoved_rows_too(
    runtime: Runtime, staff: dict[str, Any], three: list[uuid.UUID]
) -> None:
    """The new order is one decision made on the rows as shown: any of them changing since
    makes it stale, even a row whose own priority stays."""
    with runtime.sessions.begin() as s:
        providers.update_provider(
            s,
            actor=s.get(User, staff["olga"]),
            provider_id=three[2],
            expected_version=1,
            name="C renamed",
        )
    with pytest.raises(ConflictError, match="'C renamed' was changed by olga"):
        with runtime.sessions.begin() as s:
            providers.reorder_providers(
                s,
                actor=s.get(User, staff["olga"]),
                order=[(three[0], 25, 1), (three[1], 20, 1), (three[2], 30, 1)],
            )
    assert priorities(runtime, three) == [10, 20, 30]


def test_fresh_reorder_with_versions_saves_and_counts_the_moves(
    runtime: Runtime, staff: dict[str, Any], three: list[uuid.UUID]
) -> None:
    with runtime.sessions.begin() as s:
        moved = providers.reorder_providers(
            s,
            actor=s.get(User, staff["olga"]),
            order=[(three[0], 25, 1), (three[1], 20, 1), (three[2], 30, 1)],
        )
    assert moved == 1
    assert priorities(runtime, three) == [25, 20, 30]
    with runtime.sessions() as s:
        assert [s.get(Provider, i).version for i in three] == [2, 1, 1]


def test_model_count_follows_what_the_viewer_can_see(
    runtime: Runtime, staff: dict[str, Any]
) -> None:
    """The Models column must not reveal that private records the viewer cannot see exist."""
    with runtime.sessions.begin() as s:
        boss, vera = s.get(User, staff["boss"]), s.get(User, staff["vera"])
        shared = f.provider(s, boss, "Shared", instance_wide=True)
        f.model(s, boss, shared, "gpt-4o", instance_wide=True)
        f.model(s, boss, shared, "gpt-4o-mini")  # boss's private model
        f.model(s, vera, shared, "o3")  # vera's private model
    with runtime.sessions() as s:

        def counts(username: str, **kw: Any) -> dict[str, int]:
            user = s.get(User, staff[username])
            return {v.name: v.model_count for v in providers.list_providers(s, user=user, **kw)}

        assert counts("olga") == {"Shared": 1}
        assert counts("vera") == {"Shared": 2}
        assert counts("boss") == {"Shared": 2}  # admins see by the same rules
        assert counts("boss", manage=True) == {"Shared": 3}  # "show all records"


# --- Toggle --------------------------------------------------------------------------------


def test_toggle_flips_status_and_set_is_explicit(runtime: Runtime, staff: dict[str, Any]) -> None:
    with runtime.sessions.begin() as s:
        pid = f.provider(s, s.get(User, staff["olga"]), "Flip").id

    def toggle(**kw: Any) -> str:
        with runtime.sessions.begin() as s:
            return providers.set_provider_status(
                s, actor=s.get(User, staff["olga"]), provider_id=pid, **kw
            ).status

    assert [toggle(), toggle(), toggle(active=True), toggle(active=False)] == [
        "inactive",
        "active",
        "active",
        "inactive",
    ]
    updates = events(runtime, "provider.update")
    assert [(e.before, e.after) for e in updates] == [
        ({"status": "active"}, {"status": "inactive"}),
        ({"status": "inactive"}, {"status": "active"}),
        ({"status": "active"}, {"status": "inactive"}),
    ]  # setting the same status is no event


# --- Write-only API keys and the audit trail ----------------------------------------------


def test_update_with_no_api_key_keeps_the_stored_one(
    runtime: Runtime, staff: dict[str, Any]
) -> None:
    with runtime.sessions.begin() as s:
        pid = f.provider(s, s.get(User, staff["olga"]), "Keep", api_key=KEY).id
    for blank in (None, ""):
        with runtime.sessions.begin() as s:
            p = providers.update_provider(
                s,
                actor=s.get(User, staff["olga"]),
                provider_id=pid,
                expected_version=None,
                api_key=blank,
                priority=99,
            )
    with runtime.sessions() as s:
        assert providers.provider_credentials(s, pid).api_key == KEY
        assert p.priority == 99


def test_clearing_a_required_key_is_refused(runtime: Runtime, staff: dict[str, Any]) -> None:
    with runtime.sessions.begin() as s:
        pid = f.provider(s, s.get(User, staff["olga"]), "Keep", api_key=KEY).id
    with pytest.raises(ValidationError, match="needs an API key") as caught:
        with runtime.sessions.begin() as s:
            providers.update_provider(
                s,
                actor=s.get(User, staff["olga"]),
                provider_id=pid,
                expected_version=1,
                clear_api_key=True,
            )
    assert caught.value.field == "api_key"


def test_audit_events_describe_changes_without_secrets(
    runtime: Runtime, staff: dict[str, Any]
) -> None:
    new_key = "sk-rotated-zyxwvutsrq9876"
    config = {"base_url": "https://gw.example.com/v1", "org_token": "tok-SECRETVALUE-42"}
    with runtime.sessions.begin() as s:
        pid = f.provider(
            s, s.get(User, staff["olga"]), "Audited", api_key=KEY, provider_config=config
        ).id
    with runtime.sessions.begin() as s:
        providers.update_provider(
            s,
            actor=s.get(User, staff["olga"]),
            provider_id=pid,
            expected_version=1,
            api_key=new_key,
            name="Audited 2",
            provider_config={**config, "org_token": "tok-OTHER-43"},
        )
    with runtime.sessions.begin() as s:
        providers.delete_provider(s, actor=s.get(User, staff["olga"]), provider_id=pid)

    (created,) = events(runtime, "provider.create")
    assert created.after["api_key"] == "set (…1234)"
    assert created.after["provider_config"] == "set (keys: base_url, org_token)"
    assert created.after["name"] == "Audited" and created.actor_label == "olga"
    (updated,) = events(runtime, "provider.update")
    assert updated.before == {"name": "Audited", "api_key": "…1234"}
    assert updated.after == {
        "name": "Audited 2",
        "api_key": "changed (…9876)",
        "provider_config": "changed (keys: org_token)",
    }
    (deleted,) = events(runtime, "provider.delete")
    assert deleted.before["name"] == "Audited 2" and deleted.after is None
    for event in (created, updated, deleted):
        text = json.dumps([event.before, event.after], ensure_ascii=False)
        for secret in (KEY, new_key, "SECRETVALUE", "tok-OTHER-43", KEY[:-4]):
            assert secret not in text


def test_secret_config_fields_are_write_only(runtime: Runtime) -> None:
    """Vertex's service-account JSON is a secret config field: never shown, kept on edit."""
    with runtime.sessions.begin() as s:
        admin = f.user(s, "vera", "admin")
        pid = providers.create_provider(
            s,
            actor=admin,
            name="Vertex",
            provider_type="google_vertex",
            provider_config={
                "project_id": "p1",
                "location": "us-central1",
                "service_account_json": '{"private_key": "PEM-CANARY"}',
            },
        ).id
    with runtime.sessions() as s:
        (view,) = providers.list_providers(s, user=s.get(User, admin.id))
        assert view.config == {"project_id": "p1", "location": "us-central1"}
        assert view.secret_config_keys == ("service_account_json",)
        assert "PEM-CANARY" not in repr(view)
    with runtime.sessions.begin() as s:  # the form sends back only what it showed
        providers.update_provider(
            s,
            actor=s.get(User, admin.id),
            provider_id=pid,
            expected_version=1,
            provider_config={"project_id": "p2", "location": "us-central1"},
        )
    with runtime.sessions() as s:
        creds = providers.provider_credentials(s, pid)
        assert creds.config["project_id"] == "p2"
        assert creds.config["service_account_json"] == '{"private_key": "PEM-CANARY"}'


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
        with runtime.sessions.begin() as s:
            providers.update_provider(
                s,
                actor=s.get(User, staff["olga"]),
                provider_id=pid,
                expected_version=1,
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
                api_key=KEY,
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
                api_key=KEY,
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
    with runtime.sessions.begin() as s:  # left out: kept (write-only)
        providers.update_provider(
            s,
            actor=s.get(User, staff["olga"]),
            provider_id=pid,
            expected_version=1,
            provider_config=shown,
        )
    with runtime.sessions() as s:
        assert providers.provider_credentials(s, pid).config == config
    with pytest.raises(ValidationError, match="no stored config key 'api_token'"):
        with runtime.sessions.begin() as s:
            providers.update_provider(
                s,
                actor=s.get(User, staff["olga"]),
                provider_id=pid,
                expected_version=1,
                provider_config=shown,
                remove_config_keys=["api_token"],
            )
    with runtime.sessions.begin() as s:
        providers.update_provider(
            s,
            actor=s.get(User, staff["olga"]),
            provider_id=pid,
            expected_version=1,
            provider_config=shown,
            remove_config_keys=["org_token"],
        )
    with runtime.sessions() as s:
        assert providers.provider_credentials(s, pid).config == shown
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
    with runtime.sessions.begin() as s:
        providers.update_provider(
            s,
            actor=s.get(User, staff["olga"]),
            provider_id=pid,
            expected_version=1,
            provider_config={"organization": "o", "api_key": empty},
        )
    with runtime.sessions() as s:
        assert providers.provider_credentials(s, pid).config == {"organization": "o"}
