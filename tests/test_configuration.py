"""One settings source: docs/configuration.md lists every MODELDESK_* variable core/config.py
reads, and reads no other; no other module of core reads one past it; the start-up log
describes each; the README names only documented ones. Each failure says which variable and
where to add it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from core.config import describe, load_settings

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "core" / "config.py"
DOC = ROOT / "docs" / "configuration.md"
NAME = re.compile(r"MODELDESK_[A-Z0-9_]+")
ROW = re.compile(r"^\|\s*`(MODELDESK_[A-Z0-9_]+)`\s*\|\s*(.+?)\s*\|\s*(.+?)\s*\|\s*$")


ENVIRONMENTS = ("merged", "env", "environ", "environment")


def _is_read(call: ast.Call) -> bool:
    """``x.get(...)``/``os.getenv(...)``, or a helper handed the environment mapping."""
    func = call.func
    if isinstance(func, ast.Attribute) and func.attr in ("get", "getenv", "pop"):
        return True
    return any(isinstance(a, ast.Name) and a.id in ENVIRONMENTS for a in call.args)


def _names_read(path: Path) -> set[str]:
    """Variables a module reads: every MODELDESK_* string given to a read as an argument
    (``merged.get("MODELDESK_X")``, ``_number(merged, "MODELDESK_X", ...)``); a name in a
    message or handed to ``ensure_folder`` as a label is no read."""
    read = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and _is_read(node):
            for arg in node.args:
                if isinstance(arg, ast.Constant) and NAME.fullmatch(str(arg.value)):
                    read.add(str(arg.value))
    return read


def _settings_table() -> dict[str, tuple[str, str]]:
    """The rows of the table under "## Settings": name -> (default, meaning)."""
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("\n## Settings\n") :]
    section = section[: section.find("\n## ", 1)]
    rows = {}
    for line in section.splitlines():
        found = ROW.match(line)
        if found:
            assert found[1] not in rows, f"docs/configuration.md lists {found[1]} twice"
            rows[found[1]] = (found[2], found[3])
    return rows


READ = _names_read(CONFIG)
DOCUMENTED = _settings_table()


def test_the_code_reads_settings() -> None:
    assert {"MODELDESK_ENV", "MODELDESK_SECRET_KEY", "MODELDESK_DATABASE_URL"} <= READ


def test_every_setting_the_code_reads_is_documented() -> None:
    missing = sorted(READ - DOCUMENTED.keys())
    assert not missing, "\n".join(
        f"core/config.py reads {name} but docs/configuration.md does not document it: add a "
        f"row to the table under '## Settings': | `{name}` | <default> | <meaning> |"
        for name in missing
    )


def test_every_documented_setting_is_read() -> None:
    stale = sorted(DOCUMENTED.keys() - READ)
    assert not stale, "\n".join(
        f"docs/configuration.md documents {name} but core/config.py never reads it: remove "
        "its row, or read it in core/config.load_settings."
        for name in stale
    )


def test_every_row_gives_a_default_and_a_meaning() -> None:
    for name, (default, meaning) in DOCUMENTED.items():
        assert default and len(meaning) > 10, f"{name}: its default and meaning are needed"


def test_no_other_module_reads_a_setting() -> None:
    """Settings.environ holds every variable; reading a MODELDESK_* one from it elsewhere
    would be a setting this page and the start-up log do not know."""
    offenders = {
        f"{path.relative_to(ROOT)} reads {name}"
        for path in sorted((ROOT / "core").rglob("*.py"))
        if path != CONFIG
        for name in _names_read(path)
    }
    assert not offenders, sorted(offenders)


def test_the_start_up_log_describes_every_setting() -> None:
    described = {name for name, _ in describe(load_settings({}, secrets_file=None))}
    missing = sorted(READ - described)
    assert not missing, "\n".join(
        f"core/config.py reads {name} but core.config.describe does not show it: add "
        f'("{name}", <its effective value, or "set"/"not set" for a secret>) there.'
        for name in missing
    )
    assert described <= READ


def test_the_readme_names_only_documented_variables() -> None:
    doc = DOC.read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    unknown = sorted({n for n in NAME.findall(readme) if not re.search(rf"\b{n}\b", doc)})
    assert not unknown, f"README.md names {unknown}; document them in docs/configuration.md"
