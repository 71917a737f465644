"""MODELDESK_ENV=production: refuses to start without an explicit, strong secret key or with
the SQLite file in the default folder (one clear line, exit 1, no traceback, the key never
echoed), through the real `modeldesk` command and the real `streamlit run app.py`; a good
start logs its effective settings without secrets and hides error details in the browser."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from streamlit import config as st_config
from streamlit.testing.v1 import AppTest

from core.config import (
    PROJECT_ROOT,
    describe,
    load_settings,
    requested_environment,
    secret_key_weakness,
)
from core.errors import ConfigurationError
from pages import _ui
from tests.support.browser import free_port
from tests.support.console import APP, navigation_mode

ROOT = Path(__file__).resolve().parent.parent
STRONG = secrets.token_urlsafe(48)
WEAK_KEYS = {
    "short": "Zq8-kP2x_Lm4",
    "repetitive": "ab" * 24,
    "placeholder": "please-Change-me-before-going-live-9f3Kx7Qp",
}


def _environ(**extra: str | None) -> dict[str, str]:
    """The process environment without Modeldesk's or a provider's settings, plus extra."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MODELDESK_", "AWS_", "STREAMLIT_")) and not k.endswith("_API_KEY")
    }
    env.update({"PYTHONPATH": str(ROOT), "MODELDESK_DISABLE_SYSTEM_PROVIDERS": "all"})
    env.update({k: v for k, v in extra.items() if v is not None})
    return env


def _refusals(tmp_path: Path) -> dict[str, tuple[dict[str, str], str]]:
    """Each unsafe production environment and the setting its refusal must name."""
    data = str(tmp_path / "prod-data")
    cases: dict[str, tuple[dict[str, str], str]] = {
        "no-key": ({"MODELDESK_DATA_DIR": data}, "MODELDESK_SECRET_KEY is not set"),
        "default-data-dir": ({"MODELDESK_SECRET_KEY": STRONG}, "MODELDESK_DATA_DIR is not set"),
    }
    for name, key in WEAK_KEYS.items():
        cases[f"weak-{name}"] = (
            {"MODELDESK_SECRET_KEY": key, "MODELDESK_DATA_DIR": data},
            "MODELDESK_SECRET_KEY is too weak",
        )
    return {
        name: (_environ(MODELDESK_ENV="production", **env), said)
        for name, (env, said) in cases.items()
    }


CASES = ["no-key", "default-data-dir", *(f"weak-{n}" for n in WEAK_KEYS)]


def _one_clear_line(output: str, said: str, env: dict[str, str]) -> None:
    lines = [line for line in output.splitlines() if line.startswith("modeldesk: error: ")]
    assert len(lines) == 1, output
    assert said in lines[0] and "MODELDESK_ENV=production" in lines[0], lines[0]
    assert "Traceback" not in output and "internal error" not in output, output
    key = env.get("MODELDESK_SECRET_KEY")
    assert not key or key not in output  # the refused key is never echoed


# --- the rules ------------------------------------------------------------------------------


@pytest.mark.parametrize("key", WEAK_KEYS.values(), ids=list(WEAK_KEYS))
def test_weak_keys_are_named_weak_without_being_quoted(key: str) -> None:
    reason = secret_key_weakness(key)
    assert reason and key not in reason


def test_generated_keys_are_strong() -> None:
    assert all(secret_key_weakness(secrets.token_urlsafe(48)) is None for _ in range(200))


def test_every_problem_is_named_at_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings({"MODELDESK_ENV": "production"}, secrets_file=None)
    message = str(caught.value)
    assert "MODELDESK_SECRET_KEY is not set" in message and "MODELDESK_DATA_DIR" in message
    assert str(PROJECT_ROOT / "data") in message and "secrets.token_urlsafe" in message
    assert len(message.splitlines()) == 1


def test_production_accepts_explicit_settings(tmp_path: Path) -> None:
    explicit_dir = {"MODELDESK_DATA_DIR": str(PROJECT_ROOT / "data")}  # the default, but said
    postgres = {"MODELDESK_DATABASE_URL": "postgresql://md:pw@db/md"}  # no data folder needed
    for extra in (explicit_dir, postgres):
        env = {"MODELDESK_ENV": "production", "MODELDESK_SECRET_KEY": STRONG, **extra}
        assert load_settings(env, secrets_file=None).production


def test_development_keeps_its_conveniences() -> None:
    settings = load_settings({"MODELDESK_SECRET_KEY": "Zq8-kP2x_Lm4ab9Z"}, secrets_file=None)
    assert settings.environment == "development" and settings.data_dir == PROJECT_ROOT / "data"


def test_described_settings_hold_no_secret() -> None:
    env = {
        "MODELDESK_ENV": "production",
        "MODELDESK_SECRET_KEY": STRONG,
        "MODELDESK_RETIRED_SECRET_KEYS": "old-Zq8kP2xLm4-retired-0001",
        "MODELDESK_ADMIN_USERNAME": "root",
        "MODELDESK_ADMIN_PASSWORD": "pw-CANARY-9182",
        "MODELDESK_DATABASE_URL": "postgresql://md:db-CANARY-7734@db:5432/md",
    }
    shown = dict(describe(load_settings(env, secrets_file=None)))
    text = repr(shown)
    for secret in (STRONG, "old-Zq8kP2xLm4", "pw-CANARY-9182", "db-CANARY-7734"):
        assert secret not in text
    assert shown["MODELDESK_SECRET_KEY"] == "set" and shown["MODELDESK_ADMIN_PASSWORD"] == "set"
    assert shown["MODELDESK_DATABASE_URL"] == "postgresql://md:***@db:5432/md"
    assert shown["MODELDESK_RETIRED_SECRET_KEYS"] == "1 set"


# --- the real command -----------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_the_cli_refuses_an_unsafe_production_start(case: str, tmp_path: Path) -> None:
    env, said = _refusals(tmp_path)[case]
    done = subprocess.run(
        [sys.executable, "-m", "core.cli", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    _one_clear_line(done.stderr, said, env)
    assert not (tmp_path / "prod-data").exists()  # refused before anything was created


# --- the real server ------------------------------------------------------------------------


def _streamlit(env: dict[str, str], port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(ROOT / "app.py"),
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.parametrize("case", CASES)
def test_the_server_refuses_an_unsafe_production_start(case: str, tmp_path: Path) -> None:
    env, said = _refusals(tmp_path)[case]
    proc = _streamlit(env, free_port())
    try:
        output, _ = proc.communicate(timeout=90)
    finally:
        proc.kill()
    assert proc.returncode == 1, output
    _one_clear_line(output, said, env)
    assert not (tmp_path / "prod-data").exists()


def test_an_unreadable_secrets_file_counts_as_production(tmp_path: Path) -> None:
    broken = tmp_path / "secrets.toml"
    broken.write_text('MODELDESK_ENV = "development\n')  # an unterminated string
    with pytest.raises(ConfigurationError):
        load_settings({}, secrets_file=broken)
    assert requested_environment({}, secrets_file=broken) == "production"
    said = {"MODELDESK_ENV": "development"}  # the environment wins over the file
    assert requested_environment(said, secrets_file=broken) == "development"


def test_a_mistyped_environment_stops_the_server_rather_than_run_laxer(tmp_path: Path) -> None:
    """MODELDESK_ENV=prod is neither production nor development: a server that meant to be
    production must not start as development (with a generated key and error details)."""
    assert requested_environment({"MODELDESK_ENV": "prod"}, secrets_file=None) == "production"
    assert requested_environment({}, secrets_file=None) == "development"
    env = _environ(MODELDESK_ENV="prod", MODELDESK_DATA_DIR=str(tmp_path / "prod-data"))
    proc = _streamlit(env, free_port())
    try:
        output, _ = proc.communicate(timeout=90)
    finally:
        proc.kill()
    assert proc.returncode == 1, output
    assert "modeldesk: error: MODELDESK_ENV must be development, production or test" in output
    assert "Traceback" not in output and not (tmp_path / "prod-data").exists()


def test_a_production_server_logs_its_settings_and_hides_error_details(tmp_path: Path) -> None:
    password = "pw-CANARY-5531"
    env = _environ(
        MODELDESK_ENV="production",
        MODELDESK_SECRET_KEY=STRONG,
        MODELDESK_DATA_DIR=str(tmp_path / "prod-data"),
        MODELDESK_ADMIN_USERNAME="root",
        MODELDESK_ADMIN_PASSWORD=password,
        STREAMLIT_CLIENT_SHOW_ERROR_DETAILS="full",  # production overrides it
    )
    port = free_port()
    proc = _streamlit(env, port)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health") as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "no healthy start"
            time.sleep(0.25)
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=30)
    assert "modeldesk:   MODELDESK_ENV=production" in output, output
    assert "modeldesk:   MODELDESK_SECRET_KEY=set" in output
    assert "modeldesk:   MODELDESK_ADMIN_PASSWORD=set" in output
    assert f"modeldesk:   MODELDESK_DATA_DIR={tmp_path / 'prod-data'}" in output
    assert "modeldesk:   client.showErrorDetails=none" in output
    assert STRONG not in output and password not in output and "Traceback" not in output


def test_every_production_page_view_hides_error_details(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Set per run too: a config.toml reload resets options to the file's or the default."""
    navigation_mode(monkeypatch)
    for name in list(os.environ):
        if name.startswith(("MODELDESK_", "AWS_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MODELDESK_ENV", "production")
    monkeypatch.setenv("MODELDESK_SECRET_KEY", STRONG)
    monkeypatch.setenv("MODELDESK_DATA_DIR", str(tmp_path / "prod-data"))
    monkeypatch.setenv("MODELDESK_DISABLE_SYSTEM_PROVIDERS", "all")
    monkeypatch.setenv("MODELDESK_HEALTH_INTERVAL", "0")
    before = st_config.get_option("client.showErrorDetails")
    st_config.set_option("client.showErrorDetails", "full")
    try:
        at = AppTest.from_file(APP, default_timeout=30).run()
        assert not at.exception
        assert st_config.get_option("client.showErrorDetails") == "none"
    finally:
        st_config.set_option("client.showErrorDetails", before)
        _ui._open.clear()
