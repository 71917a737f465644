"""The visibility rule: the owner, everyone for instance-wide records, or a grant.

The matrix crosses who looks (owner, a member looking at an instance-wide record, a member
holding a grant, an unrelated member, an admin who does not own the record) with the entity
(provider, model) and its status (active, inactive), and checks that ``access.can_see``,
``providers.list_providers``, ``model_records.list_models`` and
``model_records.list_active_models`` all give the answer the rules give.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy.orm import Session

from core.accounts import access
from core.errors import PermissionDeniedError
from core.records import model_records, providers
from core.startup import Runtime
from core.store.tables import ModelRecord, Provider, User
from tests.support import factories as f

SCENARIOS = ("owner", "instance_wide", "grant", "unrelated", "admin_not_owner")
VISIBLE = {
    "owner": "owner",
    "instance_wide": "instance-wide",
    "grant": "granted by boss",
    "unrelated": None,
    "admin_not_owner": None,
}


@dataclass
class World:
    viewer: User
    record: Provider | ModelRecord
    provider: Provider
    model: ModelRecord


def build(s: Session, *, scenario: str, entity: str, status: str) -> World:
    """One record of ``entity`` seen by a viewer in ``scenario``; its partner is visible."""
    admin = f.user(s, "boss", "admin")
    owner = f.user(s, "olga")
    member = f.user(s, "vera")
    viewer = {"owner": owner, "admin_not_owner": admin}.get(scenario, member)
    record_owner = admin if scenario == "instance_wide" else owner
    wide = scenario == "instance_wide"
    if entity == "provider":
        # The record under test is the provider; its model is instance-wide and active.
        provider = f.provider(s, record_owner, "Team OpenAI", instance_wide=wide, status=status)
        model = f.model(s, admin, provider, "gpt-4o", instance_wide=True)
        record: Provider | ModelRecord = provider
    else:
        # The record under test is the model; its provider is instance-wide and active.
        provider = f.provider(s, admin, "Shared OpenAI", instance_wide=True)
        model = f.model(s, record_owner, provider, "gpt-4o", instance_wide=wide, status=status)
        record = model
    if scenario == "grant":
        access.grant(s, actor=admin, record=record, user=viewer)
    s.flush()
    return World(viewer=viewer, record=record, provider=provider, model=model)


# --- The matrix ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["active", "inactive"])
@pytest.mark.parametrize("entity", ["provider", "model"])
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_visibility_matrix(runtime: Runtime, scenario: str, entity: str, status: str) -> None:
    expected_reason = VISIBLE[scenario]
    visible = expected_reason is not None
    with runtime.sessions.begin() as s:
        w = build(s, scenario=scenario, entity=entity, status=status)

    with runtime.sessions() as s:
        viewer = s.get(User, w.viewer.id)
        record = s.get(type(w.record), w.record.id)

        assert access.can_see(s, viewer, record) is visible
        assert access.visibility_reason(s, viewer, record) == expected_reason

        listed_providers = {v.id for v in providers.list_providers(s, user=viewer)}
        listed_models = {v.id for v in model_records.list_models(s, user=viewer)}
        active_models = {v.id for v in model_records.list_active_models(s, user=viewer)}
        if entity == "provider":
            assert (w.provider.id in listed_providers) is visible
            assert w.model.id in listed_models  # the model itself is instance-wide
        else:
            assert (w.model.id in listed_models) is visible
            assert w.provider.id in listed_providers  # the provider is instance-wide
        # The selector needs the model AND its provider active and both visible.
        assert (w.model.id in active_models) is (visible and status == "active")


def test_admin_sees_only_what_the_rules_give_everyone(runtime: Runtime) -> None:
    with runtime.sessions.begin() as s:
        admin = f.user(s, "boss", "admin")
        member = f.user(s, "olga")
        private = f.provider(s, member, "Olga's key")
        f.model(s, member, private, "gpt-4o")
        s.flush()
        admin_id = admin.id

    with runtime.sessions() as s:
        admin = s.get(User, admin_id)
        assert providers.list_providers(s, user=admin) == []
        assert model_records.list_active_models(s, user=admin) == []
        # ...but an admin may manage it, so the management listing shows it.
        assert [v.name for v in providers.list_providers(s, user=admin, manage=True)] == [
            "Olga's key"
        ]


# --- list_active_models: order and filter -------------------------------------------------


def test_active_models_are_ordered_by_provider_priority_and_filtered_by_type(
    runtime: Runtime,
) -> None:
    with runtime.sessions.begin() as s:
        admin = f.user(s, "boss", "admin")
        member = f.user(s, "vera")
        late = f.provider(s, admin, "Late", instance_wide=True, priority=50)
        early = f.provider(s, admin, "Early", instance_wide=True, priority=5)
        middle = f.provider(s, member, "Middle", priority=20)
        f.model(s, admin, late, "late-chat", instance_wide=True)
        f.model(s, admin, early, "early-embed", instance_wide=True, model_type="embedding")
        f.model(s, admin, early, "early-chat", instance_wide=True)
        f.model(s, member, middle, "middle-chat")
        f.model(s, member, middle, "middle-rerank", model_type="rerank")
        f.model(s, admin, late, "late-off", instance_wide=True, status="inactive")
        s.flush()
        member_id = member.id

    with runtime.sessions() as s:
        member = s.get(User, member_id)
        everything = model_records.list_active_models(s, user=member)
        assert [m.model_id for m in everything] == [
            "early-chat",
            "early-embed",
            "middle-chat",
            "middle-rerank",
            "late-chat",
        ]
        assert [m.provider_priority for m in everything] == sorted(
            m.provider_priority for m in everything
        )
        chat = model_records.list_active_models(s, user=member, model_type="inference")
        assert [m.model_id for m in chat] == ["early-chat", "middle-chat", "late-chat"]
        assert [
            m.model_id
            for m in model_records.list_active_models(s, user=member, model_type="embedding")
        ] == ["early-embed"]
        assert [
            m.model_id
            for m in model_records.list_active_models(s, user=member, model_type="rerank")
        ] == ["middle-rerank"]


def test_inactive_provider_hides_its_active_models(runtime: Runtime) -> None:
    with runtime.sessions.begin() as s:
        admin = f.user(s, "boss", "admin")
        prov = f.provider(s, admin, "Shared", instance_wide=True)
        f.model(s, admin, prov, "gpt-4o", instance_wide=True)
        s.flush()
        ids = admin.id, prov.id
    with runtime.sessions.begin() as s:
        providers.set_provider_status(s, actor=s.get(User, ids[0]), provider_id=ids[1])
    with runtime.sessions() as s:
        admin = s.get(User, ids[0])
        assert model_records.list_active_models(s, user=admin) == []
        assert [m.provider_status for m in model_records.list_models(s, user=admin)] == ["inactive"]


# --- Who may create instance-wide records and grants --------------------------------------


def test_member_cannot_create_instance_wide_records(runtime: Runtime) -> None:
    with runtime.sessions.begin() as s:
        admin = f.user(s, "boss", "admin")
        member = f.user(s, "vera")
        shared = f.provider(s, admin, "Shared", instance_wide=True)
        with pytest.raises(PermissionDeniedError, match="Only admins"):
            f.provider(s, member, "Mine", instance_wide=True)
        with pytest.raises(PermissionDeniedError, match="Only admins"):
            f.model(s, member, shared, "gpt-4o", instance_wide=True)


def test_admin_can_create_instance_wide_records(runtime: Runtime) -> None:
    with runtime.sessions.begin() as s:
        admin = f.user(s, "boss", "admin")
        prov = f.provider(s, admin, "Shared", instance_wide=True)
        model = f.model(s, admin, prov, "gpt-4o", instance_wide=True)
        assert prov.instance_wide and model.instance_wide


def test_member_cannot_grant_or_revoke(runtime: Runtime) -> None:
    with runtime.sessions.begin() as s:
        member = f.user(s, "olga")
        other = f.user(s, "vera")
        prov = f.provider(s, member, "Mine")
        with pytest.raises(PermissionDeniedError, match="Only admins can share"):
            access.grant(s, actor=member, record=prov, user=other)
        with pytest.raises(PermissionDeniedError, match="Only admins"):
            access.revoke(s, actor=member, record=prov, user=other)
        assert access.grantees(s, prov) == []


def test_member_cannot_change_another_members_records(runtime: Runtime) -> None:
    with runtime.sessions.begin() as s:
        owner = f.user(s, "olga")
        other = f.user(s, "vera")
        prov = f.provider(s, owner, "Olga's")
        model = f.model(s, owner, prov, "gpt-4o")
        with pytest.raises(PermissionDeniedError, match="you own"):
            providers.update_provider(
                s, actor=other, provider_id=prov.id, expected_version=None, name="Stolen"
            )
        with pytest.raises(PermissionDeniedError):
            providers.delete_provider(s, actor=other, provider_id=prov.id, cascade=True)
        with pytest.raises(PermissionDeniedError, match="you own"):
            model_records.update_model(
                s, actor=other, model_record_id=model.id, expected_version=None, name="Stolen"
            )
        with pytest.raises(PermissionDeniedError):
            model_records.delete_model(s, actor=other, model_record_id=model.id)
        assert prov.name == "Olga's" and model.name == "gpt-4o"


def test_member_cannot_change_an_instance_wide_record(runtime: Runtime) -> None:
    with runtime.sessions.begin() as s:
        admin = f.user(s, "boss", "admin")
        member = f.user(s, "vera")
        prov = f.provider(s, admin, "Shared", instance_wide=True)
        with pytest.raises(PermissionDeniedError, match="instance-wide"):
            providers.set_provider_status(s, actor=member, provider_id=prov.id)
        assert prov.status == "active"


def test_member_cannot_make_own_record_instance_wide(runtime: Runtime) -> None:
    with runtime.sessions.begin() as s:
        member = f.user(s, "vera")
        prov = f.provider(s, member, "Mine")
        with pytest.raises(PermissionDeniedError, match="Only admins"):
            providers.update_provider(
                s,
                actor=member,
                provider_id=prov.id,
                expected_version=prov.version,
                instance_wide=True,
            )
        assert prov.instance_wide is False


# --- Grants -------------------------------------------------------------------------------


def test_grant_then_revoke_removes_visibility(runtime: Runtime) -> None:
    with runtime.sessions.begin() as s:
        admin = f.user(s, "boss", "admin")
        owner = f.user(s, "olga")
        viewer = f.user(s, "vera")
        prov = f.provider(s, owner, "Olga's")
        f.model(s, owner, prov, "gpt-4o")
        access.grant(s, actor=admin, record=prov, user=viewer)
        assert access.grant(s, actor=admin, record=prov, user=viewer) is not None  # no-op twice
        s.flush()
        ids = admin.id, viewer.id, prov.id

    with runtime.sessions.begin() as s:
        viewer = s.get(User, ids[1])
        assert [v.id for v in providers.list_providers(s, user=viewer)] == [ids[2]]
        assert [v.scope for v in providers.list_providers(s, user=viewer)] == ["shared"]
        # A grant on the provider does not reveal its private models.
        assert model_records.list_models(s, user=viewer) == []
        assert (
            access.revoke(s, actor=s.get(User, ids[0]), record=s.get(Provider, ids[2]), user=viewer)
            is True
        )

    with runtime.sessions() as s:
        viewer = s.get(User, ids[1])
        assert providers.list_providers(s, user=viewer) == []
        assert access.can_see(s, viewer, s.get(Provider, ids[2])) is False
        assert (
            access.revoke(s, actor=s.get(User, ids[0]), record=s.get(Provider, ids[2]), user=viewer)
            is False
        )
