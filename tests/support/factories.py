"""Small builders for test data (real services, real database)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from core.accounts import users
from core.records import model_records, providers
from core.startup import Runtime
from core.store.tables import AuditEvent, Base, ModelRecord, Provider, User

PASSWORD = "correct-horse-42"
LIVE_KEY = "sk-live-abcdefghijklmnop1234"  # an API key the key checks accept


def user(session: Session, username: str, role: str = "member") -> User:
    """Create and flush a user."""
    u = users.create_user(session, username=username, password=PASSWORD, role=role)
    session.flush()
    return u


def provider(session: Session, actor: User, name: str = "OpenAI", **kw: Any) -> Provider:
    """Create an OpenAI provider (overridable) owned by actor."""
    kw.setdefault("provider_type", "openai")
    kw.setdefault("api_key", "sk-test-000000000000")
    return providers.create_provider(session, actor=actor, name=name, **kw)


def model(
    session: Session, actor: User, prov: Provider, model_id: str = "gpt-4o", **kw: Any
) -> ModelRecord:
    """Create a model on prov owned by actor."""
    kw.setdefault("name", model_id)
    return model_records.create_model(
        session, actor=actor, provider_id=prov.id, model_id=model_id, **kw
    )


def table_counts(runtime: Any) -> dict[str, int]:
    """Rows in every table, read in a fresh session (to prove nothing was written)."""
    with runtime.sessions() as s:
        return {
            t.name: s.scalar(select(func.count()).select_from(t))
            for t in Base.metadata.sorted_tables
        }


def events(runtime: Any, action: str) -> list[AuditEvent]:
    """Audit events of one action, oldest first."""
    with runtime.sessions() as s:
        return list(
            s.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.at))
        )


@contextmanager
def counting(runtime: Runtime | None = None) -> Iterator[list[str]]:
    """The SQL statements the runtime's engine runs inside the block; without a runtime,
    every engine's (a page under AppTest opens its own)."""
    from sqlalchemy.engine import Engine

    target: Any = Engine if runtime is None else runtime.engine
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(target, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(target, "before_cursor_execute", count)
