"""Ingest tokens: the bearer tokens the live OTLP route (core.usage.otlp_route) accepts.

An admin creates one per ingest source (an app, a Collector, a team's gateway). The token,
``mdk_`` + 32 random bytes in URL-safe base64, is returned once by ``create_token`` and never
again: the database keeps its SHA-256 (``token_hash``) and a short prefix to tell tokens
apart in listings. A token may carry an explicit mapping: one provider record every span it
sends is booked to, and/or a provider record per span ``gen_ai.provider.name``; without one,
spans are mapped as the file import maps them (base URL, then type; core.usage.otlp).

Create and revoke are audited (the prefix, never the token). Revoking keeps the row (and its
last use) for the record; the name can then be given to a new token. Every function here is
what a page would call (keyword-only, over a Session; the caller commits).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.accounts import access, audit
from core.accounts.viewer import Actor
from core.catalog import lookalikes
from core.errors import NotFoundError, ValidationError
from core.store.tables import Provider
from core.store.usage_tables import IngestToken
from core.usage.ledger import Resolver
from core.validation import Problems, clean_name, name_key

TOKEN_PREFIX = "mdk_"
TOKEN_BYTES = 32
PREFIX_SHOWN = len(TOKEN_PREFIX) + 6  # "mdk_AbCdEf": 36 of 256 random bits, not enough to use
TOKEN_MAX = 200  # longer Authorization values are refused before any hashing or query
SYSTEM = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")  # a gen_ai.provider.name, lowercased
MAPPING_MAX = 50
USED_EVERY = timedelta(minutes=1)  # last_used_at's resolution


@dataclass(frozen=True)
class TokenInfo:
    """A token as listings show it: never the token, never its hash."""

    name: str
    prefix: str
    provider: str | None  # the provider record every span is booked to, by its current name
    mapping: dict[str, str]  # span gen_ai.provider.name → provider record name
    created_by: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        """Not revoked."""
        return self.revoked_at is None


@dataclass(frozen=True)
class CreatedToken:
    """A new token: ``token`` is the plaintext, shown to the admin once and stored nowhere."""

    info: TokenInfo
    token: str = field(repr=False)


@dataclass(frozen=True)
class Source:
    """What the route needs of a verified token: who sends, and how spans map to providers.

    ``explicit`` is ``core.usage.otlp.ProviderMap``'s explicit mapping (None: every span);
    ``problem`` says why the token's mapping cannot be used any more (its provider record was
    deleted): the source's usage spans are then refused with it.
    """

    id: uuid.UUID
    name: str
    explicit: dict[str | None, str]
    problem: str | None = None


def hash_token(token: str) -> str:
    """The stored form of a token: SHA-256, hex (the token is random, so no salt is needed)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _provider(session: Session, name: str, *, field_: str) -> Provider:
    found = Resolver(session).provider(name)
    if isinstance(found, str):
        raise ValidationError(f"Cannot map the token: {found}.", field=field_)
    return found


def _system(value: str) -> str:
    system = value.strip().lower()
    if not SYSTEM.fullmatch(system):
        raise ValidationError(
            f"{value[:70]!r} is not a gen_ai.provider.name (1 to 64 lowercase letters, digits "
            "or _.- such as openai or gcp.gemini).",
            field="mapping",
        )
    return system


def _names(session: Session, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    rows = session.execute(select(Provider.id, Provider.name).where(Provider.id.in_(ids)))
    return {row.id: row.name for row in rows}


def _info(row: IngestToken, names: Mapping[uuid.UUID, str]) -> TokenInfo:
    def shown(raw: uuid.UUID | str | None) -> str | None:
        if raw is None:
            return None
        return names.get(uuid.UUID(str(raw)), "(deleted provider)")

    return TokenInfo(
        name=row.name,
        prefix=row.prefix,
        provider=shown(row.provider_id),
        mapping={k: shown(v) or "" for k, v in sorted((row.provider_map or {}).items())},
        created_by=row.created_by,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


def _ids(row: IngestToken) -> set[uuid.UUID]:
    found = {uuid.UUID(str(v)) for v in (row.provider_map or {}).values()}
    return found | ({row.provider_id} if row.provider_id else set())


def _active(session: Session, name: str) -> IngestToken | None:
    return session.scalar(
        select(IngestToken).where(
            IngestToken.name_key == name_key(name), IngestToken.revoked_at.is_(None)
        )
    )


def create_token(
    session: Session,
    *,
    actor: Actor,
    name: str,
    provider: str | None = None,
    mapping: Mapping[str, str] | None = None,
) -> CreatedToken:
    """A new token for the ingest source ``name`` (admins only): the plaintext is in the
    result and nowhere else. ``provider``: the provider record (by name) every span is
    booked to; ``mapping``: a provider record per span ``gen_ai.provider.name``."""
    access.require_admin(actor, "create ingest tokens")
    problems = Problems()
    clean = problems.check(clean_name, name, field="name")
    if clean is not None and _active(session, clean) is not None:
        problems.add(
            ValidationError(
                f"An active ingest token is already named {clean!r}; revoke it first or "
                "choose another name.",
                field="name",
            )
        )
    elif clean is not None:
        active = session.scalars(select(IngestToken.name).where(IngestToken.revoked_at.is_(None)))
        alike = lookalikes.lookalike(clean, dict.fromkeys(active))
        if alike is not None:  # two tokens a list shows alike: the wrong one gets revoked
            problems.add(
                ValidationError(
                    f"{clean!r} looks the same as the active ingest token {alike!r} (they "
                    "differ only in lookalike or invisible characters); choose a clearly "
                    "different name.",
                    field="name",
                )
            )
    target = (
        problems.check(_provider, session, provider, field_="provider")
        if provider is not None
        else None
    )
    mapped: dict[str, str] = {}
    if mapping and len(mapping) > MAPPING_MAX:
        problems.add(ValidationError(f"At most {MAPPING_MAX} mappings.", field="mapping"))
    for system, record_name in (mapping or {}).items():
        key = problems.check(_system, system)
        record = problems.check(_provider, session, record_name, field_="mapping")
        if key is not None and record is not None:
            mapped[key] = str(record.id)
    problems.raise_any()
    assert clean is not None
    token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
    row = IngestToken(
        id=uuid.uuid4(),
        name=clean,
        name_key=name_key(clean),
        token_hash=hash_token(token),
        prefix=token[:PREFIX_SHOWN],
        provider_id=target.id if target else None,
        provider_map=mapped or None,
        created_by_id=actor.id,
        created_by=actor.username,
        created_at=datetime.now(UTC),
    )
    session.add(row)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:  # a token of that name was created at the same moment
        raise ValidationError(
            f"An active ingest token is already named {clean!r}.", field="name"
        ) from None
    info = _info(row, _names(session, _ids(row)))
    audit.record(
        session,
        actor=actor,
        action="ingest_token.create",
        entity_type="ingest_token",
        record=row,
        after={"name": info.name, "prefix": info.prefix, "provider": info.provider}
        | ({"mapping": info.mapping} if info.mapping else {}),
    )
    return CreatedToken(info=info, token=token)


def list_tokens(session: Session, *, actor: Actor, include_revoked: bool = True) -> list[TokenInfo]:
    """Every token (admins only), active first, then by name."""
    access.require_admin(actor, "see ingest tokens")
    stmt = select(IngestToken)
    if not include_revoked:
        stmt = stmt.where(IngestToken.revoked_at.is_(None))
    rows = list(session.scalars(stmt))
    names = _names(session, set().union(*(_ids(r) for r in rows)) if rows else set())
    rows.sort(key=lambda r: (r.revoked_at is not None, r.name_key, r.created_at))
    return [_info(r, names) for r in rows]


def revoke_token(session: Session, *, actor: Actor, name: str) -> TokenInfo:
    """Revoke the active token named ``name`` (admins only): from the commit on, the route
    answers it with 401."""
    access.require_admin(actor, "revoke ingest tokens")
    clean = clean_name(name, field="name")
    row = _active(session, clean)
    if row is None:
        raise NotFoundError(f"No active ingest token is named {clean!r}.")
    row.revoked_at = datetime.now(UTC)
    audit.record(
        session,
        actor=actor,
        action="ingest_token.revoke",
        entity_type="ingest_token",
        record=row,
        before={"prefix": row.prefix, "revoked_at": None},
        after={"prefix": row.prefix, "revoked_at": row.revoked_at.isoformat()},
    )
    session.flush()
    return _info(row, _names(session, _ids(row)))


def verify(session: Session, token: str | None) -> Source | None:
    """The source of an active token; None for a missing, malformed, unknown or revoked one."""
    if not token or len(token) > TOKEN_MAX or not token.startswith(TOKEN_PREFIX):
        return None
    row = session.scalar(select(IngestToken).where(IngestToken.token_hash == hash_token(token)))
    if row is None or row.revoked_at is not None:
        return None
    names = _names(session, _ids(row))
    explicit: dict[str | None, str] = {}
    missing = [i for i in _ids(row) if i not in names]
    for system, raw in (row.provider_map or {}).items():
        if uuid.UUID(str(raw)) in names:
            explicit[system] = names[uuid.UUID(str(raw))]
    if row.provider_id is not None and row.provider_id in names:
        explicit[None] = names[row.provider_id]
    problem = (
        f"the provider record ingest token {row.name!r} maps to was deleted; "
        "create a new token with a current mapping"
        if missing
        else None
    )
    return Source(id=row.id, name=row.name, explicit=explicit, problem=problem)


def mark_used(session: Session, source: Source, *, now: datetime | None = None) -> bool:
    """Note the token's use in the caller's transaction (at most once a minute, so parallel
    requests of one source rarely wait on its row); False when it was revoked since it was
    verified (the caller then stores nothing)."""
    now = now or datetime.now(UTC)
    row = session.execute(
        select(IngestToken.id, IngestToken.revoked_at).where(IngestToken.id == source.id)
    ).first()
    if row is None or row.revoked_at is not None:
        return False
    session.execute(
        update(IngestToken)
        .where(
            IngestToken.id == source.id,
            or_(IngestToken.last_used_at.is_(None), IngestToken.last_used_at < now - USED_EVERY),
        )
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    return True
