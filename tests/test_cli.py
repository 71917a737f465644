"""The modeldesk command, run in-process through main() on SQLite and PostgreSQL: parsing,
errors and exit codes, the database commands, create-admin, bootstrap and rotate-keys
(records, listings and models best: test_cli_records.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from core import cli
from core.accounts import users
from core.startup import Runtime
from tests.support.cli import CANARY_KEY, Run, plant_canaries


def _command_paths(
    parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()
) -> list[tuple[str, ...]]:
    """Every (sub)command path of the parser: the help test derives from the parser itself."""
    paths = [prefix]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                paths += _command_paths(sub, (*prefix, name))
    return paths


# --- Parsing and error handling (no database) -------------------------------------------


@pytest.mark.parametrize("path", _command_paths(cli.build_parser()), ids=" ".join)
def test_help_for_every_command(path: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([*path, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: modeldesk") and len(out.splitlines()) > 3


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["no-such-command"]) == 2
    assert cli.main([]) == 2
    assert cli.main(["export", "--format", "toml"]) == 2
    assert "usage:" in capsys.readouterr().err


def test_unexpected_error_is_one_line_and_debug_shows_traceback(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def boom(args: argparse.Namespace, settings: object) -> int:
        raise RuntimeError(f"internal detail {CANARY_KEY}")

    env.setattr(cli.db, "cmd_db_current", boom)
    assert cli.main(["db", "current"]) == 1
    err = capsys.readouterr().err
    assert err == (
        "modeldesk: internal error (RuntimeError); run with MODELDESK_DEBUG=1 for details\n"
    )
    env.setenv("MODELDESK_DEBUG", "1")
    assert cli.main(["db", "current"]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_keyboard_interrupt_exits_130(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(args: argparse.Namespace, settings: object) -> int:
        raise KeyboardInterrupt

    env.setattr(cli.db, "cmd_db_current", interrupted)
    assert cli.main(["db", "current"]) == 130
    assert "Traceback" not in capsys.readouterr().err


# --- Database commands ------------------------------------------------------------------


def test_db_current_and_upgrade(run: Run) -> None:
    code, out, _ = run("db", "current")
    assert code == 0 and "up to date" in out
    code, out, _ = run("db", "upgrade")
    assert code == 0 and "revision" in out


def test_error_is_one_line_with_exit_code_1(run: Run, admin: str) -> None:
    code, out, err = run("providers", "list", "--as", "nobody")
    assert code == 1 and out == ""
    assert err == "modeldesk: error: There is no user named 'nobody'.\n"


def test_no_admin_yet_is_a_clear_error(run: Run) -> None:
    code, _, err = run("providers", "list")
    assert code == 1 and "create-admin" in err and len(err.splitlines()) == 1


def test_create_admin_from_stdin(run: Run, runtime: Runtime) -> None:
    code, out, err = run(
        "create-admin",
        "--username",
        "root",
        "--display-name",
        "Root",
        "--email",
        "root@example.com",
        stdin="a-good-password-1\n",
    )
    assert code == 0, err
    assert "Created admin root" in out and "a-good-password-1" not in out + err
    with runtime.sessions() as s:
        user = users.require_user(s, "root")
        assert user.role == "admin" and user.email == "root@example.com"
        assert users.verify_password("a-good-password-1", user.password_hash)


def test_create_admin_from_environment(run: Run, env: pytest.MonkeyPatch, runtime: Runtime) -> None:
    env.setenv("MODELDESK_ADMIN_PASSWORD", "env-password-2024")
    code, _, err = run("create-admin", "--username", "envadmin", stdin="")
    assert code == 0 and "MODELDESK_ADMIN_PASSWORD" in err
    with runtime.sessions() as s:
        assert users.verify_password(
            "env-password-2024", users.require_user(s, "envadmin").password_hash
        )


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        ("é" * 37, "longer than 72 bytes"),  # 37 characters, 74 bytes
        ("short1", "at least 10 characters"),
        ("onlyletters", "not be only letters"),
    ],
)
def test_create_admin_refuses_bad_passwords(
    run: Run, runtime: Runtime, password: str, expected: str
) -> None:
    code, out, err = run("create-admin", "--username", "root", stdin=password + "\n")
    assert code == 1 and out == ""
    assert err.startswith("modeldesk: error: ") and len(err.splitlines()) == 1
    assert expected in err and "at most 72 bytes" in err  # the rules are printed
    assert password not in err
    with runtime.sessions() as s:
        assert users.get_by_username(s, "root") is None


# --- Bootstrap and rotation --------------------------------------------------------------


def test_bootstrap_creates_admin_and_lists_system_providers(
    run: Run, runtime: Runtime, env: pytest.MonkeyPatch
) -> None:
    env.setenv("MODELDESK_ADMIN_USERNAME", "boot")
    env.setenv("MODELDESK_ADMIN_PASSWORD", "boot-password-42")
    env.setenv("MODELDESK_DISABLE_SYSTEM_PROVIDERS", "ollama")
    env.setenv("GROQ_API_KEY", CANARY_KEY)
    code, out, err = run("bootstrap")
    assert code == 0, err
    assert "created boot" in out and "Bedrock from AWS_BEARER_TOKEN_BEDROCK: not configured" in out
    groq = next(line for line in out.splitlines() if line.startswith("groq "))
    assert "GROQ_API_KEY" in groq and "…9c0d" in groq and "https://" in groq
    assert "CANARY" not in out + err
    code, out, _ = run("bootstrap")
    assert code == 0 and "nothing to do" in out
    with runtime.sessions() as s:
        assert users.require_user(s, "boot").role == "admin"


def test_rotate_keys_command(run: Run, runtime: Runtime, admin: str) -> None:
    pytest.importorskip("core.store.rotation")
    plant_canaries(runtime)
    code, out, err = run("rotate-keys", "--batch-size", "10")
    assert code == 0, err
    assert "Re-encrypted" in out and "CANARY" not in out + err


def test_rotate_keys_exits_non_zero_while_a_retired_key_is_still_used(
    run: Run, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    rotation = pytest.importorskip("core.store.rotation")
    monkeypatch.setattr(
        rotation,
        "rotate_keys",
        lambda *a, **k: rotation.RotationReport(
            reencrypted=3, retired_still_used={"00aa11bb22cc33dd": 1}
        ),
    )
    code, out, _ = run("rotate-keys")
    assert code == 1
    assert "00aa11bb22cc33dd is still used" in out and "run rotate-keys again" in out


def test_unmigrated_database_then_db_upgrade(
    env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    assert cli.main(["providers", "list", "--database-url", url]) == 1
    err = capsys.readouterr().err
    assert err.startswith("modeldesk: error: ") and "modeldesk db upgrade" in err
    assert cli.main(["--database-url", url, "db", "upgrade"]) == 0
    assert "revision" in capsys.readouterr().out
    assert cli.main(["--database-url", url, "db", "current"]) == 0
    assert "up to date" in capsys.readouterr().out


def test_unreachable_database_is_one_line_without_password(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = "postgresql://someone:pw-CANARY@127.0.0.1:1/nowhere"
    assert cli.main(["--database-url", url, "providers", "list"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("modeldesk: error: Cannot use the database") and "***" in err
    assert len(err.splitlines()) == 1 and "CANARY" not in err
