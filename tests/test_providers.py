"""Provider records: delete and cascade, optimistic locking, model counts, toggle,
write-only API keys and the audit trail they leave. Names and field checks are in
test_provider_checks.py, reordering in test_provider_reorder.py."""

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
    ValidationError,
)
from core.records import providers
from core.records.credentials import provider_credentials
from core.startup import Runtime
from core.store.tables import Grant, Provider, User
from tests.support import factories as f
from tests.support.factories import LIVE_KEY, events, table_counts

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
        pid = f.provider(s, s.get(User, staff["olga"]), "Keep", api_key=LIVE_KEY).id
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
        assert provider_credentials(s, pid).api_key == LIVE_KEY
        assert p.priority == 99


def test_clearing_a_required_key_is_refused(runtime: Runtime, staff: dict[str, Any]) -> None:
    with runtime.sessions.begin() as s:
        pid = f.provider(s, s.get(User, staff["olga"]), "Keep", api_key=LIVE_KEY).id
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
            s, s.get(User, staff["olga"]), "Audited", api_key=LIVE_KEY, provider_config=config
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
        for secret in (LIVE_KEY, new_key, "SECRETVALUE", "tok-OTHER-43", LIVE_KEY[:-4]):
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
        creds = provider_credentials(s, pid)
        assert creds.config["project_id"] == "p2"
        assert creds.config["service_account_json"] == '{"private_key": "PEM-CANARY"}'
