"""Key rotation: batches, resumability after a kill, and refusing to forget a used key."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from core import providers
from core.crypto import key_id_of
from core.errors import KeyringError
from core.models import KeyCanary, ModelRecord, Provider, User
from core.rotation import rotate_keys
from core.startup import open_runtime
from tests import factories as f
from tests.conftest import TEST_SECRET, make_settings

NEW_SECRET = "the-new-secret-key-after-rotation-987654321"


class Killed(BaseException):
    """Stands in for the process dying between two batches."""


def _seed(runtime, n: int = 12) -> None:
    with runtime.sessions.begin() as s:
        admin = f.user(s, "root", "admin")
        for i in range(n):
            p = f.provider(s, admin, name=f"P{i}", api_key=f"sk-key-{i:04d}-abcdefgh",
                           provider_config={"organization": f"org-{i}"})
            f.model(s, admin, p, model_id=f"m-{i}", model_config={"temperature": 0.1 * i})


def _key_ids(rt) -> list[str]:
    with rt.sessions() as s:
        envelopes = [*s.scalars(select(Provider.api_key_enc)),
                     *s.scalars(select(Provider.provider_config_enc)),
                     *s.scalars(select(ModelRecord.model_config_enc))]
    return [key_id_of(bytes(e)) for e in envelopes if e is not None]


def _rotated_runtime(db_url: str, tmp_path: Path, retired: str | None = TEST_SECRET):
    return open_runtime(make_settings(db_url, tmp_path / "data", MODELDESK_SECRET_KEY=NEW_SECRET,
                                      MODELDESK_RETIRED_SECRET_KEYS=retired))


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
        rotate_keys(rt, batch_size=5, after_batch=die_on_third)
    ids = _key_ids(rt)
    assert 0 < ids.count(rt.keyring.current_key_id) < len(ids)  # partly rotated, committed

    # The old key is still needed: starting without it is refused, loudly.
    with pytest.raises(KeyringError, match=old_key):
        _rotated_runtime(db_url, tmp_path, retired=None)

    report = rotate_keys(rt, batch_size=5)
    assert report.already_current == 12  # the three committed batches (5+5+2) are skipped
    assert report.reencrypted == 36 - 12
    assert report.by_column == {"providers.provider_config_enc": 12,
                                "models.model_config_enc": 12}
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
        creds = providers.provider_credentials(s, views[0].id)
        assert creds.api_key == "sk-key-0000-abcdefgh" and creds.config == {"organization": "org-0"}
        assert s.scalar(select(func.count()).select_from(KeyCanary)) == 1
    rt.dispose()


def _versions(rt) -> dict:
    with rt.sessions() as s:
        return {**dict(s.execute(select(Provider.id, Provider.version)).all()),
                **dict(s.execute(select(ModelRecord.id, ModelRecord.version)).all())}


def test_rotation_with_nothing_to_do_reports_zero(runtime):
    _seed(runtime, n=2)
    report = rotate_keys(runtime)
    assert report.reencrypted == 0 and report.already_current == 6
    assert report.forgotten_key_ids == [] and report.retired_still_used == {}


def test_undecryptable_row_is_reported_not_fatal(runtime, db_url, tmp_path):
    _seed(runtime, n=3)
    with runtime.sessions.begin() as s:  # move one ciphertext to another row
        a, b = s.scalars(select(Provider).order_by(Provider.name)).all()[:2]
        s.execute(Provider.__table__.update().where(Provider.id == b.id)
                  .values(api_key_enc=a.api_key_enc))
    runtime.dispose()
    rt = _rotated_runtime(db_url, tmp_path)
    report = rotate_keys(rt, batch_size=2)
    assert report.undecryptable == 1 and report.reencrypted == 8
    rt.dispose()
