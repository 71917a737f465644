"""Small builders for test data (real services, real database)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from core import llm_models, providers, users
from core.models import ModelRecord, Provider, User

PASSWORD = "correct-horse-42"


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


def model(session: Session, actor: User, prov: Provider, model_id: str = "gpt-4o",
          **kw: Any) -> ModelRecord:
    """Create a model on prov owned by actor."""
    kw.setdefault("name", model_id)
    return llm_models.create_model(session, actor=actor, provider_id=prov.id, model_id=model_id,
                                   **kw)
