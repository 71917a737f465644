"""What the Providers page tests share (a pytest plugin): the ``team`` fixture, and
helpers that add providers, open the Add tab, fill and submit the add form, and pick a row.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from core.store.tables import Provider, User
from tests.support import factories as f
from tests.support.console import Console

PAGE = "pages/providers.py"


@pytest.fixture
def team(console: Console, people: dict[str, uuid.UUID]) -> dict[str, uuid.UUID]:
    """``people`` (alice, admin; bob, member) and carol, a member."""
    with console.runtime.sessions.begin() as s:
        return {**people, "carol": f.user(s, "carol").id}


def make(console: Console, owner: str, name: str, **kw: Any) -> uuid.UUID:
    """Add a provider owned by owner (a username); its id."""
    with console.runtime.sessions.begin() as s:
        return f.provider(s, s.scalar(select(User).where(User.username == owner)), name, **kw).id


def stored(console: Console) -> dict[str, Provider]:
    """The stored providers by name."""
    with console.runtime.sessions() as s:
        return {p.name: p for p in s.scalars(select(Provider))}


def submit(at: AppTest, label: str) -> AppTest:
    """Click the button with this label and rerun."""
    return next(b for b in at.button if b.label == label).click().run()


def has(widgets: Any, key: str) -> bool:
    """Whether a widget with this key is shown."""
    return any(w.key == key for w in widgets)


def table(at: AppTest) -> Any:
    """The providers table as a DataFrame."""
    return at.dataframe[0].value


def pick(at: AppTest, provider_id: uuid.UUID) -> AppTest:
    """Select this provider in the picker and rerun."""
    return at.selectbox(key="prov_pick").set_value(str(provider_id)).run()


def open_add(at: AppTest) -> AppTest:
    """Open the Add provider tab."""
    at.session_state["prov_tab"] = "Add provider"
    return at.run()


def fill_add(
    at: AppTest, type_id: str, name: str, key: str = "", extra: str = "", **fields: str
) -> AppTest:
    """Fill the add form (type, name, config fields, key, extra JSON) and submit it."""
    at.selectbox(key="pa_type").set_value(type_id).run()
    at.text_input(key="pa_name").input(name)
    for field, value in fields.items():
        at.text_input(key=f"pa_cfg_{field}").input(value)
    if key:
        at.text_input(key="pa_key").input(key)
    if extra:
        at.text_area(key="pa_extra").input(extra)
    return submit(at, "Add provider")
