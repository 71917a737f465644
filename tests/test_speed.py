"""Measured speed (core.records.speed, core.probes.speed_check): samples, pruning, medians in one
query, tiers and their one-line description; Measure speed and the deep connection test against
a real provider on loopback, with a canary key that appears in no result."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from core.accounts import users
from core.errors import PermissionDeniedError, ValidationError
from core.probes import connection, speed_check
from core.records import model_records, speed
from core.records.speed import SpeedMeasurement
from core.startup import Runtime
from core.store.tables import ModelRecord, ModelSpeedSample, User
from tests.fakes import FakeProvider
from tests.support import factories as f
from tests.support.factories import counting
from tests.test_connection import CANARY, loopback_settings

T0 = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


def measured(ttft: float | None, rate: float | None, samples: int = 3) -> SpeedMeasurement:
    return SpeedMeasurement(
        samples=samples, median_ttft_ms=ttft, median_tokens_per_s=rate, last_at=T0
    )


@pytest.fixture
def world(runtime: Runtime) -> dict[str, Any]:
    """boss (admin) with two models on one provider; olga, a member."""
    with runtime.sessions.begin() as s:
        boss, olga = f.user(s, "boss", "admin"), f.user(s, "olga")
        prov = f.provider(s, boss, "Shared", instance_wide=True)
        a, b = f.model(s, boss, prov, "gpt-4o"), f.model(s, boss, prov, "gpt-4o-mini")
        return {"rt": runtime, "boss": boss.id, "olga": olga.id, "a": a.id, "b": b.id}


def add(
    runtime: Runtime, mid: uuid.UUID, *samples: tuple[Any, ...], start: datetime = T0, **kw: Any
) -> None:
    """Samples of (ttft_ms, total_ms, output_tokens), one minute apart from start."""
    with runtime.sessions.begin() as s:
        for i, (ttft, total, tokens) in enumerate(samples):
            speed.record_sample(
                s,
                model_record_id=mid,
                ttft_ms=ttft,
                total_ms=total,
                output_tokens=tokens,
                at=start + timedelta(minutes=i),
                **kw,
            )


def stored(runtime: Runtime, mid: uuid.UUID | None = None) -> list[ModelSpeedSample]:
    with runtime.sessions() as s:
        stmt = select(ModelSpeedSample).order_by(ModelSpeedSample.measured_at)
        if mid is not None:
            stmt = stmt.where(ModelSpeedSample.model_record_id == mid)
        return list(s.scalars(stmt))


# --- Pure decisions -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "m, tier",
    [
        (measured(800, 60), "fast"),
        (measured(120, 300), "fast"),
        (measured(801, 60), "medium"),
        (measured(800, 59.9), "medium"),
        (measured(2999, 20), "medium"),
        (measured(3000, 500), "slow"),
        (measured(100, 19.9), "slow"),
        (measured(200, None), None),  # one figure, not slow: no tier (fast needs both)
        (measured(None, 100), None),
        (measured(None, 10), "slow"),
        (measured(5000, None), "slow"),
        (measured(None, None), None),
        (measured(None, None, samples=0), None),
        (None, None),
    ],
    ids=lambda v: (
        repr(v)
        if not isinstance(v, SpeedMeasurement)
        else f"{v.median_ttft_ms}ms-{v.median_tokens_per_s}tps-{v.samples}"
    ),
)
def test_speed_tier_thresholds(m: SpeedMeasurement | None, tier: str | None) -> None:
    assert speed.speed_tier(m) == tier


def test_describe_is_one_line() -> None:
    assert (
        speed.describe(measured(420, 85.4))
        == "measured: 420 ms to first token, 85 tok/s (3 samples, last 2026-11-20)"
    )
    assert (
        speed.describe(measured(1234.6, None, samples=1))
        == "measured: 1,235 ms to first token (1 sample, last 2026-11-20)"
    )
    assert (
        speed.describe(measured(None, None, samples=2))
        == "measured: no usable timing (2 samples, last 2026-11-20)"
    )


@pytest.mark.parametrize(
    "ttft, total, tokens, rate",
    [
        (200, 1200, 100, 100.0),  # 100 tokens in the second after the first one
        (None, 2000, 100, 50.0),  # no first-token time: over the whole time
        (200, 1200, 19, None),  # a one-word answer says nothing about the rate
        (200, 1200, None, None),
        (1200, 1200, 100, None),
    ],
)
def test_tokens_per_second(
    ttft: float | None, total: float, tokens: int | None, rate: float | None
) -> None:
    assert speed.tokens_per_s(ttft, total, tokens) == rate


# --- Samples in the database --------------------------------------------------------------


def test_medians_of_each_model(world: dict[str, Any]) -> None:
    rt = world["rt"]
    add(rt, world["a"], (300, 1300, 100), (100, 600, 100), (200, 2200, 100), (900, 950, 3))
    add(rt, world["b"], (None, 500, 2))
    with rt.sessions() as s:
        found = speed.measurements(s)
        only_b = speed.measurements(s, [world["b"]])
        assert speed.measurements(s, []) == {}
    a = found[world["a"]]
    assert a.samples == 4
    assert a.median_ttft_ms == 250  # of 100, 200, 300, 900
    assert a.median_tokens_per_s == 100  # of 50, 100, 200 (the 3-token reply has no rate)
    assert a.last_at == T0 + timedelta(minutes=3)
    assert speed.speed_tier(a) == "fast"
    assert only_b == {world["b"]: found[world["b"]]}
    assert found[world["b"]] == SpeedMeasurement(1, None, None, T0)
    assert speed.speed_tier(found[world["b"]]) is None


def test_a_model_without_samples_has_no_measurement(world: dict[str, Any]) -> None:
    with world["rt"].sessions() as s:
        assert speed.measurements(s) == {}
        assert speed.measurements(s, [world["a"]]) == {}
        status = speed_check.speed_status(
            s, actor=s.get(User, world["boss"]), model_record_id=world["a"]
        )
    assert (status.summary, status.tier, status.refusal) == (None, None, None)


def test_only_the_newest_samples_are_kept(world: dict[str, Any]) -> None:
    rt, n = world["rt"], speed.SAMPLES_KEPT
    add(rt, world["b"], (100, 1000, 50))
    add(rt, world["a"], *[(float(i), 1000.0, 50) for i in range(n + 5)])
    kept = stored(rt, world["a"])
    assert len(kept) == n
    assert [k.ttft_ms for k in kept] == [float(i) for i in range(5, n + 5)]  # oldest gone
    assert len(stored(rt, world["b"])) == 1  # another model's samples are untouched
    add(rt, world["a"], (7.0, 1000.0, 50), start=T0 - timedelta(days=1))  # older than all
    assert [k.ttft_ms for k in stored(rt, world["a"])] == [float(i) for i in range(5, n + 5)]


def test_measurements_take_one_query_for_any_number_of_models(world: dict[str, Any]) -> None:
    rt = world["rt"]
    with rt.sessions.begin() as s:
        boss = s.get(User, world["boss"])
        prov = f.provider(s, boss, "Many")
        ids = [f.model(s, boss, prov, f"m-{i}").id for i in range(30)]
    for mid in ids:
        add(rt, mid, (100, 1100, 100), (300, 1300, 100))
    with rt.sessions() as s, counting(rt) as statements:
        everything = speed.measurements(s)
        some = speed.measurements(s, ids[:10])
    assert len(statements) == 2  # one each
    assert len(everything) == 30 and len(some) == 10
    assert everything[ids[0]].median_ttft_ms == 200


def test_samples_go_with_their_model(world: dict[str, Any]) -> None:
    rt = world["rt"]
    add(rt, world["a"], (100, 1000, 50), (100, 1000, 50))
    add(rt, world["b"], (100, 1000, 50))
    with rt.sessions.begin() as s:
        model_records.delete_model(s, actor=s.get(User, world["boss"]), model_record_id=world["a"])
    assert stored(rt, world["a"]) == [] and len(stored(rt)) == 1


@pytest.mark.parametrize(
    "kw, field",
    [
        (dict(total_ms=-1), "total_ms"),
        (dict(total_ms=math.nan), "total_ms"),
        (dict(total_ms=None), "total_ms"),
        (dict(ttft_ms=math.inf), "ttft_ms"),
        (dict(output_tokens=-3), "output_tokens"),
        (dict(output_tokens=2.5), "output_tokens"),
        (dict(source=""), "source"),
        (dict(source="x" * 33), "source"),
    ],
)
def test_bad_samples_are_refused(world: dict[str, Any], kw: dict[str, Any], field: str) -> None:
    args = {"ttft_ms": 100.0, "total_ms": 500.0, "output_tokens": 10, **kw}
    with pytest.raises(ValidationError) as caught:
        with world["rt"].sessions.begin() as s:
            speed.record_sample(s, model_record_id=world["a"], **args)
    assert caught.value.field == field
    assert stored(world["rt"]) == []


def test_naive_times_are_refused(world: dict[str, Any]) -> None:
    with pytest.raises(Exception, match="naive"):
        add(world["rt"], world["a"], (1, 2, 3), start=datetime(2026, 1, 1))


# --- Measure speed and the deep test against a loopback provider ---------------------------


@pytest.fixture
def live(runtime: Runtime) -> Any:
    """alice (admin) owns an instance-wide provider on the fake with gpt-4o and an embedding
    model; bob (member) owns his own provider on the same fake with one model, and one model
    of his own on alice's provider."""
    with FakeProvider("openai", key=CANARY, models=("gpt-4o", "gpt-4o-mini")) as fake:
        with runtime.sessions.begin() as s:
            alice, bob = f.user(s, "alice", "admin"), f.user(s, "bob")
            config = {"base_url": fake.base_url}
            shared = f.provider(
                s, alice, "Fake", api_key=CANARY, instance_wide=True, provider_config=config
            )
            own = f.provider(s, bob, "Bob's", api_key=CANARY, provider_config=config)
            ids = {
                "alice": alice.id,
                "bob": bob.id,
                "pid": shared.id,
                "gpt": f.model(s, alice, shared, "gpt-4o", name="GPT-4o", instance_wide=True).id,
                "embed": f.model(
                    s, alice, shared, "text-embedding-3-small", name="Embed", model_type="embedding"
                ).id,
                "bobs": f.model(s, bob, own, "gpt-4o-mini", name="Mine").id,
                "bob_on_shared": f.model(s, bob, shared, "gpt-4o-mini", name="Mine there").id,
            }
        yield {"rt": runtime, "fake": fake, **ids}


def measure(live: dict[str, Any], who: str, model: str) -> speed_check.SpeedCheck:
    with live["rt"].sessions.begin() as s:
        return speed_check.measure_speed(
            s,
            actor=s.get(User, live[who]),
            model_record_id=live[model],
            settings=loopback_settings(),
            at=T0,
        )


def test_measure_speed_on_azure_calls_the_records_own_deployment(runtime: Runtime) -> None:
    # An existing Azure provider keeps its provider-level deployment: only a default now.
    with FakeProvider("azure_openai", key=CANARY, models=("dep-gpt4o", "gpt-4o-mini")) as fake:
        with runtime.sessions.begin() as s:
            alice = f.user(s, "alice", "admin")
            prov = f.provider(
                s,
                alice,
                "Azure",
                provider_type="azure_openai",
                api_key=CANARY,
                provider_config={"base_url": fake.base_url, "deployment_id": "dep-gpt4o"},
            )
            f.model(s, alice, prov, "dep-gpt4o", name="GPT-4o")
            mini = f.model(s, alice, prov, "gpt-4o-mini", name="GPT-4o mini").id
        with runtime.sessions.begin() as s:
            result = speed_check.measure_speed(
                s,
                actor=s.get(User, alice.id),
                model_record_id=mini,
                settings=loopback_settings(),
                at=T0,
            )
    assert result.ok, result.message
    assert [r.route for r in fake.requests if r.method == "POST"] == [
        "/openai/deployments/gpt-4o-mini/chat/completions"
    ]
    assert [s.model_record_id for s in stored(runtime)] == [mini]


def test_measure_speed_runs_one_completion_and_keeps_a_sample(live: dict[str, Any]) -> None:
    result = measure(live, "alice", "gpt")
    assert result.ok, result.message
    assert result.message.startswith("'GPT-4o' answered in ")
    assert "3 output tokens" in result.message
    assert result.summary.startswith("measured: ") and result.summary.endswith(
        "(1 sample, last 2026-11-20)"
    )
    assert result.tier is None  # a quick first token; 3 tokens give no rate: no tier
    (sample,) = stored(live["rt"], live["gpt"])
    assert (sample.source, sample.output_tokens) == ("measure speed", 3)
    assert sample.total_ms > 0 and sample.ttft_ms is not None
    chats = [r for r in live["fake"].requests if r.route.endswith("/chat/completions")]
    assert len(chats) == 1 and chats[0].json()["model"] == "gpt-4o"
    assert speed_check.SPEED_PROMPT in str(chats[0].json()["messages"])
    assert CANARY not in repr(result)


@pytest.mark.parametrize(
    "mode, message",
    [
        ("401", "The key was refused (HTTP 401)."),
        ("500", "The provider failed on its side (HTTP 500)."),
        ("stream_error", "the test completion failed"),
    ],
)
def test_a_failed_measurement_says_why_and_stores_nothing(
    live: dict[str, Any], mode: str, message: str
) -> None:
    live["fake"].mode = mode
    result = measure(live, "alice", "gpt")
    assert not result.ok and message in result.message
    assert result.summary is None and stored(live["rt"]) == []
    assert CANARY not in repr(result)


def test_who_may_measure_what(live: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="'Embed' is an embedding model"):
        measure(live, "alice", "embed")
    with pytest.raises(PermissionDeniedError, match="only an admin or the provider's owner"):
        measure(live, "bob", "bob_on_shared")  # his model, but alice's key
    with pytest.raises(PermissionDeniedError, match="a model you can change"):
        measure(live, "bob", "gpt")
    assert measure(live, "bob", "bobs").ok  # his model on his own provider
    assert live["fake"].requests and all(
        r.json()["model"] == "gpt-4o-mini" for r in live["fake"].requests if r.method == "POST"
    )
    with live["rt"].sessions() as s:
        bob = s.get(User, live["bob"])
        refusals = {
            k: speed_check.speed_status(s, actor=bob, model_record_id=live[k]).refusal
            for k in ("bobs", "bob_on_shared", "gpt")
        }
    assert refusals["bobs"] is None
    assert "only an admin or the provider's owner" in refusals["bob_on_shared"]
    assert "a model you can change" in refusals["gpt"]


def deep_test(live: dict[str, Any], model: str, **kw: Any) -> connection.ConnectionReport:
    with live["rt"].sessions.begin() as s:
        alice = s.get(User, live["alice"])
        report = connection.test_connection(
            loopback_settings(),
            provider_type="openai",
            api_key=kw.pop("api_key", None),
            config=kw.pop("config", {"base_url": live["fake"].base_url}),
            stored_provider_id=live["pid"],
            actor=alice,
            session=s,
            deep=True,
            model=model,
        )
        speed_check.record_deep_test(s, actor=alice, provider_id=live["pid"], report=report)
        return report


def test_a_deep_test_of_a_configured_model_keeps_a_sample(live: dict[str, Any]) -> None:
    report = deep_test(live, "gpt-4o")
    assert report.ok and report.total_ms is not None and report.output_tokens == 3
    (sample,) = stored(live["rt"])
    assert (sample.model_record_id, sample.source) == (live["gpt"], "deep check")
    deep_test(live, "gpt-4o-mini")  # configured on this provider as bob's "Mine there"
    assert [k.model_record_id for k in stored(live["rt"])] == [live["gpt"], live["bob_on_shared"]]
    live["fake"].models = ("gpt-4o", "gpt-4o-mini", "other")
    assert deep_test(live, "other").ok  # served, not configured: nothing to keep it for
    assert len(stored(live["rt"])) == 2


def test_a_deep_test_elsewhere_or_failed_keeps_nothing(live: dict[str, Any]) -> None:
    with FakeProvider("openai", key=CANARY, models=("gpt-4o",)) as other:
        # Another endpoint than the saved one takes a typed key (never the stored one).
        report = deep_test(live, "gpt-4o", config={"base_url": other.base_url}, api_key=CANARY)
    assert report.ok  # the edit form tested another endpoint than the saved one
    live["fake"].mode = "500"
    assert not deep_test(live, "gpt-4o").ok
    with live["rt"].sessions() as s:
        assert s.scalar(select(func.count()).select_from(ModelSpeedSample)) == 0
        assert s.get(ModelRecord, live["gpt"]).version == 1  # the record itself is untouched


def test_a_long_id_list_is_filtered_without_a_huge_in(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = world["rt"]
    add(rt, world["a"], (100, 1100, 100))
    add(rt, world["b"], (300, 1300, 100))
    monkeypatch.setattr(speed, "MAX_IDS_IN_QUERY", 2)
    with rt.sessions() as s, counting(rt) as statements:
        found = speed.measurements(s, [world["a"], uuid.uuid4(), uuid.uuid4()])
    assert list(found) == [world["a"]] and len(statements) == 1
    assert " IN " not in statements[0].upper()


def test_changing_a_records_model_or_provider_forgets_its_timings(runtime) -> None:
    with runtime.sessions.begin() as s:
        admin = f.user(s, "timer", role="admin")
        prov = f.provider(s, admin)
        other = f.provider(s, admin, name="Other")
        rec = f.model(s, admin, prov, "gpt-4o-mini")
        for _ in range(3):
            speed.record_sample(
                s, model_record_id=rec.id, ttft_ms=200.0, total_ms=1200.0, output_tokens=200
            )
        rec_id, other_id = rec.id, other.id

    def count() -> int:
        with runtime.sessions() as s:
            return s.scalar(select(func.count()).select_from(ModelSpeedSample))

    with runtime.sessions.begin() as s:  # a rename keeps them
        model_records.update_model(
            s,
            actor=users.require_user(s, "timer"),
            model_record_id=rec_id,
            expected_version=None,
            name="Mini",
        )
    assert count() == 3
    with runtime.sessions.begin() as s:
        model_records.update_model(
            s,
            actor=users.require_user(s, "timer"),
            model_record_id=rec_id,
            expected_version=None,
            model_id="o1-preview",
        )
    assert count() == 0
    with runtime.sessions.begin() as s:
        speed.record_sample(
            s, model_record_id=rec_id, ttft_ms=200.0, total_ms=1200.0, output_tokens=200
        )
        model_records.update_model(
            s,
            actor=users.require_user(s, "timer"),
            model_record_id=rec_id,
            expected_version=None,
            provider_id=other_id,
        )
    assert count() == 0
