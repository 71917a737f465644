"""What the Models page tests share: the seeded organisation, and helpers that read the
table, fill and submit the add/edit form, pick a model, and gather everything a session
shows or holds (for canary searches)."""

from __future__ import annotations

import contextlib
from typing import Any

from streamlit.testing.v1 import AppTest

from core.accounts import access
from core.store.tables import ModelRecord
from tests.support import factories as f
from tests.support.console import Console, texts

PAGE = "pages/models.py"


def seed(console: Console) -> dict[str, Any]:
    """alice (admin), bob and carol (members); public, private-but-shared, inactive and
    member-owned providers and models."""
    with console.runtime.sessions.begin() as s:
        alice, bob = f.user(s, "alice", "admin"), f.user(s, "bob")
        f.user(s, "carol", "admin")
        openai = f.provider(s, alice, "OpenAI", instance_wide=True)
        groq = f.provider(
            s, alice, "Groq", provider_type="groq", instance_wide=True, status="inactive"
        )
        azure = f.provider(s, alice, "Azure EU")
        lab = f.provider(s, bob, "Bob lab")
        ids = {
            "gpt": f.model(
                s,
                alice,
                openai,
                "gpt-4o",
                name="GPT-4o",
                instance_wide=True,
                input_cost_per_million="2.5",
                output_cost_per_million="10",
                context_window=128000,
            ).id,
            "embed": f.model(
                s,
                alice,
                openai,
                "text-embedding-3-small",
                name="Embed small",
                model_type="embedding",
                instance_wide=True,
                input_cost_per_million="0.02",
            ).id,
            "old": f.model(
                s, alice, openai, "gpt-3.5", name="GPT-3.5", instance_wide=True, status="inactive"
            ).id,
            "llama": f.model(s, alice, groq, "llama-3", name="Llama 3", instance_wide=True).id,
            "azure": f.model(s, alice, azure, "gpt-4o", name="GPT-4o Azure").id,
            "o3": f.model(s, alice, azure, "o3", name="O3 private").id,
            "phi": f.model(s, bob, lab, "phi-3", name="Phi-3").id,
        }
        access.grant(s, actor=alice, record=azure, user=bob)
        access.grant(s, actor=alice, record=s.get(ModelRecord, ids["azure"]), user=bob)
        return {**ids, "openai": openai.id, "azure_p": azure.id}


def table(at: AppTest) -> Any:
    """The models table as a DataFrame."""
    return next(d.value for d in at.dataframe if "Owner" in d.value.columns)


def names(at: AppTest) -> list[str]:
    """The model names the table shows, in order."""
    return list(table(at)["Name"])


def row(at: AppTest, name: str) -> dict[str, Any]:
    """The table row of the model with this name."""
    frame = table(at)
    return frame[frame["Name"] == name].iloc[0].to_dict()


def fill(at: AppTest, form: str, **values: Any) -> AppTest:
    """Set the form's widgets (model_<form>_<field>) to values."""
    for field, value in values.items():
        key = f"model_{form}_{field}"
        for kind in ("text_input", "text_area", "selectbox", "checkbox"):
            found = [w for w in getattr(at, kind) if w.key == key]
            if found:
                found[0].set_value(value)
                break
        else:
            raise AssertionError(f"no widget {key}")
    return at


def submit(at: AppTest, form: str) -> AppTest:
    """Click the form's submit button and rerun."""
    return at.button(key=f"model_{form}_submit").click().run()


def pick(at: AppTest, model_id: Any) -> AppTest:
    """Select this model in the picker and rerun."""
    return at.selectbox(key="models_pick").set_value(str(model_id)).run()


def add(at: AppTest, **values: Any) -> AppTest:
    """Fill and submit the add form (a GPT-4o mini unless told otherwise)."""
    values.setdefault("name", "GPT-4o mini")
    values.setdefault("model_id", "gpt-4o-mini")
    return submit(fill(at, "add", **values), "add")


def everything(at: AppTest) -> str:
    """Rendered text, every widget value and every session-state value (internal ones too)."""
    state = at._session_state._state
    values = []
    for key in state._keys():
        with contextlib.suppress(KeyError):  # ids of widgets that were reset
            values.append(repr(state[key]))
    widgets = [
        repr(w.value)
        for kind in ("text_input", "text_area", "selectbox")
        for w in getattr(at, kind)
    ]
    return "\n".join([texts(at), *widgets, *values, repr(at.session_state.to_dict())])
