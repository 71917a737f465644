"""Provider health: probe many providers at once, classify, and store the results.

    check_providers ─┬─ plan    one session: the active stored providers and the system ones
                     ├─ probe   a bounded thread pool, every probe under a hard deadline
                     └─ store   one transaction: history rows, health_state, and
                                providers.health_status (a Core UPDATE: no version bump)

Each probe is classified by ``core.probes.health_classify`` (pure: healthy, degraded,
unauthorized, unreachable or unknown, with a failure streak so one blip does not flap).

Only ``Adapter.probe()`` is called: the cheapest authenticated request, never a paid
completion. Reads for pages live in ``core.probes.health_report`` and are re-exported here.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, cast

import httpx
from sqlalchemy import CursorResult, bindparam, delete, select, update
from sqlalchemy.orm import Session

from core import catalog
from core.accounts import access
from core.accounts.viewer import Actor
from core.adapters import ADAPTERS
from core.adapters.base import Target
from core.errors import (
    DecryptionError,
    ValidationError,
    redact,
)
from core.outbound import OutboundPolicy, guarded_client
from core.probes.health_classify import Outcome, classify, outcome_of_error
from core.probes.health_report import (  # noqa: F401
    HealthPoint,
    HealthRow,
    current_states,
    health_overview,
    provider_history,
)
from core.records.credentials import provider_credentials, target_from_credentials
from core.records.system_providers import system_providers, target_from_system
from core.store.tables import HealthCheck, HealthState, Provider, User, utcnow
from core.vocabulary import UP

log = logging.getLogger(__name__)

GRACE_S = 1.0  # beyond the deadline before the sweep stops waiting for a probe

Progress = Callable[[int, int], None]
ClientFactory = Callable[..., httpx.Client]


@dataclass(frozen=True)
class CheckResult:
    """One stored check, as check_providers returns it (no secrets)."""

    provider_key: uuid.UUID
    provider_name: str
    provider_type: str
    source: str  # 'database' or 'system'
    status: str
    latency_ms: float | None
    reason: str | None
    checked_at: datetime
    consecutive_failures: int


@dataclass(frozen=True)
class _Job:
    key: uuid.UUID
    name: str
    provider_type: str
    source: str
    target: Target | None = None
    adapter: Any = None
    trust: str | None = None  # a system provider's own base URL, trusted by the guard
    skip: str | None = None  # why it cannot be probed


# --- Planning ---------------------------------------------------------------------------------


def _as_uuid(value: uuid.UUID | str) -> uuid.UUID | None:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        return None


def _adapter_for(adapters: Mapping[str, Any], provider_type: str) -> tuple[Any, str | None]:
    try:
        protocol = catalog.get_provider_type(provider_type).protocol
    except ValidationError:
        return None, f"provider type {provider_type!r} is no longer in the catalog"
    adapter = adapters.get(protocol)
    return adapter, None if adapter is not None else f"no adapter for protocol {protocol}"


def _stored_jobs(
    session: Session,
    adapters: Mapping[str, Any],
    *,
    wanted: set[uuid.UUID] | None,
    user: Actor | None,
) -> list[_Job]:
    stmt = (
        select(Provider)
        .where(Provider.status == "active")
        .order_by(Provider.priority, Provider.name_key, Provider.id)
    )
    if user is not None:
        stmt = stmt.where(access.visible_clause(Provider, user))
    if wanted is not None:
        stmt = stmt.where(Provider.id.in_(wanted))
    jobs = []
    for p in session.scalars(stmt):
        job = _Job(p.id, p.name, p.provider_type, "database")
        adapter, skip = _adapter_for(adapters, p.provider_type)
        try:
            creds = provider_credentials(session, p.id)  # from the identity map: no query
        except (DecryptionError, ValueError):
            skip = "the stored key or config cannot be decrypted: re-enter it"
        except ValidationError as exc:
            skip = redact(exc)
        else:
            if creds.base_url is None:
                skip = skip or "no endpoint is configured"
            else:
                job = replace(job, target=target_from_credentials(creds))
        jobs.append(replace(job, adapter=adapter, skip=skip))
    return jobs


def _system_jobs(
    settings: Any, adapters: Mapping[str, Any], *, wanted: set[uuid.UUID] | None
) -> list[_Job]:
    jobs = []
    for system in system_providers(settings):
        if wanted is not None and system.id not in wanted:
            continue
        adapter, skip = _adapter_for(adapters, system.provider_type)
        if system.base_url is None:
            skip = skip or "no endpoint is configured"
        jobs.append(
            _Job(
                system.id,
                system.label,
                system.provider_type,
                "system",
                target=target_from_system(system) if system.base_url else None,
                adapter=adapter,
                trust=system.base_url,
                skip=skip,
            )
        )
    return jobs


# --- Probing ----------------------------------------------------------------------------------


def _default_client_factory(settings: Any) -> ClientFactory:
    policy = OutboundPolicy.from_settings(settings)

    def make(*, trust: str | None, deadline_s: float) -> httpx.Client:
        # System providers come from the admin's environment: their own address is
        # trusted (e.g. the default Ollama on localhost); stored records get no exception.
        return guarded_client(policy.trusting(trust) if trust else policy, deadline_s=deadline_s)

    return make


def _probe(job: _Job, client: httpx.Client, deadline_s: float) -> Outcome:
    target = job.target
    assert target is not None  # only a job with a target is run (the others are skipped)
    start = time.monotonic()
    try:
        result = job.adapter.probe(client, target)
    except Exception as exc:  # noqa: BLE001 - every failure becomes an outcome; nothing escapes a worker
        return outcome_of_error(
            exc, latency_ms=(time.monotonic() - start) * 1000, secrets=target.secrets()
        )
    elapsed = time.monotonic() - start
    if elapsed > deadline_s + GRACE_S:  # e.g. a probe of several requests, each in time
        return Outcome(
            "unreachable",
            elapsed * 1000,
            f"unreachable: no answer within {deadline_s:g} s",
            utcnow(),
        )
    latency = result.latency_ms if result.latency_ms and result.latency_ms > 0 else elapsed * 1000
    return Outcome("ok", latency, redact(result.detail, target.secrets()) or None, utcnow())


def probe_order(expected_ms: Sequence[float | None], *, deadline_s: float) -> list[int]:
    """Indices, slowest expected first: a provider that timed out last time starts early,
    so its wait overlaps the others' instead of stretching the end of the sweep."""
    unknown = deadline_s * 500.0  # never checked: assume half a deadline
    return sorted(
        range(len(expected_ms)),
        reverse=True,
        key=lambda i: unknown if (ms := expected_ms[i]) is None else ms,
    )


def _run(
    jobs: Sequence[_Job],
    clients: Mapping[str | None, httpx.Client],
    *,
    concurrency: int,
    deadline_s: float,
    progress: Progress | None,
    expected_ms: Sequence[float | None],
) -> list[Outcome]:
    """Probe every runnable job; a probe past its deadline (plus grace) is given up on."""
    outcomes: list[Outcome | None] = [
        Outcome("skipped", None, job.skip, utcnow()) if job.skip else None for job in jobs
    ]
    runnable = [i for i in probe_order(expected_ms, deadline_s=deadline_s) if not jobs[i].skip]
    done = len(jobs) - len(runnable)
    if progress:
        progress(done, len(jobs))
    if not runnable:
        return outcomes  # type: ignore[return-value]
    workers = min(concurrency, len(runnable))
    started: dict[int, float] = {}
    limit = deadline_s + GRACE_S
    # However the probes behave, the sweep ends: every wave of probes gets one deadline.
    budget_end = time.monotonic() + limit * (math.ceil(len(runnable) / workers) + 1)

    def work(i: int) -> Outcome:
        started[i] = time.monotonic()
        job = jobs[i]
        return _probe(job, clients[job.trust], deadline_s)

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="health-probe")
    futures: dict[Future[Outcome], int] = {pool.submit(work, i): i for i in runnable}
    pending = set(futures)
    try:
        while pending:
            finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            for future in finished:
                outcomes[futures[future]] = future.result()
            now = time.monotonic()
            for future in list(pending):
                i = futures[future]
                overdue = i in started and now - started[i] > limit
                if overdue or now > budget_end:
                    pending.discard(future)
                    outcomes[i] = Outcome(
                        "unreachable",
                        (now - started.get(i, now)) * 1000,
                        f"unreachable: no answer within {deadline_s:g} s",
                        utcnow(),
                    )
                    finished.add(future)
            done += len(finished)
            if finished and progress:
                progress(done, len(jobs))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # a stuck probe must not hold the sweep
    return outcomes  # type: ignore[return-value]


# --- Storing ----------------------------------------------------------------------------------


def _upsert_states(session: Session, rows: list[dict[str, Any]]) -> None:
    table = HealthState.__table__
    # INSERT ... ON CONFLICT is dialect-specific: import the running database's own.
    insert: Callable[..., Any]  # either dialect's; both have on_conflict_do_update
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.provider_key],
        set_={c.name: stmt.excluded[c.name] for c in table.c if c.name != "provider_key"},
    )
    session.execute(stmt, rows)


def _store(
    session: Session, jobs: Sequence[_Job], outcomes: Sequence[Outcome], *, deadline_s: float
) -> list[CheckResult]:
    """Classify against the current state (read now, not before probing) and write."""
    keys = [job.key for job in jobs]
    # Rows are locked and written in key order, so a check-now and a sweep that overlap
    # wait for each other instead of deadlocking.
    previous = {
        s.provider_key: s
        for s in session.scalars(
            select(HealthState)
            .where(HealthState.provider_key.in_(keys))
            .order_by(HealthState.provider_key)
            .with_for_update()
        )
    }
    states: list[dict[str, Any]]
    providers: list[dict[str, Any]]
    results, states, checks, providers = [], [], [], []
    for job, outcome in zip(jobs, outcomes, strict=True):
        prev = previous.get(job.key)
        verdict = classify(
            outcome,
            previous_status=prev.status if prev else None,
            previous_failures=prev.consecutive_failures if prev else 0,
            deadline_s=deadline_s,
        )
        latency = round(outcome.latency_ms, 1) if outcome.latency_ms is not None else None
        result = CheckResult(
            job.key,
            job.name,
            job.provider_type,
            job.source,
            verdict.status,
            latency,
            verdict.reason,
            outcome.at,
            verdict.consecutive_failures,
        )
        results.append(result)
        checks.append(
            {
                "id": uuid.uuid4(),
                "provider_key": job.key,
                "provider_name": job.name[:100],
                "provider_type": job.provider_type,
                "source": job.source,
                "checked_at": outcome.at,
                "status": verdict.status,
                # A failed probe's time (a timeout, a refusal) is no response time:
                # history charts only what the provider answered.
                "latency_ms": None if verdict.failed else latency,
                "reason": verdict.reason,
            }
        )
        states.append(
            {
                "provider_key": job.key,
                "status": verdict.status,
                "consecutive_failures": verdict.consecutive_failures,
                "last_checked_at": outcome.at,
                "last_latency_ms": latency,
                "last_reason": verdict.reason,
                "last_failure_at": outcome.at
                if verdict.failed
                else (prev.last_failure_at if prev else None),
                "last_failure_reason": verdict.reason
                if verdict.failed
                else (prev.last_failure_reason if prev else None),
            }
        )
        if job.source == "database":
            providers.append({"b_id": job.key, "b_status": verdict.status, "b_at": outcome.at})
    session.execute(HealthCheck.__table__.insert(), checks)
    _upsert_states(session, sorted(states, key=lambda row: row["provider_key"]))
    providers.sort(key=lambda row: row["b_id"])
    if providers:
        # A Core UPDATE on the table: the ORM's version counter is not touched, so an
        # edit form opened before the check still saves without a conflict.
        table = Provider.__table__
        session.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(health_status=bindparam("b_status"), last_health_check_at=bindparam("b_at")),
            providers,
        )
    return results


def prune_history(session: Session, *, retention_days: int, now: datetime | None = None) -> int:
    """Delete checks (and states of providers gone quiet) older than the retention."""
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    gone = cast(
        CursorResult[Any],
        session.execute(
            delete(HealthCheck.__table__).where(HealthCheck.__table__.c.checked_at < cutoff)
        ),
    ).rowcount  # DML: a CursorResult
    session.execute(
        delete(HealthState.__table__).where(HealthState.__table__.c.last_checked_at < cutoff)
    )
    return gone or 0


# --- The entry point --------------------------------------------------------------------------


def check_providers(
    runtime: Any,
    *,
    provider_ids: Iterable[uuid.UUID | str] | None = None,
    user: Actor | None = None,
    concurrency: int = 16,
    deadline_s: float | None = None,
    client_factory: ClientFactory | None = None,
    adapters: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
) -> list[CheckResult]:
    """Probe providers concurrently and store the results (commits its own transactions).

    Without provider_ids: every active stored provider and every system provider (a
    sweep, which also prunes old history); with ``user``: only those the user can see.
    ``client_factory(trust=..., deadline_s=...)`` and ``adapters`` (by protocol) are seams
    for tests; ``progress(done, total)`` is called on the calling thread.
    """
    settings = runtime.settings
    deadline = float(deadline_s or settings.health_deadline)
    if concurrency < 1:
        raise ValidationError("Concurrency must be at least 1.", field="concurrency")
    if adapters is None:
        adapters = ADAPTERS
    wanted = (
        None
        if provider_ids is None
        else {k for k in (_as_uuid(v) for v in provider_ids) if k is not None}
    )
    started = time.monotonic()
    with runtime.sessions() as session:
        viewer = session.get(User, user.id) if user is not None else None
        jobs = _stored_jobs(session, adapters, wanted=wanted, user=viewer)
        jobs += _system_jobs(settings, adapters, wanted=wanted)
        last = current_states(session, provider_keys=[job.key for job in jobs])
    expected = [last[job.key].last_latency_ms if job.key in last else None for job in jobs]

    make = client_factory or _default_client_factory(settings)
    clients: dict[str | None, httpx.Client] = {}  # shared by the workers (httpx is thread-safe)
    try:
        for job in jobs:
            if not job.skip and job.trust not in clients:
                clients[job.trust] = make(trust=job.trust, deadline_s=deadline)
        outcomes = _run(
            jobs,
            clients,
            concurrency=concurrency,
            deadline_s=deadline,
            progress=progress,
            expected_ms=expected,
        )
    finally:
        for client in clients.values():
            client.close()
    with runtime.sessions.begin() as session:
        results = _store(session, jobs, outcomes, deadline_s=deadline) if jobs else []
        if provider_ids is None and user is None:
            prune_history(session, retention_days=settings.health_retention_days)
    up = sum(r.status in UP for r in results)
    log.info(
        "health check: %d provider(s), %d up, %d down or unknown, %.1f s",
        len(results),
        up,
        len(results) - up,
        time.monotonic() - started,
    )
    return results
