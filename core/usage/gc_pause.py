"""Pausing Python's cyclic garbage collector while a large usage batch is prepared.

A batch of tens of thousands of reports allocates a few container objects per report (rows,
tag dicts, the caller's report objects), none of them in a reference cycle: reference
counting frees every one. But each allocation counts towards the collector's thresholds, and
its passes walk every tracked object in the process, so with the collector running a batch
spends about 3 µs of its ~11 µs of Python per event in collections that find nothing
(measured with bench/usage.py: 47,800 → 53,600 events/s). So a large batch pauses it.

The pause is process-wide (the collector is), counted (concurrent batches in other threads
share one pause; the last to finish ends it) and only undoes what it did: if the collector
was already off when the first pause began, it stays off. Other threads keep running
meanwhile; cycles they make wait for the next collection, a second or so later. Pauses that
overlap without end (imports back to back in several threads) cannot starve it: every
COLLECT_EVERY seconds of pause, the batch that ends a pause collects once.
"""

from __future__ import annotations

import contextlib
import gc
import threading
import time
from collections.abc import Iterator

COLLECT_EVERY = 10.0  # seconds
PAUSE_AT = 1_000  # reports: a smaller batch does not pause the collector

_lock = threading.Lock()
_depth = 0
_resume = False  # whether the collector was on when the outermost pause began
_since = 0.0  # when the collector last ran or could run (time.monotonic)


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """The collector off for the block (see the module)."""
    global _depth, _resume, _since
    with _lock:
        if _depth == 0:
            _resume, _since = gc.isenabled(), time.monotonic()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _resume:
                gc.enable()
            collect = _depth > 0 and _resume and time.monotonic() - _since > COLLECT_EVERY
            if collect:
                _since = time.monotonic()
        if collect:
            gc.collect()
