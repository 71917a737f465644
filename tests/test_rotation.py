"""Key rotation: batches, resumability after a kill, and refusing to forget a used key."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.errors import KeyringError
from core.records import providers
from core.records.credentials import provider_credentials
from core.startup import open_runtime
from core.store.crypto import associated_data, key_id_of
from core.store.rotation import rotate_keys
from core.store.tables import KeyCanary, ModelRecord, Provider, User
from tests.conftest import TEST_SECRET, make_settings
from tests.support import factories as f

NEW_SECRET = "the-new-secret-key-after-rotation-987654321"


class Killed(BaseException):
    """Stands in for the process dying between two batches."""


def _seed(runtime, n: int = 12) -> None:
    with runtime.sessions.begin() as s:
        admin = f.user(s, "root", "admin")
        for i in range(n):
            p = f.provider(
                s,
                admin,
                name=f"P{i}",
                api_key=f"sk-key-{i:04d}-abcdefgh",
                provider_config={"organization": f"org-{i}"},
            )
            f.model(s, admin, p, model_id=f"m-{i}", model_config={"temperature": 0.1 * i})


def _key_ids(rt) -> list[str]:
    with rt.sessions() as s:
        envelopes = [
            *s.scalars(select(Provider.api_key_enc)),
            *s.scalars(select(Provider.provider_config_enc)),
            *s.scalars(select(ModelRecord.model_config_enc)),
        ]
    return [key_id_of(bytes(e)) for e in envelopes if e is not None]


def _rotated_runtime(db_url: str, tmp_path: Path, retired: str | None = TEST_SECRET):
    return open_runtime(
        make_settings(
            db_url,
            tmp_path / "data",
            MODELDESK_SECRET_KEY=NEW_SECRET,
            MODELDESK_RETIRED_SECRET_KEYS=retired,
        )
    )


def test_rotation_killed_halfway_resumes_and_completes(runtime, db_url, tmp_path):
    _seed(runtime)
    old_key = runtime.keyring.current_key_id
    versions_before = _versions(runtime)
    runtime.dispose()

    rt = _rotated_runtime(db_url, tmp_path)
    batches = []

    def die_on_third(label: str, count: int) -> None:
        batches.append((label, count))
        if len(batches) == 3:
            raise Killed

    with pytest.raises(Killed):
        rotate_keys(rt.sessions, rt.keyring, batch_size=5, after_batch=die_on_third)
    ids = _key_ids(rt)
    assert 0 < ids.count(rt.keyring.current_key_id) < len(ids)  # partly rotated, committed

    # The old key is still needed: starting without it is refused, loudly.
    with pytest.raises(KeyringError, match=old_key):
        _rotated_runtime(db_url, tmp_path, retired=None)

    report = rotate_keys(rt.sessions, rt.keyring, batch_size=5)
    assert report.already_current == 12  # the three committed batches (5+5+2) are skipped
    assert report.reencrypted == 36 - 12
    assert report.by_column == {"providers.provider_config_enc": 12, "models.model_config_enc": 12}
    assert report.forgotten_key_ids == [old_key] and report.retired_still_used == {}
    assert set(_key_ids(rt)) == {rt.keyring.current_key_id}
    assert _versions(rt) == versions_before  # rotation is not an edit: no stale forms
    rt.dispose()

    # Now the retired key can be dropped, and every secret still opens.
    rt = _rotated_runtime(db_url, tmp_path, retired=None)
    with rt.sessions() as s:
        admin = s.scalar(select(User))
        views = providers.list_providers(s, user=admin)
        assert len(views) == 12 and not any(v.needs_reentry for v in views)
        creds = provider_credentials(s, views[0].id)
        assert creds.api_key == "sk-key-0000-abcdefgh" and creds.config == {"organization": "org-0"}
        assert s.scalar(select(func.count()).select_from(KeyCanary)) == 1
    rt.dispose()


def _versions(rt) -> dict:
    with rt.sessions() as s:
        return {
            **dict(s.execute(select(Provider.id, Provider.version)).all()),
            **dict(s.execute(select(ModelRecord.id, ModelRecord.version)).all()),
        }


def test_rotation_with_nothing_to_do_reports_zero(runtime):
    _seed(runtime, n=2)
    report = rotate_keys(runtime.sessions, runtime.keyring)
    assert report.reencrypted == 0 and report.already_current == 6
    assert report.forgotten_key_ids == [] and report.retired_still_used == {}


def test_undecryptable_row_is_reported_not_fatal(runtime, db_url, tmp_path):
    _seed(runtime, n=3)
    with runtime.sessions.begin() as s:  # move one ciphertext to another row
        a, b = s.scalars(select(Provider).order_by(Provider.name)).all()[:2]
        s.execute(
            Provider.__table__.update().where(Provider.id == b.id).values(api_key_enc=a.api_key_enc)
        )
    runtime.dispose()
    rt = _rotated_runtime(db_url, tmp_path)
    report = rotate_keys(rt.sessions, rt.keyring, batch_size=2)
    assert report.undecryptable == 1 and report.reencrypted == 8
    rt.dispose()


# --- Rotating while the console runs --------------------------------------------------------


def _write(rt, name: str) -> str:
    """Save a provider with a secret through the real service, as a console would."""
    key = f"sk-{name}-0123456789abcdef"
    with rt.sessions.begin() as s:
        admin = s.scalar(select(User).where(User.username == "root"))
        f.provider(s, admin, name=name, api_key=key, provider_config={"organization": name})
    return key


def _read_all(rt) -> dict[str, tuple[str | None, dict]]:
    with rt.sessions() as s:
        admin = s.scalar(select(User).where(User.username == "root"))
        views = providers.list_providers(s, user=admin)
        assert not [v.name for v in views if v.needs_reentry]
        return {
            v.name: (
                provider_credentials(s, v.id).api_key,
                provider_credentials(s, v.id).config,
            )
            for v in views
        }


def test_rotation_while_consoles_run_loses_no_write(runtime, db_url, tmp_path):
    """Consoles write before, during and after a rotation; the new key alone opens it all."""
    _seed(runtime, n=5)
    old_key = runtime.keyring.current_key_id
    old_console = runtime  # started before the rotation, knows only the old secret
    saved = {"before": _write(old_console, "before")}
    # Restarted for the rotation with both secrets, and one with them the wrong way round.
    new_console = _rotated_runtime(db_url, tmp_path)
    swapped_console = open_runtime(
        make_settings(db_url, tmp_path / "data", MODELDESK_RETIRED_SECRET_KEYS=NEW_SECRET)
    )
    saved["swapped-before"] = _write(swapped_console, "swapped-before")
    rotator = _rotated_runtime(db_url, tmp_path)
    refused: list[str] = []

    def attempt(rt, name: str) -> None:
        try:
            saved[name] = _write(rt, name)
        except KeyringError as exc:
            refused.append(str(exc))

    def during(label: str, count: int) -> None:
        if label == "models.model_config_enc" and "during-new" not in saved:
            attempt(old_console, "during-old")
            attempt(swapped_console, "during-swapped")
            attempt(new_console, "during-new")

    report = rotate_keys(rotator.sessions, rotator.keyring, batch_size=2, after_batch=during)
    for rt, name in (
        (old_console, "after-old"),
        (swapped_console, "after-swapped"),
        (new_console, "after-new"),
    ):
        attempt(rt, name)

    # The console without the new secret refuses to write under the retired key, and says why.
    assert "during-old" not in saved and "after-old" not in saved and len(refused) == 2
    assert all("MODELDESK_SECRET_KEY" in m and "restart" in m.lower() for m in refused)
    assert not any(TEST_SECRET in m or NEW_SECRET in m for m in refused)
    # The others keep writing: a console that has the new secret encrypts with it.
    assert {"during-swapped", "after-swapped", "during-new", "after-new"} <= saved.keys()
    assert report.forgotten_key_ids == [old_key] and report.retired_still_used == {}
    assert set(_key_ids(rotator)) == {rotator.keyring.current_key_id}
    for rt in (old_console, swapped_console, new_console, rotator):
        rt.dispose()

    # Restart with the new secret only: every saved secret opens, nothing needs re-entry.
    rt = _rotated_runtime(db_url, tmp_path, retired=None)
    stored = _read_all(rt)
    for name, key in saved.items():
        assert stored[name] == (key, {"organization": name})
    assert len(stored) == 5 + len(saved)
    rt.dispose()

    # The reverse mistake is refused as before: the old secret alone no longer starts.
    with pytest.raises(KeyringError, match="MODELDESK_SECRET_KEY"):
        open_runtime(make_settings(db_url, tmp_path / "data"))


def test_a_write_begun_before_rotation_is_rotated_not_lost(runtime, db_url, tmp_path):
    """A console transaction that chose the old key commits while rotate-keys starts."""
    _seed(runtime, n=3)
    rotator = _rotated_runtime(db_url, tmp_path)
    results: list[object] = []
    with runtime.sessions() as s:
        with s.begin():
            admin = s.scalar(select(User).where(User.username == "root"))
            f.provider(s, admin, name="slow", api_key="sk-slow-0123456789abcdef")
            s.flush()
            worker = threading.Thread(
                target=lambda: results.append(
                    rotate_keys(rotator.sessions, rotator.keyring, batch_size=2)
                )
            )
            worker.start()
            time.sleep(1.0)  # rotation starts while this transaction is still open
        worker.join(timeout=60)
    assert not worker.is_alive()
    report = results[0]
    assert report.forgotten_key_ids == [runtime.keyring.current_key_id]
    rotator.dispose()
    runtime.dispose()
    rt = _rotated_runtime(db_url, tmp_path, retired=None)
    assert _read_all(rt)["slow"][0] == "sk-slow-0123456789abcdef"
    rt.dispose()


def test_rows_written_under_the_old_key_during_the_run_are_caught_by_the_final_check(
    runtime, db_url, tmp_path
):
    """A value sealed with the old key behind rotate-keys' back (e.g. by an older Modeldesk
    still running) is found by the final check and re-encrypted before the key is dropped."""
    _seed(runtime, n=4)
    old_keyring = runtime.keyring
    runtime.dispose()
    rotator = _rotated_runtime(db_url, tmp_path)
    planted: list[str] = []

    def plant(label: str, count: int) -> None:
        if label != "models.model_config_enc" or planted:
            return
        with rotator.sessions.begin() as s:  # the providers' pass is over
            p = s.scalars(select(Provider).order_by(Provider.name)).first()
            p.api_key_enc = old_keyring.encrypt(
                b"sk-planted-0123456789", context=associated_data("providers", "api_key_enc", p.id)
            )
            planted.append(p.name)

    report = rotate_keys(rotator.sessions, rotator.keyring, batch_size=2, after_batch=plant)
    assert report.forgotten_key_ids == [old_keyring.current_key_id]
    assert set(_key_ids(rotator)) == {rotator.keyring.current_key_id}
    rotator.dispose()
    rt = _rotated_runtime(db_url, tmp_path, retired=None)
    assert _read_all(rt)[planted[0]][0] == "sk-planted-0123456789"
    rt.dispose()


def test_a_key_still_being_written_is_never_declared_unused(runtime, db_url, tmp_path):
    """Something keeps sealing with the old key behind rotate-keys' back: after its rounds
    rotate-keys reports the key as still used and keeps its canary (start-up needs it)."""
    _seed(runtime, n=2)
    old_keyring = runtime.keyring
    runtime.dispose()
    rotator = _rotated_runtime(db_url, tmp_path)

    def rogue(label: str, count: int) -> None:
        if label == "models.model_config_enc":
            with rotator.sessions.begin() as s:
                p = s.scalars(select(Provider).order_by(Provider.name)).first()
                p.api_key_enc = old_keyring.encrypt(
                    b"sk-rogue-0123456789",
                    context=associated_data("providers", "api_key_enc", p.id),
                )

    report = rotate_keys(rotator.sessions, rotator.keyring, batch_size=5, after_batch=rogue)
    old_key = old_keyring.current_key_id
    assert report.forgotten_key_ids == [] and report.retired_still_used == {old_key: 1}
    rotator.dispose()
    with pytest.raises(KeyringError, match=old_key):
        _rotated_runtime(db_url, tmp_path, retired=None)
