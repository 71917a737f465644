"""Recording a large batch on PostgreSQL with Python and the server working at once.

    this thread:   prepare 1 │ COPY 1 │ prepare 2 │ COPY 2 │ prepare 3 │ COPY 3 │ …
    store thread:                      │ store 1          │ store 2          │ store 3

Preparing a chunk (core.usage.batch) is Python's work; storing one (core.usage.bulk: one
statement from the COPY's staging table) is the server's, and psycopg releases the GIL while
it waits, so on two cores the two overlap. The COPY (Python formats, the server parses)
runs in this thread between two preparations: in the store thread it waited on this
thread's preparing for the GIL, and the server on it (measured: a 10,000-event store took
450 ms of wall time for 300 ms of server CPU). For the same reason a store is one round
trip: the batch's statement settings are set once (bulk.begin_keeping), not around every
statement in the store thread. The server is idle while the first chunk is prepared, so
chunks start small and double (``chunks``).

One connection serves both threads, never at once: the store thread uses only the psycopg
connection, and any SQLAlchemy statement of this thread (a lookup the preparer makes for a
name it has not seen, the references' lock) first waits for the chunk in flight (a
``before_cursor_execute`` hook on the session's connection).

The chunks keep their share of the rollups aside (a temporary table) and one statement adds
it at the end: every rollup row is locked in the one sorted order, as when a batch is one
statement, so concurrent imports still cannot deadlock on the rollups. (The idempotency keys
are claimed chunk by chunk, each chunk's in order: two concurrent batches of the same keys in
different orders could meet in opposite order, and PostgreSQL would then abort one.)

All of it runs in a savepoint, so the contract of ``record_usage`` holds: a batch with a bad
report stores nothing (the savepoint is rolled back) and every bad report is still named
(the remaining chunks are prepared, not stored). A key twice in the batch: the first counts
(within a chunk by the de-duplication below, across chunks by ON CONFLICT DO NOTHING).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import psycopg
from sqlalchemy import event
from sqlalchemy.orm import Session

from core.usage import batch, bulk
from core.usage.inputs import UsageInput

CHUNK = 10_000  # reports per chunk: a few ms of fixed cost per store against ~100 ms of work
FIRST = 1_250  # reports in the first chunk (chunks)
_USER_AT, _RECORD_AT = bulk.STAGED.index("user_id"), bulk.STAGED.index("model_record_id")


@dataclass
class Outcome:
    """What a pipelined batch did: its problems (report number → reasons), else its counts."""

    problems: list[tuple[int, list[str]]] = field(default_factory=list)
    inserted: int = 0
    unpriced: int = 0
    cost_usd: Decimal = Decimal(0)

    def add(self, stored: tuple[int, int, Decimal]) -> None:
        """Count a stored chunk (bulk.store's answer)."""
        self.inserted += stored[0]
        self.unpriced += stored[1]
        self.cost_usd += stored[2]


def record(
    session: Session,
    preparer: batch.Preparer,
    reports: Sequence[UsageInput],
    *,
    now: datetime,
    hold: Callable[[Session, Sequence[batch.Row]], None],
) -> Outcome:
    """Prepare and store reports chunk by chunk, a chunk's store overlapping the next one's
    preparation; ``hold`` locks the users and model records rows name (ledger's). Nothing
    stays stored when a report has problems. The caller commits."""
    found = Outcome()
    driver = bulk.driver_of(session)
    connection = session.connection()
    savepoint = session.begin_nested()
    pending: concurrent.futures.Future[tuple[int, int, Decimal]] | None = None

    def wait_for_store(*_: Any) -> None:  # before any statement of this thread
        if pending is not None:
            concurrent.futures.wait([pending])

    held: set[Any] = {None}
    bulk.begin_keeping(driver)
    event.listen(connection, "before_cursor_execute", wait_for_store)
    try:
        with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="usage-store") as pool:
            try:
                for start, end in chunks(len(reports)):
                    rows = _rows(preparer, reports[start:end], start, found)
                    if found.problems:
                        continue  # name every bad report; store nothing more
                    new = {r[_USER_AT] for r in rows} | {r[_RECORD_AT] for r in rows}
                    if not new <= held:
                        hold(session, rows)  # waits for the chunk in flight first
                        held |= new
                    if pending is not None:
                        found.add(pending.result())
                    # The COPY is Python's work too: done here, it does not wait on this
                    # thread's preparing for the GIL (the server waits on the COPY).
                    bulk.stage(driver, rows)
                    pending = pool.submit(bulk.apply, driver, now=now, keep=True)
            finally:
                if pending is not None:
                    concurrent.futures.wait([pending])  # the connection is free again
            if pending is not None:
                found.add(pending.result())  # a failed store raises here
            if not found.problems:
                bulk.roll_up_kept(driver)
    except BaseException:
        savepoint.rollback()
        with contextlib.suppress(psycopg.Error):  # the caller's transaction may be done
            bulk.end_keeping(driver)
        raise
    finally:
        event.remove(connection, "before_cursor_execute", wait_for_store)
    if found.problems:
        savepoint.rollback()
    else:
        savepoint.commit()
    bulk.end_keeping(driver)
    return found


def chunks(total: int) -> list[tuple[int, int]]:
    """(start, end) of each chunk of a batch of total reports: FIRST, then twice the one
    before up to CHUNK. The server waits while the first chunk is prepared; a small one
    starts it sooner, and each store takes longer than preparing twice its size."""
    bounds, start, size = [], 0, FIRST
    while start < total:
        bounds.append((start, min(start + size, total)))
        start, size = start + size, min(2 * size, CHUNK)
    return bounds


def _rows(
    preparer: batch.Preparer, reports: Sequence[UsageInput], start: int, found: Outcome
) -> list[batch.Row]:
    """A chunk's rows, one per key (the first); its problems go to found."""
    unique: dict[str, batch.Row] = {}
    for number, prepared in enumerate(preparer.prepare(reports), start=start + 1):
        if isinstance(prepared, list):
            found.problems.append((number, prepared))
        else:
            unique.setdefault(prepared[0], prepared)
    return list(unique.values())
