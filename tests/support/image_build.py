"""`docker build` without an engine: the Dockerfile's instructions carried out in a scratch
folder standing for the image's `/` (tests/support/image_rehearsal.py runs the result).

    scratch/rootfs/            the image's /, owned by root, readable by everyone
      app/                     WORKDIR: exactly what the COPY lines copy (.dockerignore honoured)
      usr/local/               "the base image's Python": a venv of a host Python X.Y (the FROM
                               line's), its site-packages pointing at the host virtualenv's for
                               third-party code, console scripts as pip would write them
      data/  home/modeldesk/   made by the RUN line that adds the user

Each RUN line is a chain of `&&` commands; every command is carried out by a stand-in below
(`pip install -r` checks the requirements against the installed distributions, `pip install
-e .` maps the project to /app, `useradd`/`mkdir`/`chown`/`chmod` act inside the scratch
root). A command without a stand-in is refused: a new RUN line needs a new stand-in here.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Any

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support import dockerfile as df

# What the python:X.Y-slim base image brings besides the standard library.
BASE_IMAGE_DISTRIBUTIONS = frozenset({"pip", "setuptools", "wheel"})
SITE = Path(__file__).with_name("image_site.py")


class RehearsalError(RuntimeError):
    """The image would not build or run as the Dockerfile says."""


@dataclass
class Image:
    """What the rehearsal built: host paths standing for the image's, and its settings."""

    scratch: Path
    rootfs: Path
    python: Path = field(init=False)
    python_minor: str = ""
    env: dict[str, str] = field(default_factory=dict)
    workdir: PurePosixPath = PurePosixPath("/")
    uid: int = 0
    gid: int = 0
    users: dict[str, tuple[int, int, str]] = field(default_factory=dict)
    volumes: list[str] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    health: df.Healthcheck | None = None
    requirements: list[str] = field(default_factory=list)
    closure: dict[str, str] = field(default_factory=dict)  # distribution → version
    staged: list[tuple[str, PurePosixPath]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.python = self.rootfs / "usr/local/bin/python"

    def host(self, image_path: str | PurePosixPath) -> Path:
        """The scratch path standing for an absolute path inside the image."""
        return self.rootfs / str(PurePosixPath(self.workdir) / image_path).lstrip("/")

    @property
    def site_packages(self) -> Path:
        return self.rootfs / f"usr/local/lib/python{self.python_minor}/site-packages"


# --- interpreter and requirements -----------------------------------------------------------


def _runs_as(python: str, uid: int, gid: int) -> str | None:
    """The X.Y version of `python` when uid:gid can run it, else None."""
    try:
        done = subprocess.run(
            [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            user=uid,
            group=gid,
            extra_groups=[],
            capture_output=True,
            text=True,
            timeout=30,
            env={"PATH": "/usr/bin:/bin"},
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def base_python(minor: str, uid: int, gid: int) -> str:
    """A host interpreter of the FROM line's X.Y that the image's user can run."""
    names = [getattr(sys, "_base_executable", sys.executable)]
    names += [str(Path(d) / f"python{minor}") for d in os.get_exec_path()]
    names += [f"/usr/bin/python{minor}", f"/usr/local/bin/python{minor}"]
    tried = []
    for name in dict.fromkeys(n for n in names if Path(n).exists()):
        if _runs_as(name, uid, gid) == minor:
            return name
        tried.append(name)
    raise RehearsalError(
        f"no Python {minor} that uid {uid} can run (tried {', '.join(tried) or 'nothing'}):"
        f" install python{minor} system-wide (apt-get install python{minor})"
    )


def closure(requirements: list[str]) -> dict[str, str]:
    """The installed distributions (name → version) that `pip install -r` of these lines would
    need, transitively; a missing distribution or a version outside a specifier fails."""
    found: dict[str, str] = {}
    todo = [(Requirement(line), f"requirement {line!r}") for line in requirements]
    while todo:
        req, why = todo.pop()
        name = canonicalize_name(req.name)
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            raise RehearsalError(f"{why}: {req.name} is not installed") from None
        if not req.specifier.contains(dist.version, prereleases=True):
            raise RehearsalError(f"{why}: installed {req.name} {dist.version} does not match")
        extras = sorted(req.extras)
        if name in found and not extras:
            continue
        found[name] = dist.version
        for line in dist.requires or []:
            sub = Requirement(line)
            env: dict[str, Any] = dict(default_environment())
            marker = sub.marker
            if marker is None or any(marker.evaluate({**env, "extra": e}) for e in ["", *extras]):
                todo.append((sub, f"{req.name} {dist.version} needs {line!r}"))
    return found


# --- the venv standing for the base image's Python ------------------------------------------


def _make_python(image: Image, base: str) -> None:
    prefix = image.rootfs / "usr/local"
    subprocess.run([base, "-m", "venv", "--without-pip", str(prefix)], check=True)
    image.site_packages.mkdir(parents=True, exist_ok=True)
    # Third-party code from the host's virtualenv (a plain path entry: its own .pth files,
    # the host's editable install of this project among them, are not run).
    host_site = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
    (image.site_packages / "host_deps.pth").write_text("\n".join(host_site) + "\n")


def _console_script(image: Image, name: str, value: str) -> None:
    module, _, attr = value.partition(":")
    first, _, rest = attr.partition(".")
    call = f"{first}.{rest}" if rest else first
    script = image.rootfs / "usr/local/bin" / name
    script.write_text(
        f"#!{image.python}\nimport sys\nfrom {module} import {first}\nsys.exit({call}())\n"
    )
    script.chmod(0o755)


def _site(image: Image, packages: dict[str, str]) -> None:
    """Write the finders (tests/support/image_site.py) with the project map and the guard."""
    installed = packages_of_distributions()
    keep = set(image.closure) | BASE_IMAGE_DISTRIBUTIONS
    blocked = {
        top: ", ".join(sorted(dists))
        for top, dists in installed.items()
        if top not in packages and not set(dists) & keep
    }
    settings = {"packages": packages, "blocked": blocked}
    (image.site_packages / "image_site.json").write_text(json.dumps(settings, indent=1))
    shutil.copy(SITE, image.site_packages / "image_site.py")
    (image.site_packages / "image_site.pth").write_text("import image_site; image_site.install()\n")


def packages_of_distributions() -> dict[str, set[str]]:
    """Top-level module → the (canonical) distributions that install it."""
    found: dict[str, set[str]] = {}
    for top, dists in metadata.packages_distributions().items():
        if top.isidentifier():
            found.setdefault(top, set()).update(canonicalize_name(d) for d in dists)
    return found


# --- RUN: one stand-in per command ----------------------------------------------------------


def _sh_python(image: Image, argv: list[str], files: dict[str, str]) -> None:
    """`python -c CODE > FILE`: run CODE in WORKDIR with the image's Python, keep the output."""
    if len(argv) != 5 or argv[1] != "-c" or argv[3] != ">":
        raise RehearsalError(f"`{shlex.join(argv)}`: only `python -c CODE > FILE` is rehearsed")
    done = subprocess.run(
        [str(image.python), "-c", argv[2]],
        cwd=image.host(image.workdir),
        env={**image.env, "PATH": f"{image.python.parent}:/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    if done.returncode:
        raise RehearsalError(f"`python -c ...` failed: {done.stderr.strip()[-500:]}")
    files[argv[4]] = done.stdout


def _sh_pip(image: Image, argv: list[str], files: dict[str, str]) -> None:
    """`pip install -r FILE` (check, no download) or `pip install --no-deps -e .` (map /app)."""
    words = argv[1:]
    if words[:2] == ["install", "-r"] and len(words) == 3:
        if words[2] not in files:
            raise RehearsalError(f"pip install -r {words[2]}: no earlier command wrote it")
        lines = [ln.strip() for ln in files[words[2]].splitlines()]
        image.requirements = [ln for ln in lines if ln and not ln.startswith("#")]
        image.closure = closure(image.requirements)
        for dist_name in image.closure:
            for ep in metadata.distribution(dist_name).entry_points:
                if ep.group == "console_scripts":
                    _console_script(image, ep.name, ep.value)
        return
    if sorted(words) == ["--no-deps", "-e", ".", "install"]:
        app = image.host(image.workdir)
        project = tomllib.loads((app / "pyproject.toml").read_text(encoding="utf-8"))
        include = project["tool"]["setuptools"]["packages"]["find"]["include"]
        packages = {
            p.name: str(app)
            for p in sorted(app.iterdir())
            if (p / "__init__.py").exists() and any(_glob(i, p.name) for i in include)
        }
        if not packages:
            raise RehearsalError("pip install -e .: no package of the project was copied")
        readme = project["project"].get("readme")
        if isinstance(readme, str) and not (app / readme).is_file():
            raise RehearsalError(f"pip install -e .: pyproject's readme {readme} was not copied")
        image.closure[canonicalize_name(project["project"]["name"])] = project["project"]["version"]
        for name, value in project["project"].get("scripts", {}).items():
            _console_script(image, name, value)
        _site(image, packages)
        return
    raise RehearsalError(f"`{shlex.join(argv)}`: this pip command is not rehearsed")


def _glob(pattern: str, name: str) -> bool:
    return re.fullmatch(re.escape(pattern).replace(r"\*", ".*"), name) is not None


def _sh_rm(image: Image, argv: list[str], files: dict[str, str]) -> None:
    for name in argv[1:]:
        if files.pop(name, None) is None:
            raise RehearsalError(f"rm {name}: no earlier command wrote it")


def _id_flag(argv: list[str], flag: str) -> str:
    if flag not in argv[:-1]:
        raise RehearsalError(f"`{shlex.join(argv)}`: {flag} is required (a fixed id)")
    return argv[argv.index(flag) + 1]


def _sh_groupadd(image: Image, argv: list[str], files: dict[str, str]) -> None:
    image.users[argv[-1]] = (-1, int(_id_flag(argv, "--gid")), "")


def _sh_useradd(image: Image, argv: list[str], files: dict[str, str]) -> None:
    gid = _id_flag(argv, "--gid")
    if not gid.isdigit() and gid not in image.users:
        raise RehearsalError(f"`{shlex.join(argv)}`: no earlier groupadd made group {gid}")
    group = int(gid) if gid.isdigit() else image.users[gid][1]
    home = _id_flag(argv, "--home-dir")
    image.users[argv[-1]] = (int(_id_flag(argv, "--uid")), group, home)
    path = image.host(home)
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, image.users[argv[-1]][0], group)
    path.chmod(0o700)


def _sh_mkdir(image: Image, argv: list[str], files: dict[str, str]) -> None:
    for name in (a for a in argv[1:] if a != "-p"):
        image.host(name).mkdir(parents=True, exist_ok=True)


def _sh_chown(image: Image, argv: list[str], files: dict[str, str]) -> None:
    user, _, group = argv[1].partition(":")
    uid, gid = image.users[user][0], image.users[group or user][1]
    for name in argv[2:]:
        os.chown(image.host(name), uid, gid)


def _sh_chmod(image: Image, argv: list[str], files: dict[str, str]) -> None:
    for name in argv[2:]:
        image.host(name).chmod(int(argv[1], 8))


STAND_INS: dict[str, Callable[[Image, list[str], dict[str, str]], None]] = {
    "python": _sh_python,
    "pip": _sh_pip,
    "rm": _sh_rm,
    "groupadd": _sh_groupadd,
    "useradd": _sh_useradd,
    "mkdir": _sh_mkdir,
    "chown": _sh_chown,
    "chmod": _sh_chmod,
}


def _run(image: Image, ins: df.Instruction, files: dict[str, str]) -> None:
    for command in ins.args.split("&&"):
        argv = shlex.split(command)
        stand_in = STAND_INS.get(argv[0]) if argv else None
        if stand_in is None:
            raise RehearsalError(f"{ins.where()}: `{command.strip()}` has no stand-in")
        stand_in(image, argv, files)


# --- the build ------------------------------------------------------------------------------


def _user(image: Image, args: str) -> tuple[int, int]:
    user, _, group = args.partition(":")
    uid = int(user) if user.isdigit() else image.users[user][0]
    gid = int(group) if group.isdigit() else image.users[group or user][1]
    return uid, gid


def _scan_user(instructions: list[df.Instruction]) -> tuple[int, int]:
    users = df.all_args(instructions, "USER")
    if len(users) != 1 or not re.fullmatch(r"\d+:\d+", users[0]):
        raise RehearsalError("the rehearsal needs one numeric `USER uid:gid` line")
    uid, gid = users[0].split(":")
    return int(uid), int(gid)


def _base_minor(base: str) -> str:
    """X.Y of a `FROM python:X.Y.Z-slim[-debian]`; the host's packages must be for it."""
    found = re.fullmatch(r"python:(\d+\.\d+)\.\d+-slim(-\w+)?", base)
    if not found:
        raise RehearsalError(f"FROM {base}: the rehearsal knows python:X.Y.Z-slim only")
    host = "%d.%d" % sys.version_info[:2]
    if found[1] != host:
        raise RehearsalError(
            f"FROM {base}: Python {found[1]}, but the host's packages are for {host}:"
            f" run the rehearsal with Python {found[1]}"
        )
    return found[1]


def _from(image: Image, ins: df.Instruction, instructions: list[df.Instruction]) -> None:
    image.python_minor = _base_minor(ins.args)
    _make_python(image, base_python(image.python_minor, *_scan_user(instructions)))


def _workdir(image: Image, ins: df.Instruction) -> None:
    image.workdir = image.workdir / ins.args
    image.host(image.workdir).mkdir(parents=True, exist_ok=True)


def _volume(image: Image, ins: df.Instruction) -> None:
    image.volumes += json.loads(ins.args)
    for volume in image.volumes:
        image.host(volume).mkdir(parents=True, exist_ok=True)


def _settings(image: Image, ins: df.Instruction) -> None:
    """USER, EXPOSE, HEALTHCHECK, CMD: recorded for the run."""
    if ins.keyword == "USER":
        image.uid, image.gid = _user(image, ins.args)
    elif ins.keyword == "EXPOSE":
        image.ports += [int(p.partition("/")[0]) for p in ins.args.split()]
    elif ins.keyword == "HEALTHCHECK":
        image.health = df.healthcheck(ins)
    else:
        image.cmd = df.exec_form(ins)


def build_check(context: Path = df.ROOT) -> str:
    """The host Python the build would use (fails as build would when there is none)."""
    instructions = df.read(context)
    (base,) = df.all_args(instructions, "FROM")
    return base_python(_base_minor(base), *_scan_user(instructions))


def build(context: Path = df.ROOT, scratch: Path | None = None) -> Image:
    """Carry out the Dockerfile in a new scratch folder (readable by every user)."""
    instructions = df.read(context)
    scratch = scratch or Path(tempfile.mkdtemp(prefix="modeldesk-image-"))
    scratch.chmod(0o755)  # the image's user must reach its / inside it
    image = Image(scratch, scratch / "rootfs")
    image.rootfs.mkdir(mode=0o755)
    files: dict[str, str] = {}  # what RUN commands wrote to files, for later commands
    for ins in instructions:
        if ins.keyword == "FROM":
            _from(image, ins, instructions)
        elif ins.keyword == "ENV":
            image.env.update(df.env([ins]))
        elif ins.keyword == "WORKDIR":
            _workdir(image, ins)
        elif ins.keyword == "COPY":
            image.staged += df.stage_copy(ins, image.workdir, context, image.rootfs)
        elif ins.keyword == "RUN":
            _run(image, ins, files)
        elif ins.keyword == "VOLUME":
            _volume(image, ins)
        else:
            _settings(image, ins)
    _settle_ownership(image)
    return image


def _settle_ownership(image: Image) -> None:
    """Everything COPY and pip wrote belongs to root and is not writable by others, as in a
    built image (COPY without --chown gives root:root)."""
    for folder, dirs, names in os.walk(image.host(image.workdir)):
        for name in [*dirs, *names]:
            path = Path(folder) / name
            mode = path.lstat().st_mode
            os.lchown(path, 0, 0)
            if not stat.S_ISLNK(mode):
                path.chmod(stat.S_IMODE(mode) & ~0o022)
