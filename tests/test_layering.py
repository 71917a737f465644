"""Layering rules from DESIGN.md, checked on the source with ``ast`` (nothing is imported).

- the layer map: each folder (or top-level module) of ``core/``, ``pages/`` and ``app.py``
  imports only what sits below it (``LAYERS``), or beside it where ``SIDEWAYS`` says so;
- ``pages/`` and ``app.py`` never import storage, secrets, outbound HTTP or adapters
  (``core.store``, ``core.outbound``, ``core.adapters``, sqlalchemy, httpx, cryptography,
  psycopg) nor the composition roots, except the runtime (``core.startup``) in
  ``pages/_ui.py`` and ``app.py``;
- ``core/`` never imports streamlit;
- only ``core/config.py`` reads the process environment.

Every import counts: top-level, inside functions, under ``TYPE_CHECKING``, relative, and
``importlib.import_module``/``__import__`` with a literal name.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "core"
PAGES = ROOT / "pages"
PAGE_LIBRARIES = ("sqlalchemy", "httpx", "cryptography", "psycopg")
PAGE_BARRED = ("core.adapters", "core.store", "core.outbound", "core.bootstrap", "core.cli")
PAGE_FORBIDDEN = PAGE_LIBRARIES + PAGE_BARRED
RUNTIME = "core.startup"
RUNTIME_OPENERS = {"pages/_ui.py", "app.py"}  # the one UI helper module and the shell
ENV_READER = CORE / "config.py"

# The floor plan, bottom to top. A unit (a folder of core, one of its top-level modules,
# pages/, app.py) may import any unit of a lower layer, and its own modules.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("core.errors", "core.vocabulary", "core.numbers"),
    ("core.config", "core.validation", "core.costs", "core.store"),
    ("core.catalog", "core.outbound", "core.documents"),
    ("core.accounts", "core.adapters"),
    ("core.records",),
    ("core.probes", "core.explorer", "core.usage"),
    ("core.startup", "core.bootstrap", "core.cli", "core.terminal", "core.demo"),
    ("pages", "app"),
)
# Imports within one layer, each with its reason; any other is a wrong-way import.
SIDEWAYS: dict[tuple[str, str], str] = {
    ("core.store", "core.config"): "the database folder is made from the settings",
    ("core.startup", "core.bootstrap"): "opening the runtime runs the bootstrap",
    ("core.cli", "core.startup"): "commands open the runtime",
    ("core.cli", "core.bootstrap"): "the bootstrap command runs it by hand",
    ("core.cli", "core.terminal"): "long commands draw a progress bar on a terminal",
    ("core.probes", "core.usage"): "Modeldesk's own paid calls (Measure speed, deep "
    "connection tests) are recorded in the usage ledger",
    ("core.cli", "core.demo"): "the demo command seeds the demo organisation",
    ("core.usage", "core.explorer"): "the savings finder re-prices usage on the models the "
    "Explorer's rules find as good (core/usage/savings.py)",
    ("app", "pages"): "the shell runs the pages",
}
# Wrong-way imports allowed for now: (file, unit it imports), each with its reason. Empty:
# the tree follows the map. An entry that no longer occurs fails the test, so it cannot rot.
KNOWN: set[tuple[str, str]] = set()

UNITS = [unit for layer in LAYERS for unit in layer]
LEVEL = {unit: n for n, layer in enumerate(LAYERS) for unit in layer}


def sources(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py")) if folder.is_dir() else []


def module_name(root: Path, path: Path) -> str:
    """core/store/db.py -> core.store.db; core/store/__init__.py -> core.store."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, package: str | None = None) -> set[str]:
    """Every module path imports, absolute, including ``from x import y`` as ``x.y``
    (relative imports are resolved against ``package``, the file's own package)."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module
            if node.level:
                if package is None:
                    continue
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            if base:
                modules.add(base)
                modules.update(f"{base}.{alias.name}" for alias in node.names)
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None))
            in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            modules.add(node.args[0].value)
    return modules


def imports_any(modules: set[str], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules for bad in forbidden if m == bad or m.startswith(bad + "."))


def unit_of(module: str) -> str | None:
    """The map's unit a module belongs to (the longest match), None outside the map."""
    found = [u for u in UNITS if module == u or module.startswith(u + ".")]
    return max(found, key=len) if found else None


def checked_files(root: Path) -> list[Path]:
    """What the map covers: every .py under core/ and pages/, and app.py."""
    return (
        sources(root / "core")
        + sources(root / "pages")
        + [p for p in (root / "app.py",) if p.is_file()]
    )


def unplaced(root: Path) -> list[str]:
    """Files of core/ that no unit of the map holds (a new folder must be placed)."""
    return [
        str(p.relative_to(root))
        for p in checked_files(root)
        if unit_of(module_name(root, p)) is None and p != root / "core" / "__init__.py"
    ]


def allowed(source: str, target: str, file: str) -> bool:
    """Whether the unit source (in file) may import the unit target."""
    if target == source:
        return True
    if source in ("pages", "app"):
        if target == RUNTIME:
            return file in RUNTIME_OPENERS
        if imports_any({target}, PAGE_BARRED):
            return False
    return LEVEL[target] < LEVEL[source] or (source, target) in SIDEWAYS


def layer_violations(root: Path) -> set[tuple[str, str]]:
    """(file, unit it imports) for every import the map does not allow, under root."""
    found: set[tuple[str, str]] = set()
    for path in checked_files(root):
        file = path.relative_to(root).as_posix()
        name = module_name(root, path)
        source = unit_of(name)
        if source is None:
            continue  # reported by unplaced()
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for module in imported_modules(path, package):
            target = unit_of(module)
            if target is not None and not allowed(source, target, file):
                found.add((file, target))
            if source in ("pages", "app"):
                found.update(
                    (file, lib)
                    for lib in PAGE_LIBRARIES
                    if module == lib or module.startswith(lib + ".")
                )
    return found


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
        if (
            isinstance(node, ast.Attribute)
            and node.attr in names
            and isinstance(node.value, ast.Name)
            and node.value.id in os_aliases
        ):
            found.append(f"{path.name}:{node.lineno} os.{node.attr}")
        elif isinstance(node, ast.Name) and node.id in direct:
            found.append(f"{path.name}:{node.lineno} {node.id}")
    found += [f"{path.name}: from os import {n}" for n in sorted(direct)]
    return found


# --- The checks themselves ----------------------------------------------------------------


def test_there_is_core_code_to_check() -> None:
    assert len(sources(CORE)) >= 10
    assert ENV_READER.is_file()
    assert (ROOT / "app.py").is_file() and len(sources(PAGES)) >= 5


def test_every_core_module_has_a_place_on_the_map() -> None:
    assert unplaced(ROOT) == []


def test_imports_follow_the_layer_map() -> None:
    assert sorted(layer_violations(ROOT) - KNOWN) == []


def test_known_wrong_way_imports_still_occur() -> None:
    """A fixed one must leave KNOWN, so the list cannot rot."""
    assert sorted(KNOWN - layer_violations(ROOT)) == []


@pytest.mark.parametrize("path", sources(CORE), ids=lambda p: str(p.relative_to(ROOT)))
def test_core_never_imports_streamlit(path: Path) -> None:
    assert imports_any(imported_modules(path), ("streamlit",)) == []


@pytest.mark.parametrize(
    "path", [p for p in sources(CORE) if p != ENV_READER], ids=lambda p: str(p.relative_to(ROOT))
)
def test_only_config_reads_the_environment(path: Path) -> None:
    assert environment_reads(path) == []


# --- The map fails on a wrong-way import (so a clean result means something) ----------------


def plant(root: Path, files: dict[str, str]) -> Path:
    for name, source in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
    return root


CLEAN_TREE = {
    "core/__init__.py": "",
    "core/errors.py": "",
    "core/config.py": "from core.errors import ModeldeskError\n",
    "core/store/__init__.py": "",
    "core/store/db.py": "from core.config import Settings\nfrom . import tables\n",
    "core/store/tables.py": "import sqlalchemy\n",
    "core/accounts/users.py": "from core.store.tables import User\n",
    "core/records/providers.py": "from core.accounts import users\n",
    "core/startup.py": "from core.store import db\n",
    "pages/_ui.py": "import streamlit\nfrom core.startup import open_runtime\n",
    "pages/providers.py": "from core.records import providers\nfrom pages import _ui\n",
    "app.py": (
        "def main():\n    from pages import _ui\n    from core.accounts.users import count_users\n"
    ),
}


def test_a_clean_tree_passes(tmp_path: Path) -> None:
    root = plant(tmp_path, CLEAN_TREE)
    assert layer_violations(root) == set()
    assert unplaced(root) == []


@pytest.mark.parametrize(
    ("file", "source", "expected"),
    [
        (
            "core/store/db.py",
            "from core.records import providers\n",
            ("core/store/db.py", "core.records"),
        ),
        (
            "core/store/db.py",
            "def f():\n    import core.accounts.users\n",
            ("core/store/db.py", "core.accounts"),
        ),
        (
            "core/errors.py",
            "import importlib\nimportlib.import_module('core.config')\n",
            ("core/errors.py", "core.config"),
        ),
        (
            "core/accounts/users.py",
            "from ..records import providers\n",
            ("core/accounts/users.py", "core.records"),
        ),
        (
            "core/records/providers.py",
            "if TYPE_CHECKING:\n    from core.startup import Runtime\n",
            ("core/records/providers.py", "core.startup"),
        ),
        (
            "pages/providers.py",
            "from core.store.tables import User\n",
            ("pages/providers.py", "core.store"),
        ),
        (
            "pages/providers.py",
            "from core.startup import open_runtime\n",
            ("pages/providers.py", "core.startup"),
        ),
        ("pages/providers.py", "import httpx\n", ("pages/providers.py", "httpx")),
        ("app.py", "from sqlalchemy.orm import Session\n", ("app.py", "sqlalchemy")),
        ("core/config.py", "from pages import _ui\n", ("core/config.py", "pages")),
    ],
)
def test_a_planted_wrong_way_import_fails(
    tmp_path: Path, file: str, source: str, expected: tuple[str, str]
) -> None:
    root = plant(tmp_path, {**CLEAN_TREE, file: CLEAN_TREE.get(file, "") + source})
    assert layer_violations(root) == {expected}


def test_an_unplaced_folder_fails(tmp_path: Path) -> None:
    root = plant(tmp_path, {**CLEAN_TREE, "core/gadgets/widget.py": ""})
    assert unplaced(root) == ["core/gadgets/widget.py"]


# --- The detectors detect (so a clean result means something) -----------------------------


def write(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "sample.py"
    path.write_text(source, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "source",
    [
        "import streamlit as st",
        "from streamlit import session_state",
        "import streamlit.components.v1",
        "def f():\n    import streamlit\n",
        "import importlib\nimportlib.import_module('streamlit')",
    ],
)
def test_streamlit_imports_are_detected(tmp_path: Path, source: str) -> None:
    assert imports_any(imported_modules(write(tmp_path, source)), ("streamlit",))


@pytest.mark.parametrize(
    "source",
    [
        "from sqlalchemy.orm import Session",
        "import httpx",
        "from core.adapters import ADAPTERS",
        "from core.adapters.openai import Adapter",
        "import psycopg",
        "from cryptography.fernet import Fernet",
    ],
)
def test_forbidden_page_imports_are_detected(tmp_path: Path, source: str) -> None:
    assert imports_any(imported_modules(write(tmp_path, source)), PAGE_FORBIDDEN)


def test_allowed_page_imports_pass(tmp_path: Path) -> None:
    source = (
        "import streamlit as st\nfrom core import providers\nimport core.ui_cache\n"
        "import sqlalchemy_utils_lookalike"
    )
    assert imports_any(imported_modules(write(tmp_path, source)), PAGE_FORBIDDEN) == []


@pytest.mark.parametrize(
    "source",
    [
        "import os\nos.environ.get('X')",
        "import os\nos.getenv('X')",
        "import os as o\no.environ['X']",
        "from os import environ\nenviron.get('X')",
        "from os import getenv as ge\nge('X')",
    ],
)
def test_environment_reads_are_detected(tmp_path: Path, source: str) -> None:
    assert environment_reads(write(tmp_path, source))


def test_settings_environ_is_not_an_environment_read(tmp_path: Path) -> None:
    source = "import os\npath = os.path.join('a', 'b')\nvalue = settings.environ.get('X')"
    assert environment_reads(write(tmp_path, source)) == []
