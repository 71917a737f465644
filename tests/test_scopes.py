"""Configured models as registry entries: record overrides, measured speed, usable-only."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from sqlalchemy import event

from core.errors import ValidationError
from core.explorer import scopes, tiers
from core.explorer.registry import best_model_for
from core.explorer.scopes import configured_capabilities
from core.records import providers, speed
from core.store.tables import Provider
from tests.support import factories as f


@pytest.fixture
def team(runtime):
    """An admin, a member, an instance-wide provider with three models, a private one."""
    with runtime.sessions.begin() as s:
        admin = f.user(s, "admin", role="admin")
        member = f.user(s, "member")
        shared = f.provider(s, admin, name="Shared OpenAI", instance_wide=True)
        f.model(s, admin, shared, "gpt-4o", instance_wide=True)
        f.model(
            s,
            admin,
            shared,
            "gpt-4o-mini",
            instance_wide=True,
            quality_tier="high",
            features=["chat", "vision"],
            context_window=64_000,
            input_cost_per_million=Decimal("0"),
            output_cost_per_million=Decimal("0"),
        )
        f.model(s, admin, shared, "in-house-tuned", instance_wide=True, status="inactive")
        private = f.provider(
            s,
            admin,
            name="Admin's Anthropic",
            provider_type="anthropic",
            api_key="sk-ant-test-0000000000",
        )
        f.model(s, admin, private, "claude-sonnet-4-20250514")
        s.flush()
        ids = {"admin": admin.id, "member": member.id, "shared": shared.id}
    return ids


def _user(session, ids, who):
    from core.store.tables import User

    return session.get(User, ids[who])


def test_configured_scope_is_what_the_user_can_see(runtime, team):
    with runtime.sessions() as s:
        admin = configured_capabilities(s, user=_user(s, team, "admin"))
        member = configured_capabilities(s, user=_user(s, team, "member"))
    assert sorted(c.model for c in admin) == [
        "claude-sonnet-4-20250514",
        "gpt-4o",
        "gpt-4o-mini",
        "in-house-tuned",
    ]
    assert sorted(c.model for c in member) == ["gpt-4o", "gpt-4o-mini", "in-house-tuned"]
    assert all(c.record_id for c in admin)
    assert {c.provider_label for c in member} == {"Shared OpenAI"}


def test_seed_and_catalog_facts_fill_what_the_record_leaves_open(runtime, team):
    with runtime.sessions() as s:
        by_id = {c.model: c for c in configured_capabilities(s, user=_user(s, team, "admin"))}
    gpt = by_id["gpt-4o"]
    # The seed table's speed and context; cost by the one rule; quality from the Arena
    # rating when one ships, else the seed table's tier. Nothing set on the record.
    rating = tiers.rating_for("openai", "gpt-4o")
    assert (gpt.speed, gpt.cost, gpt.context_window) == ("medium", "medium", 128_000)
    if rating is None:
        assert (gpt.quality, gpt.sources["quality"]) == ("high", tiers.SEED)
    else:
        assert gpt.quality == tiers.quality_tier(rating.score) and gpt.rating == rating
        assert gpt.sources["quality"].startswith("Arena ")
    unknown = by_id["in-house-tuned"]
    assert (unknown.quality, unknown.cost, unknown.features) == (None, None, frozenset())
    assert not unknown.features_known  # unknown, not "none"


def test_record_values_are_overrides_and_say_so(runtime, team):
    with runtime.sessions() as s:
        mini = next(
            c
            for c in configured_capabilities(s, user=_user(s, team, "admin"))
            if c.model == "gpt-4o-mini"
        )
    assert (mini.quality, mini.cost, mini.context_window, mini.features) == (
        "high",
        "free",
        64_000,
        frozenset({"chat", "vision"}),
    )
    assert mini.sources["quality"] == tiers.ON_RECORD
    assert (
        mini.sources["prices"]
        == mini.sources["context_window"]
        == mini.sources["features"]
        == tiers.ON_RECORD
    )
    assert mini.blended_price == 0
    assert mini.prices.source == tiers.ON_RECORD and mini.prices.input.base == 0


def test_catalog_prices_are_carried_when_the_record_has_none(runtime, team):
    from core.catalog import model_facts

    with runtime.sessions() as s:
        gpt = next(
            c
            for c in configured_capabilities(s, user=_user(s, team, "member"))
            if c.model == "gpt-4o"
        )
    assert gpt.prices == model_facts.lookup("openai", "gpt-4o").prices
    assert gpt.sources["prices"].startswith("genai-prices")


def test_measured_speed_wins_over_seed_and_estimate(runtime, team):
    with runtime.sessions.begin() as s:
        admin = _user(s, team, "admin")
        record = next(c for c in configured_capabilities(s, user=admin) if c.model == "gpt-4o")
        for _ in range(3):
            speed.record_sample(
                s,
                model_record_id=uuid.UUID(record.record_id),
                ttft_ms=200.0,
                total_ms=1200.0,
                output_tokens=200,
            )
    with runtime.sessions() as s:
        gpt = next(
            c
            for c in configured_capabilities(s, user=_user(s, team, "admin"))
            if c.model == "gpt-4o"
        )
    assert gpt.speed == "fast"
    assert gpt.sources["speed"].startswith("measured")


def test_usable_only_drops_inactive_and_unhealthy(runtime, team):
    with runtime.sessions.begin() as s:
        s.get(Provider, team["shared"]).health_status = "unauthorized"
    with runtime.sessions() as s:
        member = _user(s, team, "member")
        assert configured_capabilities(s, user=member, usable_only=True) == ()
        assert len(configured_capabilities(s, user=member)) == 3
    with runtime.sessions.begin() as s:
        s.get(Provider, team["shared"]).health_status = "degraded"  # slow is still usable
    with runtime.sessions() as s:
        usable = configured_capabilities(s, user=_user(s, team, "member"), usable_only=True)
    assert sorted(c.model for c in usable) == ["gpt-4o", "gpt-4o-mini"]


def test_usable_only_drops_an_inactive_provider(runtime, team):
    with runtime.sessions.begin() as s:
        admin = _user(s, team, "admin")
        prov = s.get(Provider, team["shared"])
        providers.set_provider_status(s, actor=admin, provider_id=prov.id, active=False)
    with runtime.sessions() as s:
        usable = configured_capabilities(s, user=_user(s, team, "admin"), usable_only=True)
    assert [c.model for c in usable] == ["claude-sonnet-4-20250514"]


def test_best_model_over_what_a_user_can_use(runtime, team):
    with runtime.sessions() as s:
        usable = configured_capabilities(s, user=_user(s, team, "member"), usable_only=True)
    ranking = best_model_for("vision", "cost", models=usable)
    assert ranking.pick.model == "gpt-4o-mini"  # free by its record's prices
    assert "free" in ranking.candidates[0].reason
    assert best_model_for("embedding", "cost", models=usable) is None


def test_configured_scope_reads_in_a_fixed_number_of_queries(runtime, team):
    with runtime.sessions.begin() as s:
        admin = _user(s, team, "admin")
        prov = s.get(Provider, team["shared"])
        for i in range(30):
            f.model(s, admin, prov, f"extra-{i:02d}", instance_wide=True)
    statements: list[str] = []
    engine = runtime.engine
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    with runtime.sessions() as s:
        admin = _user(s, team, "admin")
        event.listen(engine, "before_cursor_execute", listener)
        try:
            found = configured_capabilities(s, user=admin)
        finally:
            event.remove(engine, "before_cursor_execute", listener)
    assert len(found) == 34
    assert len(statements) <= 3, statements


def test_scope_switch(runtime, team):
    assert len(scopes.capabilities(None, scope="catalog")) >= 2_000
    with runtime.sessions() as s:
        assert len(scopes.capabilities(s, scope="configured", user=_user(s, team, "member"))) == 3
    with pytest.raises(ValidationError) as caught:
        scopes.capabilities(None, scope="everything")
    assert caught.value.field == "scope"
    assert set(scopes.SCOPES) == {"configured", "catalog"}
