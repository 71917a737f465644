"""Core helpers behind the Providers page: who may change a listed provider, which models a
delete takes along, and assembling a provider_config from form inputs."""

from __future__ import annotations

import uuid

import pytest

from core.accounts import access
from core.config import load_settings
from core.errors import IntegrityError, PermissionDeniedError, ValidationError
from core.records import provider_forms, providers
from core.records.credentials import provider_credentials
from core.records.system_providers import all_available_providers
from core.startup import Runtime
from core.store.tables import User
from tests.support import factories as f


def test_manage_refusal_explains_each_read_only_case(
    runtime: Runtime, staff: dict[str, uuid.UUID]
) -> None:
    with runtime.sessions.begin() as s:
        boss, olga, vera = (s.get(User, staff[n]) for n in ("boss", "olga", "vera"))
        f.provider(s, boss, "Wide", instance_wide=True)
        access.grant(s, actor=boss, record=f.provider(s, vera, "Vera's"), user=olga)
        f.provider(s, olga, "Olga's")
    settings = load_settings({"ANTHROPIC_API_KEY": "sk-env-000000001234"}, secrets_file=None)
    with runtime.sessions() as s:
        olga, boss = s.get(User, staff["olga"]), s.get(User, staff["boss"])
        views = {v.name: v for v in all_available_providers(s, user=olga, settings=settings)}
        reasons = {name: provider_forms.manage_refusal(olga, v) for name, v in views.items()}
        assert reasons["Olga's"] is None
        assert "only admins can change it" in reasons["Wide"]
        assert reasons["Vera's"] == "It belongs to vera: only its owner or an admin can change it."
        assert "environment (ANTHROPIC_API_KEY)" in reasons["Anthropic (environment)"]
        assert provider_forms.manage_refusal(boss, views["Vera's"]) is None
        assert provider_forms.manage_refusal(boss, views["Anthropic (environment)"]) is not None


def test_models_deleted_with_names_only_what_the_actor_sees(
    runtime: Runtime, staff: dict[str, uuid.UUID]
) -> None:
    with runtime.sessions.begin() as s:
        boss, olga = s.get(User, staff["boss"]), s.get(User, staff["olga"])
        prov = f.provider(s, olga, "Olga's")
        f.model(s, olga, prov, "b-model", name="Beta")
        f.model(s, boss, prov, "a-model", name="Alpha Secret")  # boss's private model
        pid = prov.id
    with runtime.sessions() as s:
        listed, unseen = provider_forms.models_deleted_with(
            s, actor=s.get(User, staff["olga"]), provider_id=pid
        )
        assert (listed, unseen) == ([("Beta", "b-model")], 1)
        assert provider_forms.models_deleted_with(
            s, actor=s.get(User, staff["boss"]), provider_id=pid
        ) == ([("Alpha Secret", "a-model")], 1)
        with pytest.raises(PermissionDeniedError):
            provider_forms.models_deleted_with(s, actor=s.get(User, staff["vera"]), provider_id=pid)
    with pytest.raises(IntegrityError) as refused, runtime.sessions.begin() as s:
        providers.delete_provider(s, actor=s.get(User, staff["olga"]), provider_id=pid)
    assert "2 model(s): Beta, 1 private to other users" in str(refused.value)
    assert "Alpha" not in str(refused.value)


def test_assemble_config_merges_fields_and_extra_json() -> None:
    config = provider_forms.assemble_provider_config(
        "azure_openai",
        fields={
            "resource_name": " acme ",
            "deployment_id": "gpt-4o",
            "api_version": "",
            "base_url": None,
        },
        extra_json='{"organization": "org-1"}',
    )
    assert config == {"organization": "org-1", "resource_name": "acme", "deployment_id": "gpt-4o"}


def test_assemble_config_refuses_a_key_given_twice_and_bad_json() -> None:
    with pytest.raises(ValidationError, match="'base_url' is given both"):
        provider_forms.assemble_provider_config(
            "openai",
            fields={"base_url": "http://a.example"},
            extra_json='{"base_url": "http://b.example"}',
        )
    with pytest.raises(ValidationError) as caught:
        provider_forms.assemble_provider_config(
            "openai", fields={}, extra_json='{\n  "x": 1,\n  "x": 2\n}'
        )
    assert (caught.value.field, caught.value.line, caught.value.column) == ("extra JSON", 3, 3)


def test_assemble_config_removes_only_secret_fields(
    runtime: Runtime, staff: dict[str, uuid.UUID]
) -> None:
    config = provider_forms.assemble_provider_config(
        "amazon_bedrock",
        fields={"region": "eu-west-1"},
        remove=["secret_access_key", "region", "unknown"],
    )
    assert config == {"region": "eu-west-1", "secret_access_key": None}
    with runtime.sessions.begin() as s:
        boss = s.get(User, staff["boss"])
        pid = f.provider(
            s,
            boss,
            "Bedrock",
            provider_type="amazon_bedrock",
            api_key=None,
            provider_config={
                "region": "us-east-1",
                "access_key_id": "AKIA1",
                "secret_access_key": "SECRET-1",
                "session_token": "TOKEN-1",
            },
        ).id
    with runtime.sessions.begin() as s:  # empty secret field keeps; removal drops
        providers.update_provider(
            s,
            actor=s.get(User, staff["boss"]),
            provider_id=pid,
            expected_version=1,
            provider_config=provider_forms.assemble_provider_config(
                "amazon_bedrock",
                fields={"region": "us-east-1", "access_key_id": "AKIA1"},
                remove=["session_token"],
            ),
        )
    with runtime.sessions() as s:
        assert provider_credentials(s, pid).config == {
            "region": "us-east-1",
            "access_key_id": "AKIA1",
            "secret_access_key": "SECRET-1",
        }


@pytest.mark.parametrize(
    "text, shown_text, secrets, dropped",
    [
        (
            '{"organization": "o", "api_token": "tok-1"}',
            '{\n  "organization": "o"\n}',
            {"api_token": "tok-1"},
            False,
        ),
        ('{"api_token": {"nested": 1}}', "", {"api_token": {"nested": 1}}, False),
        ('{"api_token": null, "org_key": ""}', '{"api_token": null, "org_key": ""}', {}, False),
        ('{"organization": "o"}', '{"organization": "o"}', {}, False),
        ('{"api_token": "tok-1",\n "x": }', "", {}, True),  # unreadable: dropped whole
        ('{"api_token": "a", "api_token": "b"}', "", {}, True),  # a repeated key too
        ('{"organization": }', '{"organization": }', {}, False),  # no secret in it: kept
        ("", "", {}, False),
    ],
)
def test_split_extra_secrets_takes_secret_values_out_of_the_text(
    text: str, shown_text: str, secrets: dict, dropped: bool
) -> None:
    split = provider_forms.split_extra_secrets(text, "openai")
    assert (split.text, split.secrets, split.dropped) == (shown_text, secrets, dropped)
    assert "tok-1" not in split.text


def test_held_secrets_expire_unused_and_drop_by_name_form_or_session() -> None:
    from pages._held import HeldSecrets

    now = [0.0]
    held = HeldSecrets(idle_seconds=60, clock=lambda: now[0])
    held.put("t1", "add", "api_key", "sk-HELD-1")
    held.put("t1", "add", "extra:api_token", "x")
    held.put("t1", "p1", "api_key", "y")
    held.put("t2", "add", "api_key", "z")
    assert "sk-HELD" not in repr(held)
    now[0] = 50
    assert held.get("t1", "add", "api_key") == "sk-HELD-1"  # a read keeps it alive
    now[0] = 100
    assert held.names("t1", "add") == ["api_key"]  # the others were idle for over 60 s
    held.put("t1", "add", "cfg:secret", "s")
    held.drop("t1", "add", ("cfg:secret",))
    assert held.names("t1", "add") == ["api_key"]
    held.put("t1", "p1", "api_key", "y")
    held.drop("t1", "add")
    assert held.names("t1", "add") == [] and held.names("t1", "p1") == ["api_key"]
    held.drop("t1")
    assert held.names("t1", "p1") == []
