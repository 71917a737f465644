"""The container image, built and run without a Docker engine (tests/support/image_rehearsal.py):
the Dockerfile parsed strictly, /app staged from the build context as Docker sees it, the RUN
lines carried out by stand-ins (the requirements checked against the installed
distributions, a package outside their closure made unimportable), then the CMD run as uid
10001 with only the Dockerfile's ENV, as PID 1 of its own PID namespace: it refuses to start
without MODELDESK_SECRET_KEY; with it, the HEALTHCHECK passes within the start period, the
bootstrap admin signs in and opens every page, the SQLite file is the uid's in /data, /app is
unchanged, and SIGTERM stops it with exit 0.

What it cannot prove: the base image's own Python (a host Python of the same X.Y runs, with
the host virtualenv's third-party packages), the apt and pip layers (nothing is downloaded),
the HEALTHCHECK's real timing (it is polled every half second), Docker's network and mount
namespaces, and compose.yaml (no `docker compose` here: the static checks are in
tests/test_deployment.py). Needs root (to switch to the image's uid), `unshare`, `setpriv` and
a Python X.Y that uid 10001 can run; in CI a missing one fails the test.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path, PurePosixPath

import pytest

from tests.conftest import IN_CI
from tests.support import dockerfile as df
from tests.support import image_build, image_rehearsal

UID = 10001


def _require_root_tools() -> None:
    reason = image_rehearsal.missing_prerequisites()
    if reason:
        if IN_CI:
            pytest.fail(f"{reason}; CI runs the image rehearsal.", pytrace=False)
        pytest.skip(reason)


def test_the_image_builds_and_runs_without_a_docker_engine() -> None:
    _require_root_tools()
    report = image_rehearsal.rehearse()
    print("\n".join(report.lines()))
    names = [name for name, _seconds, _detail in report.steps]
    assert names == [
        "build: COPY, RUN stand-ins, requirements",
        "staged core is the one that runs",
        "refuses without the secret key",
        "CMD healthy (db upgrade + streamlit)",
        "health, sign-in page, admin opens every page",
        "SIGTERM: clean exit 0",
    ]
    pages = report.steps[4][2].split(", ")
    assert {"/", "/providers", "/models", "/users"} <= set(pages)


# --- PID 1 and docker stop ------------------------------------------------------------------


def _bare_image() -> image_build.Image:
    """An empty image root uid 10001 can reach (pytest's tmp_path is root's, mode 0700)."""
    scratch = Path(tempfile.mkdtemp(prefix="modeldesk-pid1-"))
    scratch.chmod(0o755)
    image = image_build.Image(scratch, scratch / "rootfs", uid=UID, gid=UID)
    image.rootfs.mkdir(mode=0o755)
    return image


@pytest.mark.parametrize(
    ("command", "stops"),
    [
        ("sleep 30", False),  # sh without a handler, as PID 1: SIGTERM is ignored
        ("trap 'exit 0' TERM; sleep 30 & wait", True),
    ],
)
def test_stop_needs_a_pid_1_that_handles_sigterm(command: str, stops: bool) -> None:
    _require_root_tools()
    image = _bare_image()
    try:
        proc = image_rehearsal._container(image, ["/bin/sh", "-c", command], {"PATH": "/bin"})
        pid1 = image_rehearsal._pid1(proc)
        time.sleep(0.3)  # let sh install its trap
        if stops:
            assert image_rehearsal.stop(proc, pid1, grace=5) == 0
        else:
            with pytest.raises(image_build.RehearsalError, match="does the CMD `exec`"):
                image_rehearsal.stop(proc, pid1, grace=1)
        assert proc.poll() is not None
    finally:
        shutil.rmtree(image.scratch, ignore_errors=True)


def test_the_port_moves_and_the_address_goes_to_loopback() -> None:
    image = image_build.Image(Path("/x"), Path("/x/rootfs"), ports=[8501])
    cmd = "exec streamlit run app.py --server.address=0.0.0.0 --server.port=8501"
    moved = image_rehearsal._adjust(cmd, image, 40123)
    assert moved.endswith("--server.address=127.0.0.1 --server.port=40123")
    assert image_rehearsal._adjust("http://127.0.0.1:8501/_stcore/health", image, 9) == (
        "http://127.0.0.1:9/_stcore/health"
    )


# --- the Dockerfile reader ------------------------------------------------------------------


def test_the_reader_refuses_an_instruction_it_does_not_understand() -> None:
    for word in ("ADD", "ARG", "ENTRYPOINT", "SHELL", "ONBUILD", "STOPSIGNAL"):
        with pytest.raises(df.DockerfileError, match=rf"line 3: {word} is not an instruction"):
            df.parse(f"FROM python:3.11.14-slim\n# {word}\n{word} x y\n")


def test_continuations_and_comments_are_read_as_docker_reads_them() -> None:
    text = 'FROM a\nRUN one \\\n# a comment inside\n    && two\n\nENV A=1 \\\n    B="x y"\n'
    instructions = df.parse(text)
    assert [(i.line, i.keyword, i.args) for i in instructions] == [
        (1, "FROM", "a"),
        (2, "RUN", "one && two"),
        (6, "ENV", 'A=1 B="x y"'),
    ]
    assert df.env(instructions) == {"A": "1", "B": "x y"}
    with pytest.raises(df.DockerfileError, match="is not KEY=value"):
        df.env(df.parse("ENV A 1\n"))
    with pytest.raises(df.DockerfileError, match="continuation"):
        df.parse("RUN a \\\n")


def test_the_real_healthcheck_and_cmd() -> None:
    instructions = df.read()
    (health,) = [df.healthcheck(i) for i in instructions if i.keyword == "HEALTHCHECK"]
    assert health.options == {"interval": 30, "timeout": 5, "start-period": 60, "retries": 3}
    assert health.command[:2] == ["python", "-c"] and "/_stcore/health" in health.command[2]
    (cmd,) = [df.exec_form(i) for i in instructions if i.keyword == "CMD"]
    assert cmd[:2] == ["sh", "-c"] and "exec streamlit run app.py" in cmd[2]
    bad = df.parse("HEALTHCHECK --interval=soon CMD true\n")[0]
    with pytest.raises(df.DockerfileError, match="not a duration"):
        df.healthcheck(bad)


def test_copy_stages_what_docker_would_and_refuses_what_it_would(tmp_path: Path) -> None:
    context, rootfs = tmp_path / "context", tmp_path / "rootfs"
    (context / "pkg/__pycache__").mkdir(parents=True)
    (context / "pkg/a.py").write_text("a")
    (context / "pkg/__pycache__/a.pyc").write_text("junk")
    (context / "secret.env").write_text("KEY=1")
    (context / ".dockerignore").write_text("**/__pycache__\n*.env\n")
    app = PurePosixPath("/app")
    (ins,) = df.parse("COPY pkg ./pkg\n")
    assert df.stage_copy(ins, app, context, rootfs) == [("pkg/a.py", app / "pkg/a.py")]
    assert not (rootfs / "app/pkg/__pycache__").exists()
    for line, message in [
        ("COPY secret.env ./\n", "not in the build context"),
        ("COPY missing ./\n", "not in the build context"),
        ("COPY --chown=1:1 pkg ./pkg\n", "flags"),
        ("COPY *.py ./\n", "wildcards"),
    ]:
        with pytest.raises(df.DockerfileError, match=message):
            df.stage_copy(df.parse(line)[0], app, context, rootfs)


# --- RUN stand-ins and requirements ---------------------------------------------------------


def test_a_run_command_without_a_stand_in_is_refused(tmp_path: Path) -> None:
    image = image_build.Image(tmp_path, tmp_path / "rootfs")
    (ins,) = df.parse("RUN apt-get update && apt-get install -y curl\n")
    with pytest.raises(image_build.RehearsalError, match="`apt-get update` has no stand-in"):
        image_build._run(image, ins, {})
    (ins,) = df.parse("RUN pip install streamlit\n")
    with pytest.raises(image_build.RehearsalError, match="pip command is not rehearsed"):
        image_build._run(image, ins, {})


def test_requirements_resolve_against_the_installed_distributions() -> None:
    found = image_build.closure(["httpx>=0.28,<1"])
    assert {"httpx", "httpcore", "anyio", "h11"} <= set(found)
    assert "pytest" not in found
    with pytest.raises(image_build.RehearsalError, match="no-such-distribution-xyz is not"):
        image_build.closure(["no-such-distribution-xyz>=1"])
    with pytest.raises(image_build.RehearsalError, match="does not match"):
        image_build.closure(["httpx<0.1"])


def test_the_prerequisites_are_named_when_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    reason = image_rehearsal.missing_prerequisites()
    assert reason and "unshare" in reason
