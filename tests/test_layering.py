"""Layering rules from DESIGN.md, checked on the source with ``ast`` (nothing is imported).

- ``core/`` never imports streamlit;
- ``pages/`` never imports sqlalchemy, httpx, cryptography, psycopg or ``core.adapters``;
- only ``core/config.py`` reads the process environment.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "core"
PAGES = ROOT / "pages"
PAGE_FORBIDDEN = ("sqlalchemy", "httpx", "cryptography", "psycopg", "core.adapters")
ENV_READER = CORE / "config.py"


def sources(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py")) if folder.is_dir() else []


def imported_modules(path: Path) -> set[str]:
    """Every module path imports, absolute, including ``from x import y`` as ``x.y``."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(
                node.func, "id", None)) in ("import_module", "__import__") and node.args \
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            modules.add(node.args[0].value)
    return modules


def imports_any(modules: set[str], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules for bad in forbidden if m == bad or m.startswith(bad + "."))


def environment_reads(path: Path) -> list[str]:
    """Where a file touches os.environ / os.getenv / os.putenv (by any import spelling)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = {"environ", "getenv", "environb", "putenv", "unsetenv"}
    os_aliases = {"os"}
    direct: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            os_aliases.update(a.asname or a.name for a in node.names if a.name == "os")
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            direct.update(a.asname or a.name for a in node.names if a.name in names)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in names and \
                isinstance(node.value, ast.Name) and node.value.id in os_aliases:
            found.append(f"{path.name}:{node.lineno} os.{node.attr}")
        elif isinstance(node, ast.Name) and node.id in direct:
            found.append(f"{path.name}:{node.lineno} {node.id}")
    found += [f"{path.name}: from os import {n}" for n in sorted(direct)]
    return found


# --- The checks themselves ----------------------------------------------------------------

def test_there_is_core_code_to_check() -> None:
    assert len(sources(CORE)) >= 10
    assert ENV_READER.is_file()


@pytest.mark.parametrize("path", sources(CORE), ids=lambda p: str(p.relative_to(ROOT)))
def test_core_never_imports_streamlit(path: Path) -> None:
    assert imports_any(imported_modules(path), ("streamlit",)) == []


@pytest.mark.parametrize("path", sources(PAGES) or [None],
                         ids=lambda p: str(p.relative_to(ROOT)) if p else "no-pages-yet")
def test_pages_never_import_storage_http_or_crypto(path: Path | None) -> None:
    if path is None:
        pytest.skip("pages/ has no Python files yet")
    assert imports_any(imported_modules(path), PAGE_FORBIDDEN) == []


@pytest.mark.parametrize("path", [p for p in sources(CORE) if p != ENV_READER],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_only_config_reads_the_environment(path: Path) -> None:
    assert environment_reads(path) == []


# --- The detectors detect (so a clean result means something) -----------------------------

def write(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "sample.py"
    path.write_text(source, encoding="utf-8")
    return path


@pytest.mark.parametrize("source", [
    "import streamlit as st", "from streamlit import session_state",
    "import streamlit.components.v1", "def f():\n    import streamlit\n",
    "import importlib\nimportlib.import_module('streamlit')",
])
def test_streamlit_imports_are_detected(tmp_path: Path, source: str) -> None:
    assert imports_any(imported_modules(write(tmp_path, source)), ("streamlit",))


@pytest.mark.parametrize("source", [
    "from sqlalchemy.orm import Session", "import httpx", "from core.adapters import ADAPTERS",
    "from core.adapters.openai import Adapter", "import psycopg",
    "from cryptography.fernet import Fernet",
])
def test_forbidden_page_imports_are_detected(tmp_path: Path, source: str) -> None:
    assert imports_any(imported_modules(write(tmp_path, source)), PAGE_FORBIDDEN)


def test_allowed_page_imports_pass(tmp_path: Path) -> None:
    source = "import streamlit as st\nfrom core import providers\nimport core.ui_cache\n" \
             "import sqlalchemy_utils_lookalike"
    assert imports_any(imported_modules(write(tmp_path, source)), PAGE_FORBIDDEN) == []


@pytest.mark.parametrize("source", [
    "import os\nos.environ.get('X')", "import os\nos.getenv('X')",
    "import os as o\no.environ['X']", "from os import environ\nenviron.get('X')",
    "from os import getenv as ge\nge('X')",
])
def test_environment_reads_are_detected(tmp_path: Path, source: str) -> None:
    assert environment_reads(write(tmp_path, source))


def test_settings_environ_is_not_an_environment_read(tmp_path: Path) -> None:
    source = "import os\npath = os.path.join('a', 'b')\nvalue = settings.environ.get('X')"
    assert environment_reads(write(tmp_path, source)) == []
