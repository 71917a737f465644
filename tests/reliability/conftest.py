"""Shared fixtures of the reliability suite."""

from __future__ import annotations

import pytest

from core.startup import Runtime
from tests.support import factories as f


@pytest.fixture
def world(runtime: Runtime) -> Runtime:
    """boss (admin) with one OpenAI provider and one model."""
    with runtime.sessions.begin() as s:
        boss = f.user(s, "boss", "admin")
        prov = f.provider(s, boss, "OpenAI")
        s.flush()
        f.model(s, boss, prov, "gpt-4o")
    return runtime
