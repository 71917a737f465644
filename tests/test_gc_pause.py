"""The collector's pause during large usage batches (core.usage.gc_pause)."""

from __future__ import annotations

import gc
import threading
from datetime import UTC, datetime, timedelta

import pytest

from core.errors import ValidationError
from core.usage import gc_pause, ledger
from core.usage.inputs import UsageInput


@pytest.fixture(autouse=True)
def collector_on():
    was = gc.isenabled()
    gc.enable()
    yield
    assert gc_pause._depth == 0
    (gc.enable if was else gc.disable)()


def test_a_pause_stops_the_collector_and_ends_as_it_began():
    with gc_pause.paused():
        assert not gc.isenabled()
        with gc_pause.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer pause still holds
    assert gc.isenabled()
    gc.disable()
    with gc_pause.paused():
        pass
    assert not gc.isenabled()  # it was off before: it stays off


def test_an_exception_still_ends_the_pause():
    with pytest.raises(RuntimeError), gc_pause.paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_overlapping_pauses_in_threads_share_one_and_still_collect(monkeypatch):
    collected = []
    monkeypatch.setattr(gc_pause.gc, "collect", lambda *a: collected.append(a) or 0)
    monkeypatch.setattr(gc_pause, "COLLECT_EVERY", 0.0)
    inside, release = threading.Event(), threading.Event()

    def long_batch() -> None:
        with gc_pause.paused():
            inside.set()
            release.wait(10)

    worker = threading.Thread(target=long_batch)
    worker.start()
    assert inside.wait(10)
    with gc_pause.paused():  # overlaps the worker's pause
        assert not gc.isenabled()
    assert not gc.isenabled()  # the worker's batch goes on
    assert collected == [()]  # but the collector ran once meanwhile: no starving it
    release.set()
    worker.join(10)
    assert gc.isenabled()


def test_a_large_batch_runs_with_the_collector_paused(runtime, monkeypatch):
    states = []
    prepare = ledger.batch.Preparer.prepare

    def watched(self, reports):
        states.append(gc.isenabled())
        return prepare(self, reports)

    monkeypatch.setattr(ledger.batch.Preparer, "prepare", watched)
    now = datetime(2026, 6, 1, tzinfo=UTC)

    def reports(n: int) -> list[UsageInput]:
        return [
            UsageInput(
                timestamp=now - timedelta(minutes=i + 1),
                provider="nobody",
                model="m",
                input_tokens=1,
                output_tokens=1,
                idempotency_key=f"{n}-{i}",
            )
            for i in range(n)
        ]

    with runtime.sessions.begin() as s:
        for n in (gc_pause.PAUSE_AT - 1, gc_pause.PAUSE_AT):
            with pytest.raises(ValidationError):  # no such provider: refused either way
                ledger.record_usage(s, events=reports(n), now=now)
    assert states == [True, False]
    assert gc.isenabled()
