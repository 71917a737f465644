"""A provider's credentials for an adapter call: the one way plaintext secrets leave storage.

``provider_credentials`` opens a stored provider's key and config (for adapters only: never
rendered, logged or stored), and an adapter's call target is made from credentials in one
place, ``target_from_credentials`` (stored providers, the environment's system providers and
values typed into a form alike).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from core import catalog
from core.adapters.base import Target
from core.errors import ConfigurationError
from core.records.providers import load_provider
from core.store import vault


@dataclass(frozen=True)
class Credentials:
    """What an adapter needs to call a provider. Never rendered, logged or stored."""

    provider_type: str
    api_key: str | None
    config: Mapping[str, Any]
    base_url: str | None

    def __repr__(self) -> str:
        return f"Credentials({self.provider_type}, base_url={self.base_url!r}, api_key=***)"


def provider_credentials(session: Session, provider_id: uuid.UUID | str) -> Credentials:
    """Decrypted key, config and effective base URL, for an adapter call only."""
    provider = load_provider(session, provider_id)
    config = vault.open_json(session, provider, "provider_config_enc")
    ptype = catalog.get_provider_type(provider.provider_type)
    return Credentials(
        provider_type=ptype.id,
        api_key=vault.open_text(session, provider, "api_key_enc"),
        config=config,
        base_url=ptype.base_url_for(config),
    )


def target_from_credentials(creds: Credentials) -> Target:
    """The adapter's call target of a provider's credentials (stored, from the environment
    or typed into a form); ConfigurationError when no endpoint is known."""
    if not creds.base_url:
        label = catalog.get_provider_type(creds.provider_type).label
        raise ConfigurationError(
            f"No endpoint is known for this {label} provider: "
            "set its base URL or the fields the URL is built from."
        )
    return Target(
        provider_type=creds.provider_type,
        base_url=creds.base_url,
        api_key=creds.api_key or None,
        config=dict(creds.config),
    )
