"""The modeldesk command, run in-process through main() on SQLite and PostgreSQL."""

from __future__ import annotations

import argparse
import io
import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core import cli
from core.accounts import users
from core.startup import Runtime
from core.store.tables import AuditEvent, ModelRecord, Provider
from tests.conftest import TEST_SECRET
from tests.support import factories as f

CANARY_KEY = "sk-CANARY-cli-5e6f7a8b9c0d"
CANARY_TOKEN = "CANARY-cli-token-1a2b3c4d"
Run = Callable[..., tuple[int, str, str]]

DOC = """
providers:
  - name: OpenAI prod
    provider_type: openai
    api_key: ${CLI_OPENAI_KEY}
models:
  - model_id: gpt-4o
    provider: OpenAI prod
    input_cost_per_million: "2.5"
"""


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


def _counts(runtime: Runtime) -> tuple[int, ...]:
    with runtime.sessions() as s:
        return tuple(
            s.scalar(select(func.count()).select_from(t))
            for t in (Provider, ModelRecord, AuditEvent)
        )


def _plant_canaries(runtime: Runtime) -> None:
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


# --- Listings ----------------------------------------------------------------------------


def test_providers_list_shows_only_last4(run: Run, runtime: Runtime, admin: str) -> None:
    _plant_canaries(runtime)
    code, out, err = run("providers", "list")
    assert code == 0
    header, row = out.splitlines()
    assert header.split() == [
        "NAME",
        "TYPE",
        "SCOPE",
        "STATUS",
        "PRIORITY",
        "KEY",
        "OWNER",
        "MODELS",
    ]
    assert row.split() == ["Canary", "litellm", "private", "active", "10", "…9c0d", "admin", "1"]
    code, out_json, err_json = run("providers", "list", "--json")
    assert code == 0 and json.loads(out_json)[0]["key"] == "…9c0d"
    for text in (out, err, out_json, err_json):
        assert "CANARY" not in text


def test_providers_list_marks_keys_that_need_reentry(
    run: Run, runtime: Runtime, admin: str
) -> None:
    _plant_canaries(runtime)
    with runtime.sessions.begin() as s:
        prov = s.scalar(select(Provider))
        prov.api_key_enc = prov.provider_config_enc
    code, out, _ = run("providers", "list", "--json")
    assert code == 0 and json.loads(out)[0]["key"] == "needs re-entry"


def test_models_list_filters(run: Run, runtime: Runtime, admin: str) -> None:
    with runtime.sessions.begin() as s:
        actor = users.require_user(s, "admin")
        a = f.provider(s, actor, name="A")
        b = f.provider(s, actor, name="B", provider_type="ollama")
        f.model(
            s,
            actor,
            a,
            "gpt-4o",
            input_cost_per_million="2.50",
            quality_tier="high",
            features=["vision", "chat"],
        )
        f.model(s, actor, b, "nomic-embed", model_type="embedding")
    code, out, _ = run("models", "list", "--json")
    assert code == 0 and [m["model_id"] for m in json.loads(out)] == ["gpt-4o", "nomic-embed"]
    assert json.loads(out)[0]["input"] == "2.5"
    assert (json.loads(out)[0]["quality"], json.loads(out)[0]["features"]) == (
        "high",
        "chat,vision",
    )
    assert (json.loads(out)[1]["quality"], json.loads(out)[1]["features"]) == (None, None)
    code, out, _ = run("models", "list", "--provider", "b")
    assert code == 0 and "nomic-embed" in out and "gpt-4o" not in out
    code, out, _ = run("models", "list", "--type", "inference", "--as", "bob")
    assert code == 0 and out.strip() == "No models."


# --- Import and export -------------------------------------------------------------------


def test_import_dry_run_then_import_then_reimport(
    run: Run, runtime: Runtime, admin: str, env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env.setenv("CLI_OPENAI_KEY", CANARY_KEY)
    path = tmp_path / "doc.yaml"
    path.write_text(DOC)
    before = _counts(runtime)
    code, out, err = run("import", str(path), "--dry-run", "--allow-env", "CLI_OPENAI_KEY")
    assert code == 0, err
    assert "would create provider providers[1] ('OpenAI prod')" in out
    assert "created 1 provider(s), 1 model(s)" in out
    assert _counts(runtime) == before
    code, out, err = run("import", str(path), "--allow-env", "CLI_OPENAI_KEY")
    assert code == 0 and "created 1 provider(s), 1 model(s)" in out
    after = _counts(runtime)
    code, out, err = run("import", str(path), "--as", "admin", "--allow-env", "CLI_OPENAI_KEY")
    assert (
        code == 0
        and "created 0 provider(s), 0 model(s); updated 0 provider(s), "
        "0 model(s); unchanged 1 provider(s), 1 model(s)"
        in out
    )
    assert _counts(runtime) == after
    code, out, err = run("providers", "list")
    assert "…9c0d" in out and "CANARY" not in out + err


def test_import_json_with_problems_writes_nothing(
    run: Run, runtime: Runtime, admin: str, env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env.setenv("PRESENT_KEY", CANARY_KEY)
    doc = {
        "providers": [
            {"name": "A", "provider_type": "openai", "api_key": "${PRESENT_KEY}"},
            {"name": "B", "provider_type": "openai", "api_key": "${ABSENT_KEY}"},
            {"name": "C", "provider_type": "nosuch"},
        ],
        "models": [{"model_id": "x", "provider": "A", "output_cost_per_million": -2}],
    }
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(doc))
    before = _counts(runtime)
    code, out, err = run(
        "import", str(path), "--allow-env", "PRESENT_KEY", "--allow-env", "ABSENT_KEY"
    )
    assert code == 1 and out == ""
    lines = err.splitlines()
    assert lines[0] == (
        "modeldesk: error: The import document has 3 problem(s); nothing was imported:"
    )
    assert "ABSENT_KEY is not set" in err and "Unknown provider type 'nosuch'" in err
    assert "cannot be negative" in err
    assert "Traceback" not in err and "CANARY" not in err
    assert _counts(runtime) == before


def test_import_never_reads_modeldesk_settings(
    run: Run, runtime: Runtime, admin: str, env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env.setenv("MODELDESK_ADMIN_PASSWORD", CANARY_TOKEN)
    env.setenv("TEAM_KEY", CANARY_KEY)
    path = tmp_path / "evil.yaml"
    path.write_text("""
providers:
  - name: Evil
    provider_type: openai_compatible
    api_key: ${MODELDESK_SECRET_KEY}
    provider_config: {base_url: "https://evil.example.com/v1", note: "${MODELDESK_ADMIN_PASSWORD}"}
  - name: Team
    provider_type: openai
    api_key: ${TEAM_KEY}
""")
    before = _counts(runtime)
    for extra in ((), ("--dry-run",), ("--allow-env", "TEAM_KEY")):
        code, out, err = run("import", str(path), *extra)
        assert code == 1 and out == "" and "Traceback" not in err
        assert (
            "providers[1] ('Evil'): api_key: ${MODELDESK_SECRET_KEY} is refused: it is a "
            "Modeldesk setting"
        ) in err
        assert (
            "providers[1] ('Evil'): provider_config.note: ${MODELDESK_ADMIN_PASSWORD} is "
            "refused: variables are expanded only in secret fields"
        ) in err
        team_refused = "providers[2] ('Team'): api_key: ${TEAM_KEY} is refused" in err
        assert team_refused == ("TEAM_KEY" not in extra)
        assert TEST_SECRET not in err and "CANARY" not in err
    assert _counts(runtime) == before
    code, out, err = run("import", str(path), "--allow-env", "MODELDESK_SECRET_KEY")
    assert code == 2 and "MODELDESK_SECRET_KEY is one of Modeldesk's own settings" in err
    assert TEST_SECRET not in out + err and _counts(runtime) == before
    path.write_text("providers: [{name: Team, provider_type: openai, api_key: '${TEAM_KEY}'}]\n")
    code, out, err = run("import", str(path), "--allow-env", "TEAM_KEY")
    assert code == 0 and "created 1 provider(s)" in out, err
    code, out, _ = run("export")
    assert code == 0 and "CANARY" not in out


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        (
            "big.json",
            '{"models": [{"model_id": "m", "provider": "P", "context_window": %s}]}' % ("9" * 5000),
            "big.json: models[1].context_window is a whole number with more than "
            "4,300 digits (too long to read).",
        ),
        (
            "big.yaml",
            "providers:\n  - {name: P, provider_type: ollama, priority: %s}\n" % ("9" * 5000),
            "big.yaml: providers[1].priority is a whole number with more than 4,300",
        ),
        (
            "cfg.yaml",
            "models:\n  - model_id: m\n    model_config: {temperature: 1.0e+999}\n",
            "cfg.yaml: models[1].model_config.temperature is a number too large to represent.",
        ),
        (
            "tag.yaml",
            "models:\n  - model_id: m\n    context_window: !!int many\n",
            "tag.yaml is not valid YAML at line 3, column 21: the value cannot be read as int.",
        ),
        (
            "range.json",
            '{"providers": [{"name": "P", "provider_type": "ollama"}], "models": '
            '[{"model_id": "m", "provider": "P", "context_window": 1%s}]}' % ("0" * 30),
            "models[1] ('m'): The context window must be between 1 and 100,000,000.",
        ),
    ],
)
def test_import_numbers_it_cannot_use_are_named(
    run: Run, runtime: Runtime, admin: str, tmp_path: Path, name: str, text: str, expected: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    before = _counts(runtime)
    for extra in ((), ("--dry-run",)):
        code, out, err = run("import", str(path), *extra)
        assert code == 1 and out == "" and expected in err, err
        assert "internal error" not in err and "Traceback" not in err
    assert _counts(runtime) == before


def test_import_unreadable_file(run: Run, admin: str, tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("providers: [\n")
    code, _, err = run("import", str(path))
    assert code == 1 and err.startswith("modeldesk: error: broken.yaml is not valid YAML at line")
    assert len(err.splitlines()) == 1


def test_export_to_stdout_and_private_file(
    run: Run, runtime: Runtime, admin: str, tmp_path: Path
) -> None:
    _plant_canaries(runtime)
    code, out, err = run("export")
    assert code == 0 and "name: Canary" in out and "CANARY" not in out + err
    code, out, err = run("export", "--format", "json", "--as", "admin")
    assert code == 0 and json.loads(out)["providers"][0]["name"] == "Canary"
    assert "CANARY" not in out + err
    target = tmp_path / "export.yaml"
    target.write_text("old")
    target.chmod(0o644)
    code, out, err = run("export", "--output", str(target))
    assert code == 0 and out == "" and "1 provider(s) and 1 model(s)" in err
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert "CANARY" not in target.read_text() and "Canary" in target.read_text()


def test_export_import_round_trip_through_the_cli(
    run: Run, runtime: Runtime, admin: str, env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with runtime.sessions.begin() as s:
        actor = users.require_user(s, "admin")
        prov = f.provider(s, actor, name="OpenAI", priority=4)
        f.model(s, actor, prov, "gpt-4o", output_cost_per_million="10.125")
    target = tmp_path / "export.json"
    assert run("export", "--format", "json", "--output", str(target))[0] == 0
    first = json.loads(target.read_text())
    with runtime.sessions.begin() as s:
        for model in s.scalars(select(ModelRecord)):
            s.delete(model)
        s.flush()
        for provider in s.scalars(select(Provider)):
            s.delete(provider)
    first["providers"][0]["api_key"] = "${ROUND_KEY}"
    env.setenv("ROUND_KEY", "sk-round-trip-000000")
    target.write_text(json.dumps(first))
    code, out, err = run("import", str(target), "--allow-env", "ROUND_KEY")
    assert code == 0 and "created 1 provider(s), 1 model(s)" in out, err
    code, out, _ = run("export", "--format", "json")
    del first["providers"][0]["api_key"]
    assert json.loads(out) == first


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
    _plant_canaries(runtime)
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


# --- models best -------------------------------------------------------------------------


def test_models_best_ranks_what_you_can_use(run: Run, runtime: Runtime, admin: str) -> None:
    with runtime.sessions.begin() as s:
        actor = users.require_user(s, "admin")
        a = f.provider(s, actor, name="A")
        f.model(s, actor, a, "gpt-4o")
        f.model(s, actor, a, "gpt-4o-mini")
        f.model(s, actor, a, "o3", status="inactive")
    code, out, _ = run("models", "best", "chat", "--prefer", "cost", "--json")
    ranked = json.loads(out)
    assert code == 0 and [r["model_id"] for r in ranked] == ["gpt-4o-mini", "gpt-4o"]
    assert ranked[0]["rank"] == 1 and "/M blended (low cost)" in ranked[0]["why"]
    code, out, _ = run("models", "best", "chat", "--all", "--json")
    assert "o3" in [r["model_id"] for r in json.loads(out)]  # inactive, yet listed with --all
    code, out, _ = run("models", "best", "embedding")
    assert code == 0 and "No model that you can use has the features 'embedding' needs" in out
    code, out, _ = run(
        "models",
        "best",
        "vision",
        "--catalog",
        "--provider-type",
        "groq",
        "--provider-type",
        "mistral",
        "--top",
        "3",
        "--json",
    )
    ranked = json.loads(out)
    assert code == 0 and len(ranked) == 3
    assert all(r["provider"] in ("groq", "mistral") for r in ranked)


def test_models_best_over_the_catalog_names_the_arena_rating(run: Run) -> None:
    # No account yet: the catalog is the shipped data, so a fresh install can ask already.
    code, out, _ = run("models", "best", "chat", "--catalog", "--prefer", "quality", "--json")
    top = json.loads(out)[0]
    assert code == 0 and top["rank"] == 1
    assert top["why"].startswith("Arena ") and " votes, text board, " in top["why"]
    assert "±" in top["why"]
    code, out, _ = run("models", "best", "chat", "--catalog", "--prefer", "quality")
    assert code == 0 and "Arena " in out.splitlines()[1]
    code, out, _ = run("models", "best", "chat", "--catalog", "--known-features-only", "--json")
    assert code == 0 and all(not r["why"].endswith("; features unknown") for r in json.loads(out))


def test_models_best_refuses_an_unknown_task(run: Run, admin: str) -> None:
    code, _, err = run("models", "best", "poetry")
    assert code == 2 and "invalid choice: 'poetry'" in err
