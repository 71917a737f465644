"""Settings from the environment (and `.streamlit/secrets.toml`).

This is the only module that reads environment variables: everything else gets a
``Settings`` (which carries a snapshot of the environment for the parts, like system
providers and ``${VAR}`` references in imports, that are about the environment itself).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
import time
import tomllib
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from sqlalchemy.engine import make_url

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
    allowed_networks: tuple[str, ...] = ()  # CIDRs the outbound guard may reach
    # Reverse proxies whose X-Forwarded-For is believed (addresses or CIDRs, normalised).
    trusted_proxies: tuple[str, ...] = ()
    # Health checks: seconds between sweeps (0: no background scheduler in this process),
    # the hard deadline of one probe, and how long check history is kept.
    health_interval: int = 300
    health_deadline: float = 10.0
    health_retention_days: int = 30
    # The zone whose calendar days usage rollups are bucketed in (an IANA name).
    timezone: str = "UTC"
    # The largest OTLP request body the ingest route takes, compressed and decompressed.
    ingest_max_bytes: int = 4 * 1024 * 1024
    # The largest usage file (or pasted text) an import reads, on the Costs page and the CLI.
    import_max_bytes: int = 32 * 1024 * 1024
    debug: bool = False  # the CLI prints a traceback after its one-line internal error
    # Days of raw usage events kept (None: forever); the daily rollups are always kept.
    usage_retention_days: int | None = None
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


def _split_networks(raw: str | None) -> tuple[str, ...]:
    # Normalised CIDRs; a typo must stop the start, not silently allow nothing (or too much).
    networks = []
    for part in (raw or "").replace(",", " ").split():
        try:
            networks.append(str(ipaddress.ip_network(part, strict=False)))
        except ValueError:
            raise ConfigurationError(
                f"MODELDESK_ALLOWED_NETWORKS: {part[:50]!r} is not a CIDR network "
                "(for example 10.0.0.0/8 or fd00::/8)."
            ) from None
    return tuple(networks)


def _split_proxies(raw: str | None) -> tuple[str, ...]:
    # Strict: a host part in a network (10.0.0.1/8), a name or "trust everyone" is a mistake
    # that would let clients choose the address the sign-in throttle counts against.
    networks = []
    for part in (raw or "").replace(",", " ").split():
        try:
            network = ipaddress.ip_network(part)
        except ValueError:
            raise ConfigurationError(
                f"MODELDESK_TRUSTED_PROXIES: {part[:50]!r} is not an IP address or a network "
                "(for example 127.0.0.1, 10.0.0.0/8 or fd00::/8; no host bits set after "
                "the /)."
            ) from None
        if network.prefixlen == 0:
            raise ConfigurationError(
                f"MODELDESK_TRUSTED_PROXIES: {part[:50]!r} would trust every address, so "
                "any client could choose its own; list your proxies' addresses."
            )
        networks.append(str(network))
    return tuple(networks)


def _read_secrets_toml(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"{path.name} cannot be read: {exc}") from None
    return {k: str(v) for k, v in data.items() if isinstance(v, (str, int, float, bool))}


def _number(
    merged: Mapping[str, str],
    name: str,
    default: float,
    *,
    minimum: float,
    maximum: float,
    whole: bool,
) -> float:
    raw = (merged.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw) if whole else float(raw)
    except ValueError:
        value = None
    if value is None or not minimum <= value <= maximum:
        kind = "a whole number" if whole else "a number"
        raise ConfigurationError(
            f"{name} must be {kind} from {minimum:g} to {maximum:g}, not {raw[:20]!r}."
        )
    return value


def _timezone(raw: str | None) -> str:
    name = (raw or "").strip() or "UTC"
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise ConfigurationError(
            f"MODELDESK_TIMEZONE: {name[:50]!r} is not a time zone name (for example UTC, "
            "Europe/Paris or America/New_York)."
        ) from None
    return name


def load_settings(
    environ: Mapping[str, str] | None = None, secrets_file: Path | None = SECRETS_TOML
) -> Settings:
    """Build Settings from an environment mapping (default: the process environment)."""
    env = dict(os.environ if environ is None else environ)
    file_values = _read_secrets_toml(secrets_file) if secrets_file else {}
    merged = {**file_values, **env}  # the environment wins over secrets.toml

    environment = _environment(merged)
    data_dir = Path(merged.get("MODELDESK_DATA_DIR") or PROJECT_ROOT / "data")
    disabled = {
        t.strip().lower()
        for t in merged.get("MODELDESK_DISABLE_SYSTEM_PROVIDERS", "").replace(",", " ").split()
    }
    settings = Settings(
        environment=environment,
        data_dir=data_dir,
        database_url=merged.get("MODELDESK_DATABASE_URL") or None,
        secret_key=merged.get("MODELDESK_SECRET_KEY") or None,
        retired_secret_keys=_split_keys(merged.get("MODELDESK_RETIRED_SECRET_KEYS")),
        disabled_system_providers=frozenset(disabled),
        admin_username=merged.get("MODELDESK_ADMIN_USERNAME") or None,
        admin_password=merged.get("MODELDESK_ADMIN_PASSWORD") or None,
        allowed_networks=_split_networks(merged.get("MODELDESK_ALLOWED_NETWORKS")),
        trusted_proxies=_split_proxies(merged.get("MODELDESK_TRUSTED_PROXIES")),
        # Tests and the browser harness (MODELDESK_ENV=test) start schedulers themselves:
        # a background sweep there would probe whatever the test data points at.
        health_interval=int(
            _number(
                merged,
                "MODELDESK_HEALTH_INTERVAL",
                0 if environment == "test" else 300,
                minimum=0,
                maximum=7 * 86400,
                whole=True,
            )
        ),
        health_deadline=_number(
            merged, "MODELDESK_HEALTH_DEADLINE", 10.0, minimum=0.5, maximum=120, whole=False
        ),
        health_retention_days=int(
            _number(
                merged, "MODELDESK_HEALTH_RETENTION_DAYS", 30, minimum=1, maximum=3650, whole=True
            )
        ),
        timezone=_timezone(merged.get("MODELDESK_TIMEZONE")),
        ingest_max_bytes=int(
            _number(
                merged,
                "MODELDESK_INGEST_MAX_BYTES",
                4 * 1024 * 1024,
                minimum=1024,
                maximum=256 * 1024 * 1024,
                whole=True,
            )
        ),
        import_max_bytes=int(
            _number(
                merged,
                "MODELDESK_IMPORT_MAX_BYTES",
                32 * 1024 * 1024,
                minimum=1024,
                maximum=1024 * 1024 * 1024,
                whole=True,
            )
        ),
        debug=(merged.get("MODELDESK_DEBUG") or "").strip() not in ("", "0"),
        usage_retention_days=(
            int(
                _number(
                    merged,
                    "MODELDESK_USAGE_RETENTION_DAYS",
                    0,
                    minimum=1,
                    maximum=36500,
                    whole=True,
                )
            )
            or None
        ),
        environ=MappingProxyType(merged),
    )
    if settings.production:
        _refuse_unsafe_production(settings, data_dir_set=bool(merged.get("MODELDESK_DATA_DIR")))
    return settings


def _environment(merged: Mapping[str, str]) -> str:
    environment = (merged.get("MODELDESK_ENV") or "").strip().lower() or "development"
    if environment not in ("development", "production", "test"):
        raise ConfigurationError(
            f"MODELDESK_ENV must be development, production or test, not {environment[:20]!r}."
        )
    return environment


def requested_environment(
    environ: Mapping[str, str] | None = None, secrets_file: Path | None = SECRETS_TOML
) -> str:
    """MODELDESK_ENV as asked for, even when other settings are wrong (so a production
    server knows to stop rather than show the problem on a page)."""
    env = dict(os.environ if environ is None else environ)
    try:
        file_values = _read_secrets_toml(secrets_file) if secrets_file else {}
    except ConfigurationError:  # unreadable: it may have said production
        file_values = {"MODELDESK_ENV": "production"}
    try:
        return _environment({**file_values, **env})
    except ConfigurationError:
        return "production"  # a typo in MODELDESK_ENV must not fall back to a laxer mode


# --- Production -----------------------------------------------------------------------------

PRODUCTION_SECRET_CHARS = 32  # token_urlsafe(48) gives 64
PRODUCTION_SECRET_DISTINCT = 10  # distinct characters: refuses "aaaa…" and "abababab…"
# Words that mark a key someone typed or copied from an example rather than generated.
# Six letters or more, so a generated key contains one by chance about once in a billion.
PLACEHOLDER_WORDS = ("change", "example", "secret", "password", "default", "modeldesk")
GENERATE_KEY = 'python -c "import secrets; print(secrets.token_urlsafe(48))"'


def secret_key_weakness(secret: str) -> str | None:
    """Why a secret key is too weak for production (never quoting it), or None."""
    if len(secret) < PRODUCTION_SECRET_CHARS:
        return f"is shorter than {PRODUCTION_SECRET_CHARS} characters"
    if len(set(secret)) < PRODUCTION_SECRET_DISTINCT:
        return f"uses fewer than {PRODUCTION_SECRET_DISTINCT} different characters"
    lowered = secret.lower()
    word = next((w for w in PLACEHOLDER_WORDS if w in lowered), None)
    if word is not None:
        return f"contains the word {word!r}, like a placeholder or an example"
    return None


def _refuse_unsafe_production(settings: Settings, *, data_dir_set: bool) -> None:
    problems = []
    if not settings.secret_key:
        problems.append("MODELDESK_SECRET_KEY is not set: production needs an explicit key.")
    else:
        weakness = secret_key_weakness(settings.secret_key)
        if weakness:
            problems.append(f"MODELDESK_SECRET_KEY is too weak: it {weakness}.")
    if not settings.database_url and not data_dir_set:
        problems.append(
            "MODELDESK_DATA_DIR is not set, so the SQLite database would go to the default "
            f"folder {settings.data_dir}: set MODELDESK_DATA_DIR to a folder on persistent "
            "storage (or MODELDESK_DATABASE_URL to a PostgreSQL database)."
        )
    if problems:
        if settings.secret_key is None or any("SECRET_KEY" in p for p in problems):
            problems.append(f"Generate a key with: {GENERATE_KEY}")
        raise ConfigurationError("MODELDESK_ENV=production refuses to start. " + " ".join(problems))


def _shown_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is refused later; never echo it
        return "(not a valid URL)"


def describe(settings: Settings) -> list[tuple[str, str]]:
    """Every setting's effective value, for the start-up log: secrets only as set/not set,
    the database URL without its password."""

    def given(value: object) -> str:
        return "set" if value else "not set"

    def listed(values: Iterable[str]) -> str:
        return ", ".join(sorted(values)) or "none"

    return [
        ("MODELDESK_ENV", settings.environment),
        ("MODELDESK_DATABASE_URL", _shown_url(settings.resolved_database_url)),
        ("MODELDESK_DATA_DIR", str(settings.data_dir)),
        ("MODELDESK_SECRET_KEY", given(settings.secret_key)),
        ("MODELDESK_RETIRED_SECRET_KEYS", f"{len(settings.retired_secret_keys)} set"),
        ("MODELDESK_ADMIN_USERNAME", settings.admin_username or "not set"),
        ("MODELDESK_ADMIN_PASSWORD", given(settings.admin_password)),
        ("MODELDESK_DISABLE_SYSTEM_PROVIDERS", listed(settings.disabled_system_providers)),
        ("MODELDESK_ALLOWED_NETWORKS", listed(settings.allowed_networks)),
        ("MODELDESK_TRUSTED_PROXIES", listed(settings.trusted_proxies)),
        ("MODELDESK_HEALTH_INTERVAL", f"{settings.health_interval} s"),
        ("MODELDESK_HEALTH_DEADLINE", f"{settings.health_deadline:g} s"),
        ("MODELDESK_HEALTH_RETENTION_DAYS", f"{settings.health_retention_days} days"),
        ("MODELDESK_TIMEZONE", settings.timezone),
        ("MODELDESK_INGEST_MAX_BYTES", f"{settings.ingest_max_bytes} bytes"),
        ("MODELDESK_IMPORT_MAX_BYTES", f"{settings.import_max_bytes} bytes"),
        (
            "MODELDESK_USAGE_RETENTION_DAYS",
            f"{settings.usage_retention_days} days" if settings.usage_retention_days else "keep",
        ),
        ("MODELDESK_DEBUG", "on" if settings.debug else "off"),
    ]


def ensure_folder(path: Path, setting: str) -> None:
    """Create a folder Modeldesk writes to; if it cannot, a ConfigurationError names the
    setting that points there (a path that is a file, a folder it may not write to)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ConfigurationError(
            f"{setting} points at {path}, which is not a folder: it, or a folder above it, "
            "is a file. Point it at a folder (it is created if missing)."
        ) from None
    except PermissionError:
        raise ConfigurationError(
            f"{setting} points at {path}, where Modeldesk may not create a folder or write. "
            "Give it write access or choose another folder."
        ) from None
    except OSError as exc:
        raise ConfigurationError(
            f"{setting} points at {path}, which cannot be used as a "
            f"folder ({exc.strerror or type(exc).__name__})."
        ) from None


def resolve_secret_key(settings: Settings) -> str:
    """Return the secret key; in development, generate one into the data folder once."""
    if settings.secret_key:
        return settings.secret_key
    if settings.production:
        raise ConfigurationError(
            "MODELDESK_SECRET_KEY is not set. Production refuses to start without an "
            "explicit secret key; generate one with: "
            'python -c "import secrets; print(secrets.token_urlsafe(48))"'
        )
    path = settings.data_dir / DEV_SECRET_FILE
    ensure_folder(settings.data_dir, "MODELDESK_DATA_DIR")
    key = secrets.token_urlsafe(48)
    try:  # O_EXCL: two processes starting at once must end up with the same key
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(20):  # another process may be between creating and writing it
            existing = path.read_text(encoding="utf-8").strip()
            if existing:
                return existing
            time.sleep(0.05)
        raise ConfigurationError(
            f"{path} is empty; delete it or set MODELDESK_SECRET_KEY."
        ) from None
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(key + "\n")
    log.warning(
        "No MODELDESK_SECRET_KEY set: development mode generated one into %s "
        "(mode 0600). Set MODELDESK_SECRET_KEY explicitly in production.",
        path,
    )
    return key


# Variables that configure Modeldesk itself rather than a provider: its own MODELDESK_*
# settings, Streamlit's STREAMLIT_* options (the cookie secret among them) and the Bedrock
# bootstrap's. An import document may never read them, whatever the operator allows.
OWN_SETTING_PREFIXES = ("MODELDESK_", "STREAMLIT_")
OWN_SETTING_NAMES = frozenset({"AWS_BEARER_TOKEN_BEDROCK", "AWS_REGION"})


def is_own_setting(name: str) -> bool:
    """True if an environment variable name is one of Modeldesk's own settings (any case)."""
    upper = name.upper()
    return upper.startswith(OWN_SETTING_PREFIXES) or upper in OWN_SETTING_NAMES
