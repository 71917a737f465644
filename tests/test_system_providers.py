"""System providers from environment variables and the one precedence rule.

``make_settings`` disables system providers by default, so every test here passes
``MODELDESK_DISABLE_SYSTEM_PROVIDERS`` explicitly.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from core.config import Settings
from core.records import system_providers
from core.records.system_providers import all_available_providers, system_credentials
from core.startup import Runtime
from core.store.tables import User
from tests.conftest import make_settings
from tests.support import factories as f
from tests.support.factories import table_counts


@pytest.fixture
def env(tmp_path: Path) -> Any:
    def settings(disabled: str = "", **variables: str) -> Settings:
        return make_settings(
            "sqlite:///unused.db",
            tmp_path,
            MODELDESK_DISABLE_SYSTEM_PROVIDERS=disabled,
            **variables,
        )

    return settings


def found(settings: Settings) -> dict[str, tuple[str | None, str | None]]:
    """{provider_type: (api_key, base_url)} of the system providers."""
    return {
        p.provider_type: (p.api_key, p.base_url)
        for p in system_providers.system_providers(settings)
    }


# --- Which variables make which provider --------------------------------------------------


def test_without_variables_only_the_default_ollama_exists(env: Any) -> None:
    assert found(env()) == {"ollama": (None, "http://localhost:11434")}


def test_ollama_base_url_overrides_the_default(env: Any) -> None:
    assert found(env(OLLAMA_BASE_URL="http://gpu-box:11434/"))["ollama"] == (
        None,
        "http://gpu-box:11434",
    )


def test_anthropic_key(env: Any) -> None:
    assert found(env(ANTHROPIC_API_KEY="sk-ant-env-0001"))["anthropic"] == (
        "sk-ant-env-0001",
        "https://api.anthropic.com",
    )


def test_openai_key_with_and_without_base_url(env: Any) -> None:
    assert found(env(OPENAI_API_KEY="sk-env-0002"))["openai"] == (
        "sk-env-0002",
        "https://api.openai.com/v1",
    )
    assert found(env(OPENAI_API_KEY="sk-env-0002", OPENAI_BASE_URL="https://proxy.example.com/v1"))[
        "openai"
    ] == ("sk-env-0002", "https://proxy.example.com/v1")


def test_openai_base_url_alone_is_not_a_provider(env: Any) -> None:
    assert "openai" not in found(env(OPENAI_BASE_URL="https://proxy.example.com/v1"))


@pytest.mark.parametrize(
    "variables, key",
    [
        ({"GOOGLE_API_KEY": "g-key-0003"}, "g-key-0003"),
        ({"GEMINI_API_KEY": "gem-key-0004"}, "gem-key-0004"),
        ({"GOOGLE_API_KEY": "g-key-0003", "GEMINI_API_KEY": "gem-key-0004"}, "g-key-0003"),
    ],
)
def test_google_or_gemini_key_make_google_gemini(
    env: Any, variables: dict[str, str], key: str
) -> None:
    assert found(env(**variables))["google_gemini"] == (
        key,
        "https://generativelanguage.googleapis.com/v1beta",
    )


def test_azure_openai_needs_key_and_endpoint(env: Any) -> None:
    assert "azure_openai" not in found(env(AZURE_OPENAI_API_KEY="az-key-0005"))
    assert "azure_openai" not in found(env(AZURE_OPENAI_ENDPOINT="https://acme.openai.azure.com"))
    assert found(
        env(
            AZURE_OPENAI_API_KEY="az-key-0005",
            AZURE_OPENAI_ENDPOINT="https://acme.openai.azure.com",
        )
    )["azure_openai"] == ("az-key-0005", "https://acme.openai.azure.com")


def test_blank_variables_count_as_unset(env: Any) -> None:
    assert set(found(env(ANTHROPIC_API_KEY="   ", OPENAI_API_KEY=""))) == {"ollama"}


def test_an_invalid_value_is_ignored_with_a_warning_naming_the_variable(
    env: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    providers = found(
        env(
            OPENAI_API_KEY="sk-env-0006", OPENAI_BASE_URL="https://user:pw-SECRET@proxy.example.com"
        )
    )
    assert "openai" not in providers
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "OPENAI_BASE_URL" in messages
    assert "pw-SECRET" not in messages and "sk-env-0006" not in messages


# --- Disabling ----------------------------------------------------------------------------

ALL_VARS = {
    "ANTHROPIC_API_KEY": "sk-ant-1",
    "OPENAI_API_KEY": "sk-oai-1",
    "GOOGLE_API_KEY": "g-1",
    "AZURE_OPENAI_API_KEY": "az-1",
    "AZURE_OPENAI_ENDPOINT": "https://acme.openai.azure.com",
}


@pytest.mark.parametrize(
    "disabled, expected",
    [
        ("", {"anthropic", "openai", "google_gemini", "azure_openai", "ollama"}),
        ("ollama", {"anthropic", "openai", "google_gemini", "azure_openai"}),
        ("anthropic, OpenAI", {"google_gemini", "azure_openai", "ollama"}),
        ("google_gemini azure_openai ollama anthropic openai", set()),
        ("all", set()),
        ("ALL", set()),
    ],
)
def test_disable_system_providers(env: Any, disabled: str, expected: set[str]) -> None:
    assert set(found(env(disabled, **ALL_VARS))) == expected


# --- Views, ids and credentials -----------------------------------------------------------


def test_system_provider_views_are_read_only_and_show_only_last4(env: Any) -> None:
    settings = env(ANTHROPIC_API_KEY="sk-ant-secret-value-9876")
    (anthropic,) = [
        p for p in system_providers.system_providers(settings) if p.provider_type == "anthropic"
    ]
    view = system_providers.to_view(anthropic, priority=5)

    assert (view.source, view.scope, view.owner, view.key_hint) == (
        "system",
        "system",
        "environment",
        "…9876",
    )
    assert view.instance_wide and view.status == "active"
    assert view.extra == {"env_vars": "ANTHROPIC_API_KEY"}
    assert "sk-ant-secret" not in repr(view) + repr(anthropic)
    assert system_credentials(settings, "anthropic").api_key == "sk-ant-secret-value-9876"
    assert system_credentials(settings, "openai") is None


def test_system_provider_ids_are_stable_across_starts(env: Any) -> None:
    first = {p.provider_type: p.id for p in system_providers.system_providers(env())}
    again = {
        p.provider_type: p.id
        for p in system_providers.system_providers(env(OLLAMA_BASE_URL="http://other:11434"))
    }
    assert first == again


# --- all_available_providers: records first, then uncovered system providers --------------


def test_records_by_priority_then_uncovered_system_providers(runtime: Runtime, env: Any) -> None:
    with runtime.sessions.begin() as s:
        admin, member, other = f.user(s, "boss", "admin"), f.user(s, "vera"), f.user(s, "olga")
        f.provider(s, member, "My OpenAI", priority=20)
        f.provider(
            s,
            admin,
            "Shared Claude",
            provider_type="anthropic",
            api_key="sk-ant-db-1",
            instance_wide=True,
            priority=10,
        )
        f.provider(
            s,
            member,
            "Idle Gemini",
            provider_type="google_gemini",
            api_key="g-db-1",
            status="inactive",
            priority=30,
        )
        # Not visible to vera, so it does not cover cohere for her.
        f.provider(s, other, "Olga's Cohere", provider_type="cohere", api_key="co-db-1", priority=1)
        member_id = member.id
    settings = env(
        OPENAI_API_KEY="sk-env",
        ANTHROPIC_API_KEY="sk-ant-env",
        COHERE_API_KEY="co-env",
        GOOGLE_API_KEY="g-env",
    )
    before = table_counts(runtime)

    with runtime.sessions() as s:
        listed = all_available_providers(s, user=s.get(User, member_id), settings=settings)

    assert [(v.name, v.source) for v in listed] == [
        ("Shared Claude", "database"),
        ("My OpenAI", "database"),
        ("Idle Gemini", "database"),
        ("Cohere (environment)", "system"),
        ("Ollama (environment)", "system"),
    ]
    assert [v.priority for v in listed] == sorted(v.priority for v in listed)
    assert table_counts(runtime) == before  # system providers are never persisted


def test_all_disabled_lists_only_records(runtime: Runtime, env: Any) -> None:
    with runtime.sessions.begin() as s:
        member = f.user(s, "vera")
        f.provider(s, member, "Mine")
    with runtime.sessions() as s:
        listed = all_available_providers(
            s, user=s.get(User, member.id), settings=env("all", OPENAI_API_KEY="sk-env")
        )
    assert [(v.name, v.source) for v in listed] == [("Mine", "database")]


def test_a_user_without_records_gets_the_system_providers(runtime: Runtime, env: Any) -> None:
    with runtime.sessions.begin() as s:
        member = f.user(s, "vera")
    before = table_counts(runtime)
    with runtime.sessions() as s:
        listed = all_available_providers(
            s, user=s.get(User, member.id), settings=env(ANTHROPIC_API_KEY="sk-ant-env-1234")
        )
    assert [(v.provider_type, v.key_hint) for v in listed] == [
        ("anthropic", "…1234"),
        ("ollama", None),
    ]
    assert table_counts(runtime) == before


def test_system_providers_carry_their_stored_health(runtime) -> None:
    """The Providers page shows a system provider's last check like a record's."""
    from core.store.tables import HealthState, utcnow

    settings = make_settings(
        "sqlite://",
        runtime.settings.data_dir,
        MODELDESK_DISABLE_SYSTEM_PROVIDERS="",
        OPENAI_API_KEY="sk-env-0000000000abcd",
    )
    with runtime.sessions.begin() as s:
        viewer = f.user(s, "viewer")
        openai = next(
            p for p in system_providers.system_providers(settings) if p.provider_type == "openai"
        )
        s.add(
            HealthState(
                provider_key=openai.id,
                status="degraded",
                consecutive_failures=1,
                last_checked_at=utcnow(),
            )
        )
    with runtime.sessions() as s:
        views = system_providers.all_available_providers(
            s, user=s.get(type(viewer), viewer.id), settings=settings
        )
        by_type = {v.provider_type: v for v in views if v.source == "system"}
        assert by_type["openai"].health_status == "degraded"
        assert by_type["openai"].last_health_check_at is not None
        assert by_type["ollama"].health_status == "unknown"
