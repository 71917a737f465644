"""An admin's quality tier and features on a model record (core.records.model_ratings through
core.records.model_records): validation naming the field, the not-said conventions, listings, the
audit trail, and the one list of names (the registry's)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import text

from core.errors import ValidationError
from core.explorer import registry
from core.records import model_listing, model_ratings, model_records
from core.startup import Runtime
from core.store.tables import ModelRecord, User
from core.vocabulary import QUALITY_TIERS
from tests.support import factories as f
from tests.support.factories import events, table_counts


@pytest.fixture
def world(runtime: Runtime) -> dict[str, uuid.UUID]:
    with runtime.sessions.begin() as s:
        admin = f.user(s, "boss", "admin")
        prov = f.provider(s, admin, "Shared", instance_wide=True)
        model = f.model(s, admin, prov, "gpt-4o", instance_wide=True)
        return {"admin": admin.id, "provider": prov.id, "model": model.id}


def view_of(runtime: Runtime, world: dict[str, Any], mid: uuid.UUID) -> model_records.ModelView:
    with runtime.sessions() as s:
        return model_records.get_model_view(
            s, user=s.get(User, world["admin"]), model_record_id=mid
        )


def create(runtime: Runtime, world: dict[str, Any], **kw: Any) -> uuid.UUID:
    with runtime.sessions.begin() as s:
        return model_records.create_model(
            s,
            actor=s.get(User, world["admin"]),
            provider_id=world["provider"],
            name="New",
            model_id="new-one",
            **kw,
        ).id


def update(runtime: Runtime, world: dict[str, Any], **changes: Any) -> ModelRecord:
    with runtime.sessions.begin() as s:
        model = model_records.update_model(
            s,
            actor=s.get(User, world["admin"]),
            model_record_id=world["model"],
            expected_version=None,
            **changes,
        )
        return model


# --- The lists ----------------------------------------------------------------------------


def test_one_list_of_tiers_and_features() -> None:
    assert set(QUALITY_TIERS) == set(registry.QUALITY_SCORES)
    assert model_ratings.feature_names() == sorted(registry.FEATURES)


# --- Validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, field, fragments",
    [
        (
            dict(quality_tier="great"),
            "quality_tier",
            ["quality tier 'great' is not valid", "high, medium, low"],
        ),
        (dict(quality_tier=3), "quality_tier", ["quality tier 3"]),
        (
            dict(features=["chat", "telepathy"]),
            "features",
            [
                "Unknown feature 'telepathy' in features",
                "audio, chat, embedding, json_mode, reasoning, rerank, tool_use, vision",
            ],
        ),
        (dict(features=[1]), "features", ["Unknown feature 1"]),
        (dict(features={"chat": True}), "features", ["must be a list of feature names"]),
        (dict(features=42), "features", ["must be a list of feature names"]),
    ],
    ids=[
        "tier-word",
        "tier-number",
        "feature-unknown",
        "feature-number",
        "features-dict",
        "features-int",
    ],
)
def test_bad_ratings_are_refused_naming_the_field(
    runtime: Runtime,
    world: dict[str, Any],
    kwargs: dict[str, Any],
    field: str,
    fragments: list[str],
) -> None:
    before = table_counts(runtime)
    with pytest.raises(ValidationError) as caught:
        create(runtime, world, **kwargs)
    assert caught.value.field == field
    assert all(fragment in str(caught.value) for fragment in fragments), str(caught.value)
    assert table_counts(runtime) == before
    with pytest.raises(ValidationError) as caught:
        update(runtime, world, name="Renamed", **kwargs)
    assert caught.value.field == field
    assert view_of(runtime, world, world["model"]).name == "gpt-4o"  # nothing applied


def test_database_refuses_a_tier_outside_the_list(runtime: Runtime, world: dict[str, Any]) -> None:
    with pytest.raises(Exception, match="(?i)check"):
        with runtime.sessions.begin() as s:
            s.execute(text("UPDATE models SET quality_tier = 'superb'"))


@pytest.mark.parametrize(
    "given, stored",
    [
        (None, None),
        ("", None),
        ([], None),
        (["vision", "chat", "chat"], ("chat", "vision")),
        (("tool_use",), ("tool_use",)),
        ("json_mode, chat", ("chat", "json_mode")),
        ({"reasoning"}, ("reasoning",)),
    ],
)
def test_features_are_sorted_unique_and_empty_means_the_catalog(
    given: Any, stored: tuple[str, ...] | None
) -> None:
    assert model_ratings.check_features(given) == stored
    assert model_ratings.decode_features(model_ratings.encode_features(stored)) == stored


@pytest.mark.parametrize(
    "given, stored",
    [
        (None, None),
        ("", None),
        (" ", None),
        ("high", "high"),
        (" Medium ", "medium"),
        ("low", "low"),
    ],
)
def test_quality_tier_values(given: Any, stored: str | None) -> None:
    assert model_ratings.check_quality_tier(given) == stored


def test_damaged_stored_features_read_as_unset() -> None:
    assert model_ratings.decode_features("not json") is None
    assert model_ratings.decode_features('{"chat": 1}') is None
    assert model_ratings.decode_features("[]") is None


# --- Create, update, listings -------------------------------------------------------------


def test_ratings_are_optional_and_listed(runtime: Runtime, world: dict[str, Any]) -> None:
    assert (
        view_of(runtime, world, world["model"]).quality_tier,
        view_of(runtime, world, world["model"]).features,
    ) == (None, None)
    mid = create(runtime, world, quality_tier="high", features=["vision", "chat"])
    with runtime.sessions() as s:
        stored = s.get(ModelRecord, mid)
        assert (stored.quality_tier, stored.features) == ("high", '["chat", "vision"]')
        admin = s.get(User, world["admin"])
        (row,) = [r for r in model_listing.list_model_rows(s, user=admin) if r.id == mid]
        (view,) = [v for v in model_records.list_models(s, user=admin) if v.id == mid]
    assert (row.quality_tier, row.features) == ("high", ("chat", "vision"))
    assert (view.quality_tier, view.features) == ("high", ("chat", "vision"))
    assert row.provider_type == view.provider_type == "openai"


def test_update_keeps_what_is_not_given_and_clears_with_empty(
    runtime: Runtime, world: dict[str, Any]
) -> None:
    update(runtime, world, quality_tier="medium", features=["chat"])
    update(runtime, world, name="Renamed")  # neither given: both unchanged
    view = view_of(runtime, world, world["model"])
    assert (view.name, view.quality_tier, view.features) == ("Renamed", "medium", ("chat",))
    update(runtime, world, quality_tier="", features=[])
    view = view_of(runtime, world, world["model"])
    assert (view.quality_tier, view.features) == (None, None)


def test_audit_records_rating_changes_like_other_fields(
    runtime: Runtime, world: dict[str, Any]
) -> None:
    mid = create(runtime, world, quality_tier="low", features=["embedding"])
    (created,) = [e for e in events(runtime, "model.create") if e.entity_id == mid]
    assert created.after["quality_tier"] == "low"
    assert created.after["features"] == ["embedding"]
    update(runtime, world, quality_tier="high", features=["chat", "vision"])
    update(runtime, world, quality_tier="high", features=["vision", "chat"])  # no change
    update(runtime, world, features=None)
    changes = [(e.before, e.after) for e in events(runtime, "model.update")]
    assert changes == [
        (
            {"quality_tier": None, "features": None},
            {"quality_tier": "high", "features": ["chat", "vision"]},
        ),
        ({"features": ["chat", "vision"]}, {"features": None}),
    ]
    with runtime.sessions() as s:
        assert s.get(ModelRecord, world["model"]).version == 3  # the no-op saved nothing


# --- Export and import carry them ---------------------------------------------------------


def test_export_and_reimport_carry_the_ratings(runtime: Runtime, world: dict[str, Any]) -> None:
    from core.accounts import users
    from core.records import exporter, importer

    update(runtime, world, quality_tier="medium", features=["vision", "chat"])

    def run_import(doc: dict[str, Any]) -> Any:
        with runtime.sessions.begin() as s:
            actor = users.require_user(s, "boss")
            plan = importer.plan_import(s, actor=actor, document=doc, settings=runtime.settings)
            return importer.apply_import(s, actor=actor, plan=plan)

    with runtime.sessions() as s:
        doc = exporter.export_document(s, actor=users.require_user(s, "boss"))
    (entry,) = doc["models"]
    assert (entry["quality_tier"], entry["features"]) == ("medium", ["chat", "vision"])
    doc = {"models": [dict(entry)]}
    assert run_import(doc).unchanged == {"providers": 0, "models": 1}
    doc["models"][0] |= {"quality_tier": "low", "features": ["chat"]}
    assert run_import(doc).updated["models"] == 1
    view = view_of(runtime, world, world["model"])
    assert (view.quality_tier, view.features) == ("low", ("chat",))
    doc["models"][0]["features"] = ["chat", "smell"]
    with pytest.raises(ValidationError, match="Unknown feature 'smell' in features"):
        run_import(doc)
