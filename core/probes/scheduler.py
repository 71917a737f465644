"""One health sweep per interval per deployment, however many app processes run.

Every process runs a ``Scheduler`` (a daemon thread). They share one row of
``scheduler_leases``; each tick a process tries to take or renew it:

    UPDATE scheduler_leases SET holder = me, expires_at = now + ttl
     WHERE name = 'health' AND (expires_at < now OR holder = me)     -- insert if missing

Only the holder sweeps, and only after claiming the interval slot in the same row:

    UPDATE scheduler_leases SET last_run_at = now
     WHERE name = 'health' AND holder = me
       AND (last_run_at IS NULL OR last_run_at <= now - interval)

Both are single atomic statements, so two processes never sweep in the same interval, and
a process that takes the lease over after a crash does not sweep again before the interval
has passed since the last sweep. While sweeping, the holder renews the lease as probes
finish; a sweep never overlaps the previous one (an in-process lock, and the lease across
processes). ``stop()`` releases the lease so another process can take over at once.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import insert, or_, update

from core.probes import health
from core.store.tables import SchedulerLease, utcnow

log = logging.getLogger(__name__)

HEALTH_JOB = "health"
Sweep = Callable[[Callable[[int, int], None]], Any]


def _holder_id() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Scheduler:
    """Runs ``sweep`` every ``interval_s`` seconds in one process of the deployment."""

    def __init__(
        self,
        runtime: Any,
        *,
        interval_s: float | None = None,
        sweep: Sweep | None = None,
        name: str = HEALTH_JOB,
        tick_s: float | None = None,
        lease_s: float | None = None,
    ) -> None:
        self.runtime = runtime
        self.interval_s = float(
            interval_s if interval_s is not None else runtime.settings.health_interval
        )
        if self.interval_s <= 0:
            raise ValueError("the scheduler needs a positive interval")
        self.name = name
        self.holder = _holder_id()
        self._sweep = sweep or self._health_sweep
        # How often to look: often enough to sweep close to the interval, rarely enough
        # to cost nothing (at most every 15 s).
        self.tick_s = tick_s or min(15.0, max(0.05, self.interval_s / 10))
        deadline = runtime.settings.health_deadline
        # The lease must outlive the longest quiet spell of its holder: a tick, or the wait
        # for the next probe of a sweep to finish.
        self.lease_s = lease_s or max(3 * self.tick_s, 2 * (deadline + 1) + self.tick_s)
        self.sweeps = 0
        self._stop = threading.Event()
        self._running = threading.Lock()  # a sweep never overlaps the previous one
        self._thread: threading.Thread | None = None
        self._renewed = 0.0

    # --- The lease ----------------------------------------------------------------------

    def _table(self) -> Any:
        return SchedulerLease.__table__

    def acquire(self, now: datetime | None = None) -> bool:
        """Take or renew the lease; True if this scheduler holds it."""
        now = now or utcnow()
        t = self._table()
        expires = now + timedelta(seconds=self.lease_s)
        with self.runtime.engine.begin() as conn:
            taken = conn.execute(
                update(t)
                .where(t.c.name == self.name, or_(t.c.expires_at < now, t.c.holder == self.holder))
                .values(holder=self.holder, expires_at=expires)
            ).rowcount
        if taken:
            self._renewed = time.monotonic()
            return True
        try:
            with self.runtime.engine.begin() as conn:
                conn.execute(
                    insert(t).values(
                        name=self.name, holder=self.holder, expires_at=expires, last_run_at=None
                    )
                )
        except sa_exc.IntegrityError:  # the row exists and someone else holds it
            return False
        self._renewed = time.monotonic()
        return True

    def _claim_slot(self, now: datetime) -> bool:
        """Mark this interval as swept, if it is due and we still hold the lease."""
        t = self._table()
        due = now - timedelta(seconds=self.interval_s)
        with self.runtime.engine.begin() as conn:
            return bool(
                conn.execute(
                    update(t)
                    .where(
                        t.c.name == self.name,
                        t.c.holder == self.holder,
                        or_(t.c.last_run_at.is_(None), t.c.last_run_at <= due),
                    )
                    .values(last_run_at=now)
                ).rowcount
            )

    def release(self) -> None:
        """Give the lease up (another process may take it over at once)."""
        t = self._table()
        try:
            with self.runtime.engine.begin() as conn:
                conn.execute(
                    update(t)
                    .where(t.c.name == self.name, t.c.holder == self.holder)
                    .values(expires_at=utcnow() - timedelta(seconds=1))
                )
        except sa_exc.SQLAlchemyError:  # the database is gone: nothing left to release
            log.debug("could not release the %s lease", self.name)

    def _heartbeat(self, done: int, total: int) -> None:
        if time.monotonic() - self._renewed > self.lease_s / 3:
            self.acquire()

    # --- Running ------------------------------------------------------------------------

    def run_once(self) -> bool:
        """One tick: hold the lease and, when due, sweep. True if a sweep ran."""
        if not self._running.acquire(blocking=False):
            return False
        try:
            if not self.acquire():
                return False
            if not self._claim_slot(utcnow()):
                return False
            started = time.monotonic()
            try:
                self._sweep(self._heartbeat)
            finally:
                self.sweeps += 1
                log.info(
                    "health sweep %d by %s took %.1f s",
                    self.sweeps,
                    self.holder,
                    time.monotonic() - started,
                )
            return True
        finally:
            self._running.release()

    def _health_sweep(self, heartbeat: Callable[[int, int], None]) -> Any:
        return health.check_providers(self.runtime, progress=heartbeat)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # keep ticking: the next tick may succeed
                log.exception("the %s scheduler tick failed", self.name)
            self._stop.wait(self.tick_s)

    def start(self) -> Scheduler:
        """Start the daemon thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._loop, daemon=True, name=f"modeldesk-{self.name}-scheduler"
            )
            self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Stop ticking, wait for a running sweep to end, and release the lease."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.release()

    @property
    def running(self) -> bool:
        """True while the thread is alive."""
        return self._thread is not None and self._thread.is_alive()
