"""The health scheduler: one sweep per interval per deployment, through a database lease.

Two runtimes on one database stand for two app processes (SQLite file and PostgreSQL).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from functools import partial
from itertools import pairwise
from pathlib import Path

import pytest
from sqlalchemy import select

from core.config import load_settings
from core.errors import ConfigurationError
from core.probes import health
from core.probes.scheduler import Scheduler
from core.startup import Runtime, open_runtime
from core.store.tables import HealthCheck, SchedulerLease, utcnow
from tests.conftest import make_settings
from tests.support.health_fakes import FakeAdapter, seams

INTERVAL = 0.4


class Recorder:
    """A sweep that notes when it ran, for whom, and whether two ever overlapped."""

    def __init__(self, duration: float = 0.05) -> None:
        self.duration = duration
        self.starts: list[tuple[float, str]] = []
        self.active = 0
        self.overlap = False
        self.lock = threading.Lock()

    def sweep_for(self, who: str):
        def sweep(heartbeat) -> None:
            with self.lock:
                self.starts.append((time.monotonic(), who))
                self.active += 1
                self.overlap |= self.active > 1
            time.sleep(self.duration)
            with self.lock:
                self.active -= 1

        return sweep


@pytest.fixture
def second(db_url: str, tmp_path: Path, runtime: Runtime) -> Iterator[Runtime]:
    """Another 'process' on the same database."""
    rt = open_runtime(make_settings(db_url, tmp_path / "data"))
    yield rt
    rt.dispose()


def lease(runtime: Runtime) -> SchedulerLease | None:
    with runtime.sessions() as s:
        return s.scalar(select(SchedulerLease))


def test_two_processes_sweep_once_per_interval(runtime: Runtime, second: Runtime) -> None:
    rec = Recorder()
    a = Scheduler(runtime, interval_s=INTERVAL, sweep=rec.sweep_for("a"), tick_s=0.02)
    b = Scheduler(second, interval_s=INTERVAL, sweep=rec.sweep_for("b"), tick_s=0.02)
    run_for = 2.2
    a.start()
    b.start()
    time.sleep(run_for)
    a.stop(timeout=5)
    b.stop(timeout=5)
    assert not a.running and not b.running
    starts = [t for t, _ in rec.starts]
    # One sweep at the start and then one per interval (plus at most a tick of lag each).
    assert int(run_for / (INTERVAL + 0.1)) <= len(starts) <= int(run_for / INTERVAL) + 1
    gaps = [later - earlier for earlier, later in pairwise(starts)]
    assert min(gaps) >= INTERVAL * 0.98
    assert not rec.overlap
    assert a.sweeps + b.sweeps == len(starts)
    assert lease(runtime).expires_at < utcnow()  # stop() released it


def test_only_the_holder_sweeps_and_a_new_holder_waits_for_the_interval(
    runtime: Runtime, second: Runtime
) -> None:
    rec = Recorder(duration=0)
    a = Scheduler(runtime, interval_s=INTERVAL, sweep=rec.sweep_for("a"))
    b = Scheduler(second, interval_s=INTERVAL, sweep=rec.sweep_for("b"))
    assert a.run_once() is True
    assert b.run_once() is False  # a holds the lease
    assert a.run_once() is False  # not due yet
    a.release()
    assert b.run_once() is False  # b holds it now, but a swept less than an interval ago
    assert lease(runtime).holder == b.holder
    time.sleep(INTERVAL)
    assert b.run_once() is True
    assert [who for _, who in rec.starts] == ["a", "b"]


def test_a_crashed_holder_is_replaced_when_its_lease_expires(
    runtime: Runtime, second: Runtime
) -> None:
    rec = Recorder(duration=0)
    a = Scheduler(runtime, interval_s=0.2, sweep=rec.sweep_for("a"), lease_s=0.5)
    b = Scheduler(second, interval_s=0.2, sweep=rec.sweep_for("b"))
    assert a.run_once() is True  # and then a "crashes": no release
    time.sleep(0.25)
    assert b.run_once() is False
    time.sleep(0.3)
    assert b.run_once() is True
    assert [who for _, who in rec.starts] == ["a", "b"]


def test_a_sweep_never_overlaps_the_previous_one_in_a_process(runtime: Runtime) -> None:
    gate = threading.Event()
    scheduler = Scheduler(runtime, interval_s=0.01, sweep=lambda hb: gate.wait(5))
    first = threading.Thread(target=scheduler.run_once)
    first.start()
    time.sleep(0.2)
    assert scheduler.run_once() is False  # the first sweep still runs
    gate.set()
    first.join(5)
    assert scheduler.sweeps == 1


def test_a_long_sweep_keeps_its_lease(runtime: Runtime, second: Runtime) -> None:
    def long_sweep(heartbeat) -> None:
        for i in range(6):
            time.sleep(0.1)
            heartbeat(i, 6)

    a = Scheduler(runtime, interval_s=0.1, sweep=long_sweep, lease_s=0.3)
    b = Scheduler(second, interval_s=0.1, sweep=lambda hb: None)
    worker = threading.Thread(target=a.run_once)
    worker.start()
    while (lease(runtime) or b).holder != a.holder:  # wait until a holds it
        time.sleep(0.01)
    tries = []
    while worker.is_alive():
        tries.append(b.acquire())
        time.sleep(0.05)
    worker.join()
    assert len(tries) > 5 and not any(tries)


def test_the_default_sweep_checks_and_stores(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.accounts import users
    from tests.support import factories as f

    with runtime.sessions.begin() as s:
        f.provider(
            s,
            f.user(s, "admin", "admin"),
            name="p",
            provider_config={"base_url": "https://p.example.com/v1"},
        )
        assert users.count_users(s) == 1
    fake = FakeAdapter()
    monkeypatch.setattr(health, "check_providers", partial(health.check_providers, **seams(fake)))
    scheduler = Scheduler(runtime, interval_s=60)
    assert scheduler.run_once() is True
    with runtime.sessions() as s:
        assert len(list(s.scalars(select(HealthCheck)))) == 1
    assert fake.calls == ["https://p.example.com/v1"]


def test_stop_is_clean_and_prompt(runtime: Runtime) -> None:
    scheduler = Scheduler(runtime, interval_s=300, sweep=lambda hb: None).start()
    time.sleep(0.1)
    started = time.monotonic()
    scheduler.stop(timeout=5)
    assert time.monotonic() - started < 1 and not scheduler.running
    assert lease(runtime).expires_at <= utcnow() - timedelta(seconds=0.5)


# --- Settings -------------------------------------------------------------------------------


def test_health_settings_defaults_and_validation() -> None:
    dev = load_settings({}, secrets_file=None)
    assert (dev.health_interval, dev.health_deadline, dev.health_retention_days) == (300, 10.0, 30)
    assert load_settings({"MODELDESK_ENV": "test"}, secrets_file=None).health_interval == 0
    tuned = load_settings(
        {
            "MODELDESK_HEALTH_INTERVAL": "60",
            "MODELDESK_HEALTH_DEADLINE": "2.5",
            "MODELDESK_HEALTH_RETENTION_DAYS": "7",
        },
        secrets_file=None,
    )
    assert (tuned.health_interval, tuned.health_deadline, tuned.health_retention_days) == (
        60,
        2.5,
        7,
    )
    for name, bad in (
        ("MODELDESK_HEALTH_INTERVAL", "soon"),
        ("MODELDESK_HEALTH_DEADLINE", "0"),
        ("MODELDESK_HEALTH_RETENTION_DAYS", "-1"),
    ):
        with pytest.raises(ConfigurationError, match=name):
            load_settings({name: bad}, secrets_file=None)
    with pytest.raises(ValueError):
        Scheduler(
            type(
                "R", (), {"settings": load_settings({"MODELDESK_ENV": "test"}, secrets_file=None)}
            )()
        )
