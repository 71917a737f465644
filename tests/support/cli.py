"""The modeldesk command's test fixtures: a clean process environment and ``run``, which
calls ``core.cli.main`` in-process against the test's database (SQLite or PostgreSQL)."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from core import cli
from core.accounts import users
from core.startup import Runtime
from tests.conftest import TEST_SECRET
from tests.support import factories as f

CANARY_KEY = "sk-CANARY-cli-5e6f7a8b9c0d"
CANARY_TOKEN = "CANARY-cli-token-1a2b3c4d"
Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """A clean process environment with the test secret (what the CLI reads at start)."""
    for name in list(os.environ):
        if name.startswith(("MODELDESK_", "AWS_")) or name.endswith(("_API_KEY", "_BASE_URL")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MODELDESK_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("MODELDESK_ENV", "test")
    monkeypatch.setenv("MODELDESK_DATA_DIR", str(tmp_path / "cli-data"))
    monkeypatch.setenv("MODELDESK_DISABLE_SYSTEM_PROVIDERS", "all")
    return monkeypatch


@pytest.fixture
def run(runtime: Runtime, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    """main(['--database-url', <the fixture's database>, *args]) -> (code, stdout, stderr)."""
    url = runtime.settings.database_url

    def _run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
        capsys.readouterr()
        if stdin is not None:
            env.setattr("sys.stdin", io.StringIO(stdin))
        code = cli.main(["--database-url", url, *args])
        out, err = capsys.readouterr()
        return code, out, err

    return _run


def plant_canaries(runtime: Runtime) -> None:
    """A provider and a model whose key and config hold canaries no output may show."""
    with runtime.sessions.begin() as s:
        actor = users.require_user(s, "admin")
        prov = f.provider(
            s,
            actor,
            name="Canary",
            api_key=CANARY_KEY,
            provider_type="litellm",
            provider_config={"base_url": "https://llm.example.com", "token": CANARY_TOKEN},
        )
        f.model(s, actor, prov, "canary-model", model_config={"token": CANARY_TOKEN})
