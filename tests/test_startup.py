"""Opening Modeldesk: the key check before any write, secrets by environment, schema guard."""

from __future__ import annotations

import logging
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import create_engine, func, select, text, update

from core.config import DEV_SECRET_FILE
from core.errors import ConfigurationError, KeyringError, SchemaError
from core.records.credentials import provider_credentials
from core.startup import Runtime, open_runtime
from core.store import db
from core.store.crypto import Keyring, associated_data
from core.store.tables import Base, KeyCanary, Provider, User
from tests.conftest import PG_ADMIN_URL, TEST_SECRET, make_settings
from tests.support import factories as f

WRONG_SECRET = "not-the-secret-this-database-was-made-with"
NEW_SECRET = "brand-new-secret-after-rotation-0123456789"
BOOTSTRAP_ENV = {
    "MODELDESK_ADMIN_USERNAME": "root",
    "MODELDESK_ADMIN_PASSWORD": "Sup3r-secret-pw",
    "AWS_BEARER_TOKEN_BEDROCK": "bedrock-token-abcdef123456",
}


def snapshot(url: str) -> dict[str, Any]:
    """What a start must not change: revision, canaries, row counts (and SQLite's bytes)."""
    engine = db.create_db_engine(url)
    with engine.connect() as conn:
        state: dict[str, Any] = {
            "revision": conn.scalar(text("SELECT version_num FROM alembic_version")),
            "canaries": [
                tuple(r)
                for r in conn.execute(
                    select(KeyCanary.key_id, KeyCanary.envelope).order_by(KeyCanary.key_id)
                )
            ],
            "counts": {
                t.name: conn.scalar(select(func.count()).select_from(t))
                for t in Base.metadata.sorted_tables
            },
            "versions": sorted(conn.execute(select(Provider.id, Provider.version)).all()),
        }
        if engine.url.get_backend_name() == "sqlite":
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    if engine.url.get_backend_name() == "sqlite":
        state["file"] = Path(engine.url.database).read_bytes()
    return state


@pytest.fixture
def seeded(runtime: Runtime) -> str:
    """A database opened with the test secret, holding an admin and a provider; closed."""
    with runtime.sessions.begin() as s:
        f.provider(s, f.user(s, "boss", "admin"), "Stored", api_key="sk-stored-key-1234")
    runtime.dispose()
    return str(runtime.engine.url.render_as_string(hide_password=False))


# --- The wrong secret stops the start before anything is written --------------------------


def test_wrong_secret_is_refused_and_nothing_is_written(seeded: str, tmp_path: Path) -> None:
    before = snapshot(seeded)
    assert before["canaries"] and before["counts"]["providers"] == 1

    with pytest.raises(KeyringError) as caught:
        open_runtime(
            make_settings(
                seeded,
                tmp_path,
                MODELDESK_SECRET_KEY=WRONG_SECRET,
                MODELDESK_DISABLE_SYSTEM_PROVIDERS="",
                **BOOTSTRAP_ENV,
            )
        )

    message = str(caught.value)
    assert "MODELDESK_SECRET_KEY" in message and before["canaries"][0][0] in message
    assert WRONG_SECRET not in message and TEST_SECRET not in message
    assert snapshot(seeded) == before


def test_tampered_canary_is_refused_and_nothing_is_written(seeded: str, tmp_path: Path) -> None:
    engine = db.create_db_engine(seeded)
    with engine.begin() as conn:
        envelope = bytearray(conn.scalar(select(KeyCanary.envelope)))
        envelope[-1] ^= 0xFF
        conn.execute(update(KeyCanary).values(envelope=bytes(envelope)))
    engine.dispose()
    before = snapshot(seeded)

    with pytest.raises(KeyringError, match="does not decrypt: the secret key is wrong"):
        open_runtime(make_settings(seeded, tmp_path, **BOOTSTRAP_ENV))

    assert snapshot(seeded) == before


def test_the_right_secret_reopens_the_database(seeded: str, tmp_path: Path) -> None:
    rt = open_runtime(make_settings(seeded, tmp_path))
    try:
        with rt.sessions() as s:
            pid = s.scalar(select(Provider.id))
            assert provider_credentials(s, pid).api_key == "sk-stored-key-1234"
    finally:
        rt.dispose()


# --- Rotation: a retired secret still opens old data --------------------------------------


def test_retired_secret_listed_opens_and_decrypts(seeded: str, tmp_path: Path) -> None:
    rt = open_runtime(
        make_settings(
            seeded,
            tmp_path,
            MODELDESK_SECRET_KEY=NEW_SECRET,
            MODELDESK_RETIRED_SECRET_KEYS=f"{WRONG_SECRET}, {TEST_SECRET}",
        )
    )
    try:
        assert rt.keyring.current_key_id == Keyring.from_secrets(NEW_SECRET).current_key_id
        with rt.sessions() as s:
            pid = s.scalar(select(Provider.id))
            assert provider_credentials(s, pid).api_key == "sk-stored-key-1234"
            canaries = set(s.scalars(select(KeyCanary.key_id)))
        assert canaries == {
            Keyring.from_secrets(NEW_SECRET).current_key_id,
            Keyring.from_secrets(TEST_SECRET).current_key_id,
        }
    finally:
        rt.dispose()

    # Until rotation re-encrypts every row, dropping the old secret is refused.
    with pytest.raises(KeyringError, match="MODELDESK_RETIRED_SECRET_KEYS"):
        open_runtime(make_settings(seeded, tmp_path, MODELDESK_SECRET_KEY=NEW_SECRET))


# --- Where the secret comes from ----------------------------------------------------------


def test_production_without_a_secret_refuses_to_start(db_url: str, tmp_path: Path) -> None:
    data_dir = tmp_path / "prod-data"
    before = snapshot(db_url)

    with pytest.raises(ConfigurationError) as caught:
        open_runtime(
            make_settings(db_url, data_dir, MODELDESK_ENV="production", MODELDESK_SECRET_KEY=None)
        )

    assert not isinstance(caught.value, KeyringError)
    assert "MODELDESK_SECRET_KEY is not set" in str(caught.value)
    assert not (data_dir / DEV_SECRET_FILE).exists()
    assert snapshot(db_url) == before


def test_development_generates_a_private_secret_and_reuses_it(
    db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data_dir = tmp_path / "dev-data"
    settings = make_settings(
        db_url, data_dir, MODELDESK_ENV="development", MODELDESK_SECRET_KEY=None
    )
    caplog.set_level(logging.WARNING)

    first = open_runtime(settings)
    first.dispose()
    key_file = data_dir / DEV_SECRET_FILE
    secret = key_file.read_text()
    second = open_runtime(settings)
    second.dispose()

    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(secret.strip()) >= 32
    assert key_file.read_text() == secret
    assert (
        first.keyring.current_key_id
        == second.keyring.current_key_id
        == Keyring.from_secrets(secret.strip()).current_key_id
    )
    assert any("generated one" in r.getMessage() for r in caplog.records)
    assert not any(secret.strip() in r.getMessage() for r in caplog.records)


def test_an_explicit_secret_writes_no_key_file(db_url: str, tmp_path: Path) -> None:
    rt = open_runtime(make_settings(db_url, tmp_path, MODELDESK_ENV="development"))
    rt.dispose()
    assert not (tmp_path / DEV_SECRET_FILE).exists()


# --- Schema guard and migrations ----------------------------------------------------------


def test_schema_newer_than_the_code_is_refused(seeded: str, tmp_path: Path) -> None:
    engine = db.create_db_engine(seeded)
    original = db.current_revision(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'f00dfacef00d'"))
    before = snapshot(seeded)
    try:
        with pytest.raises(SchemaError, match="revision f00dfacef00d.*newer than this Modeldesk"):
            open_runtime(make_settings(seeded, tmp_path))
        assert snapshot(seeded) == before
    finally:  # the PostgreSQL scratch database is shared by later tests
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": original})
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database that has never seen Modeldesk."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'nested' / 'fresh.db'}"
        return
    request.getfixturevalue("pg_database")  # skips or fails like the shared fixture
    name = f"modeldesk_fresh_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_fresh_database_is_migrated_and_bootstrapped(fresh_url: str, tmp_path: Path) -> None:
    rt = open_runtime(make_settings(fresh_url, tmp_path, **BOOTSTRAP_ENV))
    try:
        assert db.current_revision(rt.engine) == db.head_revision()
        for table in Base.metadata.sorted_tables:
            assert db.has_table(rt.engine, table.name)
        with rt.sessions() as s:
            assert list(s.scalars(select(KeyCanary.key_id))) == [rt.keyring.current_key_id]
            assert [u.username for u in s.scalars(select(User))] == ["root"]
            assert [p.name for p in s.scalars(select(Provider))] == ["Bedrock (environment)"]
    finally:
        rt.dispose()


def test_fresh_database_without_migrating_is_refused(fresh_url: str, tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="no Modeldesk schema yet"):
        open_runtime(make_settings(fresh_url, tmp_path), migrate=False)


def test_a_database_from_before_key_retirement_is_checked_then_migrated(
    fresh_url: str, tmp_path: Path
) -> None:
    """The canary check runs before migrations, so it reads only columns revision 0004 has."""
    engine = db.create_db_engine(fresh_url)
    command.upgrade(db._alembic_config(engine), "0004")
    keyring = Keyring.from_secrets(TEST_SECRET)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO key_canaries (key_id, envelope, created_at) "
                "VALUES (:k, :e, CURRENT_TIMESTAMP)"
            ),
            {
                "k": keyring.current_key_id,
                "e": keyring.encrypt(
                    b"modeldesk key canary",
                    context=associated_data("key_canaries", "envelope", keyring.current_key_id),
                ),
            },
        )
    engine.dispose()

    with pytest.raises(KeyringError, match="MODELDESK_SECRET_KEY"):
        open_runtime(make_settings(fresh_url, tmp_path, MODELDESK_SECRET_KEY=WRONG_SECRET))
    rt = open_runtime(make_settings(fresh_url, tmp_path))
    try:
        assert db.current_revision(rt.engine) == db.head_revision()
        with rt.sessions() as s:
            assert [c.retired_at for c in s.scalars(select(KeyCanary))] == [None]
    finally:
        rt.dispose()
