"""A rehearsal of `docker build` and `docker run` for the image, without a Docker engine:

    python -m tests.support.image_rehearsal [--keep]     (as root: it switches to the USER uid)

1. builds the image's / in a scratch folder (tests/support/image_build.py): the COPY lines
   from the build context as Docker sees it, each RUN line's commands by a stand-in, the
   requirements checked against the installed distributions;
2. runs the CMD without MODELDESK_SECRET_KEY: it must refuse with a clear line, exit
   non-zero, print no traceback and write nothing into /data;
3. runs the CMD as the USER uid, as PID 1 of its own PID namespace (as in a container, a
   PID 1 without a SIGTERM handler ignores SIGTERM), with the Dockerfile's ENV only (plus
   the secret key and a first admin, as `docker run -e` would give them), the port moved to
   a free one and the address to loopback, from the staged /app (no other copy of `core` on
   sys.path: checked from inside the staged interpreter); then the HEALTHCHECK's command
   until it passes within the start period; then the health endpoint, the sign-in page, the
   admin signing in and opening every page (Streamlit's websocket protocol), the SQLite file
   in /data (owned by the uid), /app unchanged and not writable by the uid, neither key nor
   password in the output, and SIGTERM ending the server with status 0 within 10 s.

What it cannot prove: the base image's own Python (it runs a host Python of the same X.Y,
with the host virtualenv's third-party packages), the apt and pip layers (no download: the
requirements are checked against what is installed), the real HEALTHCHECK timing (it polls
every half second), Docker's network and mount namespaces, and compose.yaml.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.browser import free_port
from tests.support.dockerfile import ROOT
from tests.support.image_build import Image, RehearsalError, build, build_check
from tests.support.stclient import StreamlitError, Tab

STOP_GRACE = 10.0  # seconds, `docker stop`'s default before SIGKILL
ADMIN = "rehearsal-admin"  # the first admin, created from MODELDESK_ADMIN_* at the first start


@dataclass
class Report:
    """What the rehearsal did and how long each step took."""

    steps: list[tuple[str, float, str]] = field(default_factory=list)

    def step(self, name: str, started: float, detail: str = "") -> None:
        self.steps.append((name, time.monotonic() - started, detail))

    def lines(self) -> list[str]:
        return [f"{s:6.1f} s  {name}{'  ' + d if d else ''}" for name, s, d in self.steps]


def _fail(message: str, log: str = "") -> RehearsalError:
    tail = "\n".join(log.strip().splitlines()[-25:])
    return RehearsalError(f"{message}\n--- output ---\n{tail}" if tail else message)


def _adjust(text: str, image: Image, port: int) -> str:
    """The command with the exposed port moved to `port` and 0.0.0.0 to loopback."""
    for exposed in image.ports:
        text = re.sub(rf"(?<![\d.]){exposed}(?!\d)", str(port), text)
    return text.replace("0.0.0.0", "127.0.0.1")


def run_env(image: Image, data: Path, **extra: str) -> dict[str, str]:
    """The container's environment: the Dockerfile's ENV, its volume paths mapped, and -e."""
    env = {"PATH": f"{image.python.parent}:/usr/bin:/bin", "HOME": str(_home(image))}
    for key, value in image.env.items():
        env[key] = str(data) if value in image.volumes else value
    return {**env, **extra}


def _home(image: Image) -> Path:
    homes = [home for uid, _gid, home in image.users.values() if uid == image.uid and home]
    return image.host(homes[0]) if homes else image.host("/")


def _fresh_volume(image: Image, name: str) -> Path:
    """A named volume: Docker fills a new one with the image's folder, owner and mode."""
    (volume,) = image.volumes
    source = image.host(volume)
    path = image.scratch / name
    path.mkdir()
    os.chown(path, source.stat().st_uid, source.stat().st_gid)
    path.chmod(source.stat().st_mode & 0o7777)
    return path


def _as_user(image: Image, argv: list[str], env: dict[str, str], **kw: object) -> subprocess.Popen:
    return subprocess.Popen(  # type: ignore[call-overload]
        argv,
        cwd=image.host(image.workdir),
        env=env,
        user=image.uid,
        group=image.gid,
        extra_groups=[],
        umask=0o022,
        stdin=subprocess.DEVNULL,  # `docker run` without -i
        **kw,
    )


def _container(
    image: Image, argv: list[str], env: dict[str, str], **kw: object
) -> subprocess.Popen:
    """The CMD as a container runs it: PID 1 of a new PID namespace (a PID 1 without a
    handler ignores SIGTERM, as in Docker), as the image's user. Returns the `unshare`."""
    ids = [f"--reuid={image.uid}", f"--regid={image.gid}", "--clear-groups"]
    return subprocess.Popen(  # type: ignore[call-overload]
        ["unshare", "--pid", "--fork", "--", "setpriv", *ids, "--", *argv],
        cwd=image.host(image.workdir),
        env=env,
        umask=0o022,
        stdin=subprocess.DEVNULL,  # `docker run` without -i
        **kw,
    )


def _pid1(proc: subprocess.Popen, timeout: float = 10) -> int:
    """The host pid of the namespace's PID 1 (the child of `unshare`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.05)
    raise RehearsalError("unshare started no process")


def _snapshot(root: Path) -> dict[str, tuple[int, int, int, int]]:
    found = {}
    for folder, dirs, names in os.walk(root):
        for name in [*dirs, *names]:
            st = (Path(folder) / name).lstat()
            found[str(Path(folder, name).relative_to(root))] = (
                st.st_size,
                st.st_mtime_ns,
                st.st_mode,
                st.st_uid,
            )
    return found


def check_staged_interpreter(image: Image) -> str:
    """From inside the staged interpreter: `core` is the staged copy, the repository is not on
    sys.path, and a package the image does not install (pytest) cannot be imported."""
    probe = (
        "import sys, core; print(core.__file__); print('\\n'.join(sys.path))\n"
        "try:\n    import pytest\nexcept ModuleNotFoundError as e:\n    print('blocked:', e)\n"
    )
    done = subprocess.run(
        [str(image.python), "-c", probe],
        cwd="/",
        env=run_env(image, image.host("/data")),
        user=image.uid,
        group=image.gid,
        extra_groups=[],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if done.returncode:
        raise _fail("the staged interpreter cannot import core", done.stderr)
    first, *paths = done.stdout.splitlines()
    app = image.host(image.workdir)
    if Path(first).parent != app / "core":
        raise _fail(f"core came from {first}, not from the staged {app}")
    others = [p for p in paths[:-1] if p and (Path(p) / "core/__init__.py").exists()]
    if others:
        raise _fail(f"another copy of core is on sys.path: {others}")
    if not paths or not paths[-1].startswith("blocked:"):
        raise _fail("pytest is importable in the staged interpreter: the guard is not working")
    return first


def refuses_without_secret(image: Image) -> str:
    """The CMD without MODELDESK_SECRET_KEY: a clear line, non-zero, no traceback, no file."""
    data = _fresh_volume(image, "data-nosecret")
    port = free_port()
    proc = _as_user(
        image,
        [_adjust(a, image, port) for a in image.cmd],
        run_env(image, data),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the shell and whatever it started
        out = proc.communicate()[0]
        raise _fail("without MODELDESK_SECRET_KEY the CMD kept running", out) from None
    if proc.returncode == 0 or "MODELDESK_SECRET_KEY" not in out or "Traceback" in out:
        raise _fail(f"without the key: exit {proc.returncode}, expected a clear refusal", out)
    if any(data.iterdir()):
        raise _fail(f"the refused start wrote into /data: {sorted(os.listdir(data))}", out)
    return next(line for line in out.splitlines() if "MODELDESK_SECRET_KEY" in line).strip()


def _healthcheck(image: Image, env: dict[str, str], port: int, proc: subprocess.Popen) -> int:
    """Run the HEALTHCHECK's command until it passes within the start period; the tries."""
    assert image.health is not None
    options = image.health.options
    argv = [_adjust(a, image, port) for a in image.health.command]
    deadline = time.monotonic() + options.get("start-period", 0)
    tries = 0
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RehearsalError(f"the CMD exited with {proc.returncode} before it was healthy")
        tries += 1
        check = _as_user(image, argv, env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            if check.wait(timeout=options.get("timeout", 30)) == 0:
                return tries
        except subprocess.TimeoutExpired:
            check.kill()
            check.wait()
        time.sleep(0.5)
    raise RehearsalError("the HEALTHCHECK did not pass within the start period")


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (loopback)
        return response.status, response.read().decode("utf-8", "replace")


def serve_and_check(image: Image, report: Report) -> None:
    """Run the CMD as the image's user, wait on the HEALTHCHECK, check, SIGTERM."""
    data = _fresh_volume(image, "data")
    key, password = secrets.token_urlsafe(48), secrets.token_urlsafe(24)
    env = run_env(
        image,
        data,
        MODELDESK_SECRET_KEY=key,
        MODELDESK_ADMIN_USERNAME=ADMIN,
        MODELDESK_ADMIN_PASSWORD=password,
    )
    port = free_port()
    app = image.host(image.workdir)
    before = _snapshot(app)
    log_path = image.scratch / "server.log"
    started = time.monotonic()
    with log_path.open("w") as log:
        proc = _container(
            image, [_adjust(a, image, port) for a in image.cmd], env, stdout=log, stderr=log
        )
    pid1 = _pid1(proc)
    log_text: Callable[[], str] = lambda: log_path.read_text(errors="replace")  # noqa: E731
    try:
        try:
            tries = _healthcheck(image, env, port, proc)
        except RehearsalError as exc:
            raise _fail(str(exc), log_text()) from None
        report.step("CMD healthy (db upgrade + streamlit)", started, f"{tries} HEALTHCHECK tries")
        started = time.monotonic()
        _check_answers(f"http://127.0.0.1:{port}", password, report, log_text)
        _check_data(image, data, log_text())
    except BaseException:
        kill(proc, pid1)
        raise
    started = time.monotonic()
    code = stop(proc, pid1, STOP_GRACE)
    out = log_text()
    if code != 0 or "Traceback" in out:
        raise _fail(f"after SIGTERM the server exited with {code}", out)
    report.step("SIGTERM: clean exit 0", started)
    if key in out or password in out:
        raise _fail("the secret key or the admin's password appears in the server's output")
    changed = sorted(set(before.items()) ^ set(_snapshot(app).items()))
    if changed:
        raise _fail(f"the run changed the staged /app: {[c[0] for c in changed][:10]}")


def kill(proc: subprocess.Popen, pid1: int) -> None:
    """`docker kill`: SIGKILL to PID 1, and the kernel ends the whole PID namespace. (Killing
    `unshare` would not do: --kill-child's parent-death signal is cleared when setpriv
    switches to the image's uid.)"""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid1, signal.SIGKILL)
    proc.wait()


def stop(proc: subprocess.Popen, pid1: int, grace: float) -> int:
    """`docker stop`: SIGTERM to the container's PID 1, SIGKILL after `grace` seconds (then
    fail). The exit status of PID 1."""
    if proc.poll() is None:
        os.kill(pid1, signal.SIGTERM)
    try:
        return proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        kill(proc, pid1)
        raise RehearsalError(
            f"SIGTERM did not stop the container's PID 1 in {grace:.0f} s (a PID 1 without a"
            " SIGTERM handler ignores it: does the CMD `exec` the server?)"
        ) from None


def _check_answers(base_url: str, password: str, report: Report, log: Callable[[], str]) -> None:
    started = time.monotonic()
    status, body = _get(f"{base_url}/_stcore/health")
    if (status, body.strip()) != (200, "ok"):
        raise _fail(f"/_stcore/health answered {status} {body[:80]!r}", log())
    status, body = _get(f"{base_url}/")
    if status != 200 or '<div id="root">' not in body:
        raise _fail(f"GET / answered {status} without Streamlit's page", log())
    try:
        pages = sign_in_and_open_every_page(base_url, password)
    except (RehearsalError, StreamlitError) as exc:
        raise _fail(str(exc), log()) from None
    report.step("health, sign-in page, admin opens every page", started, ", ".join(pages))


def sign_in_and_open_every_page(base_url: str, password: str) -> list[str]:
    """Through Streamlit's websocket, as a browser tab: the sign-in form, the bootstrap admin
    signs in, every page of the navigation runs without an exception or an error alert."""
    with Tab(base_url) as tab:
        form = tab.run("")
        if form.exceptions or not any(e.text == "Sign in to Modeldesk" for e in form.elements):
            raise RehearsalError(f"the sign-in page did not render: {form.exceptions}")
        signed_in = tab.run(
            None,
            {
                form.find("text_input", "Username").id: ("string_value", ADMIN),
                form.find("text_input", "Password").id: ("string_value", password),
                form.find("button", "Sign in").id: ("trigger_value", True),
            },
        )
        if not any(e.kind == "button" and e.label == "Sign out" for e in signed_in.elements):
            raise RehearsalError(f"the bootstrap admin could not sign in: {signed_in.errors()}")
        if len(tab.pages) < 2:
            raise RehearsalError(f"the navigation lists only {sorted(tab.pages)}")
        for page in list(tab.pages):
            run = tab.run(page)
            if run.exceptions or run.errors():
                raise RehearsalError(f"page /{page}: {run.exceptions + run.errors()}")
        return [f"/{page}" for page in tab.pages]


def _check_data(image: Image, data: Path, out: str) -> None:
    """The SQLite file is in the volume and the uid's; /app is root's and not writable."""
    databases = sorted(data.glob("*.db"))
    if not databases:
        raise _fail(f"no SQLite database in /data: {sorted(os.listdir(data))}", out)
    for path in [data, *data.iterdir()]:
        if path.stat().st_uid != image.uid:
            raise _fail(f"{path.name} in /data belongs to uid {path.stat().st_uid}", out)
    app = image.host(image.workdir)
    for folder, dirs, names in os.walk(app):
        for name in [Path(folder), *(Path(folder) / n for n in [*dirs, *names])]:
            st = name.lstat()
            if st.st_uid != 0 or st.st_mode & 0o022:
                raise _fail(f"{name.relative_to(app)} in /app is writable beyond root")


def missing_prerequisites(context: Path = ROOT) -> str | None:
    """Why the rehearsal cannot run here (None when it can)."""
    if os.geteuid() != 0:
        return "the image rehearsal runs as root (it switches to the image's USER uid)"
    missing = [tool for tool in ("unshare", "setpriv") if shutil.which(tool) is None]
    if missing:
        return f"the image rehearsal needs {' and '.join(missing)} (util-linux)"
    try:
        build_check(context)
    except RehearsalError as exc:
        return str(exc)
    return None


def rehearse(context: Path = ROOT, keep: bool = False) -> Report:
    """Build and run the image's stand-in; raise RehearsalError at the first failed check."""
    reason = missing_prerequisites(context)
    if reason:
        raise RehearsalError(reason)
    report = Report()
    started = time.monotonic()
    image = build(context)
    try:
        report.step(
            "build: COPY, RUN stand-ins, requirements",
            started,
            f"{len(image.staged)} files staged, {len(image.requirements)} requirements, "
            f"{len(image.closure)} distributions in their closure",
        )
        started = time.monotonic()
        report.step("staged core is the one that runs", started, check_staged_interpreter(image))
        started = time.monotonic()
        report.step("refuses without the secret key", started, refuses_without_secret(image))
        serve_and_check(image, report)
    finally:
        if keep:
            print(f"kept {image.scratch}", file=sys.stderr)
        else:
            shutil.rmtree(image.scratch, ignore_errors=True)
    return report


def main(argv: list[str] | None = None) -> int:
    """The command line: print each step with its time; exit 1 at the first failure."""
    parser = argparse.ArgumentParser(prog="python -m tests.support.image_rehearsal")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument(
        "--context", type=Path, default=ROOT, help="the build context (default: this repository)"
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        report = rehearse(args.context.resolve(), keep=args.keep)
    except RehearsalError as exc:
        print(f"image rehearsal FAILED: {exc}", file=sys.stderr)
        return 1
    print("\n".join(report.lines()))
    load = os.getloadavg()[0]
    print(f"image rehearsal passed in {time.monotonic() - started:.1f} s (load average {load:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
