"""What the import and export tests share: a sample document, canary secrets, running an
import or an export as a user, and the text of a refused import (which must write nothing).
"""

from __future__ import annotations

import dataclasses
from types import MappingProxyType
from typing import Any

import pytest
from sqlalchemy import func, select

from core.accounts import users
from core.records import exporter, importer
from core.records.importer import DocumentError
from core.startup import Runtime
from core.store.tables import AuditEvent, ModelRecord, Provider

CANARY_KEY = "sk-CANARY-key-7f3a9c1e5b2d"
CANARY_TOKEN = "CANARY-token-0d9e8f7a6b5c"

DOC_YAML = """
providers:
  - name: OpenAI prod
    provider_type: openai
    api_key: sk-import-0000000000001234
    provider_config: {base_url: "https://proxy.example.com/v1"}
    priority: 5
  - name: Local Ollama
    provider_type: ollama
    status: inactive
models:
  - name: GPT-4o
    model_id: gpt-4o
    provider: OpenAI prod
    input_cost_per_million: "2.5"
    output_cost_per_million: 10
    cache_read_cost_per_million: 1.25
    context_window: 128000
    model_config: {temperature: 0.2, max_tokens: 4096}
  - model_id: nomic-embed-text
    provider: local ollama
    model_type: embedding
"""


def counts(runtime: Runtime) -> tuple[int, int, int]:
    """How many providers, models and audit events the database holds."""
    with runtime.sessions() as s:
        return tuple(
            s.scalar(select(func.count()).select_from(t))  # type: ignore[return-value]
            for t in (Provider, ModelRecord, AuditEvent)
        )


def with_env(runtime: Runtime, **env: str):  # noqa: ANN202
    """The runtime's settings with these extra environment variables."""
    return dataclasses.replace(
        runtime.settings, environ=MappingProxyType({**runtime.settings.environ, **env})
    )


def run_import(
    runtime: Runtime,
    doc: Any,
    username: str = "admin",
    *,  # noqa: ANN202
    allow_env: tuple[str, ...] = (),
    **env: str,
):
    """Plan and apply doc as username (with extra environment variables), committed."""
    with runtime.sessions.begin() as s:
        actor = users.require_user(s, username)
        plan = importer.plan_import(
            s, actor=actor, document=doc, settings=with_env(runtime, **env), allow_env=allow_env
        )
        return importer.apply_import(s, actor=actor, plan=plan)


def export_as(runtime: Runtime, username: str = "admin") -> exporter.ExportDocument:
    """The export document username gets."""
    with runtime.sessions() as s:
        return exporter.export_document(s, actor=users.require_user(s, username))


def refusal(
    runtime: Runtime,
    doc: Any,
    username: str = "admin",
    *,
    allow_env: tuple[str, ...] = (),
    **env: str,
) -> str:
    """The DocumentError text of a refused import, checking that nothing was written."""
    before = counts(runtime)
    with pytest.raises(DocumentError) as info:
        run_import(runtime, doc, username, allow_env=allow_env, **env)
    assert counts(runtime) == before, "a refused import must write nothing"
    return str(info.value)
