"""What a provider must satisfy before it is written: its config fits its type, and its
name is its owner's only one of that look.

``validate_provider_config`` checks a config against the type's fields; ``edited_config``
is the config an edit ends with (stored secret values kept unless removed); ``name_clash``
says why a name cannot be one more provider of an owner. Problems are reported, all at
once, through the caller's ``Problems``, so nothing is written until every field passed.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import catalog
from core.accounts.viewer import Actor
from core.catalog import ProviderType, lookalikes
from core.errors import ValidationError
from core.store.tables import Provider
from core.validation import (
    Problems,
    check_base_url,
    check_config_object,
    name_key,
    parse_config_json,
)

KEEP: Any = object()  # edited_config's ``given`` when the edit names no config of its own


def _as_config(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, str):
        return parse_config_json(value, field="provider_config")
    return check_config_object(value, field="provider_config")


def validate_provider_config(provider_type: str, config: Any) -> dict[str, Any]:
    """Check a config against its type's fields; returns the cleaned config.

    Every field's problem is reported at once; a secret-looking key given as null or ""
    is dropped (which, after merge_secret_config, removes its stored value).
    """
    ptype = catalog.get_provider_type(provider_type)
    cfg = dict(_as_config(config))
    problems = Problems()
    for key in [k for k, v in cfg.items() if v in (None, "") and catalog.looks_secret(k, ptype)]:
        del cfg[key]
    if "base_url" in cfg:
        if cfg["base_url"] in (None, ""):
            del cfg["base_url"]
        else:
            url = problems.check(check_base_url, cfg["base_url"], field="provider_config.base_url")
            if url is not None:
                cfg["base_url"] = url
    for spec in ptype.config_fields:
        value = cfg.get(spec.name)
        if isinstance(value, str):
            value = cfg[spec.name] = value.strip()
        if value in (None, ""):
            cfg.pop(spec.name, None)
            satisfied = spec.satisfied_by and cfg.get(spec.satisfied_by) not in (None, "")
            if spec.required and spec.default is None and not satisfied:
                alt = f" (or {spec.satisfied_by})" if spec.satisfied_by else ""
                problems.add(
                    ValidationError(
                        f"{ptype.label} needs '{spec.name}'{alt}: {spec.help}",
                        field=f"provider_config.{spec.name}",
                    )
                )
        elif not isinstance(value, (str, int, float, bool)):
            problems.add(
                ValidationError(
                    f"'{spec.name}' must be a single value, not a list or object.",
                    field=f"provider_config.{spec.name}",
                )
            )
        elif (wrong := spec.mismatch(str(value))) is not None:
            problems.add(ValidationError(wrong, field=f"provider_config.{spec.name}"))
    problems.raise_any()
    return cfg


def edited_config(
    found: Problems,
    ptype: ProviderType,
    stored: Mapping[str, Any],
    removing: Sequence[str],
    *,
    given: Any = KEEP,
) -> dict[str, Any] | None:
    """The config an edit ends with, checked against ptype, or None after noting a problem.

    Stored secret values are write-only: left out of ``given`` they are kept (KEEP: the
    stored config itself, re-checked, e.g. for a new type); ``removing`` keys are dropped,
    and one both given and removed is a problem.
    """
    kept = {k: v for k, v in stored.items() if k not in removing}
    config = kept if given is KEEP else found.check(_as_config, given)
    for key in sorted(k for k in removing if (config or {}).get(k) not in (None, "")):
        found.add(
            ValidationError(
                f"The config key '{key}' is both given and removed; do one.",
                field="provider_config",
            )
        )
    if config is None:
        return None
    merged = catalog.merge_secret_config(kept, config, ptype)
    for key in removing:
        merged.pop(key, None)
    return found.check(validate_provider_config, ptype.id, merged)


def name_clash(
    session: Session, owner: Actor, name: str, exclude: uuid.UUID | None = None
) -> str | None:
    """Why name cannot be one more provider of owner (names are unique per owner), else None.

    Equal after case folding, or alike to the eye (lookalike letters, invisible characters,
    fullwidth or styled forms): the message names the existing provider either way.
    """
    stmt = (
        select(Provider.id, Provider.name, Provider.name_key)
        .where(Provider.owner_id == owner.id)
        .order_by(Provider.created_at, Provider.id)
    )
    others = {n: k for pid, n, k in session.execute(stmt) if pid != exclude}
    key = name_key(name)
    same = next((n for n, k in others.items() if k == key), None)
    if same is not None:
        return f"A provider named '{same}' already exists for {owner.username}."
    alike = lookalikes.lookalike(name, others)
    if alike is not None:
        return (
            f"'{name}' looks the same as {owner.username}'s provider '{alike}' (they "
            "differ only in lookalike or invisible characters); choose a clearly "
            "different name."
        )
    return None
