"""The records a usage report names, looked up once per batch: provider by record name,
model record by (provider, model id), console user by username. ``preload`` looks up many
at once (three queries instead of one per name: a batch names dozens), leaving the same
answers in the same caches as the single lookups would."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.accounts import users
from core.store.tables import ModelRecord, Provider, User
from core.validation import name_key


class Resolver:
    """Provider, model record and user lookups, cached for one batch."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.providers: dict[str, list[Provider]] = {}
        self.records: dict[tuple[uuid.UUID, str], ModelRecord | None] = {}
        self.users: dict[str, Any] = {}

    def preload(
        self, providers: Iterable[str], targets: Iterable[tuple[str, str]], usernames: Iterable[str]
    ) -> None:
        """Look up these provider names, (provider name, model id) pairs and usernames
        together, as provider(), record() and user() would one by one."""
        self._preload_providers(providers)
        self._preload_records(targets)
        self._preload_users(usernames)

    def _preload_providers(self, names: Iterable[str]) -> None:
        for part in _parts({name_key(n) for n in names} - self.providers.keys()):
            found: dict[str, list[Provider]] = {key: [] for key in part}
            query = select(Provider).where(Provider.name_key.in_(part))
            for provider in self.session.scalars(query.order_by(Provider.created_at)):
                found[provider.name_key].append(provider)
            self.providers.update(found)

    def _preload_records(self, targets: Iterable[tuple[str, str]]) -> None:
        wanted: set[tuple[uuid.UUID, str]] = set()
        for name, model_id in targets:
            matches = self.providers.get(name_key(name), [])
            if len(matches) == 1 and (matches[0].id, model_id) not in self.records:
                wanted.add((matches[0].id, model_id))
        provider_ids = {provider_id for provider_id, _ in wanted}
        for part in _parts({model_id for _, model_id in wanted}):
            query = select(ModelRecord).where(
                ModelRecord.provider_id.in_(provider_ids), ModelRecord.model_id.in_(part)
            )
            for record in self.session.scalars(query):
                if (record.provider_id, record.model_id) in wanted:
                    self.records[(record.provider_id, record.model_id)] = record
        for pair in wanted:
            self.records.setdefault(pair, None)

    def _preload_users(self, usernames: Iterable[str]) -> None:
        by_key: dict[str, list[str]] = {}
        for username in set(usernames) - self.users.keys():
            by_key.setdefault(username.strip().casefold(), []).append(username)
        for part in _parts(by_key):
            for key in part:
                self.users.update(dict.fromkeys(by_key[key]))
            for user in self.session.scalars(select(User).where(User.username_key.in_(part))):
                self.users.update(dict.fromkeys(by_key[user.username_key], user))

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


def _parts(values: Iterable[str]) -> list[list[str]]:
    """The values in lists of at most 500 (bound parameters per IN list)."""
    items = sorted(values)
    return [items[i : i + 500] for i in range(0, len(items), 500)]
