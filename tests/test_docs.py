"""The docs stay true to the code: every `modeldesk …` command they show parses with the real
command-line parser, and every relative link and image in docs/*.md and README.md exists."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest

from core import cli

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
FENCE = re.compile(r"^[ \t]*```[^\n]*\n(.*?)^[ \t]*```", re.M | re.S)  # list items indent
INLINE = re.compile(r"(?<!`)`(modeldesk [^`]+)`(?!`)")
# Synopsis notation (optional parts, alternatives, "and so on") is not a command line.
SYNOPSIS = re.compile(r"[\[\]|…<>]")
ENV_PREFIX = re.compile(r"^(?:[A-Z_][A-Z0-9_]*=\S*\s+)+")
# Commands another change of the same issue adds; shown in the docs ahead of it. Each entry
# must still be missing from the parser (the test says when it arrives: then drop it here).
PENDING: dict[tuple[str, ...], str] = {}


def _command_lines(text: str) -> list[tuple[str, str]]:
    """Every `modeldesk …` command: ("line", c) for fenced blocks (one a line), ("span", c)
    for inline code spans, which may name a command without its required arguments."""
    found = []
    for block in FENCE.findall(text):
        for line in block.splitlines():
            line = ENV_PREFIX.sub("", line.strip().removeprefix("$ ").strip())
            if line.startswith("modeldesk "):
                found.append(("line", line))
    found += [("span", " ".join(span.split())) for span in INLINE.findall(text)]
    return [(kind, c) for kind, c in found if not SYNOPSIS.search(c.split(" #")[0])]


COMMANDS = sorted(
    {
        (page.relative_to(ROOT).as_posix(), kind, c)
        for page in PAGES
        for kind, c in _command_lines(page.read_text())
    }
)


def _argv(command: str) -> list[str]:
    argv = shlex.split(command, comments=True)
    assert argv[0] == "modeldesk"
    return argv[1:]


def _subcommand(argv: list[str]) -> tuple[argparse.ArgumentParser, list[str], list[str]]:
    """The parser of the command argv names, the words naming it, and the words after."""
    parser, path = cli.build_parser(), []
    rest = list(argv)
    while rest:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs or rest[0] not in subs[0].choices:
            break
        path.append(rest.pop(0))
        parser = subs[0].choices[path[-1]]
    return parser, path, rest


def test_the_docs_show_commands():
    """The extraction finds what the admin guide shows (so the next test checks something)."""
    shown = {c for page, _, c in COMMANDS if page == "docs/admin-guide.md"}
    assert "modeldesk rotate-keys --batch-size 500" in shown and len(shown) >= 10, shown


GUIDES = ("docs/admin-guide.md", "docs/analyst-guide.md", "docs/operations.md")


def test_the_analyst_guide_shows_commands_and_screenshots():
    """The guide is among the pages checked, with commands of each group it covers and the
    Explorer and Costs screenshots (so the checks below check something)."""
    shown = {c for page, _, c in COMMANDS if page == "docs/analyst-guide.md"}
    for group in ("models best", "quality", "usage summary", "usage import", "budgets"):
        assert any(c.startswith(f"modeldesk {group}") for c in shown), (group, shown)
    images = _links((ROOT / "docs/analyst-guide.md").read_text())
    assert {"screenshots/explorer.png", "screenshots/costs.png"} <= set(images), images


def test_the_readme_links_every_guide():
    links = set(_links((ROOT / "README.md").read_text()))
    assert set(GUIDES) <= links, sorted(set(GUIDES) - links)


@pytest.mark.parametrize(("page", "kind", "command"), COMMANDS)
def test_every_command_in_the_docs_parses(
    page: str, kind: str, command: str, capsys: pytest.CaptureFixture[str]
):
    """A command line parses as shown; a command named in running text (which may leave
    out its required arguments) exists, with every option it shows."""
    argv = _argv(command)
    pending = PENDING.get(tuple(argv[:2]))
    parser, path, rest = _subcommand(argv)
    if pending is not None:
        assert path == argv[:1], (
            f"`modeldesk {' '.join(argv[:2])}` exists now: remove it from PENDING in "
            "tests/test_docs.py so its lines are checked"
        )
        return
    if kind == "span":
        assert not parser._subparsers or not rest or rest[0].startswith("-"), (
            f"{page}: `{command}` names no command"
        )
        unknown = [
            w.split("=")[0]
            for w in rest
            if w.startswith("--") and w.split("=")[0] not in parser._option_string_actions
        ]
        assert not unknown, f"{page}: `{command}`: unknown options {unknown}"
        return
    try:
        cli.build_parser().parse_args(argv)
        code = 0
    except SystemExit as exc:  # --help exits 0; a usage error exits 2 with the reason
        code = exc.code if isinstance(exc.code, int) else 2
    err = capsys.readouterr().err
    assert code == 0, f"{page}: `{command}` does not parse: {err.strip()}"


LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def _links(text: str) -> list[str]:
    text = FENCE.sub("", text)  # examples inside code blocks are not links
    return [t for t in LINK.findall(text) if not re.match(r"^[a-z][a-z0-9+.-]*:", t)]


def test_the_docs_have_relative_links_and_images():
    every = [t for page in PAGES for t in _links(page.read_text())]
    assert any(t.endswith(".png") for t in every) and any(t.endswith(".md") for t in every)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_and_image_points_to_a_file(page: Path):
    missing = [
        target
        for target in _links(page.read_text())
        if target.split("#")[0] and not (page.parent / target.split("#")[0]).exists()
    ]
    assert not missing, f"{page.relative_to(ROOT)} links to missing files: {missing}"
