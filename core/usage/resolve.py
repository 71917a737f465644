"""The records a usage report names, looked up once per batch: provider by record name,
model record by (provider, model id), console user by username."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.accounts import users
from core.store.tables import ModelRecord, Provider
from core.validation import name_key


class Resolver:
    """Provider, model record and user lookups, cached for one batch."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.providers: dict[str, list[Provider]] = {}
        self.records: dict[tuple[uuid.UUID, str], ModelRecord | None] = {}
        self.users: dict[str, Any] = {}

    def provider(self, name: str) -> Provider | str:
        """The provider record of this name, or why there is none to use."""
        key = name_key(name)
        if key not in self.providers:
            self.providers[key] = list(
                self.session.scalars(
                    select(Provider).where(Provider.name_key == key).order_by(Provider.created_at)
                )
            )
        found = self.providers[key]
        if not found:  # quoted clipped: the name is whatever a file or a form said
            return f"no provider record is named {name[:100]!r}" + ("…" if len(name) > 100 else "")
        if len(found) > 1:
            return (
                f"{len(found)} provider records are named {name!r} (different owners); "
                "rename one so usage can name it"
            )
        return found[0]

    def record(self, provider: Provider, model_id: str) -> ModelRecord | None:
        """The provider's model record of this model id, if there is one."""
        key = (provider.id, model_id)
        if key not in self.records:
            self.records[key] = self.session.scalar(
                select(ModelRecord).where(
                    ModelRecord.provider_id == provider.id, ModelRecord.model_id == model_id
                )
            )
        return self.records[key]

    def user(self, username: str) -> Any:
        """The console user of this username, or None."""
        if username not in self.users:
            self.users[username] = users.get_by_username(self.session, username)
        return self.users[username]
