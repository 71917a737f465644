"""System providers: providers that come from environment variables, never stored.

They are never persisted. Which variables make which provider is catalog data
(``api_key_env``, ``base_url_env``, ``system``); this module only reads them through
``Settings.environ`` and decides precedence in one place, ``merge_available``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import catalog
from core.accounts import audit
from core.accounts.viewer import Actor
from core.adapters.base import Target
from core.config import Settings
from core.errors import ValidationError
from core.records.credentials import Credentials, target_from_credentials
from core.records.providers import ProviderView, list_providers
from core.store.tables import HealthState
from core.validation import PRIORITY_MAX, check_api_key, check_base_url

log = logging.getLogger(__name__)

_NAMESPACE = uuid.UUID("6f1d7a52-3c1e-4a8e-9d0b-5b8f2b1f0c11")
SYSTEM_PRIORITY = PRIORITY_MAX + 1  # after every stored record


@dataclass(frozen=True)
class SystemProvider:
    """A provider defined by the environment. ``api_key`` never leaves core."""

    provider_type: str
    label: str
    api_key: str | None = field(repr=False)
    base_url: str | None
    env_vars: tuple[str, ...]

    @property
    def id(self) -> uuid.UUID:
        """A stable id, so health history can refer to it across restarts."""
        return uuid.uuid5(_NAMESPACE, f"system:{self.provider_type}")

    @property
    def config(self) -> dict[str, Any]:
        """The provider_config equivalent: the base URL override if one is set."""
        return {"base_url": self.base_url} if self.base_url else {}


def _first(environ: Any, names: Sequence[str]) -> tuple[str | None, str | None]:
    for name in names:
        value = environ.get(name, "")
        if value.strip():
            return name, value.strip()
    return None, None


def system_providers(settings: Settings) -> list[SystemProvider]:
    """Every system provider the environment defines, minus the disabled types."""
    disabled = settings.disabled_system_providers
    if "all" in disabled:
        return []
    found = []
    for ptype in catalog.provider_types():
        if ptype.id in disabled or (
            not ptype.api_key_env
            and not ptype.base_url_env
            and not ptype.system.default_without_env
        ):
            continue
        key_var, key = _first(settings.environ, ptype.api_key_env)
        url_var, url = _first(settings.environ, ptype.base_url_env)
        if key is None and url is None and not ptype.system.default_without_env:
            continue
        if ("api_key" in ptype.system.requires and key is None) or (
            "base_url" in ptype.system.requires and url is None
        ):
            continue
        try:
            key = check_api_key(key) if key is not None else None
            url = check_base_url(url) if url is not None else None
        except ValidationError as exc:  # say which variable, never its value
            log.warning(
                "Ignoring system provider %s: %s (%s)",
                ptype.id,
                exc,
                key_var if exc.field == "api_key" else url_var,
            )
            continue
        found.append(
            SystemProvider(
                provider_type=ptype.id,
                label=f"{ptype.label} (environment)",
                api_key=key,
                base_url=url or ptype.base_url_for({}),
                env_vars=tuple(v for v in (key_var, url_var) if v),
            )
        )
    return found


def to_view(system: SystemProvider, *, priority: int) -> ProviderView:
    """The listing view of a system provider (read-only, source 'system')."""
    return ProviderView(
        id=system.id,
        name=system.label,
        provider_type=system.provider_type,
        type_label=catalog.get_provider_type(system.provider_type).label,
        key_hint=audit.last4(system.api_key) or None,
        config=system.config,
        needs_reentry=False,
        instance_wide=True,
        scope="system",
        status="active",
        priority=priority,
        owner_id=None,
        owner="environment",
        health_status="unknown",
        last_health_check_at=None,
        created_at=None,
        updated_at=None,
        version=0,
        source="system",
        base_url=system.base_url,
        extra={"env_vars": ", ".join(system.env_vars) or "built-in default"},
    )


def merge_available(
    records: Sequence[ProviderView], system: Sequence[SystemProvider]
) -> list[ProviderView]:
    """The one precedence rule: stored records first (by priority), then each system
    provider whose type no stored record covers; a type's own default endpoint applies
    only when neither a record's base_url nor an environment variable overrides it."""
    ordered = sorted(records, key=lambda v: (v.priority, v.name.casefold(), str(v.id)))
    covered = {v.provider_type for v in ordered}
    extra = [
        to_view(s, priority=SYSTEM_PRIORITY + i)
        for i, s in enumerate(s for s in system if s.provider_type not in covered)
    ]
    return [*ordered, *extra]


def all_available_providers(
    session: Session, *, user: Actor, settings: Settings
) -> list[ProviderView]:
    """The user's visible records by priority, then system providers of a type none of
    those records has,
        the latter with their last stored health check (they have no record to carry it)."""
    views = merge_available(list_providers(session, user=user), system_providers(settings))
    keys = [v.id for v in views if v.source == "system"]
    states = (
        {
            s.provider_key: s
            for s in session.scalars(select(HealthState).where(HealthState.provider_key.in_(keys)))
        }
        if keys
        else {}
    )
    return [
        replace(
            v, health_status=states[v.id].status, last_health_check_at=states[v.id].last_checked_at
        )
        if v.id in states
        else v
        for v in views
    ]


def system_credentials(settings: Settings, provider_type: str) -> SystemProvider | None:
    """The system provider of a type (with its key), for an adapter call only."""
    for system in system_providers(settings):
        if system.provider_type == provider_type:
            return system
    return None


def target_from_system(system: SystemProvider) -> Target:
    """The adapter's call target of an environment-defined provider (its override, else the
    type's default endpoint); ConfigurationError when no endpoint is known."""
    ptype = catalog.get_provider_type(system.provider_type)
    return target_from_credentials(
        Credentials(
            provider_type=system.provider_type,
            api_key=system.api_key,
            config=system.config,
            base_url=system.base_url or ptype.base_url_for(system.config),
        )
    )
