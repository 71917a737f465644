"""Health checks: classification, the concurrent probe, storage, retention, the overview.

The adapter is a fake that implements the real interface (tests/support/health_fakes.py); the
end-to-end test at the bottom uses the real adapters, outbound guard and a fake provider
server on loopback when those parts exist.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, func, select

from core.accounts import users
from core.errors import (
    ProviderRateLimited,
    ProviderServerError,
    ProviderUnauthorized,
    ProviderUnreachable,
)
from core.probes import health
from core.probes.health import probe_order
from core.probes.health_classify import (
    FLIP_AFTER,
    Outcome,
    classify,
    outcome_of_error,
    slow_threshold_ms,
)
from core.records import providers
from core.startup import Runtime, open_runtime
from core.store.tables import HealthCheck, HealthState, Provider, utcnow
from tests.conftest import make_settings
from tests.support import factories as f
from tests.support.health_fakes import FakeAdapter, answers, raises, seams

CANARY = "sk-CANARY-health-7f3e9a1b2c4d"


def url(name: str) -> str:
    return f"https://{name}.example.com/v1"


def add(runtime: Runtime, name: str, *, owner: str = "admin", **kw: object) -> uuid.UUID:
    with runtime.sessions.begin() as s:
        actor = users.require_user(s, owner)
        kw.setdefault("provider_config", {"base_url": url(name)})
        return f.provider(s, actor, name=name, **kw).id


def state(runtime: Runtime, key: uuid.UUID) -> HealthState:
    with runtime.sessions() as s:
        return s.get(HealthState, key)


def stored(runtime: Runtime) -> list[HealthCheck]:
    with runtime.sessions() as s:
        return list(s.scalars(select(HealthCheck).order_by(HealthCheck.checked_at)))


# --- Classification (pure) -------------------------------------------------------------


def outcome(kind: str, latency: float | None = 100.0, reason: str | None = "why") -> Outcome:
    return Outcome(kind, latency, reason, utcnow())


def test_success_is_healthy_and_slow_success_is_degraded() -> None:
    assert (
        classify(
            outcome("ok", 150), previous_status=None, previous_failures=0, deadline_s=10
        ).status
        == "healthy"
    )
    slow = classify(
        outcome("ok", 2500), previous_status="healthy", previous_failures=2, deadline_s=10
    )
    assert (slow.status, slow.consecutive_failures) == ("degraded", 0)
    assert "slow" in slow.reason
    assert slow_threshold_ms(10) == 2000 and slow_threshold_ms(2) == 1000


def test_rate_limited_is_degraded_not_a_failure() -> None:
    v = classify(
        outcome("rate_limited"), previous_status="healthy", previous_failures=1, deadline_s=10
    )
    assert (v.status, v.consecutive_failures, v.failed) == ("degraded", 0, False)


@pytest.mark.parametrize(
    "kind, down", [("unreachable", "unreachable"), ("unauthorized", "unauthorized")]
)
def test_a_healthy_provider_goes_down_only_after_n_failures(kind: str, down: str) -> None:
    status, failures, seen = "healthy", 0, []
    for _ in range(FLIP_AFTER + 1):
        v = classify(
            outcome(kind), previous_status=status, previous_failures=failures, deadline_s=10
        )
        status, failures = v.status, v.consecutive_failures
        seen.append(status)
    assert seen == ["degraded"] * (FLIP_AFTER - 1) + [down, down]
    assert failures == FLIP_AFTER + 1
    back = classify(
        outcome("ok"), previous_status=status, previous_failures=failures, deadline_s=10
    )
    assert (back.status, back.consecutive_failures) == ("healthy", 0)


def test_a_new_or_down_provider_shows_a_failure_at_once() -> None:
    for previous in (None, "unknown", "unreachable"):
        v = classify(
            outcome("unauthorized"), previous_status=previous, previous_failures=0, deadline_s=10
        )
        assert v.status == "unauthorized"


def test_skipped_is_unknown_and_keeps_the_streak() -> None:
    v = classify(
        outcome("skipped", None, "re-enter it"),
        previous_status="degraded",
        previous_failures=2,
        deadline_s=10,
    )
    assert (v.status, v.consecutive_failures, v.failed) == ("unknown", 2, False)


def test_errors_translate_into_short_redacted_outcomes() -> None:
    assert outcome_of_error(
        ProviderRateLimited("429", retry_after=7), latency_ms=1
    ).reason.endswith("(retry after 7 s)")
    assert (
        outcome_of_error(ProviderUnauthorized("the key was refused"), latency_ms=1).kind
        == "unauthorized"
    )
    assert outcome_of_error(ProviderServerError("HTTP 503"), latency_ms=1).kind == "unreachable"
    leaky = outcome_of_error(
        ProviderUnreachable(f"refused for {CANARY}"), latency_ms=1, secrets=[CANARY]
    )
    assert CANARY not in leaky.reason
    bug = outcome_of_error(RuntimeError(f"oops {CANARY}"), latency_ms=1)
    assert bug.reason == "probe failed (RuntimeError)"


def test_probes_start_slowest_first_by_the_last_check() -> None:
    # A timeout (10 s) first, never-checked ones as half a deadline, fast and refused last.
    assert probe_order([120.0, None, 10_000.0, 0.3, None], deadline_s=10) == [2, 1, 4, 0, 3]


# --- Probing and storing -------------------------------------------------------------------


def test_checks_are_stored_without_bumping_the_provider_version(
    runtime: Runtime, admin: str
) -> None:
    ok, bad = add(runtime, "ok"), add(runtime, "bad")
    off = add(runtime, "off", status="inactive")
    with runtime.sessions() as s:
        version = s.get(Provider, ok).version
    fake = FakeAdapter({url("bad"): raises(lambda t: ProviderUnauthorized("the key was refused"))})
    results = health.check_providers(runtime, **seams(fake))
    assert {r.provider_name: r.status for r in results} == {"ok": "healthy", "bad": "unauthorized"}
    assert url("off") not in fake.calls
    with runtime.sessions() as s:
        rows = {p.id: p for p in s.scalars(select(Provider))}
    assert rows[ok].health_status == "healthy" and rows[ok].last_health_check_at
    assert rows[bad].health_status == "unauthorized"
    assert rows[off].health_status == "unknown" and rows[off].last_health_check_at is None
    assert rows[ok].version == version
    with runtime.sessions.begin() as s:  # an edit form opened before the check still saves
        providers.update_provider(
            s,
            actor=users.require_user(s, "admin"),
            provider_id=ok,
            expected_version=version,
            name="ok renamed",
        )
    checks = stored(runtime)
    assert len(checks) == 2 and {c.source for c in checks} == {"database"}
    assert state(runtime, bad).last_failure_reason == "unauthorized: the key was refused"


def test_flip_threshold_across_sweeps(runtime: Runtime, admin: str) -> None:
    key = add(runtime, "flaky")
    fake = FakeAdapter()
    statuses = []
    plan = ["ok"] + ["fail"] * FLIP_AFTER + ["ok"]
    for step in plan:
        fake.behaviours[url("flaky")] = (
            answers() if step == "ok" else raises(lambda t: ProviderServerError("HTTP 502"))
        )
        statuses.append(health.check_providers(runtime, **seams(fake))[0].status)
    assert statuses == ["healthy", "degraded", "degraded", "unreachable", "healthy"]
    final = state(runtime, key)
    assert final.consecutive_failures == 0 and final.status == "healthy"
    assert final.last_failure_reason.startswith("HTTP 502")
    assert len(stored(runtime)) == len(plan)


def test_probes_run_concurrently_and_a_hang_is_cut_at_the_deadline(
    runtime: Runtime, admin: str
) -> None:
    for i in range(8):
        add(runtime, f"p{i}")
    fake = FakeAdapter({url(f"p{i}"): answers(300) for i in range(7)})
    fake.behaviours[url("p7")] = fake.hang
    done: list[tuple[int, int]] = []
    started = time.monotonic()
    results = health.check_providers(
        runtime,
        concurrency=8,
        deadline_s=0.5,
        progress=lambda d, n: done.append((d, n)),
        **seams(fake),
    )
    elapsed = time.monotonic() - started
    fake.release.set()
    assert elapsed < 0.5 + health.GRACE_S + 1.0  # not 8 × 0.3 s, and the hang did not wait
    assert fake.peak >= 4
    by_name = {r.provider_name: r for r in results}
    assert by_name["p7"].status == "unreachable" and "within 0.5 s" in by_name["p7"].reason
    assert by_name["p0"].status == "degraded"  # 300 ms is slow against a 0.5 s deadline
    assert done[-1] == (8, 8)


def test_concurrency_is_bounded(runtime: Runtime, admin: str) -> None:
    for i in range(6):
        add(runtime, f"p{i}")
    fake = FakeAdapter({url(f"p{i}"): answers(100) for i in range(6)})
    health.check_providers(runtime, concurrency=2, **seams(fake))
    assert fake.peak == 2 and len(fake.calls) == 6


def test_providers_that_cannot_be_probed_are_unknown(runtime: Runtime, admin: str) -> None:
    key = add(runtime, "compat", provider_type="openai_compatible")
    with runtime.sessions.begin() as s:
        s.get(Provider, key).api_key_enc = b"not an envelope"
    [result] = health.check_providers(runtime, **seams(FakeAdapter()))
    assert result.status == "unknown" and "re-enter" in result.reason


def test_a_user_checks_only_what_they_see(runtime: Runtime, admin: str) -> None:
    add(runtime, "admins-own")
    mine = add(runtime, "bobs-own", owner="bob")
    fake = FakeAdapter()
    with runtime.sessions() as s:
        bob = users.require_user(s, "bob")
    results = health.check_providers(runtime, user=bob, **seams(fake))
    assert [r.provider_key for r in results] == [mine]
    one = health.check_providers(runtime, provider_ids=[str(mine)], **seams(fake))
    assert [r.provider_key for r in one] == [mine]


def test_system_providers_are_checked_with_their_own_address_trusted(
    db_url: str, tmp_path: Path
) -> None:
    settings = make_settings(
        db_url, tmp_path / "data", MODELDESK_DISABLE_SYSTEM_PROVIDERS="", OPENAI_API_KEY=CANARY
    )
    rt = open_runtime(settings)
    try:
        fake = FakeAdapter(
            {
                "https://api.openai.com/v1": raises(
                    lambda t: ProviderUnauthorized(f"HTTP 401 for key {t.api_key}")
                )
            }
        )
        kw = seams(fake)
        results = health.check_providers(rt, **kw)
        by_type = {r.provider_type: r for r in results}
        assert set(by_type) == {"openai", "ollama"}
        assert {r.source for r in results} == {"system"}
        assert by_type["openai"].status == "unauthorized"
        assert CANARY not in by_type["openai"].reason
        assert set(kw["client_factory"].trusted) == {
            "https://api.openai.com/v1",
            "http://localhost:11434",
        }
        assert {c.provider_key for c in stored(rt)} == {r.provider_key for r in results}
        with rt.sessions() as s:
            rows = health.health_overview(s, user=f.user(s, "carol"), settings=settings)
        assert {r.name: r.status for r in rows}["OpenAI (environment)"] == "unauthorized"
    finally:
        rt.dispose()


def test_the_canary_key_is_in_no_stored_reason_or_log(
    runtime: Runtime, admin: str, caplog: pytest.LogCaptureFixture
) -> None:
    failures = {
        "unauth": lambda t: ProviderUnauthorized(f"key {t.api_key} rejected"),
        "limited": lambda t: ProviderRateLimited(f"slow down {t.api_key}", retry_after=3),
        "down": lambda t: ProviderUnreachable(f"GET {t.base_url}?key={t.api_key}"),
        "bug": lambda t: ValueError(f"adapter bug with {t.api_key}"),
    }
    for name in failures:
        add(runtime, name, api_key=CANARY)
    fake = FakeAdapter({url(n): raises(make) for n, make in failures.items()})
    caplog.set_level(logging.DEBUG)
    for _ in range(FLIP_AFTER):
        results = health.check_providers(runtime, **seams(fake))
    assert CANARY not in repr(results)
    with runtime.sessions() as s:
        rows = [*s.scalars(select(HealthCheck)), *s.scalars(select(HealthState))]
    assert len(rows) == 4 * FLIP_AFTER + 4
    assert all(CANARY not in repr(vars(r)) for r in rows)
    assert CANARY not in caplog.text


def test_retention_prunes_old_checks_at_the_end_of_a_sweep(runtime: Runtime, admin: str) -> None:
    key = add(runtime, "ok")
    old = utcnow() - timedelta(days=runtime.settings.health_retention_days + 1)
    with runtime.sessions.begin() as s:
        for days in (0, 1):
            s.add(
                HealthCheck(
                    provider_key=key,
                    provider_name="ok",
                    provider_type="openai",
                    source="database",
                    checked_at=old - timedelta(days=days),
                    status="healthy",
                    latency_ms=1.0,
                )
            )
    health.check_providers(runtime, provider_ids=[key], **seams(FakeAdapter()))
    assert len(stored(runtime)) == 3  # a partial check does not prune
    health.check_providers(runtime, **seams(FakeAdapter()))
    assert [c.checked_at > old for c in stored(runtime)] == [True, True]


# --- The overview --------------------------------------------------------------------------


def test_overview_numbers_and_visibility(runtime: Runtime, admin: str) -> None:
    a, b = add(runtime, "a"), add(runtime, "b", owner="bob")
    add(runtime, "never")
    now = utcnow()
    plan = {
        a: [
            (1, "healthy"),
            (2, "degraded"),
            (3, "unreachable"),
            (4, "unknown"),
            (30, "unreachable"),
            (50, "unreachable"),
            (200, "healthy"),
        ],
        b: [(5, "healthy")],
    }
    with runtime.sessions.begin() as s:
        for key, checks in plan.items():
            for hours, status in checks:
                s.add(
                    HealthCheck(
                        provider_key=key,
                        provider_name="x",
                        provider_type="openai",
                        source="database",
                        checked_at=now - timedelta(hours=hours),
                        status=status,
                        latency_ms=10.0 * hours,
                    )
                )
        s.add(
            HealthState(
                provider_key=a,
                status="degraded",
                consecutive_failures=1,
                last_checked_at=now - timedelta(hours=1),
                last_latency_ms=10.0,
                last_failure_at=now - timedelta(hours=3),
                last_failure_reason="unreachable: refused",
            )
        )
    with runtime.sessions() as s:
        rows = {
            r.name: r
            for r in health.health_overview(
                s, user=users.require_user(s, "admin"), settings=runtime.settings, now=now
            )
        }
        bobs = [
            r.name
            for r in health.health_overview(
                s, user=users.require_user(s, "bob"), settings=runtime.settings, now=now
            )
        ]
        history = health.provider_history(s, provider_key=a, since=now - timedelta(hours=24))
    assert set(rows) == {"a", "never"} and bobs == ["b"]
    assert rows["a"].uptime_24h == pytest.approx(2 / 3)  # unknown is not counted
    assert rows["a"].uptime_7d == pytest.approx(2 / 5)  # 200 h ago is outside 7 d
    assert rows["a"].checks_24h == 3 and rows["a"].status == "degraded"
    assert rows["a"].last_failure_reason == "unreachable: refused"
    assert rows["never"].status == "unknown" and rows["never"].checked_at is None
    assert rows["never"].uptime_24h is None
    assert [p.status for p in history] == ["unknown", "unreachable", "degraded", "healthy"]


def test_overview_takes_a_fixed_number_of_queries(runtime: Runtime, admin: str) -> None:
    def queries(n: int) -> int:
        for i in range(n):
            add(runtime, f"q{n}-{i}")
        health.check_providers(runtime, **seams(FakeAdapter()))
        count = 0

        def tally(*_: object) -> None:
            nonlocal count
            count += 1

        event.listen(runtime.engine, "before_cursor_execute", tally)
        try:
            with runtime.sessions() as s:
                rows = health.health_overview(
                    s, user=users.require_user(s, "admin"), settings=runtime.settings
                )
                assert all(r.checked_at for r in rows)
        finally:
            event.remove(runtime.engine, "before_cursor_execute", tally)
        return count

    assert queries(2) == queries(20)


def test_cli_check_prints_a_table_and_exits_0_when_providers_are_down(
    runtime: Runtime,
    admin: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from functools import partial

    from core import cli

    add(runtime, "up")
    add(runtime, "down")
    fake = FakeAdapter({url("down"): raises(lambda t: ProviderUnreachable("connect refused"))})
    monkeypatch.setattr(health, "check_providers", partial(health.check_providers, **seams(fake)))
    for name in ("MODELDESK_DISABLE_SYSTEM_PROVIDERS", "MODELDESK_SECRET_KEY"):
        monkeypatch.setenv(name, runtime.settings.environ[name])
    code = cli.main(["--database-url", runtime.settings.database_url, "check"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.splitlines()[0].split() == [
        "NAME",
        "TYPE",
        "SOURCE",
        "STATUS",
        "LATENCY_MS",
        "REASON",
    ]
    assert "unreachable: connect refused" in out and "1 healthy, 1 unreachable" in out
    with runtime.sessions() as s:
        assert s.scalar(select(func.count()).select_from(HealthCheck)) == 2
