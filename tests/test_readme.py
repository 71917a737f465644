"""The README stays true to the code: the quick start's `make run` options, one catalog size
wherever it is given, and the import and usage examples that import as written."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from core import cli
from core.catalog import model_facts
from tests.conftest import TEST_SECRET

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_run_takes_a_port_and_an_address_and_binds_localhost_by_default() -> None:
    def recipe(*overrides: str) -> str:
        return subprocess.run(
            ["make", "-n", "-W", "pyproject.toml", "run", *overrides],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "MAKEFLAGS": ""},
        ).stdout

    assert "--server.port 8501 --server.address 127.0.0.1" in recipe()
    assert "--server.port 8601 --server.address 0.0.0.0" in recipe("PORT=8601", "ADDRESS=0.0.0.0")
    assert "FORWARDED_ALLOW_IPS= " in recipe()  # the server never rewrites client addresses
    assert "make run PORT=8601" in README and "http://localhost:8501" in README


def test_the_catalog_size_is_given_one_way_and_is_the_catalogs() -> None:
    docs = [README, *(p.read_text() for p in (ROOT / "docs").glob("*.md"))]
    stated = {
        int(n.replace(",", ""))
        for text in docs
        for n in re.findall(r"(?:about|~)\s*([\d,]{5,}) models", text)
    }
    assert len(stated) == 1, stated
    (figure,) = stated
    assert abs(figure - len(model_facts.all_facts())) <= 100, (figure, len(model_facts.all_facts()))


def _readme_import_example() -> str:
    after = README[README.index("An import file") :]
    return after[after.index("```yaml\n") + len("```yaml\n") : after.index("```\n", 8)]


def test_the_readme_import_example_imports_as_written(
    env: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"sqlite:///{tmp_path / 'readme.db'}"
    env.setenv("MODELDESK_SECRET_KEY", TEST_SECRET)
    assert cli.main(["--database-url", url, "db", "upgrade"]) == 0
    env.setenv("OPENAI_API_KEY", "sk-readme-example-0001")
    env.setenv("AZURE_OPENAI_API_KEY", "az-readme-example-0001")
    env.setattr("sys.stdin", io.StringIO("a-good-password-1\n"))
    assert cli.main(["--database-url", url, "create-admin", "--username", "admin"]) == 0
    path = tmp_path / "setup.yaml"
    path.write_text(_readme_import_example())
    capsys.readouterr()
    code = cli.main(["--database-url", url, "import", str(path)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "created 2 provider(s), 2 model(s)" in out
    assert "sk-readme-example-0001" not in out + err


def test_the_readme_usage_example_imports_and_costs_what_the_catalog_says(
    env: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The usage file example, after the import example has made its provider: one event,
    gpt-4o at the catalog's price (400 uncached and 800 cached input tokens, 300 output)."""
    test_the_readme_import_example_imports_as_written(env, tmp_path, capsys)
    url = f"sqlite:///{tmp_path / 'readme.db'}"
    after = README[README.index("## Usage ledger") :]
    path = tmp_path / "usage.csv"
    path.write_text(after[after.index("```csv\n") + len("```csv\n") : after.index("```\n", 8)])
    capsys.readouterr()
    assert cli.main(["--database-url", url, "usage", "import", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "1 stored" in out, out + err
    assert cli.main(["--database-url", url, "usage", "import", str(path)]) == 0
    assert "0 stored, 1 already recorded" in capsys.readouterr().out
