"""The Models page's actions on the selected model (AppTest on SQLite): toggle, the delete
dialog (cancel, confirmation) and the share dialog."""

from __future__ import annotations

from core.store.tables import ModelRecord
from tests.support.console import Console, click_in_dialog, texts
from tests.support.models_page import (
    PAGE,
    names,
    pick,
    row,
    seed,
)

# --- Toggle, delete, share -----------------------------------------------------------------


def test_toggle_active(console: Console) -> None:
    ids = seed(console)
    at = pick(console.open(PAGE, as_user="alice"), ids["gpt"])
    at = at.button(key="model_toggle").click().run()
    assert "Model 'GPT-4o' is now inactive." in texts(at)
    assert row(at, "GPT-4o")["Status"] == "inactive"
    assert at.button(key="model_toggle").label == "Activate"
    at = at.button(key="model_toggle").click().run()
    assert row(at, "GPT-4o")["Status"] == "active"


def test_delete_dialog_cancel_closes_it_and_deletes_nothing(console: Console) -> None:
    ids = seed(console)
    at = pick(console.open(PAGE, as_user="alice"), ids["o3"])
    at = at.button(key="model_delete").click().run()
    assert "Delete the model **O3 private**?" in texts(at)

    at = click_in_dialog(at, "model_delete_cancel")  # the browser reruns only the dialog

    assert "Delete the model" not in texts(at)
    at.run()  # and it stays closed on the next run
    assert "Delete the model" not in texts(at) and "O3 private" in names(at)
    with console.runtime.sessions() as s:
        assert s.get(ModelRecord, ids["o3"]) is not None


def test_delete_asks_for_confirmation(console: Console) -> None:
    ids = seed(console)
    at = pick(console.open(PAGE, as_user="alice"), ids["o3"])
    at = at.button(key="model_delete").click().run()
    assert "Delete the model **O3 private**?" in texts(at)
    at = at.button(key="model_delete_cancel").click().run()
    assert "Delete the model" not in texts(at) and "O3 private" in names(at)
    at = at.button(key="model_delete").click().run()
    at = at.button(key="model_delete_confirm").click().run()
    assert "Model 'O3 private' deleted." in texts(at)
    assert "O3 private" not in names(at)
    assert at.selectbox(key="models_pick").value == "new"


def test_share_dialog_grants_access(console: Console) -> None:
    ids = seed(console)
    at = pick(console.open(PAGE, as_user="alice"), ids["o3"])
    at = at.button(key="model_share").click().run()
    assert "Who besides its owner may see the model **O3 private**." in texts(at)
    at.multiselect(key="share_users").set_value(["bob"]).run()
    at = at.button(key="share_save").click().run()
    assert "Sharing of 'O3 private' saved: 1 added, 0 removed." in texts(at)
    assert row(at, "O3 private")["Scope"] == "shared"
    assert "O3 private" in names(console.open(PAGE, as_user="bob"))
