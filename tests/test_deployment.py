"""The deployment files, read as data (Docker is not needed): the Dockerfile's base image,
user, volume, port, health check and copies; the build context that keeps secrets out;
compose.yaml's services, ports, volumes, health checks, sticky proxy and secrets that are
only ever references; and the README's `docker run` and `docker compose up`."""

from __future__ import annotations

import ipaddress
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import dockerfile

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
SECRET_NAME = re.compile(r"SECRET|PASSWORD|TOKEN|_KEY\b|API_KEY", re.IGNORECASE)
REFERENCE = re.compile(r"^\$\{[A-Z_][A-Z0-9_]*(:[?-][^}]*)?\}$")


# --- Dockerfile -----------------------------------------------------------------------------


INSTRUCTIONS = dockerfile.read(ROOT)


def _all(name: str) -> list[str]:
    return dockerfile.all_args(INSTRUCTIONS, name)


def _env() -> dict[str, str]:
    return dockerfile.env(INSTRUCTIONS)


def test_the_base_image_is_a_slim_python_pinned_to_a_patch_release() -> None:
    (base,) = _all("FROM")
    found = re.fullmatch(r"python:(\d+)\.(\d+)\.(\d+)-slim(-[a-z]+)?", base)
    assert found, f"FROM {base}: pin python:X.Y.Z-slim[-debian]"
    minor = f"{found[1]}.{found[2]}"
    floor = re.fullmatch(r">=\s*(\d+\.\d+)", PYPROJECT["project"]["requires-python"])
    assert floor and tuple(map(int, minor.split("."))) >= tuple(map(int, floor[1].split(".")))
    # The interpreter the image runs is the one the code is type-checked for.
    assert minor == PYPROJECT["tool"]["mypy"]["python_version"]


def test_dependencies_come_from_pyproject() -> None:
    runs = " ".join(_all("RUN"))
    assert "pyproject.toml" in runs and "['project']['dependencies']" in runs
    assert "pip install --no-deps -e ." in runs


def test_the_image_runs_unprivileged_with_a_data_volume_a_port_and_a_health_check() -> None:
    (user,) = _all("USER")
    assert user.split(":")[0] not in ("root", "0")
    assert _all("VOLUME") == ['["/data"]']
    assert _all("EXPOSE") == ["8501"]
    (health,) = _all("HEALTHCHECK")
    assert "/_stcore/health" in health and "--interval" in health
    env = _env()
    assert env["MODELDESK_DATA_DIR"] == "/data" and env["MODELDESK_ENV"] == "production"
    assert env["FORWARDED_ALLOW_IPS"] == ""
    (cmd,) = _all("CMD")
    assert "modeldesk db upgrade && exec streamlit run app.py" in cmd


def test_no_secret_is_built_in() -> None:
    for word in ("ENV", "ARG", "LABEL"):
        for args in _all(word):
            names = [p.partition("=")[0] for p in shlex.split(args)]
            assert not [n for n in names if SECRET_NAME.search(n)], f"{word} {args}"


_ignored_by = dockerfile.ignored_by
DOCKERIGNORE = dockerfile.dockerignore(ROOT)


def test_everything_the_dockerfile_copies_exists_and_is_in_the_build_context() -> None:
    copies = _all("COPY")
    assert copies
    for args in copies:
        *sources, _target = shlex.split(args)
        for source in (s for s in sources if not s.startswith("--")):
            assert (ROOT / source).exists(), f"COPY {source}: no such file in the repository"
            assert not _ignored_by(DOCKERIGNORE, source), f"COPY {source}: .dockerignore drops it"


@pytest.mark.parametrize(
    "path",
    [
        ".streamlit/secrets.toml",
        "data/modeldesk.db",
        "data/secret.key",
        ".env",
        "prod.env",
        ".git/config",
        ".venv/bin/python",
        "tests/test_backup.py",
        "backup.db",
    ],
)
def test_the_build_context_leaves_out_secrets_and_local_state(path: str) -> None:
    assert _ignored_by(DOCKERIGNORE, path)


def test_the_ignore_rules_are_read_as_docker_reads_them() -> None:
    assert _ignored_by(["data", "!data/.keep"], "data/x.db")
    assert not _ignored_by(["data", "!data/.keep"], "data/.keep")
    assert _ignored_by(["**/__pycache__"], "core/store/__pycache__/db.pyc")
    assert not _ignored_by(["*.env"], "core/config.py")


# --- compose.yaml ---------------------------------------------------------------------------

COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
SERVICES: dict[str, Any] = COMPOSE["services"]
REPLICAS = ("app1", "app2")


def _strings(node: Any, path: str = "") -> list[tuple[str, str]]:
    """Every (key path, string value) in the document."""
    if isinstance(node, dict):
        return [kv for k, v in node.items() for kv in _strings(v, f"{path}.{k}")]
    if isinstance(node, list):
        return [kv for i, v in enumerate(node) for kv in _strings(v, f"{path}[{i}]")]
    return [(path, node)] if isinstance(node, str) else []


def test_the_services() -> None:
    assert set(SERVICES) == {"db", "migrate", *REPLICAS, "proxy"}
    assert re.fullmatch(r"postgres:\d+\.\d+(-[a-z]+)?", SERVICES["db"]["image"])
    assert re.fullmatch(r"haproxy:\d+\.\d+\.\d+(-[a-z]+)?", SERVICES["proxy"]["image"])
    for name in ("migrate", *REPLICAS):
        service = SERVICES[name]
        assert service["build"] == "." and service["environment"]["MODELDESK_ENV"] == "production"
        url = service["environment"]["MODELDESK_DATABASE_URL"]
        assert url.startswith("postgresql+psycopg://") and "@db:5432/" in url


def test_one_port_the_proxy_s() -> None:
    published = {name: s["ports"] for name, s in SERVICES.items() if s.get("ports")}
    assert published == {"proxy": ["8501:8501"]}


def test_the_replicas_start_after_the_migration_and_share_their_settings() -> None:
    assert SERVICES["migrate"]["command"] == ["modeldesk", "db", "upgrade"]
    assert SERVICES["migrate"]["restart"] == "no"
    for name in REPLICAS:
        needs = SERVICES[name]["depends_on"]
        assert needs["migrate"]["condition"] == "service_completed_successfully"
        assert needs["db"]["condition"] == "service_healthy"
        assert SERVICES[name]["command"][:3] == ["streamlit", "run", "app.py"]
    assert SERVICES["app1"]["environment"] == SERVICES["app2"]["environment"]
    assert "STREAMLIT_SERVER_COOKIE_SECRET" in SERVICES["app1"]["environment"]


def test_volumes_and_health_checks() -> None:
    assert "pgdata:/var/lib/postgresql/data" in SERVICES["db"]["volumes"]
    assert "pgdata" in COMPOSE["volumes"]
    assert "pg_isready" in " ".join(SERVICES["db"]["healthcheck"]["test"])
    assert "/haproxy-health" in " ".join(SERVICES["proxy"]["healthcheck"]["test"])
    for name in REPLICAS:  # the image's HEALTHCHECK on /_stcore/health applies
        assert not SERVICES[name].get("healthcheck", {}).get("disable")
        assert SERVICES["proxy"]["depends_on"][name]["condition"] == "service_healthy"


def test_the_proxy_keeps_a_browser_on_its_replica_and_checks_their_health() -> None:
    config = COMPOSE["configs"]["haproxy"]["content"]
    assert SERVICES["proxy"]["configs"][0]["source"] == "haproxy"
    assert "option httpchk GET /_stcore/health" in config
    assert re.search(r"^\s*cookie MODELDESK_REPLICA insert indirect nocache", config, re.M)
    for name in REPLICAS:
        assert re.search(rf"^\s*server {name} {name}:8501 check cookie {name}\b", config, re.M)
    assert "timeout tunnel" in config  # the websocket outlives an HTTP timeout
    assert "option redispatch" in config  # a stopped replica's browsers move on
    assert "http-request set-header X-Forwarded-For %[src]" in config


def test_only_the_proxy_is_a_trusted_proxy() -> None:
    proxy_ip = SERVICES["proxy"]["networks"]["modeldesk"]["ipv4_address"]
    (subnet,) = [c["subnet"] for c in COMPOSE["networks"]["modeldesk"]["ipam"]["config"]]
    assert ipaddress.ip_address(proxy_ip) in ipaddress.ip_network(subnet)
    for name in REPLICAS:
        assert SERVICES[name]["environment"]["MODELDESK_TRUSTED_PROXIES"] == proxy_ip


def test_secrets_are_only_references() -> None:
    for path, value in _strings(COMPOSE):
        key = path.rsplit(".", 1)[-1]
        if SECRET_NAME.search(key):
            assert REFERENCE.match(value), f"{path} holds a literal; use ${{{key}}} from .env"
        for found in re.finditer(r"://[^:/@\s]+:([^@\s]+)@", value):  # a password in a URL
            assert REFERENCE.match(found[1]), f"{path}: the URL's password must be a reference"
    required = {"MODELDESK_SECRET_KEY", "POSTGRES_PASSWORD", "STREAMLIT_SERVER_COOKIE_SECRET"}
    text = (ROOT / "compose.yaml").read_text(encoding="utf-8")
    for name in required:  # `:?`: compose refuses to start without it
        assert f"${{{name}:?" in text


def test_the_env_file_is_never_committed() -> None:
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert ".env" in ignored


# --- README ---------------------------------------------------------------------------------


def test_the_readme_shows_docker_run_with_sqlite_and_compose_with_postgresql() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    run = re.search(r"^docker run .*$", readme, re.M)
    assert run and "-v modeldesk-data:/data" in run[0] and "-p 8501:8501" in run[0]
    assert "MODELDESK_SECRET_KEY" in run[0]
    assert re.search(r"^docker compose up\b", readme, re.M)
    assert "docs/operations.md" in readme
