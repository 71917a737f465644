"""Model records: bad input, (provider, model_id) uniqueness, Decimal prices, optimistic
locking, toggle, delete and the audit trail."""

from __future__ import annotations

import json
import math
import uuid
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from core.accounts import access
from core.errors import ConflictError, IntegrityError, ValidationError
from core.records import model_records
from core.startup import Runtime
from core.store import vault
from core.store.tables import Grant, ModelRecord, Provider, User
from tests.support import factories as f
from tests.support.factories import events, table_counts


@pytest.fixture
def world(runtime: Runtime) -> dict[str, uuid.UUID]:
    """An admin, a member, the admin's instance-wide provider with one model, and a
    private provider of the admin's that the member cannot see."""
    with runtime.sessions.begin() as s:
        admin, member = f.user(s, "boss", "admin"), f.user(s, "olga")
        shared = f.provider(s, admin, "Shared", instance_wide=True)
        hidden = f.provider(s, admin, "Hidden")
        model = f.model(
            s, admin, shared, "gpt-4o", instance_wide=True, input_cost_per_million="2.5"
        )
        return {
            "admin": admin.id,
            "member": member.id,
            "shared": shared.id,
            "hidden": hidden.id,
            "model": model.id,
        }


# --- Bad input ------------------------------------------------------------------------------

# (keyword arguments to create_model, expected field, message fragment)
BAD_MODEL_INPUTS = {
    "name-control-char": (dict(name="GPT\x1b[31m"), "name", "U+001B"),
    "name-bidi-override": (dict(name="gpt\u202e4o"), "name", "U+202E"),
    "name-101-chars": (dict(name="m" * 101), "name", "at most 100"),
    "name-empty": (dict(name=""), "name", "cannot be empty"),
    "model-id-empty": (dict(model_id="  "), "model_id", "cannot be empty"),
    "model-id-space": (dict(model_id="gpt 4o"), "model_id", "spaces"),
    "model-type": (dict(model_type="chat"), "model_type", "inference, embedding, rerank"),
    "status": (dict(status="enabled"), "status", "active, inactive"),
    "input-negative": (
        dict(input_cost_per_million="-0.5"),
        "input_cost_per_million",
        "cannot be negative",
    ),
    "output-negative": (
        dict(output_cost_per_million=Decimal("-1")),
        "output_cost_per_million",
        "cannot be negative",
    ),
    "cache-read-negative": (
        dict(cache_read_cost_per_million=-2),
        "cache_read_cost_per_million",
        "cannot be negative",
    ),
    "cache-write-negative": (
        dict(cache_write_cost_per_million="-3"),
        "cache_write_cost_per_million",
        "cannot be negative",
    ),
    "input-nan": (dict(input_cost_per_million=math.nan), "input_cost_per_million", "finite"),
    "output-nan-text": (dict(output_cost_per_million="NaN"), "output_cost_per_million", "finite"),
    "input-inf": (dict(input_cost_per_million=math.inf), "input_cost_per_million", "finite"),
    "cache-read-inf-text": (
        dict(cache_read_cost_per_million="Infinity"),
        "cache_read_cost_per_million",
        "finite",
    ),
    "cache-write-minus-inf": (
        dict(cache_write_cost_per_million=-math.inf),
        "cache_write_cost_per_million",
        "finite",
    ),
    "price-not-a-number": (
        dict(input_cost_per_million="cheap"),
        "input_cost_per_million",
        "must be a number",
    ),
    "context-window-zero": (dict(context_window=0), "context_window", "between 1 and"),
    "context-window-text": (dict(context_window="lots"), "context_window", "whole number"),
    "config-duplicate-key": (
        dict(model_config='{"temperature": 1,\n "temperature": 2}'),
        "model_config",
        '"temperature" twice (second at line 2, column 2)',
    ),
    "config-nan": (dict(model_config='{"temperature": NaN}'), "model_config", "uses NaN"),
    "config-infinity": (dict(model_config='{"max": Infinity}'), "model_config", "uses Infinity"),
    "config-not-an-object": (dict(model_config="42"), "model_config", "not int"),
    "config-over-64kb": (
        dict(model_config={"prompt": "p" * 65536}),
        "model_config",
        "larger than 64 KB",
    ),
    "provider-not-visible": (dict(provider_id="hidden"), "provider", "a provider you can see"),
    "provider-not-a-uuid": (dict(provider_id="nope"), "provider", "Choose the provider"),
}


@pytest.mark.parametrize("case", list(BAD_MODEL_INPUTS), ids=list(BAD_MODEL_INPUTS))
def test_bad_model_input_is_refused_and_changes_nothing(
    runtime: Runtime, world: dict[str, Any], case: str
) -> None:
    kwargs, field, fragment = BAD_MODEL_INPUTS[case]
    arguments = {"provider_id": world["shared"], "name": "New", "model_id": "gpt-5", **kwargs}
    if arguments["provider_id"] == "hidden":
        arguments["provider_id"] = world["hidden"]
    before = table_counts(runtime)

    with pytest.raises(ValidationError) as caught:
        with runtime.sessions.begin() as s:
            model_records.create_model(s, actor=s.get(User, world["member"]), **arguments)

    assert fragment in str(caught.value)
    assert caught.value.field == field
    assert table_counts(runtime) == before


@pytest.mark.parametrize(
    "changes, field",
    [
        (dict(name="x\u2067y"), "name"),
        (dict(input_cost_per_million="-1", name="Renamed"), "input_cost_per_million"),
        (dict(model_config="[1]"), "model_config"),
        (dict(surprise=1), None),
    ],
    ids=["name", "price", "config", "unknown-field"],
)
def test_bad_model_update_leaves_the_record_untouched(
    runtime: Runtime, world: dict[str, Any], changes: dict[str, Any], field: str | None
) -> None:
    before = table_counts(runtime)
    with pytest.raises(ValidationError) as caught:
        with runtime.sessions.begin() as s:
            model_records.update_model(
                s,
                actor=s.get(User, world["admin"]),
                model_record_id=world["model"],
                expected_version=1,
                **changes,
            )
    assert caught.value.field == field
    assert table_counts(runtime) == before
    with runtime.sessions() as s:
        stored = s.get(ModelRecord, world["model"])
        assert (stored.name, stored.version, stored.input_cost_per_million) == (
            "gpt-4o",
            1,
            Decimal("2.5"),
        )


# --- Uniqueness and prices ----------------------------------------------------------------


def test_model_id_is_unique_per_provider(runtime: Runtime, world: dict[str, Any]) -> None:
    before = table_counts(runtime)
    with pytest.raises(IntegrityError, match="already has a model with ID 'gpt-4o'"):
        with runtime.sessions.begin() as s:
            model_records.create_model(
                s,
                actor=s.get(User, world["admin"]),
                provider_id=world["shared"],
                name="Again",
                model_id="gpt-4o",
            )
    assert table_counts(runtime) == before
    with runtime.sessions.begin() as s:  # the same model id on another provider is fine
        model_records.create_model(
            s,
            actor=s.get(User, world["admin"]),
            provider_id=world["hidden"],
            name="Again",
            model_id="gpt-4o",
        )


def test_prices_are_exact_decimals(runtime: Runtime, world: dict[str, Any]) -> None:
    prices = {
        "input_cost_per_million": "0.00000001",
        "output_cost_per_million": "123456.12345678",
        "cache_read_cost_per_million": Decimal("0.3"),
        "cache_write_cost_per_million": 0,
    }
    with runtime.sessions.begin() as s:
        mid = model_records.create_model(
            s,
            actor=s.get(User, world["admin"]),
            provider_id=world["shared"],
            name="Priced",
            model_id="priced",
            context_window=128_000,
            **prices,
        ).id
    with runtime.sessions() as s:
        (view,) = [
            v for v in model_records.list_models(s, user=s.get(User, world["admin"])) if v.id == mid
        ]
    assert view.input_cost_per_million == Decimal("0.00000001")
    assert view.output_cost_per_million == Decimal("123456.12345678")
    assert view.cache_read_cost_per_million == Decimal("0.3")
    assert view.cache_write_cost_per_million == Decimal(0)
    assert all(isinstance(getattr(view, k), Decimal) for k in prices)
    assert view.context_window == 128_000


def test_cache_prices_are_optional(runtime: Runtime, world: dict[str, Any]) -> None:
    with runtime.sessions() as s:
        stored = s.get(ModelRecord, world["model"])
        assert stored.cache_read_cost_per_million is None
        assert stored.cache_write_cost_per_million is None


# --- Optimistic locking -------------------------------------------------------------------


def test_stale_model_edit_raises_conflict_naming_who(
    runtime: Runtime, world: dict[str, Any]
) -> None:
    with runtime.sessions.begin() as s:
        other = f.user(s, "ines", "admin")
        model_records.update_model(
            s,
            actor=other,
            model_record_id=world["model"],
            expected_version=1,
            output_cost_per_million="10",
        )
    with pytest.raises(ConflictError) as caught:
        with runtime.sessions.begin() as s:
            model_records.update_model(
                s,
                actor=s.get(User, world["admin"]),
                model_record_id=world["model"],
                expected_version=1,
                name="Mine",
            )
    assert caught.value.changed_by == "ines" and "changed by ines" in str(caught.value)
    with runtime.sessions() as s:
        stored = s.get(ModelRecord, world["model"])
        assert (stored.name, stored.output_cost_per_million, stored.version) == (
            "gpt-4o",
            Decimal(10),
            2,
        )


def test_concurrent_model_edit_raises_conflict(runtime: Runtime, world: dict[str, Any]) -> None:
    first, second = runtime.sessions(), runtime.sessions()
    try:
        loaded = first.get(ModelRecord, world["model"]), second.get(ModelRecord, world["model"])
        assert [m.version for m in loaded] == [1, 1]
        model_records.update_model(
            first,
            actor=first.get(User, world["admin"]),
            model_record_id=world["model"],
            expected_version=1,
            input_cost_per_million="3",
        )
        first.commit()
        with pytest.raises(ConflictError, match="changed or deleted by someone else"):
            model_records.update_model(
                second,
                actor=second.get(User, world["admin"]),
                model_record_id=world["model"],
                expected_version=1,
                input_cost_per_million="4",
            )
        second.rollback()
    finally:
        first.close()
        second.close()
    with runtime.sessions() as s:
        assert s.get(ModelRecord, world["model"]).input_cost_per_million == Decimal(3)


# --- Toggle, delete, audit ----------------------------------------------------------------


def test_toggle_model_status(runtime: Runtime, world: dict[str, Any]) -> None:
    for expected in ("inactive", "active"):
        with runtime.sessions.begin() as s:
            assert (
                model_records.set_model_status(
                    s, actor=s.get(User, world["admin"]), model_record_id=world["model"]
                ).status
                == expected
            )
    assert [e.after for e in events(runtime, "model.update")] == [
        {"status": "inactive"},
        {"status": "active"},
    ]


def test_delete_model_removes_its_grants_and_is_audited(
    runtime: Runtime, world: dict[str, Any]
) -> None:
    with runtime.sessions.begin() as s:
        admin = s.get(User, world["admin"])
        model = f.model(s, admin, s.get(Provider, world["hidden"]), "private-one")
        access.grant(s, actor=admin, record=model, user=s.get(User, world["member"]))
        mid = model.id
    with runtime.sessions.begin() as s:
        model_records.delete_model(s, actor=s.get(User, world["admin"]), model_record_id=mid)
    with runtime.sessions() as s:
        assert s.get(ModelRecord, mid) is None
        assert s.scalar(select(func.count()).select_from(Grant)) == 0
    (deleted,) = events(runtime, "model.delete")
    assert deleted.entity_id == mid and deleted.before["model_id"] == "private-one"


def test_model_audit_names_config_keys_never_values(
    runtime: Runtime, world: dict[str, Any]
) -> None:
    with runtime.sessions.begin() as s:
        mid = model_records.create_model(
            s,
            actor=s.get(User, world["admin"]),
            provider_id=world["shared"],
            name="Cfg",
            model_id="cfg",
            model_config={"api_secret": "VALUE-ONE-123", "top_p": 0.9},
        ).id
    with runtime.sessions.begin() as s:
        model_records.update_model(
            s,
            actor=s.get(User, world["admin"]),
            model_record_id=mid,
            expected_version=1,
            model_config='{"api_secret": "VALUE-TWO-456", "top_p": 0.9}',
        )
    (created,) = [e for e in events(runtime, "model.create") if e.entity_id == mid]
    (updated,) = events(runtime, "model.update")
    assert created.after["model_config"] == "set (keys: api_secret, top_p)"
    assert updated.after == {"model_config": "changed (keys: api_secret)"}
    text = json.dumps([created.before, created.after, updated.before, updated.after])
    assert "VALUE-ONE" not in text and "VALUE-TWO" not in text
    with runtime.sessions() as s:
        (view,) = [
            v for v in model_records.list_models(s, user=s.get(User, world["admin"])) if v.id == mid
        ]
        assert view.config == {"top_p": 0.9}  # secret values are write-only
        assert view.secret_config_keys == ("api_secret",)


def test_secret_model_config_is_write_only(runtime: Runtime, world: dict[str, Any]) -> None:
    with runtime.sessions.begin() as s:
        mid = model_records.create_model(
            s,
            actor=s.get(User, world["admin"]),
            provider_id=world["shared"],
            name="W",
            model_id="w",
            model_config={"api_secret": "KEEP-ME", "top_p": 0.5},
        ).id
    with runtime.sessions.begin() as s:  # an edit form sends back only what it showed
        model_records.update_model(
            s,
            actor=s.get(User, world["admin"]),
            model_record_id=mid,
            expected_version=1,
            model_config={"top_p": 0.7},
        )
    with runtime.sessions() as s:
        stored = vault.open_json(s, s.get(ModelRecord, mid), "model_config_enc")
        assert stored == {"api_secret": "KEEP-ME", "top_p": 0.7}
    with runtime.sessions.begin() as s:  # an explicit empty value removes it
        model_records.update_model(
            s,
            actor=s.get(User, world["admin"]),
            model_record_id=mid,
            expected_version=2,
            model_config={"top_p": 0.7, "api_secret": ""},
        )
    with runtime.sessions() as s:
        assert vault.open_json(s, s.get(ModelRecord, mid), "model_config_enc") == {"top_p": 0.7}


def test_model_forms_get_every_field_problem_at_once(
    runtime: Runtime, world: dict[str, Any]
) -> None:
    before = table_counts(runtime)
    with pytest.raises(ValidationError) as caught:
        with runtime.sessions.begin() as s:
            model_records.create_model(
                s,
                actor=s.get(User, world["admin"]),
                provider_id=world["shared"],
                name="",
                model_id="has space",
                input_cost_per_million="-1",
                context_window="lots",
                model_config="{oops",
            )
    assert [p.field for p in caught.value.problems] == [
        "name",
        "model_id",
        "model_config",
        "input_cost_per_million",
        "context_window",
    ]
    assert table_counts(runtime) == before
    with pytest.raises(ValidationError) as caught:
        with runtime.sessions.begin() as s:
            model_records.update_model(
                s,
                actor=s.get(User, world["admin"]),
                model_record_id=world["model"],
                expected_version=1,
                name=" ",
                output_cost_per_million="x",
                quality_tier="best",
            )
    assert [p.field for p in caught.value.problems] == [
        "name",
        "output_cost_per_million",
        "quality_tier",
    ]
    with runtime.sessions() as s:
        assert s.get(ModelRecord, world["model"]).version == 1
