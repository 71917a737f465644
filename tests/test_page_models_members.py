"""The Models page for members (AppTest on SQLite): what a member sees, and "What users
see" against ``list_active_models``."""

from __future__ import annotations

from core.accounts import users
from core.records import model_records
from tests.support.console import Console, texts
from tests.support.models_page import (
    PAGE,
    fill,
    names,
    pick,
    seed,
    submit,
)

# --- Members ------------------------------------------------------------------------------


def test_member_sees_instance_wide_granted_and_own_only(console: Console) -> None:
    ids = seed(console)
    at = console.open(PAGE, as_user="bob")
    assert not at.exception
    assert sorted(names(at)) == sorted(
        ["GPT-4o", "Embed small", "GPT-3.5", "Llama 3", "GPT-4o Azure", "Phi-3"]
    )
    assert not [t for t in at.toggle if t.key == "models_all"]
    # Only bob's own model can be changed; no instance-wide checkbox, no share button.
    assert at.selectbox(key="models_pick").options == ["New model…", "Phi-3 — Bob lab (phi-3)"]
    assert not [c for c in at.checkbox if c.key == "model_add_wide"]
    at = pick(at, ids["phi"])
    assert [b.key for b in at.button if b.key == "model_share"] == []
    at = submit(fill(at, "edit", name="Phi-3 mini"), "edit")
    assert "Phi-3 mini" in names(at)


# --- What users see ------------------------------------------------------------------------


def selector(console: Console, username: str, model_type: str) -> list[str]:
    with console.runtime.sessions() as s:
        person = users.require_user(s, username)
        return [
            f"{v.name} — {v.provider_name}"
            for v in model_records.list_active_models(s, user=person, model_type=model_type)
        ]


def test_what_users_see_for_a_member_matches_list_active_models(console: Console) -> None:
    seed(console)
    at = console.open(PAGE, as_user="alice")
    at = at.segmented_control(key="models_view").set_value("What users see").run()
    assert at.selectbox(key="models_wus_user").value == "alice"
    at = at.selectbox(key="models_wus_user").set_value("bob").run()
    options = at.selectbox(key="models_wus_model").options
    assert options == selector(console, "bob", "inference")
    assert "GPT-4o Azure — Azure EU" in options  # granted model of a granted provider
    assert not any("Llama 3" in o for o in options)  # its provider is inactive
    assert not any("GPT-3.5" in o or "O3" in o for o in options)  # inactive / not shared
    reasons = next(d.value for d in at.dataframe if "Option" in d.value).set_index("Option")
    assert reasons.loc["GPT-4o Azure — Azure EU", "Model visible because"] == "granted by alice"
    assert reasons.loc["GPT-4o — OpenAI", "Provider visible because"] == "instance-wide"
    at = at.segmented_control(key="models_wus_type").set_value("embedding").run()
    assert at.selectbox(key="models_wus_model").options == ["Embed small — OpenAI"]
    at = at.segmented_control(key="models_wus_type").set_value("rerank").run()
    assert "has no active rerank model" in texts(at)


def test_a_member_sees_only_their_own_selector(console: Console) -> None:
    seed(console)
    at = console.open(PAGE, as_user="bob")
    at = at.segmented_control(key="models_view").set_value("What users see").run()
    assert not [s for s in at.selectbox if s.key == "models_wus_user"]
    assert at.selectbox(key="models_wus_model").options == selector(console, "bob", "inference")
    assert "Phi-3 — Bob lab" in at.selectbox(key="models_wus_model").options
