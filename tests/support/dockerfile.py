"""The Dockerfile and its build context read the way Docker reads them, without Docker.

`parse` turns the Dockerfile into instructions and refuses one it does not understand, so a
new kind of instruction cannot slip past the static checks (tests/test_deployment.py) and
the engine-less rehearsal (tests/support/image_rehearsal.py). `ignored_by` is Docker's
`.dockerignore` rule; `stage_copy` puts what a COPY line copies into a scratch image root.

    Dockerfile ─▶ parse ─▶ [Instruction(line, keyword, args)]
                               └─▶ env / exec_form / copy / healthcheck / stage_copy
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parents[2]

# What this reader knows how to read (and the rehearsal how to stand in for). ADD, ARG,
# ENTRYPOINT, SHELL, ONBUILD... are refused: reading them wrong would prove nothing.
KNOWN = ("FROM", "ENV", "WORKDIR", "COPY", "RUN", "USER", "VOLUME", "EXPOSE", "HEALTHCHECK", "CMD")


class DockerfileError(ValueError):
    """The Dockerfile says something this reader does not understand."""


@dataclass(frozen=True)
class Instruction:
    """One instruction: its first line in the file, its keyword and its raw arguments."""

    line: int
    keyword: str
    args: str

    def where(self) -> str:
        return f"Dockerfile line {self.line} ({self.keyword})"


@dataclass(frozen=True)
class Healthcheck:
    """HEALTHCHECK's options in seconds (or counts) and its command."""

    options: dict[str, float]
    command: list[str]


@dataclass(frozen=True)
class Copy:
    """COPY sources (context paths) to a destination inside the image."""

    sources: list[str]
    destination: PurePosixPath
    into_folder: bool = field(default=False)


def parse(text: str) -> list[Instruction]:
    """The instructions of a Dockerfile, continuation lines joined, comments dropped."""
    found: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            continue  # a comment, even inside a continuation, is not part of the instruction
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        line = " ".join(p for p in pending if p)
        pending = []
        word, _, rest = line.partition(" ")
        keyword = word.upper()
        if keyword not in KNOWN:
            raise DockerfileError(
                f"Dockerfile line {start}: {word} is not an instruction this reader understands"
                f" (it knows {', '.join(KNOWN)})"
            )
        found.append(Instruction(start, keyword, rest.strip()))
    if pending:
        raise DockerfileError("Dockerfile ends inside a continuation line")
    return found


def read(root: Path = ROOT) -> list[Instruction]:
    """The repository's Dockerfile, parsed."""
    return parse((root / "Dockerfile").read_text(encoding="utf-8"))


def all_args(instructions: list[Instruction], keyword: str) -> list[str]:
    """The raw arguments of every instruction with this keyword, in order."""
    return [i.args for i in instructions if i.keyword == keyword]


def env(instructions: list[Instruction]) -> dict[str, str]:
    """Every ENV variable (key=value form only; the legacy `ENV key value` is refused)."""
    found: dict[str, str] = {}
    for ins in (i for i in instructions if i.keyword == "ENV"):
        for part in shlex.split(ins.args):
            key, eq, value = part.partition("=")
            if not eq or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
                raise DockerfileError(f"{ins.where()}: {part!r} is not KEY=value")
            found[key] = value
    return found


def exec_form(ins: Instruction, args: str | None = None) -> list[str]:
    """A CMD/RUN/HEALTHCHECK command as argv: JSON exec form as is, shell form via /bin/sh -c."""
    text = ins.args if args is None else args
    if text.startswith("["):
        try:
            argv = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DockerfileError(f"{ins.where()}: the exec form is not a JSON array") from exc
        if not (isinstance(argv, list) and argv and all(isinstance(a, str) for a in argv)):
            raise DockerfileError(f"{ins.where()}: the exec form must be a list of strings")
        return argv
    return ["/bin/sh", "-c", text]


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def healthcheck(ins: Instruction) -> Healthcheck:
    """HEALTHCHECK [--interval=30s ...] CMD command."""
    words = ins.args.split(" ")
    options: dict[str, float] = {}
    while words and words[0].startswith("--"):
        name, _, value = words.pop(0)[2:].partition("=")
        if name == "retries":
            options[name] = float(int(value))
            continue
        if name not in ("interval", "timeout", "start-period", "start-interval"):
            raise DockerfileError(f"{ins.where()}: unknown option --{name}")
        parts = _DURATION.findall(value)
        if not parts or "".join(n + u for n, u in parts) != value:
            raise DockerfileError(f"{ins.where()}: --{name}={value} is not a duration")
        options[name] = sum(float(n) * _SECONDS[u] for n, u in parts)
    if not words or words[0].upper() != "CMD":
        raise DockerfileError(f"{ins.where()}: expected CMD after the options")
    return Healthcheck(options, exec_form(ins, " ".join(words[1:]).strip()))


def copy(ins: Instruction, workdir: PurePosixPath) -> Copy:
    """COPY src... dest, the destination resolved against WORKDIR. Flags are refused."""
    words = shlex.split(ins.args)
    if any(w.startswith("--") for w in words) or ins.args.startswith("["):
        raise DockerfileError(f"{ins.where()}: COPY flags and the JSON form are not rehearsed")
    if len(words) < 2:
        raise DockerfileError(f"{ins.where()}: COPY needs a source and a destination")
    *sources, target = words
    if any(ch in s for s in sources for ch in "*?["):
        raise DockerfileError(f"{ins.where()}: wildcards in COPY sources are not rehearsed")
    into = target.endswith("/") or target in (".", "./") or len(sources) > 1
    return Copy(sources, workdir / target, into)


# --- the build context ----------------------------------------------------------------------


def dockerignore(root: Path = ROOT) -> list[str]:
    """The patterns of .dockerignore, comments and blank lines dropped."""
    path = root / ".dockerignore"
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def ignored_by(patterns: list[str], path: str) -> bool:
    """Docker's .dockerignore rule for a path: the last matching pattern wins; a pattern
    matches the path or a folder above it."""
    ignored = False
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for raw in patterns:
        negate = raw.startswith("!")
        pattern = raw.removeprefix("!").strip("/")
        regex = re.escape(pattern).replace(r"\*\*/", "(.*/)?").replace(r"\*\*", ".*")
        regex = regex.replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        if any(re.fullmatch(regex, c) for c in candidates):
            ignored = not negate
    return ignored


def context_files(root: Path, source: str, patterns: list[str]) -> list[str]:
    """The files under a COPY source that are in the build context (context-relative)."""
    base = root / source
    if base.is_file():
        return [] if ignored_by(patterns, source) else [source]
    found = []
    for folder, _dirs, files in os.walk(base):
        for name in files:
            rel = (Path(folder) / name).relative_to(root).as_posix()
            if not ignored_by(patterns, rel):
                found.append(rel)
    return sorted(found)


def stage_copy(
    ins: Instruction, workdir: PurePosixPath, context: Path, rootfs: Path
) -> list[tuple[str, PurePosixPath]]:
    """Copy into `rootfs` (standing for the image's /) what one COPY line copies from the
    build context; return (context path, image path) per file. A source that is missing or
    left out by .dockerignore fails as `docker build` would."""
    patterns = dockerignore(context)
    spec = copy(ins, workdir)
    placed: list[tuple[str, PurePosixPath]] = []
    for source in spec.sources:
        base = source.rstrip("/")
        files = context_files(context, base, patterns)
        if not files:
            raise DockerfileError(f"{ins.where()}: {source} is not in the build context")
        is_dir = (context / base).is_dir()
        for rel in files:
            if is_dir:  # a folder's contents go into the destination
                target = spec.destination / PurePosixPath(rel).relative_to(base)
            elif spec.into_folder:
                target = spec.destination / PurePosixPath(rel).name
            else:
                target = spec.destination
            dest = rootfs / str(target).lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(context / rel, dest, follow_symlinks=False)
            placed.append((rel, target))
    return placed
