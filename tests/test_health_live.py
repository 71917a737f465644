"""Health checks end to end: the real adapters and outbound guard against fake providers
on loopback (tests/fakes), through check_providers, the scheduler and `modeldesk check`."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from core import cli
from core.accounts import users
from core.probes import health
from core.probes.scheduler import Scheduler
from core.startup import Runtime, open_runtime
from core.store.tables import HealthCheck, HealthState
from tests.conftest import TEST_SECRET, make_settings
from tests.fakes import FakeProvider, closed_port_url
from tests.support import factories as f

CANARY = "sk-CANARY-live-health-8d7c6b5a4f3e"
DEADLINE = 1.0


@pytest.fixture
def live(db_url: str, tmp_path: Path) -> Iterator[Runtime]:
    """A runtime whose outbound guard may reach loopback (where the fakes listen)."""
    rt = open_runtime(
        make_settings(db_url, tmp_path / "data", MODELDESK_ALLOWED_NETWORKS="127.0.0.0/8")
    )
    with rt.sessions.begin() as s:
        f.user(s, "admin", "admin")
    yield rt
    rt.dispose()


def add(runtime: Runtime, name: str, base_url: str, key: str = CANARY) -> None:
    with runtime.sessions.begin() as s:
        f.provider(
            s,
            users.require_user(s, "admin"),
            name=name,
            api_key=key,
            provider_type="openai_compatible",
            provider_config={"base_url": base_url},
        )


def test_every_failure_mode_is_classified_within_the_deadline(
    live: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    modes = {
        "ok": "success",
        "slow": "success",
        "unauthorized": "401",
        "forbidden": "403",
        "limited": "429",
        "broken": "500",
        "html": "html",
        "hanging": "hang",
        "trickling": "trickle",
        "huge": "huge",
        "redirect": "redirect",
        "echo": "echo_key",
    }
    fakes = {
        name: FakeProvider("openai", key=CANARY, mode=mode).start() for name, mode in modes.items()
    }
    fakes["slow"].latency = 0.7  # over half the deadline: degraded
    try:
        for name, fake in fakes.items():
            add(live, name, fake.base_url)
        add(live, "refused", closed_port_url() + "/v1")
        caplog.set_level(logging.DEBUG)
        started = time.monotonic()
        results = health.check_providers(live, deadline_s=DEADLINE)
        elapsed = time.monotonic() - started
    finally:
        for fake in fakes.values():
            fake.stop()
    status = {r.provider_name: r.status for r in results}
    assert status == {
        "ok": "healthy",
        "slow": "degraded",
        "unauthorized": "unauthorized",
        "forbidden": "unauthorized",
        "limited": "degraded",
        "broken": "unreachable",
        "html": "unreachable",
        "hanging": "unreachable",
        "trickling": "unreachable",
        "huge": "unreachable",
        "redirect": "unreachable",
        "echo": "unauthorized",
        "refused": "unreachable",
    }
    assert elapsed < DEADLINE + health.GRACE_S + 1.5  # 13 probes at once, none waited out
    reasons = {r.provider_name: r.reason for r in results}
    assert "169.254" in reasons["redirect"] and "retry after 7 s" in reasons["limited"]
    with live.sessions() as s:
        stored = [*s.scalars(select(HealthCheck)), *s.scalars(select(HealthState))]
    assert len(stored) == 2 * len(status)
    assert all(CANARY not in repr(vars(row)) for row in stored)
    assert CANARY not in repr(results) and CANARY not in caplog.text


def test_a_stored_loopback_provider_is_refused_but_a_system_one_is_trusted(
    db_url: str, tmp_path: Path
) -> None:
    with FakeProvider("openai", key=CANARY) as fake:
        rt = open_runtime(
            make_settings(
                db_url,
                tmp_path / "data",
                MODELDESK_DISABLE_SYSTEM_PROVIDERS="ollama",
                OPENAI_API_KEY=CANARY,
                OPENAI_BASE_URL=fake.base_url,
            )
        )
        try:
            with rt.sessions.begin() as s:
                f.user(s, "admin", "admin")
            add(rt, "Office box", fake.base_url)
            results = {r.source: r for r in health.check_providers(rt, deadline_s=DEADLINE)}
        finally:
            rt.dispose()
    assert results["system"].status == "healthy"
    assert results["database"].status == "unreachable"
    assert "refused" in results["database"].reason
    assert "MODELDESK_ALLOWED_NETWORKS" in results["database"].reason
    assert len(fake.requests) == 1  # only the trusted system provider was called


def test_a_redirect_to_a_server_that_never_saw_the_key_is_not_healthy(live: Runtime) -> None:
    # The other origin answers anything (it takes no key): a listing from it proves nothing.
    with (
        FakeProvider("openai", key=CANARY, mode="moved") as moved,
        FakeProvider("openai", key=None) as elsewhere,
    ):
        moved.moved_to = elsewhere.url
        add(live, "Moved", moved.base_url)
        [result] = health.check_providers(live, deadline_s=DEADLINE)
    assert (result.status, elsewhere.requests) == ("unreachable", [])
    assert f"redirected to 127.0.0.1:{elsewhere.port}, another origin" in result.reason


def test_the_scheduler_sweeps_real_providers_once(
    live: Runtime, db_url: str, tmp_path: Path
) -> None:
    other = open_runtime(
        make_settings(db_url, tmp_path / "data2", MODELDESK_ALLOWED_NETWORKS="127.0.0.0/8")
    )
    with FakeProvider("openai", key=CANARY) as fake:
        add(live, "p", fake.base_url)
        schedulers = [Scheduler(rt, interval_s=30, tick_s=0.05).start() for rt in (live, other)]
        try:
            for _ in range(100):
                if fake.requests:
                    break
                time.sleep(0.05)
            time.sleep(0.5)
        finally:
            for scheduler in schedulers:
                scheduler.stop(timeout=10)
            other.dispose()
    assert len(fake.requests) == 1
    assert sum(s.sweeps for s in schedulers) == 1
    with live.sessions() as s:
        assert [c.status for c in s.scalars(select(HealthCheck))] == ["healthy"]


def test_modeldesk_check_against_a_fake_provider(
    live: Runtime, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in (
        ("MODELDESK_SECRET_KEY", TEST_SECRET),
        ("MODELDESK_DISABLE_SYSTEM_PROVIDERS", "all"),
        ("MODELDESK_ALLOWED_NETWORKS", "127.0.0.0/8"),
    ):
        monkeypatch.setenv(name, value)
    with (
        FakeProvider("openai", key=CANARY) as up,
        FakeProvider("openai", key=CANARY, mode="401") as locked,
    ):
        add(live, "Up", up.base_url)
        add(live, "Locked", locked.base_url)
        code = cli.main(["--database-url", live.settings.database_url, "check", "--deadline", "2"])
    out = capsys.readouterr().out
    assert code == 0
    lines = {line.split()[0]: line for line in out.splitlines()[1:3]}
    assert "healthy" in lines["Up"] and "unauthorized" in lines["Locked"]
    assert "1 healthy, 1 unauthorized" in out and CANARY not in out
