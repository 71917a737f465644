"""The provider-type catalog: what a provider record can be, as validated data.

``provider_types.yaml`` beside this module is the one source of truth: each row names a
wire protocol, a default endpoint, an auth style, the config fields a form asks for and
the env vars that can make it a system provider. It is loaded once and validated
strictly, because a broken catalog is a packaging bug that should fail loudly, naming
the entry, rather than surface later as an odd form or a failed request.

System rule: a type is a system provider when every kind in ``requires`` ("api_key",
"base_url") has one of its env vars set; with empty ``requires`` only if
``default_without_env`` (Ollama, at its default URL).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import pydantic
import yaml

from core.errors import ConfigurationError, ValidationError
from core.validation import loads_json

PROTOCOLS: tuple[str, ...] = (
    "openai",
    "anthropic",
    "gemini",
    "ollama",
    "azure_openai",
    "bedrock",
    "vertex",
    "cohere",
)
AUTH_STYLES: tuple[str, ...] = (
    "bearer",
    "optional_bearer",
    "x_api_key",
    "api_key_header",
    "goog_api_key",
    "sigv4_or_bearer",
    "service_account",
    "none",
)

_DATA_FILE = Path(__file__).with_name("provider_types.yaml")
_PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_]*)\}")
# A value spliced into a template URL lands in the host name, so it may not carry
# '/', '@', ':' or '#' that would move the request to another host or path.
_HOST_PART = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")
_LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}
# Auth styles where the api_key is always needed, and those that never take one.
_KEY_ALWAYS = {"bearer", "x_api_key", "api_key_header", "goog_api_key"}
_KEY_NEVER = {"optional_bearer", "service_account", "none"}


class CatalogError(ConfigurationError):
    """The shipped catalog data is malformed."""


@dataclass(frozen=True)
class ConfigField:
    """One provider_config input: what a form asks for and whether it may be left empty."""

    name: str
    label: str
    required: bool
    help: str
    default: str | None = None
    satisfied_by: str | None = None
    secret: bool = False
    # A value must match this regex in full; the message says it must be `pattern_hint`.
    pattern: str | None = None
    pattern_hint: str | None = None

    def mismatch(self, value: str) -> str | None:
        """Why a (non-empty) value does not fit the field's pattern, or None when it does."""
        if self.pattern is None or re.fullmatch(self.pattern, value):
            return None
        return f"{self.label} must be {self.pattern_hint}."


@dataclass(frozen=True)
class SystemRule:
    """Which env-var kinds make a type a system provider (see the module docstring)."""

    requires: tuple[str, ...]
    default_without_env: bool


@dataclass(frozen=True)
class ProviderType:
    """One catalog row: a kind of provider and how to reach it."""

    id: str
    label: str
    protocol: str
    default_base_url: str | None
    auth_style: str
    api_key_required: bool
    config_fields: tuple[ConfigField, ...]
    api_key_env: tuple[str, ...]
    base_url_env: tuple[str, ...]
    system: SystemRule
    docs_url: str | None
    models_dev_id: str | None
    self_hosted: bool
    # The provider's id in genai-prices (price data), when it has prices there.
    prices_id: str | None = None

    def field(self, name: str) -> ConfigField | None:
        """The config field called ``name``, or None."""
        return next((f for f in self.config_fields if f.name == name), None)

    @property
    def required_fields(self) -> tuple[ConfigField, ...]:
        """The config fields marked required (a satisfied_by field can stand in)."""
        return tuple(f for f in self.config_fields if f.required)

    def base_url_for(self, config: Mapping[str, object]) -> str | None:
        """The endpoint: config's base_url override, else the filled-in default, else None."""
        override = config.get("base_url")
        if override is not None and not isinstance(override, str):
            raise ValidationError("Base URL must be text.", field="base_url")
        if override and override.strip():
            url = override.strip().rstrip("/")
            if not _is_http_url(url):
                raise ValidationError("Base URL must be an http(s) URL.", field="base_url")
            return url
        if self.default_base_url is None:
            return None
        values: dict[str, str] = {}
        for name in _PLACEHOLDER.findall(self.default_base_url):
            spec = self.field(name)  # exists: checked at load
            raw = config.get(name)
            text = str(raw).strip() if raw is not None else ""
            text = text or (spec.default if spec and spec.default else "")
            if not text:
                return None  # nothing to fill the template with, so no endpoint is known
            if not _HOST_PART.fullmatch(text):
                raise ValidationError(
                    f"{spec.label if spec else name} may only contain "
                    "letters, digits, dots and hyphens.",
                    field=name,
                )
            values[name] = text
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)], self.default_base_url)


@functools.cache
def provider_types() -> tuple[ProviderType, ...]:
    """Every provider type, sorted by label (case-insensitive); loaded once."""
    return _load(_DATA_FILE)


def provider_type_ids() -> tuple[str, ...]:
    """Every provider type id, in the same (label) order as provider_types()."""
    return tuple(t.id for t in provider_types())


def get_provider_type(type_id: str) -> ProviderType:
    """The provider type with this id; ValidationError naming all valid ids otherwise."""
    found = _by_id().get(type_id) if isinstance(type_id, str) else None
    if found is None:
        valid = ", ".join(sorted(_by_id()))
        raise ValidationError(
            f"Unknown provider type '{str(type_id)[:64]}'. Valid types: {valid}.",
            field="provider_type",
        )
    return found


def env_var_names() -> frozenset[str]:
    """Every env var name any type reads (api_key_env and base_url_env)."""
    return frozenset(n for t in provider_types() for n in (*t.api_key_env, *t.base_url_env))


@functools.cache
def _by_id() -> dict[str, ProviderType]:
    return {t.id: t for t in provider_types()}


# --- Loading and validation -------------------------------------------------------------
# Pydantic checks the shape of one row (strict: no coercion, no unknown keys); the
# rules that span fields or rows are hand checks below, each naming the entry.

_Name = Annotated[str, pydantic.StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]
_EnvName = Annotated[str, pydantic.StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9_]*$")]
_Text = Annotated[str, pydantic.StringConstraints(pattern=r"\S")]  # not blank


class _Row(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", strict=True)


class _FieldRow(_Row):
    name: _Name
    label: _Text
    required: bool
    help: _Text
    default: str | None = None
    satisfied_by: _Name | None = None
    secret: bool = False
    pattern: str | None = None
    pattern_hint: _Text | None = None


class _SystemRow(_Row):
    requires: list[Literal["api_key", "base_url"]]
    default_without_env: bool


class _TypeRow(_Row):
    id: _Name
    label: _Text
    protocol: Literal[PROTOCOLS]  # type: ignore[valid-type]
    default_base_url: str | None
    auth_style: Literal[AUTH_STYLES]  # type: ignore[valid-type]
    api_key_required: bool
    config_fields: list[_FieldRow]
    api_key_env: list[_EnvName]
    base_url_env: list[_EnvName]
    system: _SystemRow
    docs_url: str | None
    models_dev_id: str | None
    self_hosted: bool
    prices_id: str | None = None


def _is_http_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _pattern_problems(spec: _FieldRow) -> list[str]:
    """A field's pattern must compile, come with its hint and admit the field's default."""
    if spec.pattern is None:
        return [f"{spec.name}: pattern_hint without a pattern"] if spec.pattern_hint else []
    try:
        compiled = re.compile(spec.pattern)
    except re.error as exc:
        return [f"{spec.name}: pattern {spec.pattern!r} is not a valid regex ({exc})"]
    problems = [] if spec.pattern_hint else [f"{spec.name}: a pattern needs a pattern_hint"]
    if spec.default is not None and not compiled.fullmatch(spec.default):
        problems.append(f"{spec.name}: default {spec.default!r} does not match its pattern")
    return problems


def _row_problems(row: _TypeRow) -> list[str]:
    """Rules within one row that a shape check cannot express."""
    fields = {f.name: f for f in row.config_fields}
    base, url, rule = fields.get("base_url"), row.default_base_url, row.system
    filled = _PLACEHOLDER.sub("x", url or "http://x")
    env = {"api_key": row.api_key_env, "base_url": row.base_url_env}
    # Azure-style: a required field that base_url can stand in for makes base_url optional.
    bridged = any(f.required and f.satisfied_by == "base_url" for f in row.config_fields)
    dangling = [
        f"{f.name} -> {f.satisfied_by}"
        for f in row.config_fields
        if f.satisfied_by is not None and f.satisfied_by not in fields.keys() - {f.name}
    ]
    patterns = [problem for f in row.config_fields for problem in _pattern_problems(f)]
    checks = [
        (len(fields) < len(row.config_fields), "config field names repeat"),
        (dangling, f"satisfied_by names no other field ({', '.join(dangling)})"),
        (patterns, "; ".join(patterns)),
        (base is None, "has no base_url config field"),
        (
            base and url is None and not base.required and not bridged,
            "has no default base URL, so its base_url field must be required",
        ),
        (
            base and url is not None and base.required,
            "has a default base URL, so its base_url field must be optional",
        ),
        (
            url is not None and (not _is_http_url(filled) or url.endswith("/")),
            f"default_base_url {url!r} is not an http(s) URL without a trailing slash",
        ),
        (
            set(_PLACEHOLDER.findall(url or "")) - fields.keys(),
            "default_base_url names an unknown field",
        ),
        (
            urlsplit(filled).hostname in _LOOPBACK_HOSTS and not row.self_hosted,
            "defaults to a loopback address but is not self_hosted",
        ),
        (
            row.docs_url is not None and not _is_http_url(row.docs_url),
            f"docs_url {row.docs_url!r} is not an http(s) URL",
        ),
        (
            row.auth_style in _KEY_ALWAYS and not row.api_key_required,
            f"auth_style {row.auth_style} needs api_key_required: true",
        ),
        (
            row.auth_style in _KEY_NEVER and row.api_key_required,
            f"auth_style {row.auth_style} needs api_key_required: false",
        ),
        (row.auth_style == "none" and row.api_key_env, "auth_style none takes no key env var"),
        # The system rule may only name env vars the row owns, and an empty `requires`
        # must never read as "always there" except for an explicit default.
        (len(set(rule.requires)) < len(rule.requires), "system.requires repeats a kind"),
        ([k for k in rule.requires if not env[k]], "system.requires names a kind with no env var"),
        (
            row.api_key_required and row.api_key_env and "api_key" not in rule.requires,
            "needs an api key, so system.requires must include api_key",
        ),
        (
            url is None and row.base_url_env and "base_url" not in rule.requires,
            "has no default base URL, so system.requires must include base_url",
        ),
        (
            rule.default_without_env and (rule.requires or url is None or row.api_key_required),
            "default_without_env needs empty requires, a default base URL and no required key",
        ),
        (
            not (rule.default_without_env or rule.requires)
            and (row.api_key_env or row.base_url_env),
            "has env vars but an empty system.requires",
        ),
    ]
    return [message for failed, message in checks if failed]


def _fail(path: Path, entry: str, problem: str) -> CatalogError:
    return CatalogError(f"{path.name}: provider type {entry}: {problem}.")


def _load(path: Path | str) -> tuple[ProviderType, ...]:
    """Read and validate a catalog file; CatalogError names the first bad entry."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogError(f"{path.name}: cannot be read as YAML: {exc}") from exc
    # `shared` only holds YAML anchors that the entries reuse.
    if (
        not isinstance(data, dict)
        or set(data) - {"shared", "provider_types"}
        or not isinstance(data.get("provider_types"), list)
    ):
        raise CatalogError(
            f"{path.name}: expected a mapping with a provider_types list (and optionally shared)."
        )
    rows: list[_TypeRow] = []
    for index, raw in enumerate(data["provider_types"]):
        entry = f"'{raw['id']}'" if isinstance(raw, dict) and "id" in raw else f"#{index + 1}"
        try:
            row = _TypeRow.model_validate(raw)
        except pydantic.ValidationError as exc:
            detail = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'entry'}: {e['msg']}" for e in exc.errors()
            )
            raise _fail(path, entry, detail) from None
        problems = _row_problems(row)
        if problems:
            raise _fail(path, entry, "; ".join(problems))
        rows.append(row)
    _check_unique(path, rows)
    types = (_to_type(row) for row in rows)
    return tuple(sorted(types, key=lambda t: t.label.casefold()))


def _check_unique(path: Path, rows: list[_TypeRow]) -> None:
    """Ids, labels and env var names each belong to one row."""
    owners: dict[tuple[str, str], str] = {}
    for row in rows:
        env = [("env var", name) for name in (*row.api_key_env, *row.base_url_env)]
        for kind, value in [("id", row.id), ("label", row.label.casefold()), *env]:
            if (kind, value) in owners:
                raise _fail(
                    path,
                    f"'{row.id}'",
                    f"{kind} {value} is already used by '{owners[kind, value]}'",
                )
            owners[kind, value] = row.id


def _to_type(row: _TypeRow) -> ProviderType:
    data = row.model_dump()
    return ProviderType(
        **{
            **data,
            "config_fields": tuple(ConfigField(**f) for f in data["config_fields"]),
            "api_key_env": tuple(row.api_key_env),
            "base_url_env": tuple(row.base_url_env),
            "system": SystemRule(tuple(row.system.requires), row.system.default_without_env),
        }
    )


# Config keys whose names say they hold a credential. "tokens" is dropped first so counts
# such as max_tokens do not read as secrets.
_SECRET_PARTS = ("key", "secret", "token", "password", "credential", "private")


def looks_secret(key: str, ptype: ProviderType | None = None) -> bool:
    """True if a config key holds a secret: the catalog marks the field so, or its name says so."""
    spec = ptype.field(key) if ptype is not None else None
    lowered = key.lower().replace("tokens", "")
    return bool(spec and spec.secret) or any(part in lowered for part in _SECRET_PARTS)


def public_config(
    config: Mapping[str, Any], ptype: ProviderType | None = None
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """Split a config for display: (non-secret values, names of the secret keys that are set).

    Secret config values are write-only, like API keys: never shown, exported or pre-filled.
    """
    shown = {k: v for k, v in config.items() if not looks_secret(k, ptype)}
    return shown, tuple(sorted(k for k in config if k not in shown))


def merge_secret_config(
    stored: Mapping[str, Any], new: Mapping[str, Any], ptype: ProviderType | None = None
) -> dict[str, Any]:
    """New config plus the stored secret values it leaves out (write-only: omitted keeps);
    a secret key given as null or "" is removed."""
    kept = {k: v for k, v in stored.items() if k not in new and looks_secret(k, ptype)}
    return {**kept, **new}


def public_config_text(text: str | None) -> str:
    """Config JSON as typed, minus secret values, to keep in a form after a failed save.

    Unchanged when it holds no secret-looking key; re-serialised without the secret keys when
    it parses; "" when it does not parse but mentions a secret-looking name (it cannot be
    split safely, so it is dropped whole).
    """
    if not text or not text.strip():
        return ""
    try:
        config = loads_json(text)  # nested past the parser: a ValueError too
    except ValueError:
        names = re.findall(r'"((?:[^"\\]|\\.)*)"', text)
        return "" if any(looks_secret(n) for n in names) else text
    if not isinstance(config, dict):
        return text
    shown, secret_keys = public_config(config)
    if not secret_keys:
        return text
    return json.dumps(shown, indent=2) if shown else ""
