"""Who is acting: the ``Actor`` that access checks and audit rows read, and the ``Viewer``
value pages hold for the signed-in user instead of a database row.

Core services take an ``Actor``: a ``Viewer`` (pages) or a loaded ``User`` row (the CLI,
bootstrap, tests) both fit, since a check only reads who it is and what they may do. A
service that changes an account (its password, role or sessions) takes the ``User`` row.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Protocol

from core.store.tables import User


class Actor(Protocol):
    """The acting or viewing user as access checks and audit rows read them."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def username(self) -> str: ...

    @property
    def role(self) -> str: ...

    @property
    def active(self) -> bool: ...

    @property
    def is_admin(self) -> bool: ...


@dataclass(frozen=True)
class Viewer:
    """The signed-in user as pages see them: a plain value, read when the page loaded it."""

    id: uuid.UUID
    username: str
    display_name: str
    email: str | None
    role: str
    active: bool
    is_admin: bool

    @classmethod
    def of(cls, user: User) -> Viewer:
        """The value of a loaded user row (``is_admin`` as the row decides it)."""
        return cls(
            id=user.id,
            username=user.username,
            display_name=user.display_name,
            email=user.email,
            role=user.role,
            active=user.active,
            is_admin=user.is_admin,
        )
