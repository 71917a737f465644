"""SQLite under contention: a health sweep, a usage ingest and an admin's save at once.

SQLite has one writer at a time. Modeldesk waits for the lock (busy timeout, WAL) so that
concurrent writers all succeed; when the lock is held longer than that (another program
holding the file), the admin gets a "try again" message, never a traceback, and the form
keeps what was typed.
"""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from core.probes import health
from core.store import db
from core.store.tables import HealthCheck, Provider
from core.store.usage_tables import UsageEvent
from core.usage.inputs import UsageInput
from core.usage.ledger import record_usage
from tests.support import factories as f
from tests.support.console import Console, texts
from tests.support.health_fakes import FakeAdapter, answers, seams

PAGE = "pages/providers.py"
T0 = datetime(2026, 5, 1, tzinfo=UTC)
BATCHES, PER_BATCH, SWEEPS = 8, 250, 4


def _url(n: int) -> str:
    return f"https://prov{n}.example.com/v1"


def _seed(console: Console) -> None:
    with console.runtime.sessions.begin() as s:
        alice = f.user(s, "alice", "admin")
        for n in range(5):
            f.provider(s, alice, f"Prov {n}", provider_config={"base_url": _url(n)})


def _events(batch: int) -> list[UsageInput]:
    return [
        UsageInput(
            timestamp=T0 + timedelta(seconds=batch * PER_BATCH + i),
            provider="Prov 0",
            model="gpt-4o-mini",
            input_tokens=100 + i,
            output_tokens=10,
            idempotency_key=f"contention-{batch}-{i}",
        )
        for i in range(PER_BATCH)
    ]


def _add(at: Any, name: str) -> Any:
    at.session_state["prov_tab"] = "Add provider"
    at.run()
    at.selectbox(key="pa_type").set_value("openai").run()
    at.text_input(key="pa_name").input(name)
    at.text_input(key="pa_key").input("sk-test-abcdefgh12345678")
    return next(b for b in at.button if b.label == "Add provider").click().run()


def test_sweep_ingest_and_admin_save_at_once_all_succeed(console: Console) -> None:
    _seed(console)
    rt = console.runtime
    failures: list[BaseException] = []
    start = threading.Barrier(3)

    def sweeps() -> None:
        start.wait()
        fake = FakeAdapter({_url(n): answers(20) for n in range(5)})
        for _ in range(SWEEPS):
            results = health.check_providers(rt, **seams(fake))
            assert {r.status for r in results} == {"healthy"}

    def ingest() -> None:
        start.wait()
        for b in range(BATCHES):
            with rt.sessions.begin() as s:
                assert record_usage(s, events=_events(b)).inserted == PER_BATCH

    def guarded(work: Any) -> Any:
        def run() -> None:
            try:
                work()
            except BaseException as exc:  # reported below, with the thread's name
                failures.append(exc)

        return threading.Thread(target=run)

    at = console.open(PAGE, as_user="alice")
    threads = [guarded(sweeps), guarded(ingest)]
    for t in threads:
        t.start()
    start.wait()
    saved = []
    for n in range(3):  # the admin saves while both writers run
        at = _add(at, f"Saved {n}")
        assert not at.exception
        saved.append(f"Provider 'Saved {n}' added." in texts(at))
    for t in threads:
        t.join(120)
    assert not failures, failures
    assert all(saved)
    with rt.sessions() as s:
        assert s.scalar(select(func.count()).select_from(UsageEvent)) == BATCHES * PER_BATCH
        assert s.scalar(select(func.count()).select_from(HealthCheck)) >= SWEEPS * 5
        names = set(s.scalars(select(Provider.name)))
    assert {"Saved 0", "Saved 1", "Saved 2"} <= names


def test_a_lock_held_too_long_gives_the_admin_a_retry_message(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    _seed(console)
    monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_MS", 300)  # the app's runtime opens with it
    at = console.open(PAGE, as_user="alice")
    path = console.runtime.settings.resolved_database_url.removeprefix("sqlite:///")
    other = sqlite3.connect(path, isolation_level=None)  # another program holds the lock
    try:
        other.execute("BEGIN IMMEDIATE")
        at = _add(at, "While locked")
        assert not at.exception
        shown = texts(at)
        assert "busy with other writes" in shown and "Try again in a moment" in shown
        assert path not in shown  # the server's file path is not for members' eyes
        assert "Traceback" not in shown and "OperationalError" not in shown
        assert at.text_input(key="pa_name").value == "While locked"  # kept for the retry
    finally:
        other.execute("ROLLBACK")
        other.close()
    at = next(b for b in at.button if b.label == "Add provider").click().run()
    assert "Provider 'While locked' added." in texts(at)
