"""What core gives the Models page: the fast table listing, one model's edit view, the
model selector with visibility reasons, and config text without secret values."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from core import catalog
from core.accounts import access, users
from core.errors import NotFoundError, ValidationError
from core.records import model_listing, model_records
from core.startup import Runtime
from core.store.tables import ModelRecord, Provider
from tests.support import factories as f
from tests.support.factories import counting


def build(runtime: Runtime, extra_models: int = 0) -> None:
    """alice and carol (admins) and bob; models that are instance-wide, granted (the model
    by carol, its provider by alice), private, inactive, of an inactive provider, own."""
    with runtime.sessions.begin() as s:
        alice, bob, carol = (
            f.user(s, "alice", "admin"),
            f.user(s, "bob"),
            f.user(s, "carol", "admin"),
        )
        public = f.provider(s, alice, "Public", instance_wide=True, priority=5)
        private = f.provider(s, alice, "Private", priority=1)
        off = f.provider(s, alice, "Off", instance_wide=True, status="inactive")
        lab = f.provider(s, bob, "Lab", priority=50)
        f.model(
            s,
            alice,
            public,
            "wide",
            instance_wide=True,
            input_cost_per_million="2.50",
            cache_write_cost_per_million="0.00000001",
        )
        f.model(s, alice, public, "dormant", instance_wide=True, status="inactive")
        f.model(s, alice, public, "embed", instance_wide=True, model_type="embedding")
        granted = f.model(s, alice, private, "granted", model_config={"token": "t0p-s3cret"})
        f.model(s, alice, private, "hidden")
        f.model(s, alice, off, "switched-off", instance_wide=True)
        f.model(s, bob, lab, "own")
        for i in range(extra_models):
            f.model(s, alice, public, f"extra-{i}", instance_wide=True)
        access.grant(s, actor=carol, record=granted, user=bob)
        access.grant(s, actor=alice, record=private, user=bob)


@pytest.mark.parametrize(
    "username, manage", [("alice", False), ("alice", True), ("bob", False), ("bob", True)]
)
def test_model_rows_are_list_models_without_the_config(
    runtime: Runtime, username: str, manage: bool
) -> None:
    build(runtime)
    with runtime.sessions() as s:
        user = users.require_user(s, username)
        rows = model_listing.list_model_rows(s, user=user, manage=manage)
        views = model_records.list_models(s, user=user, manage=manage)
    assert rows and [r.id for r in rows] == [v.id for v in views]
    shared = [
        name
        for name in model_listing.ModelRow.__dataclass_fields__
        if name in model_records.ModelView.__dataclass_fields__
    ]
    assert len(shared) == len(model_listing.ModelRow.__dataclass_fields__)
    for r, v in zip(rows, views, strict=True):
        assert {k: getattr(r, k) for k in shared} == {k: getattr(v, k) for k in shared}


def test_model_rows_keep_prices_exact(runtime: Runtime) -> None:
    build(runtime)
    with runtime.sessions() as s:
        rows = model_listing.list_model_rows(s, user=users.require_user(s, "alice"))
    wide = next(r for r in rows if r.model_id == "wide")
    assert format(wide.input_cost_per_million, "f") == "2.5"
    assert format(wide.cache_write_cost_per_million, "f") == "0.00000001"
    assert wide.output_cost_per_million is None


def test_model_rows_take_a_fixed_number_of_queries(runtime: Runtime) -> None:
    build(runtime, extra_models=12)
    with runtime.sessions() as s, counting(runtime) as statements:
        rows = model_listing.list_model_rows(s, user=users.require_user(s, "bob"))
    assert len(rows) > 12 and len(statements) <= 4


def test_model_view_for_editing_hides_secret_values(runtime: Runtime) -> None:
    build(runtime)
    with runtime.sessions() as s:
        alice, bob = users.require_user(s, "alice"), users.require_user(s, "bob")
        granted = next(
            r for r in model_listing.list_model_rows(s, user=alice) if r.model_id == "granted"
        )
        view = model_records.get_model_view(s, user=bob, model_record_id=granted.id)
        assert view.config == {} and view.secret_config_keys == ("token",)
        assert "t0p-s3cret" not in repr(view)
        hidden = next(
            r for r in model_listing.list_model_rows(s, user=alice) if r.model_id == "hidden"
        )
        with pytest.raises(NotFoundError):
            model_records.get_model_view(s, user=bob, model_record_id=hidden.id)


@pytest.mark.parametrize("username", ["alice", "bob", "carol"])
@pytest.mark.parametrize("model_type", [None, "inference", "embedding"])
def test_selector_is_list_active_models_with_visibility_reasons(
    runtime: Runtime, username: str, model_type: str | None
) -> None:
    build(runtime)
    with runtime.sessions() as s:
        user = users.require_user(s, username)
        options = model_listing.model_selector(s, user=user, model_type=model_type)
        expected = model_records.list_active_models(s, user=user, model_type=model_type)
        assert [o.model.id for o in options] == [v.id for v in expected]
        for option in options:
            model = s.get(ModelRecord, option.model.id)
            provider = s.get(Provider, option.model.provider_id)
            assert option.model_reason == access.visibility_reason(s, user, model)
            assert option.provider_reason == access.visibility_reason(s, user, provider)
            assert option.label == f"{option.model.name} — {option.model.provider_name}"


def test_selector_explains_a_members_options(runtime: Runtime) -> None:
    build(runtime)
    with runtime.sessions() as s:
        bob = users.require_user(s, "bob")
        why = {
            o.model.model_id: (o.model_reason, o.provider_reason)
            for o in model_listing.model_selector(s, user=bob)
        }
    assert why == {
        "granted": ("granted by carol", "granted by alice"),
        "wide": ("instance-wide", "instance-wide"),
        "embed": ("instance-wide", "instance-wide"),
        "own": ("owner", "owner"),
    }


def test_selector_reasons_do_not_query_per_model(runtime: Runtime) -> None:
    build(runtime, extra_models=15)
    with runtime.sessions() as s:
        bob = users.require_user(s, "bob")
        with counting(runtime) as few:
            model_listing.model_selector(s, user=bob, model_type="embedding")
        with counting(runtime) as many:
            options = model_listing.model_selector(s, user=bob)
    assert len(options) > 15 and len(many) == len(few)


@pytest.mark.parametrize(
    "text, kept",
    [
        ("", ""),
        ('{"temperature": 0.2}', '{"temperature": 0.2}'),
        ('{ "max_tokens": 5 }', '{ "max_tokens": 5 }'),
        ('{"temperature": 0.2, "api_key": "sk-1"}', json.dumps({"temperature": 0.2}, indent=2)),
        ('{"password": "x"}', ""),
        ('{"temperature": }', '{"temperature": }'),
        ('{"secret_token": "x", }', ""),
        ("[1, 2]", "[1, 2]"),
    ],
)
def test_public_config_text_drops_only_secret_values(text: str, kept: str) -> None:
    assert catalog.public_config_text(text) == kept


# --- One page of the table, narrowed in the query ------------------------------------------


@pytest.mark.parametrize(
    "username, manage", [("alice", False), ("alice", True), ("bob", False), ("bob", True)]
)
def test_pages_of_the_table_are_the_full_listing_cut_in_order(
    runtime: Runtime, username: str, manage: bool
) -> None:
    build(runtime, extra_models=7)
    with runtime.sessions() as s:
        user = users.require_user(s, username)
        everything = [r.id for r in model_listing.list_model_rows(s, user=user, manage=manage)]
        paged: list[Any] = []
        offset = 0
        while True:
            page = model_listing.find_model_rows(
                s, user=user, manage=manage, offset=offset, limit=3
            )
            assert page.total == len(everything)
            paged += [r.id for r in page.rows]
            if page.last >= page.total:
                break
            offset += 3
    assert paged == everything


def test_search_and_filters_narrow_in_the_query(runtime: Runtime) -> None:
    build(runtime, extra_models=3)
    with runtime.sessions() as s:
        alice, bob = users.require_user(s, "alice"), users.require_user(s, "bob")
        public = s.scalar(select(Provider.id).where(Provider.name == "Public"))

        def ids(user: Any, **kw: Any) -> list[str]:
            where = model_listing.ModelFilter(**kw)
            return [
                r.model_id
                for r in model_listing.find_model_rows(s, user=user, where=where, limit=100).rows
            ]

        assert ids(alice, search="EXTRA") == ["extra-0", "extra-1", "extra-2"]
        assert ids(bob, search="LAB") == ["own"]  # the provider's name matches
        assert ids(alice, search="100%_") == []  # LIKE wildcards are literal
        assert ids(bob, search="hidden") == []  # visibility still applies
        assert ids(alice, model_types=("embedding",)) == ["embed"]
        assert ids(alice, statuses=("inactive",)) == ["dormant"]
        assert set(ids(alice, provider_ids=(public,), search="e")) == {
            "wide",
            "embed",
            "extra-0",
            "extra-1",
            "extra-2",
        }  # "dormant" has no e
        with pytest.raises(ValidationError, match="model_type|type"):
            ids(alice, model_types=("chat",))
        with pytest.raises(ValidationError, match="longer than"):
            ids(alice, search="x" * (model_listing.SEARCH_MAX + 1))


def test_a_page_past_the_end_lands_on_the_last_page(runtime: Runtime) -> None:
    build(runtime, extra_models=4)
    with runtime.sessions() as s:
        alice = users.require_user(s, "alice")
        page = model_listing.find_model_rows(s, user=alice, offset=500, limit=4)
        assert page.rows and page.last == page.total and page.offset % 4 == 0
        empty = model_listing.find_model_rows(
            s, user=alice, where=model_listing.ModelFilter(search="nothing-like-this")
        )
        assert (empty.total, empty.rows, empty.first) == (0, [], 0)


def test_a_page_takes_a_fixed_number_of_queries(runtime: Runtime) -> None:
    build(runtime, extra_models=40)
    with runtime.sessions() as s, counting(runtime) as statements:
        page = model_listing.find_model_rows(s, user=users.require_user(s, "bob"), limit=10)
    assert len(page.rows) == 10 and len(statements) <= 5


def test_active_models_are_the_active_rows_of_the_listing(runtime: Runtime) -> None:
    build(runtime)
    with runtime.sessions() as s:
        for username in ("alice", "bob"):
            user = users.require_user(s, username)
            for manage in (False, True):
                rows = model_listing.list_model_rows(s, user=user, manage=manage)
                active = model_listing.active_models(s, user=user, manage=manage)
                assert [a.id for a in active] == [r.id for r in rows if r.status == "active"]


@pytest.mark.parametrize(
    "username, manage", [("alice", False), ("alice", True), ("bob", False), ("bob", True)]
)
def test_provider_choices_are_list_providers_from_plain_columns(
    runtime: Runtime, username: str, manage: bool
) -> None:
    from core.records import providers

    build(runtime)
    with runtime.sessions() as s:
        user = users.require_user(s, username)
        views = providers.list_providers(s, user=user, manage=manage)
        choices = model_listing.provider_choices(s, user=user, manage=manage)
    assert [(c.id, c.name, c.status, c.owner, c.instance_wide) for c in choices] == [
        (v.id, v.name, v.status, v.owner, v.instance_wide) for v in views
    ]
