"""Settings from the environment (and `.streamlit/secrets.toml`).

This is the only module that reads environment variables: everything else gets a
``Settings`` (which carries a snapshot of the environment for the parts, like system
providers and ``${VAR}`` references in imports, that are about the environment itself).
"""

from __future__ import annotations

import logging
import os
import secrets
import time
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from core.errors import ConfigurationError

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SECRETS_TOML = PROJECT_ROOT / ".streamlit" / "secrets.toml"
DEV_SECRET_FILE = "secret.key"


@dataclass(frozen=True)
class Settings:
    """Everything Modeldesk reads from its environment, resolved once."""

    environment: str = "development"
    data_dir: Path = PROJECT_ROOT / "data"
    database_url: str | None = None
    secret_key: str | None = None
    retired_secret_keys: tuple[str, ...] = ()
    disabled_system_providers: frozenset[str] = frozenset()
    admin_username: str | None = None
    admin_password: str | None = None
    environ: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def production(self) -> bool:
        """True when MODELDESK_ENV=production."""
        return self.environment == "production"

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to the embedded SQLite file in the data folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'modeldesk.db'}"


def _split_keys(raw: str | None) -> tuple[str, ...]:
    # Secrets are separated by commas or whitespace; generated ones contain neither.
    if not raw:
        return ()
    return tuple(part for part in raw.replace(",", " ").split() if part)


def _read_secrets_toml(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"{path.name} cannot be read: {exc}") from None
    return {k: str(v) for k, v in data.items() if isinstance(v, (str, int, float, bool))}


def load_settings(environ: Mapping[str, str] | None = None,
                  secrets_file: Path | None = SECRETS_TOML) -> Settings:
    """Build Settings from an environment mapping (default: the process environment)."""
    env = dict(os.environ if environ is None else environ)
    file_values = _read_secrets_toml(secrets_file) if secrets_file else {}
    merged = {**file_values, **env}  # the environment wins over secrets.toml

    environment = merged.get("MODELDESK_ENV", "development").strip().lower() or "development"
    if environment not in ("development", "production", "test"):
        raise ConfigurationError(
            "MODELDESK_ENV must be development, production or test, "
            f"not {environment!r}.")
    data_dir = Path(merged.get("MODELDESK_DATA_DIR") or PROJECT_ROOT / "data")
    disabled = {t.strip().lower() for t in
                merged.get("MODELDESK_DISABLE_SYSTEM_PROVIDERS", "").replace(",", " ").split()}
    return Settings(
        environment=environment,
        data_dir=data_dir,
        database_url=merged.get("MODELDESK_DATABASE_URL") or None,
        secret_key=merged.get("MODELDESK_SECRET_KEY") or None,
        retired_secret_keys=_split_keys(merged.get("MODELDESK_RETIRED_SECRET_KEYS")),
        disabled_system_providers=frozenset(disabled),
        admin_username=merged.get("MODELDESK_ADMIN_USERNAME") or None,
        admin_password=merged.get("MODELDESK_ADMIN_PASSWORD") or None,
        environ=MappingProxyType(merged),
    )


def resolve_secret_key(settings: Settings) -> str:
    """Return the secret key; in development, generate one into the data folder once."""
    if settings.secret_key:
        return settings.secret_key
    if settings.production:
        raise ConfigurationError(
            "MODELDESK_SECRET_KEY is not set. Production refuses to start without an "
            "explicit secret key; generate one with: "
            "python -c \"import secrets; print(secrets.token_urlsafe(48))\"")
    path = settings.data_dir / DEV_SECRET_FILE
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    try:  # O_EXCL: two processes starting at once must end up with the same key
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(20):  # another process may be between creating and writing it
            existing = path.read_text(encoding="utf-8").strip()
            if existing:
                return existing
            time.sleep(0.05)
        raise ConfigurationError(f"{path} is empty; delete it or set MODELDESK_SECRET_KEY.")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(key + "\n")
    log.warning("No MODELDESK_SECRET_KEY set: development mode generated one into %s "
                "(mode 0600). Set MODELDESK_SECRET_KEY explicitly in production.", path)
    return key
