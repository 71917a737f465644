"""The modeldesk command's record commands, run in-process on SQLite and PostgreSQL:
providers list, models list, models best, import and export."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.accounts import users
from core.startup import Runtime
from core.store.tables import AuditEvent, ModelRecord, Provider
from tests.conftest import TEST_SECRET
from tests.support import factories as f
from tests.support.cli import CANARY_KEY, CANARY_TOKEN, Run, plant_canaries

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


def _counts(runtime: Runtime) -> tuple[int, ...]:
    with runtime.sessions() as s:
        return tuple(
            s.scalar(select(func.count()).select_from(t))
            for t in (Provider, ModelRecord, AuditEvent)
        )


# --- Listings ----------------------------------------------------------------------------


def test_providers_list_shows_only_last4(run: Run, runtime: Runtime, admin: str) -> None:
    plant_canaries(runtime)
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
    plant_canaries(runtime)
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
    plant_canaries(runtime)
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
