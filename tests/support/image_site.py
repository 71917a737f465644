"""Copied into the rehearsal's interpreter (tests/support/image_build.py) and imported by a
`.pth` file there at every start: what `pip install` would have left in the image's
site-packages, and nothing more.

- The project's packages resolve to the staged /app, as `pip install -e .` maps them (a
  finder appended to sys.meta_path, like setuptools' editable finder: only the packages of
  `[tool.setuptools.packages.find]`, not every module in /app).
- A top-level module of a distribution the image does not install (the test extras, the
  development tools of the host's virtualenv) fails to import, as it would in the image.

It reads its settings from `image_site.json` beside it. Standard library only.
"""

from __future__ import annotations

import json
import sys
from importlib.machinery import ModuleSpec, PathFinder
from pathlib import Path

_SETTINGS = json.loads((Path(__file__).parent / "image_site.json").read_text(encoding="utf-8"))


class _ProjectFinder:
    """The editable install: a project package is found in the staged /app."""

    packages: dict[str, str] = _SETTINGS["packages"]

    @classmethod
    def find_spec(
        cls, fullname: str, path: object = None, target: object = None
    ) -> ModuleSpec | None:
        if fullname in cls.packages:
            return PathFinder.find_spec(fullname, [cls.packages[fullname]])
        return None


class _NotInstalled:
    """A module of a distribution outside the image's dependency closure is missing."""

    blocked: dict[str, str] = _SETTINGS["blocked"]

    @classmethod
    def find_spec(
        cls, fullname: str, path: object = None, target: object = None
    ) -> ModuleSpec | None:
        top = fullname.partition(".")[0]
        if top in cls.blocked:
            raise ModuleNotFoundError(
                f"No module named {fullname!r} (the image does not install {cls.blocked[top]})",
                name=fullname,
            )
        return None


def install() -> None:
    """Put both finders in place (idempotent)."""
    if _NotInstalled not in sys.meta_path:
        sys.meta_path.insert(0, _NotInstalled)
        sys.meta_path.append(_ProjectFinder)
