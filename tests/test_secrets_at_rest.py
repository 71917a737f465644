"""No plaintext secret at rest or in anything core hands out, and a moved ciphertext is
reported for re-entry instead of breaking a listing.

Each test plants unique canary secrets (API keys, secret-looking config values, a model
config value) through the real services, then looks for them where they must never be:
the raw SQLite file and its WAL, a ``pg_dump`` of PostgreSQL, audit rows, listing reprs,
exception messages and log records. A public marker (a provider name) is planted beside
them and must be found, so a search that finds nothing proves something.
"""

from __future__ import annotations

import logging
import subprocess
import traceback
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.engine import make_url

from core.errors import DecryptionError, IntegrityError, ModeldeskError, ValidationError
from core.records import model_records, providers, system_providers
from core.records.credentials import provider_credentials
from core.startup import Runtime, open_runtime
from core.store.crypto import Keyring, associated_data
from core.store.tables import AuditEvent, ModelRecord, Provider, User
from tests.conftest import TEST_SECRET, make_settings
from tests.support import factories as f


@dataclass
class Planted:
    admin: uuid.UUID
    openai: uuid.UUID
    bedrock: uuid.UUID
    model: uuid.UUID
    other_model: uuid.UUID
    secrets: tuple[str, ...]  # must never appear in plaintext, anywhere
    encrypted: tuple[str, ...]  # secrets plus non-secret config values (the region): not at rest
    first_key: str
    current_key: str
    marker: str  # public: must appear in the raw bytes


def canary(kind: str) -> str:
    return f"CANARY-{kind}-{uuid.uuid4().hex}"


def plant(runtime: Runtime) -> Planted:
    """Canary secrets in every secret column, stored through the real services."""
    key, rotated, token = canary("KEY"), canary("ROTATED"), canary("TOKEN")
    region, aws, bedrock_key = canary("REGION").lower(), canary("AWS"), canary("BEDROCK")
    model_secret, other_secret = canary("MODELCFG"), canary("MODELCFG2")
    marker = f"PUBLIC-MARKER-{uuid.uuid4().hex}"
    with runtime.sessions.begin() as s:
        admin = f.user(s, "boss", "admin")
        openai = f.provider(
            s,
            admin,
            marker,
            api_key=key,
            instance_wide=True,
            provider_config={"base_url": "https://gw.example.com/v1", "token": token},
        )
        bedrock = f.provider(
            s,
            admin,
            "Bedrock",
            provider_type="amazon_bedrock",
            api_key=bedrock_key,
            instance_wide=True,
            provider_config={"region": region, "secret_access_key": aws},
        )
        model = f.model(
            s,
            admin,
            openai,
            "gpt-4o",
            instance_wide=True,
            model_config={"auth_header": model_secret},
        )
        other = f.model(
            s,
            admin,
            openai,
            "gpt-4o-mini",
            instance_wide=True,
            model_config='{"auth_header": "%s"}' % other_secret,
        )
    with runtime.sessions.begin() as s:  # a key change, so the audit trail has "changed"
        providers.update_provider(
            s,
            actor=s.get(User, admin.id),
            provider_id=openai.id,
            expected_version=1,
            api_key=rotated,
        )
    secrets = (key, rotated, token, aws, bedrock_key, model_secret, other_secret)
    return Planted(
        admin.id,
        openai.id,
        bedrock.id,
        model.id,
        other.id,
        secrets,
        (*secrets, region),
        key,
        rotated,
        marker,
    )


def assert_absent(haystack: bytes | str, secrets: tuple[str, ...], where: str) -> None:
    for secret in secrets:
        needles = (
            [secret.encode(), secret.encode().hex().encode()]
            if isinstance(haystack, bytes)
            else [secret, secret.encode().hex()]
        )
        for needle in needles:
            assert needle not in haystack, f"a planted secret is readable in {where}"


# --- Raw database bytes -------------------------------------------------------------------


def raw_database_bytes(runtime: Runtime) -> bytes:
    """Everything the database server keeps on disk, as one byte string."""
    url = runtime.engine.url
    if url.get_backend_name() == "sqlite":
        path = Path(url.database)
        wal = path.with_name(path.name + "-wal")
        before_checkpoint = wal.read_bytes() if wal.exists() else b""
        with runtime.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        runtime.dispose()
        after = wal.read_bytes() if wal.exists() else b""
        return before_checkpoint + path.read_bytes() + after
    runtime.dispose()
    dump = subprocess.run(
        [
            "pg_dump",
            "-h",
            url.host or "127.0.0.1",
            "-p",
            str(url.port or 5432),
            "-U",
            url.username or "postgres",
            make_url(str(url)).database,
        ],
        capture_output=True,
        check=True,
        timeout=120,
    )
    return dump.stdout


def test_no_plaintext_secret_in_the_raw_database(runtime: Runtime) -> None:
    planted = plant(runtime)

    raw = raw_database_bytes(runtime)

    assert planted.marker.encode() in raw  # the search sees stored text
    assert_absent(raw, planted.encrypted, "the raw database")


def test_a_failed_check_and_a_rotation_leave_no_secret_at_rest(
    runtime: Runtime, db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A provider on loopback answers 401 quoting the key and the secret config value it
    was sent; after that health check and a key rotation, the raw database (pg_dump on
    PostgreSQL) and the log hold neither, in any encoding, nor any 12 characters of them.
    The browser sweep (tests/reliability/test_secret_sweep.py) does this on SQLite through
    the UI."""
    from core.probes import health
    from core.store.rotation import rotate_keys
    from core.store.tables import HealthCheck
    from tests.fakes import FakeProvider
    from tests.support.leaks import Haystack

    caplog.set_level(logging.DEBUG)
    key, token = f"sk-{uuid.uuid4().hex}-echo", f"{uuid.uuid4().hex}-echo-token"
    marker = f"PUBLIC-MARKER-{uuid.uuid4().hex}"
    allowed = {"MODELDESK_ALLOWED_NETWORKS": "127.0.0.0/8"}
    runtime.dispose()
    with FakeProvider("azure_openai", key=key, mode="echo_key") as fake:
        rt = open_runtime(make_settings(db_url, tmp_path / "data", **allowed))
        with rt.sessions.begin() as s:
            admin = f.user(s, "boss", "admin")
            f.provider(
                s,
                admin,
                marker,
                provider_type="azure_openai",
                api_key=key,
                provider_config={"base_url": fake.base_url, "api_token": token},
            )
        (result,) = health.check_providers(rt)
        rt.dispose()
    assert result.status == "unauthorized", result
    assert any(key in r.headers.get("api-key", "") for r in fake.requests)
    rotated = open_runtime(
        make_settings(
            db_url,
            tmp_path / "data",
            MODELDESK_SECRET_KEY="another-secret-key-for-the-sweep-0123456789",
            MODELDESK_RETIRED_SECRET_KEYS=TEST_SECRET,
            **allowed,
        )
    )
    assert rotate_keys(rotated.sessions, rotated.keyring).reencrypted >= 2
    with rotated.sessions() as s:
        reasons = [c.reason or "" for c in s.scalars(select(HealthCheck))]

    hay = Haystack()
    hay.add("database", db_url.split(":")[0], raw_database_bytes(rotated))
    hay.add("health history", "reasons", "\n".join(reasons))
    for record in caplog.records:
        hay.add("log", record.name, record.getMessage() + (record.exc_text or ""))
    assert marker.encode() in hay.places["database"][0][1]  # the search sees stored text
    leaks = hay.find(key, partial=True) + hay.find(token, partial=True)
    assert not leaks, "\n".join(leaks)


def test_audit_events_carry_no_secret(runtime: Runtime) -> None:
    planted = plant(runtime)
    with runtime.sessions() as s:
        rows = list(s.scalars(select(AuditEvent)))
    text = " ".join(
        repr((e.action, e.entity_label, e.actor_label, e.before, e.after)) for e in rows
    )

    assert {"provider.create", "provider.update", "model.create"} <= {e.action for e in rows}
    assert f"changed (…{planted.current_key[-4:]})" in text
    assert f"set (…{planted.first_key[-4:]})" in text
    assert_absent(text, planted.secrets, "the audit trail")


# --- What core hands out ------------------------------------------------------------------


def test_listings_show_only_the_last_four_characters(runtime: Runtime, tmp_path: Path) -> None:
    planted = plant(runtime)
    env_key = canary("ENVKEY")
    settings = make_settings(
        str(runtime.engine.url),
        tmp_path,
        ANTHROPIC_API_KEY=env_key,
        MODELDESK_DISABLE_SYSTEM_PROVIDERS="",
    )
    with runtime.sessions() as s:
        admin = s.get(User, planted.admin)
        views = providers.list_providers(s, user=admin)
        available = system_providers.all_available_providers(s, user=admin, settings=settings)
        models = model_records.list_models(s, user=admin)
        active = model_records.list_active_models(s, user=admin)
        credentials = provider_credentials(s, planted.openai)

    text = repr(
        (views, available, models, active, credentials, system_providers.system_providers(settings))
    )
    assert_absent(text, (*planted.secrets, env_key), "a listing")
    by_name = {v.name: v for v in available}
    assert by_name[planted.marker].key_hint == "…" + planted.current_key[-4:]
    assert by_name["Anthropic (environment)"].key_hint == "…" + env_key[-4:]
    assert credentials.api_key == planted.current_key  # the adapter still gets the key


def failing_operations(runtime: Runtime, planted: Planted) -> list[ModeldeskError]:
    """Operations that fail while holding a planted secret; their errors."""
    key = planted.current_key
    attempts = [
        dict(name="Multi-line", api_key=key + "\n" + key),
        dict(name="Huge", api_key=key * 300),
        dict(name="Creds", provider_config={"base_url": f"https://admin:{key}@h.example.com"}),
        dict(name="Syntax", provider_config='{"token": "%s" "oops": 1}' % key),
        dict(name="Nan", provider_config='{"token": "%s", "n": NaN}' % key),
        dict(name="Not json", provider_config=f'["{key}"]'),
        dict(name=f" {planted.marker} ", api_key=key),  # duplicate name
    ]
    errors: list[ModeldeskError] = []
    for kwargs in attempts:
        with pytest.raises((ValidationError, IntegrityError)) as caught:
            with runtime.sessions.begin() as s:
                f.provider(s, s.get(User, planted.admin), **kwargs)
        errors.append(caught.value)
    move(runtime, Provider, "api_key_enc", planted.bedrock, planted.openai)
    with runtime.sessions() as s, pytest.raises(DecryptionError) as caught:
        provider_credentials(s, planted.openai)
    errors.append(caught.value)
    return errors


def test_error_messages_carry_no_secret(runtime: Runtime) -> None:
    planted = plant(runtime)

    for error in failing_operations(runtime, planted):
        text = "".join(traceback.format_exception(error)) + repr(error)
        assert_absent(text, planted.secrets, f"a {type(error).__name__} message")


def test_log_records_carry_no_secret(runtime: Runtime, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy.engine")  # SQL and its parameters too
    planted = plant(runtime)
    failing_operations(runtime, planted)
    with runtime.sessions() as s:
        providers.list_providers(s, user=s.get(User, planted.admin))

    assert any("needs re-entry" in r.getMessage() for r in caplog.records)
    assert any("INSERT INTO providers" in r.getMessage() for r in caplog.records)
    for record in caplog.records:
        text = record.getMessage() + (record.exc_text or "") + repr(record.args)
        assert_absent(text, planted.secrets, f"a log record from {record.name}")


# --- A ciphertext moved to another row or column ------------------------------------------


def move(
    runtime: Runtime,
    cls: type[Provider] | type[ModelRecord],
    column: str,
    source: uuid.UUID,
    target: uuid.UUID,
    target_column: str | None = None,
    target_cls: type[Provider] | type[ModelRecord] | None = None,
) -> None:
    """Copy the raw envelope bytes of one cell into another, as an attacker with SQL could."""
    target_cls = target_cls or cls
    table, target_table = cls.__table__, target_cls.__table__
    with runtime.engine.begin() as conn:
        blob = conn.scalar(select(table.c[column]).where(table.c.id == source))
        assert blob is not None
        conn.execute(
            update(target_table)
            .where(target_table.c.id == target)
            .values({target_column or column: blob})
        )


def test_key_copied_to_another_row_needs_reentry(runtime: Runtime) -> None:
    planted = plant(runtime)
    move(runtime, Provider, "api_key_enc", planted.bedrock, planted.openai)

    with runtime.sessions() as s:
        views = {v.id: v for v in providers.list_providers(s, user=s.get(User, planted.admin))}
        with pytest.raises(DecryptionError, match="moved from another record"):
            provider_credentials(s, planted.openai)

    assert set(views) == {planted.openai, planted.bedrock}  # nothing dropped
    assert views[planted.openai].key_hint == "needs re-entry"
    assert views[planted.openai].needs_reentry is True
    assert views[planted.bedrock].key_hint.startswith("…")
    assert views[planted.bedrock].needs_reentry is False


def test_key_copied_to_another_column_needs_reentry(runtime: Runtime) -> None:
    planted = plant(runtime)
    move(
        runtime,
        Provider,
        "api_key_enc",
        planted.openai,
        planted.openai,
        target_column="provider_config_enc",
    )

    with runtime.sessions() as s:
        (view,) = [
            v
            for v in providers.list_providers(s, user=s.get(User, planted.admin))
            if v.id == planted.openai
        ]
    assert view.needs_reentry is True and view.config == {}
    assert view.key_hint == "…" + planted.current_key[-4:]  # the key itself is intact


def test_model_config_copied_to_another_row_or_table_needs_reentry(runtime: Runtime) -> None:
    planted = plant(runtime)
    move(runtime, ModelRecord, "model_config_enc", planted.model, planted.other_model)
    move(
        runtime,
        Provider,
        "provider_config_enc",
        planted.openai,
        planted.model,
        target_column="model_config_enc",
        target_cls=ModelRecord,
    )

    with runtime.sessions() as s:
        admin = s.get(User, planted.admin)
        for listing in (
            model_records.list_models(s, user=admin),
            model_records.list_active_models(s, user=admin),
        ):
            assert {v.id: (v.needs_reentry, dict(v.config)) for v in listing} == {
                planted.model: (True, {}),
                planted.other_model: (True, {}),
            }


@pytest.mark.parametrize("garbage", ["not-an-envelope", "foreign-key"])
def test_unreadable_bytes_need_reentry(runtime: Runtime, garbage: str) -> None:
    planted = plant(runtime)
    if garbage == "foreign-key":
        blob = Keyring.from_secrets("some-other-secret-0123456789").encrypt(
            b"x", context=associated_data("providers", "api_key_enc", planted.openai)
        )
    else:
        blob = b"\x00plaintext?"
    with runtime.engine.begin() as conn:
        conn.execute(
            update(Provider.__table__)
            .where(Provider.__table__.c.id == planted.openai)
            .values(api_key_enc=blob)
        )

    with runtime.sessions() as s:
        views = providers.list_providers(s, user=s.get(User, planted.admin))
    assert [v.key_hint for v in views if v.id == planted.openai] == ["needs re-entry"]
    assert len(views) == 2


def test_reentering_the_key_repairs_the_row(runtime: Runtime) -> None:
    planted = plant(runtime)
    move(runtime, Provider, "api_key_enc", planted.bedrock, planted.openai)
    fresh = canary("FRESH")

    with runtime.sessions.begin() as s:
        providers.update_provider(
            s,
            actor=s.get(User, planted.admin),
            provider_id=planted.openai,
            expected_version=None,
            api_key=fresh,
        )
    with runtime.sessions() as s:
        (view,) = [
            v
            for v in providers.list_providers(s, user=s.get(User, planted.admin))
            if v.id == planted.openai
        ]
        assert provider_credentials(s, planted.openai).api_key == fresh
    assert (view.key_hint, view.needs_reentry) == ("…" + fresh[-4:], False)


def test_a_record_needing_reentry_can_still_be_switched_off(runtime: Runtime) -> None:
    with runtime.sessions.begin() as s:
        admin = f.user(s, "boss", "admin")
        azure = f.provider(
            s,
            admin,
            "Azure",
            provider_type="azure_openai",
            api_key="az-key-1",
            provider_config={"resource_name": "acme", "deployment_id": "gpt4o"},
        )
        other = f.provider(s, admin, "Other")
        ids = admin.id, azure.id, other.id
    move(runtime, Provider, "api_key_enc", ids[2], ids[1], target_column="provider_config_enc")

    with runtime.sessions.begin() as s:
        providers.set_provider_status(s, actor=s.get(User, ids[0]), provider_id=ids[1])
    with runtime.sessions() as s:
        (view,) = [
            v for v in providers.list_providers(s, user=s.get(User, ids[0])) if v.id == ids[1]
        ]
    assert (view.status, view.needs_reentry) == ("inactive", True)
