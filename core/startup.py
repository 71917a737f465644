"""Opening Modeldesk: settings → keyring → engine → key check → migrations → bootstraps.

The key canaries are verified before anything is written (migrations included), so a wrong
MODELDESK_SECRET_KEY stops the process with a clear message and an untouched database.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from core.bootstrap import ensure_admin_from_env, ensure_bedrock_provider
from core.config import Settings, ensure_folder, load_settings, resolve_secret_key
from core.store import db, vault
from core.store.crypto import Keyring, derive_token_key
from core.usage import zones

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Runtime:
    """What a process needs to work: settings, engine, session factory, keyring."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    keyring: Keyring
    cookie_key: str = field(repr=False, default="")  # signs the sign-in cookie

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session for reads; a lost or unreachable database raises a readable
        DatabaseUnavailableError instead of the driver's error."""
        with db.database_errors(self.settings.resolved_database_url), self.sessions() as session:
            yield session

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """A session committed on success, rolled back on any error; database trouble
        (including a connection lost before the commit) as in ``reading``."""
        url = self.settings.resolved_database_url
        with db.database_errors(url), self.sessions.begin() as session:
            yield session


def build_keyring(settings: Settings) -> tuple[Keyring, str]:
    """The keyring from the current and retired secrets, and the cookie signing key."""
    secret = resolve_secret_key(settings)
    return (
        Keyring.from_secrets(secret, settings.retired_secret_keys),
        derive_token_key(secret, "sign-in cookie"),
    )


def open_engine(settings: Settings) -> Engine:
    """The engine for the configured database (the default SQLite file needs its folder)."""
    if not settings.database_url:
        ensure_folder(settings.data_dir, "MODELDESK_DATA_DIR")
    return db.create_db_engine(settings.resolved_database_url)


def open_runtime(
    settings: Settings | None = None,
    *,
    migrate: bool = True,
    bootstrap: bool = True,
    zone_warning: bool = True,
) -> Runtime:
    """Open the database, check the keys, migrate, and run the environment bootstraps;
    ``zone_warning``: log when the usage rollups are in another zone than
    MODELDESK_TIMEZONE (the commands that read or write usage say it themselves)."""
    settings = settings or load_settings()
    keyring, cookie_key = build_keyring(settings)
    engine = open_engine(settings)
    try:
        with db.database_errors(settings.resolved_database_url):
            db.check_schema(engine)
            sessions = db.session_factory(engine, keyring)
            if db.has_table(engine, "key_canaries"):
                with sessions() as session:
                    vault.verify_canaries(session)
            if migrate:
                db.upgrade(engine)
            else:
                db.check_schema(engine, allow_behind=False)
            with sessions.begin() as session:
                vault.ensure_current_canary(session)
                if bootstrap:
                    ensure_admin_from_env(session, settings)
                    ensure_bedrock_provider(session, settings)
                note = zones.mismatch(session, settings.timezone) if zone_warning else None
                if note:
                    log.warning("%s", note)
    except BaseException:
        engine.dispose()
        raise
    return Runtime(
        settings=settings, engine=engine, sessions=sessions, keyring=keyring, cookie_key=cookie_key
    )


def ingest_app() -> Any:
    """The OTLP ingest route (``POST /v1/traces``) alone, without the console:
    ``uvicorn --factory core.startup:ingest_app``. The runtime opens on the first request."""
    from core.usage import otlp_route

    otlp_route.ensure_request_log()
    return otlp_route.app(open_runtime)
