"""The Providers page's actions on the selected provider (AppTest): toggle, table
selection, reorder (all priorities in one transaction, stale tabs refused), the delete
dialog, and sharing."""

from __future__ import annotations

from sqlalchemy import select

from core.accounts import access
from core.records import providers
from core.store.tables import AuditEvent, Grant, ModelRecord, Provider, User
from tests.support import factories as f
from tests.support.console import Console, state_dump, texts
from tests.support.provider_page import (
    PAGE,
    make,
    pick,
    stored,
    table,
)


def test_toggle_flips_the_selected_provider(console: Console, team: dict) -> None:
    pid = make(console, "alice", "Prod OpenAI")
    at = pick(console.open(PAGE, as_user="alice"), pid)
    at.button(key="prov_toggle").click().run()
    assert "'Prod OpenAI' is now inactive." in texts(at)
    assert stored(console)["Prod OpenAI"].status == "inactive"
    assert table(at)["Status"][0] == "inactive"
    assert at.button(key="prov_toggle").label == "Activate"


def test_table_row_selection_picks_the_provider(console: Console, team: dict) -> None:
    make(console, "alice", "First")
    second = make(console, "alice", "Second")
    at = console.open(PAGE, as_user="alice")
    at.session_state["prov_table"] = {"selection": {"rows": [1], "columns": [], "cells": []}}
    at.run()
    assert at.selectbox(key="prov_pick").value == str(second)
    assert at.text_input(key=f"pe_{second}_name").value == "Second"


def test_reorder_saves_all_priorities_in_one_transaction(console: Console, team: dict) -> None:
    for name, priority in (("A", 10), ("B", 20), ("C", 30)):
        make(console, "alice", name, priority=priority)
    at = console.open(PAGE, as_user="alice")
    at.session_state["prov_tab"] = "Priorities"
    at.run()
    at.session_state["prov_order"] = {
        "edited_rows": {0: {"Priority": 40}, 2: {"Priority": 5}},
        "added_rows": [],
        "deleted_rows": [],
    }
    at.button(key="prov_order_save").click().run()
    assert "New order saved (2 provider(s) moved)." in texts(at)
    assert {n: p.priority for n, p in stored(console).items()} == {"A": 40, "B": 20, "C": 5}
    assert list(table(at)["Name"]) == ["C", "B", "A"]
    with console.runtime.sessions() as s:
        assert (
            len(list(s.scalars(select(AuditEvent).where(AuditEvent.action == "provider.reorder"))))
            == 1
        )

    # Edits refer to the rows as shown; one vanishing makes the whole save fail.
    at.session_state["prov_order"] = {
        "edited_rows": {0: {"Priority": 1}, 1: {"Priority": 2}},
        "added_rows": [],
        "deleted_rows": [],
    }
    with console.runtime.sessions.begin() as s:
        providers.delete_provider(
            s, actor=s.get(User, team["alice"]), provider_id=stored(console)["B"].id
        )
    at.button(key="prov_order_save").click().run()
    assert any("No such provider" in e.value for e in at.error)
    assert {n: p.priority for n, p in stored(console).items()} == {"A": 40, "C": 5}


def test_stale_priorities_tab_does_not_overwrite_a_newer_edit(console: Console, team: dict) -> None:
    ids = {
        name: make(console, "alice", name, priority=p)
        for name, p in (("A", 10), ("B", 20), ("C", 30))
    }
    at = console.open(PAGE, as_user="alice")
    at.session_state["prov_tab"] = "Priorities"
    at.run()
    # While the tab is open, the edit form (another tab) moves B.
    with console.runtime.sessions.begin() as s:
        providers.update_provider(
            s,
            actor=s.get(User, team["alice"]),
            provider_id=ids["B"],
            expected_version=1,
            priority=15,
        )
    at.session_state["prov_order"] = {
        "edited_rows": {1: {"Priority": 40}},
        "added_rows": [],
        "deleted_rows": [],
    }
    at.button(key="prov_order_save").click().run()

    assert any(
        "'B' was changed by alice" in e.value and "Nothing was overwritten" in e.value
        for e in at.error
    ), [e.value for e in at.error]
    assert {n: p.priority for n, p in stored(console).items()} == {"A": 10, "B": 15, "C": 30}
    with console.runtime.sessions() as s:
        assert (
            list(s.scalars(select(AuditEvent).where(AuditEvent.action == "provider.reorder"))) == []
        )


def test_delete_dialog_names_the_models_and_needs_the_checkbox(
    console: Console, team: dict
) -> None:
    pid = make(console, "alice", "Prod OpenAI")
    with console.runtime.sessions.begin() as s:
        alice, prov = s.get(User, team["alice"]), s.get(Provider, pid)
        f.model(s, alice, prov, "gpt-4o", name="GPT-4o")
        f.model(s, alice, prov, "o3-mini", name="o3 mini")
    at = pick(console.open(PAGE, as_user="alice"), pid)
    at.button(key="prov_delete").click().run()
    shown = texts(at)
    assert "These 2 model(s) belong to it" in shown
    assert "**GPT-4o** (`gpt-4o`)" in shown and "**o3 mini** (`o3-mini`)" in shown
    assert at.checkbox(key="prov_delete_confirm").label == "Also delete these 2 models"

    at.button(key="prov_delete_go").click().run()
    assert any("Tick “Also delete these 2 models”" in e.value for e in at.error)
    assert "Prod OpenAI" in stored(console)

    at.checkbox(key="prov_delete_confirm").check()
    at.button(key="prov_delete_go").click().run()
    assert "Provider 'Prod OpenAI' deleted with 2 model(s)." in texts(at)
    assert stored(console) == {}
    with console.runtime.sessions() as s:
        assert s.scalar(select(ModelRecord.id)) is None


def test_delete_dialog_counts_but_never_names_other_users_private_models(
    console: Console, team: dict
) -> None:
    pid = make(console, "bob", "Bob's OpenAI")
    with console.runtime.sessions.begin() as s:
        bob, carol, prov = (
            s.get(User, team["bob"]),
            s.get(User, team["carol"]),
            s.get(Provider, pid),
        )
        f.model(s, bob, prov, "gpt-4o", name="GPT-4o")
        access.grant(s, actor=s.get(User, team["alice"]), record=prov, user=carol)
        f.model(s, carol, prov, "carol-x", name="Carol Hidden Project")
    at = pick(console.open(PAGE, as_user="bob"), pid)
    at.button(key="prov_delete").click().run()
    shown = texts(at)
    assert "These 2 model(s) belong to it" in shown
    assert "**GPT-4o** (`gpt-4o`)" in shown
    assert "1 private model(s) of other users (not shown to you)" in shown
    assert "Carol Hidden Project" not in shown and "carol-x" not in shown
    assert "Carol Hidden Project" not in state_dump(at)
    at.checkbox(key="prov_delete_confirm").check()
    at.button(key="prov_delete_go").click().run()
    assert "Provider 'Bob's OpenAI' deleted with 2 model(s)." in texts(at)


def test_delete_without_models_needs_no_checkbox(console: Console, team: dict) -> None:
    pid = make(console, "alice", "Spare")
    make(console, "alice", "Kept")
    at = pick(console.open(PAGE, as_user="alice"), pid)
    at.button(key="prov_delete").click().run()
    assert "It has no models." in texts(at)
    at.button(key="prov_delete_go").click().run()
    assert list(stored(console)) == ["Kept"]
    assert at.selectbox(key="prov_pick").value is None


def test_share_dialog_grants_and_revokes(console: Console, team: dict) -> None:
    pid = make(console, "alice", "Team OpenAI")
    at = pick(console.open(PAGE, as_user="alice"), pid)
    at.button(key="prov_share").click().run()
    at.multiselect(key="share_users").set_value(["bob"])
    at.button(key="share_save").click().run()
    assert "Sharing of 'Team OpenAI' saved: 1 added, 0 removed." in texts(at)
    with console.runtime.sessions() as s:
        assert s.scalar(select(Grant.user_id)) == team["bob"]
    assert table(at)["Scope"][0] == "shared"

    at.button(key="prov_share").click().run()
    at.multiselect(key="share_users").set_value([])
    at.button(key="share_save").click().run()
    with console.runtime.sessions() as s:
        assert s.scalar(select(Grant.id)) is None
